// SPDX-License-Identifier: MIT
// Test support: a throwaway PostgreSQL cluster from the installed server binaries. initdb
// into a temporary directory (trust authentication, superuser "tessera"), the postmaster on
// a free loopback port with its socket in that directory, stopped the way
// `pg_ctl stop -m immediate` does (SIGQUIT) and removed when the test process ends, also
// when a test failed. Run as the `postgres` system user when the tests run as root
// (PostgreSQL refuses root); the postmaster gets SIGQUIT should the test process die first.
#pragma once

#include <QtCore/QProcess>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QTemporaryDir>

#include <memory>

namespace Tessera::Test {

class PostgresCluster
{
public:
    // Empty when a cluster can run here; else what is missing (the PostgreSQL server
    // binaries, Qt's QPSQL driver, or the postgres user when running as root).
    static QString unavailableReason();
    // TESSERA_REQUIRE_POSTGRESQL is set (CI sets it): a missing PostgreSQL fails the tests
    // instead of skipping them.
    static bool required();

    // The cluster of this test process, started on first use; null and `error` when it
    // cannot start. Stopped and removed when the QCoreApplication is destroyed.
    static PostgresCluster *shared(QString *error);
    // Extra `name=value` server settings (postgres -c) for clusters started after this call,
    // e.g. shared_preload_libraries for the benchmarks' statement statistics.
    static void setServerSettings(const QStringList &settings);

    // A new, empty database; its URI, postgresql://tessera@127.0.0.1:PORT/NAME. Empty and
    // `error` on failure.
    QString createDatabase(QString *error);

    // `pg_ctl stop -m fast` (the postmaster ends every session, checkpoints and exits),
    // then the postmaster again on the same port and data directory: every database and
    // committed row is still there. For tests of PostgreSQL going away under load;
    // stopFast() and startAgain() are its two halves, for load in between. False and
    // `error` on failure.
    bool restart(QString *error);
    bool stopFast(QString *error);
    bool startAgain(QString *error);

    quint16 port() const { return m_port; }
    QString directory() const { return m_dir.path(); }

    PostgresCluster(const PostgresCluster &) = delete;
    PostgresCluster &operator=(const PostgresCluster &) = delete;
    ~PostgresCluster();

private:
    PostgresCluster() = default;
    bool start(QString *error);
    // The postmaster on m_port; its output, when it did not get ready, in `output`.
    bool launchPostmaster(QString *output);
    void stop();
    QString dataDirectory() const;

    QTemporaryDir m_dir;
    std::unique_ptr<QProcess> m_postmaster;
    QString m_binDir;
    quint16 m_port = 0;
    int m_databases = 0;
};

} // namespace Tessera::Test

// SPDX-License-Identifier: MIT
// Test support: runs the real tessera-server binary as a child process on a
// loopback port chosen at run time, with its own temporary database.
#pragma once

#include "listeningprocess.h"

namespace Tessera::Test {

class ServerProcess : public ListeningProcess
{
public:
    // `extraArgs` are appended to `--listen 127.0.0.1:0 --db DATABASE` (and the fast
    // Argon2 flags unless setFastArgon2(false)). DATABASE is new and empty: <tmp>/db.sqlite3,
    // or a database of the test process's PostgreSQL cluster (testdatabase.h).
    explicit ServerProcess(QStringList extraArgs = {});

    // The binary under test: $TESSERA_SERVER if set, else the build's tessera-server.
    static QString binaryPath();

    // Fast Argon2 (--argon2-memory 8192 --argon2-iterations 1) for both the
    // server and addUser(). Default true; set before start()/addUser().
    void setFastArgon2(bool fast) { m_fastArgon2 = fast; }
    void setExtraArgs(const QStringList &args) { m_extraArgs = args; }
    QStringList extraArgs() const { return m_extraArgs; }

    // Starts the server and waits for "listening on http://HOST:PORT".
    bool start(int timeoutMs = 15000);
    // stop() (SIGTERM; true if it exited normally with status 0) then start() on the same
    // database and arguments. The port changes.
    bool restart(int timeoutMs = 15000);

    // The --db value: an SQLite path, or a postgresql:// URI.
    QString databasePath() const { return m_database; }
    // Another server's database, shared with it (several instances on one database).
    void setDatabasePath(const QString &database) { m_database = database; }

    // `tessera-server user add NAME --db PATH`, password on stdin. True on exit 0.
    bool addUser(const QString &name, const QByteArray &password);
    // Output of the last addUser() run (stdout + stderr), for log assertions.
    QByteArray lastAddUserOutput() const { return m_addUserOutput; }

private:
    QStringList argonArgs() const;

    bool haveDatabase();

    QStringList m_extraArgs;
    QString m_database;
    QString m_databaseError;
    bool m_fastArgon2 = true;
    QByteArray m_addUserOutput;
};

} // namespace Tessera::Test

// SPDX-License-Identifier: MIT
// Test support: runs the real Django + DRF + SimpleJWT peer
// (tests/interop/django/run_peer.py) as a child process on a loopback port
// chosen at run time, with its own temporary SQLite database. The counterpart
// of ServerProcess for the server people already run.
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QProcess>
#include <QtCore/QProcessEnvironment>
#include <QtCore/QString>
#include <QtCore/QTemporaryDir>
#include <QtCore/QUrl>

#include <memory>

namespace Tessera::Test {

class DjangoPeer
{
public:
    DjangoPeer();
    ~DjangoPeer(); // stops the peer; prints its stderr when the current test failed

    DjangoPeer(const DjangoPeer &) = delete;
    DjangoPeer &operator=(const DjangoPeer &) = delete;

    // run_peer.py of the source tree; $TESSERA_DJANGO_PEER overrides it.
    static QString scriptPath();
    // The interpreter with Debian's python3-django* packages ($TESSERA_PYTHON or /usr/bin/python3).
    static QString python();

    // SimpleJWT ACCESS_TOKEN_LIFETIME in seconds (default 300). Set before start().
    void setAccessTtl(int seconds) { m_accessTtl = seconds; }
    // E.g. LD_PRELOAD/FAKETIME for a server whose clock is off. The peer's signing key
    // (TESSERA_DJANGO_SECRET_KEY) is kept unless `environment` sets one.
    void setEnvironment(const QProcessEnvironment &environment)
    {
        const QString key = QStringLiteral("TESSERA_DJANGO_SECRET_KEY");
        const QString secret = m_environment.value(key);
        m_environment = environment;
        if (!m_environment.contains(key))
            m_environment.insert(key, secret);
    }
    QProcessEnvironment environment() const { return m_environment; }

    // Migrates, creates `user` with `password` and waits for "listening on
    // http://127.0.0.1:PORT". The database survives stop(), so start() again
    // keeps users and tokens (the port changes).
    bool start(const QString &user, const QByteArray &password, int timeoutMs = 30000);
    // SIGTERM and wait.
    bool stop(int timeoutMs = 10000);
    // SIGKILL and reap.
    void kill();

    bool isRunning() const;
    QUrl baseUrl() const { return m_baseUrl; }
    quint16 port() const { return quint16(m_baseUrl.port()); }
    QString databasePath() const;
    QString directory() const { return m_dir.path(); }

    QByteArray peerStderr();
    void printLogIfFailed();
    QString errorString() const { return m_error; }

    // Server-side counters read from the peer's database
    // (rest_framework_simplejwt.token_blacklist): rows of BlacklistedToken and
    // OutstandingToken. With ROTATE_REFRESH_TOKENS + BLACKLIST_AFTER_ROTATION
    // every successful refresh blacklists the token it spent, so the first is
    // "refreshes + logouts". -1 when the database cannot be read.
    int blacklistedCount() const;
    int outstandingCount() const;

private:
    void drain();

    QTemporaryDir m_dir;
    QProcessEnvironment m_environment;
    int m_accessTtl = 300;
    std::unique_ptr<QProcess> m_process;
    QUrl m_baseUrl;
    QByteArray m_stdout;
    QByteArray m_stderr;
    QString m_error;
};

} // namespace Tessera::Test

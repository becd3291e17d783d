// SPDX-License-Identifier: MIT
// Test support: runs the real tessera-server binary as a child process on a
// loopback port chosen at run time, with its own temporary database.
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QProcess>
#include <QtCore/QProcessEnvironment>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QTemporaryDir>
#include <QtCore/QUrl>

#include <functional>
#include <memory>

namespace Tessera::Test {

class ServerProcess
{
public:
    // `extraArgs` are appended to `--listen 127.0.0.1:0 --db <tmp>/db.sqlite3`
    // (and the fast Argon2 flags unless setFastArgon2(false)).
    explicit ServerProcess(QStringList extraArgs = {});
    ~ServerProcess(); // stops the server; prints its stderr when the current test failed

    ServerProcess(const ServerProcess &) = delete;
    ServerProcess &operator=(const ServerProcess &) = delete;

    // The binary under test: $TESSERA_SERVER if set, else the build's tessera-server.
    static QString binaryPath();

    // Fast Argon2 (--argon2-memory 8192 --argon2-iterations 1) for both the
    // server and addUser(). Default true; set before start()/addUser().
    void setFastArgon2(bool fast) { m_fastArgon2 = fast; }
    void setExtraArgs(const QStringList &args) { m_extraArgs = args; }
    QStringList extraArgs() const { return m_extraArgs; }
    void setEnvironment(const QProcessEnvironment &environment) { m_environment = environment; }
    // Runs in the child between fork and exec (setrlimit, for instance); set before start().
    void setChildProcessModifier(std::function<void()> modifier)
    {
        m_childModifier = std::move(modifier);
    }

    // Starts the server and waits for "listening on http://HOST:PORT".
    bool start(int timeoutMs = 15000);
    // SIGTERM and wait for a clean exit. True if it exited normally with status 0.
    bool stop(int timeoutMs = 10000);
    // SIGKILL (a real crash: no shutdown code runs) and reap.
    void kill();
    // stop() then start() on the same database and arguments. The port changes.
    bool restart(int timeoutMs = 15000);

    bool isRunning() const;
    qint64 pid() const;
    QUrl baseUrl() const { return m_baseUrl; }
    quint16 port() const { return quint16(m_baseUrl.port()); }
    QString databasePath() const;
    QString directory() const { return m_dir.path(); }

    // Everything the server wrote to stderr, over all runs of this object.
    QByteArray serverStderr();
    QByteArray serverStdout();
    // Prints the tail of stderr if the current test function failed.
    void printLogIfFailed();
    // The last error of start()/stop()/addUser(), for QVERIFY2 messages.
    QString errorString() const { return m_error; }

    // `tessera-server user add NAME --db PATH`, password on stdin. True on exit 0.
    bool addUser(const QString &name, const QByteArray &password);
    // Output of the last addUser() run (stdout + stderr), for log assertions.
    QByteArray lastAddUserOutput() const { return m_addUserOutput; }

private:
    QStringList argonArgs() const;
    void drain();

    QTemporaryDir m_dir;
    QStringList m_extraArgs;
    QProcessEnvironment m_environment;
    std::function<void()> m_childModifier;
    bool m_fastArgon2 = true;
    std::unique_ptr<QProcess> m_process;
    QUrl m_baseUrl;
    QByteArray m_stdout;
    QByteArray m_stderr;
    QByteArray m_addUserOutput;
    QString m_error;
};

} // namespace Tessera::Test

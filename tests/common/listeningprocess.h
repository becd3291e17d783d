// SPDX-License-Identifier: MIT
// Test support: a server run as a child process in a temporary directory of its own,
// on a loopback port it chooses and announces on stdout
// ("listening on http://127.0.0.1:PORT"). What ServerProcess (tessera-server) and
// DjangoPeer (Django + SimpleJWT) share: starting and waiting for that line, SIGTERM,
// SIGKILL, the output it wrote, and its stderr printed when the current test failed.
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

class ListeningProcess
{
public:
    ListeningProcess(const ListeningProcess &) = delete;
    ListeningProcess &operator=(const ListeningProcess &) = delete;

    // SIGTERM and wait. True if it exited within `timeoutMs`, and with status 0 when the
    // subclass asks for a clean exit (tessera-server does; Python dies of the signal).
    bool stop(int timeoutMs = 10000);
    // SIGKILL (a real crash: no shutdown code runs) and reap.
    void kill();

    bool isRunning() const;
    qint64 pid() const;
    QUrl baseUrl() const { return m_baseUrl; }
    quint16 port() const { return quint16(m_baseUrl.port()); }
    QString directory() const { return m_dir.path(); }

    QProcessEnvironment environment() const { return m_environment; }
    void setEnvironment(const QProcessEnvironment &environment) { m_environment = environment; }
    // Runs in the child between fork and exec (setrlimit, for instance); set before start.
    void setChildProcessModifier(std::function<void()> modifier)
    {
        m_childModifier = std::move(modifier);
    }

    // Everything the server wrote, over all runs of this object.
    QByteArray serverStderr();
    QByteArray serverStdout();
    // Prints the tail of stderr if the current test function failed.
    void printLogIfFailed();
    // The last error of a start or stop, for QVERIFY2 messages.
    QString errorString() const { return m_error; }

protected:
    enum class Termination { AnyExit, CleanExit };

    // `name` introduces the server in messages ("tessera-server", "Django peer").
    ListeningProcess(QString name, Termination termination);
    ~ListeningProcess(); // stops the server; prints its stderr when the current test failed

    // Starts `program` in directory() and waits for its "listening on" line. `input`, unless
    // null, is written to its stdin, which is then closed.
    bool launch(const QString &program, const QStringList &arguments, int timeoutMs,
                const QByteArray &input = QByteArray());

    QTemporaryDir m_dir;
    QProcessEnvironment m_environment;
    QString m_error;

private:
    void drain();

    QString m_name;
    Termination m_termination;
    std::function<void()> m_childModifier;
    std::unique_ptr<QProcess> m_process;
    QUrl m_baseUrl;
    QByteArray m_stdout;
    QByteArray m_stderr;
};

// Stops a running process (SIGSTOP) until resume() or the end of the scope (SIGCONT), so a
// failed check cannot leave it stopped. Meanwhile the kernel still completes handshakes and
// queues the bytes sent to it: all of them are there when it runs again.
class PausedProcess
{
public:
    explicit PausedProcess(const ListeningProcess &process);
    ~PausedProcess() { resume(); }
    PausedProcess(const PausedProcess &) = delete;
    PausedProcess &operator=(const PausedProcess &) = delete;
    void resume();

private:
    qint64 m_pid = 0;
};

// The resident memory (VmRSS) of process `pid` in KiB, from /proc; -1 when unknown.
qint64 residentKiB(qint64 pid);

} // namespace Tessera::Test

// SPDX-License-Identifier: MIT
#include "serverprocess.h"

#include <QtCore/QDebug>
#include <QtCore/QElapsedTimer>
#include <QtCore/QEventLoop>
#include <QtCore/QRegularExpression>
#include <QtCore/QTimer>
#include <QtTest/QTest>

#include <csignal>
#include <sys/types.h>

#ifndef TESSERA_SERVER_PATH
#define TESSERA_SERVER_PATH ""
#endif

namespace Tessera::Test {

ServerProcess::ServerProcess(QStringList extraArgs)
    : m_extraArgs(std::move(extraArgs))
    , m_environment(QProcessEnvironment::systemEnvironment())
{
    // An inherited rule must not change what the server logs unless a test asks.
    m_environment.remove(QStringLiteral("QT_LOGGING_RULES"));
}

ServerProcess::~ServerProcess()
{
    printLogIfFailed();
    if (isRunning()) {
        if (!stop(5000))
            kill();
    }
}

QString ServerProcess::binaryPath()
{
    const QString fromEnvironment = qEnvironmentVariable("TESSERA_SERVER");
    if (!fromEnvironment.isEmpty())
        return fromEnvironment;
    return QString::fromLocal8Bit(TESSERA_SERVER_PATH);
}

QString ServerProcess::databasePath() const
{
    return m_dir.filePath(QStringLiteral("db.sqlite3"));
}

QStringList ServerProcess::argonArgs() const
{
    if (!m_fastArgon2)
        return {};
    return {QStringLiteral("--argon2-memory"), QStringLiteral("8192"),
            QStringLiteral("--argon2-iterations"), QStringLiteral("1")};
}

bool ServerProcess::isRunning() const
{
    return m_process && m_process->state() != QProcess::NotRunning;
}

qint64 ServerProcess::pid() const
{
    return m_process ? m_process->processId() : 0;
}

void ServerProcess::drain()
{
    if (!m_process)
        return;
    m_stdout += m_process->readAllStandardOutput();
    m_stderr += m_process->readAllStandardError();
}

QByteArray ServerProcess::serverStderr()
{
    drain();
    return m_stderr;
}

QByteArray ServerProcess::serverStdout()
{
    drain();
    return m_stdout;
}

bool ServerProcess::start(int timeoutMs)
{
    m_error.clear();
    if (!m_dir.isValid()) {
        m_error = QStringLiteral("cannot create a temporary directory");
        return false;
    }
    if (isRunning()) {
        m_error = QStringLiteral("already running");
        return false;
    }
    const QString binary = binaryPath();
    if (binary.isEmpty()) {
        m_error = QStringLiteral(
                "no tessera-server binary (TESSERA_SERVER_PATH not set at build time)");
        return false;
    }
    drain();
    m_process = std::make_unique<QProcess>();
    m_process->setProcessEnvironment(m_environment);
    if (m_childModifier)
        m_process->setChildProcessModifier(m_childModifier);
    m_process->setProcessChannelMode(QProcess::SeparateChannels);
    m_process->setWorkingDirectory(m_dir.path());
    QProcess *process = m_process.get();
    // Keep reading both pipes while tests run their event loops, so a chatty
    // server never blocks on a full pipe.
    QObject::connect(process, &QProcess::readyReadStandardError, process,
                     [this, process] { m_stderr += process->readAllStandardError(); });
    const qsizetype stdoutStart = m_stdout.size();
    QStringList args{QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                     QStringLiteral("--db"), databasePath()};
    args += argonArgs();
    args += m_extraArgs;
    process->start(binary, args);
    if (!process->waitForStarted(timeoutMs)) {
        m_error = QStringLiteral("cannot start %1: %2").arg(binary, process->errorString());
        m_process.reset();
        return false;
    }

    static const QRegularExpression listening(
            QStringLiteral("listening on (https?)://(127\\.0\\.0\\.1|\\[::1\\]):(\\d+)\\s*$"),
            QRegularExpression::MultilineOption);
    QEventLoop loop;
    QTimer timer;
    timer.setSingleShot(true);
    QObject::connect(&timer, &QTimer::timeout, &loop, &QEventLoop::quit);
    QObject::connect(process, &QProcess::readyReadStandardOutput, &loop, [&] {
        m_stdout += process->readAllStandardOutput();
        if (listening.match(QString::fromUtf8(m_stdout.mid(stdoutStart))).hasMatch())
            loop.quit();
    });
    QObject::connect(process, &QProcess::finished, &loop, &QEventLoop::quit);
    timer.start(timeoutMs);
    m_stdout += process->readAllStandardOutput();
    if (!listening.match(QString::fromUtf8(m_stdout.mid(stdoutStart))).hasMatch())
        loop.exec();
    QObject::disconnect(process, &QProcess::readyReadStandardOutput, &loop, nullptr);
    // Later stdout output is collected lazily.
    QObject::connect(process, &QProcess::readyReadStandardOutput, process,
                     [this, process] { m_stdout += process->readAllStandardOutput(); });

    const auto match = listening.match(QString::fromUtf8(m_stdout.mid(stdoutStart)));
    if (!match.hasMatch()) {
        drain();
        m_error = QStringLiteral("no 'listening on' line within %1 ms (state %2, exit %3); "
                                 "stdout: %4 stderr: %5")
                          .arg(timeoutMs)
                          .arg(int(process->state()))
                          .arg(process->exitCode())
                          .arg(QString::fromUtf8(m_stdout.mid(stdoutStart)),
                               QString::fromUtf8(m_stderr.right(2000)));
        if (isRunning()) {
            ::kill(pid_t(process->processId()), SIGKILL);
            process->waitForFinished(5000);
        }
        m_process.reset();
        return false;
    }
    m_baseUrl = QUrl(QStringLiteral("%1://%2:%3")
                             .arg(match.captured(1), match.captured(2), match.captured(3)));
    return true;
}

bool ServerProcess::stop(int timeoutMs)
{
    m_error.clear();
    if (!m_process)
        return true;
    if (isRunning()) {
        ::kill(pid_t(m_process->processId()), SIGTERM);
        if (!m_process->waitForFinished(timeoutMs)) {
            m_error = QStringLiteral("server did not exit within %1 ms of SIGTERM").arg(timeoutMs);
            kill();
            return false;
        }
    }
    drain();
    const bool clean =
            m_process->exitStatus() == QProcess::NormalExit && m_process->exitCode() == 0;
    if (!clean)
        m_error = QStringLiteral("server exit: status %1 code %2")
                          .arg(int(m_process->exitStatus()))
                          .arg(m_process->exitCode());
    m_process.reset();
    return clean;
}

void ServerProcess::kill()
{
    if (!m_process)
        return;
    if (isRunning()) {
        ::kill(pid_t(m_process->processId()), SIGKILL);
        m_process->waitForFinished(10000);
    }
    drain();
    m_process.reset();
}

bool ServerProcess::restart(int timeoutMs)
{
    if (!stop())
        return false;
    return start(timeoutMs);
}

void ServerProcess::printLogIfFailed()
{
    if (!QTest::currentTestFailed())
        return;
    const QByteArray log = serverStderr();
    if (log.isEmpty())
        return;
    constexpr qsizetype Tail = 8000;
    qWarning().noquote() << "---- tessera-server stderr" << (log.size() > Tail ? "(tail)" : "")
                         << "----\n"
                         << QString::fromUtf8(log.right(Tail)) << "\n---- end of stderr ----";
}

bool ServerProcess::addUser(const QString &name, const QByteArray &password)
{
    m_error.clear();
    QProcess process;
    process.setProcessEnvironment(m_environment);
    process.setWorkingDirectory(m_dir.path());
    process.setProcessChannelMode(QProcess::MergedChannels);
    QStringList args{QStringLiteral("user"), QStringLiteral("add"), name, QStringLiteral("--db"),
                     databasePath()};
    args += argonArgs();
    process.start(binaryPath(), args);
    if (!process.waitForStarted(10000)) {
        m_error = QStringLiteral("cannot start user add: %1").arg(process.errorString());
        return false;
    }
    process.write(password + '\n');
    process.closeWriteChannel();
    if (!process.waitForFinished(60000)) {
        process.kill();
        process.waitForFinished();
        m_error = QStringLiteral("user add timed out");
        return false;
    }
    m_addUserOutput = process.readAll();
    if (process.exitStatus() != QProcess::NormalExit || process.exitCode() != 0) {
        m_error = QStringLiteral("user add exited with %1: %2")
                          .arg(process.exitCode())
                          .arg(QString::fromUtf8(m_addUserOutput));
        return false;
    }
    return true;
}

} // namespace Tessera::Test

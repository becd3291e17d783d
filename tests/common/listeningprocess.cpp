// SPDX-License-Identifier: MIT
#include "listeningprocess.h"

#include <QtCore/QDebug>
#include <QtCore/QEventLoop>
#include <QtCore/QFile>
#include <QtCore/QRegularExpression>
#include <QtCore/QTimer>
#include <QtTest/QTest>

#include <csignal>
#include <utility>
#include <sys/types.h>

namespace Tessera::Test {

ListeningProcess::ListeningProcess(QString name, Termination termination)
    : m_environment(QProcessEnvironment::systemEnvironment())
    , m_name(std::move(name))
    , m_termination(termination)
{ }

ListeningProcess::~ListeningProcess()
{
    printLogIfFailed();
    if (isRunning() && !stop(5000))
        kill();
}

bool ListeningProcess::isRunning() const
{
    return m_process && m_process->state() != QProcess::NotRunning;
}

qint64 ListeningProcess::pid() const
{
    return m_process ? m_process->processId() : 0;
}

void ListeningProcess::drain()
{
    if (!m_process)
        return;
    m_stdout += m_process->readAllStandardOutput();
    m_stderr += m_process->readAllStandardError();
}

QByteArray ListeningProcess::serverStderr()
{
    drain();
    return m_stderr;
}

QByteArray ListeningProcess::serverStdout()
{
    drain();
    return m_stdout;
}

bool ListeningProcess::launch(const QString &program, const QStringList &arguments, int timeoutMs,
                              const QByteArray &input)
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
    drain();
    m_process = std::make_unique<QProcess>();
    QProcess *process = m_process.get();
    process->setProcessEnvironment(m_environment);
    if (m_childModifier)
        process->setChildProcessModifier(m_childModifier);
    process->setProcessChannelMode(QProcess::SeparateChannels);
    process->setWorkingDirectory(m_dir.path());
    // Keep reading both pipes while tests run their event loops, so a chatty
    // server never blocks on a full pipe.
    QObject::connect(process, &QProcess::readyReadStandardError, process,
                     [this, process] { m_stderr += process->readAllStandardError(); });
    const qsizetype stdoutStart = m_stdout.size();
    process->start(program, arguments);
    if (!process->waitForStarted(timeoutMs)) {
        m_error = QStringLiteral("cannot start %1: %2").arg(program, process->errorString());
        m_process.reset();
        return false;
    }
    if (!input.isNull()) {
        process->write(input);
        process->closeWriteChannel();
    }

    static const QRegularExpression listening(
            QStringLiteral("listening on (https?)://(127\\.0\\.0\\.1|\\[::1\\]):(\\d+)\\s*$"),
            QRegularExpression::MultilineOption);
    auto matched = [&] { return listening.match(QString::fromUtf8(m_stdout.mid(stdoutStart))); };
    QEventLoop loop;
    QTimer timer;
    timer.setSingleShot(true);
    QObject::connect(&timer, &QTimer::timeout, &loop, &QEventLoop::quit);
    QObject::connect(process, &QProcess::readyReadStandardOutput, &loop, [&] {
        m_stdout += process->readAllStandardOutput();
        if (matched().hasMatch())
            loop.quit();
    });
    QObject::connect(process, &QProcess::finished, &loop, &QEventLoop::quit);
    timer.start(timeoutMs);
    m_stdout += process->readAllStandardOutput();
    if (!matched().hasMatch())
        loop.exec();
    QObject::disconnect(process, &QProcess::readyReadStandardOutput, &loop, nullptr);
    // Later stdout output is collected lazily.
    QObject::connect(process, &QProcess::readyReadStandardOutput, process,
                     [this, process] { m_stdout += process->readAllStandardOutput(); });

    const auto match = matched();
    if (!match.hasMatch()) {
        drain();
        m_error = QStringLiteral("%1: no 'listening on' line within %2 ms (state %3, exit %4); "
                                 "stdout: %5 stderr: %6")
                          .arg(m_name)
                          .arg(timeoutMs)
                          .arg(int(process->state()))
                          .arg(process->exitCode())
                          .arg(QString::fromUtf8(m_stdout.mid(stdoutStart)),
                               QString::fromUtf8(m_stderr.right(3000)));
        kill();
        return false;
    }
    m_baseUrl = QUrl(QStringLiteral("%1://%2:%3")
                             .arg(match.captured(1), match.captured(2), match.captured(3)));
    return true;
}

bool ListeningProcess::stop(int timeoutMs)
{
    m_error.clear();
    if (!m_process)
        return true;
    if (isRunning()) {
        ::kill(pid_t(m_process->processId()), SIGTERM);
        if (!m_process->waitForFinished(timeoutMs)) {
            m_error = QStringLiteral("%1 did not exit within %2 ms of SIGTERM")
                              .arg(m_name)
                              .arg(timeoutMs);
            kill();
            return false;
        }
    }
    drain();
    const bool clean =
            m_process->exitStatus() == QProcess::NormalExit && m_process->exitCode() == 0;
    if (!clean && m_termination == Termination::CleanExit)
        m_error = QStringLiteral("%1 exit: status %2 code %3")
                          .arg(m_name)
                          .arg(int(m_process->exitStatus()))
                          .arg(m_process->exitCode());
    m_process.reset();
    return clean || m_termination == Termination::AnyExit;
}

PausedProcess::PausedProcess(const ListeningProcess &process)
    : m_pid(process.pid())
{
    if (m_pid > 0)
        ::kill(pid_t(m_pid), SIGSTOP);
}

void PausedProcess::resume()
{
    if (m_pid > 0)
        ::kill(pid_t(std::exchange(m_pid, 0)), SIGCONT);
}

void ListeningProcess::kill()
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

void ListeningProcess::printLogIfFailed()
{
    if (!QTest::currentTestFailed())
        return;
    const QByteArray log = serverStderr();
    if (log.isEmpty())
        return;
    constexpr qsizetype Tail = 8000;
    qWarning().noquote() << "----" << m_name << "stderr" << (log.size() > Tail ? "(tail)" : "")
                         << "----\n"
                         << QString::fromUtf8(log.right(Tail)) << "\n---- end of stderr ----";
}

qint64 residentKiB(qint64 pid)
{
    QFile status(QStringLiteral("/proc/%1/status").arg(pid));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : status.readAll().split('\n')) {
        if (line.startsWith("VmRSS:"))
            return line.mid(6).trimmed().split(' ').first().toLongLong();
    }
    return -1;
}

} // namespace Tessera::Test

// SPDX-License-Identifier: MIT
#include "djangopeer.h"

#include "httpclient.h"

#include <QtCore/QDebug>
#include <QtCore/QEventLoop>
#include <QtCore/QRegularExpression>
#include <QtCore/QTimer>
#include <QtCore/QUuid>
#include <QtTest/QTest>

#include <csignal>
#include <sys/types.h>

#ifndef TESSERA_DJANGO_PEER_PATH
#define TESSERA_DJANGO_PEER_PATH ""
#endif
#ifndef TESSERA_PYTHON_PATH
#define TESSERA_PYTHON_PATH "/usr/bin/python3"
#endif

namespace Tessera::Test {

DjangoPeer::DjangoPeer()
    : m_environment(QProcessEnvironment::systemEnvironment())
{
    // A pyenv or virtualenv on PATH must not shadow Debian's packages.
    m_environment.remove(QStringLiteral("PYTHONPATH"));
    m_environment.remove(QStringLiteral("PYTHONHOME"));
    m_environment.remove(QStringLiteral("DJANGO_SETTINGS_MODULE"));
    // One signing key per peer, kept across stop()/start(), so tokens survive a restart
    // as they do on a real deployment.
    m_environment.insert(QStringLiteral("TESSERA_DJANGO_SECRET_KEY"),
                         QString::fromLatin1(QUuid::createUuid().toRfc4122().toHex()
                                             + QUuid::createUuid().toRfc4122().toHex()));
}

DjangoPeer::~DjangoPeer()
{
    printLogIfFailed();
    if (isRunning() && !stop(5000))
        kill();
}

QString DjangoPeer::scriptPath()
{
    const QString fromEnvironment = qEnvironmentVariable("TESSERA_DJANGO_PEER");
    return fromEnvironment.isEmpty() ? QString::fromLocal8Bit(TESSERA_DJANGO_PEER_PATH)
                                     : fromEnvironment;
}

QString DjangoPeer::python()
{
    const QString fromEnvironment = qEnvironmentVariable("TESSERA_PYTHON");
    return fromEnvironment.isEmpty() ? QString::fromLocal8Bit(TESSERA_PYTHON_PATH)
                                     : fromEnvironment;
}

QString DjangoPeer::databasePath() const
{
    return m_dir.filePath(QStringLiteral("django.sqlite3"));
}

bool DjangoPeer::isRunning() const
{
    return m_process && m_process->state() != QProcess::NotRunning;
}

void DjangoPeer::drain()
{
    if (!m_process)
        return;
    m_stdout += m_process->readAllStandardOutput();
    m_stderr += m_process->readAllStandardError();
}

QByteArray DjangoPeer::peerStderr()
{
    drain();
    return m_stderr;
}

bool DjangoPeer::start(const QString &user, const QByteArray &password, int timeoutMs)
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
    process->setWorkingDirectory(m_dir.path());
    QObject::connect(process, &QProcess::readyReadStandardError, process,
                     [this, process] { m_stderr += process->readAllStandardError(); });
    const qsizetype stdoutStart = m_stdout.size();
    process->start(python(),
                   {scriptPath(), QStringLiteral("--db"), databasePath(), QStringLiteral("--user"),
                    user, QStringLiteral("--access-ttl"), QString::number(m_accessTtl)});
    if (!process->waitForStarted(timeoutMs)) {
        m_error = QStringLiteral("cannot start %1: %2").arg(python(), process->errorString());
        m_process.reset();
        return false;
    }
    process->write(password + '\n');
    process->closeWriteChannel();

    static const QRegularExpression listening(
            QStringLiteral("listening on (http)://(127\\.0\\.0\\.1):(\\d+)\\s*$"),
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
    QObject::connect(process, &QProcess::readyReadStandardOutput, process,
                     [this, process] { m_stdout += process->readAllStandardOutput(); });

    const auto match = matched();
    if (!match.hasMatch()) {
        drain();
        m_error = QStringLiteral("Django peer: no 'listening on' line within %1 ms; stderr: %2")
                          .arg(timeoutMs)
                          .arg(QString::fromUtf8(m_stderr.right(3000)));
        kill();
        return false;
    }
    m_baseUrl = QUrl(QStringLiteral("http://127.0.0.1:%1").arg(match.captured(3)));
    return true;
}

bool DjangoPeer::stop(int timeoutMs)
{
    if (!m_process)
        return true;
    if (isRunning()) {
        ::kill(pid_t(m_process->processId()), SIGTERM);
        if (!m_process->waitForFinished(timeoutMs)) {
            kill();
            return false;
        }
    }
    drain();
    m_process.reset();
    return true;
}

void DjangoPeer::kill()
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

void DjangoPeer::printLogIfFailed()
{
    if (!QTest::currentTestFailed())
        return;
    const QByteArray log = peerStderr();
    if (log.isEmpty())
        return;
    qWarning().noquote() << "---- Django peer stderr (tail) ----\n"
                         << QString::fromUtf8(log.right(6000)) << "\n---- end of stderr ----";
}

namespace {

int countRows(const QString &database, const QString &table)
{
    const auto rows = sqliteSelect(database, QStringLiteral("SELECT COUNT(*) FROM ") + table);
    if (!rows || rows->isEmpty() || rows->first().isEmpty())
        return -1;
    return rows->first().first().toInt();
}

} // namespace

int DjangoPeer::blacklistedCount() const
{
    return countRows(databasePath(), QStringLiteral("token_blacklist_blacklistedtoken"));
}

int DjangoPeer::outstandingCount() const
{
    return countRows(databasePath(), QStringLiteral("token_blacklist_outstandingtoken"));
}

} // namespace Tessera::Test

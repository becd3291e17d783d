// SPDX-License-Identifier: MIT
#include "serverprocess.h"

#include "testdatabase.h"

#ifndef TESSERA_SERVER_PATH
#define TESSERA_SERVER_PATH ""
#endif

namespace Tessera::Test {

ServerProcess::ServerProcess(QStringList extraArgs)
    : ListeningProcess(QStringLiteral("tessera-server"), Termination::CleanExit)
    , m_extraArgs(std::move(extraArgs))
{
    // An inherited rule must not change what the server logs unless a test asks.
    m_environment.remove(QStringLiteral("QT_LOGGING_RULES"));
    m_database = newTestDatabase(m_dir.path(), &m_databaseError);
}

bool ServerProcess::haveDatabase()
{
    if (!m_database.isEmpty())
        return true;
    m_error = QStringLiteral("no database: %1").arg(m_databaseError);
    return false;
}

QString ServerProcess::binaryPath()
{
    const QString fromEnvironment = qEnvironmentVariable("TESSERA_SERVER");
    if (!fromEnvironment.isEmpty())
        return fromEnvironment;
    return QString::fromLocal8Bit(TESSERA_SERVER_PATH);
}

QStringList ServerProcess::argonArgs() const
{
    if (!m_fastArgon2)
        return {};
    return {QStringLiteral("--argon2-memory"), QStringLiteral("8192"),
            QStringLiteral("--argon2-iterations"), QStringLiteral("1")};
}

bool ServerProcess::start(int timeoutMs)
{
    const QString binary = binaryPath();
    if (binary.isEmpty()) {
        m_error = QStringLiteral(
                "no tessera-server binary (TESSERA_SERVER_PATH not set at build time)");
        return false;
    }
    if (!haveDatabase())
        return false;
    QStringList args{QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                     QStringLiteral("--db"), databasePath()};
    args += argonArgs();
    args += m_extraArgs;
    return launch(binary, args, timeoutMs);
}

bool ServerProcess::restart(int timeoutMs)
{
    if (!stop())
        return false;
    return start(timeoutMs);
}

bool ServerProcess::addUser(const QString &name, const QByteArray &password)
{
    m_error.clear();
    if (!haveDatabase())
        return false;
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

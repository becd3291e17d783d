// SPDX-License-Identifier: MIT
#include "postgrescluster.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QDir>
#include <QtCore/QFileInfo>
#include <QtCore/QUuid>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QTcpServer>
#include <QtSql/QSqlDatabase>
#include <QtSql/QSqlError>
#include <QtSql/QSqlQuery>

#include <csignal>

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace Tessera::Test {
namespace {

const QString SuperUser = QStringLiteral("tessera");

// The newest /usr/lib/postgresql/N/bin holding initdb and postgres, or
// $TESSERA_POSTGRESQL_BIN; empty when there is none.
QString serverBinDir()
{
    const QString fromEnvironment = qEnvironmentVariable("TESSERA_POSTGRESQL_BIN");
    QStringList candidates;
    if (!fromEnvironment.isEmpty()) {
        candidates << fromEnvironment;
    } else {
        QDir versions(QStringLiteral("/usr/lib/postgresql"));
        QStringList names = versions.entryList(QDir::Dirs | QDir::NoDotAndDotDot);
        std::sort(names.begin(), names.end(),
                  [](const QString &a, const QString &b) { return a.toInt() > b.toInt(); });
        for (const QString &name : names)
            candidates << versions.filePath(name) + QStringLiteral("/bin");
    }
    for (const QString &dir : candidates) {
        if (QFileInfo(dir + QStringLiteral("/initdb")).isExecutable()
            && QFileInfo(dir + QStringLiteral("/postgres")).isExecutable())
            return dir;
    }
    return {};
}

struct Account
{
    bool switchUser = false; // running as root: become `postgres`
    uid_t uid = 0;
    gid_t gid = 0;
};

Account serverAccount()
{
    Account account;
    if (::geteuid() != 0)
        return account;
    if (const passwd *entry = ::getpwnam("postgres")) {
        account.switchUser = true;
        account.uid = entry->pw_uid;
        account.gid = entry->pw_gid;
    }
    return account;
}

// Runs between fork and exec: async-signal-safe calls only.
void becomeServerUser(const Account &account, bool dieWithParent)
{
    if (account.switchUser) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(account.gid) != 0
            || ::setuid(account.uid) != 0)
            ::_exit(126);
    }
    // After setuid, which clears it: the postmaster must not outlive a test
    // process that crashed or was killed by a ctest timeout.
    if (dieWithParent)
        ::prctl(PR_SET_PDEATHSIG, SIGQUIT);
}

quint16 freeLoopbackPort()
{
    QTcpServer probe;
    if (!probe.listen(QHostAddress::LocalHost, 0))
        return 0;
    return probe.serverPort();
}

std::unique_ptr<PostgresCluster> &sharedCluster()
{
    static std::unique_ptr<PostgresCluster> cluster;
    return cluster;
}

void stopSharedCluster()
{
    sharedCluster().reset();
}

QStringList &serverSettings()
{
    static QStringList settings;
    return settings;
}

} // namespace

QString PostgresCluster::unavailableReason()
{
    if (serverBinDir().isEmpty())
        return QStringLiteral("the PostgreSQL server is not installed (no "
                              "/usr/lib/postgresql/*/bin/initdb; Debian package postgresql)");
    if (!QSqlDatabase::isDriverAvailable(QStringLiteral("QPSQL")))
        return QStringLiteral("Qt's QPSQL driver is not installed (Debian package "
                              "libqt6sql6-psql)");
    if (::geteuid() == 0 && !::getpwnam("postgres"))
        return QStringLiteral("running as root without a postgres user to run PostgreSQL as");
    return {};
}

bool PostgresCluster::required()
{
    const QByteArray value = qgetenv("TESSERA_REQUIRE_POSTGRESQL");
    return !value.isEmpty() && value != "0";
}

void PostgresCluster::setServerSettings(const QStringList &settings)
{
    serverSettings() = settings;
}

PostgresCluster *PostgresCluster::shared(QString *error)
{
    std::unique_ptr<PostgresCluster> &cluster = sharedCluster();
    if (cluster)
        return cluster.get();
    if (const QString missing = unavailableReason(); !missing.isEmpty()) {
        *error = missing;
        return nullptr;
    }
    std::unique_ptr<PostgresCluster> started(new PostgresCluster);
    if (!started->start(error))
        return nullptr;
    cluster = std::move(started);
    // Before the QCoreApplication is gone (QProcess needs it), whatever the tests' outcome.
    qAddPostRoutine(stopSharedCluster);
    return cluster.get();
}

bool PostgresCluster::start(QString *error)
{
    m_binDir = serverBinDir();
    if (!m_dir.isValid()) {
        *error = QStringLiteral("cannot create a temporary directory");
        return false;
    }
    const Account account = serverAccount();
    if (account.switchUser
        && ::chown(QFile::encodeName(m_dir.path()).constData(), account.uid, account.gid) != 0) {
        *error = QStringLiteral("cannot give %1 to the postgres user").arg(m_dir.path());
        return false;
    }
    const QString dataDir = dataDirectory();

    QProcess initdb;
    initdb.setProcessChannelMode(QProcess::MergedChannels);
    initdb.setWorkingDirectory(m_dir.path());
    initdb.setChildProcessModifier([account] { becomeServerUser(account, false); });
    initdb.start(m_binDir + QStringLiteral("/initdb"),
                 {QStringLiteral("-D"), dataDir, QStringLiteral("-A"), QStringLiteral("trust"),
                  QStringLiteral("-U"), SuperUser, QStringLiteral("-E"), QStringLiteral("UTF8"),
                  QStringLiteral("--locale=C"), QStringLiteral("--no-sync")});
    if (!initdb.waitForFinished(120000) || initdb.exitStatus() != QProcess::NormalExit
        || initdb.exitCode() != 0) {
        *error = QStringLiteral("initdb failed: %1").arg(QString::fromLocal8Bit(initdb.readAll()));
        return false;
    }

    // A port found free may be taken before the postmaster binds it: try again.
    QString lastOutput;
    for (int attempt = 0; attempt < 3; ++attempt) {
        m_port = freeLoopbackPort();
        if (launchPostmaster(&lastOutput))
            return true;
    }
    *error = QStringLiteral("the PostgreSQL server did not start: %1").arg(lastOutput);
    return false;
}

QString PostgresCluster::dataDirectory() const
{
    return m_dir.filePath(QStringLiteral("data"));
}

bool PostgresCluster::launchPostmaster(QString *output)
{
    const Account account = serverAccount();
    auto postmaster = std::make_unique<QProcess>();
    postmaster->setProcessChannelMode(QProcess::MergedChannels);
    postmaster->setWorkingDirectory(m_dir.path());
    postmaster->setChildProcessModifier([account] { becomeServerUser(account, true); });
    // fsync off: a throwaway cluster needs no protection from a power cut, and the
    // tests' PostgreSQL crashes (SIGQUIT, SIGKILL) lose nothing committed without it.
    QStringList arguments{QStringLiteral("-D"), dataDirectory(),
                          QStringLiteral("-k"), m_dir.path(),
                          QStringLiteral("-p"), QString::number(m_port),
                          QStringLiteral("-c"), QStringLiteral("listen_addresses=127.0.0.1"),
                          QStringLiteral("-c"), QStringLiteral("fsync=off"),
                          QStringLiteral("-c"), QStringLiteral("max_connections=60"),
                          QStringLiteral("-c"), QStringLiteral("shared_buffers=16MB")};
    for (const QString &setting : std::as_const(serverSettings()))
        arguments << QStringLiteral("-c") << setting;
    postmaster->start(m_binDir + QStringLiteral("/postgres"), arguments);
    QByteArray text;
    const QDeadlineTimer deadline(30000);
    while (!deadline.hasExpired() && postmaster->state() != QProcess::NotRunning
           && !text.contains("ready to accept connections")) {
        postmaster->waitForReadyRead(200);
        text += postmaster->readAll();
    }
    if (text.contains("ready to accept connections")) {
        m_postmaster = std::move(postmaster);
        return true;
    }
    *output = QString::fromLocal8Bit(text);
    postmaster->kill();
    postmaster->waitForFinished(5000);
    return false;
}

bool PostgresCluster::stopFast(QString *error)
{
    if (!m_postmaster || m_postmaster->state() == QProcess::NotRunning) {
        *error = QStringLiteral("the PostgreSQL server is not running");
        return false;
    }
    const Account account = serverAccount();
    QProcess pgCtl;
    pgCtl.setProcessChannelMode(QProcess::MergedChannels);
    pgCtl.setWorkingDirectory(m_dir.path());
    pgCtl.setChildProcessModifier([account] { becomeServerUser(account, false); });
    pgCtl.start(m_binDir + QStringLiteral("/pg_ctl"),
                {QStringLiteral("stop"), QStringLiteral("-D"), dataDirectory(),
                 QStringLiteral("-m"), QStringLiteral("fast"), QStringLiteral("-w"),
                 QStringLiteral("-t"), QStringLiteral("30")});
    if (!pgCtl.waitForFinished(40000) || pgCtl.exitStatus() != QProcess::NormalExit
        || pgCtl.exitCode() != 0) {
        *error = QStringLiteral("pg_ctl stop -m fast failed: %1")
                         .arg(QString::fromLocal8Bit(pgCtl.readAll()));
        return false;
    }
    // pg_ctl waited for the postmaster to exit; reap it.
    if (!m_postmaster->waitForFinished(10000)) {
        *error = QStringLiteral("the postmaster did not exit after pg_ctl stop");
        return false;
    }
    m_postmaster.reset();
    return true;
}

bool PostgresCluster::startAgain(QString *error)
{
    if (m_postmaster && m_postmaster->state() != QProcess::NotRunning) {
        *error = QStringLiteral("the PostgreSQL server is running");
        return false;
    }
    // The same port: the clients' URIs name it.
    QString output;
    if (launchPostmaster(&output))
        return true;
    *error = QStringLiteral("the PostgreSQL server did not start again on port %1: %2")
                     .arg(m_port)
                     .arg(output);
    return false;
}

bool PostgresCluster::restart(QString *error)
{
    return stopFast(error) && startAgain(error);
}

void PostgresCluster::stop()
{
    if (!m_postmaster || m_postmaster->state() == QProcess::NotRunning)
        return;
    // What `pg_ctl stop -m immediate` sends: the postmaster ends its backends and exits.
    ::kill(pid_t(m_postmaster->processId()), SIGQUIT);
    if (!m_postmaster->waitForFinished(10000)) {
        m_postmaster->kill();
        m_postmaster->waitForFinished(5000);
    }
}

PostgresCluster::~PostgresCluster()
{
    stop();
    // m_dir (data directory, socket) goes with the object.
}

QString PostgresCluster::createDatabase(QString *error)
{
    const QString name = QStringLiteral("tessera_test_%1").arg(++m_databases);
    const QString connection =
            QStringLiteral("tessera-cluster-") + QUuid::createUuid().toString(QUuid::Id128);
    bool ok = false;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), connection);
        db.setHostName(QStringLiteral("127.0.0.1"));
        db.setPort(m_port);
        db.setUserName(SuperUser);
        db.setDatabaseName(QStringLiteral("postgres"));
        if (!db.open()) {
            *error = QStringLiteral("cannot connect to the cluster: ") + db.lastError().text();
        } else {
            QSqlQuery query(db);
            ok = query.exec(QStringLiteral("CREATE DATABASE ") + name);
            if (!ok)
                *error = QStringLiteral("CREATE DATABASE failed: ") + query.lastError().text();
        }
        db.close();
    }
    QSqlDatabase::removeDatabase(connection);
    if (!ok)
        return {};
    return QStringLiteral("postgresql://%1@127.0.0.1:%2/%3").arg(SuperUser).arg(m_port).arg(name);
}

} // namespace Tessera::Test

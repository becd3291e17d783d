// SPDX-License-Identifier: MIT
// tessera-server's database files (docs/SERVER.md "Database files"): the file
// holds the signing keys and every refresh-token hash, so the server refuses to
// start, in one line on stderr, when another account could read it, replace it
// or have planted one of its side files (-wal, -shm, -journal); it creates its
// own files 0600 whatever the umask; without --db it keeps the database under
// $XDG_DATA_HOME instead of the working directory.
#include "testsupport.h"

#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>
#include <QtCore/QTemporaryDir>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QTcpServer>
#include <QtSql/QSqlDatabase>
#include <QtTest/QTest>

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace Tessera::Test;

namespace {

int fileMode(const QString &path)
{
    struct stat info = {};
    if (::lstat(QFile::encodeName(path).constData(), &info) != 0)
        return -1;
    return int(info.st_mode & 07777);
}

bool setMode(const QString &path, int mode)
{
    return ::chmod(QFile::encodeName(path).constData(), mode_t(mode)) == 0;
}

bool setOwner(const QString &path, uid_t uid, gid_t gid)
{
    return ::lchown(QFile::encodeName(path).constData(), uid, gid) == 0;
}

bool writeFile(const QString &path, int mode)
{
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return false;
    file.close();
    return setMode(path, mode);
}

struct Run
{
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

// Runs tessera-server to completion (or for `timeoutMs`, then SIGTERM).
Run runServer(const QStringList &args, const QByteArray &input = {}, int timeoutMs = 15000,
              const QProcessEnvironment &environment = QProcessEnvironment::systemEnvironment(),
              const QString &workingDirectory = {})
{
    QProcess process;
    process.setProcessEnvironment(environment);
    if (!workingDirectory.isEmpty())
        process.setWorkingDirectory(workingDirectory);
    process.start(ServerProcess::binaryPath(), args);
    Run run;
    if (!process.waitForStarted(5000))
        return run;
    if (!input.isEmpty()) {
        process.write(input);
        process.closeWriteChannel();
    }
    if (!process.waitForFinished(timeoutMs)) {
        process.terminate();
        process.waitForFinished(5000);
    }
    run.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    run.out = process.readAllStandardOutput();
    run.err = process.readAllStandardError();
    return run;
}

const QStringList FastArgon2{QStringLiteral("--argon2-memory"), QStringLiteral("8192"),
                             QStringLiteral("--argon2-iterations"), QStringLiteral("1")};

Run addUser(const QString &database)
{
    return runServer(QStringList{QStringLiteral("user"), QStringLiteral("add"), TestUser,
                                 QStringLiteral("--db"), database}
                             + FastArgon2,
                     TestPassword.toUtf8() + '\n');
}

// Starts the server and stops it as soon as it listens; true if it did.
bool serverStarts(const QString &database, QByteArray *err)
{
    QProcess process;
    process.start(ServerProcess::binaryPath(),
                  QStringList{QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                              QStringLiteral("--db"), database}
                          + FastArgon2);
    bool listening = false;
    QDeadlineTimer deadline(15000);
    while (!deadline.hasExpired() && process.state() != QProcess::NotRunning) {
        process.waitForReadyRead(100);
        if (process.readAllStandardOutput().contains("listening on ")) {
            listening = true;
            break;
        }
    }
    process.terminate();
    process.waitForFinished(10000);
    *err = process.readAllStandardError();
    return listening;
}

} // namespace

class tst_ServerDatabase : public QObject
{
    Q_OBJECT
private slots:
    void unsafeFilesRefused_data();
    void unsafeFilesRefused();
    void stickyWorldWritableDirectoryRefused();
    void newFilesArePrivateWhateverTheUmask();
    void defaultDatabaseUnderXdgDataHome();
    void databasePoolNeedsPostgreSQL();
    void databaseUriErrorsHideThePassword_data();
    void databaseUriErrorsHideThePassword();
};

void tst_ServerDatabase::unsafeFilesRefused_data()
{
    QTest::addColumn<QString>("file");     // "" (the database), -wal, -shm, -journal, or "dir"
    QTest::addColumn<QString>("change");   // mode:NNNN, owner, symlink, group
    QTest::addColumn<QString>("expected"); // in the one stderr line

    QTest::addRow("-wal planted with mode 0666") << "-wal"
                                                 << "mode:0666"
                                                 << "mode 0666";
    QTest::addRow("-shm planted with mode 0644") << "-shm"
                                                 << "mode:0644"
                                                 << "mode 0644";
    QTest::addRow("-journal planted with mode 0600 by another user") << "-journal"
                                                                     << "owner"
                                                                     << "belongs to nobody";
    QTest::addRow("-wal as a symbolic link") << "-wal"
                                             << "symlink"
                                             << "symbolic link";
    QTest::addRow("database readable by all (0644)") << ""
                                                     << "mode:0644"
                                                     << "mode 0644";
    QTest::addRow("database of another user") << ""
                                              << "owner"
                                              << "belongs to nobody";
    QTest::addRow("directory writable by all, not sticky (0777)") << "dir"
                                                                  << "mode:0777"
                                                                  << "mode 0777";
    QTest::addRow("directory writable by a group (0770, group users)") << "dir"
                                                                       << "group"
                                                                       << "lets group";
    QTest::addRow("directory writable by its group, sticky (01770)") << "dir"
                                                                     << "mode:01770"
                                                                     << "mode 1770 lets group";
    QTest::addRow("directory of another user") << "dir"
                                               << "owner"
                                               << "belongs to nobody";
}

void tst_ServerDatabase::unsafeFilesRefused()
{
    QFETCH(QString, file);
    QFETCH(QString, change);
    QFETCH(QString, expected);
    const bool needsRoot = change == u"owner" || change == u"group";
    if (needsRoot && ::geteuid() != 0)
        QSKIP("changing owners needs root (CI runs as root)");

    QTemporaryDir parent;
    const QString dir = parent.filePath(QStringLiteral("data"));
    QVERIFY(QDir().mkdir(dir));
    QVERIFY(setMode(dir, 0700));
    const QString database = dir + QStringLiteral("/db.sqlite3");
    const Run added = addUser(database);
    QVERIFY2(added.exitCode == 0, added.err.constData());

    const QString target = file == u"dir" ? dir : database + file;
    const passwd *nobody = ::getpwnam("nobody");
    const group *users = ::getgrnam("users");
    QVERIFY(nobody && users);
    if (change.startsWith(u"mode:")) {
        const int mode = change.mid(5).toInt(nullptr, 8);
        if (!QFile::exists(target))
            QVERIFY(writeFile(target, mode));
        QVERIFY(setMode(target, mode));
    } else if (change == u"owner") {
        if (!QFile::exists(target))
            QVERIFY(writeFile(target, 0600));
        QVERIFY(setOwner(target, nobody->pw_uid, nobody->pw_gid));
    } else if (change == u"group") {
        QVERIFY(setOwner(target, ::geteuid(), users->gr_gid));
        QVERIFY(setMode(target, 0770));
    } else if (change == u"symlink") {
        QVERIFY(QFile::link(parent.filePath(QStringLiteral("elsewhere")), target));
    }
    const int modeBefore = fileMode(target);

    // The server: exit status 1, one line saying why, nothing served.
    const Run served = runServer({QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                                  QStringLiteral("--db"), database});
    QCOMPARE(served.exitCode, 1);
    QVERIFY2(!served.out.contains("listening on"), served.out.constData());
    QCOMPARE(served.err.count('\n'), 1);
    QVERIFY2(served.err.startsWith("tessera-server: "), served.err.constData());
    QVERIFY2(served.err.contains(expected.toUtf8()), served.err.constData());
    // Refused, not repaired behind the operator's back.
    QCOMPARE(fileMode(target), modeBefore);
    // `user add` refuses too.
    const Run again = addUser(database);
    QCOMPARE(again.exitCode, 1);
    QVERIFY2(again.err.contains(expected.toUtf8()), again.err.constData());

    if (file == u"dir")
        QVERIFY(setOwner(dir, ::geteuid(), ::getegid()) && setMode(dir, 0700));
}

// /tmp-like directories (writable by all, sticky) are refused: the sticky bit
// protects files that exist, not the -wal file another user plants between
// the checks and SQLite's open, which SQLite would read as part of the
// database (review of issue 15). Refused before SQLite opens anything: no side
// file is created and the database is not touched (no checkpoint).
void tst_ServerDatabase::stickyWorldWritableDirectoryRefused()
{
    QTemporaryDir parent;
    const QString dir = parent.filePath(QStringLiteral("shared"));
    QVERIFY(QDir().mkdir(dir));
    QVERIFY(setMode(dir, 0700));
    const QString database = dir + QStringLiteral("/db.sqlite3");
    const Run added = addUser(database);
    QVERIFY2(added.exitCode == 0, added.err.constData());
    QVERIFY(!QFile::exists(database + QStringLiteral("-wal")));
    QFile file(database);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QByteArray before = file.readAll();
    file.close();

    QVERIFY(setMode(dir, 01777));
    QByteArray err;
    QVERIFY2(!serverStarts(database, &err), err.constData());
    QCOMPARE(err.count('\n'), 1);
    QVERIFY2(err.contains("mode 1777 lets every user create files"), err.constData());
    const Run again = addUser(database);
    QCOMPARE(again.exitCode, 1);
    QVERIFY2(again.err.contains("mode 1777"), again.err.constData());
    for (const char *suffix : {"-wal", "-shm", "-journal"})
        QVERIFY2(!QFile::exists(database + QLatin1String(suffix)), suffix);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(file.readAll(), before);
    file.close();
    QCOMPARE(fileMode(dir), 01777); // refused, not repaired

    // Owner-only again (0750 is fine too: the group can read, not create).
    QVERIFY(setMode(dir, 0750));
    QVERIFY2(serverStarts(database, &err), err.constData());
}

// The database and the WAL files SQLite creates next to it are 0600 even when
// the server is started with a umask of 0.
void tst_ServerDatabase::newFilesArePrivateWhateverTheUmask()
{
    QTemporaryDir dir;
    const QString database = dir.filePath(QStringLiteral("db.sqlite3"));
    const mode_t previous = ::umask(0);
    QProcess process;
    process.start(ServerProcess::binaryPath(),
                  QStringList{QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                              QStringLiteral("--db"), database}
                          + FastArgon2);
    ::umask(previous);
    QVERIFY(process.waitForStarted(5000));
    QByteArray out;
    QTRY_VERIFY_WITH_TIMEOUT((process.waitForReadyRead(50), out += process.readAllStandardOutput(),
                              out.contains("listening on")),
                             15000);
    for (const char *suffix : {"", "-wal", "-shm"}) {
        const QString path = database + QLatin1String(suffix);
        QVERIFY2(QFile::exists(path), qPrintable(path));
        QVERIFY2(fileMode(path) == 0600,
                 qPrintable(QStringLiteral("%1: mode %2").arg(path).arg(fileMode(path), 0, 8)));
    }
    process.terminate();
    QVERIFY(process.waitForFinished(10000));
    QCOMPARE(process.exitCode(), 0);
}

// --db-pool opens more connections, each served by a thread of its own: PostgreSQL only. An
// SQLite database is refused that flag with a reason, not served by one thread silently.
void tst_ServerDatabase::databasePoolNeedsPostgreSQL()
{
    QTemporaryDir dir;
    QProcess process;
    process.start(ServerProcess::binaryPath(),
                  QStringList{QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                              QStringLiteral("--db"), dir.filePath(QStringLiteral("db.sqlite3")),
                              QStringLiteral("--db-pool"), QStringLiteral("2")}
                          + FastArgon2);
    QVERIFY(process.waitForFinished(15000));
    QCOMPARE(process.exitCode(), 2);
    QVERIFY(!process.readAllStandardOutput().contains("listening on"));
    const QByteArray error = process.readAllStandardError();
    QVERIFY2(error.contains("--db-pool needs a PostgreSQL --db"), error.constData());
}

// Without --db: $XDG_DATA_HOME/tessera-server/tessera-server.sqlite3, directory
// 0700, never the working directory (starting from /tmp used to be enough to
// put the keys in a shared directory).
void tst_ServerDatabase::defaultDatabaseUnderXdgDataHome()
{
    QTemporaryDir root;
    const QString dataHome = root.filePath(QStringLiteral("data"));
    const QString workingDirectory = root.filePath(QStringLiteral("cwd"));
    QVERIFY(QDir().mkpath(workingDirectory));
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("XDG_DATA_HOME"), dataHome);

    const Run added = runServer(QStringList{QStringLiteral("user"), QStringLiteral("add"), TestUser}
                                        + FastArgon2,
                                TestPassword.toUtf8() + '\n', 15000, environment, workingDirectory);
    QVERIFY2(added.exitCode == 0, added.err.constData());
    const QString database = dataHome + QStringLiteral("/tessera-server/tessera-server.sqlite3");
    QVERIFY(QFile::exists(database));
    QCOMPARE(fileMode(dataHome + QStringLiteral("/tessera-server")), 0700);
    QCOMPARE(fileMode(database), 0600);
    QVERIFY(QDir(workingDirectory).entryList(QDir::Files | QDir::Hidden).isEmpty());

    // The server finds the same database: the user added above logs in.
    QProcess server;
    server.setProcessEnvironment(environment);
    server.setWorkingDirectory(workingDirectory);
    server.start(ServerProcess::binaryPath(),
                 QStringList{QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0")}
                         + FastArgon2);
    QVERIFY(server.waitForStarted(5000));
    QByteArray out;
    QTRY_VERIFY_WITH_TIMEOUT((server.waitForReadyRead(50), out += server.readAllStandardOutput(),
                              out.contains("listening on")),
                             15000);
    const QRegularExpression listening(
            QStringLiteral("listening on (http://127\\.0\\.0\\.1:\\d+)"));
    const auto match = listening.match(QString::fromLatin1(out));
    QVERIFY(match.hasMatch());
    HttpClient http{QUrl(match.captured(1))};
    TESSERA_EXPECT_STATUS(http.login(TestUser, TestPassword), 200);
    server.terminate();
    QVERIFY(server.waitForFinished(10000));
    QVERIFY(QDir(workingDirectory).entryList(QDir::Files | QDir::Hidden).isEmpty());
}

void tst_ServerDatabase::databaseUriErrorsHideThePassword_data()
{
    QTest::addColumn<QString>("uri");
    QTest::addColumn<int>("exitCode"); // 2: refused as usage; 1: refused on connecting
    QTest::addColumn<QString>("expected");

    QTcpServer probe; // a loopback port where nothing listens
    QVERIFY(probe.listen(QHostAddress::LocalHost, 0));
    const quint16 closedPort = probe.serverPort();
    probe.close();

    QTest::addRow("bad port") << QStringLiteral(
            "postgresql://tessera:hunter2-secret@127.0.0.1:99999/db")
                              << 2 << QStringLiteral("the port must be a number");
    QTest::addRow("unknown scheme") << QStringLiteral("mysql://tessera:hunter2-secret@127.0.0.1/db")
                                    << 2 << QStringLiteral("unsupported URI scheme 'mysql'");
    QTest::addRow("no database name")
            << QStringLiteral("postgresql://tessera:hunter2-secret@127.0.0.1:5432") << 2
            << QStringLiteral("names no database");
    QTest::addRow("nobody listening")
            << QStringLiteral("postgresql://tessera:hunter2-secret@127.0.0.1:%1/db").arg(closedPort)
            << 1
            << QStringLiteral("cannot connect to postgresql://tessera@127.0.0.1:%1/db")
                       .arg(closedPort);
    QTest::addRow("nobody listening, password from PGPASSWORD")
            << QStringLiteral("postgresql://tessera@127.0.0.1:%1/db").arg(closedPort) << 1
            << QStringLiteral("cannot connect to postgresql://tessera@127.0.0.1:%1/db")
                       .arg(closedPort);
}

// A --db URI that is wrong, or names a database that cannot be reached, is refused by every
// command with one line on stderr that names the problem and never the password.
void tst_ServerDatabase::databaseUriErrorsHideThePassword()
{
    QFETCH(QString, uri);
    QFETCH(int, exitCode);
    QFETCH(QString, expected);
    if (exitCode == 1 && !QSqlDatabase::isDriverAvailable(QStringLiteral("QPSQL")))
        expected = QStringLiteral("QPSQL driver");
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("PGPASSWORD"), QStringLiteral("hunter2-from-env"));
    const QList<QStringList> commands{
            {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0")},
            {QStringLiteral("client"), QStringLiteral("list")},
            {QStringLiteral("user"), QStringLiteral("add"), TestUser},
    };
    for (const QStringList &command : commands) {
        const Run run = runServer(command + QStringList{QStringLiteral("--db"), uri} + FastArgon2,
                                  TestPassword.toUtf8() + '\n', 15000, environment);
        QVERIFY2(run.exitCode == exitCode,
                 qPrintable(QStringLiteral("%1: exit %2, %3")
                                    .arg(command.first())
                                    .arg(run.exitCode)
                                    .arg(QString::fromUtf8(run.err))));
        QVERIFY2(run.err.contains(expected.toUtf8()), run.err.constData());
        QCOMPARE(run.err.count('\n'), 1);
        for (const QByteArray &output : {run.out, run.err})
            QVERIFY2(!output.contains("hunter2"), output.constData());
    }
}

QTEST_GUILESS_MAIN(tst_ServerDatabase)
#include "tst_server_database.moc"

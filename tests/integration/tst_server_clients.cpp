// SPDX-License-Identifier: MIT
// tessera-server's client registry from the command line (docs/SERVER.md
// "Clients"): `client add`, `client list`, `client remove` on the real binary
// and a real SQLite file; hostile ids and redirect URIs refused with exit
// status 2 and one line on stderr, nothing stored; unsafe database files
// refused as for every subcommand; --demo registers client tessera-demo once.
#include "testdatabase.h"
#include "testsupport.h"

#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QProcess>
#include <QtCore/QTemporaryDir>
#include <QtTest/QTest>

#include <memory>
#include <vector>

#include <sys/stat.h>

using namespace Tessera::Test;

namespace {

struct Run
{
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

Run runServer(const QStringList &args)
{
    QProcess process;
    process.start(ServerProcess::binaryPath(), args);
    Run run;
    if (!process.waitForStarted(5000))
        return run;
    process.closeWriteChannel();
    if (!process.waitForFinished(15000)) {
        process.kill();
        process.waitForFinished(5000);
    }
    run.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    run.out = process.readAllStandardOutput();
    run.err = process.readAllStandardError();
    return run;
}

Run client(const QString &database, const QStringList &args)
{
    return runServer(QStringList{QStringLiteral("client")} + args
                     + QStringList{QStringLiteral("--db"), database});
}

Run addClient(const QString &database, const QString &id, const QStringList &redirectUris)
{
    QStringList args{QStringLiteral("add"), id};
    for (const QString &uri : redirectUris)
        args << QStringLiteral("--redirect-uri") << uri;
    return client(database, args);
}

// `client list`, which must succeed, as its lines.
QStringList listClients(const QString &database)
{
    const Run run = client(database, {QStringLiteral("list")});
    if (run.exitCode != 0) {
        qWarning("client list failed: %s", run.err.constData());
        return {QStringLiteral("<client list failed>")};
    }
    return QString::fromUtf8(run.out).split(u'\n', Qt::SkipEmptyParts);
}

int fileMode(const QString &path)
{
    struct stat info = {};
    if (::lstat(QFile::encodeName(path).constData(), &info) != 0)
        return -1;
    return int(info.st_mode & 07777);
}

const QString Loopback4 = QStringLiteral("http://127.0.0.1/callback");
const QString Loopback6 = QStringLiteral("http://[::1]/callback");
const QString PrivateUse = QStringLiteral("com.example.app:/oauth2redirect");
const QString Claimed = QStringLiteral("https://app.example.com/oauth/callback");

} // namespace

class tst_ServerClients : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void addListRemove();
    void duplicateAddRefused();
    void removeUnknownRefused();
    void hostileInputRefused_data();
    void hostileInputRefused();
    void unsafeDatabaseRefused();
    void demoRegistersItsClientOnce();
    void commandsAtOnceOnANewDatabase();
};

// Runs on SQLite, and again on PostgreSQL (TESSERA_TEST_DATABASE, CMakeLists.txt).
void tst_ServerClients::initTestCase()
{
    TESSERA_REQUIRE_TEST_DATABASE();
}

void tst_ServerClients::addListRemove()
{
    ServerProcess server;
    const QString database = server.databasePath();
    QCOMPARE(listClients(database), QStringList());

    Run run = addClient(database, QStringLiteral("my-app"), {Loopback4, PrivateUse, Loopback6});
    QVERIFY2(run.exitCode == 0, run.err.constData());
    QCOMPARE(run.out, QByteArray("client my-app added\n"));
    if (!testsUsePostgreSQL())
        QCOMPARE(fileMode(database), 0600);
    run = addClient(database, QStringLiteral("another.app"), {Claimed});
    QVERIFY2(run.exitCode == 0, run.err.constData());
    // Ordered by id; the URIs in the order given.
    QCOMPARE(
            listClients(database),
            QStringList({QStringLiteral("another.app ") + Claimed,
                         QStringLiteral("my-app %1 %2 %3").arg(Loopback4, PrivateUse, Loopback6)}));

    run = client(database, {QStringLiteral("remove"), QStringLiteral("my-app")});
    QVERIFY2(run.exitCode == 0, run.err.constData());
    QCOMPARE(run.out, QByteArray("client my-app removed\n"));
    QCOMPARE(listClients(database), QStringList({QStringLiteral("another.app ") + Claimed}));

    // Its redirect URIs went with it: the id registers afresh, with only the new ones.
    run = addClient(database, QStringLiteral("my-app"), {Loopback6});
    QVERIFY2(run.exitCode == 0, run.err.constData());
    QCOMPARE(listClients(database),
             QStringList({QStringLiteral("another.app ") + Claimed,
                          QStringLiteral("my-app ") + Loopback6}));
    const auto rows =
            databaseSelect(database, QStringLiteral("SELECT count(*) FROM client_redirect_uris"));
    QVERIFY(rows && rows->size() == 1);
    QCOMPARE(rows->first().first().toInt(), 2);

    // The server starts on the database the commands wrote.
    TESSERA_START(server);
}

void tst_ServerClients::duplicateAddRefused()
{
    QTemporaryDir dir;
    QString error;
    const QString database = newTestDatabase(dir.path(), &error);
    QVERIFY2(!database.isEmpty(), qPrintable(error));
    Run run = addClient(database, QStringLiteral("my-app"), {Loopback4});
    QVERIFY2(run.exitCode == 0, run.err.constData());
    run = addClient(database, QStringLiteral("my-app"), {Loopback6, PrivateUse});
    QCOMPARE(run.exitCode, 1);
    QCOMPARE(run.err, QByteArray("tessera-server: client my-app already exists\n"));
    QVERIFY(run.out.isEmpty());
    // The first registration is left as it was.
    QCOMPARE(listClients(database), QStringList({QStringLiteral("my-app ") + Loopback4}));
}

void tst_ServerClients::removeUnknownRefused()
{
    QTemporaryDir dir;
    QString error;
    const QString database = newTestDatabase(dir.path(), &error);
    QVERIFY2(!database.isEmpty(), qPrintable(error));
    Run run = addClient(database, QStringLiteral("my-app"), {Loopback4});
    QVERIFY2(run.exitCode == 0, run.err.constData());
    run = client(database, {QStringLiteral("remove"), QStringLiteral("other-app")});
    QCOMPARE(run.exitCode, 1);
    QCOMPARE(run.err, QByteArray("tessera-server: no client other-app\n"));
    QCOMPARE(listClients(database), QStringList({QStringLiteral("my-app ") + Loopback4}));
}

void tst_ServerClients::hostileInputRefused_data()
{
    QTest::addColumn<QStringList>("args"); // after `client`
    QTest::addColumn<QByteArray>("expected");

    auto add = [](const QString &id, const QStringList &uris) {
        QStringList args{QStringLiteral("add"), id};
        for (const QString &uri : uris)
            args << QStringLiteral("--redirect-uri") << uri;
        return args;
    };
    const QString id = QStringLiteral("new-app");
    QTest::addRow("fragment") << add(id, {QStringLiteral("http://127.0.0.1/cb#x")})
                              << QByteArray("has a fragment");
    QTest::addRow("userinfo") << add(id, {QStringLiteral("http://127.0.0.1@evil.example/cb")})
                              << QByteArray("userinfo");
    QTest::addRow("localhost") << add(id, {QStringLiteral("http://localhost:8080/cb")})
                               << QByteArray("uses localhost");
    QTest::addRow("plain http to another host")
            << add(id, {QStringLiteral("http://127.0.0.1.evil.example/cb")})
            << QByteArray("use https");
    QTest::addRow("scheme without a reverse domain")
            << add(id, {QStringLiteral("myapp:/cb")}) << QByteArray("reverse domain");
    QTest::addRow("javascript") << add(id, {QStringLiteral("javascript:alert(1)")})
                                << QByteArray("private-use scheme");
    QTest::addRow("port out of range")
            << add(id, {QStringLiteral("http://[::1]:70000/cb")}) << QByteArray("invalid port");
    QTest::addRow("dot segment") << add(id, {QStringLiteral("http://127.0.0.1/a/../cb")})
                                 << QByteArray("dot segment");
    QTest::addRow("empty URI") << add(id, {QString()}) << QByteArray("is empty");
    QTest::addRow("a good URI, then a bad one")
            << add(id, {Loopback4, QStringLiteral("https://evil.example/cb#x")})
            << QByteArray("invalid --redirect-uri: 'https://evil.example/cb#x' has a fragment");
    QTest::addRow("the same URI twice")
            << add(id, {Loopback4, Loopback4}) << QByteArray("is given twice");
    QStringList many;
    for (int port = 1; port <= 17; ++port)
        many << QStringLiteral("http://127.0.0.1:%1/cb").arg(port);
    QTest::addRow("17 redirect URIs") << add(id, many) << QByteArray("at most 16 redirect URIs");
    QTest::addRow("no redirect URI") << add(id, {}) << QByteArray("at least one --redirect-uri");
    QTest::addRow("control characters, echoed escaped")
            << add(id, {QStringLiteral("http://127.0.0.1/\x1b]0;pwned\x07")})
            << QByteArray("'http://127.0.0.1/\\x1b]0;pwned\\x07' has a character");
    QTest::addRow("id with a space")
            << add(QStringLiteral("my app"), {Loopback4}) << QByteArray("only A-Z");
    QTest::addRow("id with HTML") << add(QStringLiteral("a<b>"), {Loopback4})
                                  << QByteArray("only A-Z");
    QTest::addRow("empty id") << add(QString(), {Loopback4}) << QByteArray("client id is empty");
    QTest::addRow("65-character id")
            << add(QString(65, u'a'), {Loopback4}) << QByteArray("longer than 64");
    QTest::addRow("id like an option")
            << add(QStringLiteral("x"), {Loopback4}) + QStringList{QStringLiteral("--frobnicate")}
            << QByteArray("Unknown option 'frobnicate'");
    QTest::addRow("redirect URI on list")
            << QStringList{QStringLiteral("list"), QStringLiteral("--redirect-uri"), Loopback4}
            << QByteArray("--redirect-uri is only for client add");
    QTest::addRow("remove without an id") << QStringList{QStringLiteral("remove")}
                                          << QByteArray("unknown command: client remove");
    QTest::addRow("unknown subcommand")
            << QStringList{QStringLiteral("rename"), QStringLiteral("a"), QStringLiteral("b")}
            << QByteArray("unknown command: client rename a b");
}

// Refused before the database is opened: exit status 2 (usage), one line on
// stderr, and whatever was registered is unchanged.
void tst_ServerClients::hostileInputRefused()
{
    QFETCH(QStringList, args);
    QFETCH(QByteArray, expected);
    QTemporaryDir dir;
    QString error;
    const QString database = newTestDatabase(dir.path(), &error);
    QVERIFY2(!database.isEmpty(), qPrintable(error));
    const Run setup = addClient(database, QStringLiteral("my-app"), {Loopback4});
    QVERIFY2(setup.exitCode == 0, setup.err.constData());
    // On SQLite, not a byte of the file changes.
    QFile file(database);
    QByteArray before;
    if (!testsUsePostgreSQL()) {
        QVERIFY(file.open(QIODevice::ReadOnly));
        before = file.readAll();
        file.close();
    }

    const Run run = client(database, args);
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.out.isEmpty(), run.out.constData());
    QCOMPARE(run.err.count('\n'), 1);
    QVERIFY2(run.err.startsWith("tessera-server: "), run.err.constData());
    QVERIFY2(run.err.contains(expected), run.err.constData());
    QVERIFY2(!run.err.contains('\x1b') && !run.err.contains('\x07'), "control bytes echoed");

    if (!testsUsePostgreSQL()) {
        QVERIFY(file.open(QIODevice::ReadOnly));
        QCOMPARE(file.readAll(), before);
        file.close();
    }
    QCOMPARE(listClients(database), QStringList({QStringLiteral("my-app ") + Loopback4}));
}

// The database rules of docs/SERVER.md "Database files" hold for the client
// commands as for `user add` and the server: refused, one line, not repaired.
void tst_ServerClients::unsafeDatabaseRefused()
{
    if (testsUsePostgreSQL())
        QSKIP("the rules for database files are SQLite's");
    QTemporaryDir parent;
    const QString dir = parent.filePath(QStringLiteral("data"));
    QVERIFY(QDir().mkdir(dir));
    QVERIFY(::chmod(QFile::encodeName(dir).constData(), 0700) == 0);
    const QString database = dir + QStringLiteral("/db.sqlite3");
    Run run = addClient(database, QStringLiteral("my-app"), {Loopback4});
    QVERIFY2(run.exitCode == 0, run.err.constData());

    QVERIFY(::chmod(QFile::encodeName(database).constData(), 0644) == 0);
    const QList<QStringList> commands{{QStringLiteral("add"), QStringLiteral("other-app"),
                                       QStringLiteral("--redirect-uri"), Loopback6},
                                      {QStringLiteral("list")},
                                      {QStringLiteral("remove"), QStringLiteral("my-app")}};
    for (const QStringList &command : commands) {
        run = client(database, command);
        QCOMPARE(run.exitCode, 1);
        QVERIFY2(run.out.isEmpty(), run.out.constData());
        QCOMPARE(run.err.count('\n'), 1);
        QVERIFY2(run.err.startsWith("tessera-server: ") && run.err.contains("mode 0644"),
                 run.err.constData());
    }
    QCOMPARE(fileMode(database), 0644);

    // A directory others can write to is refused as well.
    QVERIFY(::chmod(QFile::encodeName(database).constData(), 0600) == 0);
    QVERIFY(::chmod(QFile::encodeName(dir).constData(), 01777) == 0);
    run = client(database, {QStringLiteral("list")});
    QCOMPARE(run.exitCode, 1);
    QVERIFY2(run.err.contains("mode 1777"), run.err.constData());
    QVERIFY(::chmod(QFile::encodeName(dir).constData(), 0700) == 0);
    QCOMPARE(listClients(database), QStringList({QStringLiteral("my-app ") + Loopback4}));
}

// --demo registers tessera-demo with the two loopback redirects, and a second
// start neither duplicates nor fails on it.
void tst_ServerClients::demoRegistersItsClientOnce()
{
    ServerProcess server({QStringLiteral("--demo")});
    TESSERA_START(server);
    QVERIFY(server.serverStdout().contains("demo client: tessera-demo\n"));
    QVERIFY2(server.restart(), qPrintable(server.errorString()));
    QVERIFY2(server.stop(), qPrintable(server.errorString()));
    QCOMPARE(listClients(server.databasePath()),
             QStringList({QStringLiteral("tessera-demo %1 %2").arg(Loopback4, Loopback6)}));
    const auto rows = databaseSelect(server.databasePath(),
                                     QStringLiteral("SELECT count(*) FROM client_redirect_uris"));
    QVERIFY(rows && rows->size() == 1);
    QCOMPARE(rows->first().first().toInt(), 2);

    // An operator's change to the demo client is kept: --demo only adds it when missing.
    Run run = client(server.databasePath(),
                     {QStringLiteral("remove"), QStringLiteral("tessera-demo")});
    QVERIFY2(run.exitCode == 0, run.err.constData());
    run = addClient(server.databasePath(), QStringLiteral("tessera-demo"), {Loopback6});
    QVERIFY2(run.exitCode == 0, run.err.constData());
    TESSERA_START(server);
    QVERIFY2(server.stop(), qPrintable(server.errorString()));
    QCOMPARE(listClients(server.databasePath()),
             QStringList({QStringLiteral("tessera-demo ") + Loopback6}));
}

// Several commands opening one new database at the same moment (instances starting
// together): each creates or finds the schema, none fails on another's half-made tables.
void tst_ServerClients::commandsAtOnceOnANewDatabase()
{
    QTemporaryDir dir;
    QString error;
    const QString database = newTestDatabase(dir.path(), &error);
    QVERIFY2(!database.isEmpty(), qPrintable(error));
    constexpr int Commands = 4;
    std::vector<std::unique_ptr<QProcess>> processes;
    QStringList expected;
    for (int i = 0; i < Commands; ++i) {
        const QString id = QStringLiteral("app-%1").arg(i);
        expected << QStringLiteral("%1 %2").arg(id, Loopback4);
        auto process = std::make_unique<QProcess>();
        process->start(ServerProcess::binaryPath(),
                       {QStringLiteral("client"), QStringLiteral("add"), id,
                        QStringLiteral("--redirect-uri"), Loopback4, QStringLiteral("--db"),
                        database});
        processes.push_back(std::move(process));
    }
    for (const auto &process : processes) {
        QVERIFY(process->waitForFinished(30000));
        const QByteArray err = process->readAllStandardError();
        QVERIFY2(process->exitStatus() == QProcess::NormalExit && process->exitCode() == 0,
                 err.constData());
    }
    QCOMPARE(listClients(database), expected);
}

QTEST_GUILESS_MAIN(tst_ServerClients)
#include "tst_server_clients.moc"

// SPDX-License-Identifier: MIT
// --db values (databaseurl.h): SQLite paths, libpq URIs and the PG* variables
// that fill in what a URI leaves out; hostile URIs refused with a message that
// never quotes the password.
#include "databaseurl.h"

#include <QtTest/QTest>

using Tessera::Server::DatabaseLocation;
using Tessera::Server::parseDatabaseLocation;

class tst_ServerDatabaseUrl : public QObject
{
    Q_OBJECT
private slots:
    void sqlitePaths_data();
    void sqlitePaths();
    void postgresUris_data();
    void postgresUris();
    void environmentFillsIn();
    void uriWinsOverEnvironment();
    void hostileUris_data();
    void hostileUris();
    void displayNameHidesPassword();
};

void tst_ServerDatabaseUrl::sqlitePaths_data()
{
    QTest::addColumn<QString>("value");
    QTest::addRow("absolute") << QStringLiteral("/var/lib/tessera/db.sqlite3");
    QTest::addRow("relative") << QStringLiteral("db.sqlite3");
    QTest::addRow("colon, no //") << QStringLiteral("postgresql:db.sqlite3");
    QTest::addRow("URI-like after ./") << QStringLiteral("./postgresql://x/y");
}

void tst_ServerDatabaseUrl::sqlitePaths()
{
    QFETCH(QString, value);
    QString error;
    const auto location = parseDatabaseLocation(value, &error, {});
    QVERIFY2(location, qPrintable(error));
    QVERIFY(!location->isPostgreSQL());
    QCOMPARE(location->sqlitePath, value);
}

void tst_ServerDatabaseUrl::postgresUris_data()
{
    QTest::addColumn<QString>("uri");
    QTest::addColumn<QString>("host");
    QTest::addColumn<int>("port");
    QTest::addColumn<QString>("user");
    QTest::addColumn<QString>("password");
    QTest::addColumn<QString>("database");
    QTest::addColumn<QString>("options");

    QTest::addRow("full") << QStringLiteral("postgresql://tessera:s3cret@127.0.0.1:6543/auth")
                          << QStringLiteral("127.0.0.1") << 6543 << QStringLiteral("tessera")
                          << QStringLiteral("s3cret") << QStringLiteral("auth")
                          << QStringLiteral("connect_timeout=10");
    QTest::addRow("postgres:// alias, default port")
            << QStringLiteral("postgres://app@localhost/auth") << QStringLiteral("localhost")
            << 5432 << QStringLiteral("app") << QString() << QStringLiteral("auth")
            << QStringLiteral("connect_timeout=10");
    QTest::addRow("percent-encoded user, password and name")
            << QStringLiteral("postgresql://us%40er:p%40ss%3Aw%2Fo%3Frd@127.0.0.1/my%20db")
            << QStringLiteral("127.0.0.1") << 5432 << QStringLiteral("us@er")
            << QStringLiteral("p@ss:w/o?rd") << QStringLiteral("my db")
            << QStringLiteral("connect_timeout=10");
    QTest::addRow("password with a raw ':' and '@'")
            << QStringLiteral("postgresql://u:a:b@c@127.0.0.1/db") << QStringLiteral("127.0.0.1")
            << 5432 << QStringLiteral("u") << QStringLiteral("a:b@c") << QStringLiteral("db")
            << QStringLiteral("connect_timeout=10");
    QTest::addRow("IPv6") << QStringLiteral("postgresql://u@[::1]:5433/db") << QStringLiteral("::1")
                          << 5433 << QStringLiteral("u") << QString() << QStringLiteral("db")
                          << QStringLiteral("connect_timeout=10");
    QTest::addRow("socket directory, percent-encoded")
            << QStringLiteral("postgresql://%2Fvar%2Frun%2Fpostgresql/db")
            << QStringLiteral("/var/run/postgresql") << 5432 << QString() << QString()
            << QStringLiteral("db") << QStringLiteral("connect_timeout=10");
    QTest::addRow("socket directory as a parameter")
            << QStringLiteral("postgresql:///db?host=/tmp/pg&port=7000")
            << QStringLiteral("/tmp/pg") << 7000 << QString() << QString() << QStringLiteral("db")
            << QStringLiteral("connect_timeout=10");
    QTest::addRow("remote host: certificate verified by default")
            << QStringLiteral("postgresql://u@db.example.com/auth")
            << QStringLiteral("db.example.com") << 5432 << QStringLiteral("u") << QString()
            << QStringLiteral("auth") << QStringLiteral("sslmode=verify-full;connect_timeout=10");
    QTest::addRow("remote host, sslmode and timeout given")
            << QStringLiteral(
                       "postgresql://u@db.example.com/auth?sslmode=require&connect_timeout=3")
            << QStringLiteral("db.example.com") << 5432 << QStringLiteral("u") << QString()
            << QStringLiteral("auth") << QStringLiteral("sslmode=require;connect_timeout=3");
}

void tst_ServerDatabaseUrl::postgresUris()
{
    QFETCH(QString, uri);
    QString error;
    const auto location = parseDatabaseLocation(uri, &error, {});
    QVERIFY2(location, qPrintable(error));
    QVERIFY(location->isPostgreSQL());
    QTEST(location->host, "host");
    QTEST(location->port, "port");
    QTEST(location->user, "user");
    QTEST(location->password, "password");
    QTEST(location->databaseName, "database");
    QTEST(location->connectOptions, "options");
}

void tst_ServerDatabaseUrl::environmentFillsIn()
{
    QProcessEnvironment env;
    env.insert(QStringLiteral("PGHOST"), QStringLiteral("127.0.0.2"));
    env.insert(QStringLiteral("PGPORT"), QStringLiteral("6000"));
    env.insert(QStringLiteral("PGUSER"), QStringLiteral("envuser"));
    env.insert(QStringLiteral("PGPASSWORD"), QStringLiteral("envpass"));
    env.insert(QStringLiteral("PGDATABASE"), QStringLiteral("envdb"));
    env.insert(QStringLiteral("PGSSLMODE"), QStringLiteral("require"));
    QString error;
    const auto location = parseDatabaseLocation(QStringLiteral("postgresql://"), &error, env);
    QVERIFY2(location, qPrintable(error));
    QCOMPARE(location->host, QStringLiteral("127.0.0.2"));
    QCOMPARE(location->port, 6000);
    QCOMPARE(location->user, QStringLiteral("envuser"));
    QCOMPARE(location->password, QStringLiteral("envpass"));
    QCOMPARE(location->databaseName, QStringLiteral("envdb"));
    // PGSSLMODE is libpq's to read; the server adds no sslmode of its own.
    QCOMPARE(location->connectOptions, QStringLiteral("connect_timeout=10"));
}

void tst_ServerDatabaseUrl::uriWinsOverEnvironment()
{
    QProcessEnvironment env;
    env.insert(QStringLiteral("PGHOST"), QStringLiteral("db.example.com"));
    env.insert(QStringLiteral("PGPORT"), QStringLiteral("6000"));
    env.insert(QStringLiteral("PGUSER"), QStringLiteral("envuser"));
    env.insert(QStringLiteral("PGDATABASE"), QStringLiteral("envdb"));
    QString error;
    const auto location = parseDatabaseLocation(
            QStringLiteral("postgresql://me@127.0.0.1:7000/mine"), &error, env);
    QVERIFY2(location, qPrintable(error));
    QCOMPARE(location->host, QStringLiteral("127.0.0.1"));
    QCOMPARE(location->port, 7000);
    QCOMPARE(location->user, QStringLiteral("me"));
    QCOMPARE(location->databaseName, QStringLiteral("mine"));
}

void tst_ServerDatabaseUrl::hostileUris_data()
{
    QTest::addColumn<QString>("uri");
    QTest::addColumn<QString>("expected");
    QTest::addRow("unknown scheme") << QStringLiteral("mysql://u:hunter2@h/db")
                                    << QStringLiteral("unsupported URI scheme 'mysql'");
    QTest::addRow("sqlite scheme") << QStringLiteral("sqlite:///tmp/x")
                                   << QStringLiteral("unsupported URI scheme 'sqlite'");
    QTest::addRow("port not a number") << QStringLiteral("postgresql://u:hunter2@h:abc/db")
                                       << QStringLiteral("port must be a number");
    QTest::addRow("port 0") << QStringLiteral("postgresql://u:hunter2@h:0/db")
                            << QStringLiteral("port must be a number");
    QTest::addRow("port too large") << QStringLiteral("postgresql://u:hunter2@h:65536/db")
                                    << QStringLiteral("port must be a number");
    QTest::addRow("port with a sign") << QStringLiteral("postgresql://u:hunter2@h:+80/db")
                                      << QStringLiteral("port must be a number");
    QTest::addRow("password with a raw '/'") << QStringLiteral("postgresql://u:hun/ter2@h/db")
                                             << QStringLiteral("port must be a number");
    QTest::addRow("bad port as a parameter")
            << QStringLiteral("postgresql://u:hunter2@h/db?port=99999")
            << QStringLiteral("port must be a number");
    QTest::addRow("truncated percent-encoding")
            << QStringLiteral("postgresql://u:hunter2%4@h/db")
            << QStringLiteral("bad percent-encoding in the password");
    QTest::addRow("non-hex percent-encoding")
            << QStringLiteral("postgresql://u%zz:hunter2@h/db")
            << QStringLiteral("bad percent-encoding in the user name");
    QTest::addRow("encoded NUL") << QStringLiteral("postgresql://u:hunter2@h/d%00b")
                                 << QStringLiteral("bad percent-encoding in the database name");
    QTest::addRow("not UTF-8") << QStringLiteral("postgresql://u:hunter2@h/d%FFb")
                               << QStringLiteral("bad percent-encoding in the database name");
    QTest::addRow("missing database name") << QStringLiteral("postgresql://u:hunter2@h:5432")
                                           << QStringLiteral("names no database");
    QTest::addRow("empty database name") << QStringLiteral("postgresql://u:hunter2@h:5432/")
                                         << QStringLiteral("names no database");
    QTest::addRow("several hosts")
            << QStringLiteral("postgresql://u:hunter2@h1,h2/db") << QStringLiteral("several hosts");
    QTest::addRow("unclosed bracket")
            << QStringLiteral("postgresql://u:hunter2@[::1/db") << QStringLiteral("unclosed '['");
    QTest::addRow("brackets without IPv6")
            << QStringLiteral("postgresql://u:hunter2@[h]/db") << QStringLiteral("IPv6");
    QTest::addRow("fragment") << QStringLiteral("postgresql://u:hunter2@h/db#x")
                              << QStringLiteral("no fragment");
    QTest::addRow("unknown parameter, password piece")
            << QStringLiteral("postgresql://u:hun?ter2=x@h/db")
            << QStringLiteral("unknown URI parameter");
    QTest::addRow("parameter without value")
            << QStringLiteral("postgresql://u:hunter2@h/db?sslmode")
            << QStringLiteral("not key=value");
    QTest::addRow("bad sslmode") << QStringLiteral("postgresql://u:hunter2@h/db?sslmode=off")
                                 << QStringLiteral("sslmode must be one of");
    QTest::addRow("option injection")
            << QStringLiteral("postgresql://u:hunter2@h/db?application_name=a%20sslmode=disable")
            << QStringLiteral("must be one word");
    QTest::addRow("option with a quote")
            << QStringLiteral("postgresql://u:hunter2@h/db?sslrootcert=a'b")
            << QStringLiteral("must be one word");
}

void tst_ServerDatabaseUrl::hostileUris()
{
    QFETCH(QString, uri);
    QFETCH(QString, expected);
    QString error;
    QVERIFY(!parseDatabaseLocation(uri, &error, {}));
    QVERIFY2(error.startsWith(QLatin1String("--db: ")), qPrintable(error));
    QVERIFY2(error.contains(expected), qPrintable(error));
    // Neither the password nor a piece of it is quoted back.
    for (const char *piece : {"hunter2", "hun", "ter2"})
        QVERIFY2(!error.contains(QLatin1String(piece)), qPrintable(error));
}

void tst_ServerDatabaseUrl::displayNameHidesPassword()
{
    QString error;
    const auto location = parseDatabaseLocation(
            QStringLiteral("postgresql://tessera:hunter2@[::1]:6543/auth"), &error, {});
    QVERIFY2(location, qPrintable(error));
    QCOMPARE(location->displayName(), QStringLiteral("postgresql://tessera@[::1]:6543/auth"));
}

QTEST_GUILESS_MAIN(tst_ServerDatabaseUrl)
#include "tst_server_databaseurl.moc"

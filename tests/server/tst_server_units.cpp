// SPDX-License-Identifier: MIT
#include "config.h"
#include "passwordhasher.h"
#include "ratelimiter.h"
#include "sealedbox.h"
#include "store.h"

#include <tessera/jose.h>

#include <QtCore/QTemporaryDir>
#include <QtTest/QTest>

using namespace Tessera::Server;

class tst_ServerUnits : public QObject
{
    Q_OBJECT
private slots:
    void sealedBoxRoundTrip();
    void sealedBoxRejectsOtherTokenOrRow();
    void rateLimiterWindow();
    void rateLimiterDisabled();
    void passwordHasher();
    void commandLine_data();
    void commandLine();
    void storeRotateIsConditional();
    void helpDocumentsEveryFlag();
};

void tst_ServerUnits::helpDocumentsEveryFlag()
{
    const QString help = helpText();
    for (const char *flag :
         {"--listen", "--db", "--access-ttl", "--refresh-idle-ttl", "--session-max-ttl",
          "--reuse-grace", "--alg", "--issuer", "--audience", "--tls-cert", "--tls-key", "--demo",
          "--max-body-bytes", "--login-limit", "--login-window", "--argon2-memory",
          "--argon2-iterations", "--db-sync", "user add"}) {
        QVERIFY2(help.contains(QLatin1String(flag)), flag);
    }
    for (const QString &line : help.split(u'\n'))
        QVERIFY2(line.size() <= 100, qPrintable(line));
}

void tst_ServerUnits::sealedBoxRoundTrip()
{
    const QByteArray token = Tessera::Jose::base64UrlEncode(Tessera::Jose::randomBytes(32));
    const QByteArray sealed = sealForToken(token, "successor", "row");
    QVERIFY(!sealed.isEmpty());
    QVERIFY(!sealed.contains("successor"));
    const auto opened = openWithToken(token, sealed, "row");
    QVERIFY(opened);
    QCOMPARE(*opened, QByteArray("successor"));
}

void tst_ServerUnits::sealedBoxRejectsOtherTokenOrRow()
{
    const QByteArray token = "token-a-token-a-token-a-token-a-token-a-tok";
    const QByteArray sealed = sealForToken(token, "successor", "row");
    QVERIFY(!openWithToken("token-b-token-b-token-b-token-b-token-b-tok", sealed, "row"));
    QVERIFY(!openWithToken(token, sealed, "other-row"));
    QByteArray tampered = sealed;
    tampered[tampered.size() / 2] = char(tampered[tampered.size() / 2] ^ 1);
    QVERIFY(!openWithToken(token, tampered, "row"));
    QVERIFY(!openWithToken(token, sealed.left(10), "row"));
}

void tst_ServerUnits::rateLimiterWindow()
{
    RateLimiter limiter(3, 10'000);
    QCOMPARE(limiter.attempt(QStringLiteral("alice"), 1'000), 0);
    QCOMPARE(limiter.attempt(QStringLiteral("alice"), 2'000), 0);
    QCOMPARE(limiter.attempt(QStringLiteral("alice"), 3'000), 0);
    // 4th inside the window: wait until the first attempt (t=1 s) leaves it (t=11 s).
    QCOMPARE(limiter.attempt(QStringLiteral("alice"), 4'000), 7);
    QCOMPARE(limiter.attempt(QStringLiteral("bob"), 4'000), 0);
    QCOMPARE(limiter.attempt(QStringLiteral("alice"), 10'999), 1);
    QCOMPARE(limiter.attempt(QStringLiteral("alice"), 11'001), 0);
}

void tst_ServerUnits::rateLimiterDisabled()
{
    RateLimiter limiter(0, 10'000);
    for (int i = 0; i < 100; ++i)
        QCOMPARE(limiter.attempt(QStringLiteral("alice"), 1'000), 0);
}

void tst_ServerUnits::passwordHasher()
{
    const PasswordHasher hasher(8, 1);
    const QByteArray hash = hasher.hash("correct horse");
    QVERIFY(hash.startsWith("$argon2id$"));
    QVERIFY(!hash.contains("correct horse"));
    QVERIFY(hasher.verify(hash, "correct horse"));
    QVERIFY(!hasher.verify(hash, "wrong horse"));
    QVERIFY(!hasher.verify(QByteArray(), "correct horse"));
    QVERIFY(hasher.decoyHash().startsWith("$argon2id$v=19$m=8,t=1,p=1$"));
    QVERIFY(hasher.hash("correct horse") != hash); // salted
}

void tst_ServerUnits::commandLine_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<QString>("address");
    QTest::addColumn<int>("port");

    QTest::addRow("defaults") << QStringList{} << true << "127.0.0.1" << 8000;
    QTest::addRow("port 0") << QStringList{"--listen", "127.0.0.1:0"} << true << "127.0.0.1" << 0;
    QTest::addRow("ipv6") << QStringList{"--listen", "[::1]:9000"} << true << "::1" << 9000;
    QTest::addRow("localhost") << QStringList{"--listen", "localhost:1"} << true << "127.0.0.1"
                               << 1;
    QTest::addRow("no port") << QStringList{"--listen", "127.0.0.1"} << false << "" << 0;
    QTest::addRow("port too big") << QStringList{"--listen", "127.0.0.1:70000"} << false << "" << 0;
    QTest::addRow("bad alg") << QStringList{"--alg", "none"} << false << "" << 0;
    QTest::addRow("RS256 refused") << QStringList{"--alg", "RS256"} << false << "" << 0;
    QTest::addRow("negative ttl") << QStringList{"--access-ttl", "-1"} << false << "" << 0;
    QTest::addRow("zero grace ok")
            << QStringList{"--reuse-grace", "0"} << true << "127.0.0.1" << 8000;
    QTest::addRow("zero ttl refused") << QStringList{"--access-ttl", "0"} << false << "" << 0;
    QTest::addRow("cert without key") << QStringList{"--tls-cert", "a.pem"} << false << "" << 0;
    QTest::addRow("demo on public address")
            << QStringList{"--demo", "--listen", "0.0.0.0:8000"} << false << "" << 0;
    QTest::addRow("unknown option") << QStringList{"--frobnicate"} << false << "" << 0;
    QTest::addRow("bad db-sync") << QStringList{"--db-sync", "off"} << false << "" << 0;
}

void tst_ServerUnits::commandLine()
{
    QFETCH(QStringList, arguments);
    QFETCH(bool, valid);
    arguments.prepend(QStringLiteral("tessera-server"));
    const ParsedCommandLine parsed = parseCommandLine(arguments);
    QCOMPARE(parsed.error.isEmpty(), valid);
    if (!valid)
        return;
    QFETCH(QString, address);
    QFETCH(int, port);
    QCOMPARE(parsed.config.listenAddress, QHostAddress(address));
    QCOMPARE(int(parsed.config.listenPort), port);
}

void tst_ServerUnits::storeRotateIsConditional()
{
    QTemporaryDir dir;
    QString error;
    auto store = Store::open(dir.filePath(QStringLiteral("db.sqlite3")), false, &error);
    QVERIFY2(store, qPrintable(error));
    QCOMPARE(store->addUser(QStringLiteral("alice"), "hash"), Store::AddUserResult::Added);
    QCOMPARE(store->addUser(QStringLiteral("alice"), "hash"), Store::AddUserResult::Exists);
    const auto user = store->findUser(QStringLiteral("alice"));
    QVERIFY(user);
    QVERIFY(store->createFamily(QStringLiteral("fam"), user->id, 0, 100'000, "h0", 50'000));
    QVERIFY(store->rotate("h0", "sealed", 10, QStringLiteral("fam"), "h1", 60'000));
    // The parent is no longer current: a second rotation of it changes nothing.
    QVERIFY(!store->rotate("h0", "sealed", 20, QStringLiteral("fam"), "h2", 60'000));
    QVERIFY(!store->findRefreshToken("h2"));
    const auto current = store->findSuccessor("h0");
    QVERIFY(current);
    QCOMPARE(current->tokenHash, QByteArray("h1"));
    QVERIFY(!current->rotatedAt);
    QCOMPARE(store->familyStatus(QStringLiteral("fam")), Store::FamilyStatus::Active);
    QVERIFY(store->revokeFamily(QStringLiteral("fam"), 30, QStringLiteral("test")));
    QCOMPARE(store->familyStatus(QStringLiteral("fam")), Store::FamilyStatus::Revoked);
    QCOMPARE(store->familyStatus(QStringLiteral("nope")), Store::FamilyStatus::Missing);
    // Expired families (and their tokens) are purged.
    QCOMPARE(store->purgeExpired(200'000, 0), 1);
    QVERIFY(!store->findRefreshToken("h1"));
}

QTEST_GUILESS_MAIN(tst_ServerUnits)
#include "tst_server_units.moc"

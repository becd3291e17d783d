// SPDX-License-Identifier: MIT
#include "boundedcache.h"
#include "config.h"
#include "passwordhasher.h"
#include "ratelimiter.h"
#include "sealedbox.h"
#include "store.h"
#include "tokenservice.h"

#include <tessera/jose.h>

#include <QtCore/QDateTime>
#include <QtCore/QJsonDocument>
#include <QtCore/QTemporaryDir>
#include <QtTest/QTest>

using namespace Tessera::Server;

namespace {

// A TokenService on a fresh database with one user, its signing key loaded.
struct TokenFixture
{
    explicit TokenFixture(ServerConfig settings = {})
        : config(std::move(settings))
    {
        QString error;
        store = Store::open(dir.filePath(QStringLiteral("db.sqlite3")), false, &error);
        if (!store)
            return;
        store->addUser(QStringLiteral("alice"), "hash");
        user = store->findUser(QStringLiteral("alice")).value_or(Store::User{});
        tokens = std::make_unique<TokenService>(config, *store);
        if (!tokens->loadOrCreateSigningKey(&error))
            tokens.reset();
    }
    bool ok() const { return tokens && user.id != 0; }
    TokenPair login()
    {
        const auto result = tokens->startFamily(user);
        return result.outcome == TokenService::Outcome::Ok ? result.tokens : TokenPair{};
    }

    QTemporaryDir dir;
    ServerConfig config;
    std::unique_ptr<Store> store;
    Store::User user;
    std::unique_ptr<TokenService> tokens;
};

// `token` with one character in the middle of its signature replaced.
QByteArray withSignatureByteChanged(QByteArray token)
{
    const qsizetype at = token.lastIndexOf('.') + 20;
    token[at] = token.at(at) == 'A' ? 'B' : 'A';
    return token;
}

} // namespace

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
    void commandLineHttpLimits();
    void storeRotateIsConditional();
    void helpDocumentsEveryFlag();
    void boundedCacheEvictsOldest();
    void boundedCacheForgetsRemovedEntries();
    void accessCheckCachesVerifiedToken();
    void accessCacheRefusesTamperedSignature();
    void accessCacheRefusesRevokedFamily();
    void accessCacheRefusesReusedFamily();
    void accessCacheRefusesExpiredToken();
    void accessCacheStaysBounded();
    void accessCacheIsPerKeySet();
};

void tst_ServerUnits::helpDocumentsEveryFlag()
{
    const QString help = helpText();
    for (const char *flag : {"--listen",
                             "--db",
                             "--access-ttl",
                             "--refresh-idle-ttl",
                             "--session-max-ttl",
                             "--reuse-grace",
                             "--alg",
                             "--issuer",
                             "--audience",
                             "--tls-cert",
                             "--tls-key",
                             "--demo",
                             "--max-body-bytes",
                             "--login-limit",
                             "--login-window",
                             "--argon2-memory",
                             "--argon2-iterations",
                             "--db-sync",
                             "--header-timeout",
                             "--body-timeout",
                             "--idle-timeout",
                             "--max-header-bytes",
                             "--max-header-fields",
                             "--max-connections",
                             "--max-connections-per-address",
                             "user add"}) {
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
            << QStringList{"--demo", "--insecure-http", "--listen", "0.0.0.0:8000"} << false << ""
            << 0;
    QTest::addRow("plain HTTP on a public address")
            << QStringList{"--listen", "0.0.0.0:8000"} << false << "" << 0;
    QTest::addRow("plain HTTP on an IPv6 public address")
            << QStringList{"--listen", "[2001:db8::1]:8000"} << false << "" << 0;
    QTest::addRow("plain HTTP behind a TLS proxy")
            << QStringList{"--listen", "0.0.0.0:8000", "--insecure-http"} << true << "0.0.0.0"
            << 8000;
    QTest::addRow("HTTPS on a public address")
            << QStringList{"--listen", "0.0.0.0:8443", "--tls-cert", "a.pem", "--tls-key", "b.pem"}
            << true << "0.0.0.0" << 8443;
    QTest::addRow("plain HTTP on another loopback address")
            << QStringList{"--listen", "127.0.0.2:8000"} << true << "127.0.0.2" << 8000;
    QTest::addRow("unknown option") << QStringList{"--frobnicate"} << false << "" << 0;
    QTest::addRow("bad db-sync") << QStringList{"--db-sync", "off"} << false << "" << 0;
    QTest::addRow("HTTP limits") << QStringList{"--header-timeout",
                                                "2",
                                                "--body-timeout",
                                                "3",
                                                "--idle-timeout",
                                                "4",
                                                "--max-header-bytes",
                                                "4096",
                                                "--max-header-fields",
                                                "20",
                                                "--max-connections",
                                                "10",
                                                "--max-connections-per-address",
                                                "0"}
                                 << true << "127.0.0.1" << 8000;
    QTest::addRow("zero header timeout")
            << QStringList{"--header-timeout", "0"} << false << "" << 0;
    QTest::addRow("zero idle timeout") << QStringList{"--idle-timeout", "0"} << false << "" << 0;
    QTest::addRow("tiny header cap")
            << QStringList{"--max-header-bytes", "100"} << false << "" << 0;
    QTest::addRow("zero connections") << QStringList{"--max-connections", "0"} << false << "" << 0;
    QTest::addRow("negative per-address cap")
            << QStringList{"--max-connections-per-address", "-1"} << false << "" << 0;
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

void tst_ServerUnits::commandLineHttpLimits()
{
    const ServerConfig defaults;
    QCOMPARE(defaults.headerTimeout, 10);
    QCOMPARE(defaults.bodyTimeout, 10);
    QCOMPARE(defaults.idleTimeout, 10);
    QCOMPARE(defaults.maxHeaderBytes, 16 * 1024);
    QCOMPARE(defaults.maxHeaderFields, 100);
    QCOMPARE(defaults.maxConnections, 1024);
    QCOMPARE(defaults.maxConnectionsPerAddress, 64);
    const ParsedCommandLine parsed = parseCommandLine(
            {QStringLiteral("tessera-server"), QStringLiteral("--header-timeout"),
             QStringLiteral("2"), QStringLiteral("--body-timeout"), QStringLiteral("3"),
             QStringLiteral("--idle-timeout"), QStringLiteral("4"),
             QStringLiteral("--max-header-bytes"), QStringLiteral("4096"),
             QStringLiteral("--max-header-fields"), QStringLiteral("20"),
             QStringLiteral("--max-connections"), QStringLiteral("10"),
             QStringLiteral("--max-connections-per-address"), QStringLiteral("0")});
    QVERIFY2(parsed.error.isEmpty(), qPrintable(parsed.error));
    QCOMPARE(parsed.config.headerTimeout, 2);
    QCOMPARE(parsed.config.bodyTimeout, 3);
    QCOMPARE(parsed.config.idleTimeout, 4);
    QCOMPARE(parsed.config.maxHeaderBytes, 4096);
    QCOMPARE(parsed.config.maxHeaderFields, 20);
    QCOMPARE(parsed.config.maxConnections, 10);
    QCOMPARE(parsed.config.maxConnectionsPerAddress, 0);
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

void tst_ServerUnits::boundedCacheEvictsOldest()
{
    BoundedCache<int, QString> cache(3);
    for (int i = 1; i <= 3; ++i)
        cache.insert(i, QString::number(i));
    cache.insert(2, QStringLiteral("two")); // an update does not count as newer
    cache.insert(4, QStringLiteral("4"));
    QCOMPARE(cache.size(), 3);
    QVERIFY(!cache.find(1));
    QCOMPARE(*cache.find(2), QStringLiteral("two"));
    cache.insert(5, QStringLiteral("5"));
    QVERIFY(!cache.find(2));
    QVERIFY(cache.find(3) && cache.find(4) && cache.find(5));
    cache.setCapacity(1);
    QCOMPARE(cache.size(), 1);
    QVERIFY(cache.find(5));
}

void tst_ServerUnits::boundedCacheForgetsRemovedEntries()
{
    BoundedCache<int, int> cache(2);
    cache.insert(1, 1);
    cache.insert(2, 2);
    cache.remove(1);
    cache.insert(1, 10); // now the newest: 2 goes first
    cache.insert(3, 3);
    QVERIFY(!cache.find(2));
    QCOMPARE(*cache.find(1), 10);
    cache.removeIf([](int value) { return value == 3; });
    QCOMPARE(cache.size(), 1);
    // Many removals must not leave the cache growing underneath.
    for (int i = 0; i < 100'000; ++i) {
        cache.insert(100 + i, i);
        cache.remove(100 + i);
    }
    QCOMPARE(cache.size(), 1);
    QCOMPARE(*cache.find(1), 10);
}

void tst_ServerUnits::accessCheckCachesVerifiedToken()
{
    TokenFixture fixture;
    QVERIFY(fixture.ok());
    const TokenPair pair = fixture.login();
    QVERIFY(!pair.access.isEmpty());
    QCOMPARE(fixture.tokens->verifiedAccessCount(), 0);
    for (int i = 0; i < 3; ++i) {
        const auto check = fixture.tokens->checkAccess(pair.access);
        QCOMPARE(check.outcome, TokenService::Outcome::Ok);
        const QJsonObject subject = QJsonDocument::fromJson(check.subjectJson).object();
        QCOMPARE(subject.value(QStringLiteral("username")).toString(), QStringLiteral("alice"));
        QCOMPARE(subject.value(QStringLiteral("id")).toInteger(), fixture.user.id);
        const auto payload = Tessera::Jose::base64UrlDecode(pair.access.split('.').value(1));
        QVERIFY(payload);
        QCOMPARE(subject.value(QStringLiteral("sid")),
                 QJsonDocument::fromJson(*payload).object().value(QStringLiteral("sid")));
        QCOMPARE(subject.size(), 3);
        QCOMPARE(fixture.tokens->verifiedAccessCount(), 1);
        QCOMPARE(fixture.tokens->activeFamilyCount(), 1);
    }
    // Refused tokens are never cached.
    QCOMPARE(fixture.tokens->checkAccess("garbage").outcome, TokenService::Outcome::Invalid);
    QCOMPARE(fixture.tokens->verifiedAccessCount(), 1);
}

void tst_ServerUnits::accessCacheRefusesTamperedSignature()
{
    TokenFixture fixture;
    QVERIFY(fixture.ok());
    const TokenPair pair = fixture.login();
    QCOMPARE(fixture.tokens->checkAccess(pair.access).outcome, TokenService::Outcome::Ok);
    const QByteArray tampered = withSignatureByteChanged(pair.access);
    QVERIFY(tampered != pair.access);
    const auto check = fixture.tokens->checkAccess(tampered);
    QCOMPARE(check.outcome, TokenService::Outcome::Invalid);
    QVERIFY(check.subjectJson.isEmpty());
    QCOMPARE(check.reason, Tessera::Jose::errorString(Tessera::Jose::Error::BadSignature));
    // Trailing whitespace or a prefix is not the same token either.
    QCOMPARE(fixture.tokens->checkAccess(pair.access + ' ').outcome,
             TokenService::Outcome::Invalid);
    QCOMPARE(fixture.tokens->checkAccess(pair.access.chopped(1)).outcome,
             TokenService::Outcome::Invalid);
    QCOMPARE(fixture.tokens->checkAccess(pair.access).outcome, TokenService::Outcome::Ok);
    QCOMPARE(fixture.tokens->verifiedAccessCount(), 1);
}

void tst_ServerUnits::accessCacheRefusesRevokedFamily()
{
    TokenFixture fixture;
    QVERIFY(fixture.ok());
    const TokenPair pair = fixture.login();
    const TokenPair other = fixture.login();
    QCOMPARE(fixture.tokens->checkAccess(pair.access).outcome, TokenService::Outcome::Ok);
    QCOMPARE(fixture.tokens->checkAccess(other.access).outcome, TokenService::Outcome::Ok);
    QCOMPARE(fixture.tokens->revoke(pair.refresh), TokenService::Outcome::Ok);
    const auto check = fixture.tokens->checkAccess(pair.access);
    QCOMPARE(check.outcome, TokenService::Outcome::Invalid);
    QCOMPARE(check.reason, QStringLiteral("session revoked"));
    QCOMPARE(fixture.tokens->checkAccess(other.access).outcome, TokenService::Outcome::Ok);
}

void tst_ServerUnits::accessCacheRefusesReusedFamily()
{
    ServerConfig config;
    config.reuseGrace = 0;
    TokenFixture fixture(config);
    QVERIFY(fixture.ok());
    const TokenPair first = fixture.login();
    const auto rotated = fixture.tokens->refresh(first.refresh);
    QCOMPARE(rotated.outcome, TokenService::Outcome::Ok);
    QCOMPARE(fixture.tokens->checkAccess(rotated.tokens.access).outcome, TokenService::Outcome::Ok);
    QCOMPARE(fixture.tokens->refresh(first.refresh).outcome, TokenService::Outcome::Reused);
    QCOMPARE(fixture.tokens->checkAccess(rotated.tokens.access).outcome,
             TokenService::Outcome::Invalid);
    QCOMPARE(fixture.tokens->checkAccess(first.access).outcome, TokenService::Outcome::Invalid);
}

void tst_ServerUnits::accessCacheRefusesExpiredToken()
{
    ServerConfig config;
    config.accessTtl = 1;
    TokenFixture fixture(config);
    QVERIFY(fixture.ok());
    const TokenPair pair = fixture.login();
    const qint64 expiresAt = QDateTime::currentSecsSinceEpoch() + 1; // at the latest
    QCOMPARE(fixture.tokens->checkAccess(pair.access).outcome, TokenService::Outcome::Ok);
    QCOMPARE(fixture.tokens->verifiedAccessCount(), 1);
    while (QDateTime::currentSecsSinceEpoch() < expiresAt)
        QTest::qWait(20);
    const auto check = fixture.tokens->checkAccess(pair.access);
    QCOMPARE(check.outcome, TokenService::Outcome::Invalid);
    QCOMPARE(check.reason, Tessera::Jose::errorString(Tessera::Jose::Error::Expired));
    QCOMPARE(fixture.tokens->verifiedAccessCount(), 0);
}

void tst_ServerUnits::accessCacheStaysBounded()
{
    TokenFixture fixture;
    QVERIFY(fixture.ok());
    fixture.tokens->setAccessCacheCapacity(3);
    QList<QByteArray> access;
    for (int i = 0; i < 5; ++i) {
        access.append(fixture.login().access);
        QCOMPARE(fixture.tokens->checkAccess(access.last()).outcome, TokenService::Outcome::Ok);
        QVERIFY(fixture.tokens->verifiedAccessCount() <= 3);
        QVERIFY(fixture.tokens->activeFamilyCount() <= 3);
    }
    QCOMPARE(fixture.tokens->verifiedAccessCount(), 3);
    // An evicted token is simply verified again.
    QCOMPARE(fixture.tokens->checkAccess(access.first()).outcome, TokenService::Outcome::Ok);
    QCOMPARE(fixture.tokens->verifiedAccessCount(), 3);
    QCOMPARE(TokenService::DefaultAccessCacheCapacity, 8192);
}

void tst_ServerUnits::accessCacheIsPerKeySet()
{
    TokenFixture fixture;
    QVERIFY(fixture.ok());
    const TokenPair pair = fixture.login();
    QCOMPARE(fixture.tokens->checkAccess(pair.access).outcome, TokenService::Outcome::Ok);
    QCOMPARE(fixture.tokens->verifiedAccessCount(), 1);
    QString error;
    QVERIFY2(fixture.tokens->loadOrCreateSigningKey(&error), qPrintable(error));
    QCOMPARE(fixture.tokens->verifiedAccessCount(), 0);
}

QTEST_GUILESS_MAIN(tst_ServerUnits)
#include "tst_server_units.moc"

// SPDX-License-Identifier: MIT
#include "boundedcache.h"
#include "clientaddress.h"
#include "config.h"
#include "databasefiles.h"
#include "jsonresponses.h"
#include "keyderivation.h"
#include "loginlimiter.h"
#include "passwordhasher.h"
#include "requestbody.h"
#include "sealedbox.h"
#include "signingworkers.h"
#include "store.h"
#include "tokenservice.h"

#include "strictjsoncases.h"

#include <tessera/jose.h>

#include <QtCore/QCoreApplication>
#include <QtCore/QDateTime>
#include <QtCore/QFile>
#include <QtCore/QJsonDocument>
#include <QtCore/QTemporaryDir>
#include <QtCore/QThread>
#include <QtSql/QSqlDatabase>
#include <QtSql/QSqlQuery>
#include <QtTest/QTest>

#include <map>

#include <sys/stat.h>

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
    void hkdfSha256KnownAnswers();
    void signingWorkersSignEachAnswerOnce();
    void tokenPairBody_data();
    void tokenPairBody();
    void sealedBoxRoundTrip();
    void sealedBoxRejectsOtherTokenOrRow();
    void loginLimiterCountsFailuresOnly();
    void loginLimiterPairLimit();
    void loginLimiterAddressLimit();
    void loginLimiterUserCeilingBacksOff();
    void loginLimiterDisabled();
    void clientAddress_data();
    void clientAddress();
    void limiterKeyGroupsIpv6By64();
    void passwordHasher();
    void decoyHashCostsLikeItsParameters();
    void storeReplacePasswordHashIsConditional();
    void storeUpgradesSchemaVersion1();
    void storeCountsGraceAnswers();
    void unsafeDatabaseFiles();
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
    void requestBodyIsStrictJson_data();
    void requestBodyIsStrictJson();
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
                             "user add",
                             "client add",
                             "--redirect-uri",
                             "client list",
                             "client remove",
                             "--login-address-limit",
                             "--login-user-ceiling",
                             "--trusted-proxy",
                             "--login-queue",
                             "--argon2-rehash",
                             "--reuse-grace-answers",
                             "--device-interval",
                             "--header-timeout",
                             "--body-timeout",
                             "--idle-timeout",
                             "--max-header-bytes",
                             "--max-header-fields",
                             "--max-connections",
                             "--max-connections-per-address"}) {
        QVERIFY2(help.contains(QLatin1String(flag)), flag);
    }
    for (const QString &line : help.split(u'\n'))
        QVERIFY2(line.size() <= 100, qPrintable(line));
}

// RFC 5869 appendix A, test cases 1 and 3 (SHA-256), twice each and interleaved: the per-thread
// context the derivations copy must carry nothing from one to the next.
void tst_ServerUnits::hkdfSha256KnownAnswers()
{
    const QByteArray ikm(22, '\x0b');
    const QByteArray salt = QByteArray::fromHex("000102030405060708090a0b0c");
    const QByteArray info = QByteArray::fromHex("f0f1f2f3f4f5f6f7f8f9");
    const QByteArray okm1 =
            QByteArray::fromHex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db0"
                                "2d56ecc4c5bf34007208d5b887185865");
    const QByteArray okm3 = QByteArray::fromHex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3"
                                                "454e5f3c738d2d9d201395faa4b61a96c8");
    for (int round = 0; round < 2; ++round) {
        QCOMPARE(hkdfSha256(ikm, salt, info, 42), okm1);
        QCOMPARE(hkdfSha256(ikm, {}, {}, 42), okm3);
    }
}

void tst_ServerUnits::tokenPairBody_data()
{
    QTest::addColumn<QByteArray>("access");
    QTest::addColumn<QByteArray>("refresh");
    QTest::addColumn<bool>("dpopBound");
    const QByteArray jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLV8";
    const QByteArray refresh = "q-2_Zx0abcdefghijklmnopqrstuvwxyzABCDEFGHIJ";
    QTest::newRow("bearer") << jwt << refresh << false;
    QTest::newRow("dpop") << jwt << refresh << true;
    // Not token text (no server token looks like this): written by QJsonDocument, escaped.
    QTest::newRow("quote and backslash") << QByteArray("a\"b\\c") << refresh << false;
}

// The answer of every refresh, written directly for token text: the same bytes QJsonDocument
// writes for the same object.
void tst_ServerUnits::tokenPairBody()
{
    QFETCH(QByteArray, access);
    QFETCH(QByteArray, refresh);
    QFETCH(bool, dpopBound);
    QJsonObject expected{{QStringLiteral("access"), QString::fromLatin1(access)},
                         {QStringLiteral("refresh"), QString::fromLatin1(refresh)}};
    if (dpopBound)
        expected.insert(QStringLiteral("token_type"), QStringLiteral("DPoP"));
    const QHttpServerResponse response = tokenPairResponse({access, refresh}, dpopBound);
    QCOMPARE(response.data(), QJsonDocument(expected).toJson(QJsonDocument::Compact));
    QCOMPARE(QJsonDocument::fromJson(response.data()).object(), expected);
    QCOMPARE(response.headers("Cache-Control"), QList<QByteArray>{"no-store"});
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

namespace {
LoginLimiter::Verdict admit(LoginLimiter &limiter, const QString &user, const QString &address,
                            qint64 nowMs, LoginLimiter::Ticket *ticket = nullptr)
{
    LoginLimiter::Ticket unused;
    return limiter.admit(user, address, nowMs, ticket ? ticket : &unused);
}
const QString A = QStringLiteral("192.0.2.1");
const QString B = QStringLiteral("192.0.2.2");
} // namespace

// Successes never count, and a success clears its pair.
void tst_ServerUnits::loginLimiterCountsFailuresOnly()
{
    LoginLimiter limiter({3, 5, 100, 10'000});
    for (int i = 0; i < 20; ++i) {
        LoginLimiter::Ticket ticket;
        QCOMPARE(admit(limiter, QStringLiteral("alice"), A, 1'000 + i, &ticket).retryAfterSeconds,
                 0);
        limiter.succeeded(ticket);
    }
    // Two failures, a success, then three more failures are allowed again.
    for (int i = 0; i < 2; ++i)
        QCOMPARE(admit(limiter, QStringLiteral("alice"), A, 2'000).retryAfterSeconds, 0);
    LoginLimiter::Ticket ticket;
    QCOMPARE(admit(limiter, QStringLiteral("alice"), A, 2'100, &ticket).retryAfterSeconds, 0);
    limiter.succeeded(ticket);
    for (int i = 0; i < 3; ++i)
        QCOMPARE(admit(limiter, QStringLiteral("alice"), A, 2'200).retryAfterSeconds, 0);
    QCOMPARE(admit(limiter, QStringLiteral("alice"), A, 2'300).reason, LoginLimiter::Reason::Pair);
    // A withdrawn attempt (the password was never checked) does not count.
    LoginLimiter fresh({1, 5, 100, 10'000});
    QCOMPARE(admit(fresh, QStringLiteral("bob"), A, 1'000, &ticket).retryAfterSeconds, 0);
    fresh.withdrawn(ticket);
    QCOMPARE(admit(fresh, QStringLiteral("bob"), A, 1'001).retryAfterSeconds, 0);
}

// Failures of one (username, address) pair hold back that pair only.
void tst_ServerUnits::loginLimiterPairLimit()
{
    LoginLimiter limiter({3, 100, 100, 10'000});
    for (qint64 t : {1'000, 2'000, 3'000})
        QCOMPARE(admit(limiter, QStringLiteral("alice"), A, t).retryAfterSeconds, 0);
    // Wait until the first failure (t = 1 s) leaves the window (t = 11 s).
    const auto refused = admit(limiter, QStringLiteral("alice"), A, 4'000);
    QCOMPARE(refused.retryAfterSeconds, 7);
    QCOMPARE(refused.reason, LoginLimiter::Reason::Pair);
    QCOMPARE(admit(limiter, QStringLiteral("alice"), B, 4'000).retryAfterSeconds, 0);
    QCOMPARE(admit(limiter, QStringLiteral("bob"), A, 4'000).retryAfterSeconds, 0);
    QCOMPARE(admit(limiter, QStringLiteral("alice"), A, 10'999).retryAfterSeconds, 1);
    QCOMPARE(admit(limiter, QStringLiteral("alice"), A, 11'001).retryAfterSeconds, 0);
}

// Failures from one address across many usernames (password spraying).
void tst_ServerUnits::loginLimiterAddressLimit()
{
    LoginLimiter limiter({3, 4, 100, 10'000});
    for (int i = 0; i < 4; ++i)
        QCOMPARE(admit(limiter, QStringLiteral("u%1").arg(i), A, 1'000).retryAfterSeconds, 0);
    const auto refused = admit(limiter, QStringLiteral("u9"), A, 2'000);
    QCOMPARE(refused.reason, LoginLimiter::Reason::Address);
    QCOMPARE(refused.retryAfterSeconds, 9);
    QCOMPARE(admit(limiter, QStringLiteral("u9"), B, 2'000).retryAfterSeconds, 0);
}

// Past the username's ceiling, addresses that failed for it back off
// exponentially; an address without failures is never held back.
void tst_ServerUnits::loginLimiterUserCeilingBacksOff()
{
    LoginLimiter limiter({10, 1000, 4, 60'000});
    for (int i = 0; i < 4; ++i)
        QCOMPARE(admit(limiter, QStringLiteral("alice"), QStringLiteral("198.51.100.%1").arg(i),
                       1'000)
                         .retryAfterSeconds,
                 0);
    // 198.51.100.0 has failed once: base backoff 60 s / 10 = 6 s after its failure.
    const auto first =
            admit(limiter, QStringLiteral("alice"), QStringLiteral("198.51.100.0"), 2'000);
    QCOMPARE(first.reason, LoginLimiter::Reason::UserBackoff);
    QCOMPARE(first.retryAfterSeconds, 5);
    QCOMPARE(admit(limiter, QStringLiteral("alice"), QStringLiteral("198.51.100.0"), 7'000)
                     .retryAfterSeconds,
             0);
    // Its second failure doubles the wait: 12 s after t = 7 s.
    QCOMPARE(admit(limiter, QStringLiteral("alice"), QStringLiteral("198.51.100.0"), 18'000)
                     .retryAfterSeconds,
             1);
    QCOMPARE(admit(limiter, QStringLiteral("alice"), QStringLiteral("198.51.100.0"), 19'000)
                     .retryAfterSeconds,
             0);
    // A new address, and another username from a failing address, are not slowed.
    QCOMPARE(admit(limiter, QStringLiteral("alice"), B, 19'000).retryAfterSeconds, 0);
    QCOMPARE(admit(limiter, QStringLiteral("bob"), QStringLiteral("198.51.100.0"), 19'000)
                     .retryAfterSeconds,
             0);
}

void tst_ServerUnits::loginLimiterDisabled()
{
    LoginLimiter limiter({0, 1, 1, 10'000});
    for (int i = 0; i < 100; ++i)
        QCOMPARE(admit(limiter, QStringLiteral("alice"), A, 1'000).retryAfterSeconds, 0);
}

void tst_ServerUnits::clientAddress_data()
{
    QTest::addColumn<QStringList>("trusted");
    QTest::addColumn<QString>("peer");
    QTest::addColumn<QList<QByteArray>>("forwardedFor");
    QTest::addColumn<QString>("expected");

    const QStringList proxy{QStringLiteral("127.0.0.2")};
    QTest::addRow("no trusted proxy: header ignored")
            << QStringList{} << "127.0.0.2" << QList<QByteArray>{"203.0.113.5"} << "127.0.0.2";
    QTest::addRow("untrusted peer: header ignored")
            << proxy << "127.0.0.3" << QList<QByteArray>{"203.0.113.5"} << "127.0.0.3";
    QTest::addRow("trusted peer") << proxy << "127.0.0.2" << QList<QByteArray>{"203.0.113.5"}
                                  << "203.0.113.5";
    QTest::addRow("right-most wins over forged left entries")
            << proxy << "127.0.0.2" << QList<QByteArray>{"10.9.9.9, 198.51.100.1, 203.0.113.5"}
            << "203.0.113.5";
    QTest::addRow("trusted hops skipped")
            << QStringList{QStringLiteral("127.0.0.2"), QStringLiteral("10.0.0.0/8")} << "127.0.0.2"
            << QList<QByteArray>{"198.51.100.1, 203.0.113.5, 10.1.2.3"} << "203.0.113.5";
    QTest::addRow("all trusted: the left-most")
            << QStringList{QStringLiteral("127.0.0.2"), QStringLiteral("10.0.0.0/8")} << "127.0.0.2"
            << QList<QByteArray>{"10.0.0.1, 10.0.0.2"} << "10.0.0.1";
    QTest::addRow("two header fields, in order")
            << proxy << "127.0.0.2" << QList<QByteArray>{"198.51.100.1", "203.0.113.9"}
            << "203.0.113.9";
    QTest::addRow("malformed entry: the trusted hop")
            << proxy << "127.0.0.2" << QList<QByteArray>{"203.0.113.5, not-an-address"}
            << "127.0.0.2";
    QTest::addRow("no header from a trusted peer")
            << proxy << "127.0.0.2" << QList<QByteArray>{} << "127.0.0.2";
    QTest::addRow("ports and brackets")
            << proxy << "127.0.0.2" << QList<QByteArray>{"[2001:db8::7]:443, 203.0.113.5:80"}
            << "203.0.113.5";
    QTest::addRow("bracketed IPv6")
            << proxy << "127.0.0.2" << QList<QByteArray>{" [2001:db8::7]:443 "} << "2001:db8::7";
    QTest::addRow("IPv4-mapped peer")
            << proxy << "::ffff:127.0.0.2" << QList<QByteArray>{"203.0.113.5"} << "203.0.113.5";
}

void tst_ServerUnits::clientAddress()
{
    QFETCH(QStringList, trusted);
    QFETCH(QString, peer);
    QFETCH(QList<QByteArray>, forwardedFor);
    QFETCH(QString, expected);
    QList<Subnet> subnets;
    for (const QString &text : trusted) {
        const auto subnet = parseSubnet(text);
        QVERIFY2(subnet, qPrintable(text));
        subnets.append(*subnet);
    }
    const ClientAddressResolver resolver(subnets);
    QCOMPARE(ClientAddressResolver::displayAddress(
                     resolver.clientAddress(QHostAddress(peer), forwardedFor)),
             expected);
}

void tst_ServerUnits::limiterKeyGroupsIpv6By64()
{
    QCOMPARE(
            ClientAddressResolver::limiterKey(QHostAddress(QStringLiteral("2001:db8:1:2:3:4:5:6"))),
            QStringLiteral("2001:db8:1:2::/64"));
    QCOMPARE(ClientAddressResolver::limiterKey(QHostAddress(QStringLiteral("2001:db8:1:2:ff::1"))),
             QStringLiteral("2001:db8:1:2::/64"));
    QCOMPARE(ClientAddressResolver::limiterKey(QHostAddress(QStringLiteral("::ffff:192.0.2.7"))),
             QStringLiteral("192.0.2.7"));
    QCOMPARE(ClientAddressResolver::limiterKey(QHostAddress(QStringLiteral("192.0.2.7"))),
             QStringLiteral("192.0.2.7"));
    QVERIFY(!parseSubnet(QStringLiteral("10.0.0.0/33")));
    QVERIFY(!parseSubnet(QStringLiteral("proxy.example")));
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
    QVERIFY(hasher.hash("correct horse") != hash); // salted
    const auto parameters = PasswordHasher::parameters(hash);
    QVERIFY(parameters);
    QCOMPARE(*parameters, hasher.currentParameters());
    QCOMPARE(parameters->memoryKiB, 8u);
    QCOMPARE(parameters->iterations, 1u);
    QCOMPARE(parameters->parallelism, 1u);
    QCOMPARE(parameters->saltBytes, 16);
    QCOMPARE(parameters->hashBytes, 32);
    QVERIFY(!hasher.needsRehash(hash));
    QVERIFY(PasswordHasher(16, 1).needsRehash(hash));
    QVERIFY(PasswordHasher(8, 2).needsRehash(hash));
    QVERIFY(!PasswordHasher::parameters("$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA"));
    QVERIFY(!PasswordHasher::parameters("plain"));
}

// The decoy for unknown users has exactly the parameters asked for (and so the
// cost of a stored hash with them), and no password matches it.
void tst_ServerUnits::decoyHashCostsLikeItsParameters()
{
    const QByteArray stored = PasswordHasher(32, 2).hash("secret");
    const auto parameters = PasswordHasher::parameters(stored);
    QVERIFY(parameters);
    const QByteArray decoy = PasswordHasher::decoyHash(*parameters);
    QVERIFY(decoy.startsWith("$argon2id$v=19$m=32,t=2,p=1$"));
    QCOMPARE(PasswordHasher::parameters(decoy), parameters);
    QVERIFY(decoy != PasswordHasher::decoyHash(*parameters)); // random salt and digest
    const PasswordHasher hasher(8, 1);
    for (const QByteArray password : {QByteArray("secret"), QByteArray(), QByteArray("x")})
        QVERIFY(!hasher.verify(decoy, password));
}

void tst_ServerUnits::storeReplacePasswordHashIsConditional()
{
    QTemporaryDir dir;
    QString error;
    auto store = Store::open(dir.filePath(QStringLiteral("db.sqlite3")), false, &error);
    QVERIFY2(store, qPrintable(error));
    QCOMPARE(store->addUser(QStringLiteral("alice"), "old"), Store::AddUserResult::Added);
    const qint64 id = store->findUser(QStringLiteral("alice"))->id;
    QVERIFY(!store->replacePasswordHash(id, "not the stored one", "new"));
    QCOMPARE(store->findUser(QStringLiteral("alice"))->passwordHash, QByteArray("old"));
    QVERIFY(store->replacePasswordHash(id, "old", "new"));
    QCOMPARE(store->findUser(QStringLiteral("alice"))->passwordHash, QByteArray("new"));
    QList<QByteArray> seen;
    QCOMPARE(store->forEachPasswordHash(0, [&seen](const QByteArray &h) { seen.append(h); }), id);
    QCOMPARE(seen, QList<QByteArray>{"new"});
    QCOMPARE(store->forEachPasswordHash(id, [&seen](const QByteArray &h) { seen.append(h); }), id);
    QCOMPARE(seen.size(), 1);
}

// A database written by the first schema (no grace_answers column) opens,
// keeps its rows and gains the column.
void tst_ServerUnits::storeUpgradesSchemaVersion1()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("v1.sqlite3"));
    {
        const ScopedUmask ownerOnly(077);
        QSqlDatabase db =
                QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("v1"));
        db.setDatabaseName(path);
        QVERIFY(db.open());
        QSqlQuery query(db);
        for (const char *statement : {
                     "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                     "INSERT INTO meta VALUES ('schema', '1')",
                     "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE,"
                     " password_hash TEXT NOT NULL, created_at INTEGER NOT NULL)",
                     "CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, alg TEXT NOT NULL,"
                     " material BLOB NOT NULL, created_at INTEGER NOT NULL)",
                     "CREATE TABLE families (id TEXT PRIMARY KEY, user_id INTEGER NOT NULL"
                     " REFERENCES users(id) ON DELETE CASCADE, created_at INTEGER NOT NULL,"
                     " expires_at INTEGER NOT NULL, revoked_at INTEGER, revoke_reason TEXT)",
                     "CREATE TABLE refresh_tokens (token_hash BLOB PRIMARY KEY, family_id TEXT NOT"
                     " NULL REFERENCES families(id) ON DELETE CASCADE, parent_hash BLOB,"
                     " issued_at INTEGER NOT NULL, idle_expires_at INTEGER NOT NULL,"
                     " rotated_at INTEGER, successor_sealed BLOB)",
                     "INSERT INTO users VALUES (1, 'alice', 'hash', 0)",
                     "INSERT INTO families VALUES ('fam', 1, 0, 100000, NULL, NULL)",
                     "INSERT INTO refresh_tokens VALUES (x'6830', 'fam', NULL, 0, 50000, NULL, "
                     "NULL)",
             })
            QVERIFY2(query.exec(QString::fromLatin1(statement)), statement);
        db.close();
    }
    QSqlDatabase::removeDatabase(QStringLiteral("v1"));
    QString error;
    auto store = Store::open(path, false, &error);
    QVERIFY2(store, qPrintable(error));
    const auto token = store->findRefreshToken("h0");
    QVERIFY(token);
    QCOMPARE(token->familyId, QStringLiteral("fam"));
    QCOMPARE(token->graceAnswers, 0);
    QCOMPARE(store->rotate("h0", "sealed", 10, QStringLiteral("fam"), "h1", 60'000),
             Store::RotateResult::Rotated);
    const auto successor = store->findSuccessor("h0");
    QVERIFY(successor);
    QCOMPARE(successor->tokenHash, QByteArray("h1"));
    QCOMPARE(successor->parentHash, QByteArray("h0"));
    QVERIFY(!store->findSuccessor("h1")); // not rotated: names no successor
    QVERIFY(store->claimGraceAnswer("h0", 1));
    store.reset();
    store = Store::open(path, false, &error); // and once more, already upgraded
    QVERIFY2(store, qPrintable(error));
    QCOMPARE(store->graceAnswers("h0"), std::optional<int>(1));
}

void tst_ServerUnits::storeCountsGraceAnswers()
{
    QTemporaryDir dir;
    QString error;
    auto store = Store::open(dir.filePath(QStringLiteral("db.sqlite3")), false, &error);
    QVERIFY2(store, qPrintable(error));
    QCOMPARE(store->addUser(QStringLiteral("alice"), "hash"), Store::AddUserResult::Added);
    QVERIFY(store->createFamily(QStringLiteral("fam"), store->findUser(QStringLiteral("alice"))->id,
                                0, 100'000, "h0", 50'000));
    QVERIFY(store->claimGraceAnswer("h0", 2));
    QVERIFY(store->claimGraceAnswer("h0", 2));
    QVERIFY(!store->claimGraceAnswer("h0", 2));
    QCOMPARE(store->graceAnswers("h0"), std::optional<int>(2));
    QCOMPARE(store->findRefreshToken("h0")->graceAnswers, 2);
    QVERIFY(!store->graceAnswers("nope"));
}

// The checks behind "refusing ..." at start (more in integration.server.database).
void tst_ServerUnits::unsafeDatabaseFiles()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("db.sqlite3"));
    QVERIFY2(Tessera::Server::unsafeDatabaseFiles(path).isEmpty(),
             qPrintable(Tessera::Server::unsafeDatabaseFiles(path)));
    QString error;
    auto store = Store::open(path, false, &error); // open: its -wal and -shm exist
    QVERIFY2(store, qPrintable(error));
    QCOMPARE(QFile::permissions(path),
             QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ReadUser
                     | QFileDevice::WriteUser);
    QFile wal(path + QStringLiteral("-wal"));
    QVERIFY(wal.exists());
    QVERIFY(wal.setPermissions(wal.permissions() | QFileDevice::ReadOther));
    QVERIFY(Tessera::Server::unsafeDatabaseFiles(path).contains(QStringLiteral("mode 0604")));
    QVERIFY(!Store::open(path, false, &error));
    QVERIFY2(error.contains(QStringLiteral("-wal")), qPrintable(error));
    QVERIFY(wal.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner));
    QVERIFY(::chmod(QFile::encodeName(dir.path()).constData(), 0777) == 0);
    QVERIFY(Tessera::Server::unsafeDatabaseFiles(path).contains(QStringLiteral("mode 0777")));
    // Sticky (like /tmp) is no better: others can still create a -wal there.
    QVERIFY(::chmod(QFile::encodeName(dir.path()).constData(), 01777) == 0);
    QVERIFY(Tessera::Server::unsafeDatabaseFiles(path).contains(QStringLiteral("mode 1777")));
    QVERIFY(::chmod(QFile::encodeName(dir.path()).constData(), 0720) == 0);
    QVERIFY(Tessera::Server::unsafeDatabaseFiles(path).contains(QStringLiteral("lets group")));
    QVERIFY(::chmod(QFile::encodeName(dir.path()).constData(), 0750) == 0);
    QVERIFY2(Tessera::Server::unsafeDatabaseFiles(path).isEmpty(),
             qPrintable(Tessera::Server::unsafeDatabaseFiles(path)));
    QVERIFY(::chmod(QFile::encodeName(dir.path()).constData(), 0700) == 0);
    QFile::remove(path + QStringLiteral("-journal"));
    QVERIFY(QFile::link(path, path + QStringLiteral("-journal")));
    QVERIFY(Tessera::Server::unsafeDatabaseFiles(path).contains(QStringLiteral("symbolic link")));
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
    QTest::addRow("db-pool 1") << QStringList{"--db-pool", "1"} << true << "127.0.0.1" << 8000;
    QTest::addRow("db-pool 64") << QStringList{"--db-pool", "64"} << true << "127.0.0.1" << 8000;
    QTest::addRow("db-pool 0") << QStringList{"--db-pool", "0"} << false << "" << 0;
    QTest::addRow("db-pool 65") << QStringList{"--db-pool", "65"} << false << "" << 0;
    QTest::addRow("db-pool word") << QStringList{"--db-pool", "many"} << false << "" << 0;
    QTest::addRow("trusted proxies")
            << QStringList{"--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "::1"} << true
            << "127.0.0.1" << 8000;
    QTest::addRow("bad trusted proxy")
            << QStringList{"--trusted-proxy", "proxy.example"} << false << "" << 0;
    QTest::addRow("bad argon2-rehash")
            << QStringList{"--argon2-rehash", "maybe"} << false << "" << 0;
    QTest::addRow("zero grace answers refused")
            << QStringList{"--reuse-grace-answers", "0"} << false << "" << 0;
    QTest::addRow("device interval 1")
            << QStringList{"--device-interval", "1"} << true << "127.0.0.1" << 8000;
    QTest::addRow("device interval 60")
            << QStringList{"--device-interval", "60"} << true << "127.0.0.1" << 8000;
    QTest::addRow("device interval 0") << QStringList{"--device-interval", "0"} << false << "" << 0;
    QTest::addRow("device interval 61")
            << QStringList{"--device-interval", "61"} << false << "" << 0;
    QTest::addRow("login queue 0 ok")
            << QStringList{"--login-queue", "0"} << true << "127.0.0.1" << 8000;
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
    // Qt HttpServer's parser reads at most 100 fields of at most 100 KiB each.
    QTest::addRow("100 header fields ok")
            << QStringList{"--max-header-fields", "100"} << true << "127.0.0.1" << 8000;
    QTest::addRow("101 header fields")
            << QStringList{"--max-header-fields", "101"} << false << "" << 0;
    QTest::addRow("100 KiB head ok")
            << QStringList{"--max-header-bytes", "102400"} << true << "127.0.0.1" << 8000;
    QTest::addRow("head over 100 KiB")
            << QStringList{"--max-header-bytes", "102401"} << false << "" << 0;
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
    // Past Qt HttpServer's parser: refused with why.
    const ParsedCommandLine tooMany =
            parseCommandLine({QStringLiteral("tessera-server"),
                              QStringLiteral("--max-header-fields"), QStringLiteral("150")});
    QVERIFY2(tooMany.error.contains(QStringLiteral("--max-header-fields: at most 100")),
             qPrintable(tooMany.error));
    const ParsedCommandLine tooLong =
            parseCommandLine({QStringLiteral("tessera-server"),
                              QStringLiteral("--max-header-bytes"), QStringLiteral("262144")});
    QVERIFY2(tooLong.error.contains(QStringLiteral("--max-header-bytes: at most 102400")),
             qPrintable(tooLong.error));
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
    QCOMPARE(store->rotate("h0", "sealed", 10, QStringLiteral("fam"), "h1", 60'000),
             Store::RotateResult::Rotated);
    // The parent is no longer current: a second rotation of it changes nothing.
    QCOMPARE(store->rotate("h0", "sealed", 20, QStringLiteral("fam"), "h2", 60'000),
             Store::RotateResult::NotCurrent);
    QVERIFY(!store->findRefreshToken("h2"));
    const auto current = store->findSuccessor("h0");
    QVERIFY(current);
    QCOMPARE(current->tokenHash, QByteArray("h1"));
    QVERIFY(!current->rotatedAt);
    QCOMPARE(store->familyStatus(QStringLiteral("fam")), Store::FamilyStatus::Active);
    QVERIFY(store->revokeFamily(QStringLiteral("fam"), 30, QStringLiteral("test")));
    QCOMPARE(store->familyStatus(QStringLiteral("fam")), Store::FamilyStatus::Revoked);
    // The current token of a revoked family does not rotate either.
    QCOMPARE(store->rotate("h1", "sealed", 40, QStringLiteral("fam"), "h3", 60'000),
             Store::RotateResult::NotCurrent);
    QVERIFY(!store->findRefreshToken("h3"));
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

// The rows tst_jose runs through the JOSE parser: a request body is read exactly as a JOSE
// header or claim set would be.
void tst_ServerUnits::requestBodyIsStrictJson_data()
{
    Tessera::Test::addStrictJsonRows();
}

void tst_ServerUnits::requestBodyIsStrictJson()
{
    QFETCH(QByteArray, json);
    QFETCH(QString, problem);

    const auto parsed = parseJsonBody(json, "application/json", 1024 * 1024);
    if (json.isEmpty()) {
        // No body at all is the empty object, an HTTP-level rule applied before any parsing.
        QVERIFY(std::holds_alternative<QJsonObject>(parsed));
        QVERIFY(std::get<QJsonObject>(parsed).isEmpty());
        return;
    }
    if (problem.isEmpty()) {
        const QJsonObject *object = std::get_if<QJsonObject>(&parsed);
        const RequestProblem *refused = std::get_if<RequestProblem>(&parsed);
        QVERIFY2(object, qPrintable(refused ? refused->detail : QString()));
        QCOMPARE(*object, QJsonDocument::fromJson(json).object());
        return;
    }
    const RequestProblem *refused = std::get_if<RequestProblem>(&parsed);
    QVERIFY2(refused, "accepted");
    QCOMPARE(refused->status, 400);
    QCOMPARE(refused->code, QStringLiteral("parse_error"));
    QVERIFY2(refused->detail.contains(problem), qPrintable(refused->detail));
    QVERIFY(refused->fieldErrors.isEmpty());
}

QTEST_GUILESS_MAIN(tst_ServerUnits)
// The access tokens of held answers, signed on the workers: every answer comes back once,
// on this thread, with signatures that verify over its own signing inputs; a key that cannot
// sign fails only its own answer; after shutdown() nothing comes back.
void tst_ServerUnits::signingWorkersSignEachAnswerOnce()
{
    const Tessera::Jose::Key key = Tessera::Jose::Key::generate(Tessera::Jose::Algorithm::ES256);
    const Tessera::Jose::Key eddsa = Tessera::Jose::Key::generate(Tessera::Jose::Algorithm::EdDSA);
    const Tessera::Jose::Key publicOnly = Tessera::Jose::Key::fromJwk(key.publicJwk());
    QHash<quint64, QList<QByteArray>> results;
    int calls = 0;
    SigningWorkers workers([&](quint64 answer, const QList<QByteArray> &signatures) {
        QCOMPARE(QThread::currentThread(), qApp->thread());
        ++calls;
        results.insert(answer, signatures);
    });
    std::map<quint64, std::vector<TokenService::UnsignedToken>> sent;
    const auto unsignedToken = [](const Tessera::Jose::Key &signer, int n) {
        const QByteArray input = Tessera::Jose::jwtSigningInput(signer, {{QStringLiteral("n"), n}},
                                                                QStringLiteral("at+jwt"));
        return TokenService::UnsignedToken{input + '.' + QByteArray(86, 'A'), input, signer};
    };
    for (quint64 answer = 1; answer <= 40; ++answer) {
        std::vector<TokenService::UnsignedToken> tokens{
                unsignedToken(answer % 2 ? key : eddsa, int(answer))};
        if (answer % 10 == 0)
            tokens.push_back(unsignedToken(key, -int(answer)));
        workers.sign(answer, tokens);
        sent.emplace(answer, std::move(tokens));
    }
    // One answer whose key cannot sign (an input of another key, signed by a public key).
    const QByteArray input = Tessera::Jose::jwtSigningInput(key, {{QStringLiteral("n"), 0}});
    workers.sign(41, {{input + '.' + QByteArray(86, 'A'), input, publicOnly}});
    QTRY_COMPARE(calls, 41);
    QCOMPARE(results.size(), 41);
    QVERIFY(results.value(41).isEmpty());
    for (const auto &[answer, tokens] : sent) {
        const QList<QByteArray> signatures = results.value(answer);
        QCOMPARE(signatures.size(), qsizetype(tokens.size()));
        for (size_t i = 0; i < tokens.size(); ++i) {
            const QByteArray compact = tokens[i].signingInput + '.' + signatures.at(qsizetype(i));
            QVERIFY(compact.size() == tokens[i].placeholder.size());
            QCOMPARE(Tessera::Jose::verifyCompact(compact, {tokens[i].key}).error,
                     Tessera::Jose::Error::None);
        }
    }
    QCOMPARE(SigningWorkers::signNow(sent.at(10)).size(), 2);

    // Work handed over and then shut down: never reported.
    workers.sign(42, sent.at(1));
    workers.shutdown();
    QTest::qWait(50);
    QCOMPARE(calls, 41);
}

#include "tst_server_units.moc"

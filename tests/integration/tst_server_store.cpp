// SPDX-License-Identifier: MIT
// tessera-server's Store in this process on the engine of the run (SQLite, or a database of
// the PostgreSQL cluster: tests/common/testdatabase.h): every statement the server sends,
// with the values only a real engine can get wrong (64-bit times, binary data with NUL and
// high bytes, NULLs, cascading deletes, compare-and-set updates).
#include "loginlimiter.h"
#include "store.h"
#include "testdatabase.h"

#include <QtCore/QRegularExpression>
#include <QtCore/QTemporaryDir>
#include <QtTest/QTest>

using Tessera::Server::LoginLimiter;
using Tessera::Server::Store;
using namespace Tessera::Test;

class tst_ServerStore : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void usersAndKeys();
    void familiesRotateOnceAndPurge();
    void clients();
    void dpopProofsOnceAcrossStores();
    void schemaOpensTwiceUnchanged();
    void userCodeAndLoginAttemptsApart();

private:
    std::unique_ptr<Store> openNew(QString *database = nullptr);
    QTemporaryDir m_dir;
    int m_opened = 0;
};

void tst_ServerStore::initTestCase()
{
    TESSERA_REQUIRE_TEST_DATABASE();
}

std::unique_ptr<Store> tst_ServerStore::openNew(QString *database)
{
    const QString dir = m_dir.filePath(QString::number(++m_opened));
    if (!QDir().mkpath(dir))
        return nullptr;
    QFile::setPermissions(dir,
                          QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);
    QString error;
    const QString location = newTestDatabase(dir, &error);
    if (location.isEmpty()) {
        qWarning("%s", qPrintable(error));
        return nullptr;
    }
    if (database)
        *database = location;
    auto store = Store::open(location, false, &error);
    if (!store)
        qWarning("%s", qPrintable(error));
    return store;
}

void tst_ServerStore::usersAndKeys()
{
    auto store = openNew();
    QVERIFY(store);
    QCOMPARE(store->addUser(QStringLiteral("alice"), "hash-a"), Store::AddUserResult::Added);
    QCOMPARE(store->addUser(QStringLiteral("alice"), "hash-x"), Store::AddUserResult::Exists);
    QCOMPARE(store->addUser(QStringLiteral("bob"), "hash-b"), Store::AddUserResult::Added);
    const auto alice = store->findUser(QStringLiteral("alice"));
    QVERIFY(alice);
    QCOMPARE(alice->passwordHash, QByteArray("hash-a"));
    QVERIFY(!store->findUser(QStringLiteral("nobody")));
    QVERIFY(!store->failed());
    // The password hash changes only from the expected one.
    QVERIFY(!store->replacePasswordHash(alice->id, "not-the-hash", "hash-new"));
    QVERIFY(store->replacePasswordHash(alice->id, "hash-a", "hash-new"));
    QCOMPARE(store->findUser(QStringLiteral("alice"))->passwordHash, QByteArray("hash-new"));
    QList<QByteArray> hashes;
    const qint64 last =
            store->forEachPasswordHash(0, [&hashes](const QByteArray &h) { hashes << h; });
    QCOMPARE(hashes, QList<QByteArray>({"hash-new", "hash-b"}));
    QCOMPARE(store->forEachPasswordHash(last, [](const QByteArray &) { QFAIL("none newer"); }),
             last);

    // Key material is binary: NUL and high bytes come back as they went in.
    QByteArray material(64, '\0');
    for (int i = 0; i < material.size(); ++i)
        material[i] = char(255 - 4 * i);
    QVERIFY(store->addSigningKey({QStringLiteral("k1"), QStringLiteral("HS256"), material}));
    const auto keys = store->signingKeys(QStringLiteral("HS256"));
    QCOMPARE(keys.size(), 1);
    QCOMPARE(keys.first().material, material);
    QVERIFY(store->signingKeys(QStringLiteral("ES256")).isEmpty());
}

void tst_ServerStore::familiesRotateOnceAndPurge()
{
    auto store = openNew();
    QVERIFY(store);
    QCOMPARE(store->addUser(QStringLiteral("alice"), "hash"), Store::AddUserResult::Added);
    const qint64 userId = store->findUser(QStringLiteral("alice"))->id;
    // Milliseconds since the epoch do not fit 32 bits.
    const qint64 now = 1'800'000'000'000;
    const QByteArray h0("\x00\x01\xfe\xff", 4);
    const QByteArray h1("\xff\x00\x7f", 3);
    QVERIFY(store->createFamily(QStringLiteral("fam"), userId, now, now + 100'000, h0,
                                now + 50'000));
    auto first = store->findRefreshToken(h0);
    QVERIFY(first);
    QCOMPARE(first->issuedAt, now);
    QCOMPARE(first->familyExpiresAt, now + 100'000);
    QVERIFY(!first->rotatedAt);
    QVERIFY(first->parentHash.isEmpty());
    QVERIFY(!first->familyRevoked);
    QCOMPARE(first->username, QStringLiteral("alice"));

    QCOMPARE(store->rotate(h0, "sealed\0bytes", now + 10, QStringLiteral("fam"), h1, now + 60'000),
             Store::RotateResult::Rotated);
    QCOMPARE(store->rotate(h0, "again", now + 20, QStringLiteral("fam"), "h2", now + 60'000),
             Store::RotateResult::NotCurrent);
    QVERIFY(!store->failed());
    QVERIFY(!store->findRefreshToken("h2"));
    const auto parent = store->findRefreshToken(h0);
    QVERIFY(parent && parent->rotatedAt);
    QCOMPARE(*parent->rotatedAt, now + 10);
    const auto current = store->findSuccessor(h0);
    QVERIFY(current);
    QCOMPARE(current->tokenHash, h1);
    QCOMPARE(current->parentHash, h0);

    QVERIFY(store->claimGraceAnswer(h0, 2));
    QVERIFY(store->claimGraceAnswer(h0, 2));
    QVERIFY(!store->claimGraceAnswer(h0, 2));
    QCOMPARE(store->graceAnswers(h0), std::optional<int>(2));

    // A successor that cannot be inserted (its hash is taken) leaves the parent current:
    // never a parent marked rotated without its successor.
    QVERIFY(store->createFamily(QStringLiteral("other"), userId, now, now + 900'000, "o0",
                                now + 500'000));
    QTest::ignoreMessage(QtCriticalMsg, QRegularExpression(QStringLiteral("statement failed")));
    QCOMPARE(store->rotate("o0", "sealed", now + 10, QStringLiteral("other"), h1, now + 60'000),
             Store::RotateResult::Failed);
    QVERIFY(!store->findRefreshToken("o0")->rotatedAt);
    QCOMPARE(store->rotate("o0", "sealed", now + 10, QStringLiteral("other"), "o1", now + 500'000),
             Store::RotateResult::Rotated);
    QCOMPARE(store->findSuccessor("o0")->familyId, QStringLiteral("other"));
    QCOMPARE(store->findSuccessor("o0")->issuedAt, now + 10);

    QCOMPARE(store->familyStatus(QStringLiteral("fam")), Store::FamilyStatus::Active);
    QVERIFY(store->revokeFamily(QStringLiteral("fam"), now + 30, QStringLiteral("test")));
    QCOMPARE(store->familyStatus(QStringLiteral("fam")), Store::FamilyStatus::Revoked);
    QVERIFY(store->findRefreshToken(h1)->familyRevoked);
    QCOMPARE(store->rotate(h1, "sealed", now + 40, QStringLiteral("fam"), "h3", now + 60'000),
             Store::RotateResult::NotCurrent);
    QCOMPARE(store->familyStatus(QStringLiteral("missing")), Store::FamilyStatus::Missing);

    // A second family, idle-expired; the first expires absolutely. Purged with their tokens.
    QVERIFY(store->createFamily(QStringLiteral("idle"), userId, now, now + 900'000, "i0",
                                now + 5'000));
    QVERIFY(store->createFamily(QStringLiteral("live"), userId, now, now + 900'000, "l0",
                                now + 500'000));
    QCOMPARE(store->purgeExpired(now + 10'000, 0), 1); // "idle"
    QVERIFY(!store->findRefreshToken("i0"));
    QCOMPARE(store->purgeExpired(now + 200'000, 0), 1); // "fam"
    QVERIFY(!store->findRefreshToken(h0));
    QVERIFY(!store->findRefreshToken(h1));
    QCOMPARE(store->familyStatus(QStringLiteral("live")), Store::FamilyStatus::Active);
}

void tst_ServerStore::clients()
{
    auto store = openNew();
    QVERIFY(store);
    const QStringList uris{QStringLiteral("http://127.0.0.1/cb"),
                           QStringLiteral("com.example.app:/cb"),
                           QStringLiteral("http://[::1]/cb")};
    QCOMPARE(store->addClient(QStringLiteral("b-app"), uris), Store::AddClientResult::Added);
    QCOMPARE(store->addClient(QStringLiteral("a-app"), {uris.last()}),
             Store::AddClientResult::Added);
    QCOMPARE(store->addClient(QStringLiteral("a-app"), uris), Store::AddClientResult::Exists);
    // The same URI twice is refused by the schema: nothing of that client is kept.
    QCOMPARE(store->addClient(QStringLiteral("c-app"), {uris.first(), uris.first()}),
             Store::AddClientResult::Failed);
    QVERIFY(!store->findClient(QStringLiteral("c-app")));
    const auto list = store->clients();
    QVERIFY(list);
    QCOMPARE(list->size(), 2);
    QCOMPARE(list->at(0).id, QStringLiteral("a-app"));
    QCOMPARE(list->at(1).redirectUris, uris);
    QCOMPARE(store->removeClient(QStringLiteral("b-app")), Store::RemoveClientResult::Removed);
    QCOMPARE(store->removeClient(QStringLiteral("b-app")), Store::RemoveClientResult::Missing);
    QCOMPARE(store->addClient(QStringLiteral("b-app"), {uris.first()}),
             Store::AddClientResult::Added);
    QCOMPARE(store->findClient(QStringLiteral("b-app"))->redirectUris, QStringList{uris.first()});
}

// The deployment's DPoP replay cache: a proof is new once, for every Store on the database;
// an expired entry is taken over, and purged.
void tst_ServerStore::dpopProofsOnceAcrossStores()
{
    QString database;
    auto store = openNew(&database);
    QVERIFY(store);
    QString error;
    auto other = Store::open(database, false, &error);
    QVERIFY2(other, qPrintable(error));
    const qint64 now = 1'800'000'000'000;
    const QByteArray proof("\x00\xffproof", 7);
    QCOMPARE(store->rememberDpopProof(proof, now + 60'000, now), Store::DpopProofResult::New);
    QCOMPARE(store->rememberDpopProof(proof, now + 60'000, now + 1),
             Store::DpopProofResult::Replayed);
    QCOMPARE(other->rememberDpopProof(proof, now + 60'000, now + 2),
             Store::DpopProofResult::Replayed);
    QCOMPARE(other->rememberDpopProof("another", now + 30'000, now + 2),
             Store::DpopProofResult::New);
    QVERIFY(!store->failed() && !other->failed());
    // Expired but not purged yet: new again, kept until its new expiry.
    QCOMPARE(other->rememberDpopProof(proof, now + 200'000, now + 60'000),
             Store::DpopProofResult::New);
    QCOMPARE(store->rememberDpopProof(proof, now + 200'000, now + 100'000),
             Store::DpopProofResult::Replayed);
    QCOMPARE(store->purgeDpopProofs(now + 100'000), 1); // "another"
    QCOMPARE(store->rememberDpopProof("another", now + 300'000, now + 100'000),
             Store::DpopProofResult::New);
}

// A second open finds the schema current: no step runs again, the data stays.
void tst_ServerStore::schemaOpensTwiceUnchanged()
{
    QString database;
    auto store = openNew(&database);
    QVERIFY(store);
    QCOMPARE(store->addUser(QStringLiteral("alice"), "hash"), Store::AddUserResult::Added);
    store.reset();
    QString error;
    store = Store::open(database, false, &error);
    QVERIFY2(store, qPrintable(error));
    QVERIFY(store->findUser(QStringLiteral("alice")));
    store.reset();
    const auto version =
            databaseSelect(database, QStringLiteral("SELECT value FROM meta WHERE key = 'schema'"));
    QVERIFY(version && version->size() == 1);
    QCOMPARE(version->first().first().toInt(), Tessera::Server::latestSchemaVersion());
}

// The login limiter and the device page's user-code limiter on one shared table: neither
// kind of attempt counts against the other, and each kind's purge leaves the other's rows.
void tst_ServerStore::userCodeAndLoginAttemptsApart()
{
    auto store = openNew();
    QVERIFY(store);
    LoginLimiter logins({2, 3, 4, 60'000});
    LoginLimiter userCodes({2, 0, 4, 600'000, LoginLimiter::Attempts::UserCodes});
    logins.shareThrough(store.get());
    userCodes.shareThrough(store.get());
    const QString address = QStringLiteral("192.0.2.7");
    const qint64 start = 1'000'000'000;
    LoginLimiter::Ticket ticket;

    // Two wrong user codes hold the address back from entering codes...
    for (int i = 0; i < 2; ++i) {
        QCOMPARE(userCodes.admit(QStringLiteral("user_code"), address, start + i, &ticket)
                         .retryAfterSeconds,
                 0);
        QVERIFY(ticket.sharedId > 0);
    }
    QCOMPARE(userCodes.admit(QStringLiteral("user_code"), address, start + 2, &ticket).reason,
             LoginLimiter::Reason::Pair);
    // ...not from signing in: a login's pair, address and username windows hold none of them.
    for (int i = 0; i < 2; ++i)
        QCOMPARE(logins.admit(QStringLiteral("alice"), address, start + 3 + i, &ticket)
                         .retryAfterSeconds,
                 0);
    QCOMPARE(logins.admit(QStringLiteral("alice"), address, start + 5, &ticket).reason,
             LoginLimiter::Reason::Pair);
    // The address limit (3) counts logins only: a third username's first failure is admitted.
    QCOMPARE(logins.admit(QStringLiteral("bob"), address, start + 6, &ticket).retryAfterSeconds, 0);
    QCOMPARE(logins.admit(QStringLiteral("carol"), address, start + 7, &ticket).reason,
             LoginLimiter::Reason::Address);
    // Another address enters codes.
    QCOMPARE(userCodes
                     .admit(QStringLiteral("user_code"), QStringLiteral("192.0.2.8"), start + 8,
                            &ticket)
                     .retryAfterSeconds,
             0);

    // A minute later the logins' purge deletes their rows, not the user codes' (ten minutes).
    const qint64 later = start + 61'000;
    QCOMPARE(logins.admit(QStringLiteral("alice"), address, later, &ticket).retryAfterSeconds, 0);
    QCOMPARE(userCodes.admit(QStringLiteral("user_code"), address, later, &ticket).reason,
             LoginLimiter::Reason::Pair);
    // Ten minutes on, the user codes' window has passed too.
    QCOMPARE(userCodes.admit(QStringLiteral("user_code"), address, start + 601'000, &ticket)
                     .retryAfterSeconds,
             0);
}

QTEST_GUILESS_MAIN(tst_ServerStore)
#include "tst_server_store.moc"

// SPDX-License-Identifier: MIT
// tessera-server's Store in this process on the engine of the run (SQLite, or a database of
// the PostgreSQL cluster: tests/common/testdatabase.h): every statement the server sends,
// with the values only a real engine can get wrong (64-bit times, binary data with NUL and
// high bytes, NULLs, cascading deletes, compare-and-set updates).
#include "loginlimiter.h"
#include "store.h"
#include "testdatabase.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QRegularExpression>
#include <QtCore/QScopeGuard>
#include <QtCore/QTemporaryDir>
#include <QtCore/QUuid>
#include <QtSql/QSqlDatabase>
#include <QtSql/QSqlError>
#include <QtSql/QSqlQuery>
#include <QtTest/QTest>

using Tessera::Server::LoginLimiter;
using Tessera::Server::Store;
using namespace Tessera::Test;

namespace {

// Runs `sql` on `database` from a connection of its own (PostgreSQL: the superuser; SQLite:
// the file opened for writing), as an operator would while the store is open.
bool alterDatabase(const QString &database, const QString &sql)
{
    if (testsUsePostgreSQL()) {
        QString error;
        const bool done = databaseSelect(database, sql, &error).has_value();
        if (!done)
            qWarning("%s", qPrintable(error));
        return done;
    }
    const QString connection =
            QStringLiteral("tessera-alter-") + QUuid::createUuid().toString(QUuid::Id128);
    bool done = false;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connection);
        db.setDatabaseName(database);
        if (db.open()) {
            QSqlQuery query(db);
            done = query.exec(sql);
            if (!done)
                qWarning("%s", qPrintable(query.lastError().text()));
        }
        db.close();
    }
    QSqlDatabase::removeDatabase(connection);
    return done;
}

// PostgreSQL: ends the backend of this process's Store on `database` (gone when this returns).
bool killStoreConnection(const QString &database)
{
    const auto killed = databaseSelect(
            database,
            QStringLiteral("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                           " WHERE application_name = 'tessera-server-%1'"
                           " AND datname = current_database()")
                    .arg(QCoreApplication::applicationPid()));
    return killed && killed->size() == 1 && killed->first().value(0).toBool();
}

} // namespace

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
    void loginCountFailsClosed();
    void statementPreparedAgainAfterReconnect();
    void revocationFailsWithEitherPrepare();
    void commitFailuresAreClassified();

private:
    std::unique_ptr<Store> openNew(QString *database = nullptr);
    // openNew() with the user alice ("hash-a") added; her id in *aliceId.
    std::unique_ptr<Store> openWithAlice(QString *database, qint64 *aliceId);
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

std::unique_ptr<Store> tst_ServerStore::openWithAlice(QString *database, qint64 *aliceId)
{
    auto store = openNew(database);
    if (!store || store->addUser(QStringLiteral("alice"), "hash-a") != Store::AddUserResult::Added)
        return nullptr;
    const auto alice = store->findUser(QStringLiteral("alice"));
    if (!alice)
        return nullptr;
    *aliceId = alice->id;
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

// The shared login count cannot be read (its table renamed by an operator: every prepare of
// it fails): the attempt is refused as a storage failure, the store unavailable (the routes
// answer 503), never admitted on a count in this process's memory alone.
void tst_ServerStore::loginCountFailsClosed()
{
    QString database;
    auto store = openNew(&database);
    QVERIFY(store);
    LoginLimiter logins({2, 3, 4, 60'000});
    logins.shareThrough(store.get());
    const QString address = QStringLiteral("192.0.2.7");
    const qint64 start = 1'000'000'000;
    LoginLimiter::Ticket ticket;
    QVERIFY(alterDatabase(database,
                          QStringLiteral("ALTER TABLE login_failures RENAME TO login_failures_x")));
    for (int i = 0; i < 3; ++i) {
        const LoginLimiter::Verdict verdict =
                logins.admit(QStringLiteral("alice"), address, start + i, &ticket);
        QCOMPARE(verdict.reason, LoginLimiter::Reason::StorageFailure);
        QVERIFY(verdict.retryAfterSeconds > 0);
        QVERIFY(!ticket.counted);
        QVERIFY(store->failed());
        QVERIFY(store->unavailable());
    }
    QVERIFY(alterDatabase(database,
                          QStringLiteral("ALTER TABLE login_failures_x RENAME TO login_failures")));
    QCOMPARE(logins.admit(QStringLiteral("alice"), address, start + 3, &ticket).reason,
             LoginLimiter::Reason::None);
    QVERIFY(ticket.counted && ticket.sharedId > 0);
    QVERIFY(!store->failed());
}

// A statement that cannot be prepared again on a new connection (its table renamed meanwhile)
// is unavailable, not a lasting failure, and is prepared again at its next use once it can be.
void tst_ServerStore::statementPreparedAgainAfterReconnect()
{
    if (!testsUsePostgreSQL())
        QSKIP("reconnecting is PostgreSQL's");
    QString database;
    auto store = openNew(&database);
    QVERIFY(store);
    QCOMPARE(store->addUser(QStringLiteral("alice"), "hash-a"), Store::AddUserResult::Added);
    QVERIFY(alterDatabase(database, QStringLiteral("ALTER TABLE users RENAME TO users_x")));
    QVERIFY(killStoreConnection(database));
    // The statement that finds the connection broken fails; the store reconnects, where the
    // lookup of users cannot be prepared.
    QVERIFY(!store->findUser(QStringLiteral("alice")));
    QVERIFY(store->unavailable());
    QVERIFY(!store->findUser(QStringLiteral("alice")));
    QVERIFY(store->failed());
    QVERIFY(store->unavailable());
    QVERIFY(alterDatabase(database, QStringLiteral("ALTER TABLE users_x RENAME TO users")));
    const auto alice = store->findUser(QStringLiteral("alice"));
    QVERIFY(!store->failed());
    QVERIFY(alice);
    QCOMPARE(alice->passwordHash, QByteArray("hash-a"));
    QVERIFY(!store->findUser(QStringLiteral("nobody")));
    QVERIFY(!store->failed());
}

// A revocation whose statements cannot be prepared (the UPDATE, the NOTIFY, or both) fails as
// unavailable and revokes nothing.
void tst_ServerStore::revocationFailsWithEitherPrepare()
{
    if (!testsUsePostgreSQL())
        QSKIP("the revocation's NOTIFY is PostgreSQL's");
    QString database;
    qint64 userId = 0;
    auto store = openWithAlice(&database, &userId);
    QVERIFY(store);
    const qint64 now = 1'800'000'000'000;
    const QString family = QStringLiteral("family-1");
    QVERIFY(store->createFamily(family, userId, now, now + 3'600'000, "token-hash", now + 600'000));
    const QString renameFamilies = QStringLiteral("ALTER TABLE families RENAME TO families_x");
    const QString restoreFamilies = QStringLiteral("ALTER TABLE families_x RENAME TO families");
    const QString renameNotify =
            QStringLiteral("ALTER FUNCTION pg_catalog.pg_notify(text, text) RENAME TO pg_notify_x");
    const QString restoreNotify =
            QStringLiteral("ALTER FUNCTION pg_catalog.pg_notify_x(text, text) RENAME TO pg_notify");

    QVERIFY(alterDatabase(database, renameFamilies));
    QVERIFY(alterDatabase(database, renameNotify));
    QVERIFY(!store->revokeFamily(family, now, QStringLiteral("test")));
    QVERIFY(store->unavailable());
    QVERIFY(alterDatabase(database, restoreFamilies));
    QCOMPARE(store->familyStatus(family), Store::FamilyStatus::Active);

    QVERIFY(!store->revokeFamily(family, now, QStringLiteral("test")));
    QVERIFY(store->unavailable());
    QCOMPARE(store->familyStatus(family), Store::FamilyStatus::Active);
    QVERIFY(alterDatabase(database, restoreNotify));

    QVERIFY(alterDatabase(database, renameFamilies));
    QVERIFY(!store->revokeFamily(family, now, QStringLiteral("test")));
    QVERIFY(store->unavailable());
    QVERIFY(alterDatabase(database, restoreFamilies));
    QCOMPARE(store->familyStatus(family), Store::FamilyStatus::Active);

    QVERIFY(store->revokeFamily(family, now, QStringLiteral("test")));
    QVERIFY(!store->failed());
    QCOMPARE(store->familyStatus(family), Store::FamilyStatus::Revoked);
}

// A commit PostgreSQL refuses as a serialization failure (40001) is unavailable, worth a retry
// (503); one refused for a lasting reason is a failure (500). Either way nothing is written.
// Deferred constraint triggers make the check run at COMMIT, after every statement passed.
void tst_ServerStore::commitFailuresAreClassified()
{
    if (!testsUsePostgreSQL())
        QSKIP("a trigger deferred to the commit is PostgreSQL's");
    QString database;
    qint64 userId = 0;
    auto store = openWithAlice(&database, &userId);
    QVERIFY(store);
    const qint64 now = 1'800'000'000'000;
    QVERIFY(alterDatabase(database,
                          QStringLiteral("CREATE FUNCTION refuse_commit() RETURNS trigger"
                                         " LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION"
                                         " 'refused at commit by the test' USING ERRCODE ="
                                         " TG_ARGV[0]; END $$")));
    const QString dropTriggers =
            QStringLiteral("DROP TRIGGER IF EXISTS refuse_family ON refresh_tokens;"
                           " DROP TRIGGER IF EXISTS refuse_user ON users");
    auto cleanup = qScopeGuard([&] { alterDatabase(database, dropTriggers); });
    for (const auto &[code, transient] :
         {std::pair{QStringLiteral("40001"), true}, std::pair{QStringLiteral("P0001"), false}}) {
        QVERIFY(alterDatabase(
                database,
                QStringLiteral("CREATE CONSTRAINT TRIGGER refuse_family AFTER INSERT ON"
                               " refresh_tokens DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
                               " EXECUTE FUNCTION refuse_commit('%1');"
                               " CREATE CONSTRAINT TRIGGER refuse_user AFTER INSERT ON users"
                               " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
                               " EXECUTE FUNCTION refuse_commit('%1')")
                        .arg(code)));
        const QString family = QStringLiteral("family-") + code;
        QVERIFY(!store->createFamily(family, userId, now, now + 3'600'000, "token-hash",
                                     now + 600'000));
        QVERIFY(store->failed());
        QCOMPARE(store->unavailable(), transient);
        QCOMPARE(store->familyStatus(family), Store::FamilyStatus::Missing);
        QVERIFY(!store->findRefreshToken("token-hash"));

        QCOMPARE(store->addUser(QStringLiteral("bob"), "hash-b"), Store::AddUserResult::Failed);
        QVERIFY(store->failed());
        QCOMPARE(store->unavailable(), transient);
        QVERIFY(!store->findUser(QStringLiteral("bob")));
        QVERIFY(alterDatabase(database, dropTriggers));
    }
    QVERIFY(store->createFamily(QStringLiteral("family-ok"), userId, now, now + 3'600'000,
                                "token-hash", now + 600'000));
    QVERIFY(!store->failed());
    QCOMPARE(store->addUser(QStringLiteral("bob"), "hash-b"), Store::AddUserResult::Added);
}

QTEST_GUILESS_MAIN(tst_ServerStore)
#include "tst_server_store.moc"

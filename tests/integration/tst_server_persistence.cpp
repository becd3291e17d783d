// SPDX-License-Identifier: MIT
// tessera-server persistence: sessions, users and keys survive a clean restart
// (SIGTERM); the database is private (0600) and holds no token or password in
// plaintext.
#include "testsupport.h"

#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QCryptographicHash>
#include <QtCore/QDateTime>
#include <QtCore/QFileInfo>
#include <QtCore/QProcess>
#include <QtSql/QSqlDatabase>
#include <QtSql/QSqlError>
#include <QtSql/QSqlQuery>
#include <QtTest/QTest>

#include <sys/stat.h>

using namespace Tessera::Test;

namespace {

// st_mode & 0777 of `path`, or -1.
int fileMode(const QString &path)
{
    struct stat info = {};
    if (::stat(QFile::encodeName(path).constData(), &info) != 0)
        return -1;
    return int(info.st_mode & 0777);
}

QByteArray readAll(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

// Runs statements on an SQLite file as its owner would, files kept 0600.
bool sqliteExec(const QString &path, const QStringList &statements, QString *error)
{
    const QString connection = QStringLiteral("persistence-test");
    const mode_t previous = ::umask(077);
    bool ok = true;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connection);
        db.setDatabaseName(path);
        ok = db.open();
        QSqlQuery query(db);
        for (const QString &statement : statements) {
            if (!ok)
                break;
            ok = query.exec(statement);
            if (!ok)
                *error = statement + QStringLiteral(": ") + query.lastError().text();
        }
        db.close();
    }
    QSqlDatabase::removeDatabase(connection);
    ::umask(previous);
    return ok;
}

// The schema of the first release (version 1), as it created its tables.
const QStringList SchemaVersion1{
        QStringLiteral("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"),
        QStringLiteral("CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE,"
                       " password_hash TEXT NOT NULL, created_at INTEGER NOT NULL)"),
        QStringLiteral("CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, alg TEXT NOT NULL,"
                       " material BLOB NOT NULL, created_at INTEGER NOT NULL)"),
        QStringLiteral("CREATE TABLE families (id TEXT PRIMARY KEY, user_id INTEGER NOT NULL"
                       " REFERENCES users(id) ON DELETE CASCADE, created_at INTEGER NOT NULL,"
                       " expires_at INTEGER NOT NULL, revoked_at INTEGER, revoke_reason TEXT)"),
        QStringLiteral("CREATE TABLE refresh_tokens (token_hash BLOB PRIMARY KEY, family_id TEXT"
                       " NOT NULL REFERENCES families(id) ON DELETE CASCADE, parent_hash BLOB,"
                       " issued_at INTEGER NOT NULL, idle_expires_at INTEGER NOT NULL,"
                       " rotated_at INTEGER, successor_sealed BLOB)"),
        QStringLiteral("CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id)"),
        QStringLiteral("CREATE UNIQUE INDEX refresh_tokens_parent ON refresh_tokens(parent_hash)"),
        QStringLiteral("CREATE INDEX families_expiry ON families(expires_at)"),
        QStringLiteral("INSERT INTO meta (key, value) VALUES ('schema', '1')"),
};

// Version 2 (before the client tables): version 1 plus refresh_tokens.grace_answers.
QStringList schemaVersion2()
{
    QStringList statements = SchemaVersion1.mid(0, SchemaVersion1.size() - 1);
    statements << QStringLiteral("ALTER TABLE refresh_tokens ADD COLUMN grace_answers"
                                 " INTEGER NOT NULL DEFAULT 0")
               << QStringLiteral("INSERT INTO meta (key, value) VALUES ('schema', '2')");
    return statements;
}

QString sid(const QString &access)
{
    return jwtClaims(access).value(QStringLiteral("sid")).toString();
}

} // namespace

class tst_ServerPersistence : public QObject
{
    Q_OBJECT
private slots:
    void databaseMode_data();
    void databaseMode();
    void restart();
    void noPlaintextSecretsInDatabase();
    void schemaVersion1IsUpgraded();
    void schemaVersion2IsUpgraded();
    void schemaVersion8IsUpgraded();
    void newerSchemaIsRefused();
};

void tst_ServerPersistence::databaseMode_data()
{
    QTest::addColumn<bool>("createdByUserAdd"); // else created by the server on start
    QTest::addRow("created by user add") << true;
    QTest::addRow("created by the server") << false;
}

void tst_ServerPersistence::databaseMode()
{
    QFETCH(bool, createdByUserAdd);
    ServerProcess server;
    if (createdByUserAdd) {
        TESSERA_ADD_USER(server, TestUser, TestPassword.toUtf8());
        QCOMPARE(fileMode(server.databasePath()), 0600);
    }
    TESSERA_START(server);
    if (!createdByUserAdd)
        TESSERA_ADD_USER(server, TestUser, TestPassword.toUtf8());
    HttpClient http(server);
    TESSERA_EXPECT_STATUS(http.login(TestUser, TestPassword), 200);

    const QFileInfo info(server.databasePath());
    QVERIFY(info.exists());
    QCOMPARE(info.permissions()
                     & (QFileDevice::ReadGroup | QFileDevice::WriteGroup | QFileDevice::ExeGroup
                        | QFileDevice::ReadOther | QFileDevice::WriteOther | QFileDevice::ExeOther),
             QFileDevice::Permissions());
    QCOMPARE(fileMode(server.databasePath()), 0600);
    // WAL and shared-memory files hold the same data.
    for (const char *suffix : {"-wal", "-shm"}) {
        const QString path = server.databasePath() + QLatin1String(suffix);
        if (QFileInfo::exists(path))
            QVERIFY2(fileMode(path) == 0600,
                     qPrintable(
                             QStringLiteral("%1 has mode %2").arg(path).arg(fileMode(path), 0, 8)));
    }
    QVERIFY2(server.stop(), qPrintable(server.errorString()));
    QCOMPARE(fileMode(server.databasePath()), 0600);
}

void tst_ServerPersistence::restart()
{
    // A stable issuer: the default, the listen URL, changes with the port at every restart,
    // and access tokens of another issuer are refused.
    ServerProcess server({QStringLiteral("--reuse-grace"), QStringLiteral("0"),
                          QStringLiteral("--issuer"), QStringLiteral("http://127.0.0.1")});
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);

    TESSERA_TOKEN_PAIR(session, http.login(TestUser, TestPassword));
    TESSERA_TOKEN_PAIR(rotated, http.refresh(session.refresh)); // session.refresh now spent
    TESSERA_TOKEN_PAIR(loggedOut, http.login(TestUser, TestPassword));
    TESSERA_EXPECT_STATUS(http.blacklist(loggedOut.refresh), 200);

    // SIGTERM: a clean shutdown with exit status 0.
    QVERIFY2(server.stop(), qPrintable(server.errorString()));
    TESSERA_START(server);
    QVERIFY(server.baseUrl().port() > 0);

    // The access token is still valid (same signing key, family still active).
    const HttpResponse me = http.me(rotated.access);
    TESSERA_EXPECT_STATUS(me, 200);
    QCOMPARE(me.str(QStringLiteral("username")), TestUser);
    TESSERA_EXPECT_STATUS(http.verify(rotated.access), 200);
    // The refresh token still works and still rotates.
    TESSERA_TOKEN_PAIR(afterRestart, http.refresh(rotated.refresh));
    QVERIFY(afterRestart.refresh != rotated.refresh);
    TESSERA_EXPECT_STATUS(http.me(afterRestart.access), 200);
    // The user is still there.
    TESSERA_EXPECT_STATUS(http.login(TestUser, TestPassword), 200);
    TESSERA_EXPECT_ERROR(http.login(TestUser, QStringLiteral("wrong")), 401,
                         "authentication_failed");
    // Revocations and rotations survived too.
    TESSERA_EXPECT_ERROR(http.refresh(loggedOut.refresh), 401, "token_not_valid");
    TESSERA_EXPECT_ERROR(http.me(loggedOut.access), 401, "token_not_valid");
    TESSERA_EXPECT_ERROR(http.refresh(session.refresh), 401,
                         "token_not_valid"); // reuse after restart
    // ... and that reuse revoked its family, across the restart.
    TESSERA_EXPECT_ERROR(http.refresh(afterRestart.refresh), 401, "token_not_valid");
}

// Refresh tokens are stored only as hashes; passwords only as Argon2 hashes;
// access tokens not at all.
void tst_ServerPersistence::noPlaintextSecretsInDatabase()
{
    ServerProcess server;
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);
    QList<QString> refreshTokens;
    QList<QString> accessTokens;
    TESSERA_TOKEN_PAIR(login, http.login(TestUser, TestPassword));
    refreshTokens << login.refresh;
    accessTokens << login.access;
    QString current = login.refresh;
    for (int i = 0; i < 3; ++i) {
        TESSERA_TOKEN_PAIR(next, http.refresh(current));
        refreshTokens << next.refresh;
        accessTokens << next.access;
        current = next.refresh;
    }
    // Check the files both while running (WAL not yet checkpointed) and after stop.
    for (int pass = 0; pass < 2; ++pass) {
        if (pass == 1)
            QVERIFY2(server.stop(), qPrintable(server.errorString()));
        QByteArray bytes;
        const QDir dir(server.directory());
        for (const QString &name : dir.entryList(QDir::Files))
            bytes += readAll(dir.filePath(name));
        QVERIFY(!bytes.isEmpty());
        QVERIFY2(!bytes.contains(TestPassword.toUtf8()), "password in plaintext on disk");
        for (const QString &token : refreshTokens) {
            QVERIFY2(!bytes.contains(token.toLatin1()), "refresh token in plaintext on disk");
            QVERIFY2(!bytes.contains(*base64UrlDecodeLoose(token.toLatin1())),
                     "refresh token bytes in plaintext on disk");
        }
        for (const QString &token : accessTokens)
            QVERIFY2(!containsSecret(bytes, token), "access token on disk");
    }
}

// A database written by the first schema (no grace_answers column) is
// upgraded in place on start: its users, sessions and refresh tokens go on
// working, and the grace window counts its answers from then on.
void tst_ServerPersistence::schemaVersion1IsUpgraded()
{
    // A real Argon2 hash of the test password, from a database `user add` made.
    ServerProcess donor;
    TESSERA_ADD_USER(donor, TestUser, TestPassword.toUtf8());
    const auto hashRows =
            sqliteSelect(donor.databasePath(), QStringLiteral("SELECT password_hash FROM users"));
    QVERIFY(hashRows && hashRows->size() == 1);
    const QString passwordHash = hashRows->first().first().toString();

    // An old session: a family and its current refresh token.
    const QByteArray oldToken = base64UrlEncodeNoPad(QByteArray(32, '\x3c'));
    const QString tokenHash = QString::fromLatin1(
            QCryptographicHash::hash(oldToken, QCryptographicHash::Sha256).toHex());
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    ServerProcess server({QStringLiteral("--reuse-grace"), QStringLiteral("30")});
    QString error;
    QVERIFY2(
            sqliteExec(
                    server.databasePath(),
                    SchemaVersion1
                            + QStringList{QStringLiteral(
                                                  "INSERT INTO users VALUES (1, '%1', '%2', 0)")
                                                  .arg(TestUser, passwordHash),
                                          QStringLiteral(
                                                  "INSERT INTO families VALUES ('old-family', 1,"
                                                  " %1, %2, NULL, NULL)")
                                                  .arg(now)
                                                  .arg(now + 3600'000),
                                          QStringLiteral("INSERT INTO refresh_tokens VALUES (x'%1',"
                                                         " 'old-family', NULL, %2, %3, NULL, NULL)")
                                                  .arg(tokenHash)
                                                  .arg(now)
                                                  .arg(now + 3600'000)},
                    &error),
            qPrintable(error));
    TESSERA_START(server);
    QVERIFY(server.serverStderr().contains("database schema upgraded from version 1 to 9"));
    const auto version = sqliteSelect(
            server.databasePath(), QStringLiteral("SELECT value FROM meta WHERE key = 'schema'"));
    QVERIFY(version && version->size() == 1);
    QCOMPARE(version->first().first().toString(), QStringLiteral("9"));
    // Step 7's columns are there: the old family is not bound to a DPoP key.
    const auto unbound =
            sqliteSelect(server.databasePath(),
                         QStringLiteral("SELECT COUNT(*) FROM families WHERE dpop_jkt IS NULL"));
    QVERIFY(unbound && unbound->size() == 1);
    QCOMPARE(unbound->first().first().toInt(), 1);
    // Step 6's table is there, empty.
    const auto loginFailures = sqliteSelect(server.databasePath(),
                                            QStringLiteral("SELECT COUNT(*) FROM login_failures"));
    QVERIFY(loginFailures && loginFailures->size() == 1);
    QCOMPARE(loginFailures->first().first().toInt(), 0);
    // Step 5's table is there, empty.
    const auto deviceCodes = sqliteSelect(server.databasePath(),
                                          QStringLiteral("SELECT COUNT(*) FROM device_codes"));
    QVERIFY(deviceCodes && deviceCodes->size() == 1);
    QCOMPARE(deviceCodes->first().first().toInt(), 0);

    HttpClient http(server);
    TESSERA_TOKEN_PAIR(rotated, http.refresh(QString::fromLatin1(oldToken)));
    QCOMPARE(sid(rotated.access), QStringLiteral("old-family"));
    // The grace window on a pre-upgrade token: answered and counted.
    const HttpResponse again = http.refresh(QString::fromLatin1(oldToken));
    TESSERA_EXPECT_STATUS(again, 200);
    QCOMPARE(again.str(QStringLiteral("refresh")), rotated.refresh);
    const auto counted = sqliteSelect(
            server.databasePath(),
            QStringLiteral("SELECT grace_answers FROM refresh_tokens WHERE token_hash = x'%1'")
                    .arg(tokenHash));
    QVERIFY(counted && counted->size() == 1);
    QCOMPARE(counted->first().first().toInt(), 1);
    TESSERA_EXPECT_STATUS(http.login(TestUser, TestPassword), 200);
    // Starting again on the upgraded file upgrades nothing.
    QVERIFY2(server.restart(), qPrintable(server.errorString()));
    QCOMPARE(int(server.serverStderr().count("database schema upgraded")), 1);
    TESSERA_EXPECT_STATUS(http.refresh(rotated.refresh), 200);
}

// A version-2 database (before registered clients) is upgraded in place by the
// first command that opens it, here `client add`: the client tables appear,
// and its users, sessions and grace counts go on working.
void tst_ServerPersistence::schemaVersion2IsUpgraded()
{
    ServerProcess donor;
    TESSERA_ADD_USER(donor, TestUser, TestPassword.toUtf8());
    const auto hashRows =
            sqliteSelect(donor.databasePath(), QStringLiteral("SELECT password_hash FROM users"));
    QVERIFY(hashRows && hashRows->size() == 1);
    const QString passwordHash = hashRows->first().first().toString();

    const QByteArray oldToken = base64UrlEncodeNoPad(QByteArray(32, '\x5a'));
    const QString tokenHash = QString::fromLatin1(
            QCryptographicHash::hash(oldToken, QCryptographicHash::Sha256).toHex());
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    ServerProcess server({QStringLiteral("--reuse-grace"), QStringLiteral("30")});
    QString error;
    QVERIFY2(sqliteExec(server.databasePath(),
                        schemaVersion2()
                                + QStringList{QStringLiteral(
                                                      "INSERT INTO users VALUES (1, '%1', '%2', 0)")
                                                      .arg(TestUser, passwordHash),
                                              QStringLiteral(
                                                      "INSERT INTO families VALUES ('v2-family',"
                                                      " 1, %1, %2, NULL, NULL)")
                                                      .arg(now)
                                                      .arg(now + 3600'000),
                                              QStringLiteral(
                                                      "INSERT INTO refresh_tokens VALUES (x'%1',"
                                                      " 'v2-family', NULL, %2, %3, NULL, NULL, 0)")
                                                      .arg(tokenHash)
                                                      .arg(now)
                                                      .arg(now + 3600'000)},
                        &error),
             qPrintable(error));

    QProcess add;
    add.start(ServerProcess::binaryPath(),
              {QStringLiteral("client"), QStringLiteral("add"), QStringLiteral("my-app"),
               QStringLiteral("--redirect-uri"), QStringLiteral("http://127.0.0.1/cb"),
               QStringLiteral("--db"), server.databasePath()});
    QVERIFY(add.waitForFinished(15000));
    const QByteArray addErr = add.readAllStandardError();
    QVERIFY2(add.exitCode() == 0, addErr.constData());
    QVERIFY2(addErr.contains("database schema upgraded from version 2 to 9"), addErr.constData());
    const auto version = sqliteSelect(
            server.databasePath(), QStringLiteral("SELECT value FROM meta WHERE key = 'schema'"));
    QVERIFY(version && version->size() == 1);
    QCOMPARE(version->first().first().toString(), QStringLiteral("9"));
    const auto clients = sqliteSelect(
            server.databasePath(),
            QStringLiteral("SELECT c.id, u.uri FROM clients c JOIN client_redirect_uris u"
                           " ON u.client_id = c.id"));
    QVERIFY(clients && clients->size() == 1);
    QCOMPARE(clients->first(),
             QVariantList({QStringLiteral("my-app"), QStringLiteral("http://127.0.0.1/cb")}));

    // The old data still works: the session rotates, the user logs in.
    TESSERA_START(server);
    QVERIFY(!server.serverStderr().contains("database schema upgraded"));
    HttpClient http(server);
    TESSERA_TOKEN_PAIR(rotated, http.refresh(QString::fromLatin1(oldToken)));
    QCOMPARE(sid(rotated.access), QStringLiteral("v2-family"));
    TESSERA_EXPECT_STATUS(http.login(TestUser, TestPassword), 200);
}

// Version 8 found a rotated token's successor through a unique index on parent_hash;
// version 9 has the parent name it (successor_hash) and drops that index. The upgrade fills
// in successor_hash for the tokens rotated before it, so their grace window still answers.
void tst_ServerPersistence::schemaVersion8IsUpgraded()
{
    ServerProcess server({QStringLiteral("--reuse-grace"), QStringLiteral("60")});
    TESSERA_ADD_USER(server, TestUser, TestPassword.toUtf8());
    TESSERA_START(server);
    HttpClient http(server);
    TESSERA_TOKEN_PAIR(first, http.login(TestUser, TestPassword));
    TESSERA_TOKEN_PAIR(second, http.refresh(first.refresh));
    QVERIFY2(server.stop(), qPrintable(server.errorString()));

    // The same data as version 8 kept it.
    QString error;
    QVERIFY2(sqliteExec(server.databasePath(),
                        {QStringLiteral("ALTER TABLE refresh_tokens DROP COLUMN successor_hash"),
                         QStringLiteral("CREATE UNIQUE INDEX refresh_tokens_parent ON"
                                        " refresh_tokens(parent_hash)"),
                         QStringLiteral("UPDATE meta SET value = '8' WHERE key = 'schema'")},
                        &error),
             qPrintable(error));

    TESSERA_START(server);
    QVERIFY(server.serverStderr().contains("database schema upgraded from version 8 to 9"));
    const QString firstHash = QString::fromLatin1(
            QCryptographicHash::hash(first.refresh.toLatin1(), QCryptographicHash::Sha256).toHex());
    const QString secondHash = QString::fromLatin1(
            QCryptographicHash::hash(second.refresh.toLatin1(), QCryptographicHash::Sha256)
                    .toHex());
    const auto named =
            sqliteSelect(server.databasePath(),
                         QStringLiteral("SELECT lower(hex(successor_hash)) FROM refresh_tokens"
                                        " WHERE token_hash = x'%1'")
                                 .arg(firstHash));
    QVERIFY(named && named->size() == 1);
    QCOMPARE(named->first().first().toString(), secondHash);
    const auto index = sqliteSelect(
            server.databasePath(),
            QStringLiteral(
                    "SELECT COUNT(*) FROM sqlite_master WHERE name = 'refresh_tokens_parent'"));
    QVERIFY(index && index->size() == 1);
    QCOMPARE(index->first().first().toInt(), 0);

    // The token rotated before the upgrade, presented again within the grace window: its
    // successor, found through successor_hash, comes back.
    HttpClient again(server);
    const HttpResponse retried = again.refresh(first.refresh);
    TESSERA_EXPECT_STATUS(retried, 200);
    QCOMPARE(retried.str(QStringLiteral("refresh")), second.refresh);
    TESSERA_TOKEN_PAIR(third, again.refresh(second.refresh));
    QVERIFY(third.refresh != second.refresh);
}

// A database from a newer server is left alone, not half-understood.
void tst_ServerPersistence::newerSchemaIsRefused()
{
    ServerProcess server;
    TESSERA_ADD_USER(server, TestUser, TestPassword.toUtf8());
    QString error;
    QVERIFY2(sqliteExec(server.databasePath(),
                        {QStringLiteral("UPDATE meta SET value = '99' WHERE key = 'schema'")},
                        &error),
             qPrintable(error));
    QVERIFY(!server.start(5000));
    QVERIFY2(server.serverStderr().contains("schema version 99, newer than this server's"),
             server.serverStderr().constData());
}

QTEST_GUILESS_MAIN(tst_ServerPersistence)
#include "tst_server_persistence.moc"

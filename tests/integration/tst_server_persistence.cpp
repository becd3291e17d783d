// SPDX-License-Identifier: MIT
// tessera-server persistence: sessions, users and keys survive a clean restart
// (SIGTERM); the database is private (0600) and holds no token or password in
// plaintext.
#include "testsupport.h"

#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QFileInfo>
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

} // namespace

class tst_ServerPersistence : public QObject
{
    Q_OBJECT
private slots:
    void databaseMode_data();
    void databaseMode();
    void restart();
    void noPlaintextSecretsInDatabase();
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
    QCOMPARE(info.permissions() & (QFileDevice::ReadGroup | QFileDevice::WriteGroup | QFileDevice::ExeGroup
                                   | QFileDevice::ReadOther | QFileDevice::WriteOther | QFileDevice::ExeOther),
             QFileDevice::Permissions());
    QCOMPARE(fileMode(server.databasePath()), 0600);
    // WAL and shared-memory files hold the same data.
    for (const char *suffix : {"-wal", "-shm"}) {
        const QString path = server.databasePath() + QLatin1String(suffix);
        if (QFileInfo::exists(path))
            QVERIFY2(fileMode(path) == 0600,
                     qPrintable(QStringLiteral("%1 has mode %2").arg(path).arg(fileMode(path), 0, 8)));
    }
    QVERIFY2(server.stop(), qPrintable(server.errorString()));
    QCOMPARE(fileMode(server.databasePath()), 0600);
}

void tst_ServerPersistence::restart()
{
    ServerProcess server({QStringLiteral("--reuse-grace"), QStringLiteral("0")});
    TESSERA_ADD_USER(server, TestUser, TestPassword.toUtf8());
    TESSERA_START(server);
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
    TESSERA_EXPECT_ERROR(http.login(TestUser, QStringLiteral("wrong")), 401, "authentication_failed");
    // Revocations and rotations survived too.
    TESSERA_EXPECT_ERROR(http.refresh(loggedOut.refresh), 401, "token_not_valid");
    TESSERA_EXPECT_ERROR(http.me(loggedOut.access), 401, "token_not_valid");
    TESSERA_EXPECT_ERROR(http.refresh(session.refresh), 401, "token_not_valid"); // reuse after restart
    // ... and that reuse revoked its family, across the restart.
    TESSERA_EXPECT_ERROR(http.refresh(afterRestart.refresh), 401, "token_not_valid");
}

// Refresh tokens are stored only as hashes; passwords only as Argon2 hashes;
// access tokens not at all.
void tst_ServerPersistence::noPlaintextSecretsInDatabase()
{
    ServerProcess server;
    TESSERA_ADD_USER(server, TestUser, TestPassword.toUtf8());
    TESSERA_START(server);
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

QTEST_GUILESS_MAIN(tst_ServerPersistence)
#include "tst_server_persistence.moc"

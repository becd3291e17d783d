// SPDX-License-Identifier: MIT
// tessera-server lifetimes: absolute session lifetime (never extended by
// rotation), idle refresh lifetime, access token expiry. Short TTL flags keep
// the waits to a few seconds.
#include "testdatabase.h"
#include "testsupport.h"

#include <QtCore/QDateTime>
#include <QtCore/QElapsedTimer>
#include <QtTest/QTest>

using namespace Tessera::Test;

class tst_ServerLifetime : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void absoluteLifetime();
    void idleLifetime();
    void accessExpiry_data();
    void accessExpiry();
};

// Runs on SQLite, and again on PostgreSQL (TESSERA_TEST_DATABASE, CMakeLists.txt).
void tst_ServerLifetime::initTestCase()
{
    TESSERA_REQUIRE_TEST_DATABASE();
}

void tst_ServerLifetime::absoluteLifetime()
{
    ServerProcess server({QStringLiteral("--session-max-ttl"), QStringLiteral("3"),
                          QStringLiteral("--refresh-idle-ttl"), QStringLiteral("100"),
                          QStringLiteral("--reuse-grace"), QStringLiteral("0")});
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);

    QElapsedTimer sinceLogin;
    TESSERA_TOKEN_PAIR(login, http.login(TestUser, TestPassword));
    sinceLogin.start();
    QString refresh = login.refresh;
    int rotations = 0;
    // Keep the session busy: every token is fresh when presented.
    for (const int at : {900, 1800, 2500}) {
        QTest::qWait(int(qMax<qint64>(0, at - sinceLogin.elapsed())));
        if (sinceLogin.elapsed() >= 2800)
            break; // too close to the limit on a slow machine
        TESSERA_TOKEN_PAIR(next, http.refresh(refresh));
        refresh = next.refresh;
        ++rotations;
    }
    QVERIFY2(rotations >= 2, qPrintable(QString::number(rotations)));
    // Past created + 3 s, a refresh token issued well under a second ago fails.
    QTest::qWait(int(qMax<qint64>(0, 3400 - sinceLogin.elapsed())));
    TESSERA_EXPECT_ERROR(http.refresh(refresh), 401, "token_not_valid");
    // A new login starts a new session.
    TESSERA_EXPECT_STATUS(http.login(TestUser, TestPassword), 200);
}

void tst_ServerLifetime::idleLifetime()
{
    ServerProcess server({QStringLiteral("--refresh-idle-ttl"), QStringLiteral("2"),
                          QStringLiteral("--reuse-grace"), QStringLiteral("0")});
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);

    TESSERA_TOKEN_PAIR(login, http.login(TestUser, TestPassword));
    QTest::qWait(1000);
    TESSERA_TOKEN_PAIR(first, http.refresh(login.refresh));
    QTest::qWait(1200);
    // 2.2 s after login, but 1.2 s after its own issue: the idle clock restarts on use.
    TESSERA_TOKEN_PAIR(second, http.refresh(first.refresh));
    // Now leave it unused for longer than the idle lifetime.
    QTest::qWait(2600);
    TESSERA_EXPECT_ERROR(http.refresh(second.refresh), 401, "token_not_valid");
}

void tst_ServerLifetime::accessExpiry_data()
{
    QTest::addColumn<int>("ttl");
    QTest::addRow("access-ttl 1") << 1;
    QTest::addRow("access-ttl 2") << 2;
}

void tst_ServerLifetime::accessExpiry()
{
    QFETCH(int, ttl);
    ServerProcess server({QStringLiteral("--access-ttl"), QString::number(ttl)});
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);

    // iat and exp are whole seconds (NumericDate, as SimpleJWT issues them too), so a token
    // issued late in a second keeps only the rest of its last second. Log in just after a
    // second begins, and again if the answer still came too late for the checks below.
    HttpResponse loginResponse;
    for (int attempt = 0; attempt < 5; ++attempt) {
        QTest::qWait(int(1020 - QDateTime::currentMSecsSinceEpoch() % 1000));
        loginResponse = http.login(TestUser, TestPassword);
        const auto pair = tokenPair(loginResponse);
        if (loginResponse.status != 200 || !pair)
            break; // reported below
        const qint64 expiresAt =
                jwtClaims(pair->access).value(QStringLiteral("exp")).toInteger() * 1000;
        if (expiresAt - QDateTime::currentMSecsSinceEpoch() >= 600)
            break;
    }
    TESSERA_TOKEN_PAIR(login, loginResponse);
    const QJsonObject claims = jwtClaims(login.access);
    const qint64 exp = claims.value(QStringLiteral("exp")).toInteger();
    QVERIFY2(exp * 1000 - QDateTime::currentMSecsSinceEpoch() >= 500,
             "no login answer came early enough in its second on this machine");
    QCOMPARE(exp - claims.value(QStringLiteral("iat")).toInteger(), qint64(ttl));
    TESSERA_EXPECT_STATUS(http.me(login.access), 200);
    TESSERA_EXPECT_STATUS(http.verify(login.access), 200);

    // docs/SERVER.md documents no verification leeway (the server checks its own
    // tokens on its own clock). Wait until 1.5 s past exp: this still tolerates
    // up to 1 s of leeway and sub-second clock rounding.
    const qint64 waitMs = exp * 1000 + 1500 - QDateTime::currentMSecsSinceEpoch();
    QVERIFY2(waitMs < 5000, qPrintable(QString::number(waitMs)));
    QTest::qWait(int(qMax<qint64>(0, waitMs)));

    const HttpResponse me = http.me(login.access);
    TESSERA_EXPECT_ERROR(me, 401, "token_not_valid");
    QVERIFY(me.header("WWW-Authenticate").startsWith("Bearer"));
    TESSERA_EXPECT_ERROR(http.verify(login.access), 401, "token_not_valid");
    // Only the access token expired: the session refreshes into a working one.
    TESSERA_TOKEN_PAIR(next, http.refresh(login.refresh));
    TESSERA_EXPECT_STATUS(http.me(next.access), 200);
}

QTEST_GUILESS_MAIN(tst_ServerLifetime)
#include "tst_server_lifetime.moc"

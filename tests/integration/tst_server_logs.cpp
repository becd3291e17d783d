// SPDX-License-Identifier: MIT
// tessera-server logging: with every tessera category enabled (debug included),
// a full login/refresh/me/verify/logout flow, failures and reuse leave no token
// and no password in stderr or stdout.
#include "testdatabase.h"
#include "testsupport.h"

#include <QtTest/QTest>

using namespace Tessera::Test;

class tst_ServerLogs : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void noSecretsInLogs_data();
    void noSecretsInLogs();
    void userAddDoesNotEchoPassword();
    void loginFailuresNameTheClient();
};

// Runs on SQLite, and again on PostgreSQL (TESSERA_TEST_DATABASE, CMakeLists.txt).
void tst_ServerLogs::initTestCase()
{
    TESSERA_REQUIRE_TEST_DATABASE();
}

void tst_ServerLogs::noSecretsInLogs_data()
{
    QTest::addColumn<QString>("rules");
    QTest::addRow("tessera.*=true") << QStringLiteral("tessera.*=true");
    QTest::addRow("*.debug=true") << QStringLiteral("*.debug=true");
}

void tst_ServerLogs::noSecretsInLogs()
{
    QFETCH(QString, rules);

    ServerProcess server({QStringLiteral("--reuse-grace"), QStringLiteral("1")});
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("QT_LOGGING_RULES"), rules);
    server.setEnvironment(environment);
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);

    const QString wrongPassword = QStringLiteral("wrong-password-7f3a9c");
    QStringList secrets{TestPassword, wrongPassword};

    // Failed logins, known and unknown user.
    TESSERA_EXPECT_STATUS(http.login(TestUser, wrongPassword), 401);
    TESSERA_EXPECT_STATUS(http.login(QStringLiteral("nobody"), TestPassword), 401);

    // The happy path.
    TESSERA_TOKEN_PAIR(login, http.login(TestUser, TestPassword));
    TESSERA_EXPECT_STATUS(http.me(login.access), 200);
    TESSERA_EXPECT_STATUS(http.verify(login.access), 200);
    TESSERA_TOKEN_PAIR(rotated, http.refresh(login.refresh));
    // Grace-window repeat, then the chain goes on.
    TESSERA_EXPECT_STATUS(http.refresh(login.refresh), 200);
    TESSERA_TOKEN_PAIR(rotatedAgain, http.refresh(rotated.refresh));
    TESSERA_EXPECT_STATUS(http.me(rotatedAgain.access), 200);
    TESSERA_EXPECT_STATUS(http.blacklist(rotatedAgain.refresh), 200);
    secrets << login.access << login.refresh << rotated.access << rotated.refresh
            << rotatedAgain.access << rotatedAgain.refresh;

    // Refused tokens are not logged either: revoked, reused, hostile.
    TESSERA_EXPECT_STATUS(http.me(rotatedAgain.access), 401);
    TESSERA_EXPECT_STATUS(http.refresh(rotatedAgain.refresh), 401);
    TESSERA_TOKEN_PAIR(second, http.login(TestUser, TestPassword));
    TESSERA_TOKEN_PAIR(secondRotated, http.refresh(second.refresh));
    QTest::qWait(1200); // past the 1 s grace window: reuse
    TESSERA_EXPECT_STATUS(http.refresh(second.refresh), 401);
    TESSERA_EXPECT_STATUS(http.refresh(secondRotated.refresh), 401);
    secrets << second.access << second.refresh << secondRotated.access << secondRotated.refresh;
    const QString forged =
            login.access.section(u'.', 0, 1) + QStringLiteral(".forgedsignatureforgedsignature");
    TESSERA_EXPECT_STATUS(http.me(forged), 401);
    TESSERA_EXPECT_STATUS(http.verify(forged), 401);
    const QString unknownRefresh =
            QString::fromLatin1(base64UrlEncodeNoPad(QByteArray(32, '\x5a')));
    TESSERA_EXPECT_STATUS(http.refresh(unknownRefresh), 401);
    secrets << forged << unknownRefresh;

    QVERIFY2(server.stop(), qPrintable(server.errorString()));
    const QByteArray err = server.serverStderr();
    const QByteArray out = server.serverStdout();
    // The rules took effect: the server did log events (else this test proves nothing).
    QVERIFY2(err.contains("tessera.server"), err.left(2000).constData());
    QVERIFY2(err.count('\n') >= 5, err.constData());
    for (const QString &secret : std::as_const(secrets)) {
        QVERIFY2(
                !containsSecret(err, secret),
                qPrintable(QStringLiteral("stderr contains a secret (%1...)").arg(secret.left(8))));
        QVERIFY2(
                !containsSecret(out, secret),
                qPrintable(QStringLiteral("stdout contains a secret (%1...)").arg(secret.left(8))));
    }
    QVERIFY(!err.contains("Bearer "));
}

void tst_ServerLogs::userAddDoesNotEchoPassword()
{
    ServerProcess server;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("QT_LOGGING_RULES"), QStringLiteral("*.debug=true"));
    server.setEnvironment(environment);
    TESSERA_ADD_USER(server, TestUser, TestPassword.toUtf8());
    QVERIFY(!server.lastAddUserOutput().contains(TestPassword.toUtf8()));
    QVERIFY(!server.lastAddUserOutput().contains("$argon2"));
}

// "login failed" lines say which client failed (its address; behind a trusted
// proxy, the forwarded one), so an operator can act on them; never the password,
// nor the typed username (people type passwords into it).
void tst_ServerLogs::loginFailuresNameTheClient()
{
    ServerProcess server({QStringLiteral("--trusted-proxy"), QStringLiteral("127.0.0.2")});
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("QT_LOGGING_RULES"), QStringLiteral("*.debug=true"));
    server.setEnvironment(environment);
    TESSERA_START_WITH_TEST_USER(server);

    const QString wrongPassword = QStringLiteral("hunter2-wrong-c0ffee");
    const QString typedUsername = QStringLiteral("pa55word-typed-as-username");
    auto login = [&server](const char *source, const QString &username, const QString &password,
                           const QList<QByteArray> &headers = {}) {
        RawOptions options;
        options.sourceAddress = QHostAddress(QString::fromLatin1(source));
        const QByteArray body = QJsonDocument(QJsonObject{{QStringLiteral("username"), username},
                                                          {QStringLiteral("password"), password}})
                                        .toJson(QJsonDocument::Compact);
        return rawRequest(server.baseUrl(),
                          buildRawRequest("POST", QStringLiteral("/api/token/"), server.baseUrl(),
                                          body, "application/json", headers),
                          options);
    };
    TESSERA_EXPECT_STATUS(login("127.0.0.9", TestUser, wrongPassword), 401);
    TESSERA_EXPECT_STATUS(login("127.0.0.10", typedUsername, wrongPassword), 401);
    TESSERA_EXPECT_STATUS(
            login("127.0.0.2", TestUser, wrongPassword, {"X-Forwarded-For: 203.0.113.77"}), 401);
    QVERIFY2(server.stop(), qPrintable(server.errorString()));

    const QByteArray log = server.serverStderr();
    QVERIFY2(log.contains("login failed for user id 1 from 127.0.0.9"), log.constData());
    QVERIFY2(log.contains("login failed for an unknown username from 127.0.0.10"), log.constData());
    QVERIFY2(log.contains("login failed for user id 1 from 203.0.113.77"), log.constData());
    QCOMPARE(int(log.count("login failed")), 3);
    for (const QString &secret : {wrongPassword, TestPassword, typedUsername})
        QVERIFY2(!log.contains(secret.toUtf8()),
                 qPrintable(QStringLiteral("the log contains %1").arg(secret)));
}

QTEST_GUILESS_MAIN(tst_ServerLogs)
#include "tst_server_logs.moc"

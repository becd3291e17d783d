// SPDX-License-Identifier: MIT
// tessera-server login: POST /api/token/ success, failures, timing of unknown
// users, and the login limits, which count failures only (docs/SERVER.md).
#include "testdatabase.h"
#include "testsupport.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QJsonArray>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QTest>

#include <algorithm>

using namespace Tessera::Test;

namespace {

struct Attempt
{
    QString source; // client source address, 127.0.0.x
    QString username;
    bool correctPassword;
    int expectedStatus;
};

qint64 median(QList<qint64> values)
{
    std::sort(values.begin(), values.end());
    return values.at(values.size() / 2);
}

} // namespace

Q_DECLARE_METATYPE(QList<Attempt>)

class tst_ServerLogin : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void loginOk();
    void loginFailures_data();
    void loginFailures();
    void unknownUserCostsAHash();
    void rateLimit_data();
    void rateLimit();
    void abandonedLogins();
    void shutdownWithHashesInFlight();
    void sharedCountUnreadableIs503();
};

// Runs on SQLite, and again on PostgreSQL (TESSERA_TEST_DATABASE, CMakeLists.txt).
void tst_ServerLogin::initTestCase()
{
    TESSERA_REQUIRE_TEST_DATABASE();
}

void tst_ServerLogin::loginOk()
{
    ServerProcess server;
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);

    const HttpResponse response = http.login(TestUser, TestPassword);
    TESSERA_EXPECT_STATUS(response, 200);
    QVERIFY2(response.header("Cache-Control").contains("no-store"),
             response.header("Cache-Control").constData());
    QVERIFY(response.header("Content-Type").startsWith("application/json"));
    QVERIFY(response.isJsonObject());
    const QString access = response.str(QStringLiteral("access"));
    const QString refresh = response.str(QStringLiteral("refresh"));

    // Access: a JWT with the documented header and claims.
    QCOMPARE(jwtSegments(access).size(), 3);
    const QJsonObject header = jwtHeader(access);
    QCOMPARE(header.value(QStringLiteral("alg")).toString(), QStringLiteral("ES256"));
    QCOMPARE(header.value(QStringLiteral("typ")).toString(), QStringLiteral("at+jwt"));
    QVERIFY(!header.value(QStringLiteral("kid")).toString().isEmpty());
    const QJsonObject claims = jwtClaims(access);
    QCOMPARE(claims.value(QStringLiteral("sub")).toString(), TestUser);
    // The default issuer is the listen URL.
    QCOMPARE(claims.value(QStringLiteral("iss")).toString(),
             server.baseUrl().toString(QUrl::StripTrailingSlash));
    QCOMPARE(claims.value(QStringLiteral("token_type")).toString(), QStringLiteral("access"));
    QVERIFY(!claims.value(QStringLiteral("sid")).toString().isEmpty());
    QVERIFY(!claims.value(QStringLiteral("jti")).toString().isEmpty());
    QCOMPARE(claims.value(QStringLiteral("exp")).toInteger()
                     - claims.value(QStringLiteral("iat")).toInteger(),
             qint64(300));

    // Refresh: 256 random bits, base64url, 43 characters.
    QCOMPARE(refresh.size(), 43);
    const auto raw = base64UrlDecodeLoose(refresh.toLatin1());
    QVERIFY(raw.has_value());
    QCOMPARE(raw->size(), 32);

    const HttpResponse me = http.me(access);
    TESSERA_EXPECT_STATUS(me, 200);
    QCOMPARE(me.str(QStringLiteral("username")), TestUser);
    QCOMPARE(me.str(QStringLiteral("sid")), claims.value(QStringLiteral("sid")).toString());
    QVERIFY(me.header("Cache-Control").contains("no-store"));

    // Two logins are two families with different tokens.
    TESSERA_TOKEN_PAIR(second, http.login(TestUser, TestPassword));
    QVERIFY(second.refresh != refresh);
    QVERIFY(jwtClaims(second.access).value(QStringLiteral("sid")).toString()
            != claims.value(QStringLiteral("sid")).toString());
}

void tst_ServerLogin::loginFailures_data()
{
    QTest::addColumn<QString>("username");
    QTest::addColumn<QString>("password");

    QTest::addRow("wrong password") << TestUser << QStringLiteral("wrong");
    QTest::addRow("unknown user") << QStringLiteral("mallory") << TestPassword;
    QTest::addRow("password of another user") << TestUser << QStringLiteral("bobs password");
    QTest::addRow("password prefix") << TestUser << TestPassword.chopped(1);
    QTest::addRow("password plus newline") << TestUser << TestPassword + u'\n';
    QTest::addRow("username with trailing space") << TestUser + u' ' << TestPassword;
}

void tst_ServerLogin::loginFailures()
{
    QFETCH(QString, username);
    QFETCH(QString, password);

    ServerProcess server;
    TESSERA_ADD_USER(server, TestUser, TestPassword.toUtf8());
    TESSERA_ADD_USER(server, QStringLiteral("bob"), "bobs password");
    TESSERA_START(server);
    HttpClient http(server);

    const HttpResponse response = http.login(username, password);
    TESSERA_EXPECT_ERROR(response, 401, "authentication_failed");
    QVERIFY(!response.str(QStringLiteral("detail")).isEmpty());
    QVERIFY(!response.json().contains(QStringLiteral("access")));
    QVERIFY(!response.json().contains(QStringLiteral("refresh")));
    QVERIFY(response.header("Cache-Control").contains("no-store"));
    // The same credentials right after still work: a failure locks nothing out.
    TESSERA_EXPECT_STATUS(http.login(TestUser, TestPassword), 200);
}

// Unknown users must cost a password hash too (no user enumeration by timing),
// and get the very same answer as a wrong password.
void tst_ServerLogin::unknownUserCostsAHash()
{
    ServerProcess server({QStringLiteral("--login-limit"), QStringLiteral("0")});
    server.setFastArgon2(false); // default Argon2 cost, so the hash dominates the timing
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);

    // Warm up both paths (connection setup, first allocation of Argon2 memory).
    TESSERA_EXPECT_STATUS(http.login(TestUser, QStringLiteral("wrong")), 401);
    TESSERA_EXPECT_STATUS(http.login(QStringLiteral("nobody"), QStringLiteral("wrong")), 401);

    QList<qint64> wrongPassword;
    QList<qint64> unknownUser;
    HttpResponse wrongResponse;
    HttpResponse unknownResponse;
    for (int i = 0; i < 5; ++i) {
        wrongResponse = http.login(TestUser, QStringLiteral("wrong-%1").arg(i));
        TESSERA_EXPECT_ERROR(wrongResponse, 401, "authentication_failed");
        wrongPassword.append(wrongResponse.elapsedMs);
        unknownResponse = http.login(QStringLiteral("nobody-%1").arg(i), QStringLiteral("wrong"));
        TESSERA_EXPECT_ERROR(unknownResponse, 401, "authentication_failed");
        unknownUser.append(unknownResponse.elapsedMs);
    }
    const qint64 wrongMedian = median(wrongPassword);
    const qint64 unknownMedian = median(unknownUser);
    qInfo("login median: wrong password %lld ms, unknown user %lld ms", wrongMedian, unknownMedian);
    QVERIFY2(unknownMedian * 10 >= wrongMedian * 3,
             qPrintable(QStringLiteral("unknown user %1 ms is under 30%% of wrong password %2 ms: "
                                       "the server skips hashing for unknown users")
                                .arg(unknownMedian)
                                .arg(wrongMedian)));
    // Same body byte for byte: nothing tells the two cases apart.
    QCOMPARE(unknownResponse.body, wrongResponse.body);
}

void tst_ServerLogin::rateLimit_data()
{
    QTest::addColumn<QStringList>("flags");
    QTest::addColumn<QList<Attempt>>("attempts");

    const QString a2 = QStringLiteral("127.0.0.2");
    const QString a3 = QStringLiteral("127.0.0.3");
    const QString a4 = QStringLiteral("127.0.0.4");
    const QString alice = TestUser;
    const QString bob = QStringLiteral("bob");
    const QStringList limit3{QStringLiteral("--login-limit"), QStringLiteral("3")};

    // Failures of one user from one address throttle that pair only: the right
    // password from another address still works, and so do other users.
    QTest::addRow("per username and address")
            << limit3 << QList<Attempt>{{a2, alice, false, 401}, {a2, alice, false, 401},
                                        {a2, alice, false, 401}, {a2, alice, true, 429},
                                        {a3, alice, true, 200},  {a2, bob, true, 200},
                                        {a2, alice, false, 429}};
    // Failures from one address across user names (spraying): the address is
    // throttled; the same users from elsewhere are not.
    QTest::addRow("per address")
            << (limit3 + QStringList{QStringLiteral("--login-address-limit"), QStringLiteral("3")})
            << QList<Attempt>{{a2, QStringLiteral("u1"), false, 401},
                              {a2, QStringLiteral("u2"), false, 401},
                              {a2, QStringLiteral("u3"), false, 401},
                              {a2, alice, true, 429},
                              {a3, alice, true, 200}};
    // Successes never count (a NAT, or the CLI's memory-only mode logging in often).
    QTest::addRow("successes never count")
            << limit3 << QList<Attempt>{{a2, alice, true, 200}, {a2, alice, true, 200},
                                        {a2, alice, true, 200}, {a2, alice, true, 200},
                                        {a2, alice, true, 200}, {a2, bob, true, 200}};
    // A success clears the pair's failures.
    QTest::addRow("a success resets the pair")
            << limit3 << QList<Attempt>{{a4, alice, false, 401}, {a4, alice, false, 401},
                                        {a4, alice, true, 200},  {a4, alice, false, 401},
                                        {a4, alice, false, 401}, {a4, alice, true, 200}};
    // --login-limit 0 disables the limits.
    QTest::addRow("limit 0 disables")
            << QStringList{QStringLiteral("--login-limit"), QStringLiteral("0")}
            << QList<Attempt>{{a2, alice, false, 401}, {a2, alice, false, 401},
                              {a2, alice, false, 401}, {a2, alice, false, 401},
                              {a2, alice, false, 401}, {a2, alice, true, 200}};
}

void tst_ServerLogin::rateLimit()
{
    QFETCH(QStringList, flags);
    QFETCH(QList<Attempt>, attempts);

    ServerProcess server(flags
                         + QStringList{QStringLiteral("--login-window"), QStringLiteral("60")});
    TESSERA_ADD_USER(server, TestUser, TestPassword.toUtf8());
    TESSERA_ADD_USER(server, QStringLiteral("bob"), TestPassword.toUtf8());
    TESSERA_START(server);

    int index = 0;
    for (const Attempt &attempt : attempts) {
        ++index;
        const QJsonObject body{{QStringLiteral("username"), attempt.username},
                               {QStringLiteral("password"),
                                attempt.correctPassword ? TestPassword : QStringLiteral("wrong")}};
        RawOptions options;
        options.sourceAddress = QHostAddress(attempt.source);
        const HttpResponse response =
                rawRequest(server.baseUrl(),
                           buildRawRequest("POST", QStringLiteral("/api/token/"), server.baseUrl(),
                                           QJsonDocument(body).toJson(QJsonDocument::Compact)),
                           options);
        QVERIFY2(response.status == attempt.expectedStatus,
                 qPrintable(QStringLiteral("attempt %1 (%2 as %3): expected %4, got %5")
                                    .arg(index)
                                    .arg(attempt.source, attempt.username)
                                    .arg(attempt.expectedStatus)
                                    .arg(response.describe())));
        if (attempt.expectedStatus == 429) {
            QCOMPARE(response.code(), QStringLiteral("throttled"));
            bool ok = false;
            const int retryAfter = response.header("Retry-After").toInt(&ok);
            QVERIFY2(ok,
                     qPrintable(QStringLiteral("Retry-After is not an integer: '%1'")
                                        .arg(QString::fromLatin1(response.header("Retry-After")))));
            QVERIFY2(retryAfter > 0 && retryAfter <= 60, qPrintable(QString::number(retryAfter)));
            QVERIFY(!response.json().contains(QStringLiteral("access")));
        }
    }
}

namespace {

// Sends a login request on a fresh connection; the socket is returned open.
std::unique_ptr<QTcpSocket> sendLogin(const ServerProcess &server, const QString &password)
{
    auto socket = std::make_unique<QTcpSocket>();
    socket->connectToHost(QHostAddress::LocalHost, server.port());
    if (!socket->waitForConnected(5000))
        return nullptr;
    const QByteArray body = QJsonDocument(QJsonObject{{QStringLiteral("username"), TestUser},
                                                      {QStringLiteral("password"), password}})
                                    .toJson(QJsonDocument::Compact);
    socket->write(buildRawRequest("POST", QStringLiteral("/api/token/"), server.baseUrl(), body));
    if (!socket->waitForBytesWritten(5000))
        return nullptr;
    return socket;
}

} // namespace

// Clients that hang up while their password is being hashed get nothing issued
// (no session family nobody holds), the ones that wait get their tokens, and the
// server keeps serving. The Argon2 result is handed back to the server thread
// for each of them; this is the path that crashed once under Qt 6.4's
// QFuture::then (docs/SECURITY.md).
void tst_ServerLogin::abandonedLogins()
{
    ServerProcess server({QStringLiteral("--login-limit"), QStringLiteral("0")});
    server.setFastArgon2(false); // ~100 ms a hash on two threads: every hang-up lands mid-hash
    TESSERA_START_WITH_TEST_USER(server);

    constexpr int Abandoned = 12;
    constexpr int Kept = 4;
    std::vector<std::unique_ptr<QTcpSocket>> kept;
    for (int i = 0; i < Abandoned + Kept; ++i) {
        auto socket = sendLogin(server, TestPassword);
        QVERIFY2(socket, "could not send a login request");
        // Interleaved, so abandoned and kept requests share the hash queue.
        if (i % 4 == 3)
            kept.push_back(std::move(socket));
        else
            socket->abort(); // RST: the server sees the connection die at once
    }
    QCOMPARE(int(kept.size()), Kept);
    for (auto &socket : kept) {
        QByteArray answer;
        QDeadlineTimer deadline(20000);
        while (!answer.contains("\r\n\r\n{") || !answer.endsWith('}')) {
            QVERIFY2(!deadline.hasExpired(), answer.constData());
            if (!socket->waitForReadyRead(int(deadline.remainingTime())))
                break;
            answer += socket->readAll();
        }
        QVERIFY2(answer.startsWith("HTTP/1.1 200"), answer.left(200).constData());
        QVERIFY2(answer.contains("\"refresh\""), "no refresh token in the answer");
    }

    HttpClient http(server);
    TESSERA_EXPECT_STATUS(http.health(), 200);
    TESSERA_TOKEN_PAIR(after, http.login(TestUser, TestPassword));
    TESSERA_EXPECT_STATUS(http.me(after.access), 200);

    const QByteArray log = server.serverStderr();
    QCOMPARE(int(log.count("login client disconnected")), Abandoned);
    // Kept + the check login above: nothing was issued to the abandoned ones.
    QCOMPARE(int(log.count("new session family")), Kept + 1);
    QVERIFY2(server.stop(), qPrintable(server.errorString()));
}

// SIGTERM while logins wait for the hash pool: a clean exit (status 0) and
// soon, without hashing the queued passwords first.
void tst_ServerLogin::shutdownWithHashesInFlight()
{
    ServerProcess server({QStringLiteral("--login-limit"), QStringLiteral("0")});
    server.setFastArgon2(false);
    TESSERA_START_WITH_TEST_USER(server);

    constexpr int Waiting = 40; // ~2 s of hashing on two threads if all of it ran
    std::vector<std::unique_ptr<QTcpSocket>> sockets;
    for (int i = 0; i < Waiting; ++i) {
        auto socket = sendLogin(server, TestPassword);
        QVERIFY2(socket, "could not send a login request");
        sockets.push_back(std::move(socket));
    }
    QTest::qWait(50); // let the server read them and queue the hashes
    QElapsedTimer stopping;
    stopping.start();
    QVERIFY2(server.stop(), qPrintable(server.errorString()));
    const qint64 stopMs = stopping.elapsed();
    qInfo("stopped with %d logins queued in %lld ms", Waiting, stopMs);
    QVERIFY2(stopMs < 1500,
             qPrintable(QStringLiteral("stop took %1 ms: queued hashes ran first").arg(stopMs)));
    // The server never answered a login it did not finish: every connection
    // ends without a token.
    for (auto &socket : sockets) {
        socket->waitForDisconnected(2000);
        QVERIFY(!socket->readAll().contains("\"refresh\""));
    }
}

QTEST_GUILESS_MAIN(tst_ServerLogin)
// PostgreSQL: the login count shared by the instances cannot be read (its table renamed by an
// operator): the login is refused with 503 and a retry, not let through on a count in this
// process alone; back to normal once the table is.
void tst_ServerLogin::sharedCountUnreadableIs503()
{
    if (!testsUsePostgreSQL())
        QSKIP("an SQLite server counts logins in memory");
    ServerProcess server;
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);
    QVERIFY(databaseSelect(
            server.databasePath(),
            QStringLiteral("ALTER TABLE login_failures RENAME TO login_failures_x")));
    for (const QString &password : {TestPassword, QStringLiteral("wrong")}) {
        const HttpResponse refused = http.login(TestUser, password);
        TESSERA_EXPECT_ERROR(refused, 503, "database_unavailable");
        QCOMPARE(refused.header("Retry-After"), QByteArray("1"));
    }
    QVERIFY(databaseSelect(
            server.databasePath(),
            QStringLiteral("ALTER TABLE login_failures_x RENAME TO login_failures")));
    TESSERA_EXPECT_STATUS(http.login(TestUser, TestPassword), 200);
}

#include "tst_server_login.moc"

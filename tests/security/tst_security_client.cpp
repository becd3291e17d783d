// SPDX-License-Identifier: MIT
// Scorecard rows about the client side of a session (docs/SECURITY.md) that no
// behaviour test of tests/session proves yet, each named after its row:
// - CSRF: a cookie the server sets is never sent back;
// - replay after logout: the refresh token (also an older, rotated one that the
//   grace window would otherwise answer) and the access token are refused;
// - revocation latency: logout to the first 401 on the old access token, in ms;
// - a lost rotation response does not force a new login.
// Real tessera-server (and the Django + SimpleJWT peer where it applies) on
// loopback; the fault proxy sits between the SDK and the server where the wire
// is observed or broken.
#include "recordingserver.h"
#include "sessiontestsupport.h"

#include <tessera/authenticatednetworkaccessmanager.h>

#include <QtCore/QElapsedTimer>
#include <QtTest/QTest>

#include <algorithm>

using namespace Tessera;
using namespace Tessera::SessionTest;

class tst_SecurityClient : public QObject
{
    Q_OBJECT
private slots:
    void csrfCookieNotReplayed();
    void tokenOnlyToSessionOrigin();
    void replayRefreshAfterLogout_data();
    void replayRefreshAfterLogout();
    void replayAccessAfterLogout();
    void revocationLatency();
    void lostRotationResponse_data();
    void lostRotationResponse();
};

// Bearer tokens only: the SDK keeps no cookie jar, so a cookie a server (or
// anyone who can make it answer) sets is never sent back, and a request forged
// from elsewhere has no ambient credential to ride on.
void tst_SecurityClient::csrfCookieNotReplayed()
{
    Peer peer(ServerKind::Tessera);
    TESSERA_START_PEER(peer);
    FaultProxy proxy(peer.baseUrl());
    TESSERA_START_PROXY(proxy);
    const QByteArray setCookies = "Set-Cookie: sessionid=csrf-canary-1; Path=/; HttpOnly\r\n"
                                  "Set-Cookie: csrftoken=csrf-canary-2; Path=/\r\n";
    auto withCookies = [setCookies](int status, QByteArrayView body) {
        QByteArray raw = "HTTP/1.1 " + QByteArray::number(status)
                + (status == 200 ? " OK" : " Service Unavailable") + "\r\n" + setCookies
                + "Content-Type: application/json\r\nContent-Length: "
                + QByteArray::number(body.size()) + "\r\nConnection: close\r\n\r\n"
                + body.toByteArray();
        return Action::replaceResponse(raw);
    };
    // The first API call and the first refresh try are answered with cookies; the
    // failed refresh is transient, so the SDK retries on its own.
    proxy.setRule([withCookies](const RequestInfo &request) {
        if (request.path == MePath && request.pathIndex == 0)
            return withCookies(200, R"({"username":"alice"})");
        if (request.path == RefreshPath && request.pathIndex == 0)
            return withCookies(503, R"({"code":"unavailable","detail":"try later"})");
        return Action::forward();
    });

    TestClient client(proxy.url());
    Session &session = *client.session;
    QVERIFY(!login(session));
    AuthenticatedNetworkAccessManager network(&session);
    const QUrl me = client.config.endpoint(QStringLiteral("/api/me/"));
    QCOMPARE(getStatus(network, me), 200); // the answer with cookies
    QCOMPARE(getStatus(network, me), 200); // the real server
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    QVERIFY(!freshToken(session).has_value()); // 503 with cookies
    QTRY_COMPARE_WITH_TIMEOUT(refreshCount(session), 1, 8000);
    QCOMPARE(getStatus(network, me), 200);
    QVERIFY(!logout(session));

    // Every kind of call went out after the cookies were set; none carried one.
    QVERIFY(proxy.requestCount(MePath) >= 2);
    QVERIFY(proxy.requestCount(RefreshPath) >= 2);
    QCOMPARE(proxy.requestCount("/api/token/blacklist/"), 1);
    int afterCookies = 0;
    for (const RequestInfo &request : proxy.requests()) {
        QVERIFY2(request.header("Cookie").isNull(),
                 qPrintable(QStringLiteral("a cookie went out with %1 %2")
                                    .arg(QString::fromLatin1(request.method),
                                         QString::fromLatin1(request.path))));
        if (request.id > 1)
            ++afterCookies;
    }
    qInfo("scorecard: %d requests after Set-Cookie, none with a Cookie header", afterCookies);
}

// The reference article's "cross-domain use" row, for a native client: the token
// goes to the session's origin only. Another port on the same host, or a redirect
// from the session's origin to elsewhere, never gets it.
void tst_SecurityClient::tokenOnlyToSessionOrigin()
{
    Peer peer(ServerKind::Tessera);
    TESSERA_START_PEER(peer);
    RecordingServer other;
    QVERIFY(other.listen(QHostAddress::LocalHost, 0));
    const QUrl elsewhere(QStringLiteral("http://127.0.0.1:%1/api/me/").arg(other.serverPort()));
    FaultProxy proxy(peer.baseUrl());
    TESSERA_START_PROXY(proxy);
    const QByteArray redirect = "HTTP/1.1 302 Found\r\nLocation: " + elsewhere.toEncoded()
            + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    proxy.setRule([redirect](const RequestInfo &request) {
        return request.path == "/redirect" ? Action::replaceResponse(redirect) : Action::forward();
    });

    TestClient client(proxy.url());
    Session &session = *client.session;
    QVERIFY(!login(session));
    AuthenticatedNetworkAccessManager network(&session);
    QCOMPARE(getStatus(network, client.config.endpoint(QStringLiteral("/api/me/"))), 200);
    QVERIFY(!proxy.requests().last().header("Authorization").isNull()); // the origin gets it

    QCOMPARE(getStatus(network, elsewhere), 200); // another origin: sent, but plain
    QVERIFY(other.received.startsWith("GET /api/me/"));
    // A redirect away from the origin is not followed (so it cannot carry the token on).
    QCOMPARE(getStatus(network, client.config.endpoint(QStringLiteral("/redirect"))), 302);
    QTest::qWait(200);
    QCOMPARE(other.received.count("GET /api/me/"), 1);
    QVERIFY2(!other.received.toLower().contains("authorization"), other.received.constData());
    QVERIFY(!other.received.toLower().contains("bearer"));
}

void tst_SecurityClient::replayRefreshAfterLogout_data()
{
    addServerRows();
}

// After logout neither the current refresh token nor the one it replaced can be
// spent. On tessera-server the replaced token is the interesting one: within the
// reuse-grace window it would normally be answered with its successor.
void tst_SecurityClient::replayRefreshAfterLogout()
{
    QFETCH(ServerKind, server);
    Peer peer(server);
    TESSERA_START_PEER(peer);
    TestClient client(peer.baseUrl());
    Session &session = *client.session;
    QVERIFY(!login(session));
    const QByteArray first = client.storedToken();
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    QVERIFY(freshToken(session).has_value());
    const QByteArray current = client.storedToken();
    QVERIFY(!first.isEmpty() && !current.isEmpty() && first != current);

    QVERIFY(!logout(session));
    QVERIFY(!client.store->contains(client.config.storageKey(TestUser)));

    Test::HttpClient http(peer.baseUrl());
    TESSERA_EXPECT_ERROR(http.refresh(QString::fromLatin1(current)), 401,
                         QStringLiteral("token_not_valid"));
    TESSERA_EXPECT_ERROR(http.refresh(QString::fromLatin1(first)), 401,
                         QStringLiteral("token_not_valid"));
    // And the SDK cannot be talked into using one: nothing is left to restore.
    QCOMPARE(restore(session).code(), Error::Code::NotSignedIn);
}

// tessera-server revokes the family at logout, so its access tokens die at once.
// (SimpleJWT cannot revoke access tokens: there they live until exp; see
// docs/SECURITY.md and session.logout.)
void tst_SecurityClient::replayAccessAfterLogout()
{
    Peer peer(ServerKind::Tessera);
    TESSERA_START_PEER(peer);
    TestClient client(peer.baseUrl());
    Session &session = *client.session;
    QVERIFY(!login(session));
    const auto access = freshToken(session);
    QVERIFY(access.has_value());
    Test::HttpClient http(peer.baseUrl());
    TESSERA_EXPECT_STATUS(http.me(QString::fromLatin1(*access)), 200);
    TESSERA_EXPECT_STATUS(http.verify(QString::fromLatin1(*access)), 200);

    QVERIFY(!logout(session));
    TESSERA_EXPECT_STATUS(http.me(QString::fromLatin1(*access)), 401);
    TESSERA_EXPECT_STATUS(http.verify(QString::fromLatin1(*access)), 401);
}

// Milliseconds from starting the logout to the first 401 on the old access
// token, with a client hammering /api/me/ with that token the whole time.
void tst_SecurityClient::revocationLatency()
{
    PeerOptions options;
    options.extraArgs = {QStringLiteral("--login-limit"), QStringLiteral("1000")};
    Peer peer(ServerKind::Tessera, options);
    TESSERA_START_PEER(peer);
    QList<qint64> latencies, logoutTimes;
    int totalProbes = 0;
    constexpr int Rounds = 20;
    for (int round = 0; round < Rounds; ++round) {
        TestClient client(peer.baseUrl());
        Session &session = *client.session;
        QVERIFY(!login(session));
        const auto access = freshToken(session);
        QVERIFY(access.has_value());
        Test::HttpClient http(peer.baseUrl());
        TESSERA_EXPECT_STATUS(http.me(QString::fromLatin1(*access)), 200);

        // Start the logout, then probe with the old token until it is refused.
        QElapsedTimer clock;
        clock.start();
        const QFuture<void> loggedOut = session.logout();
        qint64 logoutDone = -1;
        qint64 firstRefusal = -1;
        int probes = 0;
        while (clock.elapsed() < 10000 && firstRefusal < 0) {
            const Test::HttpResponse response = http.me(QString::fromLatin1(*access));
            ++probes;
            if (logoutDone < 0 && loggedOut.isFinished())
                logoutDone = clock.elapsed();
            if (response.status == 401)
                firstRefusal = clock.elapsed();
            else
                QVERIFY2(response.status == 200, qPrintable(response.describe()));
        }
        QVERIFY2(firstRefusal >= 0, "the access token was still accepted 10 s after logout");
        QTRY_VERIFY_WITH_TIMEOUT(loggedOut.isFinished(), 10000);
        if (logoutDone < 0)
            logoutDone = clock.elapsed();
        QVERIFY(!errorOf(loggedOut));
        // Once the logout call returned, the very next request is refused.
        const Test::HttpResponse after = http.me(QString::fromLatin1(*access));
        QCOMPARE(after.status, 401);
        latencies.append(firstRefusal);
        logoutTimes.append(logoutDone);
        totalProbes += probes;
    }
    std::sort(latencies.begin(), latencies.end());
    std::sort(logoutTimes.begin(), logoutTimes.end());
    qInfo("scorecard: logout start to first 401 on the old access token: median %lld ms, max "
          "%lld ms over %d logouts (%d probes; the logout call itself: median %lld ms); the first "
          "request after every logout call returned was refused",
          latencies.at(Rounds / 2), latencies.last(), Rounds, totalProbes,
          logoutTimes.at(Rounds / 2));
    // Revocation is synchronous with the logout: no cache or replica lag may add to it.
    QVERIFY2(latencies.last() < 2000, "revocation took seconds");
}

void tst_SecurityClient::lostRotationResponse_data()
{
    QTest::addColumn<bool>("afterHeaders");
    QTest::newRow("connection closed before the response (the client resends)") << false;
    QTest::newRow("reset in the middle of the response body (a retry later)") << true;
}

// The server rotated, but the answer never reached the client: the client still
// holds the spent token. tessera-server's reuse-grace window answers that token
// with the same successor instead of treating it as theft, so the session goes
// on without a new login and without revoking the family.
void tst_SecurityClient::lostRotationResponse()
{
    QFETCH(bool, afterHeaders);
    Peer peer(ServerKind::Tessera);
    TESSERA_START_PEER(peer);
    FaultProxy proxy(peer.baseUrl());
    TESSERA_START_PROXY(proxy);
    proxy.setRule([afterHeaders](const RequestInfo &request) {
        if (request.path != RefreshPath || request.pathIndex != 0)
            return Action::forward();
        return afterHeaders ? Action::forwardThenResetMidBody() : Action::forwardThenDropResponse();
    });
    TestClient client(proxy.url(), std::chrono::seconds(5));
    Session &session = *client.session;
    QVERIFY(!login(session));
    const QByteArray spent = client.storedToken();

    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    const auto refreshed = freshToken(session);
    if (afterHeaders) {
        // The body never completes: a transient error, the token is kept, a retry follows.
        QVERIFY(!refreshed.has_value());
        QVERIFY(session.lastError().isTransient());
        QCOMPARE(client.storedToken(), spent);
    } else {
        // Qt resends the request on a new connection by itself; the caller sees no error.
        QVERIFY(refreshed.has_value());
    }
    QTRY_COMPARE_WITH_TIMEOUT(refreshCount(session), 1, 8000);
    QCOMPARE(session.state(), Session::State::SignedIn);
    const auto access = freshToken(session);
    QVERIFY(access.has_value());
    AuthenticatedNetworkAccessManager network(&session);
    QCOMPARE(getStatus(network, client.config.endpoint(QStringLiteral("/api/me/"))), 200);

    // The spent token reached the server twice; the second time inside the grace
    // window, answered with the successor, not as theft.
    QCOMPARE(proxy.requestCount(RefreshPath), 2);
    QCOMPARE(proxy.request(0).path, QByteArray("/api/token/")); // the login
    QCOMPARE(peer.rotations(), 1);
    QCOMPARE(peer.graceReissues(), 1);
    QCOMPARE(peer.reuseDetections(), 0);
    const QByteArray kept = client.storedToken();
    QVERIFY(kept != spent);
    // What the session stored is the live successor: the next rotation works.
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    QVERIFY(freshToken(session).has_value());
    QCOMPARE(refreshCount(session), 2);
    QCOMPARE(peer.reuseDetections(), 0);
}

QTEST_GUILESS_MAIN(tst_SecurityClient)
#include "tst_security_client.moc"

// SPDX-License-Identifier: MIT
// Refresh failures (issue 3, behaviour 10):
// - fatal: a rejected, revoked or reused refresh token moves the session to
//   ReauthRequired (SessionRejected) and removes the storage entry;
// - transient: server down, 5xx, timeout keep the session and its stored token,
//   and retry with exponential backoff and jitter until the server is back.
// Where the servers differ: tessera-server revokes the whole family when a
// rotated token is reused; SimpleJWT rejects only the reused token, and the
// client holding the newer one carries on.
#include "sessiontestsupport.h"

#include <QtCore/QDateTime>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

using namespace Tessera;
using namespace Tessera::SessionTest;

class tst_SessionFailures : public QObject
{
    Q_OBJECT
private slots:
    void fatalRefreshFailure_data();
    void fatalRefreshFailure();
    void transientRefreshFailure_data();
    void transientRefreshFailure();
    void backoffHasJitter();
    void rejectedTokenRemovedOnlyIfStillStored_data();
    void rejectedTokenRemovedOnlyIfStillStored();
};

namespace {

// A TestClient that also notes when its caller's freshAccessToken() failed.
struct Client : TestClient
{
    using TestClient::TestClient;
    qint64 failedAt = -1;
};

} // namespace

void tst_SessionFailures::fatalRefreshFailure_data()
{
    QTest::addColumn<ServerKind>("server");
    QTest::addColumn<QString>("scenario");
    QTest::addColumn<bool>("reauth");
    QTest::newRow("tessera: revoked (logged out elsewhere)")
            << ServerKind::Tessera << QStringLiteral("revoked") << true;
    QTest::newRow("django: blacklisted (logged out elsewhere)")
            << ServerKind::Django << QStringLiteral("revoked") << true;
    QTest::newRow("tessera: unknown token rejected")
            << ServerKind::Tessera << QStringLiteral("unknown") << true;
    QTest::newRow("django: unknown token rejected")
            << ServerKind::Django << QStringLiteral("unknown") << true;
    QTest::newRow("tessera: reuse of a rotated token revokes the family")
            << ServerKind::Tessera << QStringLiteral("reused") << true;
    QTest::newRow("django: reuse rejects only the reused token, the client carries on")
            << ServerKind::Django << QStringLiteral("reused") << false;
}

void tst_SessionFailures::fatalRefreshFailure()
{
    QFETCH(ServerKind, server);
    QFETCH(QString, scenario);
    QFETCH(bool, reauth);
    Peer peer(server, {300, 0, {}, {}});
    TESSERA_START_PEER(peer);
    Client client(peer.baseUrl());
    Session &session = *client.session;
    Test::HttpClient http(peer.baseUrl());

    if (scenario == QLatin1String("unknown")) {
        // A token the server never issued, found in storage at start.
        client.store->put(client.key(), QByteArray(43, 'x'));
        client.store->put(client.config.storageKey(QString()) + QStringLiteral("#account"),
                          TestUser.toUtf8());
        QSignalSpy errors(&session, &Session::errorOccurred);
        QCOMPARE(restore(session).code(), Error::Code::SessionRejected);
        // Reported once, by restore()'s future: not also by errorOccurred.
        QCOMPARE(errors.count(), 0);
    } else {
        TESSERA_LOGIN(session);
        const QByteArray first = client.storedToken();
        if (scenario == QLatin1String("revoked")) {
            TESSERA_EXPECT_STATUS(http.blacklist(QString::fromLatin1(first)), 200);
        } else {
            // The client rotates; then someone (a thief with a copy) presents the old token.
            SessionPrivate::get(&session)->expireAccessTokenForTesting();
            QVERIFY(freshToken(session).has_value());
            QVERIFY(client.storedToken() != first);
            TESSERA_EXPECT_ERROR(http.refresh(QString::fromLatin1(first)), 401, "token_not_valid");
        }
        SessionPrivate::get(&session)->expireAccessTokenForTesting();
        const auto token = freshToken(session);
        QCOMPARE(token.has_value(), !reauth);
    }

    if (reauth) {
        QCOMPARE(session.state(), Session::State::ReauthRequired);
        QCOMPARE(session.lastError().code(), Error::Code::SessionRejected);
        QVERIFY(!session.lastError().isTransient());
        QCOMPARE(session.lastError().serverCode(), QStringLiteral("token_not_valid"));
        // The dead token is removed from storage, so the next start does not retry it.
        QVERIFY2(!client.store->contains(client.key()),
                 qPrintable(client.store->events().join(u'\n')));
        QVERIFY(!freshToken(session).has_value());
        QCOMPARE(session.lastError().code(), Error::Code::SessionRejected);
        // And no retry either.
        const int rotations = peer.rotations();
        QTest::qWait(1500);
        QCOMPARE(peer.rotations(), rotations);
        QCOMPARE(session.state(), Session::State::ReauthRequired);
    } else {
        QCOMPARE(session.state(), Session::State::SignedIn);
        QVERIFY(!session.lastError());
        QVERIFY(client.store->contains(client.key()));
        QCOMPARE(refreshCount(session), 2);
    }
    if (scenario == QLatin1String("reused"))
        QCOMPARE(peer.reuseDetections(), server == ServerKind::Tessera ? 1 : 0);
}

void tst_SessionFailures::transientRefreshFailure_data()
{
    QTest::addColumn<ServerKind>("server");
    QTest::addColumn<QString>("fault");
    QTest::addColumn<Error::Code>("expected");
    QTest::newRow("tessera: server down")
            << ServerKind::Tessera << QStringLiteral("down") << Error::Code::NetworkError;
    QTest::newRow("django: server down")
            << ServerKind::Django << QStringLiteral("down") << Error::Code::NetworkError;
    QTest::newRow("tessera: 503") << ServerKind::Tessera << QStringLiteral("503")
                                  << Error::Code::ServerError;
    QTest::newRow("django: timeout")
            << ServerKind::Django << QStringLiteral("stall") << Error::Code::Timeout;
}

void tst_SessionFailures::transientRefreshFailure()
{
    QFETCH(ServerKind, server);
    QFETCH(QString, fault);
    QFETCH(Error::Code, expected);
    Peer peer(server);
    TESSERA_START_PEER(peer);
    FaultProxy proxy(peer.baseUrl());
    TESSERA_START_PROXY(proxy);
    QList<qint64> attempts;
    connect(&proxy, &FaultProxy::requestSeen, this, [&attempts](const RequestInfo &request) {
        if (request.path == RefreshPath)
            attempts.append(QDateTime::currentMSecsSinceEpoch());
    });
    // The session under test gives up on a request after 0.5 s, so that a stall ends soon; on
    // a busy machine Django's password hashing alone can take longer. So another client signs
    // in, and this session starts from its refresh token, as after a restart.
    Client client(proxy.url(), std::chrono::milliseconds(500));
    Session &session = *client.session;
    {
        Client signIn(proxy.url());
        TESSERA_LOGIN(*signIn.session);
        client.store->put(client.key(), signIn.storedToken());
        client.store->put(client.config.storageKey(QString()) + QStringLiteral("#account"),
                          TestUser.toUtf8());
    }
    const Error restored = restore(session);
    QVERIFY2(!restored, qPrintable(restored.message()));
    QCOMPARE(session.state(), Session::State::SignedIn);
    const QByteArray stored = client.storedToken();
    // restore() refreshed once.
    const int refreshesBefore = refreshCount(session);
    const int rotationsBefore = peer.rotations();

    if (fault == QLatin1String("down")) {
        QVERIFY(peer.stop());
    } else {
        proxy.setRule([fault](const RequestInfo &request) {
            if (request.path != RefreshPath)
                return Action::forward();
            if (fault == QLatin1String("503"))
                return Action::replaceResponse(503, "application/json",
                                               R"({"detail":"unavailable","code":"unavailable"})");
            return Action::stall();
        });
    }

    // The caller waiting on the refresh is told, by its future only.
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    std::optional<Error> failure;
    qint64 failedAt = -1;
    session.freshAccessToken().then(&session, [&](const QFuture<Secret> &future) {
        failedAt = QDateTime::currentMSecsSinceEpoch();
        failure = errorOf(future);
    });
    QTRY_VERIFY_WITH_TIMEOUT(failure.has_value(), 15000);
    QCOMPARE(failure->code(), expected);
    QCOMPARE(client.errors.size(), 0);
    QCOMPARE(session.lastError().code(), expected);
    QVERIFY(session.lastError().isTransient());
    QCOMPARE(session.state(), Session::State::SignedIn); // the session is kept ...
    QCOMPARE(client.storedToken(), stored);              // ... with its stored token

    // One retry, on its own, after a backed-off delay (first: 0.5 s to 1.5 s); nobody
    // waits on it, so its failure is reported by errorOccurred.
    QTRY_COMPARE_WITH_TIMEOUT(client.errors.size(), 1, 5000);
    QCOMPARE(client.errors.at(0).code(), expected);
    QCOMPARE(session.state(), Session::State::SignedIn);

    // The server is back: the next retry (second delay: 1 s to 3 s) succeeds, no login.
    if (fault == QLatin1String("down")) {
        TESSERA_START_PEER(peer);
        proxy.setUpstream(QHostAddress::LocalHost, peer.baseUrl().port());
    } else {
        proxy.clearRule();
    }
    QTRY_COMPARE_WITH_TIMEOUT(refreshCount(session), refreshesBefore + 1, 6000);
    QCOMPARE(session.state(), Session::State::SignedIn);
    QCOMPARE(client.errors.size(), 1);
    QVERIFY(client.storedToken() != stored);
    QVERIFY(freshToken(session).has_value());

    // Backoff, measured on the wire from each failure to the next attempt.
    // (QNetworkAccessManager resends once by itself when a reused keep-alive connection
    // turns out closed, so one attempt can be two requests on the wire.)
    auto nextAttemptAfter = [&attempts](qint64 time) {
        for (qint64 attempt : attempts) {
            if (attempt > time)
                return attempt - time;
        }
        return qint64(-1);
    };
    const qint64 firstDelay = nextAttemptAfter(failedAt);
    const qint64 secondDelay = nextAttemptAfter(client.errorTimes.at(0));
    QVERIFY2(firstDelay >= 450 && firstDelay <= 1500 + 300,
             qPrintable(QStringLiteral("first retry after %1 ms").arg(firstDelay)));
    QVERIFY2(secondDelay >= 950 && secondDelay <= 3000 + 300,
             qPrintable(QStringLiteral("second retry after %1 ms").arg(secondDelay)));
    QCOMPARE(peer.rotations(), rotationsBefore + 1);
}

// Sessions failing at the same moment do not retry in lockstep.
void tst_SessionFailures::backoffHasJitter()
{
    constexpr int Sessions = 4;
    Peer peer(ServerKind::Tessera);
    TESSERA_START_PEER(peer);
    FaultProxy proxy(peer.baseUrl());
    TESSERA_START_PROXY(proxy);
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < Sessions; ++i) {
        clients.push_back(std::make_unique<Client>(proxy.url()));
        TESSERA_LOGIN(*clients.back()->session);
    }
    proxy.setRule([](const RequestInfo &request) {
        return request.path == RefreshPath
                ? Action::replaceResponse(503, "application/json", R"({"code":"unavailable"})")
                : Action::forward();
    });
    // Each caller is told by its future; the retry, which nobody waits on, by errorOccurred.
    for (auto &client : clients) {
        SessionPrivate::get(client->session.get())->expireAccessTokenForTesting();
        Client *c = client.get();
        client->session->freshAccessToken().then(
                client->session.get(), [c](const QFuture<Secret> &) {
                    c->failedAt = QDateTime::currentMSecsSinceEpoch();
                });
    }
    QList<qint64> delays;
    for (auto &client : clients) {
        QTRY_VERIFY_WITH_TIMEOUT(client->failedAt >= 0 && !client->errors.isEmpty(), 5000);
        delays << client->errorTimes.at(0) - client->failedAt;
    }
    std::sort(delays.begin(), delays.end());
    QVERIFY2(delays.last() - delays.first() >= 20,
             qPrintable(QStringLiteral("first retry delays (ms): %1 %2 %3 %4")
                                .arg(delays.at(0))
                                .arg(delays.at(1))
                                .arg(delays.at(2))
                                .arg(delays.at(3))));
    for (qint64 delay : delays)
        QVERIFY2(delay >= 450 && delay <= 1500 + 700, qPrintable(QString::number(delay)));
}

void tst_SessionFailures::rejectedTokenRemovedOnlyIfStillStored_data()
{
    QTest::addColumn<bool>("otherInstanceWrites");
    QTest::newRow("storage still holds the rejected token: removed") << false;
    QTest::newRow("another instance stored a new token meanwhile: kept") << true;
}

// A rejected refresh token is removed from storage, but only that token: if another
// instance of the app stored a new one while the rejected refresh was on the wire
// (it signed in again, or rotated after our lock wait timed out), deleting it would
// sign that instance out for nothing.
void tst_SessionFailures::rejectedTokenRemovedOnlyIfStillStored()
{
    QFETCH(bool, otherInstanceWrites);
    Peer peer(ServerKind::Tessera);
    TESSERA_START_PEER(peer);
    FaultProxy proxy(peer.baseUrl());
    TESSERA_START_PROXY(proxy);
    Client client(proxy.url());
    Session &session = *client.session;
    QVERIFY(!login(session));
    Test::HttpClient http(peer.baseUrl());
    TESSERA_EXPECT_STATUS(http.blacklist(QString::fromLatin1(client.storedToken())), 200);

    proxy.setRule([](const RequestInfo &request) {
        return request.path == RefreshPath ? Action::holdResponse() : Action::forward();
    });
    QSignalSpy held(&proxy, &FaultProxy::responseHeld);
    SessionPrivate::get(&session)->refreshNowForTesting();
    QVERIFY(held.wait(10000));
    const QByteArray otherToken = QByteArray(43, 'n');
    if (otherInstanceWrites)
        client.store->put(client.key(), otherToken);
    QVERIFY(proxy.releaseHeld(held.first().first().toInt()));

    QTRY_COMPARE_WITH_TIMEOUT(session.state(), Session::State::ReauthRequired, 10000);
    QTRY_COMPARE_WITH_TIMEOUT(client.errors.size(), 1, 5000);
    QCOMPARE(client.errors.first().code(), Error::Code::SessionRejected);
    if (otherInstanceWrites)
        QCOMPARE(client.storedToken(), otherToken);
    else
        QVERIFY(!client.store->contains(client.key()));
}

QTEST_GUILESS_MAIN(tst_SessionFailures)
#include "tst_session_failures.moc"

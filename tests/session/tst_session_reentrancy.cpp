// SPDX-License-Identifier: MIT
// Callers that act from inside the session's callbacks, and work that outlives the operation
// that started it (issue 10 review):
// - a caller served first signs out: the callers after it get NotSignedIn, never an empty
//   token, and no request goes out after the sign-out;
// - a restore started when a background rejection is reported neither hears that old
//   rejection nor reads the rejected token back from storage;
// - the refresher's reset() abandons a refresh in flight: its callers are told, its lock is
//   released, and the next caller gets a token;
// - a caller that asks again from its failure handler waits for the backoff.
#include "faultproxy.h"
#include "sessiontestsupport.h"

#include "crossprocesslock_p.h"

#include <tessera/authenticatednetworkaccessmanager.h>

#include <QtCore/QElapsedTimer>
#include <QtNetwork/QNetworkReply>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

using namespace Tessera;
using namespace Tessera::SessionTest;
using Tessera::Test::Action;
using Tessera::Test::FaultProxy;
using Tessera::Test::RequestInfo;
using Tessera::Test::TestUser;

namespace {

SessionConfig memoryConfig(const QUrl &url)
{
    SessionConfig config = makeConfig(url, QStringLiteral("reentrancy"));
    config.setStoragePolicy(SessionConfig::StoragePolicy::MemoryOnly);
    return config;
}

// Whether `lock` can be taken (by another holder, as another process would) within `ms`.
bool canLock(CrossProcessLock &lock, int ms)
{
    std::optional<bool> locked;
    lock.acquire([&locked](bool held) { locked = held; }, ms);
    const bool held = QTest::qWaitFor([&] { return locked.has_value(); }, ms + 5000) && *locked;
    lock.release();
    return held;
}

} // namespace

class tst_SessionReentrancy : public QObject
{
    Q_OBJECT
private slots:
    void signOutWhileWaitersAreServed();
    void restoreStartedWhenARejectionIsReported();
    void resetAbandonsARefreshInFlight();
    void askingAgainAfterAFailureWaitsForTheBackoff();
};

// Three callers wait on one refresh: a future whose continuation signs out, then a second
// future, then a request. The sign-out happens while the refresher hands out the new token.
void tst_SessionReentrancy::signOutWhileWaitersAreServed()
{
    Peer peer(ServerKind::Tessera);
    TESSERA_START_PEER(peer);
    FaultProxy proxy(peer.baseUrl());
    TESSERA_START_PROXY(proxy);
    Session session(memoryConfig(proxy.url()));
    AuthenticatedNetworkAccessManager network(&session);
    QVERIFY(!login(session));
    SessionPrivate::get(&session)->expireAccessTokenForTesting();

    QObject context;
    std::optional<QByteArray> first;
    QFuture<void> signedOut;
    session.freshAccessToken().then(&context, [&](Secret token) {
        first = token.reveal().toByteArray();
        signedOut = session.logout();
    });
    QFuture<Secret> second = session.freshAccessToken();
    QNetworkReply *third =
            network.get(QNetworkRequest(proxy.url().resolved(QUrl(QStringLiteral("/api/me/")))));
    QVERIFY(!second.isFinished());

    QTRY_VERIFY_WITH_TIMEOUT(second.isFinished() && third->isFinished(), 20000);
    QVERIFY(first.has_value());
    QCOMPARE(first->count('.'), 2);
    QCOMPARE(errorOf(second).code(), Error::Code::NotSignedIn);
    QCOMPARE(third->error(), QNetworkReply::AuthenticationRequiredError);
    QVERIFY(!waitFor(signedOut));
    // Neither the old token nor an empty "Bearer " went out after the sign-out.
    QCOMPARE(proxy.requestCount(MePath), 0);
}

// A background refresh is rejected; the app restores at once, from stateChanged. The old
// rejection is not reported into the restore, which reads storage only after the rejected
// token's removal has landed, so it never presents that token again.
void tst_SessionReentrancy::restoreStartedWhenARejectionIsReported()
{
    Peer peer(ServerKind::Tessera);
    TESSERA_START_PEER(peer);
    FaultProxy proxy(peer.baseUrl());
    TESSERA_START_PROXY(proxy);
    const SessionConfig config = makeConfig(proxy.url(), QStringLiteral("reentrancy"));
    Session session(config);
    auto *store = new TestStore;
    SessionPrivate::get(&session)->setStoreForTesting(std::unique_ptr<TestStore>(store));
    QVERIFY(!login(session));
    Test::HttpClient http(peer.baseUrl());
    const QByteArray stored = store->value(config.storageKey(TestUser));
    QCOMPARE(http.blacklist(QString::fromLatin1(stored)).status, 200);

    QSignalSpy errors(&session, &Session::errorOccurred);
    QFuture<void> restoring;
    connect(&session, &Session::stateChanged, this, [&](Session::State state) {
        if (state == Session::State::ReauthRequired && !restoring.isValid())
            restoring = session.restore(TestUser); // reads the token at once
    });
    SessionPrivate::get(&session)->refreshNowForTesting();
    QTRY_VERIFY_WITH_TIMEOUT(restoring.isValid(), 20000);
    const Error restored = waitFor(restoring);

    // Nothing is stored any more: the restore found no session, and said so itself.
    QCOMPARE(restored.code(), Error::Code::NotSignedIn);
    QCOMPARE(session.lastError(), restored);
    QCOMPARE(session.state(), Session::State::SignedOut);
    QTest::qWait(200);
    QCOMPARE(errors.count(), 0);
    QVERIFY(!store->contains(config.storageKey(TestUser)));
    // The rejected token was presented once, by the background refresh.
    QCOMPARE(proxy.requestCount(RefreshPath), 1);
    const QStringList events = store->events();
    const QString key = config.storageKey(TestUser);
    QVERIFY2(events.lastIndexOf(QStringLiteral("read ") + key)
                     > events.lastIndexOf(QStringLiteral("remove ") + key),
             qPrintable(events.join(QStringLiteral(", "))));
}

// reset() is called by the session only when no refresh runs; here while one does (its
// answer held in the proxy). It fails the waiting caller, gives up the lock and the refresh;
// the answer that comes later is ignored, and the next caller's refresh works.
void tst_SessionReentrancy::resetAbandonsARefreshInFlight()
{
    Peer peer(ServerKind::Tessera);
    TESSERA_START_PEER(peer);
    FaultProxy proxy(peer.baseUrl());
    TESSERA_START_PROXY(proxy);
    const SessionConfig config = makeConfig(proxy.url(), QStringLiteral("reentrancy"));
    Session session(config);
    SessionPrivate::get(&session)->setStoreForTesting(std::make_unique<TestStore>());
    QVERIFY(!login(session));
    proxy.setRule([](const RequestInfo &request) {
        return request.path == RefreshPath ? Action::holdResponse() : Action::forward();
    });
    QSignalSpy held(&proxy, &FaultProxy::responseHeld);
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    const QFuture<Secret> waiting = session.freshAccessToken();
    QVERIFY(held.wait(20000));
    CrossProcessLock lock(config.storageKey(TestUser));
    QVERIFY(!canLock(lock, 200)); // the refresh holds it

    const Error reason(Error::Code::Cancelled, QStringLiteral("reset"));
    SessionPrivate::get(&session)->resetRefresherForTesting(reason);
    QVERIFY(waiting.isFinished());
    QCOMPARE(errorOf(waiting), reason);
    QVERIFY(canLock(lock, 2000));

    proxy.clearRule();
    QVERIFY(proxy.releaseHeld(held.first().first().toInt()));
    QTest::qWait(300);
    QCOMPARE(refreshCount(session), 0); // the abandoned answer is not used
    // The next caller starts a refresh of its own (the server's grace window hands out the
    // successor of the token the abandoned refresh presented).
    Error error;
    QVERIFY2(freshToken(session, 20000, &error).has_value(), qPrintable(error.message()));
    QCOMPARE(refreshCount(session), 1);
    QCOMPARE(session.state(), Session::State::SignedIn);
}

// A refresh fails transiently; the caller asks again from its failure handler. The second
// refresh waits for the backoff (at least 500 ms) instead of going to the failing server at
// once.
void tst_SessionReentrancy::askingAgainAfterAFailureWaitsForTheBackoff()
{
    Peer peer(ServerKind::Tessera);
    TESSERA_START_PEER(peer);
    FaultProxy proxy(peer.baseUrl());
    TESSERA_START_PROXY(proxy);
    Session session(memoryConfig(proxy.url()));
    QVERIFY(!login(session));
    QElapsedTimer clock;
    clock.start();
    QList<qint64> refreshesAt;
    proxy.setRule([&](const RequestInfo &request) {
        if (request.path != RefreshPath)
            return Action::forward();
        refreshesAt << clock.elapsed();
        return Action::replaceResponse(503, "application/json", R"({"detail":"unavailable"})");
    });
    SessionPrivate::get(&session)->expireAccessTokenForTesting();

    QObject context;
    qint64 failedAt = -1;
    QFuture<Secret> again;
    session.freshAccessToken()
            .then(&context, [](Secret) {})
            .onFailed(&context, [&](const ErrorException &) {
                failedAt = clock.elapsed();
                again = session.freshAccessToken();
            });
    QTRY_VERIFY_WITH_TIMEOUT(again.isValid() && again.isFinished(), 20000);
    QCOMPARE(errorOf(again).code(), Error::Code::ServerError);
    QCOMPARE(refreshesAt.size(), 2);
    // Backoff::nextDelayMs(): at least half of one second; a coarse timer fires up to 5 % early.
    QVERIFY2(refreshesAt.at(1) - failedAt >= 475,
             qPrintable(QStringLiteral("second refresh %1 ms after the failure")
                                .arg(refreshesAt.at(1) - failedAt)));
}

QTEST_GUILESS_MAIN(tst_SessionReentrancy)
#include "tst_session_reentrancy.moc"

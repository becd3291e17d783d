// SPDX-License-Identifier: MIT
// Refresh-token rotation (issue 3, behaviours 6, 7 and 8):
// - two processes of one app and account refreshing at the same moment both
//   stay signed in (the cross-process lock; the loser re-reads storage);
// - the rotated refresh token is written before the new access token is used;
//   a failed write is reported and the rotated token kept in memory;
// - a client killed (SIGKILL) after the server rotated but before it stored the
//   new token recovers on the next start through tessera-server's grace window
//   without a new login. SimpleJWT has no grace window: there (and on
//   tessera-server with --reuse-grace 0) the next start ends in ReauthRequired
//   and the dead token is removed from storage.
#include "crossprocesslock_p.h"
#include "sessiontestsupport.h"

#include <tessera/authenticatednetworkaccessmanager.h>

#include <QtCore/QDateTime>
#include <QtNetwork/QNetworkReply>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <csignal>

using namespace Tessera;
using namespace Tessera::SessionTest;

class tst_SessionRotation : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void twoProcessesRefreshAtOnce_data();
    void twoProcessesRefreshAtOnce();
    void lockFollowsTheAccount();
    void rotatedTokenStoredBeforeUse_data() { addServerRows(); }
    void rotatedTokenStoredBeforeUse();
    void failedWriteKeepsRotatedToken_data();
    void failedWriteKeepsRotatedToken();
    void crashMidRotation_data();
    void crashMidRotation();

private:
    QString m_secretServiceProblem;
};

void tst_SessionRotation::initTestCase()
{
    m_secretServiceProblem = secretServiceProblem();
}

// Behaviour 6.
void tst_SessionRotation::twoProcessesRefreshAtOnce_data()
{
    QTest::addColumn<ServerKind>("server");
    QTest::addColumn<int>("grace");
    QTest::newRow("tessera: grace window 10 s") << ServerKind::Tessera << 10;
    QTest::newRow("tessera: grace 0, only the lock protects") << ServerKind::Tessera << 0;
    QTest::newRow("django: no grace window, only the lock protects") << ServerKind::Django << -1;
}

void tst_SessionRotation::twoProcessesRefreshAtOnce()
{
    QFETCH(ServerKind, server);
    QFETCH(int, grace);
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    Peer peer(server, {300, grace, {}, {}});
    TESSERA_START_PEER(peer);
    const QString appId = uniqueAppId(QStringLiteral("twoprocs"));
    const ProbeRun signedIn =
            runProbe(probeArguments(QStringLiteral("login"), peer.baseUrl(), appId),
                     TestPassword.toUtf8() + '\n');
    QVERIFY2(signedIn.result() == QLatin1String("result ok"), qPrintable(signedIn.describe()));

    // Both restore (one refresh each), then refresh again at the same millisecond.
    const qint64 at = QDateTime::currentMSecsSinceEpoch() + 3000;
    const QStringList args = probeArguments(QStringLiteral("refresh"), peer.baseUrl(), appId,
                                            {QStringLiteral("--at"), QString::number(at)});
    auto a = startProbe(args);
    auto b = startProbe(args);
    const ProbeRun runA = collect(*a);
    const ProbeRun runB = collect(*b);
    for (const ProbeRun *run : {&runA, &runB}) {
        QVERIFY2(run->exitCode == 0, qPrintable(run->describe()));
        QVERIFY2(run->hasLine(QStringLiteral("refreshing")), qPrintable(run->describe()));
        QVERIFY2(run->result() == QLatin1String("result ok"), qPrintable(run->describe()));
        QVERIFY2(!run->hasLine(QStringLiteral("state ReauthRequired"))
                         && !run->hasLine(QStringLiteral("state SignedOut"))
                         && !run->hasLineStartingWith(QStringLiteral("error ")),
                 qPrintable(run->describe()));
    }
    // Four refreshes, each spending a different token: no reuse, and no grace-window
    // reissue either (the loser read the winner's token from storage).
    QCOMPARE(peer.reuseDetections(), 0);
    QCOMPARE(peer.graceReissues(), 0);
    QCOMPARE(peer.rotations(), 4);

    // And the account still works from storage.
    const ProbeRun after = runProbe(probeArguments(QStringLiteral("get"), peer.baseUrl(), appId));
    QVERIFY2(after.result() == QLatin1String("result ok")
                     && after.hasLineStartingWith(QStringLiteral("http 200 ")),
             qPrintable(after.describe()));
}

// The refresh lock is the signed-in account's: a session that signs out and signs in as
// someone else serialises its refreshes with that account's other processes, not with the
// first account's.
void tst_SessionRotation::lockFollowsTheAccount()
{
    const QString bob = QStringLiteral("bob");
    const QByteArray bobPassword = "bob's password, long enough";
    Peer peer(ServerKind::Tessera);
    QVERIFY2(peer.tessera()->addUser(TestUser, TestPassword.toUtf8()),
             qPrintable(peer.tessera()->errorString()));
    QVERIFY2(peer.tessera()->addUser(bob, bobPassword), qPrintable(peer.tessera()->errorString()));
    TESSERA_START_PEER(peer);
    const SessionConfig config = makeConfig(peer.baseUrl(), QStringLiteral("lockaccount"));
    Session session(config);
    SessionPrivate::get(&session)->setStoreForTesting(std::make_unique<TestStore>());

    // Alice refreshes once (under her lock), then signs out; Bob signs in.
    QVERIFY(!login(session));
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    QVERIFY(freshToken(session).has_value());
    QVERIFY(!logout(session));
    const Error error = login(session, bob, QString::fromUtf8(bobPassword));
    QVERIFY2(!error, qPrintable(error.message()));

    // Another process of this app is refreshing Bob's session: it holds Bob's lock.
    CrossProcessLock otherProcess(config.storageKey(bob));
    bool held = false;
    otherProcess.acquire([&held](bool locked) { held = locked; });
    QTRY_VERIFY(held);
    const int rotations = peer.rotations();
    SessionPrivate::get(&session)->refreshNowForTesting();
    QTest::qWait(1500);
    QCOMPARE(session.state(), Session::State::Refreshing); // waiting for Bob's lock
    QCOMPARE(peer.rotations(), rotations);
    otherProcess.release();
    QTRY_COMPARE_WITH_TIMEOUT(session.state(), Session::State::SignedIn, 10000);
    QCOMPARE(peer.rotations(), rotations + 1);
    QCOMPARE(session.user(), bob);
}

// Behaviour 7, first half.
void tst_SessionRotation::rotatedTokenStoredBeforeUse()
{
    QFETCH(ServerKind, server);
    Peer peer(server);
    TESSERA_START_PEER(peer);
    FaultProxy proxy(peer.baseUrl());
    TESSERA_START_PROXY(proxy);
    const SessionConfig config = makeConfig(proxy.url(), QStringLiteral("ordering"));
    Session session(config);
    auto *store = new TestStore;
    SessionPrivate::get(&session)->setStoreForTesting(std::unique_ptr<TestStore>(store));
    AuthenticatedNetworkAccessManager network(&session);
    TESSERA_LOGIN(session);
    const QString key = config.storageKey(TestUser);
    const QByteArray first = store->value(key);
    QVERIFY(!first.isEmpty());

    store->setHoldWrites(true);
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    QNetworkReply *reply =
            network.get(QNetworkRequest(config.endpoint(QStringLiteral("/api/me/"))));
    QTRY_COMPARE_WITH_TIMEOUT(store->heldWrites(), 1, 10000);
    // The server has rotated and answered; the new refresh token is on its way to
    // storage. Until it is there, the new access token is not used.
    QCOMPARE(peer.rotations(), 1);
    QTest::qWait(700);
    QCOMPARE(proxy.requestCount(MePath), 0);
    QVERIFY(!reply->isFinished());
    QCOMPARE(refreshCount(session), 0);
    QCOMPARE(store->value(key), first);

    store->releaseWrites();
    QTRY_VERIFY_WITH_TIMEOUT(reply->isFinished(), 10000);
    QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 200);
    QCOMPARE(proxy.requestCount(MePath), 1);
    const QByteArray second = store->value(key);
    QVERIFY(!second.isEmpty() && second != first);
    const QStringList events = store->events();
    QVERIFY2(events.indexOf(QStringLiteral("write-done %1 0").arg(key))
                     > events.indexOf(QStringLiteral("write %1").arg(key)),
             qPrintable(events.join(u'\n')));
    delete reply;
}

// Behaviour 7, second half. tessera-server runs without a grace window here, so
// presenting the old token again would revoke the session: the follow-up
// refresh only succeeds with the rotated token the session kept in memory.
void tst_SessionRotation::failedWriteKeepsRotatedToken_data()
{
    QTest::addColumn<ServerKind>("server");
    QTest::addColumn<int>("status");
    QTest::addColumn<Error::Code>("expected");
    using Status = Platform::StoreResult::Status;
    QTest::newRow("tessera (grace 0): write fails")
            << ServerKind::Tessera << int(Status::Other) << Error::Code::StorageFailure;
    QTest::newRow("tessera (grace 0): keyring locked")
            << ServerKind::Tessera << int(Status::Locked) << Error::Code::StorageLocked;
    QTest::newRow("django: write fails")
            << ServerKind::Django << int(Status::Other) << Error::Code::StorageFailure;
}

void tst_SessionRotation::failedWriteKeepsRotatedToken()
{
    QFETCH(ServerKind, server);
    QFETCH(int, status);
    QFETCH(Error::Code, expected);
    Peer peer(server, {300, 0, {}, {}});
    TESSERA_START_PEER(peer);
    const SessionConfig config = makeConfig(peer.baseUrl(), QStringLiteral("failedwrite"));
    Session session(config);
    auto *store = new TestStore;
    SessionPrivate::get(&session)->setStoreForTesting(std::unique_ptr<TestStore>(store));
    TESSERA_LOGIN(session);
    const QString key = config.storageKey(TestUser);
    const QByteArray first = store->value(key);

    QList<Error> errors;
    connect(&session, &Session::errorOccurred, this,
            [&errors](const Error &e) { errors.append(e); });
    store->setWriteStatus(TestStore::Status(status));
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    // The server rotated; storing the new token fails. The failure is reported, the
    // session carries on with the new tokens.
    const auto access = freshToken(session);
    QVERIFY(access.has_value());
    QCOMPARE(refreshCount(session), 1);
    QCOMPARE(errors.size(), 1);
    QCOMPARE(errors.first().code(), expected);
    QVERIFY2(errors.first().message().contains(QLatin1String("memory")),
             qPrintable(errors.first().message()));
    QCOMPARE(session.lastError().code(), expected);
    QCOMPARE(session.state(), Session::State::SignedIn);
    QCOMPARE(store->value(key), first); // storage still has the spent token

    // The rotated token was kept: the next refresh spends it, not the stale stored one.
    store->setWriteStatus(TestStore::Status::Ok);
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    QVERIFY(freshToken(session).has_value());
    QCOMPARE(session.state(), Session::State::SignedIn);
    QCOMPARE(refreshCount(session), 2);
    QCOMPARE(peer.rotations(), 2);
    QCOMPARE(peer.reuseDetections(), 0);
    // Storage has caught up with the newest token.
    const QByteArray third = store->value(key);
    QVERIFY(!third.isEmpty() && third != first);
    Test::HttpClient http(peer.baseUrl());
    TESSERA_EXPECT_STATUS(http.refresh(QString::fromLatin1(third)), 200);
}

// Behaviour 8.
void tst_SessionRotation::crashMidRotation_data()
{
    QTest::addColumn<ServerKind>("server");
    QTest::addColumn<int>("grace");
    QTest::addColumn<bool>("recovers");
    QTest::newRow("tessera: grace window recovers without a new login")
            << ServerKind::Tessera << 10 << true;
    QTest::newRow("tessera (grace 0): reuse, ReauthRequired") << ServerKind::Tessera << 0 << false;
    QTest::newRow("django: no grace window, ReauthRequired") << ServerKind::Django << -1 << false;
}

void tst_SessionRotation::crashMidRotation()
{
    QFETCH(ServerKind, server);
    QFETCH(int, grace);
    QFETCH(bool, recovers);
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    Peer peer(server, {300, grace, {}, {}});
    TESSERA_START_PEER(peer);
    FaultProxy proxy(peer.baseUrl());
    TESSERA_START_PROXY(proxy);
    const QString appId = uniqueAppId(QStringLiteral("crash"));
    const SessionConfig probeConfig(proxy.url(), appId); // what the probe runs with
    const ProbeRun signedIn = runProbe(probeArguments(QStringLiteral("login"), proxy.url(), appId),
                                       TestPassword.toUtf8() + '\n');
    QVERIFY2(signedIn.result() == QLatin1String("result ok"), qPrintable(signedIn.describe()));
    const QByteArray stored = keychainRefreshToken(probeConfig);
    QVERIFY(!stored.isEmpty());

    // The next start refreshes; the server rotates, and the answer is held in the proxy.
    proxy.setRule([](const RequestInfo &request) {
        return request.path == RefreshPath ? Action::holdResponse() : Action::forward();
    });
    QSignalSpy held(&proxy, &FaultProxy::responseHeld);
    auto client = startProbe(probeArguments(QStringLiteral("restore"), proxy.url(), appId));
    QVERIFY2(held.wait(15000), "the refresh response never reached the proxy");
    QCOMPARE(peer.rotations(), 1); // the server rotated
    // The client has not seen the answer: killed now, it never stores the new token.
    ::kill(pid_t(client->processId()), SIGKILL);
    const ProbeRun killed = collect(*client, 10000);
    QVERIFY2(killed.exitCode == -1 && killed.result().isEmpty(), qPrintable(killed.describe()));
    proxy.clearRule();
    QCOMPARE(keychainRefreshToken(probeConfig), stored);

    // The next start, from storage alone (the spent token).
    const ProbeRun next = runProbe(probeArguments(QStringLiteral("get"), proxy.url(), appId));
    if (recovers) {
        // tessera-server: the spent token is the parent of the current one and within
        // the grace window, so the current one comes back; the session goes on.
        QVERIFY2(next.result() == QLatin1String("result ok")
                         && next.hasLineStartingWith(QStringLiteral("http 200 ")),
                 qPrintable(next.describe()));
        QCOMPARE(peer.graceReissues(), 1);
        QCOMPARE(peer.reuseDetections(), 0);
        const QByteArray recovered = keychainRefreshToken(probeConfig);
        QVERIFY(!recovered.isEmpty() && recovered != stored);
        const ProbeRun again =
                runProbe(probeArguments(QStringLiteral("restore"), proxy.url(), appId));
        QVERIFY2(again.result() == QLatin1String("result ok"), qPrintable(again.describe()));
    } else {
        // No grace window: the spent token is refused (tessera-server: as reuse, which
        // revokes the family; SimpleJWT: blacklisted). Sign in again; the dead token is
        // removed from storage.
        QVERIFY2(next.result() == QLatin1String("result error SessionRejected fatal")
                         && next.hasLine(QStringLiteral("state ReauthRequired")),
                 qPrintable(next.describe()));
        QCOMPARE(peer.reuseDetections(), server == ServerKind::Tessera ? 1 : 0);
        QTRY_VERIFY_WITH_TIMEOUT(keychainRefreshToken(probeConfig).isEmpty(), 5000);
    }
}

QTEST_GUILESS_MAIN(tst_SessionRotation)
#include "tst_session_rotation.moc"

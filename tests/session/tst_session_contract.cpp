// SPDX-License-Identifier: MIT
// The asynchronous and error contract of Tessera::Session (issue 10, docs/SDK.md):
// - every operation a caller starts returns a future that finishes, or fails with
//   Tessera::ErrorException holding the Error, exactly once;
// - a failure is reported by the future of the operation that met it, never also by
//   errorOccurred, which is for work no caller waits on (a proactive refresh);
// - lastError is cleared when an operation starts and set when one fails;
// - freshAccessToken() on a signed-out session fails with NotSignedIn, whatever failed before;
// - an operation refused up front still finishes from the event loop, never inside the call;
// - every continuation docs/SDK.md recommends (and the demo app and CLI use) runs once, also
//   when attached while the operation is still running;
// - setConfig() applies while signed out and nothing runs only;
// - a destroyed session finishes every future and every request still waiting for a token;
// - the signals are private: only the SDK can emit them (checked at compile time below).
#include "sessiontestsupport.h"

#include <tessera/authenticatednetworkaccessmanager.h>

#include <QtNetwork/QNetworkReply>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <type_traits>

using namespace Tessera;
using namespace Tessera::SessionTest;

// Code outside the SDK cannot emit a Session signal: each takes a trailing QPrivateSignal,
// which only Session (and its private side) can construct.
static_assert(!std::is_invocable_v<decltype(&Session::stateChanged), Session *, Session::State>);
static_assert(!std::is_invocable_v<decltype(&Session::userChanged), Session *>);
static_assert(!std::is_invocable_v<decltype(&Session::accessExpiresAtChanged), Session *>);
static_assert(!std::is_invocable_v<decltype(&Session::busyChanged), Session *>);
static_assert(!std::is_invocable_v<decltype(&Session::lastErrorChanged), Session *>);
static_assert(!std::is_invocable_v<decltype(&Session::configChanged), Session *>);
static_assert(!std::is_invocable_v<decltype(&Session::errorOccurred), Session *, const Error &>);

class tst_SessionContract : public QObject
{
    Q_OBJECT
private slots:
    void init();
    void operationFailureReportedOnce_data();
    void operationFailureReportedOnce();
    void backgroundFailureReportedByErrorOccurred();
    void lastErrorClearedWhenOperationStarts();
    void freshTokenWhenSignedOutIsNotSignedIn();
    void continuationsSeeTheErrorAndTheToken();
    void tokenContinuationsOnARunningOperation_data();
    void tokenContinuationsOnARunningOperation();
    void continuationsOnARunningOperation_data();
    void continuationsOnARunningOperation();
    void refusedOperationFinishesFromTheEventLoop();
    void setConfigOnlyWhileSignedOut();
    void setConfigRefusedWhileARejectionSettles_data();
    void setConfigRefusedWhileARejectionSettles();
    void signOutCancelsSignIn();
    void destroyedSessionFailsItsOperations();
    void destroyedSessionFinishesWaitingRequests_data();
    void destroyedSessionFinishesWaitingRequests();

private:
    // Signed in with a store the test reads; `revoked`: the server has revoked the session
    // (its next refresh is rejected).
    bool signIn(Session &session, bool revoked);
    std::unique_ptr<Peer> m_peer;
    SessionConfig config(const QString &name) const
    {
        SessionConfig config = makeConfig(m_peer->baseUrl(), name);
        config.setStoragePolicy(SessionConfig::StoragePolicy::MemoryOnly);
        return config;
    }
};

// A server of its own for each test: its login rate limit counts every attempt.
void tst_SessionContract::init()
{
    m_peer = std::make_unique<Peer>(ServerKind::Tessera);
    TESSERA_START_PEER(*m_peer);
}

void tst_SessionContract::operationFailureReportedOnce_data()
{
    QTest::addColumn<QString>("operation");
    QTest::addColumn<Error::Code>("expected");
    QTest::newRow("login with a wrong password")
            << QStringLiteral("login") << Error::Code::InvalidCredentials;
    QTest::newRow("restore with nothing stored")
            << QStringLiteral("restore") << Error::Code::NotSignedIn;
    QTest::newRow("freshAccessToken with a revoked session")
            << QStringLiteral("token") << Error::Code::SessionRejected;
}

void tst_SessionContract::operationFailureReportedOnce()
{
    QFETCH(QString, operation);
    QFETCH(Error::Code, expected);
    SessionConfig settings = makeConfig(m_peer->baseUrl(), QStringLiteral("contract"));
    Session session(settings);
    SessionPrivate::get(&session)->setStoreForTesting(std::make_unique<TestStore>());
    if (operation == QLatin1String("token")) {
        QVERIFY(!login(session));
        Test::HttpClient http(m_peer->baseUrl());
        const QByteArray stored = storedRefreshToken(session).data.reveal().toByteArray();
        TESSERA_EXPECT_STATUS(http.blacklist(QString::fromLatin1(stored)), 200);
        SessionPrivate::get(&session)->expireAccessTokenForTesting();
    }
    QSignalSpy errors(&session, &Session::errorOccurred);
    QSignalSpy lastErrorChanges(&session, &Session::lastErrorChanged);

    Error error;
    if (operation == QLatin1String("login"))
        error = login(session, TestUser, QStringLiteral("not the password"));
    else if (operation == QLatin1String("restore"))
        error = restore(session);
    else
        QVERIFY(!freshToken(session, 20000, &error).has_value());

    QCOMPARE(error.code(), expected);
    QCOMPARE(session.lastError(), error);
    QCOMPARE(lastErrorChanges.count(), 1);
    QTest::qWait(100); // nothing more arrives later either
    QCOMPARE(errors.count(), 0);
}

void tst_SessionContract::backgroundFailureReportedByErrorOccurred()
{
    Peer peer(ServerKind::Tessera);
    TESSERA_START_PEER(peer);
    Session session(makeConfig(peer.baseUrl(), QStringLiteral("contract")));
    SessionPrivate::get(&session)->setStoreForTesting(std::make_unique<TestStore>());
    QVERIFY(!login(session));
    QSignalSpy errors(&session, &Session::errorOccurred);
    QVERIFY(peer.stop());
    // The proactive refresh, which no caller waits on.
    SessionPrivate::get(&session)->refreshNowForTesting();
    QTRY_COMPARE_WITH_TIMEOUT(errors.count(), 1, 15000);
    const Error error = errors.first().first().value<Error>();
    QCOMPARE(error.code(), Error::Code::NetworkError);
    QCOMPARE(session.lastError(), error);
    QCOMPARE(session.state(), Session::State::SignedIn);
}

void tst_SessionContract::lastErrorClearedWhenOperationStarts()
{
    Session session(config(QStringLiteral("contract")));
    QCOMPARE(login(session, TestUser, QStringLiteral("not the password")).code(),
             Error::Code::InvalidCredentials);
    QCOMPARE(session.lastError().code(), Error::Code::InvalidCredentials);
    QSignalSpy lastErrorChanges(&session, &Session::lastErrorChanged);
    const QFuture<void> signedIn = session.login(TestUser, TestPassword);
    QVERIFY(!session.lastError()); // at once, inside the call
    QCOMPARE(lastErrorChanges.count(), 1);
    QVERIFY(!waitFor(signedIn));
    QVERIFY(!session.lastError());
    QCOMPARE(lastErrorChanges.count(), 1);
}

void tst_SessionContract::freshTokenWhenSignedOutIsNotSignedIn()
{
    Session session(config(QStringLiteral("contract")));
    QCOMPARE(login(session, TestUser, QStringLiteral("not the password")).code(),
             Error::Code::InvalidCredentials);
    const QFuture<Secret> token = session.freshAccessToken();
    QVERIFY(token.isFinished()); // nothing to wait for
    QCOMPARE(errorOf(token).code(), Error::Code::NotSignedIn);
    QCOMPARE(session.lastError().code(), Error::Code::NotSignedIn);

    // The same after a sign-out.
    QVERIFY(!login(session));
    QVERIFY(!logout(session));
    QCOMPARE(errorOf(session.freshAccessToken()).code(), Error::Code::NotSignedIn);
}

void tst_SessionContract::continuationsSeeTheErrorAndTheToken()
{
    Session session(config(QStringLiteral("contract")));
    QObject context;
    bool continued = false;
    std::optional<Error> caught;
    session.login(TestUser, QStringLiteral("not the password"))
            .then(&context, [&continued] { continued = true; })
            .onFailed(&context,
                      [&caught](const ErrorException &failure) { caught = failure.error(); });
    QTRY_VERIFY_WITH_TIMEOUT(caught.has_value(), 15000);
    QCOMPARE(caught->code(), Error::Code::InvalidCredentials);
    QVERIFY(!continued);

    QVERIFY(!login(session));
    std::optional<QByteArray> token;
    std::optional<Error> failed;
    session.freshAccessToken()
            .then(&context, [&token](Secret secret) { token = secret.reveal().toByteArray(); })
            .onFailed(&context,
                      [&failed](const ErrorException &failure) { failed = failure.error(); });
    QTRY_VERIFY_WITH_TIMEOUT(token.has_value() || failed.has_value(), 15000);
    QVERIFY2(!failed, qPrintable(failed.value_or(Error()).message()));
    QCOMPARE(token->count('.'), 2);
}

bool tst_SessionContract::signIn(Session &session, bool revoked)
{
    SessionPrivate::get(&session)->setStoreForTesting(std::make_unique<TestStore>());
    const Error error = login(session);
    if (error) {
        qWarning() << "login failed:" << error;
        return false;
    }
    if (!revoked)
        return true;
    Test::HttpClient http(m_peer->baseUrl());
    const QByteArray stored = storedRefreshToken(session).data.reveal().toByteArray();
    return http.blacklist(QString::fromLatin1(stored)).status == 200;
}

namespace {

// What the continuations of one chain saw.
struct Seen
{
    int calls = 0;
    std::optional<QByteArray> token;
    std::optional<Error> error; // NoError: a handler that is not told the error ran
    bool done() const { return token.has_value() || error.has_value(); }
};

} // namespace

// Each way docs/SDK.md shows of taking a token, attached while a refresh runs (so Qt runs it
// when the refresh ends, not at once), on success and on failure. "value": the continuation
// takes the move-only Secret (Qt moves it out with takeResult()); "future": it takes the
// QFuture and reads errorOf() first. The two shipped callers: demo-app/cli/main.cpp's token
// command (value, context) and demo-app/desktop/securitylab.cpp (value, context, onFailed()
// without an argument).
void tst_SessionContract::tokenContinuationsOnARunningOperation_data()
{
    QTest::addColumn<QString>("pattern");
    QTest::addColumn<bool>("succeeds");
    for (const char *pattern : {"value, context", "value, no context", "value, context, onFailed()",
                                "future, context", "future, no context"}) {
        QTest::addRow("%s: success", pattern) << QString::fromLatin1(pattern) << true;
        QTest::addRow("%s: failure", pattern) << QString::fromLatin1(pattern) << false;
    }
}

void tst_SessionContract::tokenContinuationsOnARunningOperation()
{
    QFETCH(QString, pattern);
    QFETCH(bool, succeeds);
    auto session =
            std::make_unique<Session>(makeConfig(m_peer->baseUrl(), QStringLiteral("contract")));
    QVERIFY(signIn(*session, !succeeds));
    SessionPrivate::get(session.get())->expireAccessTokenForTesting();

    QObject context;
    auto seen = std::make_shared<Seen>();
    auto takeValue = [seen](Secret token) {
        ++seen->calls;
        seen->token = token.reveal().toByteArray();
    };
    auto takeError = [seen](const ErrorException &failure) {
        ++seen->calls;
        seen->error = failure.error();
    };
    auto takeFuture = [seen](QFuture<Secret> future) {
        ++seen->calls;
        if (const Error error = errorOf(future))
            seen->error = error;
        else
            seen->token = future.takeResult().reveal().toByteArray();
    };
    if (pattern == u"value, context")
        session->freshAccessToken().then(&context, takeValue).onFailed(&context, takeError);
    else if (pattern == u"value, no context")
        session->freshAccessToken().then(takeValue).onFailed(takeError);
    else if (pattern == u"value, context, onFailed()")
        session->freshAccessToken().then(&context, takeValue).onFailed(&context, [seen] {
            ++seen->calls;
            seen->error = Error();
        });
    else if (pattern == u"future, context")
        session->freshAccessToken().then(&context, takeFuture);
    else if (pattern == u"future, no context")
        session->freshAccessToken().then(takeFuture);
    else
        QFAIL("unknown pattern");
    QCOMPARE(seen->calls, 0); // the refresh runs: nothing has finished yet

    QTRY_VERIFY_WITH_TIMEOUT(seen->done(), 20000);
    QTest::qWait(200); // nothing runs a second time
    QCOMPARE(seen->calls, 1);
    if (succeeds) {
        QVERIFY(seen->token.has_value());
        QCOMPARE(seen->token->count('.'), 2);
        QCOMPARE(session->state(), Session::State::SignedIn);
        QVERIFY(freshToken(*session).has_value()); // and the session goes on
    } else {
        QVERIFY(!seen->token.has_value());
        if (pattern != u"value, context, onFailed()")
            QCOMPARE(seen->error->code(), Error::Code::SessionRejected);
        QTRY_COMPARE_WITH_TIMEOUT(session->state(), Session::State::ReauthRequired, 5000);
    }
    session.reset();
    QCOMPARE(seen->calls, 1);
}

// The same for an operation without a value (docs/SDK.md: login().then(...).onFailed(...)).
void tst_SessionContract::continuationsOnARunningOperation_data()
{
    QTest::addColumn<bool>("withContext");
    QTest::addColumn<bool>("succeeds");
    QTest::newRow("context: success") << true << true;
    QTest::newRow("context: failure") << true << false;
    QTest::newRow("no context: success") << false << true;
    QTest::newRow("no context: failure") << false << false;
}

void tst_SessionContract::continuationsOnARunningOperation()
{
    QFETCH(bool, withContext);
    QFETCH(bool, succeeds);
    Session session(config(QStringLiteral("contract")));
    QObject context;
    auto seen = std::make_shared<Seen>();
    auto signedIn = [seen] {
        ++seen->calls;
        seen->token = QByteArray();
    };
    auto failed = [seen](const ErrorException &failure) {
        ++seen->calls;
        seen->error = failure.error();
    };
    const QString password = succeeds ? TestPassword : QStringLiteral("not the password");
    if (withContext)
        session.login(TestUser, password).then(&context, signedIn).onFailed(&context, failed);
    else
        session.login(TestUser, password).then(signedIn).onFailed(failed);
    QCOMPARE(seen->calls, 0);
    QTRY_VERIFY_WITH_TIMEOUT(seen->done(), 20000);
    QTest::qWait(200);
    QCOMPARE(seen->calls, 1);
    QCOMPARE(seen->token.has_value(), succeeds);
    if (!succeeds)
        QCOMPARE(seen->error->code(), Error::Code::InvalidCredentials);
}

void tst_SessionContract::refusedOperationFinishesFromTheEventLoop()
{
    Session session(config(QStringLiteral("contract")));
    const QFuture<void> refused = session.login(TestUser, QString());
    QVERIFY(!refused.isFinished());
    QCOMPARE(waitFor(refused).code(), Error::Code::InvalidCredentials);

    QVERIFY(!login(session));
    const QFuture<void> again = session.login(TestUser, TestPassword);
    QVERIFY(!again.isFinished());
    QCOMPARE(waitFor(again).code(), Error::Code::Cancelled); // signed in already
    QCOMPARE(session.state(), Session::State::SignedIn);
}

void tst_SessionContract::setConfigOnlyWhileSignedOut()
{
    Session session; // no configuration yet
    QCOMPARE(login(session).code(), Error::Code::InvalidConfiguration);
    QSignalSpy configChanges(&session, &Session::configChanged);
    const SessionConfig first = config(QStringLiteral("contract"));
    session.setConfig(first);
    QCOMPARE(configChanges.count(), 1);
    QCOMPARE(session.config().appId(), first.appId());
    QVERIFY(!login(session));

    // Signed in: kept, and said so.
    const SessionConfig second = config(QStringLiteral("contract"));
    session.setConfig(second);
    QCOMPARE(configChanges.count(), 1);
    QCOMPARE(session.config().appId(), first.appId());
    QCOMPARE(session.lastError().code(), Error::Code::Cancelled);
    QCOMPARE(session.state(), Session::State::SignedIn);
    QVERIFY(freshToken(session).has_value());

    QVERIFY(!logout(session));
    session.setConfig(second);
    QCOMPARE(configChanges.count(), 2);
    QCOMPARE(session.config().appId(), second.appId());
    QCOMPARE(session.state(), Session::State::SignedOut);
    const Error signedIn = login(session);
    QVERIFY2(!signedIn, qPrintable(signedIn.message()));
}

// A rejected refresh token is being removed from storage, in ReauthRequired (a state in which
// setConfig() otherwise applies): the store and the configuration must stay until it has
// landed, and so must they for whoever waits for it (a restore, a token).
void tst_SessionContract::setConfigRefusedWhileARejectionSettles_data()
{
    QTest::addColumn<QString>("waiting");
    QTest::newRow("a restore waits") << QStringLiteral("restore");
    QTest::newRow("a token waits") << QStringLiteral("token");
    QTest::newRow("nobody waits (a background refresh)") << QStringLiteral("nobody");
}

void tst_SessionContract::setConfigRefusedWhileARejectionSettles()
{
    QFETCH(QString, waiting);
    const SessionConfig settings = makeConfig(m_peer->baseUrl(), QStringLiteral("contract"));
    const QString key = settings.storageKey(TestUser);
    Session session(settings);
    std::unique_ptr<Session> signedIn;
    TestStore *store = nullptr;
    if (waiting == u"restore") {
        // Another instance signed in and stored the token; the server has revoked it since.
        signedIn = std::make_unique<Session>(settings);
        QVERIFY(signIn(*signedIn, true));
        store = new TestStore;
        SessionPrivate::get(&session)->setStoreForTesting(std::unique_ptr<TestStore>(store));
        store->put(key, storedRefreshToken(*signedIn).data.reveal().toByteArray());
    } else {
        QVERIFY(signIn(session, true));
        store = static_cast<TestStore *>(SessionPrivate::get(&session)->store());
    }
    QSignalSpy configChanges(&session, &Session::configChanged);
    const SessionConfig other = config(QStringLiteral("other"));
    bool tried = false;
    connect(&session, &Session::stateChanged, this, [&](Session::State state) {
        if (state != Session::State::ReauthRequired || tried)
            return;
        tried = true;
        QVERIFY(store->contains(key)); // the removal has not landed
        session.setConfig(other);
    });

    QFuture<void> restoring;
    QFuture<Secret> token;
    if (waiting == u"restore") {
        restoring = session.restore(TestUser);
    } else if (waiting == u"token") {
        SessionPrivate::get(&session)->expireAccessTokenForTesting();
        token = session.freshAccessToken();
    } else {
        SessionPrivate::get(&session)->refreshNowForTesting();
    }
    QTRY_VERIFY_WITH_TIMEOUT(tried, 20000);
    QCOMPARE(configChanges.count(), 0);
    QCOMPARE(session.config().appId(), settings.appId());

    // The removal lands in the store it started on; whoever waited hears the rejection.
    QTRY_VERIFY_WITH_TIMEOUT(!store->contains(key), 5000);
    if (waiting == u"restore")
        QCOMPARE(waitFor(restoring).code(), Error::Code::SessionRejected);
    if (waiting == u"token") {
        QTRY_VERIFY_WITH_TIMEOUT(token.isFinished(), 5000);
        QCOMPARE(errorOf(token).code(), Error::Code::SessionRejected);
    }
    QCOMPARE(session.state(), Session::State::ReauthRequired);
    QCOMPARE(SessionPrivate::get(&session)->store(), store);

    // Once nothing runs, it applies.
    session.setConfig(other);
    QCOMPARE(configChanges.count(), 1);
    QCOMPARE(session.config().appId(), other.appId());
    QCOMPARE(session.state(), Session::State::SignedOut);
}

void tst_SessionContract::signOutCancelsSignIn()
{
    Session session(config(QStringLiteral("contract")));
    const QFuture<void> signingIn = session.login(TestUser, TestPassword);
    QCOMPARE(session.state(), Session::State::SigningIn);
    const QFuture<void> signedOut = session.logout();
    QVERIFY(!waitFor(signedOut));
    QVERIFY(signingIn.isFinished());
    QCOMPARE(errorOf(signingIn).code(), Error::Code::Cancelled);
    QCOMPARE(session.state(), Session::State::SignedOut);
    QTest::qWait(500); // the login's answer arrives and changes nothing
    QCOMPARE(session.state(), Session::State::SignedOut);
    QVERIFY(!freshToken(session).has_value());
}

void tst_SessionContract::destroyedSessionFailsItsOperations()
{
    auto session = std::make_unique<Session>(config(QStringLiteral("contract")));
    QObject context;
    std::optional<Error> caught;
    QFuture<void> signingIn = session->login(TestUser, TestPassword);
    signingIn.then(&context, [] {}).onFailed(&context, [&caught](const ErrorException &failure) {
        caught = failure.error();
    });
    session.reset();
    QVERIFY(signingIn.isFinished());
    QCOMPARE(errorOf(signingIn).code(), Error::Code::Cancelled);
    QVERIFY(caught.has_value());
    QCOMPARE(caught->code(), Error::Code::Cancelled);
}

// Requests of an AuthenticatedNetworkAccessManager wait for a token like futures do; when the
// session goes they finish (OperationCanceledError), inside its destructor, whether they wait
// for a refresh or for the removal of a refresh token the server rejected.
void tst_SessionContract::destroyedSessionFinishesWaitingRequests_data()
{
    QTest::addColumn<bool>("rejected");
    QTest::newRow("waiting for a refresh") << false;
    QTest::newRow("waiting for a rejected token's removal") << true;
}

void tst_SessionContract::destroyedSessionFinishesWaitingRequests()
{
    QFETCH(bool, rejected);
    auto session =
            std::make_unique<Session>(makeConfig(m_peer->baseUrl(), QStringLiteral("contract")));
    QVERIFY(signIn(*session, rejected));
    AuthenticatedNetworkAccessManager network(session.get());
    SessionPrivate::get(session.get())->expireAccessTokenForTesting();
    QNetworkReply *reply = network.get(
            QNetworkRequest(m_peer->baseUrl().resolved(QUrl(QStringLiteral("/api/me/")))));
    QSignalSpy finished(reply, &QNetworkReply::finished);

    bool destroyed = false;
    auto destroy = [&] {
        QVERIFY(!reply->isFinished()); // still waiting
        session.reset();
        destroyed = true;
        QVERIFY(reply->isFinished()); // inside the destructor
    };
    if (rejected) {
        // The removal of the rejected token started before ReauthRequired was reported: its
        // read completes first, then this, while the removal itself is still running.
        connect(session.get(), &Session::stateChanged, this, [&](Session::State state) {
            if (state == Session::State::ReauthRequired)
                QMetaObject::invokeMethod(this, destroy, Qt::QueuedConnection);
        });
    } else {
        QCOMPARE(session->state(), Session::State::Refreshing);
        destroy();
    }
    QTRY_VERIFY_WITH_TIMEOUT(destroyed, 20000);
    QVERIFY(reply->isFinished());
    QCOMPARE(finished.count(), 1);
    QCOMPARE(reply->error(), QNetworkReply::OperationCanceledError);
    QVERIFY(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).isNull()); // never sent
}

QTEST_GUILESS_MAIN(tst_SessionContract)
#include "tst_session_contract.moc"

// SPDX-License-Identifier: MIT
// Session::signInWithDevice() (RFC 8628, issue 11) against a real authorization server
// (oauthpeer.h: oidc-provider of tests/interop/oidc, or tessera-server, by $TESSERA_OAUTH_PEER)
// with browser.py as the person on the verification page and the refresh token in the real
// keyring (scripts/with-keyring.sh): sign-in, restore in a fresh Session, refusal, and
// cancelSignIn() or logout() while polling. oidc-provider sends no interval, so the session
// polls it at RFC 8628's 5 s; tessera-server is told to send 1 s (--device-interval), which
// makes its sign-ins take a fifth as long. At oidc-provider only what depends on the peer, or
// is checked more closely there (its polls are counted), runs: sign-in and restore, cancel.
#include "session_p.h"

#include "keyringtest.h"
#include "oauthpeer.h"

#include <tessera/session.h>

#include <QtCore/QElapsedTimer>
#include <QtCore/QUrlQuery>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <memory>

using namespace Tessera;
using namespace Tessera::Test;

namespace {

// tessera-server's --device-interval here (oidc-provider's cannot be set).
constexpr int TesseraServerIntervalSeconds = 1;
// The millisecond clocks of the provider and of the client's timers round differently.
constexpr qint64 ClockGranularityMs = 2;

} // namespace

class tst_OAuthDeviceSession : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    void deviceSignInStoresAndRestores();
    void refusalStoresNothing();
    void cancelWhilePollingStopsPolling();
    void logoutWhilePollingEndsTheSignIn();
    void refusedWithoutOAuthProfile();

private:
    SessionConfig oauthConfig() const;
    // The interval the peer's device authorization answers carry.
    int pollIntervalMs() const { return m_peer->deviceIntervalSeconds() * 1000; }
    // The polls oidc-provider answered "authorization_pending" so far; -1 at tessera-server,
    // which does not log polls.
    int pendingPolls() const;
    // Returns once `session`, whose sign-in was just started, has polled at least once.
    bool waitUntilPolled(const QSignalSpy &requested, int pollsBefore);
    // Token grants the server logged so far: "event grant.success" at oidc-provider, "device
    // code exchanged" at tessera-server.
    int grantsIssued() const;
    // The person approves the sign-in after the session stopped polling: two intervals later
    // the server has issued nothing (a poll would have been granted) and the session is still
    // signed out.
    void approveLateAndExpectNothing(Session &session, const QSignalSpy &requested);

    std::unique_ptr<OAuthPeer> m_peer;
    QString m_secretServiceProblem;
};

SessionConfig tst_OAuthDeviceSession::oauthConfig() const
{
    SessionConfig config;
    config.setAppId(QStringLiteral("org.tessera.test.device-")
                    + QUuid::createUuid().toString(QUuid::Id128));
    config.setIssuer(m_peer->issuer());
    config.setClientId(m_peer->clientId());
    config.setRequestTimeout(std::chrono::seconds(30));
    return config;
}

int tst_OAuthDeviceSession::pendingPolls() const
{
    if (m_peer->isTesseraServer())
        return -1;
    return int(m_peer->process().serverStdout().count("event grant.error authorization_pending\n"));
}

bool tst_OAuthDeviceSession::waitUntilPolled(const QSignalSpy &requested, int pollsBefore)
{
    // Polling starts with deviceSignInRequested(); its first poll waits one interval.
    if (!QTest::qWaitFor([&] { return requested.size() == 1; }, FlowTimeoutMs))
        return false;
    if (m_peer->isTesseraServer()) {
        QTest::qWait(pollIntervalMs() + 1000);
        return true;
    }
    return QTest::qWaitFor([&] { return pendingPolls() > pollsBefore; }, FlowTimeoutMs);
}

int tst_OAuthDeviceSession::grantsIssued() const
{
    if (m_peer->isTesseraServer())
        return int(m_peer->process().serverStderr().count("device code exchanged"));
    return int(m_peer->process().serverStdout().count("event grant.success\n"));
}

void tst_OAuthDeviceSession::approveLateAndExpectNothing(Session &session,
                                                         const QSignalSpy &requested)
{
    const QUrl complete = requested.first().at(1).toUrl();
    const int grantsBefore = grantsIssued();
    ScriptedPerson person(session, *m_peer, m_peer->signInOptions());
    person.open(complete);
    QCOMPARE(person.exitCode(), 0);
    QTest::qWait(2 * pollIntervalMs() + 1000);
    QCOMPARE(grantsIssued(), grantsBefore);
    QCOMPARE(session.state(), Session::State::SignedOut);
    QVERIFY(session.user().isEmpty());
}

void tst_OAuthDeviceSession::initTestCase()
{
    m_secretServiceProblem = secretServiceProblem();
    QString problem;
    m_peer = OAuthPeer::startFromEnvironment(&problem, TesseraServerIntervalSeconds);
    QVERIFY2(m_peer, qPrintable(problem));
}

void tst_OAuthDeviceSession::cleanupTestCase()
{
    m_peer.reset();
}

void tst_OAuthDeviceSession::cleanup()
{
    if (m_peer)
        m_peer->printLogIfFailed();
}

void tst_OAuthDeviceSession::deviceSignInStoresAndRestores()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    const SessionConfig config = oauthConfig();
    {
        Session session(config);
        QSignalSpy requested(&session, &Session::deviceSignInRequested);
        QSignalSpy browser(&session, &Session::browserSignInRequested);
        ScriptedPerson person(session, *m_peer, m_peer->signInOptions(QStringLiteral("frank")));
        QElapsedTimer elapsed;
        elapsed.start();
        QFuture<void> signIn = session.signInWithDevice();
        QCOMPARE(session.state(), Session::State::SigningIn);
        QVERIFY(session.isBusy());
        const Error error = wait(signIn);
        QVERIFY2(!error.isError(), qPrintable(describe(error)));
        // The first poll waits the interval (RFC 8628 §3.5).
        QVERIFY(elapsed.elapsed() >= pollIntervalMs() - ClockGranularityMs);
        QCOMPARE(session.state(), Session::State::SignedIn);
        // Named by the ID token's preferred_username.
        QCOMPARE(session.user(), QStringLiteral("frank"));
        QVERIFY(session.accessExpiresAt() > QDateTime::currentDateTime());

        // What the person was shown, once: where to go, the code, until when.
        QCOMPARE(requested.size(), 1);
        QCOMPARE(browser.size(), 0);
        const QUrl verificationUri = requested.first().at(0).toUrl();
        const QUrl complete = requested.first().at(1).toUrl();
        const QString userCode = requested.first().at(2).toString();
        const QDateTime expiresAt = requested.first().at(3).toDateTime();
        QCOMPARE(verificationUri.host(), QStringLiteral("127.0.0.1"));
        QVERIFY(verificationUri.toString().startsWith(m_peer->issuer().toString()));
        QVERIFY(!userCode.isEmpty());
        QCOMPARE(QUrlQuery(complete).queryItemValue(QStringLiteral("user_code")), userCode);
        QVERIFY(expiresAt > QDateTime::currentDateTimeUtc());

        // Stored before SignedIn, under the issuer's and client's namespace.
        QVERIFY2(!storedSecret(config, config.storageKey(QStringLiteral("frank"))).isEmpty(),
                 "the refresh token is in the keyring");
        QCOMPARE(storedSecret(config, config.storageKey(QString()) + QStringLiteral("#account")),
                 QByteArray("frank"));

        // Signed in, no other sign-in starts (and this one is kept).
        QCOMPARE(wait(session.signInWithDevice()).code(), Error::Code::Cancelled);
        QCOMPARE(session.state(), Session::State::SignedIn);
    }
    // A fresh Session: discovers, reads the keyring, refreshes.
    Session restored(config);
    const Error error = wait(restored.restore());
    QVERIFY2(!error.isError(), qPrintable(describe(error)));
    QCOMPARE(restored.state(), Session::State::SignedIn);
    QCOMPARE(restored.user(), QStringLiteral("frank"));
    QCOMPARE(SessionPrivate::get(&restored)->refreshCount(), 1);
    QVERIFY(!wait(restored.logout()).isError());
    QVERIFY(storedSecret(config, config.storageKey(QStringLiteral("frank"))).isEmpty());
}

void tst_OAuthDeviceSession::refusalStoresNothing()
{
    // oidc-provider's access_denied answer is checked by tst_oauth_deviceflow
    // (refusalIsAccessDenied); what the session makes of it is the same at either peer.
    if (!m_peer->isTesseraServer())
        QSKIP("the tessera-server run covers it (oidc-provider's 5 s polls are not settable)");
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    const SessionConfig config = oauthConfig();
    Session session(config);
    QSignalSpy requested(&session, &Session::deviceSignInRequested);
    ScriptedPerson person(session, *m_peer, m_peer->signInOptions() << QStringLiteral("--deny"));
    const Error error = wait(session.signInWithDevice());
    QCOMPARE(error.code(), Error::Code::AccessDenied);
    QCOMPARE(session.lastError().code(), Error::Code::AccessDenied);
    QCOMPARE(requested.size(), 1);
    QCOMPARE(session.state(), Session::State::SignedOut);
    QVERIFY(session.user().isEmpty());
    QVERIFY(!session.isBusy());
    QVERIFY(storedSecret(config, config.storageKey(QString()) + QStringLiteral("#account"))
                    .isEmpty());
    QCOMPARE(wait(Session(config).restore()).code(), Error::Code::NotSignedIn);
}

void tst_OAuthDeviceSession::cancelWhilePollingStopsPolling()
{
    Session session(oauthConfig());
    QSignalSpy requested(&session, &Session::deviceSignInRequested);
    const int pollsBefore = pendingPolls();
    QFuture<void> signIn = session.signInWithDevice();
    // Nobody is at the verification page: the provider answers authorization_pending.
    QVERIFY(waitUntilPolled(requested, pollsBefore));
    QCOMPARE(requested.size(), 1);
    QCOMPARE(session.state(), Session::State::SigningIn);

    // Busy: neither sign-in starts beside it, and this one goes on.
    QCOMPARE(wait(session.signInWithDevice()).code(), Error::Code::Cancelled);
    QCOMPARE(wait(session.signInWithBrowser()).code(), Error::Code::Cancelled);
    QCOMPARE(session.state(), Session::State::SigningIn);
    QVERIFY(!signIn.isFinished());

    session.cancelSignIn();
    QCOMPARE(wait(signIn).code(), Error::Code::Cancelled);
    QCOMPARE(session.state(), Session::State::SignedOut);
    QVERIFY(!session.isBusy());
    const int pollsAtCancel = pendingPolls();

    // The person approves now: more than two intervals later, no poll has reached the
    // provider (counted at oidc-provider) and the session has not signed in.
    approveLateAndExpectNothing(session, requested);
    QCOMPARE(pendingPolls(), pollsAtCancel);
}

void tst_OAuthDeviceSession::logoutWhilePollingEndsTheSignIn()
{
    // Nothing of it is the peer's (no tokens to revoke yet): like cancelSignIn(), whose run at
    // oidc-provider also counts its polls, it stops the session's own polling.
    if (!m_peer->isTesseraServer())
        QSKIP("the tessera-server run covers it (oidc-provider's 5 s polls are not settable)");
    Session session(oauthConfig());
    QSignalSpy requested(&session, &Session::deviceSignInRequested);
    const int pollsBefore = pendingPolls();
    QFuture<void> signIn = session.signInWithDevice();
    QVERIFY(waitUntilPolled(requested, pollsBefore));
    QFuture<void> logout = session.logout();
    QCOMPARE(wait(signIn).code(), Error::Code::Cancelled);
    QVERIFY(!wait(logout).isError());
    QCOMPARE(session.state(), Session::State::SignedOut);
    const int pollsAtLogout = pendingPolls();
    approveLateAndExpectNothing(session, requested);
    QCOMPARE(pendingPolls(), pollsAtLogout);
}

void tst_OAuthDeviceSession::refusedWithoutOAuthProfile()
{
    Session simple(SessionConfig(QUrl(QStringLiteral("http://127.0.0.1:1/")),
                                 QStringLiteral("org.tessera.test.device")));
    QSignalSpy requested(&simple, &Session::deviceSignInRequested);
    QCOMPARE(wait(simple.signInWithDevice()).code(), Error::Code::InvalidConfiguration);
    QCOMPARE(simple.state(), Session::State::SignedOut);
    QCOMPARE(requested.size(), 0);
}

QTEST_GUILESS_MAIN(tst_OAuthDeviceSession)
#include "tst_oauth_devicesession.moc"

// SPDX-License-Identifier: MIT
// Session::signInWithDevice() (RFC 8628, issue 11) against the real oidc-provider
// (tests/interop/oidc) with browser.py as the person on the verification page and the refresh
// token in the real keyring (scripts/with-keyring.sh): sign-in, restore in a fresh Session,
// refusal, and cancelSignIn() while polling. oidc-provider sends no interval, so every poll
// waits RFC 8628's default of 5 s: a sign-in takes at least that long.
#include "securestore_p.h"
#include "session_p.h"

#include "keyringtest.h"
#include "oidcproviderprocess.h"

#include <tessera/session.h>

#include <QtCore/QElapsedTimer>
#include <QtCore/QProcess>
#include <QtCore/QUrlQuery>
#include <QtCore/QUuid>
#include <QtDBus/QDBusConnection>
#include <QtDBus/QDBusConnectionInterface>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <memory>

using namespace Tessera;
using Tessera::Test::OidcProviderProcess;

namespace {

// Generous: an ASan build on two busy cores, node and python starting.
constexpr int FlowTimeoutMs = 90000;
// RFC 8628 §3.2's default interval, which oidc-provider leaves in force.
constexpr int PollIntervalMs = 5000;
// The millisecond clocks of the provider and of the client's timers round differently.
constexpr qint64 ClockGranularityMs = 2;

// browser.py as the person, started for every deviceSignInRequested() of `session` with the
// complete verification URI (not waited for: the session polls while the person signs in).
class ScriptedPerson : public QObject
{
public:
    explicit ScriptedPerson(Session &session, QStringList options = {})
        : m_options(std::move(options))
    {
        connect(&session, &Session::deviceSignInRequested, this,
                [this](const QUrl &, const QUrl &complete) {
                    m_process.setProcessChannelMode(QProcess::ForwardedErrorChannel);
                    m_process.start(QStringLiteral(TESSERA_PYTHON_PATH),
                                    QStringList{QStringLiteral(TESSERA_BROWSER_SCRIPT)}
                                            << m_options
                                            << QString::fromLatin1(complete.toEncoded()));
                });
    }
    ~ScriptedPerson() override
    {
        if (m_process.state() != QProcess::NotRunning) {
            m_process.kill();
            m_process.waitForFinished(5000);
        }
    }

private:
    QStringList m_options;
    QProcess m_process;
};

template<typename T> Error wait(QFuture<T> future)
{
    if (!QTest::qWaitFor([&] { return future.isFinished(); }, FlowTimeoutMs))
        return {Error::Code::Cancelled, QStringLiteral("the test gave up waiting")};
    return errorOf(future);
}

QString describe(const Error &error)
{
    return QStringLiteral("%1 %2").arg(
            QString::fromLatin1(QMetaEnum::fromType<Error::Code>().valueToKey(int(error.code()))),
            error.message());
}

QString secretServiceProblem()
{
    QDBusConnection bus = QDBusConnection::sessionBus();
    if (!bus.isConnected())
        return QStringLiteral("no D-Bus session bus");
    const QString name = QStringLiteral("org.freedesktop.secrets");
    if (QTest::qWaitFor([&] { return bus.interface()->isServiceRegistered(name).value(); }, 5000))
        return {};
    return QStringLiteral("no Secret Service on the session bus");
}

// What the real keyring holds under `key` of `config`'s service (empty when nothing).
QByteArray storedSecret(const SessionConfig &config, const QString &key)
{
    const auto store = Platform::createKeychainStore(config.storageService());
    std::optional<QByteArray> value;
    store->read(key, [&value](const Platform::StoreResult &result) {
        value = result.ok() ? QByteArray(result.data.reveal().data(), result.data.size())
                            : QByteArray();
    });
    if (!QTest::qWaitFor([&] { return value.has_value(); }, 20000))
        return {};
    return *value;
}

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
    // The polls the provider answered "authorization_pending" so far.
    int pendingPolls() const;

    std::unique_ptr<OidcProviderProcess> m_provider;
    QString m_secretServiceProblem;
};

SessionConfig tst_OAuthDeviceSession::oauthConfig() const
{
    SessionConfig config;
    config.setAppId(QStringLiteral("org.tessera.test.device-")
                    + QUuid::createUuid().toString(QUuid::Id128));
    config.setIssuer(m_provider->issuer());
    config.setClientId(m_provider->clientId());
    config.setRequestTimeout(std::chrono::seconds(30));
    return config;
}

int tst_OAuthDeviceSession::pendingPolls() const
{
    return int(m_provider->serverStdout().count("event grant.error authorization_pending\n"));
}

void tst_OAuthDeviceSession::initTestCase()
{
    m_secretServiceProblem = secretServiceProblem();
    m_provider = std::make_unique<OidcProviderProcess>();
    QVERIFY2(m_provider->start(), qPrintable(m_provider->errorString()));
}

void tst_OAuthDeviceSession::cleanupTestCase()
{
    m_provider.reset();
}

void tst_OAuthDeviceSession::cleanup()
{
    if (m_provider)
        m_provider->printLogIfFailed();
}

void tst_OAuthDeviceSession::deviceSignInStoresAndRestores()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    const SessionConfig config = oauthConfig();
    {
        Session session(config);
        QSignalSpy requested(&session, &Session::deviceSignInRequested);
        QSignalSpy browser(&session, &Session::browserSignInRequested);
        ScriptedPerson person(session, {QStringLiteral("--login"), QStringLiteral("frank")});
        QElapsedTimer elapsed;
        elapsed.start();
        QFuture<void> signIn = session.signInWithDevice();
        QCOMPARE(session.state(), Session::State::SigningIn);
        QVERIFY(session.isBusy());
        const Error error = wait(signIn);
        QVERIFY2(!error.isError(), qPrintable(describe(error)));
        // The first poll waits the interval (RFC 8628 §3.5).
        QVERIFY(elapsed.elapsed() >= PollIntervalMs - ClockGranularityMs);
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
        QVERIFY(verificationUri.toString().startsWith(m_provider->issuer().toString()));
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
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    const SessionConfig config = oauthConfig();
    Session session(config);
    QSignalSpy requested(&session, &Session::deviceSignInRequested);
    ScriptedPerson person(session, {QStringLiteral("--deny")});
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
    QVERIFY(QTest::qWaitFor([&] { return pendingPolls() > pollsBefore; }, FlowTimeoutMs));
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

    // More than two intervals later, no poll has reached the provider.
    QTest::qWait(2 * PollIntervalMs + 1000);
    QCOMPARE(pendingPolls(), pollsAtCancel);
    QCOMPARE(session.state(), Session::State::SignedOut);
}

void tst_OAuthDeviceSession::logoutWhilePollingEndsTheSignIn()
{
    Session session(oauthConfig());
    const int pollsBefore = pendingPolls();
    QFuture<void> signIn = session.signInWithDevice();
    QVERIFY(QTest::qWaitFor([&] { return pendingPolls() > pollsBefore; }, FlowTimeoutMs));
    QFuture<void> logout = session.logout();
    QCOMPARE(wait(signIn).code(), Error::Code::Cancelled);
    QVERIFY(!wait(logout).isError());
    QCOMPARE(session.state(), Session::State::SignedOut);
    const int pollsAtLogout = pendingPolls();
    QTest::qWait(2 * PollIntervalMs + 1000);
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

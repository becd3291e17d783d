// SPDX-License-Identifier: MIT
// The device authorization grant (RFC 8628, issue 11): OAuth::DeviceFlow against the real
// oidc-provider (tests/interop/oidc) with the scripted person on the verification page
// (tests/interop/oidc/browser.py): sign-in with the complete URI and with the code typed,
// polling while the person has not confirmed yet, refusal. An in-process server only for what
// oidc-provider does not send: slow_down, expired_token, transport failures while polling,
// hostile device authorization responses, a provider without the device endpoint.
// Over 500 lines: mostly the data tables of hostile responses and error answers.
#include "oauth/deviceflow_p.h"
#include "oauth/discovery_p.h"
#include "oauth/idtoken_p.h"
#include "oauth/jwkscache_p.h"

#include "cannedhttpserver.h"
#include "oidcproviderprocess.h"

#include <QtCore/QProcess>
#include <QtCore/QUrlQuery>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <memory>

using namespace Tessera;
using namespace Tessera::OAuth;
using Tessera::Test::CannedHttpServer;
using Tessera::Test::OidcProviderProcess;

namespace {

// Generous: an ASan build on two busy cores, node and python starting.
constexpr int FlowTimeoutMs = 90000;
// The millisecond clocks of the server and the client's timers round differently.
constexpr qint64 ClockGranularityMs = 2;

SessionConfig transportConfig()
{
    SessionConfig config;
    config.setRequestTimeout(std::chrono::seconds(30));
    return config;
}

QString describe(const TokenOutcome &outcome)
{
    static const char *kinds[] = {"Issued", "Rejected", "Failed"};
    return QStringLiteral("%1 %2 [%3] %4")
            .arg(QLatin1String(kinds[int(outcome.kind)]),
                 QString::fromLatin1(
                         QMetaEnum::fromType<Error::Code>().valueToKey(int(outcome.error.code()))),
                 outcome.error.serverCode(), outcome.error.message());
}

// One run of browser.py: the person at the verification page.
class ScriptedPerson
{
public:
    ~ScriptedPerson()
    {
        if (m_process.state() != QProcess::NotRunning) {
            m_process.kill();
            m_process.waitForFinished(5000);
        }
    }
    void open(const QUrl &url, const QStringList &options = {})
    {
        m_process.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        m_process.start(QStringLiteral(TESSERA_PYTHON_PATH),
                        QStringList{QStringLiteral(TESSERA_BROWSER_SCRIPT)}
                                << options << QString::fromLatin1(url.toEncoded()));
    }
    bool finishedWith(int exitCode)
    {
        return QTest::qWaitFor([this] { return m_process.state() == QProcess::NotRunning; },
                               FlowTimeoutMs)
                && m_process.exitStatus() == QProcess::NormalExit
                && m_process.exitCode() == exitCode;
    }

private:
    QProcess m_process;
};

// A flow with its discovery, and what it signalled.
struct Run
{
    explicit Run(const QUrl &issuer, const QString &clientId = QStringLiteral("tessera-native"))
        : discovery(issuer.toString(), transportConfig())
        , flow(discovery, transportConfig(), {clientId})
        , finished(&flow, &DeviceFlow::finished)
    {
        QObject::connect(&flow, &DeviceFlow::verificationReady, &flow,
                         [this](const DeviceVerification &shown) { verification = shown; });
    }
    TokenOutcome waitForOutcome()
    {
        if (!finished.wait(FlowTimeoutMs))
            return TokenOutcome::failed({Error::Code::Cancelled, QStringLiteral("no outcome")});
        return flow.takeOutcome();
    }

    Discovery discovery;
    DeviceFlow flow;
    QSignalSpy finished;
    std::optional<DeviceVerification> verification;
};

// A provider that answers from cans: its discovery document, the device authorization
// endpoint (/device) and the token endpoint (/token).
class CannedProvider : public CannedHttpServer
{
public:
    explicit CannedProvider(bool deviceEndpoint = true)
    {
        commonHeaders = "Cache-Control: no-store\r\n";
        QByteArray document = R"({"issuer":")" + origin().toLatin1()
                + R"(","authorization_endpoint":")" + origin().toLatin1() + R"(/authorize",)"
                + R"("token_endpoint":")" + origin().toLatin1() + R"(/token",)" + R"("jwks_uri":")"
                + origin().toLatin1() + R"(/jwks",)";
        if (deviceEndpoint)
            document +=
                    R"("device_authorization_endpoint":")" + origin().toLatin1() + R"(/device",)";
        document += R"("response_types_supported":["code"],"subject_types_supported":["public"],)"
                    R"("id_token_signing_alg_values_supported":["RS256"]})";
        answerPath("/.well-known/openid-configuration", {200, "application/json", document, {}});
        setDevice(authorization());
        setToken(400, R"({"error":"authorization_pending"})");
    }
    QUrl issuer() const { return QUrl(origin()); }

    // A device authorization response; `extra` members replace or add to the defaults.
    QByteArray authorization(const QByteArray &members = R"("interval":1)") const
    {
        return R"({"device_code":"dc-opaque-1","user_code":"WDJB-MJHT",)"
               R"("verification_uri":")"
                + origin().toLatin1() + R"(/verify","expires_in":600,)" + members + "}";
    }
    void setDevice(const QByteArray &body, const QByteArray &type = "application/json")
    {
        answerPath("/device", {200, type, body, {}});
    }
    void setToken(int status, const QByteArray &body)
    {
        answerPath("/token", {status, "application/json", body, {}});
    }
    QList<qint64> tokenArrivals() const
    {
        QList<qint64> arrivals;
        for (qsizetype i = 0; i < paths.size(); ++i) {
            if (paths.at(i) == "/token")
                arrivals.append(arrivalsMs.at(i));
        }
        return arrivals;
    }
    int count(const QByteArray &path) const { return int(paths.count(path)); }
};

const QByteArray Tokens = R"({"access_token":"opaque-access","token_type":"Bearer",)"
                          R"("expires_in":600,"refresh_token":"opaque-refresh"})";

} // namespace

Q_DECLARE_METATYPE(Tessera::TokenOutcome::Kind)

class tst_OAuthDeviceFlow : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    // The real oidc-provider, the person played by browser.py.
    void deviceSignInIssuesTokens();
    void typedCodeAfterSomePolls();
    void refusalIsAccessDenied();

    // The in-process provider.
    void requestsFollowTheGrant();
    void slowDownAddsFiveSeconds();
    void expiredTokenIsATimeout();
    void localExpiryEndsTheFlow();
    void transportFailureBacksOffAndPollsOn();
    void pollErrorsEndTheFlow_data();
    void pollErrorsEndTheFlow();
    void hostileDeviceAuthorizationIsRefused_data();
    void hostileDeviceAuthorizationIsRefused();
    void deviceAuthorizationErrors_data();
    void deviceAuthorizationErrors();
    void providerWithoutDeviceEndpoint();
    void cancelDuringPollingStopsRequests();
    void cancelWithAPollInFlight();
    void cancelBetweenPolls();

private:
    std::unique_ptr<OidcProviderProcess> m_provider;
};

void tst_OAuthDeviceFlow::initTestCase()
{
    m_provider = std::make_unique<OidcProviderProcess>();
    QVERIFY2(m_provider->start(), qPrintable(m_provider->errorString()));
}

void tst_OAuthDeviceFlow::cleanupTestCase()
{
    m_provider.reset();
}

void tst_OAuthDeviceFlow::cleanup()
{
    if (m_provider)
        m_provider->printLogIfFailed();
}

void tst_OAuthDeviceFlow::deviceSignInIssuesTokens()
{
    Run run(m_provider->issuer(), m_provider->clientId());
    ScriptedPerson person;
    QObject::connect(&run.flow, &DeviceFlow::verificationReady, &run.flow,
                     [&person](const DeviceVerification &shown) {
                         person.open(shown.verificationUriComplete);
                     });
    run.flow.start();
    const TokenOutcome outcome = run.waitForOutcome();
    QVERIFY2(outcome.kind == TokenOutcome::Kind::Issued, qPrintable(describe(outcome)));
    QVERIFY(person.finishedWith(0));
    QVERIFY(!outcome.tokens.access.isEmpty());
    QVERIFY(!outcome.tokens.refresh.isEmpty());
    QVERIFY(outcome.tokens.scope.split(u' ').contains(QStringLiteral("openid")));

    // What the person was shown (RFC 8628 §3.2, §3.3.1).
    QVERIFY(run.verification);
    const DeviceVerification &shown = *run.verification;
    QVERIFY(!shown.userCode.isEmpty());
    QCOMPARE(shown.verificationUri.host(), QStringLiteral("127.0.0.1"));
    QCOMPARE(QUrlQuery(shown.verificationUriComplete).queryItemValue(QStringLiteral("user_code")),
             shown.userCode);
    QVERIFY(shown.expiresInSeconds > 0);
    QVERIFY(shown.expiresAt > QDateTime::currentDateTimeUtc());
    // oidc-provider sends no interval: RFC 8628 §3.2's default.
    QCOMPARE(run.flow.pollInterval(), std::chrono::seconds(DefaultPollIntervalSeconds));

    // The ID token is the provider's, for this client (OIDC Core §3.1.3.7; no nonce in RFC 8628).
    const ProviderMetadata metadata = *run.flow.metadata();
    JwksCache cache(metadata.jwksUri, transportConfig());
    IdTokenValidator validator(cache);
    IdTokenExpectations expected;
    expected.issuer = metadata.issuer;
    expected.clientId = m_provider->clientId();
    expected.signingAlgorithms = metadata.idTokenSigningAlgValuesSupported;
    QFuture<IdTokenClaims> claims = validator.validate(outcome.tokens.idToken.clone(), expected);
    QVERIFY(QTest::qWaitFor([&] { return claims.isFinished(); }, FlowTimeoutMs));
    QCOMPARE(errorOf(claims), Error());
    QCOMPARE(claims.result().username, QStringLiteral("alice"));
}

void tst_OAuthDeviceFlow::typedCodeAfterSomePolls()
{
    Run run(m_provider->issuer(), m_provider->clientId());
    run.flow.start();
    // The person arrives late: the provider answers authorization_pending meanwhile (a poll
    // every 5 s: oidc-provider sends no interval).
    QVERIFY(QTest::qWaitFor([&] { return run.flow.pollCount() >= 1; }, FlowTimeoutMs));
    QVERIFY(!run.flow.isFinished());
    QVERIFY(run.verification);
    ScriptedPerson person;
    person.open(run.verification->verificationUri,
                {QStringLiteral("--user-code"), run.verification->userCode});
    const TokenOutcome outcome = run.waitForOutcome();
    QVERIFY2(outcome.kind == TokenOutcome::Kind::Issued, qPrintable(describe(outcome)));
    QVERIFY(person.finishedWith(0));
    QVERIFY(run.flow.pollCount() >= 2);
    QVERIFY(!outcome.tokens.refresh.isEmpty());
}

void tst_OAuthDeviceFlow::refusalIsAccessDenied()
{
    Run run(m_provider->issuer(), m_provider->clientId());
    ScriptedPerson person;
    QObject::connect(&run.flow, &DeviceFlow::verificationReady, &run.flow,
                     [&person](const DeviceVerification &shown) {
                         person.open(shown.verificationUriComplete, {QStringLiteral("--deny")});
                     });
    run.flow.start();
    const TokenOutcome outcome = run.waitForOutcome();
    QVERIFY2(outcome.kind == TokenOutcome::Kind::Rejected, qPrintable(describe(outcome)));
    QCOMPARE(outcome.error.code(), Error::Code::AccessDenied);
    QCOMPARE(outcome.error.serverCode(), QStringLiteral("access_denied"));
    QVERIFY(outcome.tokens.access.isEmpty());
}

void tst_OAuthDeviceFlow::requestsFollowTheGrant()
{
    CannedProvider provider;
    provider.setToken(200, Tokens);
    Run run(provider.issuer(), QStringLiteral("tv app"));
    run.flow.start();
    const TokenOutcome outcome = run.waitForOutcome();
    QVERIFY2(outcome.kind == TokenOutcome::Kind::Issued, qPrintable(describe(outcome)));
    QCOMPARE(outcome.tokens.refresh.reveal(), QByteArrayView("opaque-refresh"));
    QCOMPARE(provider.count("/device"), 1);
    QCOMPARE(provider.count("/token"), 1);
    // RFC 8628 §3.1: client_id and scope, form-encoded.
    const qsizetype device = provider.paths.indexOf("/device");
    QVERIFY(provider.heads.at(device).startsWith("POST "));
    QVERIFY(provider.heads.at(device).toLower().contains(
            "content-type: application/x-www-form-urlencoded"));
    QCOMPARE(provider.bodies.at(device),
             QByteArray("client_id=tv%20app&scope=openid%20offline_access"));
    // RFC 8628 §3.4: the device code grant, after the interval (1 s here).
    const qsizetype token = provider.paths.indexOf("/token");
    QCOMPARE(provider.bodies.at(token),
             QByteArray("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"
                        "&device_code=dc-opaque-1&client_id=tv%20app"));
    QVERIFY(provider.arrivalsMs.at(token) - provider.arrivalsMs.at(device)
            >= 1000 - ClockGranularityMs);
    QCOMPARE(run.verification->userCode, QStringLiteral("WDJB-MJHT"));
    QVERIFY(run.verification->verificationUriComplete.isEmpty());
    QCOMPARE(run.verification->expiresInSeconds, qint64(600));

    // A token response without a refresh token leaves the session nothing to keep.
    CannedProvider noRefresh;
    noRefresh.setToken(200, R"({"access_token":"a","token_type":"Bearer","expires_in":60})");
    Run second(noRefresh.issuer());
    second.flow.start();
    QCOMPARE(second.waitForOutcome().error.code(), Error::Code::InvalidConfiguration);
}

void tst_OAuthDeviceFlow::slowDownAddsFiveSeconds()
{
    CannedProvider provider;
    provider.setToken(400, R"({"error":"slow_down"})");
    Run run(provider.issuer());
    run.flow.start();
    QVERIFY(QTest::qWaitFor([&] { return provider.count("/token") >= 1; }, FlowTimeoutMs));
    // After one slow_down, pending answers: the raised interval stays (RFC 8628 §3.5).
    provider.setToken(400, R"({"error":"authorization_pending"})");
    QVERIFY(QTest::qWaitFor([&] { return provider.count("/token") >= 3; }, FlowTimeoutMs));
    QVERIFY(!run.flow.isFinished());
    const QList<qint64> arrivals = provider.tokenArrivals();
    QVERIFY2(arrivals.at(1) - arrivals.at(0) >= 6000 - ClockGranularityMs,
             qPrintable(QString::number(arrivals.at(1) - arrivals.at(0))));
    QVERIFY2(arrivals.at(2) - arrivals.at(1) >= 6000 - ClockGranularityMs,
             qPrintable(QString::number(arrivals.at(2) - arrivals.at(1))));
    QCOMPARE(run.flow.pollInterval(), std::chrono::seconds(6));
    run.flow.cancel();
}

void tst_OAuthDeviceFlow::expiredTokenIsATimeout()
{
    CannedProvider provider;
    provider.setToken(400, R"({"error":"expired_token"})");
    Run run(provider.issuer());
    run.flow.start();
    const TokenOutcome outcome = run.waitForOutcome();
    QCOMPARE(outcome.kind, TokenOutcome::Kind::Failed);
    QCOMPARE(outcome.error.code(), Error::Code::Timeout);
    QCOMPARE(outcome.error.serverCode(), QStringLiteral("expired_token"));
    QTest::qWait(1500);
    QCOMPARE(provider.count("/token"), 1);
}

void tst_OAuthDeviceFlow::localExpiryEndsTheFlow()
{
    // The provider never says expired_token; the codes' lifetime (2 s) ends the flow anyway.
    CannedProvider provider;
    provider.setDevice(provider.authorization(R"("interval":1,"expires_in":2)")
                               .replace(R"("expires_in":600,)", ""));
    Run run(provider.issuer());
    run.flow.start();
    const TokenOutcome outcome = run.waitForOutcome();
    QCOMPARE(outcome.kind, TokenOutcome::Kind::Failed);
    QCOMPARE(outcome.error.code(), Error::Code::Timeout);
    QVERIFY(outcome.error.serverCode().isEmpty());
    QVERIFY(provider.count("/token") >= 1);
    const int polls = provider.count("/token");
    QTest::qWait(1500);
    QCOMPARE(provider.count("/token"), polls);
}

void tst_OAuthDeviceFlow::transportFailureBacksOffAndPollsOn()
{
    CannedProvider provider;
    provider.answerPath("/token", {503, "text/html", "<h1>maintenance</h1>", {}});
    Run run(provider.issuer());
    run.flow.start();
    QVERIFY(QTest::qWaitFor([&] { return provider.count("/token") >= 1; }, FlowTimeoutMs));
    provider.setToken(200, Tokens);
    const TokenOutcome outcome = run.waitForOutcome();
    QVERIFY2(outcome.kind == TokenOutcome::Kind::Issued, qPrintable(describe(outcome)));
    const QList<qint64> arrivals = provider.tokenArrivals();
    QCOMPARE(arrivals.size(), 2);
    // RFC 8628 §3.5: the poll after a failure waits twice the interval.
    QVERIFY2(arrivals.at(1) - arrivals.at(0) >= 2000 - ClockGranularityMs,
             qPrintable(QString::number(arrivals.at(1) - arrivals.at(0))));
    QCOMPARE(run.flow.pollInterval(), std::chrono::seconds(1));
}

void tst_OAuthDeviceFlow::pollErrorsEndTheFlow_data()
{
    QTest::addColumn<QByteArray>("error");
    QTest::addColumn<TokenOutcome::Kind>("kind");
    QTest::addColumn<Error::Code>("code");
    QTest::newRow("access_denied") << QByteArray("access_denied") << TokenOutcome::Kind::Rejected
                                   << Error::Code::AccessDenied;
    QTest::newRow("invalid_grant") << QByteArray("invalid_grant") << TokenOutcome::Kind::Rejected
                                   << Error::Code::InvalidCredentials;
    QTest::newRow("invalid_client") << QByteArray("invalid_client") << TokenOutcome::Kind::Failed
                                    << Error::Code::InvalidConfiguration;
    QTest::newRow("unauthorized_client")
            << QByteArray("unauthorized_client") << TokenOutcome::Kind::Failed
            << Error::Code::InvalidConfiguration;
    // RFC 8628 §3.5: any other error code MUST stop the polling.
    QTest::newRow("unknown") << QByteArray("server_is_sad") << TokenOutcome::Kind::Failed
                             << Error::Code::ServerError;
}

void tst_OAuthDeviceFlow::pollErrorsEndTheFlow()
{
    QFETCH(QByteArray, error);
    QFETCH(TokenOutcome::Kind, kind);
    QFETCH(Error::Code, code);
    CannedProvider provider;
    provider.setToken(400, R"({"error":")" + error + R"("})");
    Run run(provider.issuer());
    run.flow.start();
    const TokenOutcome outcome = run.waitForOutcome();
    QVERIFY2(outcome.kind == kind, qPrintable(describe(outcome)));
    QCOMPARE(outcome.error.code(), code);
    QCOMPARE(outcome.error.serverCode(), QString::fromLatin1(error));
    QTest::qWait(1500);
    QCOMPARE(provider.count("/token"), 1);
}

void tst_OAuthDeviceFlow::hostileDeviceAuthorizationIsRefused_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<QByteArray>("type");
    const QByteArray json = "application/json";
    const QByteArray verify = R"("verification_uri":"http://127.0.0.1:1/verify")";
    const QByteArray codes = R"("device_code":"dc","user_code":"WDJB-MJHT",)";
    const auto with = [&](const QByteArray &members) { return "{" + members + "}"; };
    const QByteArray lifetime = R"(,"expires_in":600)";
    QTest::newRow("no device_code")
            << with(R"("user_code":"WDJB-MJHT",)" + verify + lifetime) << json;
    QTest::newRow("no user_code") << with(R"("device_code":"dc",)" + verify + lifetime) << json;
    QTest::newRow("no verification_uri") << with(codes + R"("expires_in":600)") << json;
    QTest::newRow("no expires_in") << with(codes + verify) << json;
    QTest::newRow("user_code number")
            << with(R"("device_code":"dc","user_code":1234,)" + verify + lifetime) << json;
    QTest::newRow("user_code empty")
            << with(R"("device_code":"dc","user_code":"",)" + verify + lifetime) << json;
    QTest::newRow("user_code control character")
            << with(R"("device_code":"dc","user_code":"AB\nCD",)" + verify + lifetime) << json;
    QTest::newRow("user_code too long") << with(R"("device_code":"dc","user_code":")"
                                                + QByteArray(65, 'A') + R"(",)" + verify + lifetime)
                                        << json;
    QTest::newRow("device_code object")
            << with(R"("device_code":{},"user_code":"WDJB",)" + verify + lifetime) << json;
    QTest::newRow("interval negative")
            << with(codes + verify + lifetime + R"(,"interval":-1)") << json;
    QTest::newRow("interval zero") << with(codes + verify + lifetime + R"(,"interval":0)") << json;
    QTest::newRow("interval huge")
            << with(codes + verify + lifetime + R"(,"interval":100000)") << json;
    QTest::newRow("interval fraction")
            << with(codes + verify + lifetime + R"(,"interval":2.5)") << json;
    QTest::newRow("interval string")
            << with(codes + verify + lifetime + R"(,"interval":"5")") << json;
    QTest::newRow("expires_in zero") << with(codes + verify + R"(,"expires_in":0)") << json;
    QTest::newRow("expires_in huge") << with(codes + verify + R"(,"expires_in":1e12)") << json;
    QTest::newRow("verification_uri http")
            << with(codes + R"("verification_uri":"http://id.example.com/device")" + lifetime)
            << json;
    QTest::newRow("verification_uri relative")
            << with(codes + R"("verification_uri":"/device")" + lifetime) << json;
    QTest::newRow("verification_uri javascript")
            << with(codes + R"x("verification_uri":"javascript:alert(1)")x" + lifetime) << json;
    QTest::newRow("verification_uri credentials")
            << with(codes + R"("verification_uri":"https://u:p@id.example.com/d")" + lifetime)
            << json;
    QTest::newRow("verification_uri_complete http")
            << with(codes + verify + lifetime
                    + R"(,"verification_uri_complete":"http://id.example.com/d?user_code=W")")
            << json;
    QTest::newRow("duplicate device_code")
            << with(codes + verify + lifetime + R"(,"device_code":"other")") << json;
    QTest::newRow("array") << QByteArray("[]") << json;
    QTest::newRow("not json") << QByteArray("device_code=dc&user_code=W") << json;
    QTest::newRow("html") << with(codes + verify + lifetime) << QByteArray("text/html");
}

void tst_OAuthDeviceFlow::hostileDeviceAuthorizationIsRefused()
{
    QFETCH(QByteArray, body);
    QFETCH(QByteArray, type);
    CannedProvider provider;
    provider.setDevice(body, type);
    Run run(provider.issuer());
    run.flow.start();
    const TokenOutcome outcome = run.waitForOutcome();
    QVERIFY2(outcome.error.code() == Error::Code::InvalidResponse, qPrintable(describe(outcome)));
    QVERIFY(!run.verification);
    QCOMPARE(provider.count("/token"), 0);
}

void tst_OAuthDeviceFlow::deviceAuthorizationErrors_data()
{
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<Error::Code>("code");
    QTest::newRow("invalid_client") << 401 << QByteArray(R"({"error":"invalid_client"})")
                                    << Error::Code::InvalidConfiguration;
    QTest::newRow("invalid_scope") << 400 << QByteArray(R"({"error":"invalid_scope"})")
                                   << Error::Code::InvalidConfiguration;
    QTest::newRow("other error") << 400 << QByteArray(R"({"error":"temporarily_unavailable"})")
                                 << Error::Code::ServerError;
    QTest::newRow("5xx") << 503 << QByteArray("{}") << Error::Code::ServerError;
    QTest::newRow("429") << 429 << QByteArray("{}") << Error::Code::RateLimited;
}

void tst_OAuthDeviceFlow::deviceAuthorizationErrors()
{
    QFETCH(int, status);
    QFETCH(QByteArray, body);
    QFETCH(Error::Code, code);
    CannedProvider provider;
    provider.answerPath("/device", {status, "application/json", body, {}});
    Run run(provider.issuer());
    run.flow.start();
    const TokenOutcome outcome = run.waitForOutcome();
    QVERIFY2(outcome.error.code() == code, qPrintable(describe(outcome)));
    QVERIFY(!run.verification);
    QCOMPARE(provider.count("/token"), 0);
}

void tst_OAuthDeviceFlow::providerWithoutDeviceEndpoint()
{
    CannedProvider provider(false);
    Run run(provider.issuer());
    run.flow.start();
    const TokenOutcome outcome = run.waitForOutcome();
    QVERIFY2(outcome.error.code() == Error::Code::InvalidConfiguration,
             qPrintable(describe(outcome)));
    QVERIFY(outcome.error.message().contains(QStringLiteral("device_authorization_endpoint")));
    QCOMPARE(provider.paths, QList<QByteArray>{"/.well-known/openid-configuration"});
}

void tst_OAuthDeviceFlow::cancelDuringPollingStopsRequests()
{
    CannedProvider provider;
    Run run(provider.issuer());
    run.flow.start();
    QVERIFY(QTest::qWaitFor([&] { return provider.count("/token") >= 2; }, FlowTimeoutMs));
    run.flow.cancel();
    const int polls = provider.count("/token");
    const TokenOutcome outcome = run.waitForOutcome();
    QCOMPARE(outcome.error.code(), Error::Code::Cancelled);
    QTest::qWait(2500);
    QCOMPARE(provider.count("/token"), polls);
    QCOMPARE(run.finished.count(), 1);
}

void tst_OAuthDeviceFlow::cancelWithAPollInFlight()
{
    CannedProvider provider;
    provider.answerPath("/token", {0, {}, {}, {}}); // read, never answered
    Run run(provider.issuer());
    run.flow.start();
    QVERIFY(QTest::qWaitFor([&] { return provider.count("/token") >= 1; }, FlowTimeoutMs));
    run.flow.cancel();
    const TokenOutcome outcome = run.waitForOutcome();
    QCOMPARE(outcome.error.code(), Error::Code::Cancelled);
    QTest::qWait(2500);
    QCOMPARE(provider.count("/token"), 1);
    QCOMPARE(run.finished.count(), 1);
}

void tst_OAuthDeviceFlow::cancelBetweenPolls()
{
    // Cancelled while the first poll's interval runs: that poll is never sent.
    CannedProvider provider;
    Run run(provider.issuer());
    run.flow.start();
    QVERIFY(QTest::qWaitFor([&] { return run.verification.has_value(); }, FlowTimeoutMs));
    run.flow.cancel();
    const TokenOutcome outcome = run.waitForOutcome();
    QCOMPARE(outcome.error.code(), Error::Code::Cancelled);
    QTest::qWait(2500);
    QCOMPARE(provider.count("/token"), 0);
    QCOMPARE(run.finished.count(), 1);
}

QTEST_GUILESS_MAIN(tst_OAuthDeviceFlow)

#include "tst_oauth_deviceflow.moc"

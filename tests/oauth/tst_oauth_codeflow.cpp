// SPDX-License-Identifier: MIT
// The browser sign-in (issue 11): OAuth::CodeFlow and the OAuth 2 token endpoint dialect against
// the real oidc-provider (tests/interop/oidc, OpenID Certified) with the scripted person in the
// browser (tests/interop/oidc/browser.py): code flow, refresh with rotation and reuse
// detection, revocation, an issuer with a path, access_denied. An in-process server only for
// what no real provider sends: hostile token responses and the RFC 6749 §5.2 error table.
#include "accesstiming_p.h"
#include "oauth/codeflow_p.h"
#include "oauth/discovery_p.h"
#include "oauth/oauthtokenendpoint_p.h"
#include "oauth/oauthtokenresponse_p.h"

#include "cannedhttpserver.h"
#include "oidcproviderprocess.h"

#include <QtCore/QProcess>
#include <QtCore/QUrlQuery>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <memory>

using namespace Tessera;
using namespace Tessera::OAuth;
using Tessera::Test::OidcProviderProcess;

namespace {

// Generous: an ASan build on two busy cores, node and python starting.
constexpr int FlowTimeoutMs = 90000;

SessionConfig transportConfig(std::chrono::milliseconds timeout = std::chrono::seconds(30))
{
    SessionConfig config;
    config.setRequestTimeout(timeout);
    return config;
}

// One run of browser.py: the person in the browser.
class ScriptedBrowser
{
public:
    explicit ScriptedBrowser(QStringList options = {})
        : m_options(std::move(options))
    { }
    ~ScriptedBrowser()
    {
        if (m_process.state() != QProcess::NotRunning) {
            m_process.kill();
            m_process.waitForFinished(5000);
        }
    }

    // Started, not waited for: the receiver must answer while the browser runs.
    void open(const QUrl &url)
    {
        m_process.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        m_process.start(QStringLiteral(TESSERA_PYTHON_PATH),
                        QStringList{QStringLiteral(TESSERA_BROWSER_SCRIPT)}
                                << m_options << QString::fromLatin1(url.toEncoded()));
    }
    bool finishedWith(int exitCode)
    {
        return QTest::qWaitFor([this] { return m_process.state() == QProcess::NotRunning; },
                               FlowTimeoutMs)
                && m_process.exitStatus() == QProcess::NormalExit
                && m_process.exitCode() == exitCode;
    }

private:
    QStringList m_options;
    QProcess m_process;
};

struct SignIn
{
    TokenOutcome outcome;
    QUrl authorizationUrl;
    QUrl redirectUri;
    std::optional<ProviderMetadata> metadata;
    bool browserSucceeded = false; // browser.py reached the receiver, which answered 2xx
};

// The whole code flow against `issuer`, the browser driven by browser.py with `options`.
SignIn signIn(const QUrl &issuer, const QString &clientId, const QStringList &browserOptions = {})
{
    const SessionConfig transport = transportConfig();
    Discovery discovery(issuer.toString(), transport);
    CodeFlow::Options options;
    options.clientId = clientId;
    options.receiver.timeout = std::chrono::milliseconds(FlowTimeoutMs);
    CodeFlow flow(discovery, transport, options);
    ScriptedBrowser browser(browserOptions);
    QObject::connect(&flow, &CodeFlow::authorizationUrlReady, &flow,
                     [&browser](const QUrl &url) { browser.open(url); });
    QSignalSpy finished(&flow, &CodeFlow::finished);
    flow.start();
    SignIn result;
    if (!finished.wait(FlowTimeoutMs)) {
        result.outcome = TokenOutcome::failed(
                {Error::Code::Cancelled, QStringLiteral("the test gave up waiting for the flow")});
        return result;
    }
    result.outcome = flow.takeOutcome();
    result.authorizationUrl = flow.authorizationUrl();
    result.redirectUri = flow.redirectUri();
    result.metadata = flow.metadata();
    result.browserSucceeded = browser.finishedWith(0);
    return result;
}

TokenOutcome waitForOutcome(const std::function<void(TokenEndpoint::Done)> &request)
{
    std::optional<TokenOutcome> outcome;
    request([&outcome](TokenOutcome answer) { outcome = std::move(answer); });
    if (!QTest::qWaitFor([&] { return outcome.has_value(); }, FlowTimeoutMs))
        return TokenOutcome::failed({Error::Code::Cancelled, QStringLiteral("no answer")});
    return std::move(*outcome);
}

// The provider's token endpoint from its discovery document; empty when discovery fails.
QUrl tokenEndpointOf(const QUrl &issuer)
{
    Discovery discovery(issuer.toString(), transportConfig());
    auto metadata = discovery.metadata();
    if (!QTest::qWaitFor([&] { return metadata.isFinished(); }, FlowTimeoutMs)
        || errorOf(metadata).isError())
        return {};
    return metadata.result().tokenEndpoint;
}

TokenOutcome waitForRefresh(TokenEndpoint &endpoint, const Secret &refreshToken)
{
    return waitForOutcome(
            [&](TokenEndpoint::Done done) { endpoint.refresh(refreshToken, std::move(done)); });
}

Error waitForRevoke(TokenEndpoint &endpoint, const Secret &token)
{
    std::optional<Error> result;
    endpoint.revoke(token, [&result](const Error &error) { result = error; });
    if (!QTest::qWaitFor([&] { return result.has_value(); }, FlowTimeoutMs))
        return {Error::Code::Cancelled, QStringLiteral("no answer")};
    return *result;
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

// A token endpoint that answers every request with one canned response (`answer`, with the
// cache headers of RFC 6749 §5.1), and records the requests (head and body).
class TokenServer : public Tessera::Test::CannedHttpServer
{
public:
    TokenServer() { commonHeaders = "Cache-Control: no-store\r\nPragma: no-cache\r\n"; }
    QUrl url(const QString &path = QStringLiteral("/token")) const
    {
        return CannedHttpServer::url(path);
    }
};

// The OAuth token endpoint dialect for the client "app" at `server`.
std::unique_ptr<TokenEndpoint> endpointAt(const TokenServer &server)
{
    return createOAuthTokenEndpoint(transportConfig(), {QStringLiteral("app"), server.url(), {}});
}

const QByteArray ValidBody =
        R"({"access_token":"opaque-access","token_type":"Bearer","expires_in":600,)"
        R"("refresh_token":"rotated-refresh","scope":"openid offline_access"})";

} // namespace

class tst_OAuthCodeFlow : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    // The real oidc-provider, through browser.py.
    void codeFlowIssuesTokens();
    void cancelStopsListening();
    void nobodyAtTheBrowserTimesOut();
    void refreshRotatesAndReuseRevokesTheGrant();
    void revocationEndsTheGrant();
    void issuerWithPath();
    void accessDeniedEndsTheFlow();
    void spentOrForgedCodeIsRefused();
    void interceptedCodeNeedsTheVerifier();
    void unknownClientIsAConfigurationError();

    // The in-process endpoint: the dialect's requests and hostile answers.
    void requestsAreFormEncoded();
    void refreshWithoutRefreshTokenKeepsTheOld();
    void tokenTypeIsCaseInsensitiveBearer();
    void missingExpiresInFallsBackToAShortLifetime();
    void hostileSuccessIsRefused_data();
    void hostileSuccessIsRefused();
    void errorsAreMapped_data();
    void errorsAreMapped();
    void errorDescriptionIsFiltered();
    void silentServerTimesOut();
    void revokeAnswers_data();
    void revokeAnswers();
    void passwordGrantIsNotOffered();
    void authorizationUrlKeepsTheEndpointQuery();

private:
    std::unique_ptr<OidcProviderProcess> m_provider;
};

void tst_OAuthCodeFlow::initTestCase()
{
    m_provider = std::make_unique<OidcProviderProcess>();
    QVERIFY2(m_provider->start(), qPrintable(m_provider->errorString()));
}

void tst_OAuthCodeFlow::cleanupTestCase()
{
    m_provider.reset();
}

void tst_OAuthCodeFlow::cleanup()
{
    if (m_provider)
        m_provider->printLogIfFailed();
}

void tst_OAuthCodeFlow::codeFlowIssuesTokens()
{
    const SignIn result = signIn(m_provider->issuer(), m_provider->clientId());
    QVERIFY2(result.outcome.kind == TokenOutcome::Kind::Issued,
             qPrintable(describe(result.outcome)));
    const TokenResponse &tokens = result.outcome.tokens;
    QVERIFY(!tokens.access.isEmpty());
    QVERIFY(!tokens.refresh.isEmpty());
    QVERIFY2(!tokens.idToken.isEmpty(), "the ID token is kept for its validator");
    QVERIFY(tokens.scope.split(u' ').contains(QStringLiteral("openid")));
    // oidc-provider's access tokens are opaque: the expiry is expires_in (--access-ttl 300).
    QString problem;
    QVERIFY(!readAccessClaims(tokens.access.reveal(), QDateTime::currentSecsSinceEpoch(),
                              &problem));
    QCOMPARE(tokens.claims.lifetimeSeconds, std::optional<qint64>(300));
    const auto timing = accessTiming(tokens, std::chrono::seconds(60), &problem);
    QVERIFY2(timing, qPrintable(problem));
    QCOMPARE(timing->expiryMs, tokens.arrivalMs + 300 * 1000);
    QCOMPARE(timing->refreshDueMs, timing->expiryMs - 60 * 1000);

    // The request the browser was sent (RFC 6749 §4.1.1, RFC 7636 §4.3, RFC 8252 §7.3).
    const QUrlQuery query(result.authorizationUrl);
    QCOMPARE(query.queryItemValue(QStringLiteral("response_type")), QStringLiteral("code"));
    QCOMPARE(query.queryItemValue(QStringLiteral("client_id")), m_provider->clientId());
    QCOMPARE(query.queryItemValue(QStringLiteral("code_challenge_method")), QStringLiteral("S256"));
    QCOMPARE(query.queryItemValue(QStringLiteral("code_challenge")).size(), 43);
    QCOMPARE(query.queryItemValue(QStringLiteral("nonce")).size(), 43);
    QCOMPARE(query.queryItemValue(QStringLiteral("scope"), QUrl::FullyDecoded),
             QStringLiteral("openid offline_access"));
    QCOMPARE(query.queryItemValue(QStringLiteral("redirect_uri"), QUrl::FullyDecoded),
             result.redirectUri.toString());
    QCOMPARE(result.redirectUri.host(), QStringLiteral("127.0.0.1"));
    QVERIFY(result.metadata && result.metadata->authorizationResponseIssParameterSupported);
    QVERIFY(result.browserSucceeded);
}

void tst_OAuthCodeFlow::cancelStopsListening()
{
    const SessionConfig transport = transportConfig();
    Discovery discovery(m_provider->issuer().toString(), transport);
    CodeFlow::Options options;
    options.clientId = m_provider->clientId();
    CodeFlow flow(discovery, transport, options);
    QSignalSpy finished(&flow, &CodeFlow::finished);
    QObject::connect(&flow, &CodeFlow::authorizationUrlReady, &flow, [&flow] { flow.cancel(); });
    flow.start();
    QVERIFY(finished.wait(FlowTimeoutMs));
    QCOMPARE(finished.size(), 1);
    QCOMPARE(flow.takeOutcome().error.code(), Error::Code::Cancelled);
    // The receiver is closed: the redirect URI no longer answers.
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, quint16(flow.redirectUri().port()));
    QVERIFY(!socket.waitForConnected(5000));
    QVERIFY(!finished.wait(200)); // and finished() came once
}

void tst_OAuthCodeFlow::nobodyAtTheBrowserTimesOut()
{
    const SessionConfig transport = transportConfig();
    Discovery discovery(m_provider->issuer().toString(), transport);
    CodeFlow::Options options;
    options.clientId = m_provider->clientId();
    options.receiver.timeout = std::chrono::seconds(1);
    CodeFlow flow(discovery, transport, options);
    QSignalSpy finished(&flow, &CodeFlow::finished);
    flow.start();
    QVERIFY(finished.wait(FlowTimeoutMs));
    const TokenOutcome outcome = flow.takeOutcome();
    QCOMPARE(outcome.kind, TokenOutcome::Kind::Failed);
    QCOMPARE(outcome.error.code(), Error::Code::Timeout);
}

void tst_OAuthCodeFlow::refreshRotatesAndReuseRevokesTheGrant()
{
    SignIn result = signIn(m_provider->issuer(), m_provider->clientId());
    QVERIFY2(result.outcome.kind == TokenOutcome::Kind::Issued,
             qPrintable(describe(result.outcome)));
    const Secret first = std::move(result.outcome.tokens.refresh);
    const auto endpoint =
            createOAuthTokenEndpoint(transportConfig(),
                                     {m_provider->clientId(), result.metadata->tokenEndpoint,
                                      result.metadata->revocationEndpoint});

    const TokenOutcome rotated = waitForRefresh(*endpoint, first);
    QVERIFY2(rotated.kind == TokenOutcome::Kind::Issued, qPrintable(describe(rotated)));
    QVERIFY(!rotated.tokens.refresh.isEmpty());
    QVERIFY2(!rotated.tokens.refresh.equals(first.reveal()), "the refresh token rotates");
    QVERIFY(!rotated.tokens.access.equals(result.outcome.tokens.access.reveal()));

    // The spent token again: reuse. The provider refuses it and revokes the grant.
    const TokenOutcome replayed = waitForRefresh(*endpoint, first);
    QVERIFY2(replayed.kind == TokenOutcome::Kind::Rejected, qPrintable(describe(replayed)));
    QCOMPARE(replayed.error.code(), Error::Code::SessionRejected);
    QCOMPARE(replayed.error.serverCode(), QStringLiteral("invalid_grant"));
    QVERIFY(!replayed.error.message().contains(QString::fromLatin1(first.reveal())));

    // ... so the current token of the grant is dead too.
    const TokenOutcome afterReuse = waitForRefresh(*endpoint, rotated.tokens.refresh);
    QVERIFY2(afterReuse.kind == TokenOutcome::Kind::Rejected, qPrintable(describe(afterReuse)));
    QCOMPARE(afterReuse.error.code(), Error::Code::SessionRejected);
    QVERIFY(QTest::qWaitFor(
            [&] { return m_provider->serverStdout().contains("event grant.revoked"); }, 10000));
}

void tst_OAuthCodeFlow::revocationEndsTheGrant()
{
    SignIn result = signIn(m_provider->issuer(), m_provider->clientId());
    QVERIFY2(result.outcome.kind == TokenOutcome::Kind::Issued,
             qPrintable(describe(result.outcome)));
    const auto endpoint =
            createOAuthTokenEndpoint(transportConfig(),
                                     {m_provider->clientId(), result.metadata->tokenEndpoint,
                                      result.metadata->revocationEndpoint});
    QVERIFY(endpoint->canRevoke());
    const Secret &refresh = result.outcome.tokens.refresh;
    const Error revoked = waitForRevoke(*endpoint, refresh);
    QVERIFY2(!revoked.isError(), qPrintable(revoked.message()));

    const TokenOutcome refused = waitForRefresh(*endpoint, refresh);
    QVERIFY2(refused.kind == TokenOutcome::Kind::Rejected, qPrintable(describe(refused)));
    QCOMPARE(refused.error.code(), Error::Code::SessionRejected);

    // RFC 7009 §2.2: a token the server no longer knows is answered 200 too.
    const Error again = waitForRevoke(*endpoint, refresh);
    QVERIFY2(!again.isError(), qPrintable(again.message()));
}

void tst_OAuthCodeFlow::issuerWithPath()
{
    OidcProviderProcess realm;
    realm.setIssuerPath(QStringLiteral("/realms/acme"));
    QVERIFY2(realm.start(), qPrintable(realm.errorString()));
    const SignIn result = signIn(realm.issuer(), realm.clientId());
    QVERIFY2(result.outcome.kind == TokenOutcome::Kind::Issued,
             qPrintable(describe(result.outcome)));
    QVERIFY(!result.outcome.tokens.refresh.isEmpty());
    QVERIFY(result.metadata->issuer.endsWith(QStringLiteral("/realms/acme")));
    QVERIFY(result.authorizationUrl.path().startsWith(QStringLiteral("/realms/acme/")));
    realm.printLogIfFailed();
}

void tst_OAuthCodeFlow::accessDeniedEndsTheFlow()
{
    const SignIn result =
            signIn(m_provider->issuer(), m_provider->clientId(), {QStringLiteral("--deny")});
    QVERIFY2(result.outcome.kind == TokenOutcome::Kind::Failed,
             qPrintable(describe(result.outcome)));
    QCOMPARE(result.outcome.error.code(), Error::Code::AccessDenied);
    QCOMPARE(result.outcome.error.serverCode(), QStringLiteral("access_denied"));
    QVERIFY(!result.outcome.error.isTransient());
}

void tst_OAuthCodeFlow::spentOrForgedCodeIsRefused()
{
    // A code the provider never issued stands for any it will not accept (spent, expired,
    // another verifier): the user signs in again.
    const QUrl tokenEndpoint = tokenEndpointOf(m_provider->issuer());
    QVERIFY(!tokenEndpoint.isEmpty());
    const auto endpoint = createOAuthTokenEndpoint(transportConfig(),
                                                   {m_provider->clientId(), tokenEndpoint, {}});
    const Secret code("not-a-code-the-provider-issued");
    const Secret verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    const TokenOutcome outcome = waitForOutcome([&](TokenEndpoint::Done done) {
        endpoint->exchangeCode(code, verifier, QUrl(QStringLiteral("http://127.0.0.1:9/callback")),
                               std::move(done));
    });
    QVERIFY2(outcome.kind == TokenOutcome::Kind::Rejected, qPrintable(describe(outcome)));
    QCOMPARE(outcome.error.code(), Error::Code::InvalidCredentials);
    QCOMPARE(outcome.error.serverCode(), QStringLiteral("invalid_grant"));
}

void tst_OAuthCodeFlow::interceptedCodeNeedsTheVerifier()
{
    // Authorization code interception (RFC 7636 §1): another program on this machine gets the
    // redirect, here by listening on the receiver's port once the flow gave it up. The SDK's
    // request carried an S256 challenge, so the code is worth nothing without the verifier,
    // which never left the SDK.
    const SessionConfig transport = transportConfig();
    Discovery discovery(m_provider->issuer().toString(), transport);
    CodeFlow::Options options;
    options.clientId = m_provider->clientId();
    CodeFlow flow(discovery, transport, options);
    QUrl authorizationUrl;
    QObject::connect(&flow, &CodeFlow::authorizationUrlReady, &flow, [&](const QUrl &url) {
        authorizationUrl = url;
        flow.cancel();
    });
    QSignalSpy finished(&flow, &CodeFlow::finished);
    flow.start();
    QVERIFY(finished.wait(FlowTimeoutMs));
    const QUrlQuery request(authorizationUrl);
    QCOMPARE(request.queryItemValue(QStringLiteral("code_challenge_method")),
             QStringLiteral("S256"));
    const QUrl redirect(request.queryItemValue(QStringLiteral("redirect_uri"), QUrl::FullyDecoded));

    QTcpServer attacker;
    QVERIFY2(attacker.listen(QHostAddress::LocalHost, quint16(redirect.port())),
             qPrintable(attacker.errorString()));
    QByteArray stolen;
    QObject::connect(&attacker, &QTcpServer::newConnection, &attacker, [&] {
        QTcpSocket *socket = attacker.nextPendingConnection();
        QObject::connect(socket, &QTcpSocket::readyRead, socket, [&stolen, socket] {
            stolen += socket->readAll();
            if (stolen.contains("\r\n\r\n")) {
                socket->write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                socket->disconnectFromHost();
            }
        });
    });
    ScriptedBrowser browser;
    browser.open(authorizationUrl);
    QVERIFY2(browser.finishedWith(0), "the browser did not reach the attacker's listener");
    const QByteArray target = stolen.split(' ').value(1);
    const QString code = QUrlQuery(QUrl(QString::fromLatin1(target)))
                                 .queryItemValue(QStringLiteral("code"), QUrl::FullyDecoded);
    QVERIFY2(!code.isEmpty(), target.constData());

    // Redeemed without a verifier, or with one the attacker made up: invalid_grant.
    const QUrl tokenEndpoint = tokenEndpointOf(m_provider->issuer());
    QNetworkAccessManager plain;
    QNetworkRequest post(tokenEndpoint);
    post.setHeader(QNetworkRequest::ContentTypeHeader,
                   QByteArrayLiteral("application/x-www-form-urlencoded"));
    std::unique_ptr<QNetworkReply> reply(
            plain.post(post,
                       formEncode({{"grant_type", "authorization_code"},
                                   {"code", code.toUtf8()},
                                   {"redirect_uri", redirect.toEncoded()},
                                   {"client_id", m_provider->clientId().toUtf8()}})));
    QTRY_VERIFY_WITH_TIMEOUT(reply->isFinished(), FlowTimeoutMs);
    QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 400);
    const QByteArray body = reply->readAll();
    QVERIFY2(body.contains("\"invalid_grant\"") || body.contains("\"invalid_request\""),
             body.constData());
    const auto endpoint =
            createOAuthTokenEndpoint(transport, {m_provider->clientId(), tokenEndpoint, {}});
    const TokenOutcome outcome = waitForOutcome([&](TokenEndpoint::Done done) {
        endpoint->exchangeCode(Secret(code.toUtf8()),
                               Secret("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), redirect,
                               std::move(done));
    });
    QVERIFY2(outcome.kind == TokenOutcome::Kind::Rejected, qPrintable(describe(outcome)));
    QCOMPARE(outcome.error.serverCode(), QStringLiteral("invalid_grant"));
}

void tst_OAuthCodeFlow::unknownClientIsAConfigurationError()
{
    const QUrl tokenEndpoint = tokenEndpointOf(m_provider->issuer());
    QVERIFY(!tokenEndpoint.isEmpty());
    const auto endpoint = createOAuthTokenEndpoint(
            transportConfig(), {QStringLiteral("no-such-client"), tokenEndpoint, {}});
    const Secret refresh("some-refresh-token");
    const TokenOutcome outcome = waitForRefresh(*endpoint, refresh);
    QVERIFY2(outcome.kind == TokenOutcome::Kind::Failed, qPrintable(describe(outcome)));
    QCOMPARE(outcome.error.code(), Error::Code::InvalidConfiguration);
    QCOMPARE(outcome.error.serverCode(), QStringLiteral("invalid_client"));
    QVERIFY(!outcome.error.isTransient());
}

void tst_OAuthCodeFlow::requestsAreFormEncoded()
{
    TokenServer server;
    server.answer = {200, "application/json", ValidBody};
    const auto endpoint = createOAuthTokenEndpoint(
            transportConfig(), {QStringLiteral("app+id&x=y é"), server.url(), {}});
    const Secret code("c0de/+=&");
    const Secret verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    const TokenOutcome outcome = waitForOutcome([&](TokenEndpoint::Done done) {
        endpoint->exchangeCode(code, verifier,
                               QUrl(QStringLiteral("http://127.0.0.1:4711/callback")),
                               std::move(done));
    });
    QVERIFY2(outcome.kind == TokenOutcome::Kind::Issued, qPrintable(describe(outcome)));
    QCOMPARE(server.heads.size(), 1);
    const QByteArray head = server.heads.first().toLower();
    QVERIFY2(head.startsWith("post /token http/1.1"), head.constData());
    QVERIFY(head.contains("\r\ncontent-type: application/x-www-form-urlencoded"));
    QVERIFY(head.contains("\r\naccept: application/json"));
    QVERIFY(!head.contains("authorization:"));
    QVERIFY(!head.contains("cookie:"));
    const QUrlQuery form(QString::fromLatin1(server.bodies.first()));
    // Decoded as a form decoder does: "+" would have been a space.
    auto field = [&form](const char *name) {
        return QUrl::fromPercentEncoding(
                form.queryItemValue(QLatin1String(name), QUrl::FullyEncoded).toLatin1());
    };
    QCOMPARE(field("grant_type"), QStringLiteral("authorization_code"));
    QCOMPARE(field("code"), QStringLiteral("c0de/+=&"));
    QCOMPARE(field("code_verifier"), QString::fromLatin1(verifier.reveal()));
    QCOMPARE(field("redirect_uri"), QStringLiteral("http://127.0.0.1:4711/callback"));
    QCOMPARE(field("client_id"), QStringLiteral("app+id&x=y é"));
    QVERIFY(!server.bodies.first().contains('+'));
    QVERIFY(!server.bodies.first().contains(' '));

    const Secret refresh("r/+=");
    const TokenOutcome refreshed = waitForRefresh(*endpoint, refresh);
    QVERIFY2(refreshed.kind == TokenOutcome::Kind::Issued, qPrintable(describe(refreshed)));
    const QUrlQuery refreshForm(QString::fromLatin1(server.bodies.last()));
    QCOMPARE(refreshForm.queryItemValue(QStringLiteral("grant_type")),
             QStringLiteral("refresh_token"));
    QCOMPARE(refreshForm.queryItemValue(QStringLiteral("refresh_token"), QUrl::FullyEncoded),
             QStringLiteral("r%2F%2B%3D"));
    QVERIFY(refreshForm.hasQueryItem(QStringLiteral("client_id")));
}

void tst_OAuthCodeFlow::refreshWithoutRefreshTokenKeepsTheOld()
{
    TokenServer server;
    server.answer = {200, "application/json",
                     R"({"access_token":"a2","token_type":"Bearer","expires_in":60})"};
    const auto endpoint = endpointAt(server);
    const Secret refresh("old-refresh");
    const TokenOutcome outcome = waitForRefresh(*endpoint, refresh);
    QVERIFY2(outcome.kind == TokenOutcome::Kind::Issued, qPrintable(describe(outcome)));
    // Empty: the refresher keeps the token it has (no rotation).
    QVERIFY(outcome.tokens.refresh.isEmpty());
    QVERIFY(outcome.tokens.access.equals("a2"));

    // A code exchange without one leaves the session nothing to keep: a configuration error.
    const Secret code("c");
    const Secret verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    const TokenOutcome exchanged = waitForOutcome([&](TokenEndpoint::Done done) {
        endpoint->exchangeCode(code, verifier, QUrl(QStringLiteral("http://127.0.0.1:1/callback")),
                               std::move(done));
    });
    QVERIFY2(exchanged.kind == TokenOutcome::Kind::Failed, qPrintable(describe(exchanged)));
    QCOMPARE(exchanged.error.code(), Error::Code::InvalidConfiguration);
}

void tst_OAuthCodeFlow::tokenTypeIsCaseInsensitiveBearer()
{
    TokenServer server;
    server.answer = {200, "application/json; charset=utf-8",
                     R"({"access_token":"a","token_type":"bEARER","expires_in":60,"x":[1]})"};
    const auto endpoint = endpointAt(server);
    const Secret refresh("r");
    const TokenOutcome outcome = waitForRefresh(*endpoint, refresh);
    QVERIFY2(outcome.kind == TokenOutcome::Kind::Issued, qPrintable(describe(outcome)));
    QCOMPARE(outcome.tokens.claims.lifetimeSeconds, std::optional<qint64>(60));
}

void tst_OAuthCodeFlow::missingExpiresInFallsBackToAShortLifetime()
{
    TokenServer server;
    server.answer = {200, "application/json", R"({"access_token":"opaque","token_type":"Bearer"})"};
    const auto endpoint = endpointAt(server);
    const Secret refresh("r");
    const TokenOutcome outcome = waitForRefresh(*endpoint, refresh);
    QVERIFY2(outcome.kind == TokenOutcome::Kind::Issued, qPrintable(describe(outcome)));
    QCOMPARE(outcome.tokens.claims.lifetimeSeconds,
             std::optional<qint64>(AssumedAccessLifetimeSeconds));
}

void tst_OAuthCodeFlow::hostileSuccessIsRefused_data()
{
    QTest::addColumn<QByteArray>("contentType");
    QTest::addColumn<QByteArray>("body");
    const QByteArray json = "application/json";
    const auto row = [&](const char *name, const QByteArray &type, const QByteArray &body) {
        QTest::addRow("%s", name) << type << body;
    };
    row("token_type MAC", json, R"({"access_token":"a","token_type":"mac","expires_in":60})");
    row("token_type DPoP", json, R"({"access_token":"a","token_type":"DPoP","expires_in":60})");
    row("token_type missing", json, R"({"access_token":"a","expires_in":60})");
    row("token_type number", json, R"({"access_token":"a","token_type":1,"expires_in":60})");
    row("access_token missing", json, R"({"token_type":"Bearer","expires_in":60})");
    row("access_token empty", json, R"({"access_token":"","token_type":"Bearer"})");
    row("access_token number", json, R"({"access_token":42,"token_type":"Bearer"})");
    row("access_token with CRLF", json,
        R"({"access_token":"a\r\nX-Evil: 1","token_type":"Bearer"})");
    row("access_token too long", json,
        R"({"access_token":")" + QByteArray(MaxAccessTokenBytes + 1, 'a')
                + R"(","token_type":"Bearer"})");
    row("expires_in negative", json,
        R"({"access_token":"a","token_type":"Bearer","expires_in":-60})");
    row("expires_in zero", json, R"({"access_token":"a","token_type":"Bearer","expires_in":0})");
    row("expires_in huge", json,
        R"({"access_token":"a","token_type":"Bearer","expires_in":1e300})");
    row("expires_in over 30 days", json,
        R"({"access_token":"a","token_type":"Bearer","expires_in":2592001})");
    row("expires_in string", json,
        R"({"access_token":"a","token_type":"Bearer","expires_in":"3600"})");
    row("expires_in fraction", json,
        R"({"access_token":"a","token_type":"Bearer","expires_in":59.5})");
    row("refresh_token empty", json,
        R"({"access_token":"a","token_type":"Bearer","expires_in":60,"refresh_token":""})");
    row("refresh_token object", json,
        R"({"access_token":"a","token_type":"Bearer","expires_in":60,"refresh_token":{}})");
    row("id_token with space", json,
        R"({"access_token":"a","token_type":"Bearer","expires_in":60,"id_token":"a b"})");
    row("duplicate access_token", json,
        R"({"access_token":"a","access_token":"b","token_type":"Bearer","expires_in":60})");
    row("not an object", json, R"(["access_token"])");
    row("trailing garbage", json,
        R"({"access_token":"a","token_type":"Bearer","expires_in":60} x)");
    row("HTML page", "text/html", "<html><body>" + ValidBody + "</body></html>");
    row("JSON as text/plain", "text/plain", ValidBody);
    row("oversized body", json,
        R"({"access_token":"a","token_type":"Bearer","expires_in":60,"pad":")"
                + QByteArray(MaxTokenResponseBytes, 'x') + R"("})");
}

void tst_OAuthCodeFlow::hostileSuccessIsRefused()
{
    QFETCH(QByteArray, contentType);
    QFETCH(QByteArray, body);
    TokenServer server;
    server.answer = {200, contentType, body};
    const auto endpoint = endpointAt(server);
    const Secret refresh("r");
    const TokenOutcome outcome = waitForRefresh(*endpoint, refresh);
    QVERIFY2(outcome.kind == TokenOutcome::Kind::Failed, qPrintable(describe(outcome)));
    // Transient: the refresh token is kept and the refresh retried later.
    QCOMPARE(outcome.error.code(), Error::Code::ServerError);
    QVERIFY(outcome.error.isTransient());
    QVERIFY(!outcome.error.message().contains(QStringLiteral("X-Evil")));
}

void tst_OAuthCodeFlow::errorsAreMapped_data()
{
    QTest::addColumn<bool>("codeExchange");
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("contentType");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<int>("kind");
    QTest::addColumn<Error::Code>("code");
    QTest::addColumn<QString>("serverCode");
    const QByteArray json = "application/json";
    const int rejected = int(TokenOutcome::Kind::Rejected);
    const int failed = int(TokenOutcome::Kind::Failed);
    auto error = [](const char *code) {
        return R"({"error":")" + QByteArray(code) + R"(","error_description":"why"})";
    };
    QTest::addRow("refresh invalid_grant")
            << false << 400 << json << error("invalid_grant") << rejected
            << Error::Code::SessionRejected << QStringLiteral("invalid_grant");
    QTest::addRow("code invalid_grant")
            << true << 400 << json << error("invalid_grant") << rejected
            << Error::Code::InvalidCredentials << QStringLiteral("invalid_grant");
    for (const char *code : {"invalid_client", "unauthorized_client", "unsupported_grant_type",
                             "invalid_scope", "invalid_request"}) {
        QTest::addRow("refresh %s", code)
                << false << 400 << json << error(code) << failed
                << Error::Code::InvalidConfiguration << QString::fromLatin1(code);
        QTest::addRow("code %s", code)
                << true << 400 << json << error(code) << failed << Error::Code::InvalidConfiguration
                << QString::fromLatin1(code);
    }
    QTest::addRow("401 invalid_client")
            << false << 401 << json << error("invalid_client") << failed
            << Error::Code::InvalidConfiguration << QStringLiteral("invalid_client");
    QTest::addRow("unknown error code")
            << false << 400 << json << error("something_new") << failed << Error::Code::ServerError
            << QStringLiteral("something_new");
    QTest::addRow("400 without error") << false << 400 << json << QByteArray("{}") << failed
                                       << Error::Code::ServerError << QString();
    QTest::addRow("400 HTML") << false << 400 << QByteArray("text/html")
                              << QByteArray("<h1>invalid_grant</h1>") << failed
                              << Error::Code::ServerError << QString();
    QTest::addRow("400 invalid_grant as text/plain")
            << false << 400 << QByteArray("text/plain") << error("invalid_grant") << failed
            << Error::Code::ServerError << QString();
    QTest::addRow("403 invalid_grant") << false << 403 << json << error("invalid_grant") << failed
                                       << Error::Code::ServerError << QString();
    QTest::addRow("error code with quote")
            << false << 400 << json << QByteArray(R"({"error":"invalid\"grant"})") << failed
            << Error::Code::ServerError << QString();
    QTest::addRow("duplicate error")
            << false << 400 << json
            << QByteArray(R"({"error":"invalid_scope","error":"invalid_grant"})") << failed
            << Error::Code::ServerError << QString();
    QTest::addRow("500") << false << 500 << json << error("server_error") << failed
                         << Error::Code::ServerError << QString();
    QTest::addRow("503") << false << 503 << QByteArray("text/html") << QByteArray("down") << failed
                         << Error::Code::ServerError << QString();
    QTest::addRow("429") << false << 429 << json << QByteArray("{}") << failed
                         << Error::Code::RateLimited << QString();
    QTest::addRow("302") << false << 302 << json << QByteArray("{}") << failed
                         << Error::Code::ServerError << QString();
}

void tst_OAuthCodeFlow::errorsAreMapped()
{
    QFETCH(bool, codeExchange);
    QFETCH(int, status);
    QFETCH(QByteArray, contentType);
    QFETCH(QByteArray, body);
    QFETCH(int, kind);
    QFETCH(Error::Code, code);
    QFETCH(QString, serverCode);
    TokenServer server;
    server.answer = {status, contentType, body};
    const auto endpoint = endpointAt(server);
    const Secret secret("s");
    const Secret verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    const TokenOutcome outcome = waitForOutcome([&](TokenEndpoint::Done done) {
        if (codeExchange)
            endpoint->exchangeCode(secret, verifier,
                                   QUrl(QStringLiteral("http://127.0.0.1:1/callback")),
                                   std::move(done));
        else
            endpoint->refresh(secret, std::move(done));
    });
    QVERIFY2(int(outcome.kind) == kind, qPrintable(describe(outcome)));
    QCOMPARE(outcome.error.code(), code);
    QCOMPARE(outcome.error.serverCode(), serverCode);
    QCOMPARE(outcome.error.isTransient(),
             code == Error::Code::ServerError || code == Error::Code::RateLimited);
}

void tst_OAuthCodeFlow::errorDescriptionIsFiltered()
{
    TokenServer server;
    const auto endpoint = endpointAt(server);
    const Secret refresh("r");
    auto refreshOnce = [&] { return waitForRefresh(*endpoint, refresh); };

    server.answer = {400, "application/json",
                     R"({"error":"invalid_grant","error_description":"grant revoked"})"};
    QVERIFY(refreshOnce().error.message().contains(QStringLiteral("\"grant revoked\"")));

    // Characters RFC 6749 §5.2 does not allow (a quote, a newline, non-ASCII): left out.
    for (const QByteArray &description :
         {QByteArray(R"(say \"hi\")"), QByteArray(R"(line\nbreak)"), QByteArray("caf\xc3\xa9")}) {
        server.answer = {400, "application/json",
                         R"({"error":"invalid_grant","error_description":")" + description
                                 + R"("})"};
        const TokenOutcome outcome = refreshOnce();
        QCOMPARE(outcome.error.code(), Error::Code::SessionRejected);
        QVERIFY2(!outcome.error.message().contains(QStringLiteral("hi"))
                         && !outcome.error.message().contains(QStringLiteral("break"))
                         && !outcome.error.message().contains(QStringLiteral("caf")),
                 qPrintable(outcome.error.message()));
    }

    // Long: capped.
    server.answer = {400, "application/json",
                     R"({"error":"invalid_grant","error_description":")" + QByteArray(5000, 'w')
                             + R"("})"};
    const TokenOutcome capped = refreshOnce();
    QVERIFY(capped.error.message().contains(QString(200, u'w') + QStringLiteral("...")));
    QVERIFY(!capped.error.message().contains(QString(201, u'w')));
}

void tst_OAuthCodeFlow::silentServerTimesOut()
{
    TokenServer server;
    server.answer.status = 0;
    const auto endpoint = createOAuthTokenEndpoint(transportConfig(std::chrono::seconds(1)),
                                                   {QStringLiteral("app"), server.url(), {}});
    const Secret refresh("r");
    const TokenOutcome outcome = waitForRefresh(*endpoint, refresh);
    QVERIFY2(outcome.kind == TokenOutcome::Kind::Failed, qPrintable(describe(outcome)));
    QCOMPARE(outcome.error.code(), Error::Code::Timeout);
    QVERIFY(outcome.error.isTransient());
}

void tst_OAuthCodeFlow::revokeAnswers_data()
{
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<Error::Code>("code");
    QTest::addRow("200") << 200 << QByteArray() << Error::Code::NoError;
    QTest::addRow("503") << 503 << QByteArray("{}") << Error::Code::ServerError;
    QTest::addRow("invalid_client") << 401 << QByteArray(R"({"error":"invalid_client"})")
                                    << Error::Code::InvalidConfiguration;
}

void tst_OAuthCodeFlow::revokeAnswers()
{
    QFETCH(int, status);
    QFETCH(QByteArray, body);
    QFETCH(Error::Code, code);
    TokenServer server;
    server.answer = {status, "application/json", body};
    const auto endpoint = createOAuthTokenEndpoint(
            transportConfig(),
            {QStringLiteral("app"), server.url(), server.url(QStringLiteral("/revoke"))});
    const Secret refresh("the-refresh-token");
    QCOMPARE(waitForRevoke(*endpoint, refresh).code(), code);
    QCOMPARE(server.heads.size(), 1);
    QVERIFY(server.heads.first().startsWith("POST /revoke "));
    const QUrlQuery form(QString::fromLatin1(server.bodies.first()));
    QCOMPARE(form.queryItemValue(QStringLiteral("token")), QStringLiteral("the-refresh-token"));
    QCOMPARE(form.queryItemValue(QStringLiteral("token_type_hint")),
             QStringLiteral("refresh_token"));
    QCOMPARE(form.queryItemValue(QStringLiteral("client_id")), QStringLiteral("app"));
}

void tst_OAuthCodeFlow::passwordGrantIsNotOffered()
{
    TokenServer server;
    const auto endpoint = endpointAt(server);
    QVERIFY(!endpoint->canRevoke());
    const TokenOutcome outcome = waitForOutcome([&](TokenEndpoint::Done done) {
        endpoint->obtainWithPassword(QStringLiteral("alice"), QStringLiteral("pw"),
                                     std::move(done));
    });
    QCOMPARE(outcome.error.code(), Error::Code::InvalidConfiguration);
    QVERIFY(server.heads.isEmpty());
}

void tst_OAuthCodeFlow::authorizationUrlKeepsTheEndpointQuery()
{
    const QUrl url = authorizationRequestUrl(
            QUrl(QStringLiteral("https://id.example/authorize?tenant=a%26b")),
            QStringLiteral("my app+1"), QUrl(QStringLiteral("http://127.0.0.1:5000/callback")),
            {QStringLiteral("openid"), QStringLiteral("email")}, "st", "no", "ch");
    const QUrlQuery query(url);
    QCOMPARE(query.queryItemValue(QStringLiteral("tenant"), QUrl::FullyDecoded),
             QStringLiteral("a&b"));
    const QByteArray encoded = url.toEncoded();
    QVERIFY2(encoded.contains("client_id=my%20app%2B1"), encoded.constData());
    QVERIFY2(encoded.contains("scope=openid%20email"), encoded.constData());
    QVERIFY2(encoded.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fcallback"),
             encoded.constData());
    QVERIFY(encoded.contains("&state=st&nonce=no&code_challenge=ch&code_challenge_method=S256"));
}

QTEST_GUILESS_MAIN(tst_OAuthCodeFlow)
#include "tst_oauth_codeflow.moc"

// SPDX-License-Identifier: MIT
// What the OAuth profile's logout sends to the revocation endpoint (RFC 7009): the refresh
// token, then the access token the session holds (token_type_hint=access_token), for providers
// that do not revoke a grant's access tokens with its refresh token (§2.1 makes that a SHOULD).
// Both real peers of the suite do revoke them together (tst_oauth_session), so nothing there
// can tell whether the access token was sent: this test records the requests at an in-process
// provider (discovery, JWKS, device sign-in, token and revocation endpoints from cans, ID tokens
// signed ES256 by the JOSE layer), with memory-only storage. Also: the endpoint's answers to
// an access token's revocation (unsupported_token_type, §2.2.1, is not an error), and the
// SimpleJWT profile's logout, which sends only its blacklist request.
#include "oauth/oauthtokenendpoint_p.h"
#include "session_p.h"

#include "cannedhttpserver.h"

#include <tessera/jose.h>
#include <tessera/session.h>

#include <QtCore/QDateTime>
#include <QtCore/QElapsedTimer>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QLoggingCategory>
#include <QtCore/QUrlQuery>
#include <QtTest/QTest>

#include <algorithm>
#include <optional>

using namespace Tessera;
using Tessera::Test::CannedHttpServer;

namespace {

constexpr int TimeoutMs = 30000;
const QByteArray RefreshToken = "opaque-refresh-7f3a";
const QByteArray AccessToken = "opaque-access-51c9";

template<typename T> Error wait(QFuture<T> future)
{
    if (!QTest::qWaitFor([&] { return future.isFinished(); }, TimeoutMs))
        return {Error::Code::Cancelled, QStringLiteral("the test gave up waiting")};
    return errorOf(future);
}

QString describe(const Error &error)
{
    return QStringLiteral("%1 %2").arg(
            QString::fromLatin1(QMetaEnum::fromType<Error::Code>().valueToKey(int(error.code()))),
            error.message());
}

QByteArray json(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

// One revocation request as the provider read it.
struct Revocation
{
    QString token;
    QString hint;
    QString clientId;
};

// An OpenID provider from cans: discovery, JWKS, a device authorization that the first poll
// completes (interval 1 s), a token endpoint issuing RefreshToken, AccessToken and an ID token
// for "alice", and a revocation endpoint answering by token_type_hint.
class CannedProvider : public CannedHttpServer
{
public:
    CannedHttpServer::Answer refreshRevocation{200, "application/json", "{}", {}};
    CannedHttpServer::Answer accessRevocation{200, "application/json", "{}", {}};
    int expiresIn = 600; // of the issued access token
    // When set: the answer to every token request after the first (the sign-in).
    std::optional<CannedHttpServer::Answer> laterTokenAnswer;

    CannedProvider()
    {
        commonHeaders = "Cache-Control: no-store\r\n";
        m_key = Jose::Key::generate(Jose::Algorithm::ES256);
        m_key.setKeyId(QStringLiteral("ec-1"));
        const QString base = origin();
        const QJsonObject document{
                {QStringLiteral("issuer"), base},
                {QStringLiteral("authorization_endpoint"), base + QStringLiteral("/authorize")},
                {QStringLiteral("token_endpoint"), base + QStringLiteral("/token")},
                {QStringLiteral("jwks_uri"), base + QStringLiteral("/jwks")},
                {QStringLiteral("device_authorization_endpoint"), base + QStringLiteral("/device")},
                {QStringLiteral("revocation_endpoint"), base + QStringLiteral("/revoke")},
                {QStringLiteral("response_types_supported"), QJsonArray{QStringLiteral("code")}},
                {QStringLiteral("subject_types_supported"), QJsonArray{QStringLiteral("public")}},
                {QStringLiteral("id_token_signing_alg_values_supported"),
                 QJsonArray{QStringLiteral("ES256")}}};
        answerPath("/.well-known/openid-configuration",
                   {200, "application/json", json(document), {}});
        answerPath("/jwks", {200, "application/json", json(Jose::jwks({m_key})), {}});
        answerPath("/device",
                   {200,
                    "application/json",
                    R"({"device_code":"dc-1","user_code":"WDJB-MJHT","verification_uri":")"
                            + base.toLatin1() + R"(/verify","expires_in":600,"interval":1})",
                    {}});
        answerFor = [this](const QByteArray &path,
                           const QByteArray &body) -> std::optional<CannedHttpServer::Answer> {
            if (path == "/token") {
                if (laterTokenAnswer && paths.count("/token") > 1)
                    return laterTokenAnswer;
                return CannedHttpServer::Answer{200, "application/json", tokenResponse(), {}};
            }
            if (path != "/revoke")
                return std::nullopt;
            const QUrlQuery form(QString::fromLatin1(body));
            return form.queryItemValue(QStringLiteral("token_type_hint"))
                            == QStringLiteral("access_token")
                    ? accessRevocation
                    : refreshRevocation;
        };
    }

    QUrl issuer() const { return QUrl(origin()); }

    QList<Revocation> revocations() const
    {
        QList<Revocation> found;
        for (qsizetype i = 0; i < paths.size(); ++i) {
            if (paths.at(i) != "/revoke")
                continue;
            const QUrlQuery form(QString::fromLatin1(bodies.at(i)));
            found.append({form.queryItemValue(QStringLiteral("token"), QUrl::FullyDecoded),
                          form.queryItemValue(QStringLiteral("token_type_hint")),
                          form.queryItemValue(QStringLiteral("client_id"), QUrl::FullyDecoded)});
        }
        return found;
    }

private:
    QByteArray tokenResponse() const
    {
        const qint64 now = QDateTime::currentSecsSinceEpoch();
        const QByteArray idToken = Jose::signJwt(m_key,
                                                 {{QStringLiteral("iss"), origin()},
                                                  {QStringLiteral("aud"), QStringLiteral("app")},
                                                  {QStringLiteral("sub"), QStringLiteral("alice")},
                                                  {QStringLiteral("iat"), now},
                                                  {QStringLiteral("exp"), now + 600}});
        return json({{QStringLiteral("access_token"), QString::fromLatin1(AccessToken)},
                     {QStringLiteral("token_type"), QStringLiteral("Bearer")},
                     {QStringLiteral("expires_in"), expiresIn},
                     {QStringLiteral("refresh_token"), QString::fromLatin1(RefreshToken)},
                     {QStringLiteral("id_token"), QString::fromLatin1(idToken)},
                     {QStringLiteral("scope"), QStringLiteral("openid offline_access")}});
    }

    Jose::Key m_key;
};

SessionConfig oauthConfig(const CannedProvider &provider)
{
    SessionConfig config;
    config.setAppId(QStringLiteral("org.tessera.test.oauth-logout"));
    config.setIssuer(provider.issuer());
    config.setClientId(QStringLiteral("app"));
    config.setStoragePolicy(SessionConfig::StoragePolicy::MemoryOnly);
    config.setRequestTimeout(std::chrono::seconds(10));
    return config;
}

// Every message logged while it lives, for the check that no token is among them.
class LogCapture
{
public:
    LogCapture()
    {
        s_lines.clear();
        m_previous =
                qInstallMessageHandler([](QtMsgType, const QMessageLogContext &,
                                          const QString &message) { s_lines.append(message); });
    }
    ~LogCapture() { qInstallMessageHandler(m_previous); }
    bool anyContains(const QByteArray &text) const
    {
        for (const QString &line : s_lines) {
            if (line.contains(QString::fromLatin1(text)))
                return true;
        }
        return false;
    }
    const QStringList &lines() const { return s_lines; }

private:
    static inline QStringList s_lines;
    QtMessageHandler m_previous = nullptr;
};

} // namespace

class tst_OAuthLogout : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();

    void logoutRevokesRefreshThenAccessToken();
    void accessTokenRevocationOutcomes_data();
    void accessTokenRevocationOutcomes();
    void noAccessTokenHeldRevokesOnlyTheRefreshToken();
    void expiredAccessTokenIsNotSent();
    void endpointAnswersForAnAccessToken_data();
    void endpointAnswersForAnAccessToken();
    void simpleJwtLogoutIsUnchanged();

private:
    // Signs `session` in at `provider` with the device flow; NoError on success.
    Error signIn(Session &session);
};

void tst_OAuthLogout::initTestCase()
{
    // Every category on: the no-token checks read what would be logged in a debug session.
    QLoggingCategory::setFilterRules(QStringLiteral("tessera.*=true"));
}

Error tst_OAuthLogout::signIn(Session &session)
{
    const Error error = wait(session.signInWithDevice());
    if (!error.isError() && session.state() != Session::State::SignedIn)
        return {Error::Code::ServerError, QStringLiteral("not signed in")};
    return error;
}

void tst_OAuthLogout::logoutRevokesRefreshThenAccessToken()
{
    CannedProvider provider;
    Session session(oauthConfig(provider));
    const Error signedIn = signIn(session);
    QVERIFY2(!signedIn.isError(), qPrintable(describe(signedIn)));
    QCOMPARE(session.user(), QStringLiteral("alice"));

    const Error error = wait(session.logout());
    QVERIFY2(!error.isError(), qPrintable(describe(error)));
    QCOMPARE(session.state(), Session::State::SignedOut);
    const QList<Revocation> revocations = provider.revocations();
    QCOMPARE(revocations.size(), 2);
    // The refresh token first: it ends the session.
    QCOMPARE(revocations.at(0).token, QString::fromLatin1(RefreshToken));
    QCOMPARE(revocations.at(0).hint, QStringLiteral("refresh_token"));
    QCOMPARE(revocations.at(0).clientId, QStringLiteral("app"));
    QCOMPARE(revocations.at(1).token, QString::fromLatin1(AccessToken));
    QCOMPARE(revocations.at(1).hint, QStringLiteral("access_token"));
    QCOMPARE(revocations.at(1).clientId, QStringLiteral("app"));
}

void tst_OAuthLogout::accessTokenRevocationOutcomes_data()
{
    QTest::addColumn<int>("refreshStatus");
    QTest::addColumn<QByteArray>("refreshBody");
    QTest::addColumn<int>("accessStatus");
    QTest::addColumn<QByteArray>("accessBody");
    QTest::addColumn<Error::Code>("logoutCode");
    // §2.2.1: the provider revokes no access token on its own: nothing went wrong.
    QTest::addRow("unsupported_token_type")
            << 200 << QByteArray("{}") << 400 << QByteArray(R"({"error":"unsupported_token_type"})")
            << Error::Code::NoError;
    // The session ended with the refresh token's revocation; the access token's failure is
    // logged, not reported (the token expires on its own; nobody could retry it).
    QTest::addRow("access 503") << 200 << QByteArray("{}") << 503 << QByteArray("{}")
                                << Error::Code::NoError;
    QTest::addRow("access invalid_client")
            << 200 << QByteArray("{}") << 401 << QByteArray(R"({"error":"invalid_client"})")
            << Error::Code::NoError;
    // The refresh token's revocation failing is RevokeFailed as before; the access token is
    // still revoked where the provider can.
    QTest::addRow("refresh 503") << 503 << QByteArray("{}") << 200 << QByteArray("{}")
                                 << Error::Code::RevokeFailed;
}

void tst_OAuthLogout::accessTokenRevocationOutcomes()
{
    QFETCH(int, refreshStatus);
    QFETCH(QByteArray, refreshBody);
    QFETCH(int, accessStatus);
    QFETCH(QByteArray, accessBody);
    QFETCH(Error::Code, logoutCode);
    CannedProvider provider;
    provider.refreshRevocation = {refreshStatus, "application/json", refreshBody, {}};
    provider.accessRevocation = {accessStatus, "application/json", accessBody, {}};
    Session session(oauthConfig(provider));
    const Error signedIn = signIn(session);
    QVERIFY2(!signedIn.isError(), qPrintable(describe(signedIn)));

    LogCapture log;
    const Error error = wait(session.logout());
    QVERIFY2(error.code() == logoutCode, qPrintable(describe(error)));
    QCOMPARE(session.state(), Session::State::SignedOut);
    const QList<Revocation> revocations = provider.revocations();
    QCOMPARE(revocations.size(), 2);
    QCOMPARE(revocations.at(0).hint, QStringLiteral("refresh_token"));
    QCOMPARE(revocations.at(1).hint, QStringLiteral("access_token"));
    QCOMPARE(revocations.at(1).token, QString::fromLatin1(AccessToken));
    QVERIFY(!log.lines().isEmpty());
    QVERIFY2(!log.anyContains(AccessToken), qPrintable(log.lines().join(u'\n')));
    QVERIFY2(!log.anyContains(RefreshToken), qPrintable(log.lines().join(u'\n')));
    QVERIFY(!error.message().contains(QString::fromLatin1(AccessToken)));
}

void tst_OAuthLogout::noAccessTokenHeldRevokesOnlyTheRefreshToken()
{
    CannedProvider provider;
    Session session(oauthConfig(provider));
    const Error signedIn = signIn(session);
    QVERIFY2(!signedIn.isError(), qPrintable(describe(signedIn)));
    // The access token is gone (as after a 401 or at its expiry): nothing to revoke but the
    // refresh token.
    SessionPrivate::get(&session)->expireAccessTokenForTesting();

    const Error error = wait(session.logout());
    QVERIFY2(!error.isError(), qPrintable(describe(error)));
    const QList<Revocation> revocations = provider.revocations();
    QCOMPARE(revocations.size(), 1);
    QCOMPARE(revocations.at(0).token, QString::fromLatin1(RefreshToken));
    QCOMPARE(revocations.at(0).hint, QStringLiteral("refresh_token"));
}

void tst_OAuthLogout::expiredAccessTokenIsNotSent()
{
    // A 2 s access token whose refreshes fail (503: retried with backoff) stays in memory past
    // its expiry; revoking it would be a request for nothing.
    CannedProvider provider;
    provider.expiresIn = 2;
    provider.laterTokenAnswer = CannedHttpServer::Answer{503, "application/json", "{}", {}};
    Session session(oauthConfig(provider));
    const Error signedIn = signIn(session);
    QVERIFY2(!signedIn.isError(), qPrintable(describe(signedIn)));
    QElapsedTimer sinceSignIn;
    sinceSignIn.start();
    // The proactive refresh was refused, and the token's 2 s are over.
    QTRY_VERIFY_WITH_TIMEOUT(provider.paths.count("/token") > 1, TimeoutMs);
    QTest::qWait(int(std::max<qint64>(0, 2500 - sinceSignIn.elapsed())));

    const Error error = wait(session.logout());
    QVERIFY2(!error.isError(), qPrintable(describe(error)));
    const QList<Revocation> revocations = provider.revocations();
    QCOMPARE(revocations.size(), 1);
    QCOMPARE(revocations.at(0).hint, QStringLiteral("refresh_token"));
}

void tst_OAuthLogout::endpointAnswersForAnAccessToken_data()
{
    QTest::addColumn<bool>("accessToken");
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<Error::Code>("code");
    QTest::addRow("access 200") << true << 200 << QByteArray("{}") << Error::Code::NoError;
    QTest::addRow("access unsupported_token_type")
            << true << 400 << QByteArray(R"({"error":"unsupported_token_type"})")
            << Error::Code::NoError;
    QTest::addRow("access 503") << true << 503 << QByteArray("{}") << Error::Code::ServerError;
    QTest::addRow("access invalid_client")
            << true << 401 << QByteArray(R"({"error":"invalid_client"})")
            << Error::Code::InvalidConfiguration;
    // A provider MUST support revoking refresh tokens (§2.1): for one, unsupported_token_type
    // is a failure as before.
    QTest::addRow("refresh unsupported_token_type")
            << false << 400 << QByteArray(R"({"error":"unsupported_token_type"})")
            << Error::Code::ServerError;
}

void tst_OAuthLogout::endpointAnswersForAnAccessToken()
{
    QFETCH(bool, accessToken);
    QFETCH(int, status);
    QFETCH(QByteArray, body);
    QFETCH(Error::Code, code);
    CannedHttpServer server;
    server.answer = {status, "application/json", body, {}};
    SessionConfig transport;
    transport.setRequestTimeout(std::chrono::seconds(10));
    const auto endpoint = OAuth::createOAuthTokenEndpoint(transport,
                                                          {QStringLiteral("app"),
                                                           server.url(QStringLiteral("/token")),
                                                           server.url(QStringLiteral("/revoke"))});
    QVERIFY(endpoint->canRevokeAccessTokens());
    std::optional<Error> result;
    const Secret token(accessToken ? AccessToken : RefreshToken);
    auto done = [&result](const Error &error) { result = error; };
    if (accessToken)
        endpoint->revokeAccessToken(token, done);
    else
        endpoint->revoke(token, done);
    QVERIFY(QTest::qWaitFor([&] { return result.has_value(); }, TimeoutMs));
    QVERIFY2(result->code() == code, qPrintable(describe(*result)));
    QCOMPARE(server.paths, QList<QByteArray>{"/revoke"});
    const QUrlQuery form(QString::fromLatin1(server.bodies.first()));
    QCOMPARE(form.queryItemValue(QStringLiteral("token")),
             QString::fromLatin1(accessToken ? AccessToken : RefreshToken));
    QCOMPARE(form.queryItemValue(QStringLiteral("token_type_hint")),
             accessToken ? QStringLiteral("access_token") : QStringLiteral("refresh_token"));
    QCOMPARE(form.queryItemValue(QStringLiteral("client_id")), QStringLiteral("app"));
}

void tst_OAuthLogout::simpleJwtLogoutIsUnchanged()
{
    // SimpleJWT's blacklist endpoint takes refresh tokens only: its logout sends the one
    // request it always did, and no access token anywhere.
    CannedHttpServer server;
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    const QByteArray access =
            Jose::signJwt(Jose::Key::fromSecret(Secret(QByteArray(32, 'k'))),
                          {{QStringLiteral("iat"), now},
                           {QStringLiteral("exp"), now + 600},
                           {QStringLiteral("token_type"), QStringLiteral("access")}});
    server.answerPath("/api/token/",
                      {200,
                       "application/json",
                       json({{QStringLiteral("access"), QString::fromLatin1(access)},
                             {QStringLiteral("refresh"), QString::fromLatin1(RefreshToken)}}),
                       {}});
    server.answer = {200, "application/json", "{}", {}};
    SessionConfig config;
    config.setAppId(QStringLiteral("org.tessera.test.oauth-logout"));
    config.setServerUrl(QUrl(server.origin()));
    config.setStoragePolicy(SessionConfig::StoragePolicy::MemoryOnly);
    config.setRequestTimeout(std::chrono::seconds(10));
    Session session(config);
    const Error signedIn = wait(session.login(QStringLiteral("alice"), QStringLiteral("pw")));
    QVERIFY2(!signedIn.isError(), qPrintable(describe(signedIn)));
    QVERIFY(!wait(session.freshAccessToken()).isError()); // an access token is held

    const Error error = wait(session.logout());
    QVERIFY2(!error.isError(), qPrintable(describe(error)));
    QCOMPARE(server.paths, (QList<QByteArray>{"/api/token/", "/api/token/blacklist/"}));
    const QJsonObject blacklisted = QJsonDocument::fromJson(server.bodies.last()).object();
    QCOMPARE(blacklisted,
             (QJsonObject{{QStringLiteral("refresh"), QString::fromLatin1(RefreshToken)}}));
    for (const QByteArray &body : server.bodies)
        QVERIFY(!body.contains(access));
}

QTEST_MAIN(tst_OAuthLogout)
#include "tst_oauth_logout.moc"

// SPDX-License-Identifier: MIT
// The OAuth profile of Tessera::Session (issue 11): signInWithBrowser() against a real
// authorization server (oauthpeer.h: oidc-provider of tests/interop/oidc, or tessera-server, by
// $TESSERA_OAUTH_PEER) with browser.py as the person in the browser, the refresh token in the
// real keyring (scripts/with-keyring.sh), restore, refresh with rotation, the server's reuse
// detection, logout with revocation, and storage that never crosses issuers or clients. Where
// the two servers legitimately differ, the test says so at the expectation.
#include "oauth/discovery_p.h"
#include "oauth/oauthtokenendpoint_p.h"
#include "dpopsigner_p.h"
#include "session_p.h"

#include "keyringtest.h"
#include "oauthpeer.h"

#include <tessera/authenticatednetworkaccessmanager.h>
#include <tessera/dpop.h>
#include <tessera/session.h>

#include <QtCore/QFile>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QProcess>
#include <QtCore/QScopeGuard>
#include <QtCore/QTemporaryDir>
#include <QtCore/QTextStream>
#include <QtCore/QUrlQuery>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <memory>

using namespace Tessera;
using namespace Tessera::Test;

namespace {

// The child process of restoreInAnotherProcessRotatesForBoth(): `tst_oauth_session
// --restore-child ISSUER CLIENT_ID APP_ID` restores the stored session (discovering the issuer
// itself) and prints "user NAME refreshes N", or the error; exit status 0 when signed in.
int restoreChild(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    SessionConfig config;
    config.setIssuer(QUrl(QString::fromLocal8Bit(argv[2])));
    config.setClientId(QString::fromLocal8Bit(argv[3]));
    config.setAppId(QString::fromLocal8Bit(argv[4]));
    config.setRequestTimeout(std::chrono::seconds(30));
    Session session(config);
    const Error error = wait(session.restore());
    QTextStream out(stdout);
    if (error.isError()) {
        out << "error " << describe(error) << Qt::endl;
        return 1;
    }
    out << "user " << session.user() << " refreshes "
        << SessionPrivate::get(&session)->refreshCount() << Qt::endl;
    return 0;
}

} // namespace

class tst_OAuthSession : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    void signInStoresAndRestores();
    void refreshRotatesAndReuseIsRejected();
    void rejectedAccessTokenRefreshesOnce();
    void shortLivedAccessTokensRefreshAhead();
    void restoreInAnotherProcessRotatesForBoth();
    void logoutRevokes();
    void storageNeverCrossesIssuersOrClients();
    void loginIsRefusedForOAuth();
    void cancelEndsTheSignIn();
    void systemBrowserOpenerRunsBrowserDirectly();
    void accessDeniedLeavesNothing();

private:
    // An OAuth configuration for `peer`, with an app id of its own (nothing stored yet).
    SessionConfig oauthConfig(const OAuthPeer &peer) const;
    // Signs `session` in at `peer` through browser.py as `user`; NoError on success.
    Error signIn(Session &session, const QString &user = QStringLiteral("alice"));
    Error signIn(Session &session, const OAuthPeer &peer, const QStringList &browserOptions);
    // The DPoP key `session` is bound to (a null key when it is not): tessera-server binds by
    // default (it advertises DPoP, and the default policy IfSupported follows), so what the
    // tests do outside the session must then carry proofs of that key, as the session would.
    static Jose::Key boundKey(Session &session);
    // A refresh of `token` at the token endpoint of `config`'s issuer, outside the session,
    // with a DPoP proof of `key` unless it is null.
    TokenOutcome refreshOutOfBand(const SessionConfig &config, const QByteArray &token,
                                  const Jose::Key &key);
    // GET userinfo with `access` as the bearer token, or as a DPoP token with a proof of `key`
    // unless it is null; the HTTP status.
    int userinfoStatus(const SessionConfig &config, const Secret &access, const Jose::Key &key);
    // RFC 7662 introspection of `token` by the client: its "active" member, none when the
    // provider has no introspection endpoint or answered something else.
    std::optional<bool> introspect(const SessionConfig &config, QByteArrayView token,
                                   const QByteArray &hint);

    std::unique_ptr<OAuthPeer> m_peer;
    QString m_secretServiceProblem;
};

SessionConfig tst_OAuthSession::oauthConfig(const OAuthPeer &peer) const
{
    SessionConfig config;
    config.setAppId(QStringLiteral("org.tessera.test.oauth-")
                    + QUuid::createUuid().toString(QUuid::Id128));
    config.setIssuer(peer.issuer());
    config.setClientId(peer.clientId());
    config.setRequestTimeout(std::chrono::seconds(30));
    config.setBrowserTimeout(std::chrono::milliseconds(FlowTimeoutMs));
    return config;
}

Error tst_OAuthSession::signIn(Session &session, const QString &user)
{
    return signIn(session, *m_peer, m_peer->signInOptions(user));
}

Error tst_OAuthSession::signIn(Session &session, const OAuthPeer &peer,
                               const QStringList &browserOptions)
{
    ScriptedPerson person(session, peer, browserOptions);
    return wait(session.signInWithBrowser());
}

Jose::Key tst_OAuthSession::boundKey(Session &session)
{
    return session.isDpopBound() ? SessionPrivate::get(&session)->dpopSignerForTesting()->key()
                                 : Jose::Key();
}

TokenOutcome tst_OAuthSession::refreshOutOfBand(const SessionConfig &config,
                                                const QByteArray &token, const Jose::Key &key)
{
    OAuth::Discovery discovery(config.issuer().toString(), config);
    if (wait(discovery.metadata()).isError())
        return TokenOutcome::failed({Error::Code::NetworkError, QStringLiteral("discovery")});
    DpopSigner signer;
    signer.setKey(key);
    const auto endpoint = OAuth::createOAuthTokenEndpoint(
            config, {config.clientId(), discovery.cached()->tokenEndpoint, {}, !key.isNull()},
            key.isNull() ? nullptr : &signer);
    std::optional<TokenOutcome> outcome;
    endpoint->refresh(Secret(token),
                      [&outcome](TokenOutcome result) { outcome = std::move(result); });
    if (!QTest::qWaitFor([&] { return outcome.has_value(); }, FlowTimeoutMs))
        return TokenOutcome::failed({Error::Code::Cancelled, QStringLiteral("timeout")});
    return std::move(*outcome);
}

int tst_OAuthSession::userinfoStatus(const SessionConfig &config, const Secret &access,
                                     const Jose::Key &key)
{
    OAuth::Discovery discovery(config.issuer().toString(), config);
    if (wait(discovery.metadata()).isError())
        return -1;
    QNetworkAccessManager plain;
    const QUrl userinfo = discovery.cached()->userinfoEndpoint;
    QNetworkRequest request(userinfo);
    const QByteArray token = access.reveal().toByteArray();
    if (key.isNull()) {
        request.setRawHeader("Authorization", "Bearer " + token);
    } else {
        Jose::Dpop::ProofOptions options;
        options.accessToken = token;
        request.setRawHeader("Authorization", "DPoP " + token);
        request.setRawHeader("DPoP",
                             Jose::Dpop::createProof(key, "GET", userinfo,
                                                     QDateTime::currentSecsSinceEpoch(), options));
    }
    std::unique_ptr<QNetworkReply> reply(plain.get(request));
    if (!QTest::qWaitFor([&] { return reply->isFinished(); }, FlowTimeoutMs))
        return -1;
    return reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
}

std::optional<bool> tst_OAuthSession::introspect(const SessionConfig &config, QByteArrayView token,
                                                 const QByteArray &hint)
{
    OAuth::Discovery discovery(config.issuer().toString(), config);
    if (wait(discovery.metadata()).isError() || discovery.cached()->introspectionEndpoint.isEmpty())
        return std::nullopt;
    QNetworkAccessManager plain;
    QNetworkRequest request(discovery.cached()->introspectionEndpoint);
    request.setHeader(QNetworkRequest::ContentTypeHeader,
                      QByteArrayLiteral("application/x-www-form-urlencoded"));
    std::unique_ptr<QNetworkReply> reply(
            plain.post(request,
                       OAuth::formEncode({{"token", token.toByteArray()},
                                          {"token_type_hint", hint},
                                          {"client_id", config.clientId().toUtf8()}})));
    if (!QTest::qWaitFor([&] { return reply->isFinished(); }, FlowTimeoutMs)
        || reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt() != 200)
        return std::nullopt;
    const QJsonValue active = QJsonDocument::fromJson(reply->readAll()).object().value("active");
    if (!active.isBool())
        return std::nullopt;
    return active.toBool();
}

void tst_OAuthSession::initTestCase()
{
    m_secretServiceProblem = secretServiceProblem();
    QString problem;
    m_peer = OAuthPeer::startFromEnvironment(&problem);
    QVERIFY2(m_peer, qPrintable(problem));
}

void tst_OAuthSession::cleanupTestCase()
{
    m_peer.reset();
}

void tst_OAuthSession::cleanup()
{
    if (m_peer)
        m_peer->printLogIfFailed();
}

void tst_OAuthSession::signInStoresAndRestores()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    const SessionConfig config = oauthConfig(*m_peer);
    QCOMPARE(config.profile(), SessionConfig::Profile::OAuth);
    {
        Session session(config);
        QSignalSpy requested(&session, &Session::browserSignInRequested);
        const Error error = signIn(session, QStringLiteral("carol"));
        QVERIFY2(!error.isError(), qPrintable(describe(error)));
        QCOMPARE(requested.size(), 1);
        const QUrl url = requested.first().first().toUrl();
        QVERIFY(url.toString().startsWith(m_peer->issuer().toString()));
        QCOMPARE(session.state(), Session::State::SignedIn);
        QCOMPARE(session.user(), QStringLiteral("carol"));
        QVERIFY(session.accessExpiresAt() > QDateTime::currentDateTime());

        // Written before SignedIn: the refresh token is in the real keyring, under the
        // issuer's and client's namespace, and the account pointer names carol.
        const QByteArray stored = storedSecret(config, config.storageKey(QStringLiteral("carol")));
        QVERIFY2(!stored.isEmpty(), "the refresh token is in the keyring");
        QVERIFY(SessionPrivate::get(&session)->store());
        QCOMPARE(storedSecret(config, config.storageKey(QString()) + QStringLiteral("#account")),
                 QByteArray("carol"));

        // The access token works at the issuer's origin (the userinfo endpoint), sent by the
        // authenticated manager.
        OAuth::Discovery discovery(config.issuer().toString(), config);
        QVERIFY(!wait(discovery.metadata()).isError());
        AuthenticatedNetworkAccessManager manager(&session);
        std::unique_ptr<QNetworkReply> reply(
                manager.get(QNetworkRequest(discovery.cached()->userinfoEndpoint)));
        QTRY_VERIFY_WITH_TIMEOUT(reply->isFinished(), FlowTimeoutMs);
        QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 200);
        QVERIFY(reply->readAll().contains("\"sub\":\"carol\""));

        // RP-initiated logout's URL, from the discovered end_session_endpoint.
        const QUrl endSession = session.endSessionUrl(QUrl(QStringLiteral("http://127.0.0.1/bye")));
        if (discovery.cached()->endSessionEndpoint.isEmpty()) {
            QVERIFY(endSession.isEmpty());
        } else {
            const QUrlQuery query(endSession);
            QCOMPARE(query.queryItemValue(QStringLiteral("client_id")), config.clientId());
            QCOMPARE(query.queryItemValue(QStringLiteral("post_logout_redirect_uri"),
                                          QUrl::FullyDecoded),
                     QStringLiteral("http://127.0.0.1/bye"));
        }
    }
    // A fresh Session object: discovers, reads the keyring, refreshes.
    Session restored(config);
    QVERIFY(restored.endSessionUrl().isEmpty()); // nothing discovered yet
    const Error error = wait(restored.restore());
    QVERIFY2(!error.isError(), qPrintable(describe(error)));
    QCOMPARE(restored.state(), Session::State::SignedIn);
    QCOMPARE(restored.user(), QStringLiteral("carol"));
    QCOMPARE(SessionPrivate::get(&restored)->refreshCount(), 1);
    QVERIFY(!wait(restored.logout()).isError());
}

void tst_OAuthSession::refreshRotatesAndReuseIsRejected()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    const SessionConfig config = oauthConfig(*m_peer);
    Session session(config);
    QVERIFY(!signIn(session).isError());
    const QString key = config.storageKey(session.user());
    const QByteArray first = storedSecret(config, key);
    QVERIFY(!first.isEmpty());
    const Jose::Key dpopKey = boundKey(session);

    // The access token is gone (as after a 401): the next one needs a refresh, which rotates.
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    QFuture<Secret> token = session.freshAccessToken();
    QVERIFY2(!wait(token).isError(), qPrintable(describe(errorOf(token))));
    QCOMPARE(SessionPrivate::get(&session)->refreshCount(), 1);
    const QByteArray second = storedSecret(config, key);
    QVERIFY(!second.isEmpty());
    QVERIFY2(second != first, "the rotated refresh token was stored");

    if (m_peer->isTesseraServer()) {
        // tessera-server's grace window (--reuse-grace, 10 s): the spent token presented again
        // right after its rotation gets the current one back, as a lost response's retry would.
        const TokenOutcome grace = refreshOutOfBand(config, first, dpopKey);
        QVERIFY2(grace.kind == TokenOutcome::Kind::Issued, qPrintable(describe(grace.error)));
        QVERIFY(grace.tokens.refresh.equals(second));
        // Nor does tessera-server send an ID token on refresh (OIDC Core §12.2 makes it
        // optional); the session's user comes from its storage.
        QVERIFY(grace.tokens.idToken.isEmpty());
        // One more rotation makes `first` a grandparent, which no window covers.
        SessionPrivate::get(&session)->expireAccessTokenForTesting();
        QVERIFY(!wait(session.freshAccessToken()).isError());
        QVERIFY(storedSecret(config, key) != second);
    }

    // Someone replays the spent token out of band: the provider's reuse detection revokes the
    // whole grant...
    const TokenOutcome replay = refreshOutOfBand(config, first, dpopKey);
    QCOMPARE(replay.kind, TokenOutcome::Kind::Rejected);
    QCOMPARE(replay.error.code(), Error::Code::SessionRejected);

    // ... so the session's next refresh is rejected: sign in again.
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    const Error rejected = wait(session.freshAccessToken());
    QCOMPARE(rejected.code(), Error::Code::SessionRejected);
    QTRY_COMPARE_WITH_TIMEOUT(session.state(), Session::State::ReauthRequired, FlowTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(storedSecret(config, key).isEmpty(), FlowTimeoutMs);
}

void tst_OAuthSession::rejectedAccessTokenRefreshesOnce()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    const SessionConfig config = oauthConfig(*m_peer);
    Session session(config);
    QVERIFY(!signIn(session).isError());
    const QString key = config.storageKey(session.user());
    const QByteArray first = storedSecret(config, key);
    OAuth::Discovery discovery(config.issuer().toString(), config);
    QVERIFY(!wait(discovery.metadata()).isError());
    const OAuth::ProviderMetadata metadata = *discovery.cached();

    // The provider stops accepting the access token the session holds (revoked out of band,
    // RFC 7009 with the access_token hint), long before it expires.
    QFuture<Secret> held = session.freshAccessToken();
    QVERIFY(!wait(held).isError());
    const Secret access = held.takeResult();
    QNetworkAccessManager plain;
    QNetworkRequest revoke(metadata.revocationEndpoint);
    revoke.setHeader(QNetworkRequest::ContentTypeHeader,
                     QByteArrayLiteral("application/x-www-form-urlencoded"));
    // A bound grant is revoked only with a proof of its key (docs/SERVER.md, "DPoP").
    if (const Jose::Key dpopKey = boundKey(session); !dpopKey.isNull())
        revoke.setRawHeader("DPoP",
                            Jose::Dpop::createProof(dpopKey, "POST", metadata.revocationEndpoint,
                                                    QDateTime::currentSecsSinceEpoch()));
    std::unique_ptr<QNetworkReply> revoked(
            plain.post(revoke,
                       OAuth::formEncode({{"token", access.reveal()},
                                          {"token_type_hint", "access_token"},
                                          {"client_id", config.clientId().toUtf8()}})));
    QTRY_VERIFY_WITH_TIMEOUT(revoked->isFinished(), FlowTimeoutMs);
    QCOMPARE(revoked->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 200);

    // A request answered 401 makes the session refresh (rotating) and send it again, once.
    AuthenticatedNetworkAccessManager manager(&session);
    std::unique_ptr<QNetworkReply> reply(manager.get(QNetworkRequest(metadata.userinfoEndpoint)));
    QTRY_VERIFY_WITH_TIMEOUT(reply->isFinished(), FlowTimeoutMs);
    if (m_peer->isTesseraServer()) {
        // tessera-server revokes the whole family for an access token (RFC 7009 §2.1 allows
        // it): the one refresh is refused, the request fails and the session ends.
        QCOMPARE(reply->error(), QNetworkReply::AuthenticationRequiredError);
        QCOMPARE(SessionPrivate::get(&session)->refreshCount(), 0);
        QTRY_COMPARE_WITH_TIMEOUT(session.state(), Session::State::ReauthRequired, FlowTimeoutMs);
        QTRY_VERIFY_WITH_TIMEOUT(storedSecret(config, key).isEmpty(), FlowTimeoutMs);
        return;
    }
    QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 200);
    QCOMPARE(SessionPrivate::get(&session)->refreshCount(), 1);
    const QByteArray rotated = storedSecret(config, key);
    QVERIFY(!rotated.isEmpty());
    QVERIFY2(rotated != first, "the rotated refresh token was stored");
    QVERIFY(!wait(session.logout()).isError());
}

void tst_OAuthSession::shortLivedAccessTokensRefreshAhead()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    OAuthPeer shortLived(m_peer->kind());
    shortLived.setAccessTtl(4);
    QVERIFY2(shortLived.start(), qPrintable(shortLived.errorString()));
    const SessionConfig config = oauthConfig(shortLived);
    Session session(config);
    QVERIFY(!signIn(session, shortLived, shortLived.signInOptions()).isError());
    const QString key = config.storageKey(session.user());
    const QByteArray first = storedSecret(config, key);
    const QDateTime firstExpiry = session.accessExpiresAt();
    QVERIFY(firstExpiry <= QDateTime::currentDateTime().addSecs(4));

    // Nobody asks for a token: the session refreshes before expiry on its own (expires_in is
    // 4 s, so at most half of it ahead), and each refresh rotates the stored token.
    QTRY_VERIFY_WITH_TIMEOUT(SessionPrivate::get(&session)->refreshCount() >= 2, FlowTimeoutMs);
    QVERIFY(session.accessExpiresAt() > firstExpiry);
    const QByteArray later = storedSecret(config, key);
    QVERIFY(!later.isEmpty());
    QVERIFY(later != first);
    QVERIFY(session.state() == Session::State::SignedIn
            || session.state() == Session::State::Refreshing);
    QVERIFY(!wait(session.logout()).isError());
    shortLived.printLogIfFailed();
}

void tst_OAuthSession::restoreInAnotherProcessRotatesForBoth()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    const SessionConfig config = oauthConfig(*m_peer);
    Session session(config);
    QVERIFY(!signIn(session, QStringLiteral("dave")).isError());
    const QString key = config.storageKey(QStringLiteral("dave"));
    const QByteArray first = storedSecret(config, key);

    // A fresh process: no metadata, no token in memory; it discovers, reads the keyring and
    // refreshes, which rotates the refresh token.
    QProcess child;
    child.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    child.start(QCoreApplication::applicationFilePath(),
                {QStringLiteral("--restore-child"), config.issuer().toString(), config.clientId(),
                 config.appId()});
    QVERIFY(child.waitForFinished(FlowTimeoutMs));
    const QByteArray output = child.readAllStandardOutput();
    QVERIFY2(child.exitStatus() == QProcess::NormalExit && child.exitCode() == 0,
             output.constData());
    QCOMPARE(output.trimmed(), QByteArray("user dave refreshes 1"));
    const QByteArray rotated = storedSecret(config, key);
    QVERIFY(!rotated.isEmpty());
    QVERIFY2(rotated != first, "the child stored its rotated token");

    // This process still holds the spent token in memory. Its next refresh must take the
    // child's from storage: presenting the spent one would be reuse, and the provider would
    // revoke the grant (SessionRejected).
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    QFuture<Secret> token = session.freshAccessToken();
    QVERIFY2(!wait(token).isError(), qPrintable(describe(errorOf(token))));
    QCOMPARE(session.state(), Session::State::SignedIn);
    QVERIFY(storedSecret(config, key) != rotated);
    QVERIFY(!wait(session.logout()).isError());
}

void tst_OAuthSession::logoutRevokes()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    const SessionConfig config = oauthConfig(*m_peer);
    Session session(config);
    QVERIFY(!signIn(session).isError());
    const QString key = config.storageKey(session.user());
    const QByteArray stored = storedSecret(config, key);
    QVERIFY(!stored.isEmpty());
    QFuture<Secret> held = session.freshAccessToken();
    QVERIFY(!wait(held).isError());
    const Secret access = held.takeResult();
    const Jose::Key dpopKey = boundKey(session); // logout forgets it
    QCOMPARE(userinfoStatus(config, access, dpopKey), 200);
    // oidc-provider offers RFC 7662 introspection: the provider's own word on the tokens.
    // tessera-server has none; the refused refresh and userinfo below are its checks.
    const bool canIntrospect = !m_peer->isTesseraServer();
    if (canIntrospect) {
        QCOMPARE(introspect(config, stored, "refresh_token"), std::optional<bool>(true));
        QCOMPARE(introspect(config, access.reveal(), "access_token"), std::optional<bool>(true));
    }

    const Error error = wait(session.logout());
    QVERIFY2(!error.isError(), qPrintable(describe(error)));
    QCOMPARE(session.state(), Session::State::SignedOut);
    QVERIFY(storedSecret(config, key).isEmpty());

    // Revoked at the provider (RFC 7009): the token cannot be spent any more.
    const TokenOutcome refused = refreshOutOfBand(config, stored, dpopKey);
    QCOMPARE(refused.kind, TokenOutcome::Kind::Rejected);
    QCOMPARE(refused.error.code(), Error::Code::SessionRejected);
    // And the access token the session held is refused where it is checked (both servers
    // revoke the grant's access tokens with its refresh token).
    QCOMPARE(userinfoStatus(config, access, dpopKey), 401);
    if (canIntrospect) {
        QCOMPARE(introspect(config, stored, "refresh_token"), std::optional<bool>(false));
        QCOMPARE(introspect(config, access.reveal(), "access_token"), std::optional<bool>(false));
    }
}

void tst_OAuthSession::storageNeverCrossesIssuersOrClients()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    const SessionConfig config = oauthConfig(*m_peer);
    {
        Session session(config);
        QVERIFY(!signIn(session).isError());
    }
    // The same app at another issuer of the same origin (a path), or with another client id,
    // or as a SimpleJWT server at the issuer's URL: nothing is stored for them, and the
    // stored refresh token is neither read nor sent.
    OAuthPeer realm(m_peer->kind());
    realm.setIssuerPath(QStringLiteral("/realms/acme"));
    QVERIFY2(realm.start(), qPrintable(realm.errorString()));
    SessionConfig otherIssuer = config;
    otherIssuer.setIssuer(QUrl(m_peer->issuer().toString() + QStringLiteral("/realms/acme")));
    SessionConfig realmIssuer = config;
    realmIssuer.setIssuer(realm.issuer());
    SessionConfig otherClient = config;
    otherClient.setClientId(QStringLiteral("another-app"));
    SessionConfig simpleJwt = config;
    simpleJwt.setIssuer(QUrl());
    simpleJwt.setServerUrl(m_peer->issuer());
    for (const SessionConfig &other : {otherIssuer, realmIssuer, otherClient, simpleJwt}) {
        Session session(other);
        const Error error = wait(session.restore());
        QVERIFY2(error.code() == Error::Code::NotSignedIn,
                 qPrintable(other.issuer().toString() + u' ' + describe(error)));
        QCOMPARE(session.state(), Session::State::SignedOut);
    }
    // oidc-provider logs every token request it answers; tessera-server logs none for an
    // unknown refresh token, so there NotSignedIn (not SessionRejected) above is the proof.
    if (!realm.isTesseraServer())
        QVERIFY(!realm.process().serverStdout().contains("event grant"));
    // An issuer with a path signs in and keeps its entry beside the first one.
    {
        Session atRealm(realmIssuer);
        QVERIFY(!signIn(atRealm, realm, realm.signInOptions(QStringLiteral("erin"))).isError());
        QCOMPARE(atRealm.user(), QStringLiteral("erin"));
        QVERIFY(!storedSecret(realmIssuer, realmIssuer.storageKey(QStringLiteral("erin")))
                         .isEmpty());
    }
    Session realmRestored(realmIssuer);
    QVERIFY(!wait(realmRestored.restore()).isError());
    QCOMPARE(realmRestored.user(), QStringLiteral("erin"));
    QVERIFY(!wait(realmRestored.logout()).isError());
    // The entry is still there for its own configuration.
    Session own(config);
    QVERIFY(!wait(own.restore()).isError());
    QVERIFY(!wait(own.logout()).isError());
}

void tst_OAuthSession::loginIsRefusedForOAuth()
{
    SessionConfig config = oauthConfig(*m_peer);
    Session session(config);
    QCOMPARE(wait(session.login(QStringLiteral("alice"), QStringLiteral("secret"))).code(),
             Error::Code::InvalidConfiguration);
    QCOMPARE(session.state(), Session::State::SignedOut);
    // And the browser sign-in needs the OAuth profile.
    Session simple(SessionConfig(QUrl(QStringLiteral("http://127.0.0.1:1/")), config.appId()));
    QCOMPARE(wait(simple.signInWithBrowser()).code(), Error::Code::InvalidConfiguration);
}

void tst_OAuthSession::cancelEndsTheSignIn()
{
    Session session(oauthConfig(*m_peer));
    QUrl url;
    connect(&session, &Session::browserSignInRequested, this,
            [&url](const QUrl &requested) { url = requested; });
    QFuture<void> signIn = session.signInWithBrowser();
    QTRY_VERIFY_WITH_TIMEOUT(!url.isEmpty(), FlowTimeoutMs);
    QCOMPARE(session.state(), Session::State::SigningIn);
    session.cancelSignIn();
    QCOMPARE(wait(signIn).code(), Error::Code::Cancelled);
    QCOMPARE(session.state(), Session::State::SignedOut);
    // The listener is closed: the browser arriving now reaches nobody.
    const QUrl redirect(
            QUrlQuery(url).queryItemValue(QStringLiteral("redirect_uri"), QUrl::FullyDecoded));
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, quint16(redirect.port()));
    QVERIFY(!socket.waitForConnected(5000));
}

void tst_OAuthSession::systemBrowserOpenerRunsBrowserDirectly()
{
    // openInSystemBrowser() runs $BROWSER with the URL as its one argument, detached: with
    // browser.py as $BROWSER the whole sign-in goes through it (the listener answers while
    // the browser runs).
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    const QByteArray savedBrowser = qgetenv("BROWSER");
    auto restoreBrowser = qScopeGuard([&savedBrowser] {
        if (savedBrowser.isNull())
            qunsetenv("BROWSER");
        else
            qputenv("BROWSER", savedBrowser);
    });
    // A wrapper, as $BROWSER is one program: browser.py with the password from the
    // environment (this process's, which $BROWSER inherits).
    QTemporaryDir browserDir;
    QVERIFY(browserDir.isValid());
    QFile wrapper(browserDir.filePath(QStringLiteral("browser")));
    QVERIFY(wrapper.open(QIODevice::WriteOnly));
    wrapper.write("#!/bin/sh\nexec '" TESSERA_PYTHON_PATH "' '" TESSERA_BROWSER_SCRIPT
                  "' --password-env "
                  + PasswordVariable.toLatin1() + " \"$@\"\n");
    wrapper.close();
    QVERIFY(wrapper.setPermissions(QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner));
    const QByteArray savedPassword = qgetenv(PasswordVariable.toLatin1());
    auto restorePassword = qScopeGuard([&savedPassword] {
        if (savedPassword.isNull())
            qunsetenv(PasswordVariable.toLatin1());
        else
            qputenv(PasswordVariable.toLatin1(), savedPassword);
    });
    qputenv(PasswordVariable.toLatin1(),
            m_peer->browserEnvironment().value(PasswordVariable).toUtf8());
    qputenv("BROWSER", QFile::encodeName(wrapper.fileName()));
    Session session(oauthConfig(*m_peer));
    connect(&session, &Session::browserSignInRequested, this,
            [](const QUrl &url) { QVERIFY(openInSystemBrowser(url)); });
    const Error error = wait(session.signInWithBrowser());
    QVERIFY2(!error.isError(), qPrintable(describe(error)));
    QCOMPARE(session.user(), QStringLiteral("alice"));
    QVERIFY(!wait(session.logout()).isError());

    // No shell between: a URL with shell syntax reaches the program as one argument, verbatim,
    // and nothing in it runs.
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString recorder = dir.filePath(QStringLiteral("record-args"));
    const QString record = dir.filePath(QStringLiteral("args"));
    const QString pwned = dir.filePath(QStringLiteral("pwned"));
    QFile script(recorder);
    QVERIFY(script.open(QIODevice::WriteOnly));
    script.write("#!/bin/sh\nprintf '%s\\n' \"$#\" \"$1\" > \"$0.tmp\" && mv \"$0.tmp\" \""
                 + QFile::encodeName(record) + "\"\n");
    script.close();
    QVERIFY(script.setPermissions(QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner));
    qputenv("BROWSER", QFile::encodeName(recorder));
    const QUrl hostile(QStringLiteral("http://127.0.0.1:1/cb?a=1&b=$(touch%20") + pwned
                       + QStringLiteral(");c=`id`"));
    QVERIFY(hostile.isValid());
    QVERIFY(openInSystemBrowser(hostile));
    QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(record), 20000);
    QFile recorded(record);
    QVERIFY(recorded.open(QIODevice::ReadOnly));
    const QList<QByteArray> lines = recorded.readAll().split('\n');
    QCOMPARE(lines.value(0), QByteArray("1"));
    QCOMPARE(lines.value(1), hostile.toEncoded());
    QVERIFY(!QFile::exists(pwned));
    // Without a $BROWSER program that exists, nothing starts.
    qputenv("BROWSER", QFile::encodeName(dir.filePath(QStringLiteral("missing"))));
    QVERIFY(!openInSystemBrowser(hostile));
}

void tst_OAuthSession::accessDeniedLeavesNothing()
{
    SessionConfig config = oauthConfig(*m_peer);
    Error::Code expected = Error::Code::AccessDenied;
    QStringList options{QStringLiteral("--deny")};
    if (m_peer->isTesseraServer()) {
        // tessera-server asks no consent of first-party clients: its login page has nothing
        // to refuse. Its error redirect here is invalid_scope, for a scope it does not know.
        config.setScopes({QStringLiteral("openid"), QStringLiteral("payroll")});
        expected = Error::Code::InvalidConfiguration;
        options = m_peer->signInOptions();
    }
    Session session(config);
    const Error error = signIn(session, *m_peer, options);
    QCOMPARE(error.code(), expected);
    QCOMPARE(session.state(), Session::State::SignedOut);
    QVERIFY(session.user().isEmpty());
}

int main(int argc, char **argv)
{
    if (argc == 5 && qstrcmp(argv[1], "--restore-child") == 0)
        return restoreChild(argc, argv);
    QCoreApplication app(argc, argv);
    tst_OAuthSession test;
    QTEST_SET_MAIN_SOURCE_PATH
    return QTest::qExec(&test, argc, argv);
}
#include "tst_oauth_session.moc"

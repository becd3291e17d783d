// SPDX-License-Identifier: MIT
// DPoP (RFC 9449, issue 13) in the OAuth profile of Tessera::Session, against the real
// authorization server $TESSERA_OAUTH_PEER names (tests/oauth/oauthpeer.h, one ctest name each):
// oidc-provider of tests/interop/oidc (provider.js --dpop, --dpop-require-nonce,
// --dpop-bound-client) or tessera-server (--dpop $TESSERA_DPOP_MODE: required, the default, or
// allowed; --dpop-nonce; --dpop off); one
// process per setup, started when a test first needs it; browser.py as the person and the
// refresh token and the key in the real keyring (scripts/with-keyring.sh). What a thief holding
// a copied token can do is asked of the server directly, outside the session.
#include "oauth/discovery_p.h"
#include "oauth/oauthtokenendpoint_p.h"
#include "dpopsigner_p.h"
#include "session_p.h"

#include "keyringtest.h"
#include "oauthpeer.h"

#include <tessera/authenticatednetworkaccessmanager.h>
#include <tessera/dpop.h>
#include <tessera/session.h>

#include <QtCore/QProcess>
#include <QtCore/QTextStream>
#include <QtCore/QUrlQuery>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <map>
#include <memory>

using namespace Tessera;
using namespace Tessera::Test;

namespace {

// `tst_oauth_dpop --restore-child ISSUER CLIENT_ID APP_ID`: restores the stored session in a
// process of its own and prints "user NAME refreshes N bound B jkt THUMBPRINT", or the error.
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
        << SessionPrivate::get(&session)->refreshCount() << " bound "
        << (session.isDpopBound() ? 1 : 0) << " jkt " << session.dpopKeyThumbprint() << Qt::endl;
    return 0;
}

// oidc-provider answers a DPoP token without a proof 400 (invalid_request), the others 401
// (tessera-server: 401 invalid_dpop_proof).
bool refused(const Answer &answer)
{
    return answer.status == 400 || answer.status == 401;
}

} // namespace

class tst_OAuthDpop : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void cleanup();

    void signInBindsTheSessionToItsKey();
    void stolenAccessTokenIsWorthNothing();
    void stolenRefreshTokenIsWorthNothing();
    void restoreInAnotherProcessUsesTheSameKey();
    void nonceIsFetchedOnceAtBothServers();
    void boundClientNeedsTheProof();
    void requiredFailsWhenTheServerDoesNotBind();
    void missingKeyMeansReauthRequired();
    void logoutDeletesTheKey();
    void allowedServesBearerSessions();

private:
    // The server setups the tests need; how each peer is started for one: see provider().
    enum class Setup {
        Dpop,        // DPoP advertised and accepted
        Nonce,       // every proof must carry a server nonce
        BoundClient, // this client's token requests must carry a proof
        NoDpop,      // DPoP off: proofs ignored, bearer tokens
    };
    // The peer of $TESSERA_OAUTH_PEER started for `setup` (shared by the tests that ask for it).
    OAuthPeer *provider(Setup setup);
    bool isTesseraServer() const { return m_kind == OAuthPeer::Kind::TesseraServer; }
    SessionConfig configFor(const OAuthPeer &peer) const;
    Error signIn(Session &session, const OAuthPeer &peer,
                 const QString &user = QStringLiteral("alice"));
    QUrl userinfoEndpoint(const SessionConfig &config);
    QUrl tokenEndpoint(const SessionConfig &config);

    std::map<Setup, std::unique_ptr<OAuthPeer>> m_peers;
    OAuthPeer::Kind m_kind = OAuthPeer::Kind::OidcProvider;
    // tessera-server's --dpop for the setups where DPoP is on ($TESSERA_DPOP_MODE).
    QString m_serverMode = QStringLiteral("required");
    QString m_secretServiceProblem;
};

OAuthPeer *tst_OAuthDpop::provider(Setup setup)
{
    auto &peer = m_peers[setup];
    if (!peer) {
        peer = std::make_unique<OAuthPeer>(m_kind);
        // tessera-server has no per-client DPoP setting: `--dpop required` refuses every token
        // request without a proof, which is what a bound client gets at oidc-provider.
        const QString required = QStringLiteral("required");
        const QString dpop = QStringLiteral("--dpop");
        switch (setup) {
        case Setup::Dpop:
            peer->setProviderArguments({dpop});
            peer->setServerArguments({dpop, m_serverMode});
            break;
        case Setup::Nonce:
            peer->setProviderArguments({QStringLiteral("--dpop-require-nonce")});
            peer->setServerArguments({dpop, m_serverMode, QStringLiteral("--dpop-nonce")});
            break;
        case Setup::BoundClient:
            peer->setProviderArguments({QStringLiteral("--dpop-bound-client")});
            peer->setServerArguments({dpop, required});
            break;
        case Setup::NoDpop:
            peer->setServerArguments({dpop, QStringLiteral("off")});
            break;
        }
        if (!peer->start()) {
            qWarning("cannot start %s: %s", qPrintable(peer->name()),
                     qPrintable(peer->errorString()));
            peer.reset();
            return nullptr;
        }
    }
    return peer.get();
}

SessionConfig tst_OAuthDpop::configFor(const OAuthPeer &peer) const
{
    SessionConfig config;
    config.setAppId(QStringLiteral("org.tessera.test.dpop-")
                    + QUuid::createUuid().toString(QUuid::Id128));
    config.setIssuer(peer.issuer());
    config.setClientId(peer.clientId());
    config.setRequestTimeout(std::chrono::seconds(30));
    config.setBrowserTimeout(std::chrono::milliseconds(FlowTimeoutMs));
    return config;
}

Error tst_OAuthDpop::signIn(Session &session, const OAuthPeer &peer, const QString &user)
{
    ScriptedPerson person(session, peer, peer.signInOptions(user));
    return wait(session.signInWithBrowser());
}

QUrl tst_OAuthDpop::userinfoEndpoint(const SessionConfig &config)
{
    OAuth::Discovery discovery(config.issuer().toString(), config);
    return wait(discovery.metadata()).isError() ? QUrl() : discovery.cached()->userinfoEndpoint;
}

QUrl tst_OAuthDpop::tokenEndpoint(const SessionConfig &config)
{
    OAuth::Discovery discovery(config.issuer().toString(), config);
    return wait(discovery.metadata()).isError() ? QUrl() : discovery.cached()->tokenEndpoint;
}

void tst_OAuthDpop::initTestCase()
{
    QString problem;
    const auto kind = OAuthPeer::fromEnvironment(&problem);
    QVERIFY2(kind, qPrintable(problem));
    m_kind = *kind;
    const QString mode = qEnvironmentVariable("TESSERA_DPOP_MODE");
    QVERIFY2(mode.isEmpty() || mode == u"required" || mode == u"allowed",
             "TESSERA_DPOP_MODE: required or allowed");
    if (!mode.isEmpty())
        m_serverMode = mode;
    qInfo("authorization server: %s",
          isTesseraServer() ? qPrintable(QStringLiteral("tessera-server --dpop ") + m_serverMode)
                            : "oidc-provider");
    m_secretServiceProblem = secretServiceProblem();
}

void tst_OAuthDpop::cleanupTestCase()
{
    m_peers.clear();
}

void tst_OAuthDpop::cleanup()
{
    for (auto &[setup, peer] : m_peers) {
        if (peer)
            peer->printLogIfFailed();
    }
}

void tst_OAuthDpop::signInBindsTheSessionToItsKey()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    OAuthPeer *peer = provider(Setup::Dpop);
    QVERIFY(peer);
    const SessionConfig config = configFor(*peer);
    QCOMPARE(config.dpopPolicy(), SessionConfig::DpopPolicy::IfSupported); // the default
    Session session(config);
    QSignalSpy requested(&session, &Session::browserSignInRequested);
    const Error error = signIn(session, *peer);
    QVERIFY2(!error.isError(), qPrintable(describe(error)));

    // Bound: token_type DPoP, to the key the authorization request named (RFC 9449 §10).
    QVERIFY(session.isDpopBound());
    const QString jkt = session.dpopKeyThumbprint();
    QCOMPARE(jkt.size(), 43);
    QCOMPARE(
            QUrlQuery(requested.first().first().toUrl()).queryItemValue(QStringLiteral("dpop_jkt")),
            jkt);

    // The key is in the keyring beside the refresh token: PKCS#8 DER of that very key.
    const QByteArray der = storedSecret(
            config, config.storageKey(QStringLiteral("alice")) + QStringLiteral("#dpop"));
    QVERIFY(!der.isEmpty());
    QVERIFY(der.startsWith('\x30')); // a DER SEQUENCE, not PEM text
    const Jose::Key stored = DpopSigner::importKey(Secret(der));
    QVERIFY(!stored.isNull());
    QCOMPARE(stored.thumbprint(), jkt);

    // Requests through the authenticated manager carry the token as DPoP with a proof.
    AuthenticatedNetworkAccessManager manager(&session);
    std::unique_ptr<QNetworkReply> reply(manager.get(QNetworkRequest(userinfoEndpoint(config))));
    QTRY_VERIFY_WITH_TIMEOUT(reply->isFinished(), FlowTimeoutMs);
    QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 200);
    QVERIFY(reply->readAll().contains("\"sub\":\"alice\""));

    // A refresh keeps the binding, with the same key.
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    QVERIFY(!wait(session.freshAccessToken()).isError());
    QCOMPARE(SessionPrivate::get(&session)->refreshCount(), 1);
    QVERIFY(session.isDpopBound());
    QCOMPARE(session.dpopKeyThumbprint(), jkt);
    QVERIFY(!wait(session.logout()).isError());
}

void tst_OAuthDpop::stolenAccessTokenIsWorthNothing()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    OAuthPeer *peer = provider(Setup::Dpop);
    QVERIFY(peer);
    const SessionConfig config = configFor(*peer);
    Session session(config);
    QVERIFY(!signIn(session, *peer).isError());
    QFuture<Secret> held = session.freshAccessToken();
    QVERIFY(!wait(held).isError());
    const QByteArray token = held.takeResult().reveal().toByteArray();
    const QUrl userinfo = userinfoEndpoint(config);

    // As a bearer token, as DPoP without a proof, and with a proof of the thief's own key.
    QCOMPARE(plainGet(userinfo, {{"Authorization", "Bearer " + token}}).status, 401);
    QVERIFY(refused(plainGet(userinfo, {{"Authorization", "DPoP " + token}})));
    const Jose::Key thief = Jose::Key::generate(Jose::Algorithm::ES256);
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    Jose::Dpop::ProofOptions withToken;
    withToken.accessToken = token;
    const QByteArray thiefProof = Jose::Dpop::createProof(thief, "GET", userinfo, now, withToken);
    QVERIFY(!thiefProof.isEmpty());
    QCOMPARE(plainGet(userinfo, {{"Authorization", "DPoP " + token}, {"DPoP", thiefProof}}).status,
             401);

    // The session's own key makes it work (so the refusals above are about the key), once: the
    // same proof replayed is refused.
    const Jose::Key &key = SessionPrivate::get(&session)->dpopSignerForTesting()->key();
    const QByteArray proof = Jose::Dpop::createProof(key, "GET", userinfo, now, withToken);
    QCOMPARE(plainGet(userinfo, {{"Authorization", "DPoP " + token}, {"DPoP", proof}}).status, 200);
    QCOMPARE(plainGet(userinfo, {{"Authorization", "DPoP " + token}, {"DPoP", proof}}).status, 401);
    // A proof for another method is refused too.
    const QByteArray post = Jose::Dpop::createProof(key, "POST", userinfo, now, withToken);
    QCOMPARE(plainGet(userinfo, {{"Authorization", "DPoP " + token}, {"DPoP", post}}).status, 401);
    QVERIFY(!wait(session.logout()).isError());
}

void tst_OAuthDpop::stolenRefreshTokenIsWorthNothing()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    OAuthPeer *peer = provider(Setup::Dpop);
    QVERIFY(peer);
    const SessionConfig config = configFor(*peer);
    Session session(config);
    QVERIFY(!signIn(session, *peer).isError());
    const QByteArray refresh = storedSecret(config, config.storageKey(QStringLiteral("alice")));
    QVERIFY(!refresh.isEmpty());
    const QUrl token = tokenEndpoint(config);

    // Copied out of the keyring without the key: refused without a proof, and with a proof of
    // another key.
    SessionConfig thiefConfig = config;
    thiefConfig.setDpopPolicy(SessionConfig::DpopPolicy::Off);
    auto refreshWith = [&](const SessionConfig &transport, bool dpop, DpopSigner *signer) {
        const auto endpoint = OAuth::createOAuthTokenEndpoint(
                transport, {config.clientId(), token, {}, dpop}, signer);
        std::optional<TokenOutcome> outcome;
        endpoint->refresh(Secret(refresh),
                          [&outcome](TokenOutcome result) { outcome = std::move(result); });
        if (!QTest::qWaitFor([&] { return outcome.has_value(); }, FlowTimeoutMs))
            outcome.reset();
        return outcome;
    };
    // Refused by the server (an OAuth error it answered), not lost on the way.
    auto refusedByServer = [](const std::optional<TokenOutcome> &outcome) {
        return outcome && outcome->kind != TokenOutcome::Kind::Issued
                && !outcome->error.serverCode().isEmpty();
    };
    QVERIFY2(refusedByServer(refreshWith(thiefConfig, false, nullptr)),
             "a bound refresh token without a proof");
    DpopSigner thief;
    thief.ensureKey();
    QVERIFY2(refusedByServer(refreshWith(config, true, &thief)),
             "a bound refresh token with a proof of another key");
    // The thief's attempts cost the holder nothing: the session still refreshes with its key.
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    const Error refreshed = wait(session.freshAccessToken());
    QVERIFY2(!refreshed.isError(), qPrintable(describe(refreshed)));
    QVERIFY(!wait(session.logout()).isError());
}

void tst_OAuthDpop::restoreInAnotherProcessUsesTheSameKey()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    OAuthPeer *peer = provider(Setup::Dpop);
    QVERIFY(peer);
    const SessionConfig config = configFor(*peer);
    Session session(config);
    QVERIFY(!signIn(session, *peer, QStringLiteral("carol")).isError());
    const QString jkt = session.dpopKeyThumbprint();
    const QString key = config.storageKey(QStringLiteral("carol"));
    const QByteArray before = storedSecret(config, key);

    QProcess child;
    child.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    child.start(QCoreApplication::applicationFilePath(),
                {QStringLiteral("--restore-child"), config.issuer().toString(), config.clientId(),
                 config.appId()});
    QVERIFY(child.waitForFinished(FlowTimeoutMs));
    const QString line = QString::fromUtf8(child.readAllStandardOutput()).trimmed();
    QCOMPARE(line, QStringLiteral("user carol refreshes 1 bound 1 jkt %1").arg(jkt));
    QCOMPARE(child.exitCode(), 0);
    // The child rotated the refresh token with a proof of the same key...
    QVERIFY(storedSecret(config, key) != before);

    // ... and this process spends the rotated one (re-read under the lock), with that key.
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    const Error refreshed = wait(session.freshAccessToken());
    QVERIFY2(!refreshed.isError(), qPrintable(describe(refreshed)));
    QVERIFY(session.isDpopBound());
    QCOMPARE(session.dpopKeyThumbprint(), jkt);
    QVERIFY(!wait(session.logout()).isError());
}

void tst_OAuthDpop::nonceIsFetchedOnceAtBothServers()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    // Every proof must carry a server nonce: the first token request is answered
    // 400 use_dpop_nonce, and so is the first resource request (401 WWW-Authenticate: DPoP
    // error="use_dpop_nonce"), each retried once with the nonce it brought.
    OAuthPeer *peer = provider(Setup::Nonce);
    QVERIFY(peer);
    const SessionConfig config = configFor(*peer);
    Session session(config);
    const Error error = signIn(session, *peer);
    QVERIFY2(!error.isError(), qPrintable(describe(error)));
    QVERIFY(session.isDpopBound());

    AuthenticatedNetworkAccessManager manager(&session);
    std::unique_ptr<QNetworkReply> reply(manager.get(QNetworkRequest(userinfoEndpoint(config))));
    QTRY_VERIFY_WITH_TIMEOUT(reply->isFinished(), FlowTimeoutMs);
    QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 200);
    // The nonce challenge was no reason to refresh the token.
    QCOMPARE(SessionPrivate::get(&session)->refreshCount(), 0);

    // A refresh in a new process (no nonce known yet) goes through the same retry.
    Session restored(config);
    const Error restoreError = wait(restored.restore());
    QVERIFY2(!restoreError.isError(), qPrintable(describe(restoreError)));
    QVERIFY(restored.isDpopBound());
    QVERIFY(!wait(restored.logout()).isError());
}

void tst_OAuthDpop::boundClientNeedsTheProof()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    // A client registered with dpop_bound_access_tokens: a token request without a proof is
    // refused; the default policy binds and gets through.
    OAuthPeer *peer = provider(Setup::BoundClient);
    QVERIFY(peer);
    SessionConfig off = configFor(*peer);
    off.setDpopPolicy(SessionConfig::DpopPolicy::Off);
    {
        Session session(off);
        const Error error = signIn(session, *peer);
        QVERIFY2(error.isError(), "the provider requires DPoP of this client");
        QVERIFY(!error.isTransient());
        QCOMPARE(session.state(), Session::State::SignedOut);
    }
    Session session(configFor(*peer));
    const Error error = signIn(session, *peer);
    QVERIFY2(!error.isError(), qPrintable(describe(error)));
    QVERIFY(session.isDpopBound());
    QVERIFY(!wait(session.logout()).isError());
}

void tst_OAuthDpop::requiredFailsWhenTheServerDoesNotBind()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    // DPoP off at the server: it ignores the proof and issues bearer tokens.
    OAuthPeer *peer = provider(Setup::NoDpop);
    QVERIFY(peer);
    SessionConfig config = configFor(*peer);
    {
        Session session(config); // IfSupported: nothing advertised, so no DPoP, and that is fine
        QVERIFY(!signIn(session, *peer).isError());
        QVERIFY(!session.isDpopBound());
        QVERIFY(session.dpopKeyThumbprint().isEmpty());
        QVERIFY(storedSecret(config,
                             config.storageKey(QStringLiteral("alice")) + QStringLiteral("#dpop"))
                        .isEmpty());
        QVERIFY(!wait(session.logout()).isError());
    }
    config.setDpopPolicy(SessionConfig::DpopPolicy::Required);
    Session session(config);
    const Error error = signIn(session, *peer);
    QCOMPARE(error.code(), Error::Code::DpopNotBound);
    QCOMPARE(session.state(), Session::State::SignedOut);
    QVERIFY(storedSecret(config, config.storageKey(QStringLiteral("alice"))).isEmpty());
}

void tst_OAuthDpop::missingKeyMeansReauthRequired()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    OAuthPeer *peer = provider(Setup::Dpop);
    QVERIFY(peer);
    const SessionConfig config = configFor(*peer);
    const QString key = config.storageKey(QStringLiteral("alice"));
    {
        Session session(config);
        QVERIFY(!signIn(session, *peer).isError());
    }
    // The key is gone from storage (deleted, or another tool cleaned the keyring): the stored
    // refresh token is useless, and the session is never continued unbound.
    QVERIFY(removeStoredSecret(config, key + QStringLiteral("#dpop")));
    Session restored(config);
    const Error error = wait(restored.restore());
    QCOMPARE(error.code(), Error::Code::SessionRejected);
    QTRY_COMPARE_WITH_TIMEOUT(restored.state(), Session::State::ReauthRequired, FlowTimeoutMs);
    QVERIFY(!restored.isDpopBound());
    QTRY_VERIFY_WITH_TIMEOUT(storedSecret(config, key).isEmpty(), FlowTimeoutMs);
}

void tst_OAuthDpop::logoutDeletesTheKey()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    OAuthPeer *peer = provider(Setup::Dpop);
    QVERIFY(peer);
    const SessionConfig config = configFor(*peer);
    const QString key = config.storageKey(QStringLiteral("alice"));
    Session session(config);
    QVERIFY(!signIn(session, *peer).isError());
    QVERIFY(!storedSecret(config, key + QStringLiteral("#dpop")).isEmpty());
    const Error error = wait(session.logout());
    QVERIFY2(!error.isError(), qPrintable(describe(error)));
    QVERIFY(storedSecret(config, key + QStringLiteral("#dpop")).isEmpty());
    QVERIFY(storedSecret(config, key).isEmpty());
    QVERIFY(session.dpopKeyThumbprint().isEmpty());
}

void tst_OAuthDpop::allowedServesBearerSessions()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    if (!isTesseraServer() || m_serverMode != u"allowed")
        QSKIP("tessera-server --dpop allowed only");
    // Where DPoP is allowed, not required, a client that never uses it keeps bearer tokens:
    // signs in, calls the API and refreshes without a proof, and nothing is bound.
    OAuthPeer *peer = provider(Setup::Dpop);
    QVERIFY(peer);
    SessionConfig config = configFor(*peer);
    config.setDpopPolicy(SessionConfig::DpopPolicy::Off);
    Session session(config);
    const Error error = signIn(session, *peer);
    QVERIFY2(!error.isError(), qPrintable(describe(error)));
    QVERIFY(!session.isDpopBound());
    QVERIFY(session.dpopKeyThumbprint().isEmpty());
    QVERIFY(storedSecret(config,
                         config.storageKey(QStringLiteral("alice")) + QStringLiteral("#dpop"))
                    .isEmpty());

    const QUrl userinfo = userinfoEndpoint(config);
    AuthenticatedNetworkAccessManager manager(&session);
    std::unique_ptr<QNetworkReply> reply(manager.get(QNetworkRequest(userinfo)));
    QTRY_VERIFY_WITH_TIMEOUT(reply->isFinished(), FlowTimeoutMs);
    QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 200);

    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    QFuture<Secret> held = session.freshAccessToken();
    const Error refreshed = wait(held);
    QVERIFY2(!refreshed.isError(), qPrintable(describe(refreshed)));
    QCOMPARE(SessionPrivate::get(&session)->refreshCount(), 1);
    QVERIFY(!session.isDpopBound());
    // The honest cost of bearer: a copy of this token works for whoever holds it.
    const QByteArray token = held.takeResult().reveal().toByteArray();
    QCOMPARE(plainGet(userinfo, {{"Authorization", "Bearer " + token}}).status, 200);
    QVERIFY(!wait(session.logout()).isError());
}

int main(int argc, char **argv)
{
    if (argc == 5 && qstrcmp(argv[1], "--restore-child") == 0)
        return restoreChild(argc, argv);
    QCoreApplication app(argc, argv);
    tst_OAuthDpop test;
    QTEST_SET_MAIN_SOURCE_PATH
    return QTest::qExec(&test, argc, argv);
}
#include "tst_oauth_dpop.moc"

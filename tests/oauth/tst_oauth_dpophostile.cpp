// SPDX-License-Identifier: MIT
// DPoP (RFC 9449, issue 13) in the SDK against an in-process server, for what the real peers
// never answer (tst_oauth_dpop has them): nonce challenges that never end, a bound token the
// client did not ask for, a server that does not bind although DPoP is required, and the
// WWW-Authenticate forms that are or are not a nonce challenge. Every proof the server
// receives is checked with the JOSE layer's verifier: method, URL, key, ath and nonce.
#include "dpopsigner_p.h"
#include "session_p.h"

#include "cannedhttpserver.h"

#include <tessera/authenticatednetworkaccessmanager.h>
#include <tessera/dpop.h>
#include <tessera/session.h>

#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QLocale>
#include <QtNetwork/QNetworkReply>
#include <QtTest/QTest>

#include <memory>

using namespace Tessera;
using namespace Tessera::Test;

namespace {

constexpr int WaitMs = 20000;

// A SimpleJWT-style access token: only exp and iat are read by the client. `skew`: how far
// the issuing server's clock is ahead of ours.
QByteArray accessToken(qint64 skew = 0)
{
    const qint64 now = QDateTime::currentSecsSinceEpoch() + skew;
    const QByteArray claims = QJsonDocument(QJsonObject{{"exp", now + 300}, {"iat", now}})
                                      .toJson(QJsonDocument::Compact);
    return Jose::base64UrlEncode(R"({"alg":"HS256","typ":"JWT"})") + '.'
            + Jose::base64UrlEncode(claims) + ".c2ln";
}

QByteArray tokenBody(const QByteArray &access, const QByteArray &type)
{
    QJsonObject body{{"access", QString::fromLatin1(access)}, {"refresh", "r1"}};
    if (!type.isEmpty())
        body.insert("token_type", QString::fromLatin1(type));
    return QJsonDocument(body).toJson(QJsonDocument::Compact);
}

// A header of a recorded request head, case-insensitively; empty when absent.
QByteArray headerOf(const QByteArray &head, const QByteArray &name)
{
    for (const QByteArray &line : head.split('\n')) {
        const qsizetype colon = line.indexOf(':');
        if (colon > 0 && line.left(colon).trimmed().toLower() == name.toLower())
            return line.mid(colon + 1).trimmed();
    }
    return {};
}

// The claims of a proof, unverified (after verifyProof() accepted it).
QJsonObject claimsOf(const QByteArray &proof)
{
    const QList<QByteArray> parts = proof.split('.');
    const auto json = Jose::base64UrlDecode(parts.value(1));
    return json ? QJsonDocument::fromJson(*json).object() : QJsonObject();
}

// verifyProof() of a recorded request (each call its own replay cache: one proof each).
Jose::Dpop::VerifyResult verify(const QByteArray &head, const QByteArray &method, const QUrl &url,
                                const QByteArray &access = {}, const QStringList &nonces = {},
                                const QString &jkt = {})
{
    Jose::Dpop::ReplayCache cache;
    Jose::Dpop::ExpectedRequest expected;
    expected.method = method;
    expected.url = url;
    if (!access.isEmpty())
        expected.accessToken = access;
    expected.nonces = nonces;
    expected.jkt = jkt;
    return Jose::Dpop::verifyProof({headerOf(head, "DPoP")}, expected, cache);
}

} // namespace

class tst_OAuthDpopHostile : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void proofsOnTokenAndResourceRequests();
    void tokenEndpointNonceIsRetriedOnceOnly();
    void resourceNonceChallenge_data();
    void resourceNonceChallenge();
    void boundTokenRefusedWhenDpopIsOff();
    void unboundTokenRefusedWhenDpopIsRequired();
    void proofsUseTheServersClock();
    void boundSessionWithoutKeyIsNeverRefreshedUnbound();
    void keyExportRoundTrips();

private:
    SessionConfig configFor(const CannedHttpServer &server, SessionConfig::DpopPolicy policy) const;
};

SessionConfig tst_OAuthDpopHostile::configFor(const CannedHttpServer &server,
                                              SessionConfig::DpopPolicy policy) const
{
    SessionConfig config(QUrl(server.origin()), QStringLiteral("org.tessera.test.dpophostile"));
    config.setStoragePolicy(SessionConfig::StoragePolicy::MemoryOnly);
    config.setRequestTimeout(std::chrono::seconds(10));
    config.setDpopPolicy(policy);
    return config;
}

void tst_OAuthDpopHostile::proofsOnTokenAndResourceRequests()
{
    CannedHttpServer server;
    const QByteArray access = accessToken();
    server.answerPath("/api/token/",
                      {200, "application/json", tokenBody(access, "DPoP"), "DPoP-Nonce: as-1\r\n"});
    server.answer = {200, "application/json", R"({"username":"alice"})"};
    Session session(configFor(server, SessionConfig::DpopPolicy::Required));
    QFuture<void> login = session.login(QStringLiteral("alice"), QStringLiteral("pw"));
    QTRY_VERIFY_WITH_TIMEOUT(login.isFinished(), WaitMs);
    QCOMPARE(errorOf(login), Error());
    QVERIFY(session.isDpopBound());
    const QString jkt = session.dpopKeyThumbprint();

    // The login's proof: POST to the obtain URL, the session's key, no ath.
    QCOMPARE(server.paths.size(), 1);
    const auto obtain = verify(server.heads[0], "POST", server.url("/api/token/"), {}, {}, jkt);
    QVERIFY2(obtain.ok(), qPrintable(obtain.reason));
    QVERIFY(!claimsOf(headerOf(server.heads[0], "DPoP")).contains("ath"));

    // A resource request: Authorization: DPoP, and a proof with htm, htu (no query, no
    // fragment), ath; the authorization server's nonce is not the resource server's.
    AuthenticatedNetworkAccessManager manager(&session);
    QNetworkRequest request(server.url("/api/me/?page=2#top"));
    std::unique_ptr<QNetworkReply> reply(manager.sendCustomRequest(request, "PATCH", "{}"));
    QTRY_VERIFY_WITH_TIMEOUT(reply->isFinished(), WaitMs);
    QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 200);
    QCOMPARE(server.paths.size(), 2);
    const QByteArray head = server.heads[1];
    QCOMPARE(headerOf(head, "Authorization"), "DPoP " + access);
    const auto resource = verify(head, "PATCH", server.url("/api/me/"), access, {}, jkt);
    QVERIFY2(resource.ok(), qPrintable(resource.reason));
    QVERIFY(!claimsOf(headerOf(head, "DPoP")).contains("nonce"));
    QCOMPARE(claimsOf(headerOf(head, "DPoP")).value("htu").toString(),
             server.origin() + QStringLiteral("/api/me/"));

    // Each request has a proof of its own.
    std::unique_ptr<QNetworkReply> again(manager.get(QNetworkRequest(server.url("/api/me/"))));
    QTRY_VERIFY_WITH_TIMEOUT(again->isFinished(), WaitMs);
    QVERIFY(headerOf(server.heads[2], "DPoP") != headerOf(head, "DPoP"));
    QVERIFY(verify(server.heads[2], "GET", server.url("/api/me/"), access, {}, jkt).ok());
}

void tst_OAuthDpopHostile::tokenEndpointNonceIsRetriedOnceOnly()
{
    // A server that asks for a new nonce every time: one retry, then its answer stands.
    CannedHttpServer server;
    int issued = 0;
    server.answerFor = [&issued](const QByteArray &, const QByteArray &) {
        ++issued;
        return CannedHttpServer::Answer{400, "application/json", R"({"error":"use_dpop_nonce"})",
                                        "DPoP-Nonce: nonce-" + QByteArray::number(issued) + "\r\n"};
    };
    Session session(configFor(server, SessionConfig::DpopPolicy::Required));
    QFuture<void> login = session.login(QStringLiteral("alice"), QStringLiteral("pw"));
    QTRY_VERIFY_WITH_TIMEOUT(login.isFinished(), WaitMs);
    QVERIFY(errorOf(login).isError());
    QTest::qWait(200); // no third request follows
    QCOMPARE(server.paths.size(), 2);
    // The retry has a fresh proof with the nonce the first answer brought.
    QVERIFY(!claimsOf(headerOf(server.heads[0], "DPoP")).contains("nonce"));
    const auto retry = verify(server.heads[1], "POST", server.url("/api/token/"), {}, {"nonce-1"});
    QVERIFY2(retry.ok(), qPrintable(retry.reason));
    QVERIFY(claimsOf(headerOf(server.heads[0], "DPoP")).value("jti")
            != claimsOf(headerOf(server.heads[1], "DPoP")).value("jti"));
}

void tst_OAuthDpopHostile::resourceNonceChallenge_data()
{
    QTest::addColumn<QByteArray>("challenge");
    QTest::addColumn<bool>("isNonceChallenge");
    QTest::addRow("dpop") << QByteArray(R"(DPoP error="use_dpop_nonce", algs="ES256")") << true;
    QTest::addRow("dpop after bearer")
            << QByteArray(R"(Bearer realm="api", DPoP algs="ES256", error="use_dpop_nonce")")
            << true;
    QTest::addRow("token form") << QByteArray("dpop error=use_dpop_nonce") << true;
    QTest::addRow("bearer's error") << QByteArray(R"(Bearer error="use_dpop_nonce")") << false;
    QTest::addRow("another dpop error")
            << QByteArray(R"(DPoP error="invalid_token", error_description="use_dpop_nonce")")
            << false;
    QTest::addRow("quoted inside another value")
            << QByteArray(R"(DPoP realm="error=\"use_dpop_nonce\"")") << false;
}

void tst_OAuthDpopHostile::resourceNonceChallenge()
{
    QFETCH(QByteArray, challenge);
    QFETCH(bool, isNonceChallenge);
    CannedHttpServer server;
    const QByteArray access = accessToken();
    server.answerPath("/api/token/", {200, "application/json", tokenBody(access, "DPoP"), {}});
    int challenges = 0;
    server.answerFor = [&](const QByteArray &path,
                           const QByteArray &) -> std::optional<CannedHttpServer::Answer> {
        if (path != "/api/me/")
            return std::nullopt;
        ++challenges;
        return CannedHttpServer::Answer{401, "application/json", R"({"error":"x"})",
                                        "WWW-Authenticate: " + challenge + "\r\nDPoP-Nonce: rs-"
                                                + QByteArray::number(challenges) + "\r\n"};
    };
    Session session(configFor(server, SessionConfig::DpopPolicy::Required));
    QFuture<void> login = session.login(QStringLiteral("alice"), QStringLiteral("pw"));
    QTRY_VERIFY_WITH_TIMEOUT(login.isFinished(), WaitMs);
    QCOMPARE(errorOf(login), Error());

    AuthenticatedNetworkAccessManager manager(&session);
    std::unique_ptr<QNetworkReply> reply(manager.get(QNetworkRequest(server.url("/api/me/"))));
    QTRY_VERIFY_WITH_TIMEOUT(reply->isFinished(), WaitMs);
    QTest::qWait(200);
    const qsizetype refreshes = server.paths.count("/api/token/refresh/");
    if (isNonceChallenge) {
        // Once with the nonce and the same token, and no refresh: the token was not the problem.
        QCOMPARE(challenges, 2);
        QCOMPARE(refreshes, 0);
        // The second challenge is delivered as it came.
        QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 401);
        const QByteArray retry = server.heads.last();
        QCOMPARE(headerOf(retry, "Authorization"), "DPoP " + access);
        const auto result = verify(retry, "GET", server.url("/api/me/"), access, {"rs-1"});
        QVERIFY2(result.ok(), qPrintable(result.reason));
    } else {
        // An ordinary 401: the token is refreshed once (the refresh fails here) and no nonce
        // retry happens.
        QCOMPARE(challenges, 1);
        QCOMPARE(refreshes, 1);
    }
}

void tst_OAuthDpopHostile::boundTokenRefusedWhenDpopIsOff()
{
    CannedHttpServer server;
    server.answerPath("/api/token/",
                      {200, "application/json", tokenBody(accessToken(), "DPoP"), {}});
    Session session(configFor(server, SessionConfig::DpopPolicy::Off));
    QFuture<void> login = session.login(QStringLiteral("alice"), QStringLiteral("pw"));
    QTRY_VERIFY_WITH_TIMEOUT(login.isFinished(), WaitMs);
    QCOMPARE(errorOf(login).code(), Error::Code::ServerError); // an unusable token response
    QVERIFY(headerOf(server.heads.value(0), "DPoP").isEmpty());
    QCOMPARE(session.state(), Session::State::SignedOut);
}

void tst_OAuthDpopHostile::unboundTokenRefusedWhenDpopIsRequired()
{
    for (const QByteArray &type : {QByteArray(), QByteArray("Bearer")}) {
        CannedHttpServer server;
        server.answerPath("/api/token/",
                          {200, "application/json", tokenBody(accessToken(), type), {}});
        Session session(configFor(server, SessionConfig::DpopPolicy::Required));
        QFuture<void> login = session.login(QStringLiteral("alice"), QStringLiteral("pw"));
        QTRY_VERIFY_WITH_TIMEOUT(login.isFinished(), WaitMs);
        QCOMPARE(errorOf(login).code(), Error::Code::DpopNotBound);
        QVERIFY(!errorOf(login).isTransient());
        QVERIFY(!headerOf(server.heads.value(0), "DPoP").isEmpty());
        QCOMPARE(session.state(), Session::State::SignedOut);
    }
    // IfSupported leaves a SimpleJWT server alone: no proof is sent, a bearer token is fine.
    CannedHttpServer server;
    server.answerPath("/api/token/", {200, "application/json", tokenBody(accessToken(), {}), {}});
    Session session(configFor(server, SessionConfig::DpopPolicy::IfSupported));
    QFuture<void> login = session.login(QStringLiteral("alice"), QStringLiteral("pw"));
    QTRY_VERIFY_WITH_TIMEOUT(login.isFinished(), WaitMs);
    QCOMPARE(errorOf(login), Error());
    QVERIFY(headerOf(server.heads.value(0), "DPoP").isEmpty());
    QVERIFY(session.dpopKeyThumbprint().isEmpty());
}

void tst_OAuthDpopHostile::proofsUseTheServersClock()
{
    // The server's clock is an hour ahead: once a token response showed it (Date), proofs are
    // issued on its clock, or a server with a ±60 s window would refuse every one.
    const qint64 skew = 3600;
    CannedHttpServer server;
    const QByteArray access = accessToken(skew);
    server.commonHeaders = "Date: "
            + QLocale::c()
                      .toString(QDateTime::currentDateTimeUtc().addSecs(skew),
                                QStringLiteral("ddd, dd MMM yyyy hh:mm:ss 'GMT'"))
                      .toLatin1()
            + "\r\n";
    server.answerPath("/api/token/", {200, "application/json", tokenBody(access, "DPoP"), {}});
    server.answer = {200, "application/json", R"({"username":"alice"})"};
    Session session(configFor(server, SessionConfig::DpopPolicy::Required));
    QFuture<void> login = session.login(QStringLiteral("alice"), QStringLiteral("pw"));
    QTRY_VERIFY_WITH_TIMEOUT(login.isFinished(), WaitMs);
    QCOMPARE(errorOf(login), Error());
    AuthenticatedNetworkAccessManager manager(&session);
    std::unique_ptr<QNetworkReply> reply(manager.get(QNetworkRequest(server.url("/api/me/"))));
    QTRY_VERIFY_WITH_TIMEOUT(reply->isFinished(), WaitMs);
    const qint64 iat = claimsOf(headerOf(server.heads.last(), "DPoP")).value("iat").toInteger();
    const qint64 serverNow = QDateTime::currentSecsSinceEpoch() + skew;
    QVERIFY2(qAbs(iat - serverNow) <= 5, qPrintable(QString::number(iat - serverNow)));
}

void tst_OAuthDpopHostile::boundSessionWithoutKeyIsNeverRefreshedUnbound()
{
    CannedHttpServer server;
    server.answerPath("/api/token/",
                      {200, "application/json", tokenBody(accessToken(), "DPoP"), {}});
    server.answerPath("/api/token/refresh/",
                      {200, "application/json", tokenBody(accessToken(), "DPoP"), {}});
    Session session(configFor(server, SessionConfig::DpopPolicy::Required));
    QFuture<void> login = session.login(QStringLiteral("alice"), QStringLiteral("pw"));
    QTRY_VERIFY_WITH_TIMEOUT(login.isFinished(), WaitMs);
    QCOMPARE(errorOf(login), Error());

    // The key is gone (as when storage lost it): the refresh token is not sent without it.
    SessionPrivate::get(&session)->dpopSignerForTesting()->setKey({});
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    QFuture<Secret> token = session.freshAccessToken();
    QTRY_VERIFY_WITH_TIMEOUT(token.isFinished(), WaitMs);
    QCOMPARE(errorOf(token).code(), Error::Code::SessionRejected);
    QTRY_COMPARE_WITH_TIMEOUT(session.state(), Session::State::ReauthRequired, WaitMs);
    QCOMPARE(server.paths.count("/api/token/refresh/"), 0);
}

void tst_OAuthDpopHostile::keyExportRoundTrips()
{
    DpopSigner signer;
    QVERIFY(signer.exportKey().isEmpty());
    const QString jkt = signer.ensureKey().thumbprint();
    const Secret der = signer.exportKey();
    QVERIFY(der.size() > 100);
    QCOMPARE(der.reveal().at(0), '\x30');
    QCOMPARE(DpopSigner::importKey(der).thumbprint(), jkt);
    QVERIFY(DpopSigner::importKey(Secret(QByteArray("\x30\x03\x02\x01\x00", 5))).isNull());
    QVERIFY(DpopSigner::importKey(
                    Secret(Jose::Key::generate(Jose::Algorithm::EdDSA).privateKeyPem().reveal()))
                    .isNull());
}

QTEST_GUILESS_MAIN(tst_OAuthDpopHostile)
#include "tst_oauth_dpophostile.moc"

// SPDX-License-Identifier: MIT
// DPoP (RFC 9449) on the real tessera-server, proofs made by Tessera::Jose::Dpop::createProof:
// bound logins, refreshes and code/refresh grants (cnf.jkt, token_type DPoP), what a stolen
// access or refresh token is worth without the key (and that trying does not revoke the
// family), replayed and misdirected proofs, forged proofs (alg none, HS256, a private key in
// jwk), server nonces, --dpop required and off, dpop_jkt at /authorize, /api/token/verify/.
// The resource routes check proofs on worker threads and answer later: many connections at
// once, clients that leave meanwhile, pipelined requests.
#include "oauthflow.h"
#include "testdatabase.h"

#include <tessera/dpop.h>

#include <QtCore/QDeadlineTimer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QTest>

#include <memory>
#include <vector>

using namespace Tessera;
using namespace Tessera::Test;
using namespace Tessera::Test::OAuth;
namespace Dpop = Tessera::Jose::Dpop;

namespace {

const QByteArray Json = "application/json";
const QByteArray FormMime = "application/x-www-form-urlencoded";

QByteArray loginBody()
{
    return QJsonDocument(QJsonObject{{QStringLiteral("username"), TestUser},
                                     {QStringLiteral("password"), TestPassword}})
            .toJson(QJsonDocument::Compact);
}

QByteArray refreshBody(const QString &refresh)
{
    return QJsonDocument(QJsonObject{{QStringLiteral("refresh"), refresh}})
            .toJson(QJsonDocument::Compact);
}

// The error code of a refusal, in either of the server's error shapes.
QString errorOf(const HttpResponse &response)
{
    const QString error = response.str(QStringLiteral("error"));
    return error.isEmpty() ? response.code() : error;
}

// A keep-alive GET of `path` with these credentials (no DPoP field when `proof` is empty).
QByteArray rawGet(const QUrl &base, const QString &path, const QByteArray &authorization,
                  const QByteArray &proof)
{
    QByteArray request = "GET " + path.toLatin1() + " HTTP/1.1\r\nHost: " + base.host().toLatin1()
            + ':' + QByteArray::number(base.port()) + "\r\n";
    if (!authorization.isEmpty())
        request += "Authorization: " + authorization + "\r\n";
    if (!proof.isEmpty())
        request += "DPoP: " + proof + "\r\n";
    return request + "\r\n";
}

QString usernameOf(const RawAnswer &answer)
{
    return QJsonDocument::fromJson(answer.body)
            .object()
            .value(QStringLiteral("username"))
            .toString();
}

} // namespace

class tst_ServerDpop : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void boundLoginAndResource();
    void unboundLoginStaysBearer();
    void stolenAccessToken_data();
    void stolenAccessToken();
    void stolenRefreshToken();
    void stolenRotatedRefreshTokenWithinGrace();
    void stolenTokenCannotSignOut();
    void proofReplay();
    void concurrentProofsOnSeveralConnections();
    void clientLeavesDuringProofCheck();
    void mixedVerdictsInOneRound();
    void pipelinedRequestsInOrder();
    void proofForAnotherUrlOrMethod_data();
    void proofForAnotherUrlOrMethod();
    void forgedProofs_data();
    void forgedProofs();
    void verifyEndpoint();
    void oauthCodeFlowWithDpopJkt();
    void replayCacheUnreachableAtRevoke();
    void discovery();
    void nonces();
    void requiredMode();
    void offMode();

private:
    // A proof for `method` on `path` of `server`, signed by `key`.
    static QByteArray proof(const ServerProcess &server, const Jose::Key &key,
                            const QByteArray &method, const QString &path,
                            const QByteArray &accessToken = {}, const QString &nonce = {});
    HttpResponse login(HttpClient &http, const QList<QByteArray> &proofs);
    HttpResponse refresh(HttpClient &http, const QString &token, const QList<QByteArray> &proofs);
    // `host`: the Host field's host, when not the server's.
    HttpResponse me(HttpClient &http, const QByteArray &authorization,
                    const QList<QByteArray> &proofs, const QString &host = {});
    // A login bound to `key` on the default server: {access, refresh}.
    QPair<QString, QString> boundLogin(const Jose::Key &key);
    QByteArray meProof(const Jose::Key &key, const QString &access)
    {
        return proof(m_server, key, "GET", QStringLiteral("/api/me/"), access.toLatin1());
    }

    ServerProcess m_server{{QStringLiteral("--demo")}};
    std::unique_ptr<OAuthFlow> m_flow;
    Jose::Key m_key = Jose::Key::generate(Jose::Algorithm::ES256);
    Jose::Key m_otherKey = Jose::Key::generate(Jose::Algorithm::ES256);
};

QByteArray tst_ServerDpop::proof(const ServerProcess &server, const Jose::Key &key,
                                 const QByteArray &method, const QString &path,
                                 const QByteArray &accessToken, const QString &nonce)
{
    Dpop::ProofOptions options;
    if (!accessToken.isEmpty())
        options.accessToken = QByteArrayView(accessToken);
    options.nonce = nonce;
    QUrl url = server.baseUrl();
    url.setPath(path);
    QString problem;
    const QByteArray result = Dpop::createProof(
            key, method, url, QDateTime::currentSecsSinceEpoch(), options, &problem);
    if (result.isEmpty())
        qWarning("createProof: %s", qPrintable(problem));
    return result;
}

HttpResponse tst_ServerDpop::login(HttpClient &http, const QList<QByteArray> &proofs)
{
    HttpClient::Headers headers;
    for (const QByteArray &value : proofs)
        headers.append({"DPoP", value});
    return http.post(QStringLiteral("/api/token/"), loginBody(), Json, headers);
}

HttpResponse tst_ServerDpop::refresh(HttpClient &http, const QString &token,
                                     const QList<QByteArray> &proofs)
{
    HttpClient::Headers headers;
    for (const QByteArray &value : proofs)
        headers.append({"DPoP", value});
    return http.post(QStringLiteral("/api/token/refresh/"), refreshBody(token), Json, headers);
}

HttpResponse tst_ServerDpop::me(HttpClient &http, const QByteArray &authorization,
                                const QList<QByteArray> &proofs, const QString &host)
{
    // Raw, so that repeated DPoP fields are sent as they are.
    QList<QByteArray> lines{"Authorization: " + authorization};
    for (const QByteArray &value : proofs)
        lines.append("DPoP: " + value);
    const QUrl base = http.url(QStringLiteral("/"));
    QUrl named = base;
    if (!host.isEmpty())
        named.setHost(host);
    return rawRequest(base,
                      buildRawRequest("GET", QStringLiteral("/api/me/"), named, {}, {}, lines));
}

QPair<QString, QString> tst_ServerDpop::boundLogin(const Jose::Key &key)
{
    const HttpResponse response =
            login(m_flow->http, {proof(m_server, key, "POST", QStringLiteral("/api/token/"))});
    if (response.status != 200)
        qWarning("bound login: %s", qPrintable(response.describe()));
    return {response.str(QStringLiteral("access")), response.str(QStringLiteral("refresh"))};
}

void tst_ServerDpop::initTestCase()
{
    QVERIFY(!m_key.isNull() && !m_otherKey.isNull());
    TESSERA_START_OAUTH(m_server);
    m_flow = std::make_unique<OAuthFlow>(m_server);
}

void tst_ServerDpop::boundLoginAndResource()
{
    const HttpResponse response =
            login(m_flow->http, {proof(m_server, m_key, "POST", QStringLiteral("/api/token/"))});
    TESSERA_EXPECT_STATUS(response, 200);
    QCOMPARE(response.str(QStringLiteral("token_type")), QStringLiteral("DPoP"));
    const QString access = response.str(QStringLiteral("access"));
    QCOMPARE(
            jwtPart(access, 1).value(QStringLiteral("cnf")).toObject().value(QStringLiteral("jkt")),
            QJsonValue(m_key.thumbprint()));

    const HttpResponse mine =
            me(m_flow->http, "DPoP " + access.toLatin1(), {meProof(m_key, access)});
    TESSERA_EXPECT_STATUS(mine, 200);
    QCOMPARE(mine.str(QStringLiteral("username")), TestUser);
    // A fresh proof each time, also when the token's check comes from the cache.
    TESSERA_EXPECT_STATUS(me(m_flow->http, "DPoP " + access.toLatin1(), {meProof(m_key, access)}),
                          200);

    // Refresh with a proof of the same key: still bound, to the same key.
    const HttpResponse refreshed =
            refresh(m_flow->http, response.str(QStringLiteral("refresh")),
                    {proof(m_server, m_key, "POST", QStringLiteral("/api/token/refresh/"))});
    TESSERA_EXPECT_STATUS(refreshed, 200);
    QCOMPARE(refreshed.str(QStringLiteral("token_type")), QStringLiteral("DPoP"));
    const QString next = refreshed.str(QStringLiteral("access"));
    QCOMPARE(jwtPart(next, 1).value(QStringLiteral("cnf")).toObject().value(QStringLiteral("jkt")),
             QJsonValue(m_key.thumbprint()));
    TESSERA_EXPECT_STATUS(me(m_flow->http, "DPoP " + next.toLatin1(), {meProof(m_key, next)}), 200);

    // EdDSA keys bind too.
    const Jose::Key eddsa = Jose::Key::generate(Jose::Algorithm::EdDSA);
    const auto [edAccess, edRefresh] = boundLogin(eddsa);
    QVERIFY(!edAccess.isEmpty());
    TESSERA_EXPECT_STATUS(
            me(m_flow->http, "DPoP " + edAccess.toLatin1(), {meProof(eddsa, edAccess)}), 200);
}

void tst_ServerDpop::unboundLoginStaysBearer()
{
    const HttpResponse response = login(m_flow->http, {});
    TESSERA_EXPECT_STATUS(response, 200);
    QVERIFY(!response.json().contains(QStringLiteral("token_type")));
    const QString access = response.str(QStringLiteral("access"));
    QVERIFY(!jwtPart(access, 1).contains(QStringLiteral("cnf")));
    TESSERA_EXPECT_STATUS(m_flow->http.me(access), 200);
    // An unbound token claims no binding under the DPoP scheme.
    const HttpResponse asDpop =
            me(m_flow->http, "DPoP " + access.toLatin1(), {meProof(m_key, access)});
    QCOMPARE(asDpop.status, 401);
    // Its refresh with a proof binds the new access token; the family stays unbound.
    const HttpResponse refreshed =
            refresh(m_flow->http, response.str(QStringLiteral("refresh")),
                    {proof(m_server, m_key, "POST", QStringLiteral("/api/token/refresh/"))});
    TESSERA_EXPECT_STATUS(refreshed, 200);
    QCOMPARE(refreshed.str(QStringLiteral("token_type")), QStringLiteral("DPoP"));
    const HttpResponse unbound =
            refresh(m_flow->http, refreshed.str(QStringLiteral("refresh")), {});
    TESSERA_EXPECT_STATUS(unbound, 200);
    QVERIFY(!unbound.json().contains(QStringLiteral("token_type")));
}

void tst_ServerDpop::stolenAccessToken_data()
{
    QTest::addColumn<QString>("how");
    QTest::addColumn<QString>("error");
    QTest::addRow("Bearer") << "bearer"
                            << "invalid_token";
    QTest::addRow("DPoP without a proof") << "no-proof"
                                          << "invalid_dpop_proof";
    QTest::addRow("DPoP with a proof of another key") << "other-key"
                                                      << "invalid_dpop_proof";
    QTest::addRow("proof without ath") << "no-ath"
                                       << "invalid_dpop_proof";
    QTest::addRow("proof with the ath of another token") << "other-ath"
                                                         << "invalid_dpop_proof";
    QTest::addRow("two proofs") << "two-proofs"
                                << "invalid_dpop_proof";
}

void tst_ServerDpop::stolenAccessToken()
{
    QFETCH(QString, how);
    QFETCH(QString, error);
    const auto [access, refreshToken] = boundLogin(m_key);
    QVERIFY(!access.isEmpty());
    QByteArray authorization = "DPoP " + access.toLatin1();
    QList<QByteArray> proofs;
    if (how == u"bearer") {
        authorization = "Bearer " + access.toLatin1();
    } else if (how == u"other-key") {
        proofs = {meProof(m_otherKey, access)};
    } else if (how == u"no-ath") {
        proofs = {proof(m_server, m_key, "GET", QStringLiteral("/api/me/"))};
    } else if (how == u"other-ath") {
        proofs = {proof(m_server, m_key, "GET", QStringLiteral("/api/me/"), "another.token")};
    } else if (how == u"two-proofs") {
        proofs = {meProof(m_key, access), meProof(m_key, access)};
    }
    const HttpResponse refused = me(m_flow->http, authorization, proofs);
    QCOMPARE(refused.status, 401);
    const QByteArray challenge = refused.header("WWW-Authenticate");
    QVERIFY2(challenge.startsWith("DPoP "), challenge.constData());
    QVERIFY2(challenge.contains("error=\"" + error.toLatin1() + '"'), challenge.constData());
    QVERIFY2(challenge.contains("algs=\"ES256 EdDSA\""), challenge.constData());
    QVERIFY(!refused.body.contains(access.toLatin1()));

    // /userinfo answers the same way.
    HttpClient::Headers headers{{"Authorization", authorization}};
    for (const QByteArray &value : proofs)
        headers.append({"DPoP", value});
    const HttpResponse userinfo = m_flow->http.get(QStringLiteral("/userinfo"), headers);
    QCOMPARE(userinfo.status, 401);
    QVERIFY(userinfo.header("WWW-Authenticate").startsWith("DPoP "));

    // The holder of the key is not affected.
    TESSERA_EXPECT_STATUS(me(m_flow->http, "DPoP " + access.toLatin1(), {meProof(m_key, access)}),
                          200);
}

void tst_ServerDpop::stolenRefreshToken()
{
    const auto [access, stolen] = boundLogin(m_key);
    QVERIFY(!stolen.isEmpty());
    const QString refreshPath = QStringLiteral("/api/token/refresh/");
    // Without a proof, with another key's, twice each: refused, nothing revoked or rotated.
    for (int attempt = 0; attempt < 2; ++attempt) {
        const HttpResponse bare = refresh(m_flow->http, stolen, {});
        QCOMPARE(bare.status, 400);
        QCOMPARE(errorOf(bare), QStringLiteral("invalid_dpop_proof"));
        QVERIFY(bare.header("WWW-Authenticate").startsWith("DPoP "));
        const HttpResponse otherKey =
                refresh(m_flow->http, stolen, {proof(m_server, m_otherKey, "POST", refreshPath)});
        QCOMPARE(otherKey.status, 400);
        QCOMPARE(errorOf(otherKey), QStringLiteral("invalid_dpop_proof"));
    }
    // The family is untouched: its access token still works and the owner refreshes.
    TESSERA_EXPECT_STATUS(me(m_flow->http, "DPoP " + access.toLatin1(), {meProof(m_key, access)}),
                          200);
    const HttpResponse owner =
            refresh(m_flow->http, stolen, {proof(m_server, m_key, "POST", refreshPath)});
    TESSERA_EXPECT_STATUS(owner, 200);

    // The same at the OAuth token endpoint for a family issued there.
    const Jose::Key key = Jose::Key::generate(Jose::Algorithm::ES256);
    const Pkce pkce = newPkce();
    const QString code = m_flow->code(pkce);
    QVERIFY(!code.isEmpty());
    const QList<QPair<QString, QString>> exchange{
            {QStringLiteral("grant_type"), QStringLiteral("authorization_code")},
            {QStringLiteral("code"), code},
            {QStringLiteral("code_verifier"), pkce.verifier},
            {QStringLiteral("redirect_uri"), Redirect},
            {QStringLiteral("client_id"), Client}};
    const HttpResponse tokens =
            m_flow->http.post(QStringLiteral("/token"), formBody(exchange), FormMime,
                              {{"DPoP", proof(m_server, key, "POST", QStringLiteral("/token"))}});
    TESSERA_EXPECT_STATUS(tokens, 200);
    QCOMPARE(tokens.str(QStringLiteral("token_type")), QStringLiteral("DPoP"));
    const QList<QPair<QString, QString>> grant{
            {QStringLiteral("grant_type"), QStringLiteral("refresh_token")},
            {QStringLiteral("refresh_token"), tokens.str(QStringLiteral("refresh_token"))},
            {QStringLiteral("client_id"), Client}};
    const HttpResponse thief =
            m_flow->http.post(QStringLiteral("/token"), formBody(grant), FormMime);
    QCOMPARE(thief.status, 400);
    QCOMPARE(thief.str(QStringLiteral("error")), QStringLiteral("invalid_dpop_proof"));
    const HttpResponse ownerGrant =
            m_flow->http.post(QStringLiteral("/token"), formBody(grant), FormMime,
                              {{"DPoP", proof(m_server, key, "POST", QStringLiteral("/token"))}});
    TESSERA_EXPECT_STATUS(ownerGrant, 200);
    QCOMPARE(ownerGrant.str(QStringLiteral("token_type")), QStringLiteral("DPoP"));
}

void tst_ServerDpop::stolenRotatedRefreshTokenWithinGrace()
{
    // A rotated token presented again is reuse, which revokes the family; without the key it
    // is refused before that rule, and the grace window answers only the key's holder.
    const QString refreshPath = QStringLiteral("/api/token/refresh/");
    const auto [access, first] = boundLogin(m_key);
    const HttpResponse rotated =
            refresh(m_flow->http, first, {proof(m_server, m_key, "POST", refreshPath)});
    TESSERA_EXPECT_STATUS(rotated, 200);
    const HttpResponse thief = refresh(m_flow->http, first, {});
    QCOMPARE(thief.status, 400);
    QCOMPARE(errorOf(thief), QStringLiteral("invalid_dpop_proof"));
    const HttpResponse thiefOtherKey =
            refresh(m_flow->http, first, {proof(m_server, m_otherKey, "POST", refreshPath)});
    QCOMPARE(thiefOtherKey.status, 400);
    // Grace answer for the holder: the same current token again.
    const HttpResponse grace =
            refresh(m_flow->http, first, {proof(m_server, m_key, "POST", refreshPath)});
    TESSERA_EXPECT_STATUS(grace, 200);
    QCOMPARE(grace.str(QStringLiteral("refresh")), rotated.str(QStringLiteral("refresh")));
    QCOMPARE(grace.str(QStringLiteral("token_type")), QStringLiteral("DPoP"));
    // And the family lives on.
    TESSERA_EXPECT_STATUS(refresh(m_flow->http, rotated.str(QStringLiteral("refresh")),
                                  {proof(m_server, m_key, "POST", refreshPath)}),
                          200);
}

void tst_ServerDpop::stolenTokenCannotSignOut()
{
    // /api/token/blacklist/: a bound family is revoked only with a proof of its key.
    const QString blacklistPath = QStringLiteral("/api/token/blacklist/");
    const auto [access, refreshToken] = boundLogin(m_key);
    const QByteArray body = refreshBody(refreshToken);
    const HttpResponse bare = m_flow->http.post(blacklistPath, body, Json);
    QCOMPARE(bare.status, 400);
    QCOMPARE(errorOf(bare), QStringLiteral("invalid_dpop_proof"));
    const HttpResponse otherKey =
            m_flow->http.post(blacklistPath, body, Json,
                              {{"DPoP", proof(m_server, m_otherKey, "POST", blacklistPath)}});
    QCOMPARE(otherKey.status, 400);
    TESSERA_EXPECT_STATUS(me(m_flow->http, "DPoP " + access.toLatin1(), {meProof(m_key, access)}),
                          200);
    TESSERA_EXPECT_STATUS(
            m_flow->http.post(blacklistPath, body, Json,
                              {{"DPoP", proof(m_server, m_key, "POST", blacklistPath)}}),
            200);
    QCOMPARE(me(m_flow->http, "DPoP " + access.toLatin1(), {meProof(m_key, access)}).status, 401);

    // /revoke (RFC 7009): answered 200 whatever happens, but nothing is revoked without the key.
    const Pkce pkce = newPkce();
    const QString code = m_flow->code(pkce);
    QVERIFY(!code.isEmpty());
    const HttpResponse tokens = m_flow->http.post(
            QStringLiteral("/token"),
            formBody({{QStringLiteral("grant_type"), QStringLiteral("authorization_code")},
                      {QStringLiteral("code"), code},
                      {QStringLiteral("code_verifier"), pkce.verifier},
                      {QStringLiteral("redirect_uri"), Redirect},
                      {QStringLiteral("client_id"), Client}}),
            FormMime, {{"DPoP", proof(m_server, m_key, "POST", QStringLiteral("/token"))}});
    TESSERA_EXPECT_STATUS(tokens, 200);
    const QString oauthAccess = tokens.str(QStringLiteral("access_token"));
    for (const QString &token : {tokens.str(QStringLiteral("refresh_token")), oauthAccess}) {
        const QByteArray revocation =
                formBody({{QStringLiteral("token"), token}, {QStringLiteral("client_id"), Client}});
        TESSERA_EXPECT_STATUS(m_flow->http.post(QStringLiteral("/revoke"), revocation, FormMime),
                              200);
        const HttpResponse userinfo =
                m_flow->http.get(QStringLiteral("/userinfo"),
                                 {{"Authorization", "DPoP " + oauthAccess.toLatin1()},
                                  {"DPoP",
                                   proof(m_server, m_key, "GET", QStringLiteral("/userinfo"),
                                         oauthAccess.toLatin1())}});
        TESSERA_EXPECT_STATUS(userinfo, 200);
    }
    const QByteArray revocation =
            formBody({{QStringLiteral("token"), tokens.str(QStringLiteral("refresh_token"))},
                      {QStringLiteral("client_id"), Client}});
    TESSERA_EXPECT_STATUS(
            m_flow->http.post(
                    QStringLiteral("/revoke"), revocation, FormMime,
                    {{"DPoP", proof(m_server, m_key, "POST", QStringLiteral("/revoke"))}}),
            200);
    const HttpResponse after = m_flow->http.get(
            QStringLiteral("/userinfo"),
            {{"Authorization", "DPoP " + oauthAccess.toLatin1()},
             {"DPoP",
              proof(m_server, m_key, "GET", QStringLiteral("/userinfo"), oauthAccess.toLatin1())}});
    QCOMPARE(after.status, 401);
}

// PostgreSQL: the shared replay cache cannot be asked (its table renamed under the server):
// /revoke answers as for its other storage failures, in the OAuth shape, and accepts nothing.
void tst_ServerDpop::replayCacheUnreachableAtRevoke()
{
    if (!testsUsePostgreSQL())
        QSKIP("the replay cache is in the database on PostgreSQL only");
    const QByteArray revocation = formBody({{QStringLiteral("token"), QStringLiteral("unknown")},
                                            {QStringLiteral("client_id"), Client}});
    QVERIFY(databaseSelect(m_server.databasePath(),
                           QStringLiteral("ALTER TABLE dpop_proofs RENAME TO dpop_proofs_x")));
    const HttpResponse refused = m_flow->http.post(
            QStringLiteral("/revoke"), revocation, FormMime,
            {{"DPoP", proof(m_server, m_key, "POST", QStringLiteral("/revoke"))}});
    QVERIFY(databaseSelect(m_server.databasePath(),
                           QStringLiteral("ALTER TABLE dpop_proofs_x RENAME TO dpop_proofs")));
    QCOMPARE(refused.status, 503);
    const QJsonObject unavailable{
            {QStringLiteral("error"), QStringLiteral("temporarily_unavailable")},
            {QStringLiteral("error_description"),
             QStringLiteral("the database is unavailable; try again")}};
    QCOMPARE(refused.json(), unavailable);
    QCOMPARE(refused.header("Retry-After"), QByteArray("1"));
    QCOMPARE(refused.header("Cache-Control"), QByteArray("no-store"));
    TESSERA_EXPECT_STATUS(
            m_flow->http.post(
                    QStringLiteral("/revoke"), revocation, FormMime,
                    {{"DPoP", proof(m_server, m_key, "POST", QStringLiteral("/revoke"))}}),
            200);
}

void tst_ServerDpop::proofReplay()
{
    const auto [access, refreshToken] = boundLogin(m_key);
    const QByteArray once = meProof(m_key, access);
    TESSERA_EXPECT_STATUS(me(m_flow->http, "DPoP " + access.toLatin1(), {once}), 200);
    const HttpResponse replayed = me(m_flow->http, "DPoP " + access.toLatin1(), {once});
    QCOMPARE(replayed.status, 401);
    QVERIFY(replayed.header("WWW-Authenticate").contains("error=\"invalid_dpop_proof\""));

    // At the token endpoint: a replayed proof neither refreshes nor harms the family.
    const QByteArray refreshProof =
            proof(m_server, m_key, "POST", QStringLiteral("/api/token/refresh/"));
    const HttpResponse first = refresh(m_flow->http, refreshToken, {refreshProof});
    TESSERA_EXPECT_STATUS(first, 200);
    const HttpResponse again =
            refresh(m_flow->http, first.str(QStringLiteral("refresh")), {refreshProof});
    QCOMPARE(again.status, 400);
    QCOMPARE(errorOf(again), QStringLiteral("invalid_dpop_proof"));
    // A login proof replayed.
    const QByteArray loginProof = proof(m_server, m_key, "POST", QStringLiteral("/api/token/"));
    TESSERA_EXPECT_STATUS(login(m_flow->http, {loginProof}), 200);
    QCOMPARE(login(m_flow->http, {loginProof}).status, 400);
}

// Proofs checked on the worker threads while other connections send theirs: every request
// answered, each on its own connection; one proof sent on two connections at once is accepted
// exactly once.
void tst_ServerDpop::concurrentProofsOnSeveralConnections()
{
    const auto [access, refreshToken] = boundLogin(m_key);
    QVERIFY(!access.isEmpty());
    const QByteArray authorization = "DPoP " + access.toLatin1();
    const QUrl base = m_server.baseUrl();
    constexpr int Connections = 12;
    constexpr int Rounds = 4;
    std::vector<std::unique_ptr<QTcpSocket>> sockets;
    std::vector<QByteArray> buffers(Connections);
    for (int i = 0; i < Connections; ++i) {
        sockets.push_back(connectTo(base));
        QVERIFY(sockets.back());
    }
    for (int round = 0; round < Rounds; ++round) {
        const QByteArray shared = meProof(m_key, access);
        for (int i = 0; i < Connections; ++i) {
            // In round 1 the first two connections send the same proof.
            const QByteArray proof = round == 1 && i < 2 ? shared : meProof(m_key, access);
            sockets[i]->write(rawGet(base, QStringLiteral("/api/me/"), authorization, proof));
            sockets[i]->flush();
        }
        int accepted = 0;
        int replayRefused = 0;
        for (int i = 0; i < Connections; ++i) {
            const QList<RawAnswer> answers = readAnswers(*sockets[i], 1, buffers[i]);
            QCOMPARE(answers.size(), 1);
            const RawAnswer &answer = answers.first();
            if (round == 1 && i < 2) {
                if (answer.status == 200)
                    ++accepted;
                else if (answer.status == 401 && answer.body.contains("invalid_dpop_proof"))
                    ++replayRefused;
                continue;
            }
            QCOMPARE(answer.status, 200);
            QCOMPARE(usernameOf(answer), TestUser);
        }
        if (round == 1) {
            QCOMPARE(accepted, 1);
            QCOMPARE(replayRefused, 1);
        }
    }
}

// Proofs read in one event-loop round are checked together (a few runnables on the proof
// workers, the results back in a few calls): each answer is still its own request's verdict.
// Written while the server is stopped (SIGSTOP), so all of them arrive in one round.
void tst_ServerDpop::mixedVerdictsInOneRound()
{
    const auto [access, refreshToken] = boundLogin(m_key);
    QVERIFY(!access.isEmpty());
    const QByteArray authorization = "DPoP " + access.toLatin1();
    const QUrl base = m_server.baseUrl();
    constexpr int Connections = 20;
    std::vector<std::unique_ptr<QTcpSocket>> sockets;
    std::vector<QByteArray> buffers(Connections);
    for (int i = 0; i < Connections; ++i) {
        sockets.push_back(connectTo(base));
        QVERIFY(sockets.back());
        // Answered once first: accepted by the server before it is stopped.
        sockets[i]->write(
                rawGet(base, QStringLiteral("/api/me/"), authorization, meProof(m_key, access)));
        sockets[i]->flush();
        const QList<RawAnswer> answers = readAnswers(*sockets[i], 1, buffers[i]);
        QCOMPARE(answers.size(), 1);
        QCOMPARE(answers.first().status, 200);
    }
    // Every third request's proof is signed by another key than the token's, every fifth is
    // for another path; the rest are good.
    auto good = [](int i) { return i % 3 != 2 && i % 5 != 4; };
    PausedProcess paused(m_server);
    for (int i = 0; i < Connections; ++i) {
        const QByteArray proofOfRequest = i % 3 == 2 ? meProof(m_otherKey, access)
                : i % 5 == 4
                ? proof(m_server, m_key, "GET", QStringLiteral("/api/other/"), access.toLatin1())
                : meProof(m_key, access);
        sockets[i]->write(rawGet(base, QStringLiteral("/api/me/"), authorization, proofOfRequest));
        sockets[i]->flush();
    }
    paused.resume();
    for (int i = 0; i < Connections; ++i) {
        const QList<RawAnswer> answers = readAnswers(*sockets[i], 1, buffers[i]);
        QCOMPARE(answers.size(), 1);
        const RawAnswer &answer = answers.first();
        if (good(i)) {
            QCOMPARE(answer.status, 200);
            QCOMPARE(usernameOf(answer), TestUser);
        } else {
            QCOMPARE(answer.status, 401);
            QVERIFY2(answer.body.contains("invalid_dpop_proof")
                             || answer.body.contains("invalid_token"),
                     answer.body.constData());
        }
    }
}

// Clients that hang up while their proof is checked get nothing, the others their answers,
// and the server keeps serving (the check's result comes back for a responder whose socket
// is gone).
void tst_ServerDpop::clientLeavesDuringProofCheck()
{
    const auto [access, refreshToken] = boundLogin(m_key);
    QVERIFY(!access.isEmpty());
    const QByteArray authorization = "DPoP " + access.toLatin1();
    const QUrl base = m_server.baseUrl();
    std::vector<std::unique_ptr<QTcpSocket>> kept;
    for (int i = 0; i < 48; ++i) {
        auto socket = connectTo(base);
        QVERIFY(socket);
        socket->write(
                rawGet(base, QStringLiteral("/api/me/"), authorization, meProof(m_key, access)));
        socket->flush();
        if (i % 3 == 2)
            kept.push_back(std::move(socket));
        else
            socket->abort(); // RST
    }
    for (auto &socket : kept) {
        QByteArray buffer;
        const QList<RawAnswer> answers = readAnswers(*socket, 1, buffer);
        QCOMPARE(answers.size(), 1);
        QCOMPARE(answers.first().status, 200);
    }
    TESSERA_EXPECT_STATUS(m_flow->http.health(), 200);
    TESSERA_EXPECT_STATUS(me(m_flow->http, authorization, {meProof(m_key, access)}), 200);
}

// Deferred and immediate answers on one connection come back in the order of the requests.
void tst_ServerDpop::pipelinedRequestsInOrder()
{
    const auto [access, refreshToken] = boundLogin(m_key);
    QVERIFY(!access.isEmpty());
    const HttpResponse unbound = login(m_flow->http, {});
    TESSERA_EXPECT_STATUS(unbound, 200);
    const QByteArray authorization = "DPoP " + access.toLatin1();
    const QUrl base = m_server.baseUrl();
    const QString mePath = QStringLiteral("/api/me/");
    const QByteArray first = meProof(m_key, access);
    const QByteArray pipeline = rawGet(base, mePath, authorization, first)
            + rawGet(base, QStringLiteral("/healthz"), {}, {})
            + rawGet(base, mePath, authorization, first) // replayed
            + rawGet(base, mePath, "Bearer " + unbound.str(QStringLiteral("access")).toLatin1(), {})
            + rawGet(base, mePath, authorization, meProof(m_otherKey, access)) // another key
            + rawGet(base, mePath, authorization, meProof(m_key, access));
    auto socket = connectTo(base);
    QVERIFY(socket);
    socket->write(pipeline);
    socket->flush();
    QByteArray buffer;
    const QList<RawAnswer> answers = readAnswers(*socket, 6, buffer);
    QCOMPARE(answers.size(), 6);
    QCOMPARE(answers[0].status, 200);
    QCOMPARE(usernameOf(answers[0]), TestUser);
    QCOMPARE(answers[1].status, 200);
    QVERIFY2(answers[1].body.contains("\"status\""), answers[1].body.constData());
    QCOMPARE(answers[2].status, 401);
    QVERIFY(answers[2].body.contains("invalid_dpop_proof"));
    QCOMPARE(answers[3].status, 200);
    QCOMPARE(usernameOf(answers[3]), TestUser);
    QCOMPARE(answers[4].status, 401);
    QVERIFY(answers[4].body.contains("invalid_dpop_proof"));
    QCOMPARE(answers[5].status, 200);
    QCOMPARE(usernameOf(answers[5]), TestUser);
}

void tst_ServerDpop::proofForAnotherUrlOrMethod_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<QString>("url"); // relative: on the server; absolute: as given
    QTest::addRow("userinfo's URL") << QByteArray("GET") << "/userinfo";
    QTest::addRow("POST") << QByteArray("POST") << "/api/me/";
    QTest::addRow("get (case)") << QByteArray("get") << "/api/me/";
    QTest::addRow("no trailing slash") << QByteArray("GET") << "/api/me";
    QTest::addRow("localhost instead of the issuer's host") << QByteArray("GET") << "localhost";
    QTest::addRow("https") << QByteArray("GET") << "https";
}

void tst_ServerDpop::proofForAnotherUrlOrMethod()
{
    QFETCH(QByteArray, method);
    QFETCH(QString, url);
    const auto [access, refreshToken] = boundLogin(m_key);
    QUrl target = m_server.baseUrl();
    target.setPath(QStringLiteral("/api/me/"));
    if (url == u"localhost")
        target.setHost(QStringLiteral("localhost"));
    else if (url == u"https")
        target.setScheme(QStringLiteral("https"));
    else
        target.setPath(url);
    Dpop::ProofOptions options;
    const QByteArray token = access.toLatin1();
    options.accessToken = QByteArrayView(token);
    const QByteArray wrong =
            Dpop::createProof(m_key, method, target, QDateTime::currentSecsSinceEpoch(), options);
    QVERIFY(!wrong.isEmpty());
    // The Host field names the proof's host: the server compares with its public base URL
    // all the same, not with what the client says it asked for.
    const HttpResponse refused = me(m_flow->http, "DPoP " + token, {wrong}, target.host());
    QCOMPARE(refused.status, 401);
    QVERIFY(refused.header("WWW-Authenticate").contains("error=\"invalid_dpop_proof\""));

    // At a token endpoint: a login proof for the refresh URL is refused.
    const HttpResponse login = this->login(
            m_flow->http, {proof(m_server, m_key, "POST", QStringLiteral("/api/token/refresh/"))});
    QCOMPARE(login.status, 400);
    QCOMPARE(errorOf(login), QStringLiteral("invalid_dpop_proof"));
}

void tst_ServerDpop::forgedProofs_data()
{
    QTest::addColumn<QString>("forgery");
    QTest::addRow("alg none") << "none";
    QTest::addRow("alg HS256") << "hs256";
    QTest::addRow("private key in jwk") << "private";
    QTest::addRow("typ JWT") << "typ";
    QTest::addRow("signed by another key") << "signature";
    QTest::addRow("iat two minutes old") << "old";
    QTest::addRow("not a JWS") << "garbage";
}

void tst_ServerDpop::forgedProofs()
{
    QFETCH(QString, forgery);
    QUrl url = m_server.baseUrl();
    url.setPath(QStringLiteral("/api/token/"));
    QJsonObject jwk{{QStringLiteral("kty"), QStringLiteral("EC")},
                    {QStringLiteral("crv"), QStringLiteral("P-256")}};
    const QJsonObject publicJwk = m_key.publicJwk();
    jwk.insert(QStringLiteral("x"), publicJwk.value(QStringLiteral("x")));
    jwk.insert(QStringLiteral("y"), publicJwk.value(QStringLiteral("y")));
    QJsonObject header{{QStringLiteral("typ"), QStringLiteral("dpop+jwt")},
                       {QStringLiteral("jwk"), jwk}};
    qint64 iat = QDateTime::currentSecsSinceEpoch();
    if (forgery == u"old")
        iat -= 120;
    const QJsonObject claims{{QStringLiteral("jti"),
                              QString::fromLatin1(Jose::base64UrlEncode(Jose::randomBytes(16)))},
                             {QStringLiteral("htm"), QStringLiteral("POST")},
                             {QStringLiteral("htu"), url.toString()},
                             {QStringLiteral("iat"), iat}};
    const QByteArray payload = QJsonDocument(claims).toJson(QJsonDocument::Compact);
    Jose::Key signer = m_key;
    signer.setKeyId(QString());
    QByteArray forged;
    if (forgery == u"none") {
        header.insert(QStringLiteral("alg"), QStringLiteral("none"));
        forged = Jose::base64UrlEncode(QJsonDocument(header).toJson(QJsonDocument::Compact)) + '.'
                + Jose::base64UrlEncode(payload) + '.';
    } else if (forgery == u"hs256") {
        const Jose::Key hs = Jose::Key::fromSecret(Secret(QByteArray(32, 'k')));
        QJsonObject octJwk{{QStringLiteral("kty"), QStringLiteral("oct")},
                           {QStringLiteral("k"),
                            QString::fromLatin1(Jose::base64UrlEncode(QByteArray(32, 'k')))}};
        header.insert(QStringLiteral("jwk"), octJwk);
        forged = Jose::signCompact(hs, payload, header);
    } else if (forgery == u"private") {
        // Signed by the key itself, whose private part the header gives away.
        jwk.insert(QStringLiteral("d"),
                   QString::fromLatin1(Jose::base64UrlEncode(QByteArray(32, '\x01'))));
        header.insert(QStringLiteral("jwk"), jwk);
        forged = Jose::signCompact(signer, payload, header);
    } else if (forgery == u"typ") {
        header.insert(QStringLiteral("typ"), QStringLiteral("JWT"));
        forged = Jose::signCompact(signer, payload, header);
    } else if (forgery == u"signature") {
        Jose::Key other = m_otherKey;
        other.setKeyId(QString());
        forged = Jose::signCompact(other, payload, header);
    } else if (forgery == u"old") {
        forged = Jose::signCompact(signer, payload, header);
    } else {
        forged = "not.a.proof";
    }
    QVERIFY(!forged.isEmpty());
    const HttpResponse refused = login(m_flow->http, {forged});
    QCOMPARE(refused.status, 400);
    QCOMPARE(errorOf(refused), QStringLiteral("invalid_dpop_proof"));
    QVERIFY(!refused.json().contains(QStringLiteral("access")));

    // The control: the same construction, unforged, is accepted.
    if (forgery == u"typ") {
        const QByteArray fine =
                Jose::signCompact(signer, payload,
                                  QJsonObject{{QStringLiteral("typ"), QStringLiteral("dpop+jwt")},
                                              {QStringLiteral("jwk"), jwk}});
        TESSERA_EXPECT_STATUS(login(m_flow->http, {fine}), 200);
    }
}

void tst_ServerDpop::verifyEndpoint()
{
    const auto [access, refreshToken] = boundLogin(m_key);
    const QByteArray body = QJsonDocument(QJsonObject{{QStringLiteral("token"), access}})
                                    .toJson(QJsonDocument::Compact);
    const QString path = QStringLiteral("/api/token/verify/");
    const HttpResponse bare = m_flow->http.post(path, body, Json);
    QCOMPARE(bare.status, 401);
    QVERIFY(bare.header("WWW-Authenticate").startsWith("DPoP "));
    const HttpResponse otherKey = m_flow->http.post(
            path, body, Json,
            {{"DPoP", proof(m_server, m_otherKey, "POST", path, access.toLatin1())}});
    QCOMPARE(otherKey.status, 401);
    TESSERA_EXPECT_STATUS(
            m_flow->http.post(path, body, Json,
                              {{"DPoP", proof(m_server, m_key, "POST", path, access.toLatin1())}}),
            200);
    // An unbound token verifies as before.
    const HttpResponse unbound = login(m_flow->http, {});
    TESSERA_EXPECT_STATUS(m_flow->http.verify(unbound.str(QStringLiteral("access"))), 200);
}

void tst_ServerDpop::oauthCodeFlowWithDpopJkt()
{
    const Jose::Key key = Jose::Key::generate(Jose::Algorithm::ES256);
    auto codeFor = [this, &key](const Pkce &pkce) {
        auto parameters = m_flow->authorizeParameters(pkce);
        parameters.append({QStringLiteral("dpop_jkt"), key.thumbprint()});
        const auto form = m_flow->openForm(parameters);
        if (form.response.status != 200)
            return QString();
        const HttpResponse answer = m_flow->submit(form, TestUser, TestPassword);
        return m_flow->locationQuery(answer).queryItemValue(QStringLiteral("code"),
                                                            QUrl::FullyDecoded);
    };
    auto exchange = [this](const QString &code, const Pkce &pkce, const QList<QByteArray> &proofs) {
        HttpClient::Headers headers;
        for (const QByteArray &value : proofs)
            headers.append({"DPoP", value});
        return m_flow->http.post(
                QStringLiteral("/token"),
                formBody({{QStringLiteral("grant_type"), QStringLiteral("authorization_code")},
                          {QStringLiteral("code"), code},
                          {QStringLiteral("code_verifier"), pkce.verifier},
                          {QStringLiteral("redirect_uri"), Redirect},
                          {QStringLiteral("client_id"), Client}}),
                FormMime, headers);
    };
    const QString tokenPath = QStringLiteral("/token");
    // A code requested for the key is refused without a proof, or with another key's.
    const Pkce bare = newPkce();
    const QString bareCode = codeFor(bare);
    QVERIFY(!bareCode.isEmpty());
    const HttpResponse withoutProof = exchange(bareCode, bare, {});
    QCOMPARE(withoutProof.status, 400);
    QCOMPARE(withoutProof.str(QStringLiteral("error")), QStringLiteral("invalid_dpop_proof"));
    const Pkce other = newPkce();
    const HttpResponse otherKey =
            exchange(codeFor(other), other, {proof(m_server, m_otherKey, "POST", tokenPath)});
    QCOMPARE(otherKey.status, 400);
    QCOMPARE(otherKey.str(QStringLiteral("error")), QStringLiteral("invalid_dpop_proof"));

    const Pkce pkce = newPkce();
    const HttpResponse tokens =
            exchange(codeFor(pkce), pkce, {proof(m_server, key, "POST", tokenPath)});
    TESSERA_EXPECT_STATUS(tokens, 200);
    QCOMPARE(tokens.str(QStringLiteral("token_type")), QStringLiteral("DPoP"));
    const QString access = tokens.str(QStringLiteral("access_token"));
    QCOMPARE(
            jwtPart(access, 1).value(QStringLiteral("cnf")).toObject().value(QStringLiteral("jkt")),
            QJsonValue(key.thumbprint()));
    const HttpResponse userinfo = m_flow->http.get(
            QStringLiteral("/userinfo"),
            {{"Authorization", "DPoP " + access.toLatin1()},
             {"DPoP",
              proof(m_server, key, "GET", QStringLiteral("/userinfo"), access.toLatin1())}});
    TESSERA_EXPECT_STATUS(userinfo, 200);
    QCOMPARE(userinfo.str(QStringLiteral("sub")), TestUser);

    // A malformed dpop_jkt is an invalid request, sent back to the client.
    auto parameters = m_flow->authorizeParameters(newPkce());
    parameters.append({QStringLiteral("dpop_jkt"), QStringLiteral("short")});
    const HttpResponse malformed = m_flow->http.get(m_flow->authorizePath(parameters));
    QCOMPARE(malformed.status, 303);
    QCOMPARE(m_flow->locationQuery(malformed).queryItemValue(QStringLiteral("error")),
             QStringLiteral("invalid_request"));
}

void tst_ServerDpop::discovery()
{
    const HttpResponse document =
            m_flow->http.get(QStringLiteral("/.well-known/openid-configuration"));
    TESSERA_EXPECT_STATUS(document, 200);
    QCOMPARE(document.json().value(QStringLiteral("dpop_signing_alg_values_supported")).toArray(),
             (QJsonArray{QStringLiteral("ES256"), QStringLiteral("EdDSA")}));
    // An anonymous resource request is offered both schemes.
    const HttpResponse anonymous = m_flow->http.get(QStringLiteral("/api/me/"));
    QCOMPARE(anonymous.status, 401);
    QVERIFY(anonymous.header("WWW-Authenticate").startsWith("Bearer realm=\"api\""));
    QVERIFY(anonymous.header("WWW-Authenticate").contains(", DPoP algs=\"ES256 EdDSA\""));
}

void tst_ServerDpop::nonces()
{
    ServerProcess server{{QStringLiteral("--dpop-nonce")}};
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);
    // Without a nonce: 400 use_dpop_nonce with one to use.
    const HttpResponse first =
            login(http, {proof(server, m_key, "POST", QStringLiteral("/api/token/"))});
    QCOMPARE(first.status, 400);
    QCOMPARE(errorOf(first), QStringLiteral("use_dpop_nonce"));
    const QString nonce = QString::fromLatin1(first.header("DPoP-Nonce"));
    QVERIFY(!nonce.isEmpty());
    // A made-up nonce is no better.
    const HttpResponse madeUp = login(
            http, {proof(server, m_key, "POST", QStringLiteral("/api/token/"), {}, "made-up")});
    QCOMPARE(errorOf(madeUp), QStringLiteral("use_dpop_nonce"));
    const HttpResponse retried =
            login(http, {proof(server, m_key, "POST", QStringLiteral("/api/token/"), {}, nonce)});
    TESSERA_EXPECT_STATUS(retried, 200);
    QVERIFY(retried.hasHeader("DPoP-Nonce"));
    // A refresh answer (its access token signed while the rotation commits, on SQLite) carries
    // the nonce as well.
    const HttpResponse refreshed = refresh(
            http, retried.str(QStringLiteral("refresh")),
            {proof(server, m_key, "POST", QStringLiteral("/api/token/refresh/"), {}, nonce)});
    TESSERA_EXPECT_STATUS(refreshed, 200);
    QCOMPARE(refreshed.header("DPoP-Nonce"), retried.header("DPoP-Nonce"));
    const QString access = refreshed.str(QStringLiteral("access"));

    // A resource: 401 with the challenge and the nonce, then the retry.
    HttpClient::Headers headers{
            {"Authorization", "DPoP " + access.toLatin1()},
            {"DPoP", proof(server, m_key, "GET", QStringLiteral("/api/me/"), access.toLatin1())}};
    const HttpResponse resource = http.get(QStringLiteral("/api/me/"), headers);
    QCOMPARE(resource.status, 401);
    QVERIFY2(resource.header("WWW-Authenticate").contains("error=\"use_dpop_nonce\""),
             resource.header("WWW-Authenticate").constData());
    const QString resourceNonce = QString::fromLatin1(resource.header("DPoP-Nonce"));
    QVERIFY(!resourceNonce.isEmpty());
    headers[1].second = proof(server, m_key, "GET", QStringLiteral("/api/me/"), access.toLatin1(),
                              resourceNonce);
    TESSERA_EXPECT_STATUS(http.get(QStringLiteral("/api/me/"), headers), 200);
    // An invalid proof is never answered with a nonce challenge.
    headers[1].second =
            proof(server, m_otherKey, "GET", QStringLiteral("/api/me/"), access.toLatin1());
    QVERIFY(http.get(QStringLiteral("/api/me/"), headers)
                    .header("WWW-Authenticate")
                    .contains("error=\"invalid_dpop_proof\""));
}

void tst_ServerDpop::requiredMode()
{
    ServerProcess server{{QStringLiteral("--dpop"), QStringLiteral("required")}};
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);
    const HttpResponse bare = login(http, {});
    QCOMPARE(bare.status, 400);
    QCOMPARE(errorOf(bare), QStringLiteral("invalid_dpop_proof"));
    const HttpResponse bound =
            login(http, {proof(server, m_key, "POST", QStringLiteral("/api/token/"))});
    TESSERA_EXPECT_STATUS(bound, 200);
    QCOMPARE(bound.str(QStringLiteral("token_type")), QStringLiteral("DPoP"));
    const HttpResponse refreshBare = refresh(http, bound.str(QStringLiteral("refresh")), {});
    QCOMPARE(refreshBare.status, 400);
    QCOMPARE(errorOf(refreshBare), QStringLiteral("invalid_dpop_proof"));
}

void tst_ServerDpop::offMode()
{
    ServerProcess server{
            {QStringLiteral("--demo"), QStringLiteral("--dpop"), QStringLiteral("off")}};
    TESSERA_START_OAUTH(server);
    HttpClient http(server);
    // The proof is ignored: an unbound Bearer login.
    const HttpResponse response =
            login(http, {proof(server, m_key, "POST", QStringLiteral("/api/token/"))});
    TESSERA_EXPECT_STATUS(response, 200);
    QVERIFY(!response.json().contains(QStringLiteral("token_type")));
    QVERIFY(!jwtPart(response.str(QStringLiteral("access")), 1).contains(QStringLiteral("cnf")));
    const HttpResponse document = http.get(QStringLiteral("/.well-known/openid-configuration"));
    TESSERA_EXPECT_STATUS(document, 200);
    QVERIFY(!document.json().contains(QStringLiteral("dpop_signing_alg_values_supported")));
    QCOMPARE(http.get(QStringLiteral("/api/me/")).header("WWW-Authenticate"),
             QByteArray("Bearer realm=\"api\""));

    // dpop_jkt is an unknown parameter here, ignored (RFC 6749 §3.1): an unbound code.
    OAuthFlow flow(server);
    const Pkce pkce = newPkce();
    auto parameters = flow.authorizeParameters(pkce);
    parameters.append({QStringLiteral("dpop_jkt"), m_key.thumbprint()});
    const auto form = flow.openForm(parameters);
    TESSERA_EXPECT_STATUS(form.response, 200);
    const QString code = flow.locationQuery(flow.submit(form, TestUser, TestPassword))
                                 .queryItemValue(QStringLiteral("code"), QUrl::FullyDecoded);
    QVERIFY(!code.isEmpty());
    const HttpResponse tokens = flow.exchange(code, pkce.verifier);
    TESSERA_EXPECT_STATUS(tokens, 200);
    QCOMPARE(tokens.str(QStringLiteral("token_type")), QStringLiteral("Bearer"));
}

QTEST_GUILESS_MAIN(tst_ServerDpop)
#include "tst_server_dpop.moc"

// SPDX-License-Identifier: MIT
// tessera-server's OAuth back channel against the real binary: the code exchange (PKCE,
// single use, a replay revoking the family, binding to client and redirect URI, expiry
// under libfaketime), the ID token, refresh through the family rules shared with
// /api/token/refresh/, RFC 7009 revocation and userinfo.
#include "oauthflow.h"

#include <QtTest/QTest>

using namespace Tessera;
using namespace Tessera::Test;
using namespace Tessera::Test::OAuth;

class tst_ServerOAuthToken : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void codeFlow();
    void codeRefusals_data();
    void codeRefusals();
    void codeReplayRevokesFamily();
    void refreshGrant();
    void revocation();
    void expiredCode();

private:
    ServerProcess m_server{{QStringLiteral("--demo")}};
    std::unique_ptr<OAuthFlow> m_flow;
};

void tst_ServerOAuthToken::initTestCase()
{
    TESSERA_START_OAUTH(m_server);
    m_flow = std::make_unique<OAuthFlow>(m_server);
}

void tst_ServerOAuthToken::codeFlow()
{
    const Pkce pkce = newPkce();
    const Form form = m_flow->openForm(m_flow->authorizeParameters(pkce));
    const HttpResponse answer = m_flow->submit(form, TestUser, TestPassword);
    TESSERA_EXPECT_STATUS(answer, 303);
    const QUrl location(QString::fromUtf8(answer.header("Location")));
    QCOMPARE(location.toString(QUrl::RemoveQuery), Redirect);
    const QUrlQuery query(location);
    const QString issuer = m_server.baseUrl().toString(QUrl::StripTrailingSlash);
    QCOMPARE(query.queryItemValue(QStringLiteral("state"), QUrl::FullyDecoded),
             QStringLiteral("st-1"));
    QCOMPARE(query.queryItemValue(QStringLiteral("iss"), QUrl::FullyDecoded), issuer);
    const QString code = query.queryItemValue(QStringLiteral("code"), QUrl::FullyDecoded);
    QCOMPARE(code.size(), 43);

    const HttpResponse tokens = m_flow->exchange(code, pkce.verifier);
    TESSERA_EXPECT_STATUS(tokens, 200);
    QCOMPARE(tokens.header("Cache-Control"), QByteArray("no-store"));
    QCOMPARE(tokens.header("Pragma"), QByteArray("no-cache"));
    QCOMPARE(tokens.str(QStringLiteral("token_type")), QStringLiteral("Bearer"));
    QCOMPARE(tokens.json().value(QStringLiteral("expires_in")).toInt(), 300);
    QCOMPARE(tokens.str(QStringLiteral("scope")), QStringLiteral("openid profile"));
    const QString access = tokens.str(QStringLiteral("access_token"));
    QCOMPARE(jwtPart(access, 0).value(QStringLiteral("typ")).toString(), QStringLiteral("at+jwt"));
    const QJsonObject accessClaims = jwtPart(access, 1);
    QCOMPARE(accessClaims.value(QStringLiteral("iss")).toString(), issuer);
    QVERIFY(accessClaims.value(QStringLiteral("aud")).toArray().contains(Client));

    const QString idToken = tokens.str(QStringLiteral("id_token"));
    QCOMPARE(jwtPart(idToken, 0).value(QStringLiteral("typ")).toString(), QStringLiteral("JWT"));
    QList<Jose::Key> keys;
    for (const QJsonValue &jwk : m_flow->http.jwks().json().value(QStringLiteral("keys")).toArray())
        keys.append(Jose::Key::fromJwk(jwk.toObject()));
    Jose::ClaimRequirements requirements;
    requirements.issuer = issuer;
    requirements.audience = Client;
    requirements.requireExpiry = true;
    const Jose::VerifyResult verified = Jose::verifyJwt(idToken.toLatin1(), keys, requirements);
    QVERIFY2(verified.ok(), qPrintable(Jose::errorString(verified.error)));
    const QJsonObject id = verified.claims;
    QCOMPARE(id.value(QStringLiteral("aud")).toString(), Client);
    QCOMPARE(id.value(QStringLiteral("sub")).toString(), TestUser);
    QCOMPARE(id.value(QStringLiteral("preferred_username")).toString(), TestUser);
    QCOMPARE(id.value(QStringLiteral("nonce")).toString(), QStringLiteral("n-1"));
    QCOMPARE(id.value(QStringLiteral("sid")).toString(),
             accessClaims.value(QStringLiteral("sid")).toString());
    const qint64 authTime = id.value(QStringLiteral("auth_time")).toInteger();
    QVERIFY(qAbs(QDateTime::currentSecsSinceEpoch() - authTime) < 60);

    const HttpResponse userinfo = m_flow->http.get(
            QStringLiteral("/userinfo"), {{"Authorization", "Bearer " + access.toLatin1()}});
    TESSERA_EXPECT_STATUS(userinfo, 200);
    QCOMPARE(userinfo.str(QStringLiteral("sub")), TestUser);
    QCOMPARE(userinfo.str(QStringLiteral("preferred_username")), TestUser);
    const HttpResponse anonymous = m_flow->http.get(QStringLiteral("/userinfo"));
    QCOMPARE(anonymous.status, 401);
    QVERIFY(anonymous.header("WWW-Authenticate").startsWith("Bearer"));
    // The access token is this server's: /api/me/ takes it too.
    TESSERA_EXPECT_STATUS(m_flow->http.me(access), 200);
}

void tst_ServerOAuthToken::codeRefusals_data()
{
    QTest::addColumn<QString>("case_");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("error");
    QTest::addRow("wrong verifier") << "verifier" << 400 << "invalid_grant";
    QTest::addRow("other client") << "client" << 400 << "invalid_grant";
    QTest::addRow("other redirect port") << "redirect" << 400 << "invalid_grant";
    QTest::addRow("no client_id") << "no-client" << 401 << "invalid_client";
    QTest::addRow("unknown client") << "unknown-client" << 401 << "invalid_client";
    QTest::addRow("no verifier") << "no-verifier" << 400 << "invalid_request";
    QTest::addRow("unknown code") << "unknown-code" << 400 << "invalid_grant";
    QTest::addRow("unknown grant") << "grant" << 400 << "unsupported_grant_type";
    QTest::addRow("repeated parameter") << "repeated" << 400 << "invalid_request";
}

void tst_ServerOAuthToken::codeRefusals()
{
    QFETCH(QString, case_);
    QFETCH(int, status);
    QFETCH(QString, error);
    const Pkce pkce = newPkce();
    const QString issued = m_flow->code(pkce);
    QVERIFY(!issued.isEmpty());
    QList<QPair<QString, QString>> fields{
            {QStringLiteral("grant_type"), QStringLiteral("authorization_code")},
            {QStringLiteral("code"), case_ == u"unknown-code" ? newPkce().verifier : issued},
            {QStringLiteral("code_verifier"),
             case_ == u"verifier" ? newPkce().verifier : pkce.verifier},
            {QStringLiteral("redirect_uri"),
             case_ == u"redirect" ? QStringLiteral("http://127.0.0.1:51001/callback") : Redirect},
            {QStringLiteral("client_id"),
             case_ == u"client"                   ? OtherClient
                     : case_ == u"unknown-client" ? QStringLiteral("nobody")
                                                  : Client}};
    if (case_ == u"no-client")
        fields.removeLast();
    if (case_ == u"no-verifier")
        fields.removeAt(2);
    if (case_ == u"grant")
        fields[0].second = QStringLiteral("password");
    if (case_ == u"repeated")
        fields.append({QStringLiteral("code"), issued});
    const HttpResponse refused = m_flow->tokenRequest(fields);
    QCOMPARE(refused.status, status);
    QCOMPARE(refused.str(QStringLiteral("error")), error);
    QVERIFY(!refused.str(QStringLiteral("error_description")).isEmpty());
    QCOMPARE(refused.header("Cache-Control"), QByteArray("no-store"));
    QVERIFY(!refused.json().contains(QStringLiteral("access_token")));
}

void tst_ServerOAuthToken::codeReplayRevokesFamily()
{
    const Pkce pkce = newPkce();
    const QString issued = m_flow->code(pkce);
    const HttpResponse first = m_flow->exchange(issued, pkce.verifier);
    TESSERA_EXPECT_STATUS(first, 200);
    const HttpResponse second = m_flow->exchange(issued, pkce.verifier);
    QCOMPARE(second.status, 400);
    QCOMPARE(second.str(QStringLiteral("error")), QStringLiteral("invalid_grant"));
    // Everything the first exchange issued is revoked (RFC 6749 §4.1.2).
    const HttpResponse refresh = m_flow->tokenRequest(
            {{QStringLiteral("grant_type"), QStringLiteral("refresh_token")},
             {QStringLiteral("refresh_token"), first.str(QStringLiteral("refresh_token"))},
             {QStringLiteral("client_id"), Client}});
    QCOMPARE(refresh.str(QStringLiteral("error")), QStringLiteral("invalid_grant"));
    QCOMPARE(m_flow->http.me(first.str(QStringLiteral("access_token"))).status, 401);
}

void tst_ServerOAuthToken::refreshGrant()
{
    const Pkce pkce = newPkce();
    const HttpResponse tokens = m_flow->exchange(m_flow->code(pkce), pkce.verifier);
    TESSERA_EXPECT_STATUS(tokens, 200);
    auto refreshWith = [this](const QString &token, const QString &client = Client) {
        return m_flow->tokenRequest(
                {{QStringLiteral("grant_type"), QStringLiteral("refresh_token")},
                 {QStringLiteral("refresh_token"), token},
                 {QStringLiteral("client_id"), client}});
    };
    const QString first = tokens.str(QStringLiteral("refresh_token"));
    // Another client cannot use it, and its attempt harms nothing.
    QCOMPARE(refreshWith(first, OtherClient).str(QStringLiteral("error")),
             QStringLiteral("invalid_grant"));
    const HttpResponse rotated = refreshWith(first);
    TESSERA_EXPECT_STATUS(rotated, 200);
    const QString second = rotated.str(QStringLiteral("refresh_token"));
    QVERIFY(second != first);
    QCOMPARE(rotated.str(QStringLiteral("scope")), QStringLiteral("openid profile"));
    // No new ID token on refresh (OpenID Connect Core §12.2 allows either; docs/SERVER.md).
    QVERIFY(!tokens.str(QStringLiteral("id_token")).isEmpty());
    QVERIFY(!rotated.json().contains(QStringLiteral("id_token")));
    QVERIFY(jwtPart(rotated.str(QStringLiteral("access_token")), 1)
                    .value(QStringLiteral("aud"))
                    .toArray()
                    .contains(Client));
    // The same family through the SimpleJWT endpoint: one family model.
    TESSERA_TOKEN_PAIR(third, m_flow->http.refresh(second));
    // Presenting the first token again (not the parent of the current one) is reuse: the
    // family is revoked, its newest token refused.
    QCOMPARE(refreshWith(first).str(QStringLiteral("error")), QStringLiteral("invalid_grant"));
    QCOMPARE(refreshWith(third.refresh).str(QStringLiteral("error")),
             QStringLiteral("invalid_grant"));
    QCOMPARE(m_flow->http.me(third.access).status, 401);

    // A SimpleJWT family belongs to no client: /token refuses its refresh token.
    TESSERA_TOKEN_PAIR(login, m_flow->http.login(TestUser, TestPassword));
    QCOMPARE(refreshWith(login.refresh).str(QStringLiteral("error")),
             QStringLiteral("invalid_grant"));
    TESSERA_EXPECT_STATUS(m_flow->http.refresh(login.refresh), 200);
}

void tst_ServerOAuthToken::revocation()
{
    auto revoke = [this](const QString &token, const QString &client = Client) {
        return m_flow->http.post(
                QStringLiteral("/revoke"),
                formBody({{QStringLiteral("token"), token}, {QStringLiteral("client_id"), client}}),
                "application/x-www-form-urlencoded");
    };
    auto refreshWith = [this](const QString &token) {
        return m_flow->tokenRequest(
                {{QStringLiteral("grant_type"), QStringLiteral("refresh_token")},
                 {QStringLiteral("refresh_token"), token},
                 {QStringLiteral("client_id"), Client}});
    };
    Pkce pkce = newPkce();
    HttpResponse tokens = m_flow->exchange(m_flow->code(pkce), pkce.verifier);
    TESSERA_EXPECT_STATUS(tokens, 200);
    const QString refresh = tokens.str(QStringLiteral("refresh_token"));
    const QString access = tokens.str(QStringLiteral("access_token"));
    // Unknown tokens and another client's: 200, and nothing is revoked.
    TESSERA_EXPECT_STATUS(revoke(QStringLiteral("not-a-token")), 200);
    TESSERA_EXPECT_STATUS(revoke(refresh, OtherClient), 200);
    TESSERA_EXPECT_STATUS(revoke(access, OtherClient), 200);
    TESSERA_EXPECT_STATUS(m_flow->http.me(access), 200);
    // The refresh token: its family goes, access token included.
    TESSERA_EXPECT_STATUS(revoke(refresh), 200);
    QCOMPARE(refreshWith(refresh).str(QStringLiteral("error")), QStringLiteral("invalid_grant"));
    QCOMPARE(m_flow->http.me(access).status, 401);
    QCOMPARE(m_flow->http
                     .get(QStringLiteral("/userinfo"),
                          {{"Authorization", "Bearer " + access.toLatin1()}})
                     .status,
             401);

    // An access token revokes its family too.
    pkce = newPkce();
    tokens = m_flow->exchange(m_flow->code(pkce), pkce.verifier);
    TESSERA_EXPECT_STATUS(revoke(tokens.str(QStringLiteral("access_token"))), 200);
    QCOMPARE(refreshWith(tokens.str(QStringLiteral("refresh_token"))).str(QStringLiteral("error")),
             QStringLiteral("invalid_grant"));
    // No client_id: invalid_client.
    const HttpResponse anonymous = m_flow->http.post(QStringLiteral("/revoke"),
                                                     formBody({{QStringLiteral("token"), refresh}}),
                                                     "application/x-www-form-urlencoded");
    QCOMPARE(anonymous.status, 401);
    QCOMPARE(anonymous.str(QStringLiteral("error")), QStringLiteral("invalid_client"));
}

void tst_ServerOAuthToken::expiredCode()
{
    // The server's wall clock is moved past the code's 60 s lifetime between the login and the
    // exchange (libfaketime reads the offset from a file on every call).
    if (!FakeClock::available())
        QSKIP("libfaketime is not installed (Debian package libfaketime)");
    FakeClock clock;
    ServerProcess server({QStringLiteral("--demo")});
    server.setEnvironment(clock.environment());
    TESSERA_ADD_USER(server, TestUser, TestPassword.toUtf8());
    TESSERA_START(server);
    OAuthFlow flow(server);
    const Pkce pkce = newPkce();
    const QString issued = flow.code(pkce);
    QVERIFY(!issued.isEmpty());
    QVERIFY(clock.advance(61));
    const HttpResponse late = flow.exchange(issued, pkce.verifier);
    QCOMPARE(late.status, 400);
    QCOMPARE(late.str(QStringLiteral("error")), QStringLiteral("invalid_grant"));
    QCOMPARE(late.str(QStringLiteral("error_description")), QStringLiteral("the code has expired"));
}

QTEST_GUILESS_MAIN(tst_ServerOAuthToken)
#include "tst_server_oauthtoken.moc"

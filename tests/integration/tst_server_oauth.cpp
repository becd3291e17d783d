// SPDX-License-Identifier: MIT
// tessera-server as an OAuth 2 / OpenID Connect authorization server, front channel
// (docs/SERVER.md "OAuth 2 and OpenID Connect"), against the real binary: discovery, the
// authorization endpoint and its login page, and their hostile inputs (unknown clients,
// look-alike redirect URIs, missing or plain PKCE, CSRF, HTML injection, oversized
// parameters). The back channel is tst_server_oauthtoken.
#include "oauthflow.h"

#include <QtCore/QProcess>

#include <QtTest/QTest>

using namespace Tessera;
using namespace Tessera::Test;
using namespace Tessera::Test::OAuth;

class tst_ServerOAuth : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void discovery();
    void discoveryWithIssuerPath();
    void refusedWithoutRedirect_data();
    void refusedWithoutRedirect();
    void refusedWithRedirect_data();
    void refusedWithRedirect();
    void loginPage();
    void loginCsrf();
    void loginFormAcrossInstances();
    void wrongPassword();
    void loginThrottled();
    void formRefusals();

private:
    ServerProcess m_server{{QStringLiteral("--demo")}};
    std::unique_ptr<OAuthFlow> m_flow;
};

void tst_ServerOAuth::initTestCase()
{
    TESSERA_START_OAUTH(m_server);
    m_flow = std::make_unique<OAuthFlow>(m_server);
}

void tst_ServerOAuth::discovery()
{
    const QString issuer = m_server.baseUrl().toString(QUrl::StripTrailingSlash);
    for (const QString path : {QStringLiteral("/.well-known/openid-configuration"),
                               QStringLiteral("/.well-known/oauth-authorization-server")}) {
        const HttpResponse response = m_flow->http.get(path);
        TESSERA_EXPECT_STATUS(response, 200);
        const QJsonObject document = response.json();
        QCOMPARE(document.value(QStringLiteral("issuer")).toString(), issuer);
        QCOMPARE(document.value(QStringLiteral("authorization_endpoint")).toString(),
                 issuer + QStringLiteral("/authorize"));
        QCOMPARE(document.value(QStringLiteral("token_endpoint")).toString(),
                 issuer + QStringLiteral("/token"));
        QCOMPARE(document.value(QStringLiteral("revocation_endpoint")).toString(),
                 issuer + QStringLiteral("/revoke"));
        QCOMPARE(document.value(QStringLiteral("userinfo_endpoint")).toString(),
                 issuer + QStringLiteral("/userinfo"));
        QCOMPARE(document.value(QStringLiteral("code_challenge_methods_supported")).toArray(),
                 QJsonArray{QStringLiteral("S256")});
        QCOMPARE(document.value(QStringLiteral("token_endpoint_auth_methods_supported")).toArray(),
                 QJsonArray{QStringLiteral("none")});
        QCOMPARE(document.value(QStringLiteral("id_token_signing_alg_values_supported")).toArray(),
                 QJsonArray{QStringLiteral("ES256")});
        QVERIFY(document.value(QStringLiteral("authorization_response_iss_parameter_supported"))
                        .toBool());
        const QJsonArray grants = document.value(QStringLiteral("grant_types_supported")).toArray();
        QVERIFY(grants.contains(QStringLiteral("authorization_code")));
        QVERIFY(grants.contains(QStringLiteral("refresh_token")));

        const QString jwksUri = document.value(QStringLiteral("jwks_uri")).toString();
        QVERIFY(jwksUri.startsWith(issuer));
        const HttpResponse jwks = m_flow->http.get(jwksUri.mid(issuer.size()));
        TESSERA_EXPECT_STATUS(jwks, 200);
        const QJsonArray keys = jwks.json().value(QStringLiteral("keys")).toArray();
        QVERIFY(!keys.isEmpty());
        for (const QJsonValue &key : keys) {
            QVERIFY(!key.toObject().contains(QStringLiteral("d"))); // public members only
            QCOMPARE(key.toObject().value(QStringLiteral("alg")).toString(),
                     QStringLiteral("ES256"));
        }
    }
}

void tst_ServerOAuth::discoveryWithIssuerPath()
{
    const QString issuer = QStringLiteral("https://id.example/tenant-1");
    ServerProcess server({QStringLiteral("--issuer"), issuer});
    TESSERA_START(server);
    HttpClient http(server);
    // RFC 8414 §3.1 (well-known before the path) and OIDC Discovery §4 (after it).
    for (const QString path : {QStringLiteral("/.well-known/oauth-authorization-server/tenant-1"),
                               QStringLiteral("/.well-known/openid-configuration/tenant-1"),
                               QStringLiteral("/tenant-1/.well-known/openid-configuration")}) {
        const HttpResponse response = http.get(path);
        TESSERA_EXPECT_STATUS(response, 200);
        QCOMPARE(response.str(QStringLiteral("issuer")), issuer);
        QCOMPARE(response.str(QStringLiteral("token_endpoint")), issuer + QStringLiteral("/token"));
        QCOMPARE(response.str(QStringLiteral("jwks_uri")),
                 issuer + QStringLiteral("/.well-known/jwks.json"));
    }
    TESSERA_EXPECT_STATUS(http.get(QStringLiteral("/.well-known/openid-configuration")), 404);
    TESSERA_EXPECT_STATUS(http.get(QStringLiteral("/tenant-1/.well-known/jwks.json")), 200);
    // The endpoints live under the path: a form-less POST is an OAuth error, not 404.
    TESSERA_EXPECT_STATUS(
            http.post(QStringLiteral("/tenant-1/token"), "", "application/x-www-form-urlencoded"),
            401);
    TESSERA_EXPECT_STATUS(
            http.post(QStringLiteral("/token"), "", "application/x-www-form-urlencoded"), 404);

    // An issuer that is not an https URL (or http on loopback) is refused at start.
    for (const QString bad :
         {QStringLiteral("tessera-server"), QStringLiteral("http://id.example"),
          QStringLiteral("https://id.example/a/"), QStringLiteral("https://id.example/?q=1")}) {
        QProcess process;
        process.start(ServerProcess::binaryPath(),
                      {QStringLiteral("--issuer"), bad, QStringLiteral("--listen"),
                       QStringLiteral("127.0.0.1:0"), QStringLiteral("--db"),
                       server.databasePath()});
        QVERIFY(process.waitForFinished(15000));
        QVERIFY2(process.exitCode() == 2, qPrintable(bad));
        QVERIFY(process.readAllStandardError().contains("--issuer"));
    }
}

void tst_ServerOAuth::refusedWithoutRedirect_data()
{
    QTest::addColumn<QString>("client");
    QTest::addColumn<QString>("redirect");
    QTest::addRow("unknown client") << "no-such-app" << Redirect;
    QTest::addRow("no client") << "" << Redirect;
    QTest::addRow("html in client_id") << "<script>alert(1)</script>\"'" << Redirect;
    QTest::addRow("oversized client_id") << QString(5000, u'a') << Redirect;
    QTest::addRow("no redirect") << Client << "";
    QTest::addRow("other host") << Client << "http://evil.example/callback";
    QTest::addRow("other scheme") << Client << "https://127.0.0.1/callback";
    QTest::addRow("look-alike host") << Client << "http://127.0.0.1.evil.example/callback";
    QTest::addRow("userinfo") << Client << "http://127.0.0.1@evil.example/callback";
    QTest::addRow("userinfo before loopback") << Client << "http://evil.example@127.0.0.1/callback";
    QTest::addRow("fragment") << Client << "http://127.0.0.1/callback#x";
    QTest::addRow("other path") << Client << "http://127.0.0.1/callback/x";
    QTest::addRow("localhost") << Client << "http://localhost/callback";
    QTest::addRow("another client's") << Client << OtherRedirect;
    QTest::addRow("oversized") << Client << "http://127.0.0.1/callback?" + QString(3000, u'a');
}

void tst_ServerOAuth::refusedWithoutRedirect()
{
    QFETCH(QString, client);
    QFETCH(QString, redirect);
    auto parameters = m_flow->authorizeParameters(newPkce());
    parameters[1].second = client;
    parameters[2].second = redirect;
    const HttpResponse response = m_flow->http.get(m_flow->authorizePath(parameters));
    QCOMPARE(response.status, 400);
    QVERIFY2(!response.hasHeader("Location"), response.header("Location").constData());
    QVERIFY(response.header("Content-Type").startsWith("text/html"));
    QCOMPARE(response.header("X-Frame-Options"), QByteArray("DENY"));
    QVERIFY(!response.body.contains("<script>"));
    if (client.contains(u'<'))
        QVERIFY(response.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;"));
}

void tst_ServerOAuth::refusedWithRedirect_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("value");
    QTest::addColumn<QString>("error");
    QTest::addRow("no PKCE") << "code_challenge"
                             << ""
                             << "invalid_request";
    QTest::addRow("no PKCE method") << "code_challenge_method"
                                    << ""
                                    << "invalid_request";
    QTest::addRow("plain PKCE") << "code_challenge_method"
                                << "plain"
                                << "invalid_request";
    QTest::addRow("short challenge") << "code_challenge"
                                     << "abc"
                                     << "invalid_request";
    QTest::addRow("implicit") << "response_type"
                              << "token"
                              << "unsupported_response_type";
    QTest::addRow("unknown scope") << "scope"
                                   << "openid admin"
                                   << "invalid_scope";
    QTest::addRow("prompt none") << "prompt"
                                 << "none"
                                 << "login_required";
    QTest::addRow("oversized state") << "state" << QString(600, u's') << "invalid_request";
    QTest::addRow("oversized nonce") << "nonce" << QString(600, u'n') << "invalid_request";
}

void tst_ServerOAuth::refusedWithRedirect()
{
    QFETCH(QString, name);
    QFETCH(QString, value);
    QFETCH(QString, error);
    auto parameters = m_flow->authorizeParameters(newPkce());
    bool replaced = false;
    for (auto &parameter : parameters) {
        if (parameter.first == name) {
            parameter.second = value;
            replaced = true;
        }
    }
    if (!replaced)
        parameters.append({name, value});
    const HttpResponse response = m_flow->http.get(m_flow->authorizePath(parameters));
    TESSERA_EXPECT_STATUS(response, 303);
    const QUrl location(QString::fromUtf8(response.header("Location")));
    QCOMPARE(location.toString(QUrl::RemoveQuery), Redirect);
    const QUrlQuery query(location);
    QCOMPARE(query.queryItemValue(QStringLiteral("error"), QUrl::FullyDecoded), error);
    QCOMPARE(query.queryItemValue(QStringLiteral("iss"), QUrl::FullyDecoded),
             m_server.baseUrl().toString(QUrl::StripTrailingSlash));
    QCOMPARE(query.queryItemValue(QStringLiteral("state"), QUrl::FullyDecoded),
             name == u"state" ? QString() : QStringLiteral("st-1"));
    QVERIFY(!query.hasQueryItem(QStringLiteral("code")));
}

void tst_ServerOAuth::loginPage()
{
    auto parameters = m_flow->authorizeParameters(newPkce());
    parameters[4].second = QStringLiteral("\"><script>alert('x')</script>");
    parameters.append({QStringLiteral("prompt"), QStringLiteral("login")});
    const Form form = m_flow->openForm(parameters);
    TESSERA_EXPECT_STATUS(form.response, 200);
    const HttpResponse &page = form.response;
    QVERIFY(page.header("Content-Type").startsWith("text/html"));
    QCOMPARE(page.header("X-Frame-Options"), QByteArray("DENY"));
    const QByteArray csp = page.header("Content-Security-Policy");
    QVERIFY2(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
             csp.constData());
    // The one inline stylesheet is allowed by its hash and nothing else is.
    const qsizetype styleStart = page.body.indexOf("<style>") + 7;
    const qsizetype styleEnd = page.body.indexOf("</style>");
    QVERIFY(styleStart >= 7 && styleEnd > styleStart);
    QCOMPARE(page.body.count("<style"), 1);
    const QByteArray styleHash =
            Jose::sha256(page.body.mid(styleStart, styleEnd - styleStart)).toBase64();
    QVERIFY2(csp.contains("style-src 'sha256-" + styleHash + "';"), csp.constData());
    QVERIFY(!csp.contains("unsafe-inline"));
    QCOMPARE(page.header("Cache-Control"), QByteArray("no-store"));
    QCOMPARE(page.header("Referrer-Policy"), QByteArray("no-referrer"));
    const QByteArray cookie = page.header("Set-Cookie");
    QVERIFY2(cookie.contains("; HttpOnly") && cookie.contains("; SameSite=Strict")
                     && cookie.contains("; Path=/authorize"),
             cookie.constData());
    // Injected markup comes back escaped, and the hidden field holds the state as sent.
    QVERIFY(!page.body.contains("<script>"));
    QVERIFY(page.body.contains("&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    QCOMPARE(form.hidden.value(3).second, parameters[4].second);
    QVERIFY(page.body.contains("<form method=\"post\" action=\"/authorize\">"));
    QVERIFY(page.body.contains("name=\"username\"") && page.body.contains("name=\"password\""));
    QVERIFY(!page.body.contains("<script"));
}

void tst_ServerOAuth::loginCsrf()
{
    const Form form = m_flow->openForm(m_flow->authorizeParameters(newPkce()));
    TESSERA_EXPECT_STATUS(form.response, 200);
    const Form other = m_flow->openForm(m_flow->authorizeParameters(newPkce()));

    // No cookie, a field that is not the cookie's, a forged cookie: refused, nobody signed in.
    const HttpResponse noCookie = m_flow->submit(form, TestUser, TestPassword, false);
    QCOMPARE(noCookie.status, 403);
    QVERIFY(!noCookie.hasHeader("Location"));
    Form mixed = other;
    mixed.cookie = form.cookie;
    QCOMPARE(m_flow->submit(mixed, TestUser, TestPassword).status, 403);
    Form forged = form;
    forged.cookie = form.cookie.left(form.cookie.size() - 2) + "AA";
    QCOMPARE(m_flow->submit(forged, TestUser, TestPassword).status, 403);
    Form noField = form;
    noField.hidden.removeIf([](const auto &field) { return field.first == u"csrf"; });
    QCOMPARE(m_flow->submit(noField, TestUser, TestPassword).status, 403);

    // The form and its own cookie: signed in.
    const HttpResponse ok = m_flow->submit(form, TestUser, TestPassword);
    TESSERA_EXPECT_STATUS(ok, 303);
    QVERIFY(m_flow->locationQuery(ok).hasQueryItem(QStringLiteral("code")));
}

void tst_ServerOAuth::loginFormAcrossInstances()
{
    // Instances of one deployment behind a round-robin balancer: the form one served is
    // posted to another. They share the database, and so the key material the form's CSRF
    // key is derived from.
    ServerProcess second;
    second.setDatabasePath(m_server.databasePath());
    TESSERA_START(second);
    OAuthFlow secondFlow(second);
    const Form form = m_flow->openForm(m_flow->authorizeParameters(newPkce()));
    TESSERA_EXPECT_STATUS(form.response, 200);
    const HttpResponse accepted = secondFlow.submit(form, TestUser, TestPassword);
    TESSERA_EXPECT_STATUS(accepted, 303);
    QVERIFY(secondFlow.locationQuery(accepted).hasQueryItem(QStringLiteral("code")));

    // Another deployment (its own database, so its own key) refuses the same form.
    ServerProcess other{{QStringLiteral("--demo")}};
    TESSERA_START_OAUTH(other);
    OAuthFlow otherFlow(other);
    const Form another = m_flow->openForm(m_flow->authorizeParameters(newPkce()));
    TESSERA_EXPECT_STATUS(another.response, 200);
    const HttpResponse refused = otherFlow.submit(another, TestUser, TestPassword);
    QCOMPARE(refused.status, 403);
    QVERIFY(!refused.hasHeader("Location"));
    // And the instance that served it still takes it.
    TESSERA_EXPECT_STATUS(m_flow->submit(another, TestUser, TestPassword), 303);
}

void tst_ServerOAuth::wrongPassword()
{
    const Form form = m_flow->openForm(m_flow->authorizeParameters(newPkce()));
    const HttpResponse answer = m_flow->submit(form, TestUser, QStringLiteral("wrong"));
    QCOMPARE(answer.status, 401);
    QVERIFY(!answer.hasHeader("Location"));
    QVERIFY(answer.body.contains("Wrong username or password."));
    QCOMPARE(answer.header("X-Frame-Options"), QByteArray("DENY"));
}

void tst_ServerOAuth::loginThrottled()
{
    // The form goes through the same limiter as /api/token/: one failure allowed here, and
    // the API's own throttle answers the form too (one limiter, not two).
    ServerProcess server(
            {QStringLiteral("--demo"), QStringLiteral("--login-limit"), QStringLiteral("1")});
    TESSERA_ADD_USER(server, TestUser, TestPassword.toUtf8());
    TESSERA_START(server);
    OAuthFlow flow(server);
    const HttpResponse first = flow.submit(flow.openForm(flow.authorizeParameters(newPkce())),
                                           TestUser, QStringLiteral("wrong"));
    const HttpResponse second =
            flow.submit(flow.openForm(flow.authorizeParameters(newPkce())), TestUser, TestPassword);
    const HttpResponse api = flow.http.login(TestUser, TestPassword);
    QCOMPARE(first.status, 401);
    QCOMPARE(second.status, 429);
    QVERIFY(second.header("Retry-After").toInt() > 0);
    QVERIFY(!second.hasHeader("Location"));
    QCOMPARE(second.header("X-Frame-Options"), QByteArray("DENY"));
    QCOMPARE(api.status, 429);
}

void tst_ServerOAuth::formRefusals()
{
    const Form form = m_flow->openForm(m_flow->authorizeParameters(newPkce()));
    // Not a form: refused with a page, nothing redirected.
    const HttpResponse json = m_flow->http.post(QStringLiteral("/authorize"), "{}",
                                                "application/json", {{"Cookie", form.cookie}});
    QCOMPARE(json.status, 415);
    QVERIFY(!json.hasHeader("Location"));
    // A repeated parameter: which one counts would be ambiguous.
    auto fields = form.hidden;
    fields << qMakePair(QStringLiteral("username"), TestUser)
           << qMakePair(QStringLiteral("password"), TestPassword)
           << qMakePair(QStringLiteral("redirect_uri"), QStringLiteral("http://evil.example/"));
    const HttpResponse repeated =
            m_flow->http.post(QStringLiteral("/authorize"), formBody(fields),
                              "application/x-www-form-urlencoded", {{"Cookie", form.cookie}});
    QCOMPARE(repeated.status, 400);
    QVERIFY(!repeated.hasHeader("Location"));
    // The posted form is checked again like the GET: a redirect URI swapped in the hidden
    // field is refused with a page.
    Form swapped = form;
    for (auto &field : swapped.hidden) {
        if (field.first == u"redirect_uri")
            field.second = QStringLiteral("http://127.0.0.1.evil.example/callback");
    }
    const HttpResponse answer = m_flow->submit(swapped, TestUser, TestPassword);
    QCOMPARE(answer.status, 400);
    QVERIFY(!answer.hasHeader("Location"));
    // An oversized password is not hashed.
    const HttpResponse huge = m_flow->submit(form, TestUser, QString(5000, u'p'));
    QCOMPARE(huge.status, 400);
    QVERIFY(!huge.hasHeader("Location"));
}

QTEST_GUILESS_MAIN(tst_ServerOAuth)
#include "tst_server_oauth.moc"

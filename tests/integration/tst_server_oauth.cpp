// SPDX-License-Identifier: MIT
// tessera-server as an OAuth 2 / OpenID Connect authorization server (docs/SERVER.md "OAuth
// 2 and OpenID Connect"), against the real binary: discovery, the authorization endpoint and
// its login page (front-channel hostility: unknown clients, look-alike redirect URIs, missing
// or plain PKCE, CSRF, HTML injection, oversized parameters), the code exchange (PKCE, single
// use, replay revoking the family, binding to client and redirect URI, expiry), refresh through
// the shared family rules, revocation and userinfo.
#include "testsupport.h"

#include <tessera/jose.h>

#include <QtCore/QFile>
#include <QtCore/QJsonArray>
#include <QtCore/QProcess>
#include <QtCore/QRegularExpression>
#include <QtCore/QTemporaryDir>
#include <QtCore/QUrlQuery>
#include <QtNetwork/QNetworkCookieJar>
#include <QtTest/QTest>

using namespace Tessera;
using namespace Tessera::Test;

namespace {

const QString Client = QStringLiteral("tessera-demo"); // --demo: http://127.0.0.1/callback
const QString Redirect = QStringLiteral("http://127.0.0.1:51000/callback");
const QString OtherClient = QStringLiteral("other-app");
const QString OtherRedirect = QStringLiteral("http://127.0.0.1/other");

// Cookies are the test's to send: the manager's jar would hide a missing one.
class NoCookies : public QNetworkCookieJar
{
public:
    bool setCookiesFromUrl(const QList<QNetworkCookie> &, const QUrl &) override { return false; }
};

QString encode(const QString &value)
{
    return QString::fromLatin1(QUrl::toPercentEncoding(value));
}

QByteArray formBody(const QList<QPair<QString, QString>> &fields)
{
    QStringList pairs;
    for (const auto &[name, value] : fields)
        pairs << encode(name) + u'=' + encode(value);
    return pairs.join(u'&').toUtf8();
}

struct Pkce
{
    QString verifier;
    QString challenge;
};

Pkce newPkce()
{
    const QByteArray verifier = Jose::base64UrlEncode(Jose::randomBytes(32));
    return {QString::fromLatin1(verifier),
            QString::fromLatin1(Jose::base64UrlEncode(Jose::sha256(verifier)))};
}

QJsonObject jwtPart(const QString &jwt, int index)
{
    const auto decoded = Jose::base64UrlDecode(jwt.split(u'.').value(index).toLatin1());
    return decoded ? QJsonDocument::fromJson(*decoded).object() : QJsonObject();
}

// The login form as the browser got it.
struct Form
{
    HttpResponse response;
    QList<QPair<QString, QString>> hidden;
    QByteArray cookie; // name=value of its Set-Cookie
};

} // namespace

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
    void wrongPassword();
    void codeFlow();
    void codeRefusals_data();
    void codeRefusals();
    void codeReplayRevokesFamily();
    void refreshGrant();
    void revocation();
    void expiredCode();

private:
    QList<QPair<QString, QString>> authorizeParameters(const Pkce &pkce) const;
    QString authorizePath(const QList<QPair<QString, QString>> &parameters) const;
    Form openForm(const QList<QPair<QString, QString>> &parameters);
    HttpResponse submit(const Form &form, const QString &username, const QString &password,
                        bool withCookie = true);
    // A code through the login page; empty on failure (the test fails then).
    QString code(const Pkce &pkce, const QString &client = Client,
                 const QString &redirect = Redirect);
    HttpResponse exchange(const QString &code, const QString &verifier,
                          const QString &client = Client, const QString &redirect = Redirect);
    HttpResponse tokenRequest(const QList<QPair<QString, QString>> &fields);
    QUrlQuery locationQuery(const HttpResponse &response) const;

    ServerProcess m_server{{QStringLiteral("--demo")}};
    std::unique_ptr<HttpClient> m_http;
};

void tst_ServerOAuth::initTestCase()
{
    TESSERA_ADD_USER(m_server, TestUser, TestPassword.toUtf8());
    QProcess add;
    add.start(ServerProcess::binaryPath(),
              {QStringLiteral("client"), QStringLiteral("add"), OtherClient,
               QStringLiteral("--redirect-uri"), OtherRedirect, QStringLiteral("--db"),
               m_server.databasePath()});
    QVERIFY(add.waitForFinished(15000));
    QCOMPARE(add.exitCode(), 0);
    TESSERA_START(m_server);
    m_http = std::make_unique<HttpClient>(m_server);
    m_http->manager().setCookieJar(new NoCookies);
}

QList<QPair<QString, QString>> tst_ServerOAuth::authorizeParameters(const Pkce &pkce) const
{
    return {{QStringLiteral("response_type"), QStringLiteral("code")},
            {QStringLiteral("client_id"), Client},
            {QStringLiteral("redirect_uri"), Redirect},
            {QStringLiteral("scope"), QStringLiteral("openid profile")},
            {QStringLiteral("state"), QStringLiteral("st-1")},
            {QStringLiteral("nonce"), QStringLiteral("n-1")},
            {QStringLiteral("code_challenge"), pkce.challenge},
            {QStringLiteral("code_challenge_method"), QStringLiteral("S256")}};
}

QString tst_ServerOAuth::authorizePath(const QList<QPair<QString, QString>> &parameters) const
{
    return QStringLiteral("/authorize?") + QString::fromUtf8(formBody(parameters));
}

Form tst_ServerOAuth::openForm(const QList<QPair<QString, QString>> &parameters)
{
    Form form;
    form.response = m_http->get(authorizePath(parameters));
    static const QRegularExpression input(
            QStringLiteral("<input type=\"hidden\" name=\"([^\"]*)\" value=\"([^\"]*)\">"));
    for (auto it = input.globalMatch(QString::fromUtf8(form.response.body)); it.hasNext();) {
        const auto match = it.next();
        QString value = match.captured(2);
        value.replace(QLatin1String("&quot;"), QLatin1String("\""))
                .replace(QLatin1String("&#39;"), QLatin1String("'"))
                .replace(QLatin1String("&lt;"), QLatin1String("<"))
                .replace(QLatin1String("&gt;"), QLatin1String(">"))
                .replace(QLatin1String("&amp;"), QLatin1String("&"));
        form.hidden.append({match.captured(1), value});
    }
    form.cookie = form.response.header("Set-Cookie").split(';').first();
    return form;
}

HttpResponse tst_ServerOAuth::submit(const Form &form, const QString &username,
                                     const QString &password, bool withCookie)
{
    auto fields = form.hidden;
    fields << qMakePair(QStringLiteral("username"), username)
           << qMakePair(QStringLiteral("password"), password);
    HttpClient::Headers headers;
    if (withCookie)
        headers.append({"Cookie", form.cookie});
    return m_http->post(QStringLiteral("/authorize"), formBody(fields),
                        "application/x-www-form-urlencoded", headers);
}

QUrlQuery tst_ServerOAuth::locationQuery(const HttpResponse &response) const
{
    return QUrlQuery(QUrl(QString::fromUtf8(response.header("Location"))));
}

QString tst_ServerOAuth::code(const Pkce &pkce, const QString &client, const QString &redirect)
{
    auto parameters = authorizeParameters(pkce);
    parameters[1].second = client;
    parameters[2].second = redirect;
    const Form form = openForm(parameters);
    if (form.response.status != 200) {
        qWarning("authorize: %s", qPrintable(form.response.describe()));
        return {};
    }
    const HttpResponse answer = submit(form, TestUser, TestPassword);
    if (answer.status != 303) {
        qWarning("login: %s", qPrintable(answer.describe()));
        return {};
    }
    return locationQuery(answer).queryItemValue(QStringLiteral("code"), QUrl::FullyDecoded);
}

HttpResponse tst_ServerOAuth::tokenRequest(const QList<QPair<QString, QString>> &fields)
{
    return m_http->post(QStringLiteral("/token"), formBody(fields),
                        "application/x-www-form-urlencoded");
}

HttpResponse tst_ServerOAuth::exchange(const QString &code, const QString &verifier,
                                       const QString &client, const QString &redirect)
{
    return tokenRequest({{QStringLiteral("grant_type"), QStringLiteral("authorization_code")},
                         {QStringLiteral("code"), code},
                         {QStringLiteral("code_verifier"), verifier},
                         {QStringLiteral("redirect_uri"), redirect},
                         {QStringLiteral("client_id"), client}});
}

void tst_ServerOAuth::discovery()
{
    const QString issuer = m_server.baseUrl().toString(QUrl::StripTrailingSlash);
    for (const QString path : {QStringLiteral("/.well-known/openid-configuration"),
                               QStringLiteral("/.well-known/oauth-authorization-server")}) {
        const HttpResponse response = m_http->get(path);
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
        const HttpResponse jwks = m_http->get(jwksUri.mid(issuer.size()));
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
    auto parameters = authorizeParameters(newPkce());
    parameters[1].second = client;
    parameters[2].second = redirect;
    const HttpResponse response = m_http->get(authorizePath(parameters));
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
    auto parameters = authorizeParameters(newPkce());
    bool replaced = false;
    for (auto &parameter : parameters) {
        if (parameter.first == name) {
            parameter.second = value;
            replaced = true;
        }
    }
    if (!replaced)
        parameters.append({name, value});
    const HttpResponse response = m_http->get(authorizePath(parameters));
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
    auto parameters = authorizeParameters(newPkce());
    parameters[4].second = QStringLiteral("\"><script>alert('x')</script>");
    parameters.append({QStringLiteral("prompt"), QStringLiteral("login")});
    const Form form = openForm(parameters);
    TESSERA_EXPECT_STATUS(form.response, 200);
    const HttpResponse &page = form.response;
    QVERIFY(page.header("Content-Type").startsWith("text/html"));
    QCOMPARE(page.header("X-Frame-Options"), QByteArray("DENY"));
    const QByteArray csp = page.header("Content-Security-Policy");
    QVERIFY2(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
             csp.constData());
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
    const Form form = openForm(authorizeParameters(newPkce()));
    TESSERA_EXPECT_STATUS(form.response, 200);
    const Form other = openForm(authorizeParameters(newPkce()));

    // No cookie, a field that is not the cookie's, a forged cookie: refused, nobody signed in.
    const HttpResponse noCookie = submit(form, TestUser, TestPassword, false);
    QCOMPARE(noCookie.status, 403);
    QVERIFY(!noCookie.hasHeader("Location"));
    Form mixed = other;
    mixed.cookie = form.cookie;
    QCOMPARE(submit(mixed, TestUser, TestPassword).status, 403);
    Form forged = form;
    forged.cookie = form.cookie.left(form.cookie.size() - 2) + "AA";
    QCOMPARE(submit(forged, TestUser, TestPassword).status, 403);
    Form noField = form;
    noField.hidden.removeIf([](const auto &field) { return field.first == u"csrf"; });
    QCOMPARE(submit(noField, TestUser, TestPassword).status, 403);

    // The form and its own cookie: signed in.
    const HttpResponse ok = submit(form, TestUser, TestPassword);
    TESSERA_EXPECT_STATUS(ok, 303);
    QVERIFY(locationQuery(ok).hasQueryItem(QStringLiteral("code")));
}

void tst_ServerOAuth::wrongPassword()
{
    const Form form = openForm(authorizeParameters(newPkce()));
    const HttpResponse answer = submit(form, TestUser, QStringLiteral("wrong"));
    QCOMPARE(answer.status, 401);
    QVERIFY(!answer.hasHeader("Location"));
    QVERIFY(answer.body.contains("Wrong username or password."));
    QCOMPARE(answer.header("X-Frame-Options"), QByteArray("DENY"));
}

void tst_ServerOAuth::codeFlow()
{
    const Pkce pkce = newPkce();
    const Form form = openForm(authorizeParameters(pkce));
    const HttpResponse answer = submit(form, TestUser, TestPassword);
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

    const HttpResponse tokens = exchange(code, pkce.verifier);
    TESSERA_EXPECT_STATUS(tokens, 200);
    QCOMPARE(tokens.header("Cache-Control"), QByteArray("no-store"));
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
    for (const QJsonValue &jwk : m_http->jwks().json().value(QStringLiteral("keys")).toArray())
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

    const HttpResponse userinfo = m_http->get(QStringLiteral("/userinfo"),
                                              {{"Authorization", "Bearer " + access.toLatin1()}});
    TESSERA_EXPECT_STATUS(userinfo, 200);
    QCOMPARE(userinfo.str(QStringLiteral("sub")), TestUser);
    QCOMPARE(userinfo.str(QStringLiteral("preferred_username")), TestUser);
    const HttpResponse anonymous = m_http->get(QStringLiteral("/userinfo"));
    QCOMPARE(anonymous.status, 401);
    QVERIFY(anonymous.header("WWW-Authenticate").startsWith("Bearer"));
    // The access token is this server's: /api/me/ takes it too.
    TESSERA_EXPECT_STATUS(m_http->me(access), 200);
}

void tst_ServerOAuth::codeRefusals_data()
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

void tst_ServerOAuth::codeRefusals()
{
    QFETCH(QString, case_);
    QFETCH(int, status);
    QFETCH(QString, error);
    const Pkce pkce = newPkce();
    const QString issued = code(pkce);
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
    const HttpResponse refused = tokenRequest(fields);
    QCOMPARE(refused.status, status);
    QCOMPARE(refused.str(QStringLiteral("error")), error);
    QVERIFY(!refused.str(QStringLiteral("error_description")).isEmpty());
    QCOMPARE(refused.header("Cache-Control"), QByteArray("no-store"));
    QVERIFY(!refused.json().contains(QStringLiteral("access_token")));
}

void tst_ServerOAuth::codeReplayRevokesFamily()
{
    const Pkce pkce = newPkce();
    const QString issued = code(pkce);
    const HttpResponse first = exchange(issued, pkce.verifier);
    TESSERA_EXPECT_STATUS(first, 200);
    const HttpResponse second = exchange(issued, pkce.verifier);
    QCOMPARE(second.status, 400);
    QCOMPARE(second.str(QStringLiteral("error")), QStringLiteral("invalid_grant"));
    // Everything the first exchange issued is revoked (RFC 6749 §4.1.2).
    const HttpResponse refresh = tokenRequest(
            {{QStringLiteral("grant_type"), QStringLiteral("refresh_token")},
             {QStringLiteral("refresh_token"), first.str(QStringLiteral("refresh_token"))},
             {QStringLiteral("client_id"), Client}});
    QCOMPARE(refresh.str(QStringLiteral("error")), QStringLiteral("invalid_grant"));
    QCOMPARE(m_http->me(first.str(QStringLiteral("access_token"))).status, 401);
}

void tst_ServerOAuth::refreshGrant()
{
    const Pkce pkce = newPkce();
    const HttpResponse tokens = exchange(code(pkce), pkce.verifier);
    TESSERA_EXPECT_STATUS(tokens, 200);
    auto refreshWith = [this](const QString &token, const QString &client = Client) {
        return tokenRequest({{QStringLiteral("grant_type"), QStringLiteral("refresh_token")},
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
    QVERIFY(jwtPart(rotated.str(QStringLiteral("access_token")), 1)
                    .value(QStringLiteral("aud"))
                    .toArray()
                    .contains(Client));
    // The same family through the SimpleJWT endpoint: one family model.
    TESSERA_TOKEN_PAIR(third, m_http->refresh(second));
    // Presenting the first token again (not the parent of the current one) is reuse: the
    // family is revoked, its newest token refused.
    QCOMPARE(refreshWith(first).str(QStringLiteral("error")), QStringLiteral("invalid_grant"));
    QCOMPARE(refreshWith(third.refresh).str(QStringLiteral("error")),
             QStringLiteral("invalid_grant"));
    QCOMPARE(m_http->me(third.access).status, 401);

    // A SimpleJWT family belongs to no client: /token refuses its refresh token.
    TESSERA_TOKEN_PAIR(login, m_http->login(TestUser, TestPassword));
    QCOMPARE(refreshWith(login.refresh).str(QStringLiteral("error")),
             QStringLiteral("invalid_grant"));
    TESSERA_EXPECT_STATUS(m_http->refresh(login.refresh), 200);
}

void tst_ServerOAuth::revocation()
{
    auto revoke = [this](const QString &token, const QString &client = Client) {
        return m_http->post(
                QStringLiteral("/revoke"),
                formBody({{QStringLiteral("token"), token}, {QStringLiteral("client_id"), client}}),
                "application/x-www-form-urlencoded");
    };
    auto refreshWith = [this](const QString &token) {
        return tokenRequest({{QStringLiteral("grant_type"), QStringLiteral("refresh_token")},
                             {QStringLiteral("refresh_token"), token},
                             {QStringLiteral("client_id"), Client}});
    };
    Pkce pkce = newPkce();
    HttpResponse tokens = exchange(code(pkce), pkce.verifier);
    TESSERA_EXPECT_STATUS(tokens, 200);
    const QString refresh = tokens.str(QStringLiteral("refresh_token"));
    const QString access = tokens.str(QStringLiteral("access_token"));
    // Unknown tokens and another client's: 200, and nothing is revoked.
    TESSERA_EXPECT_STATUS(revoke(QStringLiteral("not-a-token")), 200);
    TESSERA_EXPECT_STATUS(revoke(refresh, OtherClient), 200);
    TESSERA_EXPECT_STATUS(revoke(access, OtherClient), 200);
    TESSERA_EXPECT_STATUS(m_http->me(access), 200);
    // The refresh token: its family goes, access token included.
    TESSERA_EXPECT_STATUS(revoke(refresh), 200);
    QCOMPARE(refreshWith(refresh).str(QStringLiteral("error")), QStringLiteral("invalid_grant"));
    QCOMPARE(m_http->me(access).status, 401);
    QCOMPARE(m_http->get(QStringLiteral("/userinfo"),
                         {{"Authorization", "Bearer " + access.toLatin1()}})
                     .status,
             401);

    // An access token revokes its family too.
    pkce = newPkce();
    tokens = exchange(code(pkce), pkce.verifier);
    TESSERA_EXPECT_STATUS(revoke(tokens.str(QStringLiteral("access_token"))), 200);
    QCOMPARE(refreshWith(tokens.str(QStringLiteral("refresh_token"))).str(QStringLiteral("error")),
             QStringLiteral("invalid_grant"));
    // No client_id: invalid_client.
    const HttpResponse anonymous =
            m_http->post(QStringLiteral("/revoke"), formBody({{QStringLiteral("token"), refresh}}),
                         "application/x-www-form-urlencoded");
    QCOMPARE(anonymous.status, 401);
    QCOMPARE(anonymous.str(QStringLiteral("error")), QStringLiteral("invalid_client"));
}

void tst_ServerOAuth::expiredCode()
{
    // The server's wall clock is moved past the code's 60 s lifetime between the login and the
    // exchange (libfaketime reads the offset from a file on every call).
    const QString libfaketime =
            QStringLiteral("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1");
    if (!QFile::exists(libfaketime))
        QSKIP("libfaketime is not installed (Debian package libfaketime)");
    QTemporaryDir dir;
    const QString offsetFile = dir.filePath(QStringLiteral("offset"));
    auto setOffset = [&offsetFile](const char *offset) {
        QFile file(offsetFile);
        QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
        file.write(offset);
    };
    setOffset("+0\n");
    ServerProcess server({QStringLiteral("--demo")});
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("LD_PRELOAD"), libfaketime);
    environment.insert(QStringLiteral("FAKETIME_TIMESTAMP_FILE"), offsetFile);
    environment.insert(QStringLiteral("FAKETIME_NO_CACHE"), QStringLiteral("1"));
    environment.insert(QStringLiteral("FAKETIME_DONT_FAKE_MONOTONIC"), QStringLiteral("1"));
    server.setEnvironment(environment);
    TESSERA_ADD_USER(server, TestUser, TestPassword.toUtf8());
    TESSERA_START(server);
    // The helpers speak to m_http: pointed at this server for the test.
    const Pkce pkce = newPkce();
    HttpClient *saved = m_http.release();
    m_http.reset(new HttpClient(server));
    m_http->manager().setCookieJar(new NoCookies);
    const QString issued = code(pkce);
    QVERIFY(!issued.isEmpty());
    setOffset("+61\n");
    const HttpResponse late = exchange(issued, pkce.verifier);
    m_http.reset(saved);
    QCOMPARE(late.status, 400);
    QCOMPARE(late.str(QStringLiteral("error")), QStringLiteral("invalid_grant"));
    QCOMPARE(late.str(QStringLiteral("error_description")), QStringLiteral("the code has expired"));
}

QTEST_GUILESS_MAIN(tst_ServerOAuth)
#include "tst_server_oauth.moc"

// SPDX-License-Identifier: MIT
// tessera-server's device authorization grant (RFC 8628) against the real binary: the device's
// requests, a person on the /device page (cookies sent by the test), polling with
// authorization_pending, slow_down, access_denied and expired_token (the server's clock moved
// by libfaketime), single use, another client's code, the page's CSRF guard, HTML escaping and
// the limit on wrong user codes.
#include "oauthflow.h"

#include <QtTest/QTest>

using namespace Tessera;
using namespace Tessera::Test;
using namespace Tessera::Test::OAuth;

namespace {

const QString DeviceGrant = QStringLiteral("urn:ietf:params:oauth:grant-type:device_code");

// A page of the /device flow as the browser got it: its hidden fields and its cookie.
struct Page
{
    HttpResponse response;
    QList<QPair<QString, QString>> hidden;
    QByteArray cookie;
    QString body() const { return QString::fromUtf8(response.body); }
};

Page pageOf(const HttpResponse &response)
{
    Page page;
    page.response = response;
    page.hidden = hiddenFields(response.body);
    page.cookie = response.header("Set-Cookie").split(';').first();
    return page;
}

QString hiddenValue(const Page &page, const QString &name)
{
    for (const auto &[field, value] : page.hidden) {
        if (field == name)
            return value;
    }
    return {};
}

} // namespace

class tst_ServerDevice : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void authorizationResponse();
    void authorizationRefusals_data();
    void authorizationRefusals();
    void personApproves();
    void slowDown();
    void configuredInterval();
    void denial();
    void otherClientsCode();
    void formWithoutCsrfRefused();
    void injectedUserCodeEscaped();
    void expiry();
    void wrongUserCodesLimited();

private:
    struct Device
    {
        QString deviceCode;
        QString userCode;
    };
    Device startDevice(const QString &client = Client,
                       const QString &scope = QStringLiteral("openid profile"));
    HttpResponse poll(const QString &deviceCode, const QString &client = Client);
    Page openDevice(const QString &userCode);
    HttpResponse postDevice(const Page &page, QList<QPair<QString, QString>> fields,
                            bool withCookie = true);
    // Entry page, code, confirmation page: the form with username/password.
    Page confirmation(const QString &userCode);

    FakeClock m_clock;
    ServerProcess m_server{{QStringLiteral("--demo")}};
    std::unique_ptr<OAuthFlow> m_flow;
};

void tst_ServerDevice::initTestCase()
{
    // The server runs under libfaketime when it is installed, so that polling intervals and
    // the code's lifetime pass without waiting.
    if (FakeClock::available())
        m_server.setEnvironment(m_clock.environment());
    TESSERA_START_OAUTH(m_server);
    m_flow = std::make_unique<OAuthFlow>(m_server);
}

tst_ServerDevice::Device tst_ServerDevice::startDevice(const QString &client, const QString &scope)
{
    const HttpResponse answer = m_flow->http.post(
            QStringLiteral("/device_authorization"),
            formBody({{QStringLiteral("client_id"), client}, {QStringLiteral("scope"), scope}}),
            "application/x-www-form-urlencoded");
    if (answer.status != 200)
        qWarning("device_authorization: %s", qPrintable(answer.describe()));
    return {answer.str(QStringLiteral("device_code")), answer.str(QStringLiteral("user_code"))};
}

HttpResponse tst_ServerDevice::poll(const QString &deviceCode, const QString &client)
{
    return m_flow->tokenRequest({{QStringLiteral("grant_type"), DeviceGrant},
                                 {QStringLiteral("device_code"), deviceCode},
                                 {QStringLiteral("client_id"), client}});
}

Page tst_ServerDevice::openDevice(const QString &userCode)
{
    return pageOf(m_flow->http.get(QStringLiteral("/device?user_code=") + encode(userCode)));
}

HttpResponse tst_ServerDevice::postDevice(const Page &page, QList<QPair<QString, QString>> fields,
                                          bool withCookie)
{
    fields.prepend({QStringLiteral("csrf"), hiddenValue(page, QStringLiteral("csrf"))});
    HttpClient::Headers headers;
    if (withCookie)
        headers.append({"Cookie", page.cookie});
    return m_flow->http.post(QStringLiteral("/device"), formBody(fields),
                             "application/x-www-form-urlencoded", headers);
}

Page tst_ServerDevice::confirmation(const QString &userCode)
{
    const Page entry = openDevice(userCode);
    if (entry.response.status != 200)
        qWarning("GET /device: %s", qPrintable(entry.response.describe()));
    return pageOf(postDevice(entry, {{QStringLiteral("user_code"), userCode}}));
}

void tst_ServerDevice::authorizationResponse()
{
    const HttpResponse answer =
            m_flow->http.post(QStringLiteral("/device_authorization"),
                              formBody({{QStringLiteral("client_id"), Client},
                                        {QStringLiteral("scope"), QStringLiteral("openid")}}),
                              "application/x-www-form-urlencoded");
    TESSERA_EXPECT_STATUS(answer, 200);
    QCOMPARE(answer.header("Cache-Control"), QByteArray("no-store"));
    const QString issuer = m_server.baseUrl().toString(QUrl::StripTrailingSlash);
    const QString userCode = answer.str(QStringLiteral("user_code"));
    static const QRegularExpression shape(
            QStringLiteral("^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$"));
    QVERIFY2(shape.match(userCode).hasMatch(), qPrintable(userCode));
    QCOMPARE(answer.str(QStringLiteral("device_code")).size(), 43);
    QCOMPARE(answer.str(QStringLiteral("verification_uri")), issuer + QStringLiteral("/device"));
    QCOMPARE(answer.str(QStringLiteral("verification_uri_complete")),
             issuer + QStringLiteral("/device?user_code=") + userCode);
    QCOMPARE(answer.json().value(QStringLiteral("expires_in")).toInt(), 600);
    QCOMPARE(answer.json().value(QStringLiteral("interval")).toInt(), 5);

    // Discovery names the endpoint and the grant.
    const HttpResponse discovery =
            m_flow->http.get(QStringLiteral("/.well-known/openid-configuration"));
    TESSERA_EXPECT_STATUS(discovery, 200);
    QCOMPARE(discovery.str(QStringLiteral("device_authorization_endpoint")),
             issuer + QStringLiteral("/device_authorization"));
    QVERIFY(discovery.json()
                    .value(QStringLiteral("grant_types_supported"))
                    .toArray()
                    .contains(DeviceGrant));
}

void tst_ServerDevice::authorizationRefusals_data()
{
    QTest::addColumn<QString>("client");
    QTest::addColumn<QString>("scope");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("error");
    QTest::addRow("no client") << QString() << QString() << 401 << "invalid_client";
    QTest::addRow("unknown client") << "nobody" << QString() << 401 << "invalid_client";
    QTest::addRow("unknown scope") << Client << "openid admin" << 400 << "invalid_scope";
}

void tst_ServerDevice::authorizationRefusals()
{
    QFETCH(QString, client);
    QFETCH(QString, scope);
    QFETCH(int, status);
    QFETCH(QString, error);
    QList<QPair<QString, QString>> fields;
    if (!client.isEmpty())
        fields.append({QStringLiteral("client_id"), client});
    if (!scope.isEmpty())
        fields.append({QStringLiteral("scope"), scope});
    const HttpResponse answer =
            m_flow->http.post(QStringLiteral("/device_authorization"), formBody(fields),
                              "application/x-www-form-urlencoded");
    QCOMPARE(answer.status, status);
    QCOMPARE(answer.str(QStringLiteral("error")), error);
}

void tst_ServerDevice::personApproves()
{
    const Device device = startDevice();
    QVERIFY(!device.deviceCode.isEmpty());
    const HttpResponse pending = poll(device.deviceCode);
    QCOMPARE(pending.status, 400);
    QCOMPARE(pending.str(QStringLiteral("error")), QStringLiteral("authorization_pending"));

    // The person opens the verification URI: the code is prefilled; the page cannot be framed.
    const Page entry = openDevice(device.userCode);
    TESSERA_EXPECT_STATUS(entry.response, 200);
    QVERIFY(entry.body().contains(QStringLiteral("value=\"") + device.userCode + u'"'));
    QCOMPARE(entry.response.header("X-Frame-Options"), QByteArray("DENY"));
    QVERIFY(entry.response.header("Content-Security-Policy").contains("frame-ancestors 'none'"));
    QCOMPARE(entry.response.header("Cache-Control"), QByteArray("no-store"));
    QCOMPARE(entry.response.header("Referrer-Policy"), QByteArray("no-referrer"));

    // Typed in lower case without the dash: the same code. The confirmation names the client
    // and shows the code to compare with the device's (RFC 8628 §5.4).
    QString typed = device.userCode.toLower();
    typed.remove(u'-');
    const Page confirm = pageOf(postDevice(entry, {{QStringLiteral("user_code"), typed}}));
    TESSERA_EXPECT_STATUS(confirm.response, 200);
    QVERIFY(confirm.body().contains(Client));
    QVERIFY(confirm.body().contains(QStringLiteral("<b>") + device.userCode
                                    + QStringLiteral("</b>")));
    QVERIFY(confirm.body().contains(QStringLiteral("name=\"password\"")));
    QVERIFY(confirm.body().contains(QStringLiteral("value=\"deny\"")));

    // A wrong password approves nothing.
    const HttpResponse wrong = postDevice(
            confirm,
            {{QStringLiteral("user_code"), hiddenValue(confirm, QStringLiteral("user_code"))},
             {QStringLiteral("action"), QStringLiteral("allow")},
             {QStringLiteral("username"), TestUser},
             {QStringLiteral("password"), QStringLiteral("not-it")}});
    QCOMPARE(wrong.status, 401);
    const HttpResponse stillPending = poll(device.deviceCode);
    QCOMPARE(stillPending.status, 400);
    QVERIFY2(QStringList({QStringLiteral("authorization_pending"), QStringLiteral("slow_down")})
                     .contains(stillPending.str(QStringLiteral("error"))),
             qPrintable(stillPending.describe()));

    const Page again = pageOf(wrong);
    const HttpResponse done = postDevice(again,
                                         {{QStringLiteral("user_code"), device.userCode},
                                          {QStringLiteral("action"), QStringLiteral("allow")},
                                          {QStringLiteral("username"), TestUser},
                                          {QStringLiteral("password"), TestPassword}});
    TESSERA_EXPECT_STATUS(done, 200);
    QVERIFY(done.body.contains("Device connected"));

    const HttpResponse tokens = poll(device.deviceCode);
    TESSERA_EXPECT_STATUS(tokens, 200);
    QCOMPARE(tokens.header("Cache-Control"), QByteArray("no-store"));
    QCOMPARE(tokens.str(QStringLiteral("token_type")), QStringLiteral("Bearer"));
    QCOMPARE(tokens.str(QStringLiteral("scope")), QStringLiteral("openid profile"));
    QVERIFY(!tokens.str(QStringLiteral("refresh_token")).isEmpty());
    const QJsonObject access = jwtPart(tokens.str(QStringLiteral("access_token")), 1);
    QVERIFY(access.value(QStringLiteral("aud")).toArray().contains(Client)
            || access.value(QStringLiteral("aud")).toString() == Client);
    const QJsonObject id = jwtPart(tokens.str(QStringLiteral("id_token")), 1);
    QCOMPARE(id.value(QStringLiteral("aud")).toString(), Client);
    QCOMPARE(id.value(QStringLiteral("preferred_username")).toString(), TestUser);
    QVERIFY(id.value(QStringLiteral("auth_time")).toInteger() > 0);
    QVERIFY(!id.contains(QStringLiteral("nonce")));

    // The family works like any other: its refresh token rotates.
    const HttpResponse refreshed = m_flow->tokenRequest(
            {{QStringLiteral("grant_type"), QStringLiteral("refresh_token")},
             {QStringLiteral("refresh_token"), tokens.str(QStringLiteral("refresh_token"))},
             {QStringLiteral("client_id"), Client}});
    TESSERA_EXPECT_STATUS(refreshed, 200);

    // Spent: a second exchange gets nothing, and the user code cannot be approved again.
    const HttpResponse replay = poll(device.deviceCode);
    QCOMPARE(replay.status, 400);
    QCOMPARE(replay.str(QStringLiteral("error")), QStringLiteral("invalid_grant"));
    const Page reuse = confirmation(device.userCode);
    QCOMPARE(reuse.response.status, 400);
    QVERIFY(!reuse.body().contains(QStringLiteral("name=\"password\"")));
}

void tst_ServerDevice::slowDown()
{
    const Device device = startDevice();
    QCOMPARE(poll(device.deviceCode).str(QStringLiteral("error")),
             QStringLiteral("authorization_pending"));
    const HttpResponse fast = poll(device.deviceCode);
    QCOMPARE(fast.status, 400);
    QCOMPARE(fast.str(QStringLiteral("error")), QStringLiteral("slow_down"));
    if (!FakeClock::available())
        QSKIP("libfaketime is not installed (Debian package libfaketime)");
    // The interval is now 10 s: 6 s later is still too soon, and makes it 15 s.
    QVERIFY(m_clock.advance(6));
    QCOMPARE(poll(device.deviceCode).str(QStringLiteral("error")), QStringLiteral("slow_down"));
    QVERIFY(m_clock.advance(16));
    QCOMPARE(poll(device.deviceCode).str(QStringLiteral("error")),
             QStringLiteral("authorization_pending"));
}

void tst_ServerDevice::configuredInterval()
{
    // --device-interval 2: the answer carries it, and it is what polls are held to.
    FakeClock clock;
    ServerProcess server{
            {QStringLiteral("--demo"), QStringLiteral("--device-interval"), QStringLiteral("2")}};
    if (FakeClock::available())
        server.setEnvironment(clock.environment());
    QVERIFY2(server.start(), qPrintable(server.errorString()));
    OAuthFlow flow(server);
    auto start = [&flow] {
        return flow.http.post(QStringLiteral("/device_authorization"),
                              formBody({{QStringLiteral("client_id"), Client},
                                        {QStringLiteral("scope"), QStringLiteral("openid")}}),
                              "application/x-www-form-urlencoded");
    };
    auto poll = [&flow](const QString &deviceCode) {
        return flow
                .tokenRequest({{QStringLiteral("grant_type"), DeviceGrant},
                               {QStringLiteral("device_code"), deviceCode},
                               {QStringLiteral("client_id"), Client}})
                .str(QStringLiteral("error"));
    };
    const HttpResponse answer = start();
    TESSERA_EXPECT_STATUS(answer, 200);
    QCOMPARE(answer.json().value(QStringLiteral("interval")).toInt(), 2);
    const QString hurried = answer.str(QStringLiteral("device_code"));
    QCOMPARE(poll(hurried), QStringLiteral("authorization_pending"));
    QCOMPARE(poll(hurried), QStringLiteral("slow_down"));

    if (!FakeClock::available())
        QSKIP("libfaketime is not installed (Debian package libfaketime)");
    // 3 s between polls is enough at 2 s (at the default 5 s it would be slow_down).
    const QString patient = start().str(QStringLiteral("device_code"));
    QVERIFY(!patient.isEmpty());
    QCOMPARE(poll(patient), QStringLiteral("authorization_pending"));
    QVERIFY(clock.advance(3));
    QCOMPARE(poll(patient), QStringLiteral("authorization_pending"));
    // The first code's interval grew to 7 s by its slow_down: 3 s later is still too soon.
    QCOMPARE(poll(hurried), QStringLiteral("slow_down"));
}

void tst_ServerDevice::denial()
{
    const Device device = startDevice();
    const Page confirm = confirmation(device.userCode);
    TESSERA_EXPECT_STATUS(confirm.response, 200);
    const HttpResponse denied = postDevice(confirm,
                                           {{QStringLiteral("user_code"), device.userCode},
                                            {QStringLiteral("action"), QStringLiteral("deny")}});
    TESSERA_EXPECT_STATUS(denied, 200);
    QVERIFY(denied.body.contains("Access denied"));
    const HttpResponse answer = poll(device.deviceCode);
    QCOMPARE(answer.status, 400);
    QCOMPARE(answer.str(QStringLiteral("error")), QStringLiteral("access_denied"));
    // Decided once: it cannot be allowed afterwards.
    const HttpResponse late = postDevice(confirm,
                                         {{QStringLiteral("user_code"), device.userCode},
                                          {QStringLiteral("action"), QStringLiteral("allow")},
                                          {QStringLiteral("username"), TestUser},
                                          {QStringLiteral("password"), TestPassword}});
    QCOMPARE(late.status, 400);
    QCOMPARE(poll(device.deviceCode).str(QStringLiteral("error")), QStringLiteral("access_denied"));
}

void tst_ServerDevice::otherClientsCode()
{
    const Device device = startDevice();
    const HttpResponse other = poll(device.deviceCode, OtherClient);
    QCOMPARE(other.status, 400);
    QCOMPARE(other.str(QStringLiteral("error")), QStringLiteral("invalid_grant"));
    const HttpResponse unknown = poll(QStringLiteral("x").repeated(43));
    QCOMPARE(unknown.str(QStringLiteral("error")), QStringLiteral("invalid_grant"));
    // Left as it was: the first poll of its own client is not "too soon".
    QCOMPARE(poll(device.deviceCode).str(QStringLiteral("error")),
             QStringLiteral("authorization_pending"));
}

void tst_ServerDevice::formWithoutCsrfRefused()
{
    const Device device = startDevice();
    const Page entry = openDevice(device.userCode);
    const HttpResponse noCookie =
            postDevice(entry, {{QStringLiteral("user_code"), device.userCode}}, false);
    QCOMPARE(noCookie.status, 403);
    QVERIFY(!noCookie.body.contains("name=\"password\""));

    const Page confirm = confirmation(device.userCode);
    TESSERA_EXPECT_STATUS(confirm.response, 200);
    const QList<QPair<QString, QString>> allow{{QStringLiteral("user_code"), device.userCode},
                                               {QStringLiteral("action"), QStringLiteral("allow")},
                                               {QStringLiteral("username"), TestUser},
                                               {QStringLiteral("password"), TestPassword}};
    QCOMPARE(postDevice(confirm, allow, false).status, 403);
    Page forged = confirm;
    forged.hidden.clear(); // no csrf field
    QCOMPARE(postDevice(forged, allow).status, 403);
    QCOMPARE(postDevice(confirm,
                        {{QStringLiteral("user_code"), device.userCode},
                         {QStringLiteral("action"), QStringLiteral("deny")}},
                        false)
                     .status,
             403);
    QCOMPARE(poll(device.deviceCode).str(QStringLiteral("error")),
             QStringLiteral("authorization_pending"));
}

void tst_ServerDevice::injectedUserCodeEscaped()
{
    const QString injected = QStringLiteral("\"><script>alert(1)</script><b x='");
    const Page entry = openDevice(injected);
    TESSERA_EXPECT_STATUS(entry.response, 200);
    QVERIFY(!entry.body().contains(QStringLiteral("<script>")));
    QVERIFY(!entry.body().contains(QStringLiteral("<b x=")));
    QVERIFY(entry.body().contains(QStringLiteral("&quot;&gt;&lt;script&gt;")));
    const HttpResponse posted = postDevice(entry, {{QStringLiteral("user_code"), injected}});
    QCOMPARE(posted.status, 400);
    QVERIFY(!posted.body.contains("<script>"));
    QVERIFY(posted.body.contains("&quot;&gt;&lt;script&gt;"));
}

void tst_ServerDevice::expiry()
{
    if (!FakeClock::available())
        QSKIP("libfaketime is not installed (Debian package libfaketime)");
    const Device device = startDevice();
    const Device approved = startDevice();
    const Page confirm = confirmation(approved.userCode);
    TESSERA_EXPECT_STATUS(confirm.response, 200);
    QVERIFY(m_clock.advance(601));
    const HttpResponse late = poll(device.deviceCode);
    QCOMPARE(late.status, 400);
    QCOMPARE(late.str(QStringLiteral("error")), QStringLiteral("expired_token"));
    // Nor can an expired code be approved (a new form: the old one's guard expired too).
    const Page again = confirmation(approved.userCode);
    QCOMPARE(again.response.status, 400);
    QCOMPARE(poll(approved.deviceCode).str(QStringLiteral("error")),
             QStringLiteral("expired_token"));
}

void tst_ServerDevice::wrongUserCodesLimited()
{
    // Its own server: the limit holds the test's address for ten minutes.
    ServerProcess server({QStringLiteral("--demo")});
    TESSERA_START(server);
    OAuthFlow flow(server);
    const HttpResponse started = flow.http.post(QStringLiteral("/device_authorization"),
                                                formBody({{QStringLiteral("client_id"), Client}}),
                                                "application/x-www-form-urlencoded");
    TESSERA_EXPECT_STATUS(started, 200);
    const QString userCode = started.str(QStringLiteral("user_code"));
    const Page entry = pageOf(flow.http.get(QStringLiteral("/device")));
    TESSERA_EXPECT_STATUS(entry.response, 200);
    auto enter = [&](const QString &code) {
        return flow.http.post(
                QStringLiteral("/device"),
                formBody({{QStringLiteral("csrf"), hiddenValue(entry, QStringLiteral("csrf"))},
                          {QStringLiteral("user_code"), code}}),
                "application/x-www-form-urlencoded", {{"Cookie", entry.cookie}});
    };
    // A right code does not reset the count of wrong ones.
    TESSERA_EXPECT_STATUS(enter(userCode), 200);
    for (int i = 0; i < 10; ++i) {
        QString guess = QStringLiteral("BCDFGHJK");
        guess[7] = QChar(u"BCDFGHJKLM"[i]);
        if (guess == QString(userCode).remove(u'-'))
            guess[0] = u'Z';
        const HttpResponse wrong = enter(guess);
        QCOMPARE(wrong.status, 400);
        if (i == 4)
            TESSERA_EXPECT_STATUS(enter(userCode), 200);
    }
    const HttpResponse limited = enter(QStringLiteral("ZZZZ-ZZZZ"));
    QCOMPARE(limited.status, 429);
    QVERIFY(limited.header("Retry-After").toInt() > 0);
    QCOMPARE(limited.header("X-Frame-Options"), QByteArray("DENY"));
    // The right code too, while the address is held back.
    QCOMPARE(enter(userCode).status, 429);
}

QTEST_GUILESS_MAIN(tst_ServerDevice)
#include "tst_server_device.moc"

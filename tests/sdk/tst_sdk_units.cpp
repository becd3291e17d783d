// SPDX-License-Identifier: MIT
// Unit tests of the SDK's value types and parsers, and of its transport limits
// and origin check against an in-process loopback server (no storage).
#include "accesstiming_p.h"
#include "tokenresponse_p.h"

#include <tessera/authenticatednetworkaccessmanager.h>
#include <tessera/error.h>
#include <tessera/jose.h>
#include <tessera/secret.h>
#include <tessera/session.h>
#include <tessera/sessionconfig.h>

#include <QtCore/QElapsedTimer>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QLoggingCategory>
#include <QtCore/QRegularExpression>
#include <QtCore/QTimer>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QTest>

#include <cctype>
#include <functional>
#include <memory>
#include <optional>

using namespace Tessera;

namespace {

QByteArray segment(const QJsonObject &object)
{
    return Jose::base64UrlEncode(QJsonDocument(object).toJson(QJsonDocument::Compact));
}

// An access-token-shaped string; the client never verifies the signature.
QByteArray fakeJwt(const QJsonObject &header, const QJsonObject &claims)
{
    return segment(header) + '.' + segment(claims) + ".c2lnbmF0dXJl";
}

const qint64 Now = 1'800'000'000;

// An HTTP server on 127.0.0.1 that hands each connection to `onRequest` once
// the request head has arrived.
class LoopbackServer : public QObject
{
public:
    using Handler = std::function<void(QTcpSocket *)>;
    explicit LoopbackServer(Handler onRequest)
        : m_onRequest(std::move(onRequest))
    {
        m_server.listen(QHostAddress::LocalHost);
        connect(&m_server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *socket = m_server.nextPendingConnection()) {
                ++connections;
                auto received = std::make_shared<QByteArray>();
                connect(socket, &QTcpSocket::readyRead, socket, [this, socket, received] {
                    const bool headSeen = received->contains("\r\n\r\n");
                    received->append(socket->readAll());
                    if (!received->isEmpty() && !std::isupper(uchar(received->at(0)))) {
                        socket->abort(); // not HTTP (a TLS hello): refuse at once
                        return;
                    }
                    if (!headSeen && received->contains("\r\n\r\n"))
                        m_onRequest(socket);
                });
            }
        });
    }
    bool isListening() const { return m_server.isListening(); }
    quint16 port() const { return m_server.serverPort(); }
    int connections = 0;

private:
    QTcpServer m_server;
    Handler m_onRequest;
};

SessionConfig loopbackConfig(const QString &host, quint16 port, std::chrono::milliseconds timeout)
{
    SessionConfig config(QUrl(QStringLiteral("http://%1:%2/").arg(host).arg(port)),
                         QStringLiteral("org.tessera.tests.units"));
    config.setStoragePolicy(SessionConfig::StoragePolicy::MemoryOnly);
    config.setRequestTimeout(timeout);
    return config;
}

// Signs in against `server` and returns how the login ended, and after how long.
std::pair<std::optional<Error>, qint64> loginAgainst(const LoopbackServer &server,
                                                     std::chrono::milliseconds timeout)
{
    Session session(loopbackConfig(QStringLiteral("127.0.0.1"), server.port(), timeout));
    QElapsedTimer clock;
    clock.start();
    const QFuture<void> login =
            session.login(QStringLiteral("alice"), QStringLiteral("not-a-real-password"));
    // Checked by the caller.
    if (!QTest::qWaitFor([&login] { return login.isFinished(); }, 10000))
        return {std::nullopt, clock.elapsed()};
    return {errorOf(login), clock.elapsed()};
}

} // namespace

class tst_SdkUnits : public QObject
{
    Q_OBJECT
private slots:
    void transportPolicy_data();
    void transportPolicy();
    void configValidation_data();
    void configValidation();
    void oauthConfigValidation_data();
    void oauthConfigValidation();
    void storageKeysAreDistinct();
    void origin_data();
    void origin();
    void endpoints();
    void secretRedactsAndWipes();
    void secretMoveLeavesSourceEmpty();
    void errorTransience_data();
    void errorTransience();
    void accessClaims_data();
    void accessClaims();
    void tokenResponse_data();
    void tokenResponse();
    void serverProblem();
    void accessTimingFloor_data();
    void accessTimingFloor();
    void idleTimeout();
    void deadlineOutlastsTrickle();
    void responseSizeLimit();
    void bearerOnlyForSessionOrigin_data();
    void bearerOnlyForSessionOrigin();

public:
    tst_SdkUnits()
    {
        // The timeout tests tell the idle limit from the deadline by these lines.
        QLoggingCategory::setFilterRules(QStringLiteral("tessera.network.info=true"));
    }
};

void tst_SdkUnits::transportPolicy_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<bool>("allowed");
    QTest::addRow("https") << "https://auth.example.com/" << true;
    QTest::addRow("http loopback v4") << "http://127.0.0.1:8000/" << true;
    QTest::addRow("http loopback v4 range") << "http://127.0.0.2:8000/" << true;
    QTest::addRow("http loopback v6") << "http://[::1]:8000/" << true;
    QTest::addRow("http localhost") << "http://localhost:8000/" << true;
    QTest::addRow("http remote") << "http://auth.example.com/" << false;
    QTest::addRow("http private address") << "http://192.168.1.10/" << false;
    QTest::addRow("http localhost lookalike") << "http://localhost.example.com/" << false;
    QTest::addRow("ftp") << "ftp://127.0.0.1/" << false;
}

void tst_SdkUnits::transportPolicy()
{
    QFETCH(QString, url);
    QFETCH(bool, allowed);
    QCOMPARE(isTransportAllowed(QUrl(url)), allowed);
}

void tst_SdkUnits::configValidation_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QString>("appId");
    QTest::addColumn<QByteArray>("pin");
    QTest::addColumn<Error::Code>("expected");
    const QByteArray goodPin = QByteArray(32, 'x').toBase64();
    QTest::addRow("ok") << "https://a.example/"
                        << "app" << QByteArray() << Error::Code::NoError;
    QTest::addRow("ok loopback") << "http://127.0.0.1:1/"
                                 << "app" << goodPin << Error::Code::NoError;
    QTest::addRow("insecure") << "http://a.example/"
                              << "app" << QByteArray() << Error::Code::InsecureTransport;
    QTest::addRow("no app id") << "https://a.example/"
                               << "" << QByteArray() << Error::Code::InvalidConfiguration;
    QTest::addRow("separator in app id")
            << "https://a.example/"
            << "a|b" << QByteArray() << Error::Code::InvalidConfiguration;
    QTest::addRow("credentials in url")
            << "https://u:p@a.example/"
            << "app" << QByteArray() << Error::Code::InvalidConfiguration;
    QTest::addRow("bad pin") << "https://a.example/"
                             << "app" << QByteArray("abc") << Error::Code::InvalidConfiguration;
    QTest::addRow("no host") << "https:///x"
                             << "app" << QByteArray() << Error::Code::InvalidConfiguration;
}

void tst_SdkUnits::configValidation()
{
    QFETCH(QString, url);
    QFETCH(QString, appId);
    QFETCH(QByteArray, pin);
    QFETCH(Error::Code, expected);
    SessionConfig config(QUrl(url), appId);
    if (!pin.isEmpty())
        config.setSpkiPins({pin});
    QCOMPARE(config.validate().code(), expected);
}

void tst_SdkUnits::oauthConfigValidation_data()
{
    QTest::addColumn<QString>("issuer");
    QTest::addColumn<QString>("clientId");
    QTest::addColumn<QStringList>("scopes");
    QTest::addColumn<QString>("redirectPath");
    QTest::addColumn<QStringList>("resources");
    QTest::addColumn<Error::Code>("expected");
    const QStringList scopes = {QStringLiteral("openid"), QStringLiteral("offline_access")};
    const QString path = QStringLiteral("/callback");
    const QString client = QStringLiteral("native");
    auto row = [&](const char *name, const char *issuer, const QString &clientId,
                   const QStringList &scopeList, const QString &redirect,
                   const QStringList &resources, Error::Code expected) {
        QTest::addRow("%s", name) << QString::fromLatin1(issuer) << clientId << scopeList
                                  << redirect << resources << expected;
    };
    row("ok", "https://id.example/", client, scopes, path, {}, Error::Code::NoError);
    row("ok loopback with path", "http://127.0.0.1:8080/realms/acme", client, scopes, path, {},
        Error::Code::NoError);
    row("ok resource origins", "https://id.example", client, scopes, path,
        {QStringLiteral("https://api.example"), QStringLiteral("http://[::1]:9000/")},
        Error::Code::NoError);
    row("http issuer", "http://id.example/", client, scopes, path, {},
        Error::Code::InsecureTransport);
    row("issuer with query", "https://id.example/?tenant=a", client, scopes, path, {},
        Error::Code::InvalidConfiguration);
    row("issuer with fragment", "https://id.example/#a", client, scopes, path, {},
        Error::Code::InvalidConfiguration);
    row("relative issuer", "/realms/acme", client, scopes, path, {},
        Error::Code::InvalidConfiguration);
    row("no client id", "https://id.example/", QString(), scopes, path, {},
        Error::Code::InvalidConfiguration);
    row("blank client id", "https://id.example/", QStringLiteral("  "), scopes, path, {},
        Error::Code::InvalidConfiguration);
    row("scope with a space", "https://id.example/", client, {QStringLiteral("openid email")}, path,
        {}, Error::Code::InvalidConfiguration);
    row("empty scope", "https://id.example/", client, {QString()}, path, {},
        Error::Code::InvalidConfiguration);
    row("relative redirect path", "https://id.example/", client, scopes, QStringLiteral("callback"),
        {}, Error::Code::InvalidConfiguration);
    row("redirect path with a query", "https://id.example/", client, scopes,
        QStringLiteral("/cb?x=1"), {}, Error::Code::InvalidConfiguration);
    row("http resource origin", "https://id.example/", client, scopes, path,
        {QStringLiteral("http://api.example")}, Error::Code::InsecureTransport);
    row("resource origin without host", "https://id.example/", client, scopes, path,
        {QStringLiteral("api.example")}, Error::Code::InvalidConfiguration);
}

void tst_SdkUnits::oauthConfigValidation()
{
    QFETCH(QString, issuer);
    QFETCH(QString, clientId);
    QFETCH(QStringList, scopes);
    QFETCH(QString, redirectPath);
    QFETCH(QStringList, resources);
    QFETCH(Error::Code, expected);
    SessionConfig config;
    config.setAppId(QStringLiteral("app"));
    config.setIssuer(QUrl(issuer));
    config.setClientId(clientId);
    config.setScopes(scopes);
    config.setRedirectPath(redirectPath);
    config.setResourceOrigins(resources);
    QCOMPARE(config.profile(), SessionConfig::Profile::OAuth);
    const Error error = config.validate();
    QVERIFY2(error.code() == expected, qPrintable(error.message()));
    // No server URL is needed for OAuth; without an issuer the same value is a SimpleJWT
    // configuration, which needs one.
    config.setIssuer(QUrl());
    QCOMPARE(config.profile(), SessionConfig::Profile::SimpleJwt);
    QCOMPARE(config.validate().code(), Error::Code::InvalidConfiguration);
}

void tst_SdkUnits::storageKeysAreDistinct()
{
    const SessionConfig a(QUrl(QStringLiteral("https://a.example/")), QStringLiteral("app"));
    const SessionConfig b(QUrl(QStringLiteral("https://b.example/")), QStringLiteral("app"));
    const SessionConfig c(QUrl(QStringLiteral("https://a.example/")), QStringLiteral("other"));
    const SessionConfig d(QUrl(QStringLiteral("https://a.example:8443/")), QStringLiteral("app"));
    const QStringList keys = {
            a.storageKey(QStringLiteral("alice")), a.storageKey(QStringLiteral("bob")),
            b.storageKey(QStringLiteral("alice")), c.storageKey(QStringLiteral("alice")),
            d.storageKey(QStringLiteral("alice"))};
    for (int i = 0; i < keys.size(); ++i)
        for (int j = i + 1; j < keys.size(); ++j)
            QVERIFY2(keys[i] != keys[j], qPrintable(keys[i]));
    // The default port is made explicit, so both spellings share one entry.
    const SessionConfig explicitPort(QUrl(QStringLiteral("https://A.example:443/")),
                                     QStringLiteral("app"));
    QCOMPARE(explicitPort.storageKey(QStringLiteral("alice")),
             a.storageKey(QStringLiteral("alice")));

    // OAuth: the whole issuer (two issuers may share an origin), the client id and the
    // profile name the namespace; a "|" in a client id cannot forge another namespace.
    auto oauth = [](const char *issuer, const char *clientId) {
        SessionConfig config(QUrl(QStringLiteral("https://a.example/")), QStringLiteral("app"));
        config.setIssuer(QUrl(QString::fromLatin1(issuer)));
        config.setClientId(QString::fromLatin1(clientId));
        return config.storageKey(QStringLiteral("alice"));
    };
    const QStringList oauthKeys = {a.storageKey(QStringLiteral("alice")),
                                   oauth("https://a.example/", "native"),
                                   oauth("https://a.example/realms/acme", "native"),
                                   oauth("https://a.example/realms/other", "native"),
                                   oauth("https://a.example/", "other"),
                                   oauth("https://a.example/", "native|alice"),
                                   oauth("https://b.example/", "native")};
    for (int i = 0; i < oauthKeys.size(); ++i)
        for (int j = i + 1; j < oauthKeys.size(); ++j)
            QVERIFY2(oauthKeys[i] != oauthKeys[j], qPrintable(oauthKeys[i]));
}

void tst_SdkUnits::origin_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QString>("origin");
    QTest::addRow("https, default port") << "https://Example.COM/api/?q=1#f"
                                         << "https://example.com:443";
    QTest::addRow("http, default port") << "HTTP://LocalHost/"
                                        << "http://localhost:80";
    QTest::addRow("explicit port") << "http://127.0.0.1:8000/x"
                                   << "http://127.0.0.1:8000";
    QTest::addRow("default port spelled out") << "https://a.example:443/"
                                              << "https://a.example:443";
    QTest::addRow("IPv6 in brackets") << "https://[::1]:8443/"
                                      << "https://[::1]:8443";
    QTest::addRow("user info is not part of it") << "https://user@a.example/"
                                                 << "https://a.example:443";
    QTest::addRow("no host") << "file:///tmp/x"
                             << "";
    QTest::addRow("empty") << ""
                           << "";
}

// One definition of an origin: the storage namespace (SessionConfig::origin) and the
// authenticated manager's decision (which compares originOf of request and server) share it.
void tst_SdkUnits::origin()
{
    QFETCH(QString, url);
    QFETCH(QString, origin);
    QCOMPARE(originOf(QUrl(url)), origin);
    QCOMPARE(SessionConfig(QUrl(url), QStringLiteral("app")).origin(), origin);
}

void tst_SdkUnits::endpoints()
{
    SessionConfig config(QUrl(QStringLiteral("https://a.example/base/?q=1#f")),
                         QStringLiteral("app"));
    QCOMPARE(config.endpoint(QStringLiteral("/api/token/")),
             QUrl(QStringLiteral("https://a.example/base/api/token/")));
    config.setRefreshPath(QStringLiteral("auth/jwt/refresh"));
    QCOMPARE(config.endpoint(config.refreshPath()),
             QUrl(QStringLiteral("https://a.example/base/auth/jwt/refresh")));
}

void tst_SdkUnits::secretRedactsAndWipes()
{
    Secret secret(QByteArrayView("super-secret-token"));
    QString printed;
    QDebug(&printed) << secret;
    QVERIFY(!printed.contains(QStringLiteral("super-secret-token")));
    QVERIFY(printed.contains(QStringLiteral("redacted")));
    QVERIFY(secret.equals("super-secret-token"));
    QVERIFY(!secret.equals("super-secret-tokeN"));
    const char *bytes = secret.reveal().data();
    const qsizetype size = secret.size();
    QByteArray copy(bytes, size);
    QCOMPARE(copy, QByteArray("super-secret-token"));
    Secret clone = secret.clone();
    secret.clear();
    QVERIFY(secret.isEmpty());
    QVERIFY(clone.equals("super-secret-token"));
}

void tst_SdkUnits::secretMoveLeavesSourceEmpty()
{
    Secret a(QByteArrayView("value"));
    Secret b = std::move(a);
    QVERIFY(a.isEmpty()); // NOLINT(bugprone-use-after-move): that is the point
    QVERIFY(b.equals("value"));
    Secret c;
    c = std::move(b);
    QVERIFY(c.equals("value"));
}

void tst_SdkUnits::errorTransience_data()
{
    QTest::addColumn<Error::Code>("code");
    QTest::addColumn<bool>("transient");
    QTest::addRow("network") << Error::Code::NetworkError << true;
    QTest::addRow("timeout") << Error::Code::Timeout << true;
    QTest::addRow("server") << Error::Code::ServerError << true;
    QTest::addRow("rate limited") << Error::Code::RateLimited << true;
    QTest::addRow("storage locked") << Error::Code::StorageLocked << true;
    QTest::addRow("rejected") << Error::Code::SessionRejected << false;
    QTest::addRow("storage unavailable") << Error::Code::StorageUnavailable << false;
    QTest::addRow("pin mismatch") << Error::Code::PinMismatch << false;
    QTest::addRow("tls") << Error::Code::TlsError << false;
    QTest::addRow("credentials") << Error::Code::InvalidCredentials << false;
}

void tst_SdkUnits::errorTransience()
{
    QFETCH(Error::Code, code);
    QFETCH(bool, transient);
    QCOMPARE(Error(code, QStringLiteral("x")).isTransient(), transient);
}

void tst_SdkUnits::accessClaims_data()
{
    QTest::addColumn<QByteArray>("token");
    QTest::addColumn<bool>("valid");
    const QJsonObject es{{QStringLiteral("alg"), QStringLiteral("ES256")}};
    QTest::addRow("ok") << fakeJwt(
            es, {{QStringLiteral("exp"), Now + 300}, {QStringLiteral("iat"), Now}})
                        << true;
    QTest::addRow("ok without iat") << fakeJwt(es, {{QStringLiteral("exp"), Now + 300}}) << true;
    QTest::addRow("alg none") << fakeJwt({{QStringLiteral("alg"), QStringLiteral("none")}},
                                         {{QStringLiteral("exp"), Now + 300}})
                              << false;
    QTest::addRow("alg NONE") << fakeJwt({{QStringLiteral("alg"), QStringLiteral("NONE")}},
                                         {{QStringLiteral("exp"), Now + 300}})
                              << false;
    QTest::addRow("no exp") << fakeJwt(es, {{QStringLiteral("sub"), QStringLiteral("x")}}) << false;
    QTest::addRow("string exp") << fakeJwt(es, {{QStringLiteral("exp"), QStringLiteral("soon")}})
                                << false;
    QTest::addRow("absurd exp") << fakeJwt(es, {{QStringLiteral("exp"), 1e15}}) << false;
    QTest::addRow("exp a year ahead")
            << fakeJwt(es, {{QStringLiteral("exp"), Now + 366 * 86400}}) << false;
    QTest::addRow("iat after exp")
            << fakeJwt(es, {{QStringLiteral("exp"), Now}, {QStringLiteral("iat"), Now + 10}})
            << false;
    QTest::addRow("negative exp") << fakeJwt(es, {{QStringLiteral("exp"), -5}}) << false;
    QTest::addRow("two segments") << QByteArray("abc.def") << false;
    QTest::addRow("no signature") << segment(es) + '.' + segment({{QStringLiteral("exp"), Now}})
                    + '.' << false;
    QTest::addRow("header injection") << QByteArray("a.b.c\r\nX-Evil: 1") << false;
    QTest::addRow("space") << QByteArray("a.b c.d") << false;
    QTest::addRow("huge") << QByteArray(MaxAccessTokenBytes + 1, 'a') << false;
    QTest::addRow("not base64") << QByteArray("!!.??.**") << false;
}

void tst_SdkUnits::accessClaims()
{
    QFETCH(QByteArray, token);
    QFETCH(bool, valid);
    QString problem;
    const auto claims = readAccessClaims(token, Now, &problem);
    QCOMPARE(bool(claims), valid);
    QCOMPARE(problem.isEmpty(), valid);
    // A problem description never quotes the token.
    QVERIFY(!problem.contains(QString::fromLatin1(token.left(20))) || token.size() < 4);
}

void tst_SdkUnits::tokenResponse_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<bool>("refreshRequired");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<bool>("hasRefresh");
    const QByteArray access = fakeJwt({{QStringLiteral("alg"), QStringLiteral("HS256")}},
                                      {{QStringLiteral("exp"), Now + 300}});
    auto body = [](const QJsonObject &object) { return QJsonDocument(object).toJson(); };
    QTest::addRow("pair") << body({{QStringLiteral("access"), QString::fromLatin1(access)},
                                   {QStringLiteral("refresh"), QStringLiteral("r1")}})
                          << true << true << true;
    QTest::addRow("access only, allowed")
            << body({{QStringLiteral("access"), QString::fromLatin1(access)}}) << false << true
            << false;
    QTest::addRow("access only, refresh required")
            << body({{QStringLiteral("access"), QString::fromLatin1(access)}}) << true << false
            << false;
    QTest::addRow("truncated")
            << body({{QStringLiteral("access"), QString::fromLatin1(access)}}).left(20) << false
            << false << false;
    QTest::addRow("array") << QByteArray("[1,2]") << false << false << false;
    QTest::addRow("html") << QByteArray("<html>502 Bad Gateway</html>") << false << false << false;
    QTest::addRow("empty") << QByteArray() << false << false << false;
    QTest::addRow("access not string")
            << body({{QStringLiteral("access"), 42}}) << false << false << false;
    QTest::addRow("refresh not string")
            << body({{QStringLiteral("access"), QString::fromLatin1(access)},
                     {QStringLiteral("refresh"), 7}})
            << false << false << false;
    QTest::addRow("refresh with newline")
            << body({{QStringLiteral("access"), QString::fromLatin1(access)},
                     {QStringLiteral("refresh"), QStringLiteral("a\nb")}})
            << false << false << false;
    QTest::addRow("refresh too long")
            << body({{QStringLiteral("access"), QString::fromLatin1(access)},
                     {QStringLiteral("refresh"), QString(MaxRefreshTokenBytes + 1, u'r')}})
            << false << false << false;
    QTest::addRow("huge body") << QByteArray(MaxTokenResponseBytes + 1, ' ') << false << false
                               << false;
    QTest::addRow("deeply nested")
            << QByteArray(5000, '[') + QByteArray(5000, ']') << false << false << false;
}

void tst_SdkUnits::tokenResponse()
{
    QFETCH(QByteArray, body);
    QFETCH(bool, refreshRequired);
    QFETCH(bool, valid);
    QFETCH(bool, hasRefresh);
    QString problem;
    const auto response = parseTokenResponse(body, refreshRequired, Now, &problem);
    QCOMPARE(bool(response), valid);
    if (response) {
        QCOMPARE(!response->refresh.isEmpty(), hasRefresh);
        QCOMPARE(response->claims.expiresAt, Now + 300);
    } else {
        QVERIFY(!problem.isEmpty());
    }
}

void tst_SdkUnits::serverProblem()
{
    const ServerProblem problem =
            parseServerProblem(R"({"detail":"Token is blacklisted","code":"token_not_valid"})");
    QCOMPARE(problem.code, QStringLiteral("token_not_valid"));
    QCOMPARE(parseServerProblem("not json").code, QString());
}

void tst_SdkUnits::accessTimingFloor_data()
{
    // exp is Now + expSeconds (server clock = local clock: no Date, no iat); the token
    // arrives arrivalOffsetMs after Now. Refresh is due at arrival + dueAfterMs.
    QTest::addColumn<int>("expSeconds");
    QTest::addColumn<int>("arrivalOffsetMs");
    QTest::addColumn<int>("dueAfterMs"); // -1: refused
    QTest::addColumn<QString>("problem");
    QTest::addRow("5 min token: the configured lead (60 s)") << 300 << 0 << 240000 << "";
    QTest::addRow("2 s token, arrived at once: half of it") << 2 << 0 << 1000 << "";
    QTest::addRow("2 s token issued late in its second (1.1 s left)") << 2 << 900 << 550 << "";
    QTest::addRow("1 s token, 0.6 s left") << 1 << 400 << 300 << "";
    QTest::addRow("exactly the minimum left") << 1 << 500 << 250 << "";
    QTest::addRow("0.45 s left") << 1 << 550 << -1
                                 << "access token has 450 ms left on arrival, below the minimum "
                                    "of 500 ms";
    QTest::addRow("expired at arrival") << 1 << 1000 << -1 << "access token is expired on arrival";
    QTest::addRow("expired an hour ago")
            << -3600 << 0 << -1 << "access token is expired on arrival";
}

// The floor keeps refreshes at least MinUsableLifetimeMs / 2 apart (no refresh loop) and lets
// 2-second tokens through; below it the error says how much was left and what the minimum is.
void tst_SdkUnits::accessTimingFloor()
{
    QFETCH(int, expSeconds);
    QFETCH(int, arrivalOffsetMs);
    QFETCH(int, dueAfterMs);
    QFETCH(QString, problem);
    TokenResponse response;
    response.claims.expiresAt = Now + expSeconds;
    response.arrivalMs = Now * 1000 + arrivalOffsetMs;
    QString why;
    const std::optional<AccessTiming> timing =
            accessTiming(response, std::chrono::seconds(60), &why);
    if (dueAfterMs < 0) {
        QVERIFY(!timing);
        QCOMPARE(why, problem);
        return;
    }
    QVERIFY2(timing, qPrintable(why));
    QCOMPARE(timing->skewMs, 0);
    QCOMPARE(timing->expiryMs, (Now + expSeconds) * 1000);
    QCOMPARE(timing->refreshDueMs - response.arrivalMs, qint64(dueAfterMs));
    QVERIFY(timing->refreshDueMs - response.arrivalMs >= MinUsableLifetimeMs / 2);
}

void tst_SdkUnits::idleTimeout()
{
    LoopbackServer silent([](QTcpSocket *) {}); // reads the request, never answers
    QVERIFY(silent.isListening());
    QTest::ignoreMessage(QtInfoMsg, QRegularExpression(QStringLiteral("timed out \\(idle\\)")));
    const auto [error, elapsedMs] = loginAgainst(silent, std::chrono::milliseconds(400));
    QVERIFY(error);
    QCOMPARE(error->code(), Error::Code::Timeout);
    QVERIFY2(elapsedMs >= 350, qPrintable(QString::number(elapsedMs)));
}

void tst_SdkUnits::deadlineOutlastsTrickle()
{
    // Headers at once, then one body byte every 100 ms: never idle for 400 ms,
    // so only the total deadline (800 ms) ends it.
    LoopbackServer trickle([](QTcpSocket *socket) {
        // 503: the login handler checks transport errors for statuses other than 200.
        socket->write("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                      "Content-Length: 1000\r\n\r\n");
        auto *drip = new QTimer(socket);
        QObject::connect(drip, &QTimer::timeout, socket, [socket] { socket->write(" "); });
        drip->start(100);
    });
    QVERIFY(trickle.isListening());
    QTest::ignoreMessage(QtInfoMsg, QRegularExpression(QStringLiteral("timed out \\(deadline\\)")));
    const auto [error, elapsedMs] = loginAgainst(trickle, std::chrono::milliseconds(400));
    QVERIFY(error);
    QCOMPARE(error->code(), Error::Code::Timeout);
    QVERIFY2(elapsedMs >= 750, qPrintable(QString::number(elapsedMs)));
}

void tst_SdkUnits::responseSizeLimit()
{
    const QByteArray body(MaxTokenResponseBytes + 1024, ' ');
    LoopbackServer oversized([&body](QTcpSocket *socket) {
        // 503 for the reason given in deadlineOutlastsTrickle().
        socket->write("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                      "Content-Length: "
                      + QByteArray::number(body.size()) + "\r\n\r\n");
        socket->write(body);
    });
    QVERIFY(oversized.isListening());
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("exceeds \\d+ bytes")));
    const auto [error, elapsedMs] = loginAgainst(oversized, std::chrono::milliseconds(5000));
    Q_UNUSED(elapsedMs);
    QVERIFY(error);
    QCOMPARE(error->code(), Error::Code::ServerError);
    QVERIFY2(error->message().contains(QStringLiteral("too large")), qPrintable(error->message()));
}

void tst_SdkUnits::bearerOnlyForSessionOrigin_data()
{
    // The session's server is http://localhost:PORT/, not signed in: a request it
    // would authenticate fails at once with AuthenticationRequiredError and never
    // reaches the network; any other origin goes out as it is.
    // Resource origins (SessionConfig::setResourceOrigins) carry it too, and nothing else.
    QTest::addColumn<QString>("url"); // %1: the port of the loopback server
    QTest::addColumn<QString>("resource");
    QTest::addColumn<bool>("authenticated");
    QTest::addRow("same origin") << "http://localhost:%1/api/me/" << QString() << true;
    QTest::addRow("scheme and host in capitals")
            << "HTTP://LocalHost:%1/api/me/" << QString() << true;
    QTest::addRow("same address, other host name")
            << "http://127.0.0.1:%1/api/me/" << QString() << false;
    QTest::addRow("https, same host and port")
            << "https://localhost:%1/api/me/" << QString() << false;
    QTest::addRow("resource origin") << "http://127.0.0.1:%1/api/me/"
                                     << "http://127.0.0.1:%1/any/path" << true;
    QTest::addRow("resource origin, other port") << "http://127.0.0.1:%1/api/me/"
                                                 << "http://127.0.0.1:1" << false;
}

void tst_SdkUnits::bearerOnlyForSessionOrigin()
{
    QFETCH(QString, url);
    QFETCH(QString, resource);
    QFETCH(bool, authenticated);
    LoopbackServer server([](QTcpSocket *socket) {
        socket->write("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
    });
    QVERIFY(server.isListening());
    SessionConfig config = loopbackConfig(QStringLiteral("localhost"), server.port(),
                                          std::chrono::milliseconds(5000));
    if (!resource.isEmpty())
        config.setResourceOrigins(
                {resource.contains(u'%') ? resource.arg(server.port()) : resource});
    Session session(config);
    AuthenticatedNetworkAccessManager manager(&session);
    std::unique_ptr<QNetworkReply> reply(
            manager.get(QNetworkRequest(QUrl(url.arg(server.port())))));
    // Connected only now, after get() returned, as callers do: nothing may be missed.
    bool finished = false;
    connect(reply.get(), &QNetworkReply::finished, this, [&finished] { finished = true; });
    QVERIFY(!reply->isFinished());
    QTRY_VERIFY_WITH_TIMEOUT(finished, 10000);
    QCOMPARE(reply->error() == QNetworkReply::AuthenticationRequiredError, authenticated);
    if (authenticated)
        QCOMPARE(server.connections, 0);
    else if (reply->url().scheme() == u"http")
        QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 204);
}

QTEST_GUILESS_MAIN(tst_SdkUnits)
#include "tst_sdk_units.moc"

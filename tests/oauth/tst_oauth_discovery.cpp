// SPDX-License-Identifier: MIT
// Configuration from discovery (issue 11): OAuth::Discovery against the real oidc-provider
// (tests/interop/oidc, OpenID Certified) on loopback, with and without an issuer path, and
// against a small in-process server for what no real provider sends: only the RFC 8414
// document, plain-http endpoints, missing members, duplicate names, oversized bodies, no S256,
// redirects, a document that changes under a running session.
#include "oauth/discovery_p.h"

#include "cannedhttpserver.h"
#include "httpclient.h"
#include "oidcproviderprocess.h"

#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtTest/QTest>

#include <functional>
#include <memory>

using namespace Tessera;
using namespace Tessera::OAuth;
using Tessera::Test::OidcProviderProcess;

namespace {

constexpr int FutureTimeoutMs = 20000;

// Answers each path from a table, 404 for the rest.
class DocumentServer : public Tessera::Test::CannedHttpServer
{
public:
    DocumentServer() { answer = {404, "text/plain", "not found\n", {}}; }
};

// A complete, valid OpenID configuration for `issuer`, endpoints under `base`.
QJsonObject validDocument(const QString &issuer, const QString &base)
{
    return {
            {QStringLiteral("issuer"), issuer},
            {QStringLiteral("authorization_endpoint"), base + QStringLiteral("/auth")},
            {QStringLiteral("token_endpoint"), base + QStringLiteral("/token")},
            {QStringLiteral("jwks_uri"), base + QStringLiteral("/jwks")},
            {QStringLiteral("revocation_endpoint"), base + QStringLiteral("/revoke")},
            {QStringLiteral("response_types_supported"), QJsonArray{QStringLiteral("code")}},
            {QStringLiteral("subject_types_supported"), QJsonArray{QStringLiteral("public")}},
            {QStringLiteral("id_token_signing_alg_values_supported"),
             QJsonArray{QStringLiteral("RS256")}},
            {QStringLiteral("code_challenge_methods_supported"),
             QJsonArray{QStringLiteral("S256")}},
    };
}

QByteArray json(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

SessionConfig transportConfig(std::chrono::milliseconds timeout = std::chrono::seconds(10))
{
    SessionConfig config;
    config.setRequestTimeout(timeout);
    return config;
}

// Waits for `future` and returns its error (NoError on success).
template<typename T> Error waitFor(const QFuture<T> &future)
{
    if (!QTest::qWaitFor([&] { return future.isFinished(); }, FutureTimeoutMs))
        return {Error::Code::Cancelled, QStringLiteral("the test gave up waiting")};
    return errorOf(future);
}

// The provider's own discovery document, read without the SDK.
QJsonObject providerDocument(const QUrl &wellKnown)
{
    Tessera::Test::HttpClient client(QUrl(wellKnown.toString(QUrl::RemovePath)));
    return client.get(wellKnown.path()).json();
}

} // namespace

class tst_OAuthDiscovery : public QObject
{
    Q_OBJECT
private slots:
    void wellKnownUrls_data();
    void wellKnownUrls();

    // The real oidc-provider.
    void realProvider_data();
    void realProvider();
    void realProviderIssuerMismatch_data();
    void realProviderIssuerMismatch();
    void realProviderCachedOncePerObject();
    void realProviderDown();

    // The in-process server.
    void authorizationServerMetadataFallback();
    void hostileDocument_data();
    void hostileDocument();
    void changedDocumentIsAnError();
    void droppedIssParameterIsAnError();
    void silentServerTimesOut();
    void destroyedWhileFetching();
    void insecureIssuerRefusedBeforeAnyRequest();
};

void tst_OAuthDiscovery::wellKnownUrls_data()
{
    QTest::addColumn<QString>("issuer");
    QTest::addColumn<QString>("openId");
    QTest::addColumn<QString>("authorizationServer");
    QTest::addRow("no path") << "https://id.example.com"
                             << "https://id.example.com/.well-known/openid-configuration"
                             << "https://id.example.com/.well-known/oauth-authorization-server";
    QTest::addRow("root slash") << "https://id.example.com/"
                                << "https://id.example.com/.well-known/openid-configuration"
                                << "https://id.example.com/.well-known/oauth-authorization-server";
    QTest::addRow("path") << "https://id.example.com/realms/acme"
                          << "https://id.example.com/realms/acme/.well-known/openid-configuration"
                          << "https://id.example.com/.well-known/oauth-authorization-server/"
                             "realms/acme";
    QTest::addRow("path, trailing slash")
            << "https://id.example.com:8443/tenant/"
            << "https://id.example.com:8443/tenant/.well-known/openid-configuration"
            << "https://id.example.com:8443/.well-known/oauth-authorization-server/tenant";
}

void tst_OAuthDiscovery::wellKnownUrls()
{
    QFETCH(QString, issuer);
    QFETCH(QString, openId);
    QFETCH(QString, authorizationServer);
    QCOMPARE(openIdConfigurationUrl(issuer).toString(), openId);
    QCOMPARE(authorizationServerMetadataUrl(issuer).toString(), authorizationServer);
}

void tst_OAuthDiscovery::realProvider_data()
{
    QTest::addColumn<QString>("issuerPath");
    QTest::addRow("issuer without path") << QString();
    QTest::addRow("issuer with path") << QStringLiteral("/realms/acme");
}

void tst_OAuthDiscovery::realProvider()
{
    QFETCH(QString, issuerPath);
    OidcProviderProcess provider;
    provider.setIssuerPath(issuerPath);
    QVERIFY2(provider.start(), qPrintable(provider.errorString()));
    const QString issuer = provider.issuer().toString();

    Discovery discovery(issuer, transportConfig());
    const QFuture<ProviderMetadata> future = discovery.metadata();
    const Error error = waitFor(future);
    QVERIFY2(!error.isError(), qPrintable(error.message()));
    const ProviderMetadata metadata = future.result();

    // What the SDK read is what the provider publishes.
    const QJsonObject document = providerDocument(openIdConfigurationUrl(issuer));
    QVERIFY(!document.isEmpty());
    QCOMPARE(metadata.issuer, issuer);
    QCOMPARE(document.value(QStringLiteral("issuer")).toString(), issuer);
    const auto endpoint = [&](const char *name) {
        return QUrl(document.value(QLatin1String(name)).toString());
    };
    QCOMPARE(metadata.authorizationEndpoint, endpoint("authorization_endpoint"));
    QCOMPARE(metadata.tokenEndpoint, endpoint("token_endpoint"));
    QCOMPARE(metadata.deviceAuthorizationEndpoint, endpoint("device_authorization_endpoint"));
    QCOMPARE(metadata.revocationEndpoint, endpoint("revocation_endpoint"));
    QCOMPARE(metadata.introspectionEndpoint, endpoint("introspection_endpoint"));
    QCOMPARE(metadata.userinfoEndpoint, endpoint("userinfo_endpoint"));
    QCOMPARE(metadata.endSessionEndpoint, endpoint("end_session_endpoint"));
    QCOMPARE(metadata.jwksUri, endpoint("jwks_uri"));
    // And the provider's endpoints live under its issuer, path included.
    QCOMPARE(metadata.tokenEndpoint.toString(), issuer + QStringLiteral("/token"));
    QCOMPARE(metadata.authorizationEndpoint.toString(), issuer + QStringLiteral("/auth"));
    QVERIFY(metadata.codeChallengeMethodsSupported.contains(QStringLiteral("S256")));
    QVERIFY(metadata.authorizationResponseIssParameterSupported);
    QVERIFY(metadata.grantTypesSupported.contains(
            QStringLiteral("urn:ietf:params:oauth:grant-type:device_code")));
    QVERIFY(metadata.idTokenSigningAlgValuesSupported.contains(QStringLiteral("RS256")));
    QVERIFY(discovery.cached().has_value());
}

void tst_OAuthDiscovery::realProviderIssuerMismatch_data()
{
    QTest::addColumn<QString>("issuerPath");
    QTest::addColumn<QString>("configuredSuffix"); // appended to the provider's origin
    QTest::addColumn<QString>("expectedInMessage");
    QTest::addRow("trailing slash")
            << QStringLiteral("/realms/acme") << QStringLiteral("/realms/acme/")
            << QStringLiteral("not the configured issuer");
    QTest::addRow("root, trailing slash")
            << QString() << QStringLiteral("/") << QStringLiteral("not the configured issuer");
    // The same server: no document is found under another path.
    QTest::addRow("other path") << QStringLiteral("/realms/acme") << QStringLiteral("/realms/other")
                                << QStringLiteral("HTTP 404");
    QTest::addRow("no path") << QStringLiteral("/realms/acme") << QString()
                             << QStringLiteral("HTTP 404");
}

void tst_OAuthDiscovery::realProviderIssuerMismatch()
{
    QFETCH(QString, issuerPath);
    QFETCH(QString, configuredSuffix);
    QFETCH(QString, expectedInMessage);
    OidcProviderProcess provider;
    provider.setIssuerPath(issuerPath);
    QVERIFY2(provider.start(), qPrintable(provider.errorString()));
    const QString configured = provider.baseUrl().toString() + configuredSuffix;
    QVERIFY(configured != provider.issuer().toString());

    Discovery discovery(configured, transportConfig());
    const Error error = waitFor(discovery.metadata());
    QCOMPARE(error.code(), Error::Code::InvalidConfiguration);
    QVERIFY(!error.isTransient());
    QVERIFY2(error.message().contains(expectedInMessage), qPrintable(error.message()));
    QVERIFY(!discovery.cached());
}

void tst_OAuthDiscovery::realProviderCachedOncePerObject()
{
    OidcProviderProcess provider;
    QVERIFY2(provider.start(), qPrintable(provider.errorString()));
    const QString issuer = provider.issuer().toString();
    Discovery discovery(issuer, transportConfig());
    // Two callers before the answer share one fetch.
    const QFuture<ProviderMetadata> first = discovery.metadata();
    const QFuture<ProviderMetadata> second = discovery.metadata();
    QCOMPARE(waitFor(first), Error());
    QCOMPARE(waitFor(second), Error());
    QCOMPARE(first.result().tokenEndpoint, second.result().tokenEndpoint);

    // The provider is gone: the session keeps using what it read.
    QVERIFY(provider.stop());
    const QFuture<ProviderMetadata> cached = discovery.metadata();
    QVERIFY(cached.isFinished()); // no request: answered from the cache at once
    QCOMPARE(waitFor(cached), Error());
    QCOMPARE(cached.result().tokenEndpoint, first.result().tokenEndpoint);

    // Asking the provider again now is a transient error, and the cache stays.
    const Error error = waitFor(discovery.refetch());
    QCOMPARE(error.code(), Error::Code::NetworkError);
    QVERIFY(error.isTransient());
    QVERIFY(discovery.cached().has_value());
    QCOMPARE(discovery.cached()->tokenEndpoint, first.result().tokenEndpoint);
}

void tst_OAuthDiscovery::realProviderDown()
{
    OidcProviderProcess provider;
    provider.setIssuerPath(QStringLiteral("/realms/acme"));
    QVERIFY2(provider.start(), qPrintable(provider.errorString()));
    const QString issuer = provider.issuer().toString();
    QVERIFY(provider.stop());

    Discovery discovery(issuer, transportConfig());
    const Error error = waitFor(discovery.metadata());
    QCOMPARE(error.code(), Error::Code::NetworkError);
    QVERIFY(error.isTransient());
    QVERIFY(!discovery.cached());
}

void tst_OAuthDiscovery::authorizationServerMetadataFallback()
{
    DocumentServer server;
    const QString issuer = server.origin() + QStringLiteral("/realms/acme");
    // An OAuth server without OpenID Connect: no jwks_uri, subject types or ID token algorithms.
    QJsonObject document = validDocument(issuer, issuer);
    document.remove(QStringLiteral("jwks_uri"));
    document.remove(QStringLiteral("subject_types_supported"));
    document.remove(QStringLiteral("id_token_signing_alg_values_supported"));
    server.answerPath("/.well-known/oauth-authorization-server/realms/acme",
                      {200, "application/json", json(document), {}});

    Discovery discovery(issuer, transportConfig());
    const QFuture<ProviderMetadata> future = discovery.metadata();
    const Error error = waitFor(future);
    QVERIFY2(!error.isError(), qPrintable(error.message()));
    QCOMPARE(future.result().tokenEndpoint.toString(), issuer + QStringLiteral("/token"));
    QVERIFY(future.result().jwksUri.isEmpty());
    // RFC 8414 §2: absent grant_types_supported means these two.
    QCOMPARE(future.result().grantTypesSupported,
             QStringList({QStringLiteral("authorization_code"), QStringLiteral("implicit")}));
    QCOMPARE(server.paths,
             QList<QByteArray>({"/realms/acme/.well-known/openid-configuration",
                                "/.well-known/oauth-authorization-server/realms/acme"}));
}

void tst_OAuthDiscovery::hostileDocument_data()
{
    QTest::addColumn<QByteArray>("status");
    QTest::addColumn<QByteArray>("body"); // "%ISSUER%" and "%BASE%" are replaced
    QTest::addColumn<QByteArray>("contentType");
    QTest::addColumn<Error::Code>("code");
    QTest::addColumn<QString>("expectedInMessage");

    const auto document = [](const std::function<void(QJsonObject &)> &change) {
        QJsonObject object = validDocument(QStringLiteral("%ISSUER%"), QStringLiteral("%BASE%"));
        change(object);
        return json(object);
    };
    const QByteArray type = "application/json";
    const auto invalid = Error::Code::InvalidConfiguration;

    QTest::addRow("http endpoint on a non-loopback host") << QByteArray(
            "200") << document([](QJsonObject &o) {
        o[QStringLiteral("token_endpoint")] = QStringLiteral("http://id.example.com/token");
    }) << type << Error::Code::InsecureTransport << QStringLiteral("\"token_endpoint\"");
    QTest::addRow("http revocation endpoint on a non-loopback host") << QByteArray(
            "200") << document([](QJsonObject &o) {
        o[QStringLiteral("revocation_endpoint")] = QStringLiteral("http://10.0.0.1/revoke");
    }) << type << Error::Code::InsecureTransport << QStringLiteral("\"revocation_endpoint\"");
    QTest::addRow("relative endpoint") << QByteArray("200") << document([](QJsonObject &o) {
        o[QStringLiteral("authorization_endpoint")] = QStringLiteral("/auth");
    }) << type << invalid << QStringLiteral("\"authorization_endpoint\"");
    QTest::addRow("endpoint with a fragment") << QByteArray("200") << document([](QJsonObject &o) {
        o[QStringLiteral("authorization_endpoint")] = QStringLiteral("%BASE%/auth#x");
    }) << type << invalid << QStringLiteral("\"authorization_endpoint\"");
    QTest::addRow("missing token_endpoint") << QByteArray("200") << document([](QJsonObject &o) {
        o.remove(QStringLiteral("token_endpoint"));
    }) << type << invalid << QStringLiteral("\"token_endpoint\"");
    QTest::addRow("missing jwks_uri in an OpenID configuration")
            << QByteArray("200")
            << document([](QJsonObject &o) { o.remove(QStringLiteral("jwks_uri")); }) << type
            << invalid << QStringLiteral("\"jwks_uri\"");
    QTest::addRow("token_endpoint not a string")
            << QByteArray("200")
            << document([](QJsonObject &o) { o[QStringLiteral("token_endpoint")] = 42; }) << type
            << invalid << QStringLiteral("\"token_endpoint\"");
    QTest::addRow("response_types_supported not strings") << QByteArray(
            "200") << document([](QJsonObject &o) {
        o[QStringLiteral("response_types_supported")] = QJsonArray{QStringLiteral("code"), 1};
    }) << type << invalid << QStringLiteral("\"response_types_supported\"");
    QTest::addRow("iss parameter flag not a boolean") << QByteArray(
            "200") << document([](QJsonObject &o) {
        o[QStringLiteral("authorization_response_iss_parameter_supported")] =
                QStringLiteral("true");
    }) << type << invalid << QStringLiteral("\"authorization_response_iss_parameter_supported\"");
    QTest::addRow("no S256") << QByteArray("200") << document([](QJsonObject &o) {
        o[QStringLiteral("code_challenge_methods_supported")] = QJsonArray{QStringLiteral("plain")};
    }) << type << invalid << QStringLiteral("S256");
    QTest::addRow("issuer of another port") << QByteArray("200") << document([](QJsonObject &o) {
        o[QStringLiteral("issuer")] = QStringLiteral("http://127.0.0.1:1/realms/acme");
    }) << type << invalid << QStringLiteral("not the configured issuer");
    QTest::addRow("issuer of another path") << QByteArray("200") << document([](QJsonObject &o) {
        o[QStringLiteral("issuer")] = QStringLiteral("%BASE%/realms/other");
    }) << type << invalid << QStringLiteral("not the configured issuer");
    QTest::addRow("issuer missing") << QByteArray("200") << document([](QJsonObject &o) {
        o.remove(QStringLiteral("issuer"));
    }) << type << invalid << QStringLiteral("\"issuer\"");
    // The first "issuer" is the configured one: a parser where the first wins would accept it.
    QByteArray duplicate = document([](QJsonObject &) {});
    duplicate.chop(1);
    duplicate += ",\"issuer\":\"https://evil.example\"}";
    QTest::addRow("duplicate issuer")
            << QByteArray("200") << duplicate << type << invalid << QStringLiteral("duplicate");
    QByteArray duplicateEndpoint = document([](QJsonObject &) {});
    duplicateEndpoint.chop(1);
    duplicateEndpoint += ",\"token_endpoint\":\"https://evil.example/token\"}";
    QTest::addRow("duplicate token_endpoint") << QByteArray("200") << duplicateEndpoint << type
                                              << invalid << QStringLiteral("duplicate");
    QByteArray oversized = document([](QJsonObject &) {});
    oversized.chop(1);
    oversized += ",\"x\":\"" + QByteArray(MaxProviderMetadataBytes, 'a') + "\"}";
    QTest::addRow("oversized") << QByteArray("200") << oversized << type << Error::Code::ServerError
                               << QStringLiteral("too large");
    QTest::addRow("not JSON") << QByteArray("200") << QByteArray("{\"issuer\":") << type << invalid
                              << QStringLiteral("not a valid JSON object");
    QTest::addRow("HTML") << QByteArray("200") << QByteArray("<html>hello</html>")
                          << QByteArray("text/html") << Error::Code::ServerError
                          << QStringLiteral("not application/json");
    QTest::addRow("server error") << QByteArray("503") << QByteArray("{}") << type
                                  << Error::Code::ServerError << QStringLiteral("503");
    QTest::addRow("rate limited") << QByteArray("429") << QByteArray("{}") << type
                                  << Error::Code::RateLimited << QStringLiteral("429");
    QTest::addRow("forbidden") << QByteArray("403") << QByteArray("{}") << type << invalid
                               << QStringLiteral("403");
    QTest::addRow("redirect") << QByteArray("302") << QByteArray() << type << invalid
                              << QStringLiteral("not followed");
}

void tst_OAuthDiscovery::hostileDocument()
{
    QFETCH(QByteArray, status);
    QFETCH(QByteArray, body);
    QFETCH(QByteArray, contentType);
    QFETCH(Error::Code, code);
    QFETCH(QString, expectedInMessage);

    DocumentServer server;
    const QString issuer = server.origin() + QStringLiteral("/realms/acme");
    body.replace("%ISSUER%", issuer.toUtf8()).replace("%BASE%", server.origin().toUtf8());
    // A redirect points at a valid document elsewhere, which must not be fetched.
    const QByteArray movedTo = "/moved/openid-configuration";
    server.answerPath(movedTo,
                      {200, "application/json", json(validDocument(issuer, server.origin())), {}});
    server.answerPath("/realms/acme/.well-known/openid-configuration",
                      {status.toInt(), contentType, body,
                       "Location: " + server.origin().toUtf8() + movedTo + "\r\n"});

    Discovery discovery(issuer, transportConfig());
    const Error error = waitFor(discovery.metadata());
    QCOMPARE(error.code(), code);
    QCOMPARE(error.isTransient(), Error::isTransient(code));
    QVERIFY2(error.message().contains(expectedInMessage), qPrintable(error.message()));
    QVERIFY(!discovery.cached());
    QVERIFY(!server.paths.contains(movedTo));
    // Only a 404 leads to the RFC 8414 document.
    QCOMPARE(server.paths.size(), 1);
}

void tst_OAuthDiscovery::changedDocumentIsAnError()
{
    DocumentServer server;
    const QString issuer = server.origin();
    const QByteArray path = "/.well-known/openid-configuration";
    server.answerPath(path, {200, "application/json", json(validDocument(issuer, issuer)), {}});
    Discovery discovery(issuer, transportConfig());
    QCOMPARE(waitFor(discovery.metadata()), Error());
    const QUrl tokenEndpoint = discovery.cached()->tokenEndpoint;

    // The same endpoints with other supported scopes: the refetch is accepted.
    QJsonObject sameEndpoints = validDocument(issuer, issuer);
    sameEndpoints[QStringLiteral("scopes_supported")] = QJsonArray{QStringLiteral("openid")};
    server.answerPath(path, {200, "application/json", json(sameEndpoints), {}});
    QCOMPARE(waitFor(discovery.refetch()), Error());
    QCOMPARE(discovery.cached()->scopesSupported, QStringList{QStringLiteral("openid")});

    // Another token endpoint: refused, and the session keeps the first.
    QJsonObject moved = validDocument(issuer, issuer);
    moved[QStringLiteral("token_endpoint")] = QStringLiteral("https://elsewhere.example/token");
    server.answerPath(path, {200, "application/json", json(moved), {}});
    const Error error = waitFor(discovery.refetch());
    QCOMPARE(error.code(), Error::Code::InvalidConfiguration);
    QVERIFY2(error.message().contains(QStringLiteral("changed")), qPrintable(error.message()));
    QCOMPARE(discovery.cached()->tokenEndpoint, tokenEndpoint);
    QCOMPARE(waitFor(discovery.metadata()), Error());
    QCOMPARE(discovery.metadata().result().tokenEndpoint, tokenEndpoint);
}

void tst_OAuthDiscovery::droppedIssParameterIsAnError()
{
    DocumentServer server;
    const QString issuer = server.origin();
    const QByteArray path = "/.well-known/openid-configuration";
    QJsonObject withIss = validDocument(issuer, issuer);
    withIss[QStringLiteral("authorization_response_iss_parameter_supported")] = true;
    server.answerPath(path, {200, "application/json", json(withIss), {}});
    Discovery discovery(issuer, transportConfig());
    QCOMPARE(waitFor(discovery.metadata()), Error());
    QVERIFY(discovery.cached()->authorizationResponseIssParameterSupported);

    // Same endpoints, but the mix-up defence is gone: refused, the first metadata stays.
    server.answerPath(path, {200, "application/json", json(validDocument(issuer, issuer)), {}});
    QCOMPARE(waitFor(discovery.refetch()).code(), Error::Code::InvalidConfiguration);
    QVERIFY(discovery.cached()->authorizationResponseIssParameterSupported);
}

void tst_OAuthDiscovery::silentServerTimesOut()
{
    DocumentServer server;
    server.answerPath("/.well-known/openid-configuration", {0, {}, {}, {}});
    Discovery discovery(server.origin(), transportConfig(std::chrono::milliseconds(300)));
    const Error error = waitFor(discovery.metadata());
    QCOMPARE(error.code(), Error::Code::Timeout);
    QVERIFY(error.isTransient());
    QCOMPARE(server.paths.size(), 1);
}

void tst_OAuthDiscovery::destroyedWhileFetching()
{
    DocumentServer server;
    server.answerPath("/.well-known/openid-configuration", {0, {}, {}, {}});
    auto discovery = std::make_unique<Discovery>(server.origin(), transportConfig());
    const QFuture<ProviderMetadata> future = discovery->metadata();
    QTRY_COMPARE(server.paths.size(), 1);
    discovery.reset();
    // The caller's future ends, as Cancelled, and nothing of the fetch outlives its object.
    QVERIFY(future.isFinished());
    QCOMPARE(errorOf(future).code(), Error::Code::Cancelled);
    QTest::qWait(50);
}

void tst_OAuthDiscovery::insecureIssuerRefusedBeforeAnyRequest()
{
    Discovery plain(QStringLiteral("http://id.example.com/realms/acme"), transportConfig());
    const Error insecure = waitFor(plain.metadata());
    QCOMPARE(insecure.code(), Error::Code::InsecureTransport);
    Discovery query(QStringLiteral("https://id.example.com/?tenant=1"), transportConfig());
    QCOMPARE(waitFor(query.metadata()).code(), Error::Code::InvalidConfiguration);
}

QTEST_GUILESS_MAIN(tst_OAuthDiscovery)
#include "tst_oauth_discovery.moc"

// SPDX-License-Identifier: MIT
// The JWKS cache against the real oidc-provider (tests/interop/oidc, OpenID Certified): discover
// the provider, fetch its jwks_uri through the SDK, and check that every signing key it
// publishes imports (its development keys are RSA, for RS256/PS256, plus EC and OKP keys); and
// validate the RS256 ID token it issues at the end of a code flow whose login and consent
// forms this test submits itself (the devInteractions pages; the SDK's flow is elsewhere).
#include "oauth/discovery_p.h"
#include "oauth/idtoken_p.h"
#include "oauth/jwkscache_p.h"

#include "httpclient.h"
#include "oidcproviderprocess.h"

#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QUrlQuery>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkCookieJar>
#include <QtNetwork/QNetworkReply>
#include <QtTest/QTest>

using namespace Tessera;
using namespace Tessera::OAuth;
using Tessera::Test::OidcProviderProcess;

namespace {

template<typename T> Error waitFor(const QFuture<T> &future)
{
    if (!QTest::qWaitFor([&] { return future.isFinished(); }, 20000))
        return {Error::Code::Cancelled, QStringLiteral("the test gave up waiting")};
    return errorOf(future);
}

struct Answer
{
    int status = 0;
    QUrl location; // resolved against the request's URL
    QByteArray body;
};

// A person at the provider's development login and consent pages: a cookie jar, no redirect
// followed by Qt (each hop is seen), form posts.
class FormDriver
{
public:
    FormDriver() { m_network.setRedirectPolicy(QNetworkRequest::ManualRedirectPolicy); }

    Answer send(const QUrl &url, const QByteArray &form = {})
    {
        QNetworkRequest request(url);
        QNetworkReply *reply = nullptr;
        if (form.isNull()) {
            reply = m_network.get(request);
        } else {
            request.setHeader(QNetworkRequest::ContentTypeHeader,
                              QByteArray("application/x-www-form-urlencoded"));
            reply = m_network.post(request, form);
        }
        // No answer in time: aborted, so the caller sees status 0 and fails its check.
        if (!QTest::qWaitFor([reply] { return reply->isFinished(); }, 20000))
            reply->abort();
        Answer answer;
        answer.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        const QByteArray location = reply->rawHeader("Location");
        if (!location.isEmpty())
            answer.location = url.resolved(QUrl::fromEncoded(location));
        answer.body = reply->readAll();
        reply->deleteLater();
        return answer;
    }

    // Follows redirects from `url` until a page (200) or the loopback callback; then submits
    // the page's form with `form` and goes on. The code in the callback, or an empty string.
    QString authorize(const QUrl &url, const QList<QByteArray> &forms)
    {
        Answer answer = send(url);
        QUrl at = url;
        qsizetype nextForm = 0;
        for (int hop = 0; hop < 20; ++hop) {
            if (answer.status == 303 || answer.status == 302) {
                if (answer.location.path() == QLatin1String("/callback"))
                    return QUrlQuery(answer.location).queryItemValue(QStringLiteral("code"));
                at = answer.location;
                answer = send(at);
            } else if (answer.status == 200 && nextForm < forms.size()) {
                answer = send(at, forms.at(nextForm++));
            } else {
                qWarning() << "authorize: stopped at" << at.path() << answer.status;
                return {};
            }
        }
        return {};
    }

private:
    QNetworkAccessManager m_network;
};

} // namespace

class tst_OAuthJwksProvider : public QObject
{
    Q_OBJECT
private slots:
    void providerKeysImport();
    void providerIdToken();
};

void tst_OAuthJwksProvider::providerKeysImport()
{
    OidcProviderProcess provider;
    QVERIFY2(provider.start(), qPrintable(provider.errorString()));
    SessionConfig transport;
    transport.setRequestTimeout(std::chrono::seconds(10));
    Discovery discovery(provider.issuer().toString(), transport);
    const QFuture<ProviderMetadata> metadata = discovery.metadata();
    QCOMPARE(waitFor(metadata), Error());
    QVERIFY(metadata.result().idTokenSigningAlgValuesSupported.contains(QStringLiteral("RS256")));

    JwksCache cache(metadata.result().jwksUri, transport);
    QCOMPARE(waitFor(cache.keysFor(QString())), Error());

    // What the provider publishes, read without the SDK.
    const QUrl jwksUri = metadata.result().jwksUri;
    Tessera::Test::HttpClient client(QUrl(jwksUri.toString(QUrl::RemovePath)));
    const QJsonArray published =
            client.get(jwksUri.path()).json().value(QStringLiteral("keys")).toArray();
    QVERIFY(!published.isEmpty());
    QStringList signingKids;
    QStringList rsaKids;
    for (const QJsonValue &value : published) {
        const QJsonObject jwk = value.toObject();
        if (jwk.value(QStringLiteral("use")).toString(QStringLiteral("sig"))
            != QLatin1String("sig"))
            continue;
        signingKids.append(jwk.value(QStringLiteral("kid")).toString());
        if (jwk.value(QStringLiteral("kty")).toString() == QLatin1String("RSA"))
            rsaKids.append(jwk.value(QStringLiteral("kid")).toString());
    }
    QVERIFY(!rsaKids.isEmpty());
    QStringList imported;
    for (const JwksKey &key : cache.keys())
        imported.append(key.keyId);
    QCOMPARE(imported, signingKids);
    for (const QString &kid : std::as_const(rsaKids)) {
        const auto key = std::find_if(cache.keys().cbegin(), cache.keys().cend(),
                                      [&](const JwksKey &k) { return k.keyId == kid; });
        QVERIFY(key != cache.keys().cend());
        QVERIFY(!key->forAlgorithm(Jose::Algorithm::RS256).isNull());
    }
}

void tst_OAuthJwksProvider::providerIdToken()
{
    OidcProviderProcess provider;
    provider.setIssuerPath(QStringLiteral("/realms/acme"));
    QVERIFY2(provider.start(), qPrintable(provider.errorString()));
    const QString issuer = provider.issuer().toString();
    SessionConfig transport;
    transport.setRequestTimeout(std::chrono::seconds(10));
    Discovery discovery(issuer, transport);
    const QFuture<ProviderMetadata> future = discovery.metadata();
    QCOMPARE(waitFor(future), Error());
    const ProviderMetadata metadata = future.result();

    const QByteArray verifier = Jose::base64UrlEncode(Jose::randomBytes(32));
    const QByteArray nonce = Jose::base64UrlEncode(Jose::randomBytes(16));
    const QString redirectUri = QStringLiteral("http://127.0.0.1:9/callback");
    QUrl authorize = metadata.authorizationEndpoint;
    QUrlQuery query;
    query.addQueryItem(QStringLiteral("client_id"), provider.clientId());
    query.addQueryItem(QStringLiteral("response_type"), QStringLiteral("code"));
    query.addQueryItem(QStringLiteral("redirect_uri"), redirectUri);
    query.addQueryItem(QStringLiteral("scope"), QStringLiteral("openid profile"));
    query.addQueryItem(QStringLiteral("state"), QStringLiteral("state-1"));
    query.addQueryItem(QStringLiteral("nonce"), QString::fromLatin1(nonce));
    query.addQueryItem(QStringLiteral("code_challenge"),
                       QString::fromLatin1(Jose::base64UrlEncode(Jose::sha256(verifier))));
    query.addQueryItem(QStringLiteral("code_challenge_method"), QStringLiteral("S256"));
    authorize.setQuery(query);
    FormDriver person;
    const QString code =
            person.authorize(authorize, {"prompt=login&login=alice&password=x", "prompt=consent"});
    QVERIFY(!code.isEmpty());

    QUrlQuery exchange;
    exchange.addQueryItem(QStringLiteral("grant_type"), QStringLiteral("authorization_code"));
    exchange.addQueryItem(QStringLiteral("code"), code);
    exchange.addQueryItem(QStringLiteral("redirect_uri"), redirectUri);
    exchange.addQueryItem(QStringLiteral("client_id"), provider.clientId());
    exchange.addQueryItem(QStringLiteral("code_verifier"), QString::fromLatin1(verifier));
    const Answer tokens =
            person.send(metadata.tokenEndpoint, exchange.toString(QUrl::FullyEncoded).toLatin1());
    QCOMPARE(tokens.status, 200);
    const QByteArray idToken = QJsonDocument::fromJson(tokens.body)
                                       .object()
                                       .value(QStringLiteral("id_token"))
                                       .toString()
                                       .toLatin1();
    QVERIFY(!idToken.isEmpty());

    JwksCache cache(metadata.jwksUri, transport);
    IdTokenValidator validator(cache);
    IdTokenExpectations expected;
    expected.issuer = issuer;
    expected.clientId = provider.clientId();
    expected.signingAlgorithms = metadata.idTokenSigningAlgValuesSupported;
    expected.nonce = nonce;
    const QFuture<IdTokenClaims> valid = validator.validate(Secret(idToken), expected);
    QCOMPARE(waitFor(valid), Error());
    QCOMPARE(valid.result().subject, QStringLiteral("alice"));
    QCOMPARE(valid.result().username, QStringLiteral("alice"));
    // oidc-provider sends auth_time only when asked (max_age, require_auth_time).
    // What was verified is the provider's RS256 signature (its development keys).
    const QJsonObject header =
            QJsonDocument::fromJson(*Jose::base64UrlDecode(idToken.left(idToken.indexOf('.'))))
                    .object();
    QCOMPARE(header.value(QStringLiteral("alg")).toString(), QStringLiteral("RS256"));
    QVERIFY(cache.hasKeyId(header.value(QStringLiteral("kid")).toString()));

    // The same real token, each check failing in turn.
    const auto refused = [&](IdTokenExpectations changed, const QByteArray &token) {
        return waitFor(validator.validate(Secret(token), changed));
    };
    IdTokenExpectations otherNonce = expected;
    otherNonce.nonce = "another-nonce";
    QCOMPARE(refused(otherNonce, idToken).code(), Error::Code::InvalidResponse);
    IdTokenExpectations otherClient = expected;
    otherClient.clientId = QStringLiteral("other-client");
    QCOMPARE(refused(otherClient, idToken).code(), Error::Code::InvalidResponse);
    IdTokenExpectations otherIssuer = expected;
    otherIssuer.issuer = issuer + u'/';
    QCOMPARE(refused(otherIssuer, idToken).code(), Error::Code::InvalidResponse);
    IdTokenExpectations later = expected;
    later.nowMs = QDateTime::currentMSecsSinceEpoch() + 24 * 3600 * 1000;
    QCOMPARE(refused(later, idToken).code(), Error::Code::InvalidResponse);
    QByteArray forged = idToken;
    const qsizetype at = forged.lastIndexOf('.') + 10;
    forged[at] = forged.at(at) == 'A' ? 'B' : 'A';
    QCOMPARE(refused(expected, forged).code(), Error::Code::InvalidResponse);
}

QTEST_GUILESS_MAIN(tst_OAuthJwksProvider)
#include "tst_oauth_jwks_provider.moc"

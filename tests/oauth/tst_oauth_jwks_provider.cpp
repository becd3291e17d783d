// SPDX-License-Identifier: MIT
// The JWKS cache against the real oidc-provider (tests/interop/oidc, OpenID Certified): discover
// the provider, fetch its jwks_uri through the SDK, and check that every signing key it
// publishes imports (its development keys are RSA, for RS256/PS256, plus EC and OKP keys).
#include "oauth/discovery_p.h"
#include "oauth/jwkscache_p.h"

#include "httpclient.h"
#include "oidcproviderprocess.h"

#include <QtCore/QJsonArray>
#include <QtCore/QJsonObject>
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

} // namespace

class tst_OAuthJwksProvider : public QObject
{
    Q_OBJECT
private slots:
    void providerKeysImport();
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

QTEST_GUILESS_MAIN(tst_OAuthJwksProvider)
#include "tst_oauth_jwks_provider.moc"

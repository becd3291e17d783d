// SPDX-License-Identifier: MIT
#include "oauthdiscovery.h"

#include <QtCore/QJsonArray>
#include <QtCore/QRegularExpression>
#include <QtCore/QUrl>
#include <QtNetwork/QHostAddress>

namespace Tessera::Server {

QString issuerProblem(const QString &issuer)
{
    const QUrl url(issuer, QUrl::StrictMode);
    if (!url.isValid() || url.host().isEmpty())
        return QStringLiteral("not an absolute URL");
    if (url.scheme() != u"https" && url.scheme() != u"http")
        return QStringLiteral("the scheme is not https (or http on loopback)");
    if (url.scheme() == u"http") {
        const QHostAddress address(url.host());
        if (url.host() != u"localhost" && (address.isNull() || !address.isLoopback()))
            return QStringLiteral("http is only allowed with a loopback host");
    }
    if (!url.userInfo().isEmpty() || url.hasQuery() || url.hasFragment())
        return QStringLiteral("userinfo, query and fragment are not allowed");
    // Compared as a string by clients (RFC 9207, OIDC Core 3.1.3.7): spelled the way
    // QUrl spells it, so "HTTPS://X:443/" is not configured next to "https://x".
    if (url.toString(QUrl::FullyEncoded) != issuer
        || url.port() == (url.scheme() == u"https" ? 443 : 80))
        return QStringLiteral("not in normal form (lowercase scheme and host, no default port)");
    static const QRegularExpression path(QStringLiteral("^(/[A-Za-z0-9_~-]+)*$"));
    if (!path.match(url.path()).hasMatch())
        return QStringLiteral("the path may only have segments of A-Z a-z 0-9 - _ ~ and no "
                              "trailing slash");
    return {};
}

QString issuerPath(const QString &issuer)
{
    return QUrl(issuer).path();
}

QStringList discoveryPaths(const QString &issuer)
{
    const QString path = issuerPath(issuer);
    QStringList paths{QStringLiteral("/.well-known/oauth-authorization-server") + path,
                      QStringLiteral("/.well-known/openid-configuration") + path};
    if (!path.isEmpty())
        paths.append(path + QStringLiteral("/.well-known/openid-configuration"));
    return paths;
}

QStringList supportedScopes()
{
    return {QStringLiteral("openid"), QStringLiteral("profile"), QStringLiteral("offline_access")};
}

QJsonObject discoveryDocument(const QString &issuer, Jose::Algorithm algorithm)
{
    auto endpoint = [&issuer](const char *path) { return issuer + QLatin1String(path); };
    const QJsonArray none{QStringLiteral("none")};
    return QJsonObject{
            {QStringLiteral("issuer"), issuer},
            {QStringLiteral("authorization_endpoint"), endpoint("/authorize")},
            {QStringLiteral("token_endpoint"), endpoint("/token")},
            {QStringLiteral("device_authorization_endpoint"), endpoint("/device_authorization")},
            {QStringLiteral("revocation_endpoint"), endpoint("/revoke")},
            {QStringLiteral("userinfo_endpoint"), endpoint("/userinfo")},
            {QStringLiteral("jwks_uri"), endpoint("/.well-known/jwks.json")},
            {QStringLiteral("response_types_supported"), QJsonArray{QStringLiteral("code")}},
            {QStringLiteral("response_modes_supported"), QJsonArray{QStringLiteral("query")}},
            {QStringLiteral("grant_types_supported"),
             QJsonArray{QStringLiteral("authorization_code"), QStringLiteral("refresh_token"),
                        DeviceCodeGrantType}},
            {QStringLiteral("code_challenge_methods_supported"),
             QJsonArray{QStringLiteral("S256")}},
            {QStringLiteral("token_endpoint_auth_methods_supported"), none},
            {QStringLiteral("revocation_endpoint_auth_methods_supported"), none},
            {QStringLiteral("scopes_supported"), QJsonArray::fromStringList(supportedScopes())},
            {QStringLiteral("subject_types_supported"), QJsonArray{QStringLiteral("public")}},
            {QStringLiteral("id_token_signing_alg_values_supported"),
             QJsonArray{Jose::algorithmName(algorithm)}},
            {QStringLiteral("claims_supported"),
             QJsonArray{QStringLiteral("iss"), QStringLiteral("sub"), QStringLiteral("aud"),
                        QStringLiteral("exp"), QStringLiteral("iat"), QStringLiteral("auth_time"),
                        QStringLiteral("nonce"), QStringLiteral("sid"),
                        QStringLiteral("preferred_username")}},
            {QStringLiteral("authorization_response_iss_parameter_supported"), true},
    };
}

} // namespace Tessera::Server

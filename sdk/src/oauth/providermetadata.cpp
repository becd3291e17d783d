// SPDX-License-Identifier: MIT
#include "providermetadata_p.h"

#include <tessera/sessionconfig.h>
#include <tessera/strictjson.h>

#include <QtCore/QJsonArray>
#include <QtCore/QJsonObject>

namespace Tessera::OAuth {
namespace {

// A value of the document shown in a message: printable ASCII only, and short.
QString quoted(const QString &value)
{
    QString shown;
    for (const QChar c : value.left(200))
        shown += (c.unicode() >= 0x20 && c.unicode() < 0x7f) ? c : QChar(u'?');
    return u'"' + shown + (value.size() > 200 ? QStringLiteral("...\"") : QStringLiteral("\""));
}

class Reader
{
public:
    explicit Reader(const QJsonObject &document)
        : m_document(document)
    { }

    const Error &error() const { return m_error; }

    QString string(const char *name, bool required)
    {
        const QJsonValue value = member(name, required);
        if (value.isUndefined())
            return {};
        if (!value.isString() || value.toString().isEmpty()) {
            fail(Error::Code::InvalidConfiguration,
                 QStringLiteral("\"%1\" in the discovery document is not a non-empty string")
                         .arg(QLatin1String(name)));
            return {};
        }
        return value.toString();
    }

    QUrl url(const char *name, bool required)
    {
        const QString text = string(name, required);
        if (text.isEmpty())
            return {};
        const QUrl url(text, QUrl::StrictMode);
        if (!url.isValid() || url.isRelative() || url.host().isEmpty()) {
            fail(Error::Code::InvalidConfiguration,
                 QStringLiteral("\"%1\" in the discovery document is not an absolute URL")
                         .arg(QLatin1String(name)));
            return {};
        }
        if (!url.userInfo().isEmpty() || url.hasFragment()) {
            fail(Error::Code::InvalidConfiguration,
                 QStringLiteral("\"%1\" in the discovery document has credentials or a fragment")
                         .arg(QLatin1String(name)));
            return {};
        }
        if (!isTransportAllowed(url)) {
            fail(Error::Code::InsecureTransport,
                 QStringLiteral("\"%1\" in the discovery document is %2://%3: https is required "
                                "except for loopback hosts")
                         .arg(QLatin1String(name), url.scheme(), url.host()));
            return {};
        }
        return url;
    }

    QStringList strings(const char *name, bool required)
    {
        const QJsonValue value = member(name, required);
        if (value.isUndefined())
            return {};
        QStringList list;
        const QJsonArray array = value.toArray();
        for (const QJsonValue &item : array) {
            if (!item.isString())
                break;
            list.append(item.toString());
        }
        if (!value.isArray() || list.size() != array.size()) {
            fail(Error::Code::InvalidConfiguration,
                 QStringLiteral("\"%1\" in the discovery document is not an array of strings")
                         .arg(QLatin1String(name)));
            return {};
        }
        return list;
    }

    bool boolean(const char *name)
    {
        const QJsonValue value = m_document.value(QLatin1String(name));
        if (value.isUndefined())
            return false;
        if (!value.isBool()) {
            fail(Error::Code::InvalidConfiguration,
                 QStringLiteral("\"%1\" in the discovery document is not a boolean")
                         .arg(QLatin1String(name)));
            return false;
        }
        return value.toBool();
    }

    // The member `name`, undefined when absent: a failure when it is required.
    QJsonValue member(const char *name, bool required)
    {
        const QJsonValue value = m_document.value(QLatin1String(name));
        if (value.isUndefined() && required)
            fail(Error::Code::InvalidConfiguration,
                 QStringLiteral("the discovery document lacks the required \"%1\"")
                         .arg(QLatin1String(name)));
        return value;
    }

    // Keeps the first problem only: it names what to fix first.
    void fail(Error::Code code, const QString &message)
    {
        if (!m_error.isError())
            m_error = Error(code, message);
    }

private:
    const QJsonObject &m_document;
    Error m_error;
};

} // namespace

bool ProviderMetadata::sameEndpoints(const ProviderMetadata &other) const
{
    return issuer == other.issuer && authorizationEndpoint == other.authorizationEndpoint
            && tokenEndpoint == other.tokenEndpoint
            && deviceAuthorizationEndpoint == other.deviceAuthorizationEndpoint
            && revocationEndpoint == other.revocationEndpoint
            && introspectionEndpoint == other.introspectionEndpoint
            && userinfoEndpoint == other.userinfoEndpoint
            && endSessionEndpoint == other.endSessionEndpoint && jwksUri == other.jwksUri;
}

Error checkIssuer(const QString &issuer)
{
    const QUrl url(issuer, QUrl::StrictMode);
    if (issuer.isEmpty() || !url.isValid() || url.isRelative() || url.host().isEmpty())
        return {Error::Code::InvalidConfiguration,
                QStringLiteral("the issuer %1 is not an absolute URL").arg(quoted(issuer))};
    if (!url.userInfo().isEmpty() || url.hasQuery() || url.hasFragment())
        return {Error::Code::InvalidConfiguration,
                QStringLiteral("the issuer %1 must not have credentials, a query or a fragment")
                        .arg(quoted(issuer))};
    if (!isTransportAllowed(url))
        return {Error::Code::InsecureTransport,
                QStringLiteral("the issuer %1 is refused: https is required except for loopback "
                               "hosts")
                        .arg(quoted(issuer))};
    return {};
}

std::optional<ProviderMetadata> parseProviderMetadata(QByteArrayView document,
                                                      const QString &configuredIssuer,
                                                      MetadataDocument kind, Error *error)
{
    if (document.size() > MaxProviderMetadataBytes) {
        *error = {Error::Code::InvalidConfiguration,
                  QStringLiteral("the discovery document is larger than %1 bytes")
                          .arg(MaxProviderMetadataBytes)};
        return std::nullopt;
    }
    QString problem;
    const std::optional<QJsonObject> object = Jose::parseJsonObject(document, &problem);
    if (!object) {
        *error = {Error::Code::InvalidConfiguration,
                  QStringLiteral("the discovery document is not a valid JSON object: %1")
                          .arg(problem)};
        return std::nullopt;
    }

    Reader reader(*object);
    ProviderMetadata metadata;
    // The issuer first: a document of another issuer is refused whatever else it holds.
    metadata.issuer = reader.string("issuer", true);
    if (reader.error().isError()) {
        *error = reader.error();
        return std::nullopt;
    }
    if (metadata.issuer != configuredIssuer) {
        *error = {Error::Code::InvalidConfiguration,
                  QStringLiteral("the discovery document is for issuer %1, not the configured "
                                 "issuer %2")
                          .arg(quoted(metadata.issuer), quoted(configuredIssuer))};
        return std::nullopt;
    }

    const bool openId = kind == MetadataDocument::OpenIdConfiguration;
    metadata.authorizationEndpoint = reader.url("authorization_endpoint", true);
    metadata.tokenEndpoint = reader.url("token_endpoint", true);
    metadata.deviceAuthorizationEndpoint = reader.url("device_authorization_endpoint", false);
    metadata.revocationEndpoint = reader.url("revocation_endpoint", false);
    metadata.introspectionEndpoint = reader.url("introspection_endpoint", false);
    metadata.userinfoEndpoint = reader.url("userinfo_endpoint", false);
    metadata.endSessionEndpoint = reader.url("end_session_endpoint", false);
    metadata.jwksUri = reader.url("jwks_uri", openId);
    metadata.responseTypesSupported = reader.strings("response_types_supported", true);
    reader.strings("subject_types_supported", openId);
    metadata.idTokenSigningAlgValuesSupported =
            reader.strings("id_token_signing_alg_values_supported", openId);
    metadata.grantTypesSupported = reader.strings("grant_types_supported", false);
    if (!object->contains(QLatin1String("grant_types_supported")))
        metadata.grantTypesSupported = {QStringLiteral("authorization_code"),
                                        QStringLiteral("implicit")}; // RFC 8414 §2
    metadata.codeChallengeMethodsSupported =
            reader.strings("code_challenge_methods_supported", false);
    metadata.scopesSupported = reader.strings("scopes_supported", false);
    metadata.tokenEndpointAuthMethodsSupported =
            reader.strings("token_endpoint_auth_methods_supported", false);
    metadata.authorizationResponseIssParameterSupported =
            reader.boolean("authorization_response_iss_parameter_supported");
    metadata.dpopSigningAlgValuesSupported =
            reader.strings("dpop_signing_alg_values_supported", false);
    if (!reader.error().isError()
        && object->contains(QLatin1String("code_challenge_methods_supported"))
        && !metadata.codeChallengeMethodsSupported.contains(QLatin1String("S256")))
        reader.fail(Error::Code::InvalidConfiguration,
                    QStringLiteral("the provider does not support PKCE with S256 "
                                   "(code_challenge_methods_supported)"));
    if (reader.error().isError()) {
        *error = reader.error();
        return std::nullopt;
    }
    return metadata;
}

} // namespace Tessera::OAuth

// SPDX-License-Identifier: MIT
// Private (exported only for the tests): an authorization server's metadata, read from its
// discovery document (OpenID Connect Discovery 1.0 §3, RFC 8414 §2). The document is hostile
// input: it decides where credentials and codes are sent, so every member used is checked
// before it is kept, and a document whose "issuer" is not the configured one is refused.
// Never installed.
#pragma once

#include <tessera/error.h>
#include <tessera/tessera_sdk_export.h>

#include <QtCore/QByteArrayView>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QUrl>

#include <optional>

namespace Tessera::OAuth {

// Discovery documents of real providers are 1-10 KB.
inline constexpr qsizetype MaxProviderMetadataBytes = 64 * 1024;

// Which well-known document was read: they differ in what they require.
enum class MetadataDocument {
    OpenIdConfiguration,        // /.well-known/openid-configuration (OIDC Discovery §3)
    AuthorizationServerMetadata // /.well-known/oauth-authorization-server (RFC 8414 §2)
};

struct TESSERA_SDK_EXPORT ProviderMetadata
{
    QString issuer; // exactly as the document (and the configuration) spell it
    QUrl authorizationEndpoint;
    QUrl tokenEndpoint;
    // Optional endpoints: empty when the provider does not advertise them.
    QUrl deviceAuthorizationEndpoint; // RFC 8628 §4
    QUrl revocationEndpoint;          // RFC 7009 (RFC 8414 §2)
    QUrl introspectionEndpoint;       // RFC 7662 (RFC 8414 §2)
    QUrl userinfoEndpoint;
    QUrl endSessionEndpoint; // OpenID Connect RP-Initiated Logout
    QUrl jwksUri;            // required in an OpenID configuration
    QStringList responseTypesSupported;
    QStringList grantTypesSupported; // RFC 8414 §2 default when absent
    QStringList codeChallengeMethodsSupported;
    QStringList idTokenSigningAlgValuesSupported;
    QStringList scopesSupported;
    QStringList tokenEndpointAuthMethodsSupported;
    bool authorizationResponseIssParameterSupported = false; // RFC 9207 §3
    QStringList dpopSigningAlgValuesSupported;               // RFC 9449 §5.1

    // Whether the members that say where requests go (issuer and every endpoint) are the same.
    bool sameEndpoints(const ProviderMetadata &other) const;
};

// Reads `document` with the strict JSON parser and checks it:
//  - "issuer" equals `configuredIssuer` character for character (OIDC Discovery §4.3,
//    RFC 8414 §3.3: no normalisation; a trailing slash, another port or path is another issuer);
//  - the members `kind` requires are present: issuer, authorization_endpoint, token_endpoint,
//    response_types_supported, and for an OpenID configuration also jwks_uri,
//    subject_types_supported and id_token_signing_alg_values_supported;
//  - every member this type keeps has its JSON type (a string URL, an array of strings, a
//    boolean) when present;
//  - every URL is absolute, without credentials or fragment, and https unless its host is a
//    loopback address (the SDK's transport policy, isTransportAllowed());
//  - when code_challenge_methods_supported is present it lists S256 (RFC 7636 §4.2; the SDK
//    sends nothing else).
// On refusal: std::nullopt and *error is InvalidConfiguration (or InsecureTransport for a
// plain-http endpoint) naming the member; the message quotes no value of the document but the
// issuer's and an offending URL's host.
TESSERA_SDK_EXPORT std::optional<ProviderMetadata>
parseProviderMetadata(QByteArrayView document, const QString &configuredIssuer,
                      MetadataDocument kind, Error *error);

// Checks an issuer identifier as configured (RFC 8414 §2: https, no query, no fragment; http
// only for a loopback host, as everywhere in the SDK). NoError when usable.
TESSERA_SDK_EXPORT Error checkIssuer(const QString &issuer);

} // namespace Tessera::OAuth

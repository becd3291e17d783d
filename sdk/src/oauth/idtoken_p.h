// SPDX-License-Identifier: MIT
// Private (exported only for the tests): validation of an OpenID Connect ID token (OIDC Core
// 1.0 §3.1.3.7, with §2 and §10.1) received from the token endpoint of the code flow. Only
// the few claims a session needs leave the validator; the token itself is never logged, stored
// or quoted in an error, and the decoded payload is wiped. Never installed.
#pragma once

#include "jwkscache_p.h"

#include <tessera/error.h>
#include <tessera/secret.h>
#include <tessera/tessera_sdk_export.h>

#include <QtCore/QFuture>
#include <QtCore/QObject>
#include <QtCore/QStringList>

#include <chrono>
#include <optional>

namespace Tessera::OAuth {

// ID tokens of real providers are 1-2 KB; the JOSE layer's limit bounds the work on a hostile
// one before anything is decoded.
inline constexpr qsizetype MaxIdTokenBytes = Jose::DefaultMaxTokenSize;
// How far exp and iat may be off the (skew-corrected) local clock. The token and the Date
// header that measured the skew come in one response, so what remains is the seconds of
// transfer and the whole-second precision of the claims.
inline constexpr std::chrono::seconds IdTokenClockTolerance{30};
// OIDC Core §2: "sub" MUST NOT exceed 255 ASCII characters.
inline constexpr qsizetype MaxSubjectLength = 255;

// What the ID token must match.
struct TESSERA_SDK_EXPORT IdTokenExpectations
{
    QString issuer;   // the discovered issuer, compared character for character
    QString clientId; // must be in "aud"; "azp", when present, must equal it
    // Audiences other than clientId the app trusts (default none). OIDC Core §3.1.3.7 item 3:
    // a token with an audience the client does not trust is refused, so an ID token issued
    // for several parties is accepted only when the app says who the others are.
    QStringList trustedAudiences;
    // The provider's id_token_signing_alg_values_supported. Only the asymmetric algorithms
    // the JOSE layer verifies count (RS256, PS256, ES256, EdDSA); HS256 and "none" never do.
    // Empty: RS256 only (OIDC Discovery §3's default).
    QStringList signingAlgorithms;
    // The nonce sent in the authentication request: when non-empty, "nonce" must be present
    // and equal it (compared in constant time).
    QByteArray nonce;
    // Server clock minus local clock, as measured from the token response's Date header
    // (accessTiming()); differences under 1.5 s are noise and ignored, over MaxTrustedSkewMs
    // make the token fail.
    qint64 serverSkewMs = 0;
    std::optional<qint64> nowMs; // local clock; the current time when unset (tests set it)
};

// What a session keeps of a valid ID token, and nothing else.
struct TESSERA_SDK_EXPORT IdTokenClaims
{
    QString subject;                // "sub"
    QString username;               // "preferred_username" when a non-empty string, else "sub"
    std::optional<qint64> authTime; // "auth_time", seconds since the epoch
    QString sessionId;              // "sid" (OpenID Connect Front/Back-Channel Logout), or empty
};

// The "kid" of the token's JOSE header (empty when absent or unreadable), read without trusting
// it, to choose which keys to fetch.
TESSERA_SDK_EXPORT QString idTokenKeyId(QByteArrayView idToken);

// Checks the ID token against `keys` (a JWKS as parsed by parseJwks()) and `expected`:
// a JWS compact serialization (a JWE is refused: the client registers no encryption key);
// "alg" one of the expected signing algorithms (never "none" or HS256); the signature made
// with the JWK named by "kid" (without "kid", the only key of the set); "iss", "aud", "azp",
// "exp", "iat", "nbf", "nonce" and "sub" as OIDC Core §3.1.3.7 and §2 require.
// On failure: std::nullopt and *error is InvalidResponse (fatal, never retried) saying which
// check failed, quoting nothing of the token.
TESSERA_SDK_EXPORT std::optional<IdTokenClaims> validateIdToken(const Secret &idToken,
                                                                const QList<JwksKey> &keys,
                                                                const IdTokenExpectations &expected,
                                                                Error *error);

// validateIdToken() with the keys of a provider's JwksCache: loads them on first use and,
// for a "kid" the cache does not have, lets the cache fetch once more (key rotation).
class TESSERA_SDK_EXPORT IdTokenValidator : public QObject
{
    Q_OBJECT
public:
    explicit IdTokenValidator(JwksCache &keys, QObject *parent = nullptr);

    // The claims, or fails with InvalidResponse (the token failed a check) or with the
    // transient error of the JWKS fetch (NetworkError, Timeout, ServerError, RateLimited).
    QFuture<IdTokenClaims> validate(Secret idToken, const IdTokenExpectations &expected);

private:
    JwksCache &m_keys;
};

} // namespace Tessera::OAuth

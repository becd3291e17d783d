// SPDX-License-Identifier: MIT
// Private (exported only for the tests): reading what token endpoints answer. Hostile input is
// expected here: every field is checked before it is used, and nothing is logged.
#pragma once

#include <tessera/secret.h>
#include <tessera/tessera_sdk_export.h>

#include <QtCore/QByteArrayView>
#include <QtCore/QDateTime>
#include <QtCore/QString>

#include <optional>

namespace Tessera {

inline constexpr qsizetype MaxTokenResponseBytes = 64 * 1024;
inline constexpr qsizetype MaxAccessTokenBytes = 16 * 1024;
inline constexpr qsizetype MaxRefreshTokenBytes = 2048; // what secure storage takes everywhere

// When the access token expires. Two sources: the token's own exp (a JWT, as SimpleJWT issues),
// on the server's clock; or, for OAuth 2 tokens, which are opaque to the client, the response's
// expires_in (RFC 6749 §5.1), a lifetime counted from the response's arrival.
struct AccessClaims
{
    qint64 expiresAt = 0;           // exp, server clock, seconds since the epoch
    std::optional<qint64> issuedAt; // iat
    // expires_in: when set, expiresAt and issuedAt are not used.
    std::optional<qint64> lifetimeSeconds;
};

struct TokenResponse
{
    Secret access;
    Secret refresh; // empty when the server did not rotate (refresh without rotation)
    AccessClaims claims;
    // OAuth 2 only: the OpenID Connect ID token of a code exchange (unverified here: the
    // ID token validator checks it) and the granted scope when the server named it.
    Secret idToken;
    QString scope;
    // token_type DPoP (RFC 9449 §5): the access token is bound to the key of the request's
    // proof, and goes out as "Authorization: DPoP" with a proof of its own.
    bool dpopBound = false;
    // Filled in by the session when the response arrives (clock-skew estimate).
    qint64 arrivalMs = 0;
    std::optional<QDateTime> serverDate;
};

// The access token's exp/iat, read without verifying the signature (the client
// only schedules with them; the server verifies). Refuses tokens that are not
// three base64url segments, have alg "none", lack a numeric exp, or whose exp is
// not after iat or lies more than 30 days ahead of `serverNow`.
TESSERA_SDK_EXPORT std::optional<AccessClaims> readAccessClaims(QByteArrayView token,
                                                                qint64 serverNow, QString *problem);

// {"access": "...", "refresh": "..."}: both must be strings of printable ASCII
// (they end up in HTTP headers and storage), within the size limits above. An optional
// "token_type" (a server that binds tokens, RFC 9449 §5) must be Bearer or DPoP.
TESSERA_SDK_EXPORT std::optional<TokenResponse>
parseTokenResponse(QByteArrayView body, bool refreshRequired, qint64 serverNow, QString *problem);

// The "code" and "detail" of a JSON error body, when there is one.
struct ServerProblem
{
    QString code;
    QString detail;
};
TESSERA_SDK_EXPORT ServerProblem parseServerProblem(QByteArrayView body);

} // namespace Tessera

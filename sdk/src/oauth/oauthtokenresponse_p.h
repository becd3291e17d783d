// SPDX-License-Identifier: MIT
// Private (exported only for the tests): reading what an OAuth 2.0 token endpoint answers
// (RFC 6749 §5.1 success, §5.2 error). Hostile input: read with the strict JSON parser
// (tessera/strictjson.h), every member used checked before it is kept, nothing logged.
// Never installed.
#pragma once

#include "../tokenresponse_p.h"

#include <tessera/tessera_sdk_export.h>

#include <QtCore/QByteArrayView>
#include <QtCore/QString>

#include <optional>

namespace Tessera::OAuth {

// An ID token is a compact JWS of a few hundred bytes to a few KB.
inline constexpr qsizetype MaxIdTokenBytes = 16 * 1024;
inline constexpr qsizetype MaxScopeBytes = 4096;
// The lifetime assumed when a response has no expires_in and its access token is no readable
// JWT (RFC 6749 §5.1 leaves it to "other means"): short, so the session refreshes early rather
// than holding an expired token; a 401 still triggers a reactive refresh.
inline constexpr qint64 AssumedAccessLifetimeSeconds = 300;
// expires_in above this (30 days) is refused: no honest access token lives that long.
inline constexpr qint64 MaxExpiresInSeconds = 30 * 24 * 3600;

// A successful token response (RFC 6749 §5.1):
//  - access_token: a non-empty string of visible ASCII, at most MaxAccessTokenBytes;
//  - token_type: "Bearer" or "DPoP" (RFC 9449 §5: the token is bound to the proof's key;
//    TokenResponse::dpopBound), compared case-insensitively (RFC 6749 §7.1); any other type
//    (MAC) is refused. Whether a DPoP token may be taken is the endpoint's to decide (it knows
//    whether a proof was sent);
//  - expires_in: when present a JSON integer in 1..MaxExpiresInSeconds (claims.lifetimeSeconds).
//    When absent, the exp of an access token that reads as a JWT (readAccessClaims), else
//    AssumedAccessLifetimeSeconds. The access token is otherwise opaque to the client;
//  - refresh_token, id_token, scope: optional; when present strings of visible ASCII (scope
//    may hold spaces) within the limits above. Unknown members are ignored (§5.1).
// On refusal: std::nullopt and *problem names the member (never its value).
TESSERA_SDK_EXPORT std::optional<TokenResponse> parseOAuthTokenResponse(QByteArrayView body,
                                                                        QString *problem);

// An error response (RFC 6749 §5.2): `error` and `error_description` as the server sent them,
// each kept only when it consists of the characters §5.2 allows (%x20-21 / %x23-5B / %x5D-7E);
// the code capped at 64 characters, the description at 200 (then "..." is appended).
struct OAuthError
{
    QString error;
    QString description;
};
// nullopt when `body` is no strict JSON object with a usable string "error".
TESSERA_SDK_EXPORT std::optional<OAuthError> parseOAuthError(QByteArrayView body);

} // namespace Tessera::OAuth

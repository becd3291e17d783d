// SPDX-License-Identifier: MIT
#pragma once

#include <tessera/secret.h>
#include <tessera/tessera_sdk_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QByteArrayView>

namespace Tessera::OAuth {

// Proof Key for Code Exchange (RFC 7636), S256 only: "plain" sends the verifier itself through
// the browser, which is what PKCE exists to avoid (RFC 9700 §2.1.1).
struct TESSERA_SDK_EXPORT Pkce
{
    // The value sent as code_challenge_method with the authorization request.
    static constexpr QByteArrayView Method = "S256";

    // A fresh pair: the verifier is 43 unreserved characters, the base64url of 32 bytes from
    // the CSPRNG (RFC 7636 §4.1); the challenge is derived from it (§4.2).
    static Pkce generate();

    // BASE64URL(SHA256(ASCII(verifier))), RFC 7636 §4.2.
    static QByteArray challengeFor(QByteArrayView verifier);

    // 43..128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~" (RFC 7636 §4.1).
    static bool isValidVerifier(QByteArrayView verifier);

    // Sent to the token endpoint only, never through the browser and never logged.
    Secret verifier;
    // Sent with the authorization request: public by design.
    QByteArray challenge;
};

// The `state` of an authorization request (RFC 6749 §10.12) and the OIDC `nonce` (OIDC Core
// §3.1.2.1): each the base64url of 32 CSPRNG bytes (256 bits, 43 characters), fresh per call.
// Unguessable values the redirect (state) and the ID token (nonce) must carry back.
TESSERA_SDK_EXPORT Secret generateState();
TESSERA_SDK_EXPORT QByteArray generateNonce();

} // namespace Tessera::OAuth

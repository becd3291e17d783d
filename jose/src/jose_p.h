// SPDX-License-Identifier: MIT
// Private to Tessera::Jose and its tests; never installed.
#pragma once

#include <tessera/jose.h>

namespace Tessera::Jose::Private {

// The raw JWS signature (HMAC value, r||s or Ed25519 signature) of an exact JWS signing
// input, ASCII(BASE64URL(header) '.' BASE64URL(payload)). signCompact() always builds the
// header itself; this exists so tests can reproduce published vectors whose header bytes
// Tessera would never emit (RFC 7515 A.1 has CRLF and spaces in its header).
// Empty when the key cannot sign.
TESSERA_JOSE_EXPORT QByteArray signSigningInput(const Key &key, QByteArrayView signingInput);

} // namespace Tessera::Jose::Private

// SPDX-License-Identifier: MIT
// Private to Tessera::Jose and its tests; never installed. What the files of the Jose layer
// share: the logging category, compact JSON, the verification helpers, and the signing entry
// point the tests use for published vectors.
#pragma once

#include <tessera/jose.h>

#include <QtCore/QLoggingCategory>

#include <optional>

Q_DECLARE_LOGGING_CATEGORY(lcJose)

namespace Tessera::Jose::Private {

// The raw JWS signature (HMAC value, r||s or Ed25519 signature) of an exact JWS signing
// input, ASCII(BASE64URL(header) '.' BASE64URL(payload)). signCompact() always builds the
// header itself; this exists so tests can reproduce published vectors whose header bytes
// Tessera would never emit (RFC 7515 A.1 has CRLF and spaces in its header).
// Empty when the key cannot sign.
TESSERA_JOSE_EXPORT QByteArray signSigningInput(const Key &key, QByteArrayView signingInput);

QByteArray compactJson(const QJsonObject &object);

// A VerifyResult holding only `error` (logged at debug level, never with token content).
VerifyResult rejected(Error error);

// parseJsonObject(), logging why a header or claim set (`what`) was refused.
std::optional<QJsonObject> parseTokenJson(QByteArrayView json, const char *what);

} // namespace Tessera::Jose::Private

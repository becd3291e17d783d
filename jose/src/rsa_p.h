// SPDX-License-Identifier: MIT
// Private to Tessera::Jose: RSA public keys for RS256 and PS256 verification (rsa.cpp).
// Tessera never holds an RSA private key: these keys only verify.
#pragma once

#include <tessera/jose.h>

#include <QtCore/QByteArrayView>
#include <QtCore/QJsonObject>
#include <QtCore/QString>

#include <openssl/evp.h>

namespace Tessera::Jose::Private {

inline constexpr int MinimumRsaModulusBits = 2048; // RFC 7518 sections 3.3 and 3.5
// Twice what providers use (4096). OpenSSL's public key check runs a Miller-Rabin round on n:
// about 0.14 s at 8192 bits, 0.9 s at 16384 (OpenSSL's own limit) on the test machine, and a
// JWKS is imported while a sign-in waits.
inline constexpr int MaximumRsaModulusBits = 8192;
inline constexpr qsizetype MaximumRsaExponentSize = 32; // e < 2^256 (NIST SP 800-56B)
inline constexpr int Ps256SaltLength = 32; // RFC 7518 section 3.5: the SHA-256 output size

inline bool isRsaAlgorithm(Algorithm algorithm)
{
    return algorithm == Algorithm::RS256 || algorithm == Algorithm::PS256;
}

// A public RS256/PS256 key from a JWK with kty "RSA"; the caller has checked "kty", "alg",
// "use" and "kid". A null Key, with *problem set, when the JWK is refused.
Key rsaKeyFromJwk(const QJsonObject &jwk, Algorithm algorithm, QString *problem);
// A public RS256/PS256 key from an OpenSSL key read from a PEM (takes ownership), with the
// same checks as rsaKeyFromJwk.
Key rsaKeyFromPkey(EVP_PKEY *pkey, Algorithm algorithm, QString *problem);
// kty, n and e: the members RFC 7638 hashes. Empty when pkey is not an RSA key.
QJsonObject rsaPublicMembers(EVP_PKEY *pkey);
// RSASSA-PKCS1-v1_5 (RS256) or RSASSA-PSS with MGF1 and a 32-byte salt (PS256), SHA-256.
bool rsaVerify(EVP_PKEY *pkey, Algorithm algorithm, QByteArrayView input, QByteArrayView signature);

// Logs `why` at debug level and hands it to the caller through *problem when given.
void setProblem(QString *problem, const QString &why);

} // namespace Tessera::Jose::Private

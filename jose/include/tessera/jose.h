// SPDX-License-Identifier: MIT
// Tessera::Jose — JWS compact serialization, JWK/JWKS and JWT claim checks on
// OpenSSL EVP. Shared by tessera-server and the client SDK. Secret key material goes
// in and out as Tessera::Secret; headers and claims are parsed by parseJsonObject()
// (tessera/strictjson.h).
#pragma once

#include <tessera/secret.h>
#include <tessera/tessera_jose_export.h>

#include <QtCore/QByteArray>
#include <QtCore/QByteArrayView>
#include <QtCore/QJsonObject>
#include <QtCore/QList>
#include <QtCore/QObject>
#include <QtCore/QString>
#include <QtCore/QStringList>

#include <chrono>
#include <memory>
#include <optional>

namespace Tessera::Jose {
Q_NAMESPACE_EXPORT(TESSERA_JOSE_EXPORT)

// The algorithms Tessera verifies. ES256, EdDSA and HS256 it also signs; RS256
// (RSASSA-PKCS1-v1_5, RFC 7518 section 3.3) and PS256 (RSASSA-PSS, section 3.5) it only
// verifies, for the ID tokens of OpenID providers. Anything else ("none", ES384, RS512, ...)
// is rejected as UnsupportedAlgorithm / AlgorithmMismatch.
enum class Algorithm { ES256, EdDSA, HS256, RS256, PS256 };
Q_ENUM_NS(Algorithm)

// "ES256", "EdDSA", "HS256", "RS256", "PS256"
TESSERA_JOSE_EXPORT QString algorithmName(Algorithm algorithm);
TESSERA_JOSE_EXPORT std::optional<Algorithm> algorithmFromName(QStringView name);
// Whether Tessera can generate keys for and sign with the algorithm: false for RS256/PS256.
TESSERA_JOSE_EXPORT bool canSign(Algorithm algorithm);

// Inputs longer than this are refused before any parsing or base64 decoding.
inline constexpr qsizetype DefaultMaxTokenSize = 16 * 1024;

// Unpadded base64url (RFC 7515 section 2).
TESSERA_JOSE_EXPORT QByteArray base64UrlEncode(QByteArrayView data);
// Strict: rejects '=' padding, characters outside the base64url alphabet,
// a length of 1 mod 4, and non-zero trailing bits. std::nullopt on error.
TESSERA_JOSE_EXPORT std::optional<QByteArray> base64UrlDecode(QByteArrayView text);

class KeyPrivate;

// A signing or verification key. The algorithm belongs to the key: a token is
// verified with the algorithm of the key that was selected for it, never with
// the one its header names (the header must merely agree).
// Copies share the same immutable key material.
class TESSERA_JOSE_EXPORT Key
{
public:
    Key();
    ~Key();
    Key(const Key &other);
    Key &operator=(const Key &other);
    Key(Key &&other) noexcept;
    Key &operator=(Key &&other) noexcept;

    // Fresh random key: P-256 for ES256, Ed25519 for EdDSA, 32 random bytes for HS256.
    // A null Key for RS256 and PS256 (verification only).
    static Key generate(Algorithm algorithm);
    // Unencrypted PKCS#8 PEM ("PRIVATE KEY") for ES256 (P-256 only) and EdDSA (Ed25519
    // only). A null Key when the PEM does not hold a private key of that algorithm.
    static Key fromPrivateKeyPem(const Secret &pem, Algorithm algorithm);
    // SubjectPublicKeyInfo PEM ("PUBLIC KEY"), the same algorithms plus RS256 and PS256 (an
    // rsaEncryption key, checked as fromJwk() checks "n" and "e"). A private key PEM is
    // refused here: it comes in as a Secret, through fromPrivateKeyPem().
    static Key fromPublicKeyPem(QByteArrayView pem, Algorithm algorithm);
    // HS256 secret; at least 32 bytes (RFC 7518 section 3.2), otherwise a null Key.
    static Key fromSecret(const Secret &secret);
    // JWK (RFC 7517): kty EC + crv P-256, kty OKP + crv Ed25519 (RFC 8037), kty oct, and
    // kty RSA public keys (RFC 7518 section 6.3.1) for RS256/PS256. Private members ("d",
    // "k") are accepted for EC, OKP and oct; an RSA JWK with private members is refused
    // (Tessera never signs with RSA). Sets keyId() from "kid" when present. The key's
    // algorithm is its "alg" when present (it must suit the key type), else the one its type
    // implies: ES256, EdDSA, HS256, and RS256 for RSA (the OpenID Connect default).
    // An RSA key is refused when "n" or "e" is not a minimal Base64urlUInt (RFC 7518
    // section 2: no leading zero octet), the modulus is under 2048 bits (section 3.3) or
    // over 8192, even, or fails OpenSSL's public key check, or "e" is even, under 3 or
    // not under 2^256 (NIST SP 800-56B's bound).
    // Null Key on any error, and *problem (when given) says why without quoting the key.
    static Key fromJwk(const QJsonObject &jwk, QString *problem = nullptr);
    // The same, but the key is for `algorithm`, the one the verification policy expects
    // (e.g. PS256 for a provider whose JWKS omits "alg"): the key type must suit it, and a
    // present "alg" must equal it.
    static Key fromJwk(const QJsonObject &jwk, Algorithm algorithm, QString *problem = nullptr);

    bool isNull() const;
    Algorithm algorithm() const;
    bool hasPrivateKey() const; // also true for HS256 keys

    // Defaults to thumbprint() for asymmetric keys; empty for HS256 until set.
    // setKeyId(QString()) leaves the key without an id: signCompact() then emits no "kid".
    QString keyId() const;
    void setKeyId(const QString &keyId);

    // PKCS#8 PEM of the private key (fromPrivateKeyPem() reads it back); empty for HS256
    // and public-only keys.
    Secret privateKeyPem() const;
    // SubjectPublicKeyInfo PEM of the public key (fromPublicKeyPem() reads it back); empty
    // for HS256.
    QByteArray publicKeyPem() const;
    // HS256 only: a copy of the raw secret. Empty otherwise.
    Secret secret() const;

    // Public JWK with "kty", curve members (or "n" and "e"), "kid", "alg" and "use":"sig".
    // Empty for HS256: symmetric keys are never published.
    QJsonObject publicJwk() const;
    // RFC 7638 SHA-256 thumbprint of the public key, base64url. Empty for HS256.
    QString thumbprint() const;

private:
    std::shared_ptr<const KeyPrivate> d;
    friend class KeyPrivate;
};

// RFC 7638 thumbprint of any JWK with kty RSA, EC, OKP or oct, computed from the
// required members only. Empty when a required member is missing.
TESSERA_JOSE_EXPORT QString jwkThumbprint(const QJsonObject &jwk);

// {"keys":[publicJwk()...]} for the asymmetric keys in the list.
TESSERA_JOSE_EXPORT QJsonObject jwks(const QList<Key> &keys);

// JWS compact serialization of payload. The protected header is `header` with
// "alg" set from the key (and "kid" when the key has one); a caller-supplied
// "alg" is overwritten. Returns an empty array when the key cannot sign.
TESSERA_JOSE_EXPORT QByteArray signCompact(const Key &key, QByteArrayView payload,
                                           QJsonObject header = {});
// A JWT: the claims serialized as compact JSON, header {"typ": type, ...}.
TESSERA_JOSE_EXPORT QByteArray signJwt(const Key &key, const QJsonObject &claims,
                                       const QString &type = QStringLiteral("JWT"));
// signCompact() in two steps, so that the signature can be made on another thread: the JWS
// signing input (BASE64URL(header) '.' BASE64URL(payload), the header completed as
// signCompact() does), then the BASE64URL signature of it. signCompact() is the input, '.' and
// the signature. Both are empty when the key cannot sign.
TESSERA_JOSE_EXPORT QByteArray jwsSigningInput(const Key &key, QByteArrayView payload,
                                               QJsonObject header = {});
TESSERA_JOSE_EXPORT QByteArray jwsSignature(const Key &key, QByteArrayView signingInput);
// The signing input of signJwt().
TESSERA_JOSE_EXPORT QByteArray jwtSigningInput(const Key &key, const QJsonObject &claims,
                                               const QString &type = QStringLiteral("JWT"));
// Frees what the calling thread holds of this library and of OpenSSL: the signing and
// verification contexts kept per thread, and OpenSSL's per-thread state. For a worker thread
// that is about to end with the process: QThread::wait() returns before a finished thread has
// run its exit handlers, where these are freed otherwise, so the process may exit first.
TESSERA_JOSE_EXPORT void releaseThreadState();

enum class Error {
    None,
    TooLarge,             // input over the size limit
    Malformed,            // not three base64url segments, header/payload not one strict JSON
                          // object (parseJsonObject(): duplicate names, raw NUL, ...), ...
    UnsupportedAlgorithm, // "none" or any algorithm Tessera does not implement
    AlgorithmMismatch,    // header "alg" differs from the selected key's algorithm
    ForbiddenHeader,      // "jku", "x5u", "x5c", "jwk" (keys are never taken from the token)
    UnsupportedCritical,  // "crit" present (no extension is understood)
    UnknownKey,           // no key matches "kid", or several keys and no "kid"
    BadSignature,
    Expired,
    NotYetValid,    // nbf in the future
    IssuedInFuture, // iat in the future
    MissingClaim,   // a required claim is absent or of the wrong JSON type
    WrongIssuer,
    WrongAudience,
    WrongType, // header "typ" differs from the expected one
};
Q_ENUM_NS(Error)

TESSERA_JOSE_EXPORT QString errorString(Error error);

// On any error only `error` is set: nothing from a rejected token is handed out.
struct TESSERA_JOSE_EXPORT VerifyResult
{
    Error error = Error::Malformed;
    QJsonObject header;
    QJsonObject claims; // the payload as a JSON object (JWTs only)
    QByteArray payload; // the raw decoded payload
    bool ok() const { return error == Error::None; }
};

// Signature check only. The header is parsed with parseJsonObject() (tessera/strictjson.h):
// duplicate names, raw control characters and the like make the token Malformed. Key
// selection: the key whose keyId() equals the header's "kid"; without "kid", the only key in
// the list. The header's "alg" must name that key's algorithm.
TESSERA_JOSE_EXPORT VerifyResult verifyCompact(QByteArrayView compact, const QList<Key> &keys,
                                               qsizetype maxSize = DefaultMaxTokenSize);

struct TESSERA_JOSE_EXPORT ClaimRequirements
{
    QString issuer;   // when non-empty, "iss" must equal it
    QString audience; // when non-empty, "aud" (string or array) must contain it
    QString type; // when non-empty, header "typ" must equal it (case-insensitive, RFC 7515 4.1.9)
    std::chrono::seconds leeway{30};
    std::optional<qint64> now; // seconds since the epoch; current time when unset
    bool requireExpiry = true;
    QStringList requiredClaims; // e.g. {"sub","jti"}; must be present
};

// exp/nbf/iat must be JSON numbers when present. exp <= now - leeway -> Expired;
// nbf > now + leeway -> NotYetValid; iat > now + leeway -> IssuedInFuture.
TESSERA_JOSE_EXPORT Error checkClaims(const QJsonObject &header, const QJsonObject &claims,
                                      const ClaimRequirements &requirements);

// verifyCompact + payload must be one strict JSON object (parseJsonObject()) + checkClaims.
TESSERA_JOSE_EXPORT VerifyResult verifyJwt(QByteArrayView compact, const QList<Key> &keys,
                                           const ClaimRequirements &requirements,
                                           qsizetype maxSize = DefaultMaxTokenSize);

// Constant-time comparison for secrets and MACs.
TESSERA_JOSE_EXPORT bool constantTimeEquals(QByteArrayView a, QByteArrayView b);
// Cryptographically secure random bytes (OpenSSL RAND_bytes). Aborts on RNG failure.
TESSERA_JOSE_EXPORT QByteArray randomBytes(qsizetype count);
// SHA-256 digest.
TESSERA_JOSE_EXPORT QByteArray sha256(QByteArrayView data);

} // namespace Tessera::Jose

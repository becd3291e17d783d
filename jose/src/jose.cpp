// SPDX-License-Identifier: MIT
#include <tessera/jose.h>
#include <tessera/secret.h>

#include "jose_p.h"

#include <QtCore/QDateTime>
#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QLoggingCategory>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <variant>

Q_LOGGING_CATEGORY(lcJose, "tessera.jose", QtWarningMsg)

namespace Tessera::Jose {

namespace {

// --- OpenSSL ownership --------------------------------------------------------------------

template<typename T, void (*Free)(T *)> struct Deleter
{
    void operator()(T *p) const { Free(p); }
};
template<typename T, void (*Free)(T *)> using Owned = std::unique_ptr<T, Deleter<T, Free>>;

using PkeyPtr = Owned<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = Owned<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using MdCtxPtr = Owned<EVP_MD_CTX, EVP_MD_CTX_free>;
using BioPtr = Owned<BIO, BIO_free_all>;
using BnPtr = Owned<BIGNUM, BN_free>;
using SecureBnPtr = Owned<BIGNUM, BN_clear_free>;
using EcdsaSigPtr = Owned<ECDSA_SIG, ECDSA_SIG_free>;
using ParamBldPtr = Owned<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using ParamPtr = Owned<OSSL_PARAM, OSSL_PARAM_free>;
using Pkcs8Ptr = Owned<PKCS8_PRIV_KEY_INFO, PKCS8_PRIV_KEY_INFO_free>;

constexpr qsizetype P256CoordinateSize = 32;
constexpr qsizetype Es256SignatureSize = 64;
constexpr qsizetype Ed25519KeySize = 32;
constexpr qsizetype Ed25519SignatureSize = 64;
constexpr qsizetype HmacSha256Size = 32;
constexpr qsizetype MinimumHs256SecretSize = 32;

// Order n of the P-256 group, big-endian.
constexpr unsigned char P256Order[32] = {0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00,
                                         0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                         0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84,
                                         0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};

const unsigned char *bytes(QByteArrayView view)
{
    return reinterpret_cast<const unsigned char *>(view.data());
}

// A big-endian 32-byte scalar in [1, n-1].
bool isP256Scalar(const unsigned char *scalar)
{
    const bool zero = std::all_of(scalar, scalar + 32, [](unsigned char c) { return c == 0; });
    return !zero && std::memcmp(scalar, P256Order, 32) < 0;
}

// --- base64url ----------------------------------------------------------------------------

int base64UrlValue(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

// --- JSON helpers -------------------------------------------------------------------------

QByteArray compactJson(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

std::optional<QJsonObject> parseObject(const QByteArray &json)
{
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(json, &error);
    if (error.error != QJsonParseError::NoError || !document.isObject())
        return std::nullopt;
    return document.object();
}

// JSON string as RFC 8259 text: UTF-8, only '"', '\\' and control characters escaped.
void appendJsonString(QByteArray &out, const QString &value)
{
    out += '"';
    for (const char c : value.toUtf8()) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20) {
            static const char hex[] = "0123456789abcdef";
            out += "\\u00";
            out += hex[u >> 4];
            out += hex[u & 0xF];
        } else {
            out += c;
        }
    }
    out += '"';
}

QString latin1(const char *text)
{
    return QString::fromLatin1(text);
}

// --- EC helpers ---------------------------------------------------------------------------

bool isP256Key(EVP_PKEY *pkey)
{
    if (!EVP_PKEY_is_a(pkey, "EC"))
        return false;
    char name[64] = {};
    size_t length = 0;
    if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name,
                                        &length))
        return false;
    return std::strcmp(name, SN_X9_62_prime256v1) == 0 || std::strcmp(name, "P-256") == 0;
}

QByteArray bnParam(EVP_PKEY *pkey, const char *name)
{
    BIGNUM *raw = nullptr;
    if (!EVP_PKEY_get_bn_param(pkey, name, &raw))
        return {};
    const BnPtr bn(raw);
    QByteArray out(P256CoordinateSize, Qt::Uninitialized);
    if (BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char *>(out.data()), int(out.size()))
        != out.size())
        return {};
    return out;
}

bool checkKey(EVP_PKEY *pkey, bool hasPrivate)
{
    const PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
    if (!ctx)
        return false;
    // EVP_PKEY_check: public point on the curve, private scalar in range and pairwise match.
    return (hasPrivate ? EVP_PKEY_check(ctx.get()) : EVP_PKEY_public_check(ctx.get())) == 1;
}

} // namespace

// --- KeyPrivate ---------------------------------------------------------------------------

class KeyPrivate
{
public:
    KeyPrivate() = default;
    KeyPrivate(const KeyPrivate &) = default;
    ~KeyPrivate() { secureWipe(secret); }

    Algorithm algorithm = Algorithm::ES256;
    std::shared_ptr<EVP_PKEY> pkey; // ES256, EdDSA
    QByteArray secret;              // HS256
    bool hasPrivate = false;
    bool keyIdSet = false;
    QString keyId;
    QString thumbprint;

    static Key fromPkey(EVP_PKEY *pkey, Algorithm algorithm, bool hasPrivate)
    {
        auto p = std::make_shared<KeyPrivate>();
        p->algorithm = algorithm;
        p->pkey = std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free);
        p->hasPrivate = hasPrivate;
        p->thumbprint = jwkThumbprint(p->publicMembers());
        if (p->thumbprint.isEmpty())
            return {};
        return wrap(std::move(p));
    }

    static Key fromSecret(QByteArrayView secret)
    {
        auto p = std::make_shared<KeyPrivate>();
        p->algorithm = Algorithm::HS256;
        p->secret = secret.toByteArray();
        p->hasPrivate = true;
        return wrap(std::move(p));
    }

    static Key wrap(std::shared_ptr<KeyPrivate> p)
    {
        Key key;
        key.d = std::move(p);
        return key;
    }

    static const KeyPrivate *get(const Key &key) { return key.d.get(); }

    static void setKeyId(Key &key, const QString &keyId)
    {
        auto copy = std::make_shared<KeyPrivate>(*key.d);
        copy->keyIdSet = true;
        copy->keyId = keyId;
        key.d = std::move(copy);
    }

    // kty, crv and the public coordinates: the members RFC 7638 hashes.
    QJsonObject publicMembers() const
    {
        QJsonObject jwk;
        if (algorithm == Algorithm::ES256) {
            const QByteArray x = bnParam(pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X);
            const QByteArray y = bnParam(pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y);
            if (x.isEmpty() || y.isEmpty())
                return {};
            jwk.insert(QLatin1String("kty"), QLatin1String("EC"));
            jwk.insert(QLatin1String("crv"), QLatin1String("P-256"));
            jwk.insert(QLatin1String("x"), QString::fromLatin1(base64UrlEncode(x)));
            jwk.insert(QLatin1String("y"), QString::fromLatin1(base64UrlEncode(y)));
        } else if (algorithm == Algorithm::EdDSA) {
            QByteArray x(Ed25519KeySize, Qt::Uninitialized);
            size_t length = size_t(x.size());
            if (!EVP_PKEY_get_raw_public_key(pkey.get(),
                                             reinterpret_cast<unsigned char *>(x.data()), &length)
                || length != size_t(Ed25519KeySize))
                return {};
            jwk.insert(QLatin1String("kty"), QLatin1String("OKP"));
            jwk.insert(QLatin1String("crv"), QLatin1String("Ed25519"));
            jwk.insert(QLatin1String("x"), QString::fromLatin1(base64UrlEncode(x)));
        }
        return jwk;
    }

    QByteArray sign(QByteArrayView input) const;
    bool verify(QByteArrayView input, const QByteArray &signature) const;
};

namespace {

QByteArray hmacSha256(QByteArrayView secret, QByteArrayView data)
{
    QByteArray out(HmacSha256Size, Qt::Uninitialized);
    size_t length = 0;
    if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(),
                   size_t(secret.size()), bytes(data), size_t(data.size()),
                   reinterpret_cast<unsigned char *>(out.data()), size_t(out.size()), &length)
        || length != size_t(HmacSha256Size))
        return {};
    return out;
}

// EVP_DigestSign one-shot; md is nullptr for Ed25519.
QByteArray digestSign(EVP_PKEY *pkey, const EVP_MD *md, QByteArrayView data)
{
    const MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, pkey) != 1)
        return {};
    size_t length = 0;
    if (EVP_DigestSign(ctx.get(), nullptr, &length, bytes(data), size_t(data.size())) != 1)
        return {};
    QByteArray out(qsizetype(length), Qt::Uninitialized);
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char *>(out.data()), &length,
                       bytes(data), size_t(data.size()))
        != 1)
        return {};
    out.resize(qsizetype(length));
    return out;
}

bool digestVerify(EVP_PKEY *pkey, const EVP_MD *md, QByteArrayView data, QByteArrayView signature)
{
    const MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, pkey) != 1)
        return false;
    return EVP_DigestVerify(ctx.get(), bytes(signature), size_t(signature.size()), bytes(data),
                            size_t(data.size()))
            == 1;
}

// DER ECDSA-Sig-Value -> r||s, each zero-padded to 32 bytes (RFC 7518 section 3.4).
QByteArray derToRaw(const QByteArray &der)
{
    const unsigned char *p = bytes(der);
    const EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, long(der.size())));
    if (!sig)
        return {};
    const BIGNUM *r = nullptr;
    const BIGNUM *s = nullptr;
    ECDSA_SIG_get0(sig.get(), &r, &s);
    QByteArray out(Es256SignatureSize, Qt::Uninitialized);
    auto *o = reinterpret_cast<unsigned char *>(out.data());
    if (BN_bn2binpad(r, o, 32) != 32 || BN_bn2binpad(s, o + 32, 32) != 32)
        return {};
    return out;
}

QByteArray rawToDer(const QByteArray &raw)
{
    BnPtr r(BN_bin2bn(bytes(raw), 32, nullptr));
    BnPtr s(BN_bin2bn(bytes(raw) + 32, 32, nullptr));
    EcdsaSigPtr sig(ECDSA_SIG_new());
    if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1)
        return {};
    r.release(); // owned by sig now
    s.release();
    unsigned char *der = nullptr;
    const int length = i2d_ECDSA_SIG(sig.get(), &der);
    if (length <= 0)
        return {};
    QByteArray out(reinterpret_cast<const char *>(der), length);
    OPENSSL_free(der);
    return out;
}

} // namespace

QByteArray KeyPrivate::sign(QByteArrayView input) const
{
    if (!hasPrivate)
        return {};
    switch (algorithm) {
    case Algorithm::HS256:
        return hmacSha256(secret, input);
    case Algorithm::ES256: {
        const QByteArray der = digestSign(pkey.get(), EVP_sha256(), input);
        return der.isEmpty() ? QByteArray() : derToRaw(der);
    }
    case Algorithm::EdDSA:
        return digestSign(pkey.get(), nullptr, input);
    }
    return {};
}

bool KeyPrivate::verify(QByteArrayView input, const QByteArray &signature) const
{
    switch (algorithm) {
    case Algorithm::HS256: {
        const QByteArray expected = hmacSha256(secret, input);
        return !expected.isEmpty() && constantTimeEquals(expected, signature);
    }
    case Algorithm::ES256: {
        // Exactly r||s; a DER signature or one of another size is not an ES256 signature.
        if (signature.size() != Es256SignatureSize)
            return false;
        if (!isP256Scalar(bytes(signature)) || !isP256Scalar(bytes(signature) + 32))
            return false;
        const QByteArray der = rawToDer(signature);
        return !der.isEmpty() && digestVerify(pkey.get(), EVP_sha256(), input, der);
    }
    case Algorithm::EdDSA:
        return signature.size() == Ed25519SignatureSize
                && digestVerify(pkey.get(), nullptr, input, signature);
    }
    return false;
}

// --- algorithms, base64url ----------------------------------------------------------------

QString algorithmName(Algorithm algorithm)
{
    switch (algorithm) {
    case Algorithm::ES256:
        return QStringLiteral("ES256");
    case Algorithm::EdDSA:
        return QStringLiteral("EdDSA");
    case Algorithm::HS256:
        return QStringLiteral("HS256");
    }
    return {};
}

std::optional<Algorithm> algorithmFromName(QStringView name)
{
    // Case-sensitive (RFC 7515 section 4.1.1): "es256" and "NONE" are not algorithms here.
    for (const Algorithm algorithm : {Algorithm::ES256, Algorithm::EdDSA, Algorithm::HS256}) {
        if (name == algorithmName(algorithm))
            return algorithm;
    }
    return std::nullopt;
}

QByteArray base64UrlEncode(QByteArrayView data)
{
    return data.toByteArray().toBase64(QByteArray::Base64UrlEncoding
                                       | QByteArray::OmitTrailingEquals);
}

std::optional<QByteArray> base64UrlDecode(QByteArrayView text)
{
    const qsizetype size = text.size();
    if (size % 4 == 1)
        return std::nullopt;
    QByteArray out;
    out.reserve(size / 4 * 3 + 2);
    quint32 accumulator = 0;
    int bits = 0;
    for (qsizetype i = 0; i < size; ++i) {
        const int value = base64UrlValue(text[i]);
        if (value < 0)
            return std::nullopt;
        accumulator = (accumulator << 6) | quint32(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += char((accumulator >> bits) & 0xFF);
        }
    }
    // Leftover bits (2 or 4) must be zero, so every byte string has exactly one encoding.
    if (bits > 0 && (accumulator & ((1u << bits) - 1)) != 0)
        return std::nullopt;
    return out;
}

// --- Key ----------------------------------------------------------------------------------

Key::Key() = default;
Key::~Key() = default;
Key::Key(const Key &other) = default;
Key &Key::operator=(const Key &other) = default;
Key::Key(Key &&other) noexcept = default;
Key &Key::operator=(Key &&other) noexcept = default;

Key Key::generate(Algorithm algorithm)
{
    switch (algorithm) {
    case Algorithm::HS256: {
        QByteArray secret = randomBytes(32);
        Key key = fromSecret(secret);
        secureWipe(secret);
        return key;
    }
    case Algorithm::ES256:
    case Algorithm::EdDSA: {
        EVP_PKEY *pkey = algorithm == Algorithm::ES256
                ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
        if (!pkey) {
            qCWarning(lcJose) << "key generation failed for" << algorithm;
            return {};
        }
        return KeyPrivate::fromPkey(pkey, algorithm, true);
    }
    }
    return {};
}

Key Key::fromPem(QByteArrayView pem, Algorithm algorithm)
{
    if (algorithm == Algorithm::HS256 || pem.size() > INT_MAX)
        return {};
    const BioPtr bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
    if (!bio)
        return {};
    char *name = nullptr;
    char *header = nullptr;
    unsigned char *data = nullptr;
    long length = 0;
    // PEM_read_bio never prompts for a passphrase; encrypted keys are simply not accepted.
    if (PEM_read_bio(bio.get(), &name, &header, &data, &length) != 1)
        return {};
    const QByteArray label(name);
    const bool headersEmpty = header == nullptr || header[0] == '\0';
    QByteArray der(reinterpret_cast<const char *>(data), qsizetype(length));
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_clear_free(data, size_t(length));

    EVP_PKEY *pkey = nullptr;
    bool hasPrivate = false;
    const unsigned char *p = bytes(der);
    if (headersEmpty && label == "PRIVATE KEY") {
        const Pkcs8Ptr info(d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, long(der.size())));
        if (info && p == bytes(der) + der.size())
            pkey = EVP_PKCS82PKEY(info.get());
        hasPrivate = true;
    } else if (headersEmpty && label == "PUBLIC KEY") {
        pkey = d2i_PUBKEY(nullptr, &p, long(der.size()));
        if (pkey && p != bytes(der) + der.size()) {
            EVP_PKEY_free(pkey);
            pkey = nullptr;
        }
    }
    secureWipe(der);
    if (!pkey)
        return {};
    PkeyPtr owned(pkey);
    const bool rightType =
            algorithm == Algorithm::ES256 ? isP256Key(pkey) : EVP_PKEY_is_a(pkey, "ED25519") == 1;
    if (!rightType || !checkKey(pkey, hasPrivate)) {
        qCDebug(lcJose) << "PEM key rejected: not a valid key for" << algorithm;
        return {};
    }
    return KeyPrivate::fromPkey(owned.release(), algorithm, hasPrivate);
}

Key Key::fromSecret(QByteArrayView secret)
{
    if (secret.size() < MinimumHs256SecretSize) {
        qCDebug(lcJose) << "HS256 secret rejected: shorter than 32 bytes";
        return {};
    }
    return KeyPrivate::fromSecret(secret);
}

namespace {

// A JWK member that must be a base64url string decoding to exactly `size` bytes
// (any size when size < 0).
std::optional<QByteArray> jwkBytes(const QJsonObject &jwk, const char *member, qsizetype size)
{
    const QJsonValue value = jwk.value(QLatin1String(member));
    if (!value.isString())
        return std::nullopt;
    auto decoded = base64UrlDecode(value.toString().toLatin1());
    if (!decoded || (size >= 0 && decoded->size() != size))
        return std::nullopt;
    return decoded;
}

Key ecKeyFromJwk(const QJsonObject &jwk)
{
    if (jwk.value(QLatin1String("crv")) != QLatin1String("P-256"))
        return {};
    const auto x = jwkBytes(jwk, "x", P256CoordinateSize);
    const auto y = jwkBytes(jwk, "y", P256CoordinateSize);
    if (!x || !y)
        return {};
    std::optional<QByteArray> d;
    if (jwk.contains(QLatin1String("d"))) {
        d = jwkBytes(jwk, "d", P256CoordinateSize);
        if (!d)
            return {};
    }
    const QByteArray point = QByteArray(1, '\x04') + *x + *y; // uncompressed SEC1 point

    const ParamBldPtr builder(OSSL_PARAM_BLD_new());
    SecureBnPtr privateScalar;
    if (d) {
        privateScalar.reset(BN_secure_new());
        if (!privateScalar || !BN_bin2bn(bytes(*d), int(d->size()), privateScalar.get()))
            return {};
        secureWipe(*d);
    }
    if (!builder
        || !OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                            SN_X9_62_prime256v1, 0)
        || !OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY,
                                             point.constData(), size_t(point.size()))
        || (privateScalar
            && !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_PRIV_KEY,
                                       privateScalar.get())))
        return {};
    const ParamPtr params(OSSL_PARAM_BLD_to_param(builder.get()));
    const PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY *pkey = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1
        || EVP_PKEY_fromdata(ctx.get(), &pkey, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                             params.get())
                != 1) {
        qCDebug(lcJose) << "EC JWK rejected: not a P-256 key";
        return {};
    }
    PkeyPtr owned(pkey);
    if (!isP256Key(pkey) || !checkKey(pkey, d.has_value())) {
        qCDebug(lcJose) << "EC JWK rejected: point not on the curve or d does not match";
        return {};
    }
    return KeyPrivate::fromPkey(owned.release(), Algorithm::ES256, d.has_value());
}

Key okpKeyFromJwk(const QJsonObject &jwk)
{
    if (jwk.value(QLatin1String("crv")) != QLatin1String("Ed25519"))
        return {};
    const auto x = jwkBytes(jwk, "x", Ed25519KeySize);
    if (!x)
        return {};
    if (!jwk.contains(QLatin1String("d"))) {
        EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes(*x),
                                                     size_t(x->size()));
        return pkey ? KeyPrivate::fromPkey(pkey, Algorithm::EdDSA, false) : Key();
    }
    auto d = jwkBytes(jwk, "d", Ed25519KeySize);
    if (!d)
        return {};
    EVP_PKEY *pkey =
            EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, bytes(*d), size_t(d->size()));
    secureWipe(*d);
    if (!pkey)
        return {};
    PkeyPtr owned(pkey);
    unsigned char derived[Ed25519KeySize];
    size_t length = sizeof derived;
    if (!EVP_PKEY_get_raw_public_key(pkey, derived, &length) || length != sizeof derived
        || std::memcmp(derived, x->constData(), sizeof derived) != 0) {
        qCDebug(lcJose) << "OKP JWK rejected: x does not belong to d";
        return {};
    }
    return KeyPrivate::fromPkey(owned.release(), Algorithm::EdDSA, true);
}

} // namespace

Key Key::fromJwk(const QJsonObject &jwk)
{
    const QString kty = jwk.value(QLatin1String("kty")).toString();
    Key key;
    Algorithm algorithm;
    if (kty == QLatin1String("EC")) {
        algorithm = Algorithm::ES256;
    } else if (kty == QLatin1String("OKP")) {
        algorithm = Algorithm::EdDSA;
    } else if (kty == QLatin1String("oct")) {
        algorithm = Algorithm::HS256;
    } else {
        qCDebug(lcJose) << "JWK rejected: unsupported kty";
        return {};
    }
    if (jwk.contains(QLatin1String("alg"))
        && jwk.value(QLatin1String("alg")) != algorithmName(algorithm)) {
        qCDebug(lcJose) << "JWK rejected: alg does not agree with the key type";
        return {};
    }
    if (jwk.contains(QLatin1String("use"))
        && jwk.value(QLatin1String("use")) != QLatin1String("sig")) {
        qCDebug(lcJose) << "JWK rejected: not a signing key";
        return {};
    }
    const QJsonValue kid = jwk.value(QLatin1String("kid"));
    if (!kid.isUndefined() && !kid.isString())
        return {};

    switch (algorithm) {
    case Algorithm::ES256:
        key = ecKeyFromJwk(jwk);
        break;
    case Algorithm::EdDSA:
        key = okpKeyFromJwk(jwk);
        break;
    case Algorithm::HS256:
        if (auto k = jwkBytes(jwk, "k", -1)) {
            key = fromSecret(*k);
            secureWipe(*k);
        }
        break;
    }
    if (!key.isNull() && kid.isString())
        key.setKeyId(kid.toString());
    return key;
}

bool Key::isNull() const
{
    return !d;
}

Algorithm Key::algorithm() const
{
    return d ? d->algorithm : Algorithm::ES256;
}

bool Key::hasPrivateKey() const
{
    return d && d->hasPrivate;
}

QString Key::keyId() const
{
    if (!d)
        return {};
    return d->keyIdSet ? d->keyId : d->thumbprint;
}

void Key::setKeyId(const QString &keyId)
{
    if (d)
        KeyPrivate::setKeyId(*this, keyId);
}

QByteArray Key::privateKeyPem() const
{
    if (!d || !d->hasPrivate || !d->pkey)
        return {};
    const BioPtr bio(BIO_new(BIO_s_secmem()));
    if (!bio
        || PEM_write_bio_PrivateKey(bio.get(), d->pkey.get(), nullptr, nullptr, 0, nullptr, nullptr)
                != 1)
        return {};
    char *data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    return QByteArray(data, qsizetype(length));
}

QByteArray Key::publicKeyPem() const
{
    if (!d || !d->pkey)
        return {};
    const BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), d->pkey.get()) != 1)
        return {};
    char *data = nullptr;
    const long length = BIO_get_mem_data(bio.get(), &data);
    return QByteArray(data, qsizetype(length));
}

QByteArray Key::secret() const
{
    if (!d || d->algorithm != Algorithm::HS256)
        return {};
    // A deep copy, so the key's own buffer stays unshared and is wiped with the key.
    return QByteArray(d->secret.constData(), d->secret.size());
}

QJsonObject Key::publicJwk() const
{
    if (!d || d->algorithm == Algorithm::HS256)
        return {};
    QJsonObject jwk = d->publicMembers();
    const QString kid = keyId();
    if (!kid.isEmpty())
        jwk.insert(QLatin1String("kid"), kid);
    jwk.insert(QLatin1String("alg"), algorithmName(d->algorithm));
    jwk.insert(QLatin1String("use"), QLatin1String("sig"));
    return jwk;
}

QString Key::thumbprint() const
{
    return d ? d->thumbprint : QString();
}

QString jwkThumbprint(const QJsonObject &jwk)
{
    const QString kty = jwk.value(QLatin1String("kty")).toString();
    QStringList members; // the required members of RFC 7638 section 3.2, in lexicographic order
    if (kty == QLatin1String("RSA"))
        members = {latin1("e"), latin1("kty"), latin1("n")};
    else if (kty == QLatin1String("EC"))
        members = {latin1("crv"), latin1("kty"), latin1("x"), latin1("y")};
    else if (kty == QLatin1String("OKP"))
        members = {latin1("crv"), latin1("kty"), latin1("x")};
    else if (kty == QLatin1String("oct"))
        members = {latin1("k"), latin1("kty")};
    else
        return {};
    QByteArray canonical = "{";
    for (const QString &member : std::as_const(members)) {
        const QJsonValue value = jwk.value(member);
        if (!value.isString())
            return {};
        if (canonical.size() > 1)
            canonical += ',';
        appendJsonString(canonical, member);
        canonical += ':';
        appendJsonString(canonical, value.toString());
    }
    canonical += '}';
    QByteArray digest = sha256(canonical);
    secureWipe(canonical); // for oct keys this held the secret
    return QString::fromLatin1(base64UrlEncode(digest));
}

QJsonObject jwks(const QList<Key> &keys)
{
    QJsonArray array;
    for (const Key &key : keys) {
        if (!key.isNull() && key.algorithm() != Algorithm::HS256)
            array.append(key.publicJwk());
    }
    return QJsonObject{{QLatin1String("keys"), array}};
}

// --- signing ------------------------------------------------------------------------------

QByteArray Private::signSigningInput(const Key &key, QByteArrayView signingInput)
{
    const KeyPrivate *d = KeyPrivate::get(key);
    return d ? d->sign(signingInput) : QByteArray();
}

QByteArray signCompact(const Key &key, QByteArrayView payload, QJsonObject header)
{
    if (!key.hasPrivateKey())
        return {};
    header.insert(QLatin1String("alg"), algorithmName(key.algorithm()));
    const QString kid = key.keyId();
    if (!kid.isEmpty())
        header.insert(QLatin1String("kid"), kid);
    QByteArray compact = base64UrlEncode(compactJson(header));
    compact += '.';
    compact += base64UrlEncode(payload);
    const QByteArray signature = KeyPrivate::get(key)->sign(compact);
    if (signature.isEmpty())
        return {};
    compact += '.';
    compact += base64UrlEncode(signature);
    return compact;
}

QByteArray signJwt(const Key &key, const QJsonObject &claims, const QString &type)
{
    QJsonObject header;
    if (!type.isEmpty())
        header.insert(QLatin1String("typ"), type);
    return signCompact(key, compactJson(claims), header);
}

// --- verification -------------------------------------------------------------------------

QString errorString(Error error)
{
    switch (error) {
    case Error::None:
        return QStringLiteral("No error");
    case Error::TooLarge:
        return QStringLiteral("Token exceeds the size limit");
    case Error::Malformed:
        return QStringLiteral("Token is malformed");
    case Error::UnsupportedAlgorithm:
        return QStringLiteral("Token algorithm is not supported");
    case Error::AlgorithmMismatch:
        return QStringLiteral("Token algorithm does not match the key");
    case Error::ForbiddenHeader:
        return QStringLiteral("Token header names a key source that is not accepted");
    case Error::UnsupportedCritical:
        return QStringLiteral("Token header has critical extensions");
    case Error::UnknownKey:
        return QStringLiteral("No key matches the token");
    case Error::BadSignature:
        return QStringLiteral("Token signature is invalid");
    case Error::Expired:
        return QStringLiteral("Token has expired");
    case Error::NotYetValid:
        return QStringLiteral("Token is not yet valid");
    case Error::IssuedInFuture:
        return QStringLiteral("Token is issued in the future");
    case Error::MissingClaim:
        return QStringLiteral("A required claim is missing or has the wrong type");
    case Error::WrongIssuer:
        return QStringLiteral("Token issuer is not accepted");
    case Error::WrongAudience:
        return QStringLiteral("Token audience is not accepted");
    case Error::WrongType:
        return QStringLiteral("Token type is not accepted");
    }
    return QStringLiteral("Unknown error");
}

namespace {

VerifyResult rejected(Error error)
{
    qCDebug(lcJose) << "token rejected:" << error;
    VerifyResult result;
    result.error = error;
    return result;
}

// The single key for this header, or the error.
std::variant<Key, Error> selectKey(const QJsonObject &header, const QList<Key> &keys)
{
    const QJsonValue kid = header.value(QLatin1String("kid"));
    if (kid.isUndefined()) {
        if (keys.size() == 1 && !keys.front().isNull())
            return keys.front();
        return Error::UnknownKey;
    }
    if (!kid.isString())
        return Error::Malformed;
    const QString wanted = kid.toString();
    const Key *match = nullptr;
    for (const Key &key : keys) {
        if (key.isNull() || key.keyId().isEmpty() || key.keyId() != wanted)
            continue;
        if (match)
            return Error::UnknownKey; // ambiguous: never let the header pick between keys
        match = &key;
    }
    if (!match)
        return Error::UnknownKey;
    return *match;
}

} // namespace

VerifyResult verifyCompact(QByteArrayView compact, const QList<Key> &keys, qsizetype maxSize)
{
    // The size check comes before anything else looks at the input.
    if (compact.size() > maxSize)
        return rejected(Error::TooLarge);

    const qsizetype firstDot = compact.indexOf('.');
    const qsizetype secondDot = firstDot < 0 ? -1 : compact.indexOf('.', firstDot + 1);
    if (secondDot < 0 || compact.indexOf('.', secondDot + 1) >= 0)
        return rejected(Error::Malformed);
    const QByteArrayView signingInput = compact.first(secondDot);
    const auto headerJson = base64UrlDecode(compact.first(firstDot));
    const auto payload = base64UrlDecode(compact.sliced(firstDot + 1, secondDot - firstDot - 1));
    const auto signature = base64UrlDecode(compact.sliced(secondDot + 1));
    if (!headerJson || !payload || !signature)
        return rejected(Error::Malformed);

    const auto header = parseObject(*headerJson);
    if (!header)
        return rejected(Error::Malformed);
    const QJsonValue alg = header->value(QLatin1String("alg"));
    if (!alg.isString())
        return rejected(Error::Malformed);
    const auto algorithm = algorithmFromName(alg.toString());
    if (!algorithm)
        return rejected(Error::UnsupportedAlgorithm);
    for (const char *name : {"jku", "x5u", "x5c", "jwk"}) {
        if (header->contains(QLatin1String(name)))
            return rejected(Error::ForbiddenHeader);
    }
    if (header->contains(QLatin1String("crit")))
        return rejected(Error::UnsupportedCritical);

    const auto selected = selectKey(*header, keys);
    if (const Error *error = std::get_if<Error>(&selected))
        return rejected(*error);
    const Key &key = std::get<Key>(selected);
    // The key's algorithm is the one used; the header only has to agree with it.
    if (*algorithm != key.algorithm())
        return rejected(Error::AlgorithmMismatch);
    if (!KeyPrivate::get(key)->verify(signingInput, *signature))
        return rejected(Error::BadSignature);

    VerifyResult result;
    result.error = Error::None;
    result.header = *header;
    result.payload = *payload;
    return result;
}

namespace {

bool isNumericDate(const QJsonValue &value)
{
    return value.isDouble() && std::isfinite(value.toDouble());
}

// RFC 7515 section 4.1.9: a "typ" without '/' means "application/" + typ; media types
// compare case-insensitively.
QString normalizedType(const QString &type)
{
    const QString lower = type.toLower();
    return lower.contains(QLatin1Char('/')) ? lower : QLatin1String("application/") + lower;
}

bool isPresent(const QJsonValue &value)
{
    return !value.isUndefined() && !value.isNull();
}

} // namespace

Error checkClaims(const QJsonObject &header, const QJsonObject &claims,
                  const ClaimRequirements &requirements)
{
    if (!requirements.type.isEmpty()) {
        const QJsonValue typ = header.value(QLatin1String("typ"));
        if (!typ.isString() || normalizedType(typ.toString()) != normalizedType(requirements.type))
            return Error::WrongType;
    }

    for (const QString &name : requirements.requiredClaims) {
        if (!isPresent(claims.value(name)))
            return Error::MissingClaim;
    }

    // Compared as doubles: a huge but finite exp is simply far in the future, never an overflow.
    const double now =
            double(requirements.now ? *requirements.now : QDateTime::currentSecsSinceEpoch());
    const double leeway = double(std::max<qint64>(0, requirements.leeway.count()));

    const QJsonValue exp = claims.value(QLatin1String("exp"));
    if (exp.isUndefined()) {
        if (requirements.requireExpiry)
            return Error::MissingClaim;
    } else if (!isNumericDate(exp)) {
        return Error::MissingClaim;
    } else if (exp.toDouble() <= now - leeway) {
        return Error::Expired;
    }

    const QJsonValue nbf = claims.value(QLatin1String("nbf"));
    if (!nbf.isUndefined()) {
        if (!isNumericDate(nbf))
            return Error::MissingClaim;
        if (nbf.toDouble() > now + leeway)
            return Error::NotYetValid;
    }

    const QJsonValue iat = claims.value(QLatin1String("iat"));
    if (!iat.isUndefined()) {
        if (!isNumericDate(iat))
            return Error::MissingClaim;
        if (iat.toDouble() > now + leeway)
            return Error::IssuedInFuture;
    }

    if (!requirements.issuer.isEmpty()) {
        const QJsonValue iss = claims.value(QLatin1String("iss"));
        if (!iss.isString())
            return Error::MissingClaim;
        if (iss.toString() != requirements.issuer)
            return Error::WrongIssuer;
    }

    if (!requirements.audience.isEmpty()) {
        const QJsonValue aud = claims.value(QLatin1String("aud"));
        if (aud.isString()) {
            if (aud.toString() != requirements.audience)
                return Error::WrongAudience;
        } else if (aud.isArray()) {
            bool found = false;
            for (const QJsonValue &entry : aud.toArray()) {
                if (!entry.isString())
                    return Error::MissingClaim;
                found = found || entry.toString() == requirements.audience;
            }
            if (!found)
                return Error::WrongAudience;
        } else {
            return Error::MissingClaim;
        }
    }
    return Error::None;
}

VerifyResult verifyJwt(QByteArrayView compact, const QList<Key> &keys,
                       const ClaimRequirements &requirements, qsizetype maxSize)
{
    VerifyResult result = verifyCompact(compact, keys, maxSize);
    if (!result.ok())
        return result;
    // Only now, with the signature verified, is the payload parsed.
    const auto claims = parseObject(result.payload);
    if (!claims)
        return rejected(Error::Malformed);
    // A rejected token yields nothing but the error, so no caller can use its claims by mistake.
    if (const Error error = checkClaims(result.header, *claims, requirements); error != Error::None)
        return rejected(error);
    result.claims = *claims;
    return result;
}

// --- primitives ---------------------------------------------------------------------------

bool constantTimeEquals(QByteArrayView a, QByteArrayView b)
{
    if (a.size() != b.size())
        return false;
    if (a.isEmpty())
        return true;
    return CRYPTO_memcmp(a.data(), b.data(), size_t(a.size())) == 0;
}

QByteArray randomBytes(qsizetype count)
{
    if (count <= 0)
        return {};
    QByteArray out(count, Qt::Uninitialized);
    auto *data = reinterpret_cast<unsigned char *>(out.data());
    for (qsizetype done = 0; done < count;) {
        const int chunk = int(std::min<qsizetype>(count - done, INT_MAX));
        if (RAND_bytes(data + done, chunk) != 1)
            qFatal("tessera.jose: the OpenSSL random number generator failed");
        done += chunk;
    }
    return out;
}

QByteArray sha256(QByteArrayView data)
{
    QByteArray out(32, Qt::Uninitialized);
    unsigned int length = 0;
    if (EVP_Digest(data.data(), size_t(data.size()), reinterpret_cast<unsigned char *>(out.data()),
                   &length, EVP_sha256(), nullptr)
                != 1
        || length != 32)
        qFatal("tessera.jose: SHA-256 failed");
    return out;
}

} // namespace Tessera::Jose

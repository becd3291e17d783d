// SPDX-License-Identifier: MIT
// JWK (RFC 7517, RFC 8037) import and export, RFC 7638 thumbprints and JWKS documents.
#include "crypto_p.h"
#include "jose_p.h"
#include "key_p.h"
#include "rsa_p.h"

#include <QtCore/QJsonArray>

#include <openssl/core_names.h>
#include <openssl/obj_mac.h>

#include <cstring>

namespace Tessera::Jose {

using namespace Private;

namespace {

QString latin1(const char *text)
{
    return QString::fromLatin1(text);
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

// A JWK member that must be a base64url string decoding to exactly `size` bytes
// (any size when size < 0).
std::optional<QByteArray> jwkBytes(const QJsonObject &jwk, const char *member, qsizetype size)
{
    const QJsonValue value = jwk.value(QLatin1String(member));
    if (!value.isString())
        return std::nullopt;
    auto decoded = base64UrlDecode(value.toString().toLatin1());
    if (!decoded || (size >= 0 && decoded->size() != size)) {
        if (decoded)
            secureWipe(*decoded);
        return std::nullopt;
    }
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
    SecureBnPtr privateScalar;
    if (jwk.contains(QLatin1String("d"))) {
        auto d = jwkBytes(jwk, "d", P256CoordinateSize);
        if (!d)
            return {};
        privateScalar.reset(BN_secure_new());
        const bool converted =
                privateScalar && BN_bin2bn(bytes(*d), int(d->size()), privateScalar.get());
        secureWipe(*d);
        if (!converted)
            return {};
    }
    const QByteArray point = QByteArray(1, '\x04') + *x + *y; // uncompressed SEC1 point

    const ParamBldPtr builder(OSSL_PARAM_BLD_new());
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
    const bool hasPrivate = privateScalar != nullptr;
    EVP_PKEY *pkey = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1
        || EVP_PKEY_fromdata(ctx.get(), &pkey, hasPrivate ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                             params.get())
                != 1) {
        qCDebug(lcJose) << "EC JWK rejected: not a P-256 key";
        return {};
    }
    PkeyPtr owned(pkey);
    if (!isP256Key(pkey) || !(hasPrivate ? checkKey(pkey, true) : checkP256PublicKey(pkey))) {
        qCDebug(lcJose) << "EC JWK rejected: point not on the curve or d does not match";
        return {};
    }
    return KeyPrivate::fromPkey(owned.release(), Algorithm::ES256, hasPrivate);
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

QJsonObject KeyPrivate::publicMembers() const
{
    QJsonObject jwk;
    if (algorithm == Algorithm::ES256) {
        const QByteArray x = p256Coordinate(pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X);
        const QByteArray y = p256Coordinate(pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y);
        if (x.isEmpty() || y.isEmpty())
            return {};
        jwk.insert(QLatin1String("kty"), QLatin1String("EC"));
        jwk.insert(QLatin1String("crv"), QLatin1String("P-256"));
        jwk.insert(QLatin1String("x"), QString::fromLatin1(base64UrlEncode(x)));
        jwk.insert(QLatin1String("y"), QString::fromLatin1(base64UrlEncode(y)));
    } else if (algorithm == Algorithm::EdDSA) {
        QByteArray x(Ed25519KeySize, Qt::Uninitialized);
        size_t length = size_t(x.size());
        if (!EVP_PKEY_get_raw_public_key(pkey.get(), reinterpret_cast<unsigned char *>(x.data()),
                                         &length)
            || length != size_t(Ed25519KeySize))
            return {};
        jwk.insert(QLatin1String("kty"), QLatin1String("OKP"));
        jwk.insert(QLatin1String("crv"), QLatin1String("Ed25519"));
        jwk.insert(QLatin1String("x"), QString::fromLatin1(base64UrlEncode(x)));
    } else if (isRsaAlgorithm(algorithm)) {
        jwk = rsaPublicMembers(pkey.get());
    }
    return jwk;
}

namespace {

// The algorithms a JWK of this "kty" can be for; the first is the default without "alg".
QList<Algorithm> algorithmsOfKeyType(const QString &kty)
{
    if (kty == QLatin1String("EC"))
        return {Algorithm::ES256};
    if (kty == QLatin1String("OKP"))
        return {Algorithm::EdDSA};
    if (kty == QLatin1String("oct"))
        return {Algorithm::HS256};
    if (kty == QLatin1String("RSA"))
        return {Algorithm::RS256, Algorithm::PS256}; // RS256: OpenID Connect's default
    return {};
}

Key keyFromJwk(const QJsonObject &jwk, std::optional<Algorithm> expected, QString *problem)
{
    const QList<Algorithm> candidates =
            algorithmsOfKeyType(jwk.value(QLatin1String("kty")).toString());
    if (candidates.isEmpty()) {
        setProblem(problem, QStringLiteral("JWK rejected: unsupported or missing \"kty\""));
        return {};
    }
    Algorithm algorithm = expected.value_or(candidates.front());
    const QJsonValue alg = jwk.value(QLatin1String("alg"));
    if (!alg.isUndefined()) {
        const auto named = algorithmFromName(alg.toString());
        if (!alg.isString() || !named || !candidates.contains(*named)) {
            setProblem(problem,
                       QStringLiteral("JWK rejected: its \"alg\" is not an algorithm Tessera "
                                      "supports for this key type"));
            return {};
        }
        if (expected && *named != *expected) {
            setProblem(problem,
                       QStringLiteral("JWK rejected: its \"alg\" is %1, the policy expects %2")
                               .arg(algorithmName(*named), algorithmName(*expected)));
            return {};
        }
        algorithm = *named;
    }
    if (!candidates.contains(algorithm)) {
        setProblem(problem,
                   QStringLiteral("JWK rejected: its key type cannot be used for %1")
                           .arg(algorithmName(algorithm)));
        return {};
    }
    if (jwk.contains(QLatin1String("use"))
        && jwk.value(QLatin1String("use")) != QLatin1String("sig")) {
        setProblem(problem, QStringLiteral("JWK rejected: \"use\" is not \"sig\""));
        return {};
    }
    const QJsonValue kid = jwk.value(QLatin1String("kid"));
    if (!kid.isUndefined() && !kid.isString()) {
        setProblem(problem, QStringLiteral("JWK rejected: \"kid\" is not a string"));
        return {};
    }

    Key key;
    switch (algorithm) {
    case Algorithm::ES256:
        key = ecKeyFromJwk(jwk);
        break;
    case Algorithm::EdDSA:
        key = okpKeyFromJwk(jwk);
        break;
    case Algorithm::HS256:
        if (auto k = jwkBytes(jwk, "k", -1)) {
            key = Key::fromSecret(Secret(*k));
            secureWipe(*k);
        }
        break;
    case Algorithm::RS256:
    case Algorithm::PS256:
        key = rsaKeyFromJwk(jwk, algorithm, problem);
        break;
    }
    if (key.isNull()) {
        if (problem && problem->isEmpty())
            *problem = QStringLiteral("JWK rejected: not a valid %1 key")
                               .arg(algorithmName(algorithm));
        return {};
    }
    if (kid.isString())
        key.setKeyId(kid.toString());
    return key;
}

} // namespace

Key Key::fromJwk(const QJsonObject &jwk, QString *problem)
{
    if (problem)
        problem->clear();
    return keyFromJwk(jwk, std::nullopt, problem);
}

Key Key::fromJwk(const QJsonObject &jwk, Algorithm algorithm, QString *problem)
{
    if (problem)
        problem->clear();
    return keyFromJwk(jwk, algorithm, problem);
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
        if (!value.isString()) {
            secureWipe(canonical);
            return {};
        }
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

} // namespace Tessera::Jose

// SPDX-License-Identifier: MIT
// RSA public keys for RS256 (RSASSA-PKCS1-v1_5, RFC 7518 section 3.3) and PS256 (RSASSA-PSS,
// section 3.5): JWK import with the checks a key from a provider's JWKS needs before it is
// trusted, the RFC 7638 members, and verification. Tessera never signs with RSA.
#include "rsa_p.h"

#include "crypto_p.h"
#include "jose_p.h"
#include "key_p.h"

#include <openssl/core_names.h>
#include <openssl/rsa.h>

namespace Tessera::Jose {

namespace Private {

namespace {

QString text(const char *latin1)
{
    return QString::fromLatin1(latin1);
}

// Number of significant bits of a big-endian integer without leading zero octets.
int bitLength(QByteArrayView value)
{
    if (value.isEmpty())
        return 0;
    int top = 0;
    for (auto b = quint8(value.front()); b != 0; b >>= 1)
        ++top;
    return int(value.size() - 1) * 8 + top;
}

// The checks on the modulus and exponent that do not need OpenSSL; an empty string when they
// pass. Both are minimal big-endian octet strings here (RFC 7518 section 2, Base64urlUInt).
QString checkComponents(QByteArrayView n, QByteArrayView e)
{
    if (n.isEmpty())
        return text("RSA JWK rejected: \"n\" is empty");
    if (n.front() == '\0')
        return text("RSA JWK rejected: \"n\" has a leading zero octet (RFC 7518 section 2 "
                    "requires the minimal encoding)");
    const int bits = bitLength(n);
    if (bits < MinimumRsaModulusBits)
        return QStringLiteral("RSA key rejected: the modulus has %1 bits, RS256 and PS256 need "
                              "at least %2 (RFC 7518 section 3.3)")
                .arg(bits)
                .arg(MinimumRsaModulusBits);
    if (bits > MaximumRsaModulusBits)
        return QStringLiteral("RSA key rejected: the modulus has %1 bits, more than %2")
                .arg(bits)
                .arg(MaximumRsaModulusBits);
    if ((quint8(n.back()) & 1) == 0)
        return text("RSA key rejected: the modulus is even");
    if (e.isEmpty())
        return text("RSA JWK rejected: \"e\" is empty");
    if (e.front() == '\0')
        return text("RSA JWK rejected: \"e\" has a leading zero octet (RFC 7518 section 2 "
                    "requires the minimal encoding)");
    if (e.size() > MaximumRsaExponentSize)
        return text("RSA key rejected: the public exponent is not under 2^256");
    if ((quint8(e.back()) & 1) == 0)
        return text("RSA key rejected: the public exponent is even");
    if (e.size() == 1 && quint8(e.front()) < 3)
        return text("RSA key rejected: the public exponent is under 3");
    return {};
}

// n and e, already checked, as a public OpenSSL key that passed EVP_PKEY_public_check (an odd
// composite modulus that is not a prime power and has no small factor). nullptr on failure.
EVP_PKEY *publicKey(QByteArrayView n, QByteArrayView e)
{
    const BnPtr modulus(BN_bin2bn(bytes(n), int(n.size()), nullptr));
    const BnPtr exponent(BN_bin2bn(bytes(e), int(e.size()), nullptr));
    const ParamBldPtr builder(OSSL_PARAM_BLD_new());
    if (!modulus || !exponent || !builder
        || !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, modulus.get())
        || !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, exponent.get()))
        return nullptr;
    const ParamPtr params(OSSL_PARAM_BLD_to_param(builder.get()));
    const PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    EVP_PKEY *pkey = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1
        || EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
        return nullptr;
    PkeyPtr owned(pkey);
    if (!checkKey(pkey, false))
        return nullptr;
    return owned.release();
}

// The minimal big-endian octets of an RSA key parameter; empty on failure.
QByteArray parameter(EVP_PKEY *pkey, const char *name)
{
    BIGNUM *raw = nullptr;
    if (!EVP_PKEY_get_bn_param(pkey, name, &raw))
        return {};
    const BnPtr bn(raw);
    QByteArray out(BN_num_bytes(bn.get()), Qt::Uninitialized);
    if (BN_bn2bin(bn.get(), reinterpret_cast<unsigned char *>(out.data())) != out.size())
        return {};
    return out;
}

} // namespace

void setProblem(QString *problem, const QString &why)
{
    qCDebug(lcJose).noquote() << why;
    if (problem)
        *problem = why;
}

Key rsaKeyFromJwk(const QJsonObject &jwk, Algorithm algorithm, QString *problem)
{
    for (const char *member : {"d", "p", "q", "dp", "dq", "qi", "oth"}) {
        if (jwk.contains(QLatin1String(member))) {
            setProblem(problem,
                       text("RSA JWK rejected: it holds private key members; Tessera only "
                            "verifies with RSA public keys"));
            return {};
        }
    }
    QByteArray components[2];
    const char *names[2] = {"n", "e"};
    for (int i = 0; i < 2; ++i) {
        const QJsonValue value = jwk.value(QLatin1String(names[i]));
        auto decoded =
                value.isString() ? base64UrlDecode(value.toString().toLatin1()) : std::nullopt;
        if (!decoded) {
            setProblem(problem,
                       QStringLiteral("RSA JWK rejected: \"%1\" is not an unpadded base64url "
                                      "string")
                               .arg(QLatin1String(names[i])));
            return {};
        }
        components[i] = *decoded;
    }
    const QString why = checkComponents(components[0], components[1]);
    if (!why.isEmpty()) {
        setProblem(problem, why);
        return {};
    }
    EVP_PKEY *pkey = publicKey(components[0], components[1]);
    if (!pkey) {
        setProblem(problem, text("RSA JWK rejected: OpenSSL's public key check failed"));
        return {};
    }
    Key key = KeyPrivate::fromPkey(pkey, algorithm, false);
    if (key.isNull())
        setProblem(problem, text("RSA JWK rejected: no thumbprint can be computed"));
    return key;
}

Key rsaKeyFromPkey(EVP_PKEY *pkey, Algorithm algorithm, QString *problem)
{
    PkeyPtr owned(pkey);
    // "RSA" only: an RSASSA-PSS-restricted key (id-RSASSA-PSS) carries its own parameters.
    if (EVP_PKEY_is_a(pkey, "RSA") != 1) {
        setProblem(problem, text("RSA key rejected: not an rsaEncryption key"));
        return {};
    }
    const QString why = checkComponents(parameter(pkey, OSSL_PKEY_PARAM_RSA_N),
                                        parameter(pkey, OSSL_PKEY_PARAM_RSA_E));
    if (!why.isEmpty()) {
        setProblem(problem, why);
        return {};
    }
    if (!checkKey(pkey, false)) {
        setProblem(problem, text("RSA key rejected: OpenSSL's public key check failed"));
        return {};
    }
    return KeyPrivate::fromPkey(owned.release(), algorithm, false);
}

QJsonObject rsaPublicMembers(EVP_PKEY *pkey)
{
    const QByteArray n = parameter(pkey, OSSL_PKEY_PARAM_RSA_N);
    const QByteArray e = parameter(pkey, OSSL_PKEY_PARAM_RSA_E);
    if (n.isEmpty() || e.isEmpty())
        return {};
    return QJsonObject{{QLatin1String("kty"), QLatin1String("RSA")},
                       {QLatin1String("n"), QString::fromLatin1(base64UrlEncode(n))},
                       {QLatin1String("e"), QString::fromLatin1(base64UrlEncode(e))}};
}

bool rsaVerify(EVP_PKEY *pkey, Algorithm algorithm, QByteArrayView input, QByteArrayView signature)
{
    // RFC 8017 sections 8.1.2 and 8.2.2, step 1: the signature is exactly k octets long.
    if (signature.size() != EVP_PKEY_get_size(pkey))
        return false;
    const MdCtxPtr ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX *pctx = nullptr; // owned by ctx
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, pkey) != 1)
        return false;
    if (algorithm == Algorithm::PS256) {
        // Exactly the JWA parameters, never OpenSSL's "auto" salt length: a signature with
        // any other salt length is not a PS256 signature.
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1
            || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1
            || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, Ps256SaltLength) != 1)
            return false;
    } else if (algorithm != Algorithm::RS256
               || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
        return false;
    }
    return EVP_DigestVerify(ctx.get(), bytes(signature), size_t(signature.size()), bytes(input),
                            size_t(input.size()))
            == 1;
}

} // namespace Private

} // namespace Tessera::Jose

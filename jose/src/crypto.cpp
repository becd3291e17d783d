// SPDX-License-Identifier: MIT
// Cryptographic helpers of Tessera::Jose on OpenSSL EVP: HMAC, one-shot sign and verify, ES256
// signing and verification on per-thread contexts, the ES256 signature encodings, P-256 key checks,
// and the public primitives (constant-time comparison, random bytes, SHA-256).
#include "crypto_p.h"

#include <tessera/jose.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <memory>

namespace Tessera::Jose {

namespace Private {

namespace {

// Order n of the P-256 group, big-endian.
constexpr unsigned char P256Order[32] = {0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00,
                                         0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                         0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84,
                                         0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};

} // namespace

bool isP256Scalar(const unsigned char *scalar)
{
    const bool zero = std::all_of(scalar, scalar + 32, [](unsigned char c) { return c == 0; });
    return !zero && std::memcmp(scalar, P256Order, 32) < 0;
}

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

QByteArray p256Coordinate(EVP_PKEY *pkey, const char *name)
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
    return (hasPrivate ? EVP_PKEY_check(ctx.get()) : EVP_PKEY_public_check(ctx.get())) == 1;
}

bool checkP256PublicKey(EVP_PKEY *pkey)
{
    const PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
    return ctx && EVP_PKEY_public_check_quick(ctx.get()) == 1;
}

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

QByteArray digestSign(EVP_PKEY *pkey, const EVP_MD *md, QByteArrayView data)
{
    const MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, pkey) != 1)
        return {};
    // The key's maximum signature size, so one EVP_DigestSign() call instead of a size query
    // first.
    const int maximum = EVP_PKEY_get_size(pkey);
    if (maximum <= 0)
        return {};
    size_t length = size_t(maximum);
    QByteArray out(qsizetype(length), Qt::Uninitialized);
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char *>(out.data()), &length,
                       bytes(data), size_t(data.size()))
        != 1)
        return {};
    out.resize(qsizetype(length));
    return out;
}

const EVP_MD *sha256Digest()
{
    // Kept for the life of the process; a failed fetch falls back to the implicit one.
    static EVP_MD *const fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched ? fetched : EVP_sha256();
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

namespace {

// Verification contexts per thread, for the keys last used on it: two, so a
// thread that checks tokens signed by the server's key and proofs signed by a
// client's keeps both. A context keeps its key alive, so the pointer it is
// looked up by cannot be reused by another key.
struct VerifyContext
{
    EVP_PKEY *pkey = nullptr;
    PkeyCtxPtr ctx;
};
thread_local std::array<VerifyContext, 2> threadVerifyContexts; // most recently used first

EVP_PKEY_CTX *es256VerifyContext(EVP_PKEY *pkey)
{
    std::array<VerifyContext, 2> &contexts = threadVerifyContexts;
    if (contexts[0].pkey == pkey)
        return contexts[0].ctx.get();
    if (contexts[1].pkey != pkey) {
        // OpenSSL: EVP_PKEY_verify() may be called more than once on a context
        // EVP_PKEY_verify_init() prepared, as long as the parameters stay the same.
        PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
        if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1
            || EVP_PKEY_CTX_set_signature_md(ctx.get(), sha256Digest()) != 1)
            return nullptr;
        contexts[1] = VerifyContext{pkey, std::move(ctx)};
    }
    std::swap(contexts[0], contexts[1]);
    return contexts[0].ctx.get();
}

// Signing contexts per thread, for the ES256 keys last signed with on it: two, as for
// verification. A context holds a reference to its key, so the pointer it is looked up by
// cannot be reused by another key while it is cached. So that the private key does not outlive
// its last Key in here, the key's deleter drops the context of the thread that releases it
// (forgetEs256SignContext), and `owner` tells the other threads at their next ES256 signature.
struct SignContext
{
    EVP_PKEY *pkey = nullptr;
    std::weak_ptr<EVP_PKEY> owner;
    PkeyCtxPtr ctx;
};
// Trivially destructible, so still readable while the thread's other thread_local objects (and,
// on the main thread, static ones) are destroyed and may release a key after the contexts.
thread_local bool threadSignContextsGone = false;
struct SignContexts
{
    std::array<SignContext, 2> entries; // most recently used first
    ~SignContexts() { threadSignContextsGone = true; }
};
thread_local SignContexts threadSignContexts;

EVP_PKEY_CTX *es256SignContext(const std::shared_ptr<EVP_PKEY> &pkey)
{
    std::array<SignContext, 2> &contexts = threadSignContexts.entries;
    for (SignContext &context : contexts) {
        if (context.ctx && context.owner.expired())
            context = SignContext{};
    }
    if (contexts[0].pkey == pkey.get())
        return contexts[0].ctx.get();
    if (contexts[1].pkey != pkey.get()) {
        // OpenSSL (EVP_PKEY_sign(3)): EVP_PKEY_sign() may be called more than once on a
        // context EVP_PKEY_sign_init() prepared, as long as the parameters stay the same; they
        // are set here once and never changed. Each call draws its own nonce.
        PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
        if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1
            || EVP_PKEY_CTX_set_signature_md(ctx.get(), sha256Digest()) != 1)
            return nullptr;
        contexts[1] = SignContext{pkey.get(), pkey, std::move(ctx)};
    }
    std::swap(contexts[0], contexts[1]);
    return contexts[0].ctx.get();
}

} // namespace

QByteArray es256Sign(const std::shared_ptr<EVP_PKEY> &pkey, QByteArrayView data)
{
    unsigned char digest[32];
    unsigned int digestLength = 0;
    if (EVP_Digest(data.data(), size_t(data.size()), digest, &digestLength, sha256Digest(), nullptr)
                != 1
        || digestLength != sizeof digest)
        return {};
    EVP_PKEY_CTX *const ctx = es256SignContext(pkey);
    if (!ctx)
        return {};
    // A P-256 key's DER signature fits: OpenSSL refuses a smaller buffer rather than writing
    // past it, so no size query is needed first.
    unsigned char der[Es256MaxDerSignatureSize];
    size_t length = sizeof der;
    if (EVP_PKEY_sign(ctx, der, &length, digest, sizeof digest) != 1 || length > sizeof der) {
        threadSignContexts.entries[0] = SignContext{}; // not trusted for the next signature
        return {};
    }
    return derToRaw(QByteArrayView(der, qsizetype(length)));
}

void forgetEs256SignContext(EVP_PKEY *pkey)
{
    if (threadSignContextsGone)
        return;
    for (SignContext &context : threadSignContexts.entries) {
        if (context.pkey == pkey)
            context = SignContext{};
    }
}

void releaseThreadContexts()
{
    if (!threadSignContextsGone)
        threadSignContexts.entries = {};
    threadVerifyContexts = {};
}

int es256SignContextsHeldForTesting()
{
    const std::array<SignContext, 2> &contexts = threadSignContexts.entries;
    return int(std::count_if(contexts.begin(), contexts.end(),
                             [](const SignContext &context) { return bool(context.ctx); }));
}

bool es256VerifyDer(EVP_PKEY *pkey, QByteArrayView data, QByteArrayView derSignature)
{
    unsigned char digest[32];
    unsigned int length = 0;
    if (EVP_Digest(data.data(), size_t(data.size()), digest, &length, sha256Digest(), nullptr) != 1
        || length != sizeof digest)
        return false;
    EVP_PKEY_CTX *const ctx = es256VerifyContext(pkey);
    return ctx
            && EVP_PKEY_verify(ctx, bytes(derSignature), size_t(derSignature.size()), digest,
                               sizeof digest)
            == 1;
}

QByteArray derToRaw(QByteArrayView der)
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

namespace {

// A DER INTEGER (X.690 8.3) of a 32-byte big-endian unsigned value: no leading zero
// bytes, but one 0x00 before a first byte with its high bit set (else it reads negative).
void appendDerInteger(QByteArray &out, const unsigned char *value)
{
    int skip = 0;
    while (skip < 31 && value[skip] == 0)
        ++skip;
    const bool pad = (value[skip] & 0x80) != 0;
    out += char(0x02);
    out += char(32 - skip + (pad ? 1 : 0));
    if (pad)
        out += char(0x00);
    out.append(reinterpret_cast<const char *>(value) + skip, 32 - skip);
}

} // namespace

QByteArray rawToDer(QByteArrayView raw)
{
    if (raw.size() != Es256SignatureSize)
        return {};
    // SEQUENCE { r INTEGER, s INTEGER }: at most 2 + 2 * 35 bytes, so every length fits in
    // one byte (short form).
    QByteArray out;
    out.reserve(Es256MaxDerSignatureSize);
    out += char(0x30);
    out += char(0x00); // the content length, known at the end
    appendDerInteger(out, bytes(raw));
    appendDerInteger(out, bytes(raw) + 32);
    out[1] = char(out.size() - 2);
    return out;
}

} // namespace Private

void releaseThreadState()
{
    Private::releaseThreadContexts();
    OPENSSL_thread_stop();
}

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
                   &length, Private::sha256Digest(), nullptr)
                != 1
        || length != 32)
        qFatal("tessera.jose: SHA-256 failed");
    return out;
}

} // namespace Tessera::Jose

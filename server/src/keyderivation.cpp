// SPDX-License-Identifier: MIT
#include "keyderivation.h"

#include <tessera/secret.h>

#include <QtCore/QScopeGuard>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstring>
#include <initializer_list>
#include <memory>

namespace Tessera::Server {

namespace {

struct MacCtxDeleter
{
    void operator()(EVP_MAC_CTX *ctx) const { EVP_MAC_CTX_free(ctx); }
};
using MacCtx = std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter>;

constexpr int Sha256Bytes = 32;

// An HMAC-SHA256 context with its digest set, per thread: each HMAC works on a copy of it, so
// neither HMAC nor SHA-256 is fetched by name again for every one (a provider lookup each
// time, which cost more than the hashing itself).
EVP_MAC_CTX *hmacSha256Template()
{
    thread_local const MacCtx prepared = [] {
        static EVP_MAC *const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
        MacCtx ctx(mac ? EVP_MAC_CTX_new(mac) : nullptr);
        static const char digest[] = "SHA256";
        const OSSL_PARAM params[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char *>(digest),
                                                 0),
                OSSL_PARAM_construct_end(),
        };
        if (ctx && EVP_MAC_CTX_set_params(ctx.get(), params) != 1)
            ctx.reset();
        return ctx;
    }();
    return prepared.get();
}

// HMAC-SHA256 of the concatenated `parts` under `key` (not empty) into `out`.
bool hmacSha256(QByteArrayView key, std::initializer_list<QByteArrayView> parts, unsigned char *out)
{
    EVP_MAC_CTX *const prepared = hmacSha256Template();
    const MacCtx ctx(prepared ? EVP_MAC_CTX_dup(prepared) : nullptr);
    if (!ctx
        || EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char *>(key.data()),
                        size_t(key.size()), nullptr)
                != 1)
        return false;
    for (QByteArrayView part : parts) {
        if (!part.isEmpty()
            && EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char *>(part.data()),
                              size_t(part.size()))
                    != 1)
            return false;
    }
    size_t length = 0;
    return EVP_MAC_final(ctx.get(), out, &length, Sha256Bytes) == 1 && length == Sha256Bytes;
}

} // namespace

QByteArray hkdfSha256(QByteArrayView key, QByteArrayView salt, QByteArrayView info, int length)
{
    // RFC 5869: at most 255 blocks of output.
    if (key.isEmpty() || length <= 0 || length > 255 * Sha256Bytes)
        return {};
    // Extract; no salt is HashLen zero bytes (RFC 5869 section 2.2).
    static const char zeroSalt[Sha256Bytes] = {};
    unsigned char prk[Sha256Bytes];
    const auto wipePrk = qScopeGuard([&prk] { OPENSSL_cleanse(prk, sizeof prk); });
    if (!hmacSha256(salt.isEmpty() ? QByteArrayView(zeroSalt, Sha256Bytes) : salt, {key}, prk))
        return {};
    // Expand: T(i) = HMAC(PRK, T(i-1) | info | i).
    const QByteArrayView prkView(reinterpret_cast<const char *>(prk), Sha256Bytes);
    QByteArray out(length, Qt::Uninitialized);
    unsigned char block[Sha256Bytes];
    const auto wipeBlock = qScopeGuard([&block] { OPENSSL_cleanse(block, sizeof block); });
    QByteArrayView previous;
    for (int offset = 0, counter = 1; offset < length; offset += Sha256Bytes, ++counter) {
        const char index = char(counter);
        if (!hmacSha256(prkView, {previous, info, QByteArrayView(&index, 1)}, block)) {
            secureWipe(out);
            return {};
        }
        std::memcpy(out.data() + offset, block, size_t(qMin(Sha256Bytes, length - offset)));
        previous = QByteArrayView(reinterpret_cast<const char *>(block), Sha256Bytes);
    }
    return out;
}

} // namespace Tessera::Server

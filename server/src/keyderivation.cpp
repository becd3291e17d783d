// SPDX-License-Identifier: MIT
#include "keyderivation.h"

#include <tessera/secret.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

namespace Tessera::Server {

QByteArray hkdfSha256(QByteArrayView key, QByteArrayView salt, QByteArrayView info, int length)
{
    if (key.isEmpty() || length <= 0)
        return {};
    EVP_KDF *kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    if (!kdf)
        return {};
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (!ctx)
        return {};
    static const char digest[] = "SHA256";
    // OSSL_PARAM takes non-const pointers; EVP_KDF_derive only reads them.
    const auto bytes = [](QByteArrayView view) { return const_cast<char *>(view.data()); };
    OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char *>(digest), 0),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, bytes(key), size_t(key.size())),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, bytes(salt),
                                              size_t(salt.size())),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, bytes(info),
                                              size_t(info.size())),
            OSSL_PARAM_construct_end(),
    };
    QByteArray out(length, '\0');
    const bool ok = EVP_KDF_derive(ctx, reinterpret_cast<unsigned char *>(out.data()),
                                   size_t(out.size()), params)
            == 1;
    EVP_KDF_CTX_free(ctx);
    if (!ok) {
        secureWipe(out);
        return {};
    }
    return out;
}

} // namespace Tessera::Server

// SPDX-License-Identifier: MIT
#include "sealedbox.h"

#include "keyderivation.h"

#include <tessera/jose.h>
#include <tessera/secret.h>

#include <QtCore/QScopeGuard>

#include <openssl/evp.h>

#include <memory>

namespace Tessera::Server {
namespace {

constexpr int KeyBytes = 32;
constexpr int NonceBytes = 12;
constexpr int TagBytes = 16;

struct CipherCtxDeleter
{
    void operator()(EVP_CIPHER_CTX *ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

// Fetched once for the life of the process (an implicit fetch by EVP_aes_256_gcm() per seal
// costs a provider lookup each time); a failed fetch falls back to the implicit one.
const EVP_CIPHER *aes256Gcm()
{
    static EVP_CIPHER *const fetched = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    return fetched ? fetched : EVP_aes_256_gcm();
}

QByteArray deriveKey(const QByteArray &token)
{
    return hkdfSha256(token, "tessera-server refresh successor", "aes-256-gcm key v1", KeyBytes);
}

} // namespace

QByteArray sealForToken(const QByteArray &token, const QByteArray &plaintext,
                        const QByteArray &associatedData)
{
    QByteArray key = deriveKey(token);
    const auto wipeKey = qScopeGuard([&key] { secureWipe(key); });
    CipherCtx ctx(EVP_CIPHER_CTX_new());
    if (key.isEmpty() || !ctx)
        return {};
    const QByteArray nonce = Jose::randomBytes(NonceBytes);
    QByteArray out = nonce;
    out.resize(NonceBytes + plaintext.size() + TagBytes);
    auto *cipherText = reinterpret_cast<unsigned char *>(out.data()) + NonceBytes;
    int length = 0;
    int finalLength = 0;
    if (EVP_EncryptInit_ex(ctx.get(), aes256Gcm(), nullptr,
                           reinterpret_cast<const unsigned char *>(key.constData()),
                           reinterpret_cast<const unsigned char *>(nonce.constData()))
                != 1
        || EVP_EncryptUpdate(ctx.get(), nullptr, &length,
                             reinterpret_cast<const unsigned char *>(associatedData.constData()),
                             int(associatedData.size()))
                != 1
        || EVP_EncryptUpdate(ctx.get(), cipherText, &length,
                             reinterpret_cast<const unsigned char *>(plaintext.constData()),
                             int(plaintext.size()))
                != 1
        || EVP_EncryptFinal_ex(ctx.get(), cipherText + length, &finalLength) != 1
        || EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, TagBytes,
                               cipherText + plaintext.size())
                != 1)
        return {};
    return out;
}

std::optional<QByteArray> openWithToken(const QByteArray &token, const QByteArray &sealed,
                                        const QByteArray &associatedData)
{
    if (sealed.size() < NonceBytes + TagBytes)
        return std::nullopt;
    QByteArray key = deriveKey(token);
    const auto wipeKey = qScopeGuard([&key] { secureWipe(key); });
    CipherCtx ctx(EVP_CIPHER_CTX_new());
    if (key.isEmpty() || !ctx)
        return std::nullopt;
    const qsizetype textSize = sealed.size() - NonceBytes - TagBytes;
    const auto *bytes = reinterpret_cast<const unsigned char *>(sealed.constData());
    QByteArray plaintext(textSize, '\0');
    int length = 0;
    int finalLength = 0;
    if (EVP_DecryptInit_ex(ctx.get(), aes256Gcm(), nullptr,
                           reinterpret_cast<const unsigned char *>(key.constData()), bytes)
                != 1
        || EVP_DecryptUpdate(ctx.get(), nullptr, &length,
                             reinterpret_cast<const unsigned char *>(associatedData.constData()),
                             int(associatedData.size()))
                != 1
        || EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char *>(plaintext.data()),
                             &length, bytes + NonceBytes, int(textSize))
                != 1
        || EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, TagBytes,
                               const_cast<unsigned char *>(bytes + NonceBytes + textSize))
                != 1
        || EVP_DecryptFinal_ex(ctx.get(),
                               reinterpret_cast<unsigned char *>(plaintext.data()) + length,
                               &finalLength)
                != 1) {
        // GCM writes the plaintext before it checks the tag: a refused box leaves bytes of
        // a refresh token here.
        secureWipe(plaintext);
        return std::nullopt;
    }
    return plaintext;
}

} // namespace Tessera::Server

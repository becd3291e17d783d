// SPDX-License-Identifier: MIT
// Tessera::Jose::Key: generation, PEM import and export, HS256 secrets, and the accessors.
// JWK import and export live in jwk.cpp, signing with a key in jws.cpp.
#include "crypto_p.h"
#include "jose_p.h"
#include "key_p.h"
#include "rsa_p.h"

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include <climits>
#include <cstring>

namespace Tessera::Jose {

using namespace Private;

Key KeyPrivate::fromPkey(EVP_PKEY *pkey, Algorithm algorithm, bool hasPrivate)
{
    auto p = std::make_shared<KeyPrivate>();
    p->algorithm = algorithm;
    if (algorithm == Algorithm::ES256 && hasPrivate) {
        p->pkey = std::shared_ptr<EVP_PKEY>(pkey, [](EVP_PKEY *key) {
            forgetEs256SignContext(key);
            EVP_PKEY_free(key);
        });
    } else {
        p->pkey = std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free);
    }
    p->hasPrivate = hasPrivate;
    p->thumbprint = jwkThumbprint(p->publicMembers());
    if (p->thumbprint.isEmpty())
        return {};
    return wrap(std::move(p));
}

Key KeyPrivate::fromSecret(QByteArrayView secret)
{
    auto p = std::make_shared<KeyPrivate>();
    p->algorithm = Algorithm::HS256;
    p->secret = std::make_shared<const Secret>(secret);
    p->hasPrivate = true;
    return wrap(std::move(p));
}

Key KeyPrivate::wrap(std::shared_ptr<KeyPrivate> p)
{
    Key key;
    key.d = std::move(p);
    return key;
}

void KeyPrivate::setKeyId(Key &key, const QString &keyId)
{
    // Copies share the key material (pkey, secret), never a mutable KeyPrivate.
    auto copy = std::make_shared<KeyPrivate>(*key.d);
    copy->keyIdSet = true;
    copy->keyId = keyId;
    key.d = std::move(copy);
}

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
        QByteArray secret = randomBytes(MinimumHs256SecretSize);
        Key key = KeyPrivate::fromSecret(secret);
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
    case Algorithm::RS256:
    case Algorithm::PS256:
        qCWarning(lcJose) << algorithm << "keys are for verification only and are never generated";
        return {};
    }
    return {};
}

namespace {

// The one PEM block of `pem` if its label is `label` and it has no headers (an encrypted key
// has them: PEM_read_bio never prompts for a passphrase, such keys are simply refused), as
// the key it holds; nullptr otherwise.
EVP_PKEY *readPem(QByteArrayView pem, const char *label, bool isPrivate)
{
    if (pem.size() > INT_MAX)
        return nullptr;
    const BioPtr bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
    if (!bio)
        return nullptr;
    char *name = nullptr;
    char *header = nullptr;
    unsigned char *der = nullptr;
    long length = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &der, &length) != 1)
        return nullptr;
    const bool accepted = std::strcmp(name, label) == 0 && (header == nullptr || header[0] == '\0');
    OPENSSL_free(name);
    OPENSSL_free(header);
    EVP_PKEY *pkey = nullptr;
    const unsigned char *p = der;
    if (accepted && isPrivate) {
        const Pkcs8Ptr info(d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, length));
        if (info && p == der + length)
            pkey = EVP_PKCS82PKEY(info.get());
    } else if (accepted) {
        pkey = d2i_PUBKEY(nullptr, &p, length);
        if (pkey && p != der + length) {
            EVP_PKEY_free(pkey);
            pkey = nullptr;
        }
    }
    OPENSSL_clear_free(der, size_t(length)); // for a private key, this is the key
    return pkey;
}

Key keyFromPem(QByteArrayView pem, Algorithm algorithm, bool isPrivate)
{
    // No RSA private keys: Tessera never signs with RSA.
    if (algorithm == Algorithm::HS256 || (isPrivate && isRsaAlgorithm(algorithm)))
        return {};
    EVP_PKEY *pkey = readPem(pem, isPrivate ? "PRIVATE KEY" : "PUBLIC KEY", isPrivate);
    if (!pkey)
        return {};
    if (isRsaAlgorithm(algorithm))
        return rsaKeyFromPkey(pkey, algorithm, nullptr);
    PkeyPtr owned(pkey);
    const bool rightType =
            algorithm == Algorithm::ES256 ? isP256Key(pkey) : EVP_PKEY_is_a(pkey, "ED25519") == 1;
    if (!rightType || !checkKey(pkey, isPrivate)) {
        qCDebug(lcJose) << "PEM key rejected: not a valid key for" << algorithm;
        return {};
    }
    return KeyPrivate::fromPkey(owned.release(), algorithm, isPrivate);
}

// The bytes a memory BIO holds.
QByteArrayView bioContents(BIO *bio)
{
    char *data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    return QByteArrayView(data, qsizetype(length));
}

} // namespace

Key Key::fromPrivateKeyPem(const Secret &pem, Algorithm algorithm)
{
    return keyFromPem(pem.reveal(), algorithm, true);
}

Key Key::fromPublicKeyPem(QByteArrayView pem, Algorithm algorithm)
{
    return keyFromPem(pem, algorithm, false);
}

Key Key::fromSecret(const Secret &secret)
{
    if (secret.size() < MinimumHs256SecretSize) {
        qCDebug(lcJose) << "HS256 secret rejected: shorter than 32 bytes";
        return {};
    }
    return KeyPrivate::fromSecret(secret.reveal());
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

Secret Key::privateKeyPem() const
{
    if (!d || !d->hasPrivate || !d->pkey)
        return {};
    // Secure heap memory until it is copied into the Secret.
    const BioPtr bio(BIO_new(BIO_s_secmem()));
    if (!bio
        || PEM_write_bio_PrivateKey(bio.get(), d->pkey.get(), nullptr, nullptr, 0, nullptr, nullptr)
                != 1)
        return {};
    return Secret(bioContents(bio.get()));
}

QByteArray Key::publicKeyPem() const
{
    if (!d || !d->pkey)
        return {};
    const BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), d->pkey.get()) != 1)
        return {};
    return bioContents(bio.get()).toByteArray();
}

Secret Key::secret() const
{
    if (!d || d->algorithm != Algorithm::HS256)
        return {};
    return d->secret->clone();
}

QString Key::thumbprint() const
{
    return d ? d->thumbprint : QString();
}

} // namespace Tessera::Jose

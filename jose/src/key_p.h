// SPDX-License-Identifier: MIT
// Private to Tessera::Jose: what a Key holds. Copies of a Key share one immutable KeyPrivate.
#pragma once

#include <tessera/jose.h>
#include <tessera/secret.h>

#include <QtCore/QJsonObject>

#include <openssl/evp.h>

#include <memory>

namespace Tessera::Jose {

class KeyPrivate
{
public:
    Algorithm algorithm = Algorithm::ES256;
    std::shared_ptr<EVP_PKEY> pkey;       // ES256, EdDSA
    std::shared_ptr<const Secret> secret; // HS256
    bool hasPrivate = false;
    bool keyIdSet = false;
    QString keyId;
    QString thumbprint;

    // Takes ownership of pkey. A null Key when its thumbprint cannot be computed.
    static Key fromPkey(EVP_PKEY *pkey, Algorithm algorithm, bool hasPrivate);
    // HS256 without the length check (Key::fromSecret does it).
    static Key fromSecret(QByteArrayView secret);
    static Key wrap(std::shared_ptr<KeyPrivate> p);
    static const KeyPrivate *get(const Key &key) { return key.d.get(); }
    static void setKeyId(Key &key, const QString &keyId);

    // kty, crv and the public coordinates: the members RFC 7638 hashes (jwk.cpp).
    QJsonObject publicMembers() const;

    // The JWS signature of `input` with this key's algorithm (jws.cpp); empty when it cannot sign.
    QByteArray sign(QByteArrayView input) const;
    bool verify(QByteArrayView input, QByteArrayView signature) const;
};

} // namespace Tessera::Jose

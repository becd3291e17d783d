// SPDX-License-Identifier: MIT
// libFuzzer target: the JOSE parser and verifier (compact JWS, claims, JWK import).
#include <tessera/jose.h>

#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>

#include <cstdint>

using namespace Tessera::Jose;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const QList<Key> keys = [] {
        Key es = Key::generate(Algorithm::ES256);
        Key ed = Key::generate(Algorithm::EdDSA);
        Key hs = Key::fromSecret(Tessera::Secret(QByteArray(32, 'k')));
        hs.setKeyId(QStringLiteral("hs"));
        return QList<Key>{es, ed, hs};
    }();
    const QByteArrayView input(reinterpret_cast<const char *>(data), qsizetype(size));

    base64UrlDecode(input);
    verifyCompact(input, keys);
    verifyCompact(input, {keys.first()});
    ClaimRequirements requirements;
    requirements.issuer = QStringLiteral("iss");
    requirements.audience = QStringLiteral("aud");
    requirements.type = QStringLiteral("at+jwt");
    requirements.requiredClaims = {QStringLiteral("sub")};
    verifyJwt(input, keys, requirements);

    const QJsonDocument document = QJsonDocument::fromJson(input.toByteArray());
    if (document.isObject()) {
        const Key key = Key::fromJwk(document.object());
        if (!key.isNull()) {
            key.publicJwk();
            key.thumbprint();
        }
        jwkThumbprint(document.object());
    }
    return 0;
}

// SPDX-License-Identifier: MIT
// libFuzzer target: the JOSE parser and verifier (compact JWS, claims, JWK import) and the
// strict JSON-object parser, checked against QJsonDocument: what the strict parser accepts,
// Qt must accept and read as the same object.
#include <tessera/jose.h>
#include <tessera/strictjson.h>

#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>

#include <cstdint>
#include <cstdlib>

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

    const std::optional<QJsonObject> object = parseJsonObject(input);
    if (object) {
        QJsonParseError error;
        const QJsonDocument document = QJsonDocument::fromJson(input.toByteArray(), &error);
        if (error.error != QJsonParseError::NoError || document.object() != *object)
            std::abort(); // the two parsers read an accepted document differently
        const Key key = Key::fromJwk(*object);
        if (!key.isNull()) {
            key.publicJwk();
            key.thumbprint();
        }
        jwkThumbprint(*object);
    }
    return 0;
}

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
        // RFC 7515 A.2's RSA key, once for RS256 (kid "rs") and once for PS256 (kid "ps").
        const QJsonObject rsaJwk{
                {QStringLiteral("kty"), QStringLiteral("RSA")},
                {QStringLiteral("e"), QStringLiteral("AQAB")},
                {QStringLiteral("n"),
                 QStringLiteral(
                         "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-"
                         "Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b"
                         "32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-"
                         "KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_"
                         "I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb"
                         "54h4FRWyuXpoQ")}};
        Key rs = Key::fromJwk(rsaJwk, Algorithm::RS256);
        rs.setKeyId(QStringLiteral("rs"));
        Key ps = Key::fromJwk(rsaJwk, Algorithm::PS256);
        ps.setKeyId(QStringLiteral("ps"));
        if (rs.isNull() || ps.isNull())
            std::abort();
        return QList<Key>{es, ed, hs, rs, ps};
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
        QString problem;
        const Key key = Key::fromJwk(*object, &problem);
        if (key.isNull() == problem.isEmpty())
            std::abort(); // a refusal always says why, an accepted key never has a problem
        if (!key.isNull()) {
            key.publicJwk();
            key.thumbprint();
        }
        jwkThumbprint(*object);
    }
    return 0;
}

// SPDX-License-Identifier: MIT
// libFuzzer target: the JOSE parser and verifier (compact JWS, claims, JWK import), the DPoP
// proof verifier and htu normaliser, and the strict JSON-object parser, checked against
// QJsonDocument: what the strict parser accepts, Qt must accept and read as the same object.
#include <tessera/dpop.h>
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

    // The input as a DPoP proof; "now" is the iat of RFC 9449's example proof (in the corpus),
    // so mutations of it reach the claim checks behind the signature.
    static Dpop::ReplayCache replayCache(1024);
    Dpop::ExpectedRequest expected;
    expected.method = "POST";
    expected.url = QUrl(QStringLiteral("https://server.example.com/token"));
    expected.now = 1562262616;
    const QByteArray token("token");
    expected.accessToken = QByteArrayView(token);
    expected.nonces = {QStringLiteral("nonce")};
    const Dpop::VerifyResult proof =
            Dpop::verifyProof({input.toByteArray()}, expected, replayCache);
    if (!proof.ok() && (!proof.jkt.isEmpty() || !proof.jti.isEmpty() || proof.reason.isEmpty()))
        std::abort(); // a refused proof gives nothing out and always says why
    const QString url = QString::fromLatin1(input.toByteArray());
    if (const auto htu = Dpop::normalizeHtu(QStringView(url))) {
        if (Dpop::normalizeHtu(QStringView(*htu)) != htu)
            std::abort(); // the normal form is its own normal form
    }

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

// SPDX-License-Identifier: MIT
// JWS (RFC 7515) compact serialization: the algorithms and their signatures (RFC 7518
// sections 3.2 to 3.5, RFC 8037 section 3.1), signing, and verification with key selection.
#include "crypto_p.h"
#include "jose_p.h"
#include "key_p.h"
#include "rsa_p.h"

#include <tessera/strictjson.h>

#include <QtCore/QJsonDocument>

#include <variant>

Q_LOGGING_CATEGORY(lcJose, "tessera.jose", QtWarningMsg)

namespace Tessera::Jose {

using namespace Private;

QByteArray Private::compactJson(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

QByteArray KeyPrivate::sign(QByteArrayView input) const
{
    if (!hasPrivate)
        return {};
    switch (algorithm) {
    case Algorithm::HS256:
        return hmacSha256(secret->reveal(), input);
    case Algorithm::ES256:
        return es256Sign(pkey, input);
    case Algorithm::EdDSA:
        return digestSign(pkey.get(), nullptr, input);
    case Algorithm::RS256:
    case Algorithm::PS256:
        return {}; // verification only (hasPrivate is never set for RSA keys)
    }
    return {};
}

bool KeyPrivate::verify(QByteArrayView input, QByteArrayView signature) const
{
    switch (algorithm) {
    case Algorithm::HS256: {
        const QByteArray expected = hmacSha256(secret->reveal(), input);
        return !expected.isEmpty() && constantTimeEquals(expected, signature);
    }
    case Algorithm::ES256: {
        // Exactly r||s; a DER signature or one of another size is not an ES256 signature.
        if (signature.size() != Es256SignatureSize)
            return false;
        if (!isP256Scalar(bytes(signature)) || !isP256Scalar(bytes(signature) + 32))
            return false;
        const QByteArray der = rawToDer(signature);
        return !der.isEmpty() && es256VerifyDer(pkey.get(), input, der);
    }
    case Algorithm::EdDSA:
        return signature.size() == Ed25519SignatureSize
                && digestVerify(pkey.get(), nullptr, input, signature);
    case Algorithm::RS256:
    case Algorithm::PS256:
        return rsaVerify(pkey.get(), algorithm, input, signature);
    }
    return false;
}

QString algorithmName(Algorithm algorithm)
{
    switch (algorithm) {
    case Algorithm::ES256:
        return QStringLiteral("ES256");
    case Algorithm::EdDSA:
        return QStringLiteral("EdDSA");
    case Algorithm::HS256:
        return QStringLiteral("HS256");
    case Algorithm::RS256:
        return QStringLiteral("RS256");
    case Algorithm::PS256:
        return QStringLiteral("PS256");
    }
    return {};
}

bool canSign(Algorithm algorithm)
{
    return !isRsaAlgorithm(algorithm);
}

std::optional<Algorithm> algorithmFromName(QStringView name)
{
    // Case-sensitive (RFC 7515 section 4.1.1): "es256" and "NONE" are not algorithms here.
    for (const Algorithm algorithm : {Algorithm::ES256, Algorithm::EdDSA, Algorithm::HS256,
                                      Algorithm::RS256, Algorithm::PS256}) {
        if (name == algorithmName(algorithm))
            return algorithm;
    }
    return std::nullopt;
}

// --- signing ------------------------------------------------------------------------------

QByteArray Private::signSigningInput(const Key &key, QByteArrayView signingInput)
{
    const KeyPrivate *d = KeyPrivate::get(key);
    return d ? d->sign(signingInput) : QByteArray();
}

QByteArray jwsSigningInput(const Key &key, QByteArrayView payload, QJsonObject header)
{
    if (!key.hasPrivateKey())
        return {};
    header.insert(QLatin1String("alg"), algorithmName(key.algorithm()));
    const QString kid = key.keyId();
    if (!kid.isEmpty())
        header.insert(QLatin1String("kid"), kid);
    QByteArray input = base64UrlEncode(compactJson(header));
    input += '.';
    input += base64UrlEncode(payload);
    return input;
}

QByteArray jwsSignature(const Key &key, QByteArrayView signingInput)
{
    if (signingInput.isEmpty())
        return {};
    const QByteArray signature = Private::signSigningInput(key, signingInput);
    return signature.isEmpty() ? QByteArray() : base64UrlEncode(signature);
}

QByteArray signCompact(const Key &key, QByteArrayView payload, QJsonObject header)
{
    QByteArray compact = jwsSigningInput(key, payload, std::move(header));
    const QByteArray signature = jwsSignature(key, compact);
    if (signature.isEmpty())
        return {};
    compact += '.';
    compact += signature;
    return compact;
}

// --- verification -------------------------------------------------------------------------

QString errorString(Error error)
{
    switch (error) {
    case Error::None:
        return QStringLiteral("No error");
    case Error::TooLarge:
        return QStringLiteral("Token exceeds the size limit");
    case Error::Malformed:
        return QStringLiteral("Token is malformed");
    case Error::UnsupportedAlgorithm:
        return QStringLiteral("Token algorithm is not supported");
    case Error::AlgorithmMismatch:
        return QStringLiteral("Token algorithm does not match the key");
    case Error::ForbiddenHeader:
        return QStringLiteral("Token header names a key source that is not accepted");
    case Error::UnsupportedCritical:
        return QStringLiteral("Token header has critical extensions");
    case Error::UnknownKey:
        return QStringLiteral("No key matches the token");
    case Error::BadSignature:
        return QStringLiteral("Token signature is invalid");
    case Error::Expired:
        return QStringLiteral("Token has expired");
    case Error::NotYetValid:
        return QStringLiteral("Token is not yet valid");
    case Error::IssuedInFuture:
        return QStringLiteral("Token is issued in the future");
    case Error::MissingClaim:
        return QStringLiteral("A required claim is missing or has the wrong type");
    case Error::WrongIssuer:
        return QStringLiteral("Token issuer is not accepted");
    case Error::WrongAudience:
        return QStringLiteral("Token audience is not accepted");
    case Error::WrongType:
        return QStringLiteral("Token type is not accepted");
    }
    return QStringLiteral("Unknown error");
}

VerifyResult Private::rejected(Error error)
{
    qCDebug(lcJose) << "token rejected:" << error;
    VerifyResult result;
    result.error = error;
    return result;
}

std::optional<QJsonObject> Private::parseTokenJson(QByteArrayView json, const char *what)
{
    QString problem;
    auto object = parseJsonObject(json, &problem);
    if (!object)
        qCDebug(lcJose) << what << "is not a strict JSON object:" << problem;
    return object;
}

namespace {

// The single key for this header, or the error.
std::variant<Key, Error> selectKey(const QJsonObject &header, const QList<Key> &keys)
{
    const QJsonValue kid = header.value(QLatin1String("kid"));
    if (kid.isUndefined()) {
        if (keys.size() == 1 && !keys.front().isNull())
            return keys.front();
        return Error::UnknownKey;
    }
    if (!kid.isString())
        return Error::Malformed;
    const QString wanted = kid.toString();
    const Key *match = nullptr;
    for (const Key &key : keys) {
        if (key.isNull() || key.keyId().isEmpty() || key.keyId() != wanted)
            continue;
        if (match)
            return Error::UnknownKey; // ambiguous: never let the header pick between keys
        match = &key;
    }
    if (!match)
        return Error::UnknownKey;
    return *match;
}

} // namespace

VerifyResult verifyCompact(QByteArrayView compact, const QList<Key> &keys, qsizetype maxSize)
{
    // The size check comes before anything else looks at the input.
    if (compact.size() > maxSize)
        return rejected(Error::TooLarge);

    const qsizetype firstDot = compact.indexOf('.');
    const qsizetype secondDot = firstDot < 0 ? -1 : compact.indexOf('.', firstDot + 1);
    if (secondDot < 0 || compact.indexOf('.', secondDot + 1) >= 0)
        return rejected(Error::Malformed);
    const QByteArrayView signingInput = compact.first(secondDot);
    const auto headerJson = base64UrlDecode(compact.first(firstDot));
    const auto payload = base64UrlDecode(compact.sliced(firstDot + 1, secondDot - firstDot - 1));
    const auto signature = base64UrlDecode(compact.sliced(secondDot + 1));
    if (!headerJson || !payload || !signature)
        return rejected(Error::Malformed);

    // Strict: a header with two "alg" (or "kid", "crit", ...) is refused, not read one way here
    // and another way by the next parser.
    const auto header = parseTokenJson(*headerJson, "JOSE header");
    if (!header)
        return rejected(Error::Malformed);
    const QJsonValue alg = header->value(QLatin1String("alg"));
    if (!alg.isString())
        return rejected(Error::Malformed);
    const auto algorithm = algorithmFromName(alg.toString());
    if (!algorithm)
        return rejected(Error::UnsupportedAlgorithm);
    for (const char *name : {"jku", "x5u", "x5c", "jwk"}) {
        if (header->contains(QLatin1String(name)))
            return rejected(Error::ForbiddenHeader);
    }
    if (header->contains(QLatin1String("crit")))
        return rejected(Error::UnsupportedCritical);

    const auto selected = selectKey(*header, keys);
    if (const Error *error = std::get_if<Error>(&selected))
        return rejected(*error);
    const Key &key = std::get<Key>(selected);
    // The key's algorithm is the one used; the header only has to agree with it.
    if (*algorithm != key.algorithm())
        return rejected(Error::AlgorithmMismatch);
    if (!KeyPrivate::get(key)->verify(signingInput, *signature))
        return rejected(Error::BadSignature);

    VerifyResult result;
    result.error = Error::None;
    result.header = *header;
    result.payload = *payload;
    return result;
}

} // namespace Tessera::Jose

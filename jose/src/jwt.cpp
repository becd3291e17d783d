// SPDX-License-Identifier: MIT
// JWT (RFC 7519): signing a claim set, the claim checks (time, issuer, audience, type,
// required claims) and verification of a JWT end to end.
#include "jose_p.h"

#include <QtCore/QDateTime>
#include <QtCore/QJsonArray>

#include <algorithm>
#include <cmath>

namespace Tessera::Jose {

using namespace Private;

namespace {

QJsonObject jwtHeader(const QString &type)
{
    QJsonObject header;
    if (!type.isEmpty())
        header.insert(QLatin1String("typ"), type);
    return header;
}

} // namespace

QByteArray signJwt(const Key &key, const QJsonObject &claims, const QString &type)
{
    return signCompact(key, compactJson(claims), jwtHeader(type));
}

QByteArray jwtSigningInput(const Key &key, const QJsonObject &claims, const QString &type)
{
    return jwsSigningInput(key, compactJson(claims), jwtHeader(type));
}

namespace {

bool isNumericDate(const QJsonValue &value)
{
    return value.isDouble() && std::isfinite(value.toDouble());
}

// RFC 7515 section 4.1.9: a "typ" without '/' means "application/" + typ; media types
// compare case-insensitively.
QString normalizedType(const QString &type)
{
    const QString lower = type.toLower();
    return lower.contains(QLatin1Char('/')) ? lower : QLatin1String("application/") + lower;
}

bool isPresent(const QJsonValue &value)
{
    return !value.isUndefined() && !value.isNull();
}

Error checkAudience(const QJsonValue &aud, const QString &audience)
{
    if (aud.isString())
        return aud.toString() == audience ? Error::None : Error::WrongAudience;
    if (!aud.isArray())
        return Error::MissingClaim;
    bool found = false;
    for (const QJsonValue &entry : aud.toArray()) {
        if (!entry.isString())
            return Error::MissingClaim;
        found = found || entry.toString() == audience;
    }
    return found ? Error::None : Error::WrongAudience;
}

} // namespace

Error checkClaims(const QJsonObject &header, const QJsonObject &claims,
                  const ClaimRequirements &requirements)
{
    if (!requirements.type.isEmpty()) {
        const QJsonValue typ = header.value(QLatin1String("typ"));
        if (!typ.isString() || normalizedType(typ.toString()) != normalizedType(requirements.type))
            return Error::WrongType;
    }

    for (const QString &name : requirements.requiredClaims) {
        if (!isPresent(claims.value(name)))
            return Error::MissingClaim;
    }

    // Compared as doubles: a huge but finite exp is simply far in the future, never an overflow.
    const double now =
            double(requirements.now ? *requirements.now : QDateTime::currentSecsSinceEpoch());
    const double leeway = double(std::max<qint64>(0, requirements.leeway.count()));

    const QJsonValue exp = claims.value(QLatin1String("exp"));
    if (exp.isUndefined()) {
        if (requirements.requireExpiry)
            return Error::MissingClaim;
    } else if (!isNumericDate(exp)) {
        return Error::MissingClaim;
    } else if (exp.toDouble() <= now - leeway) {
        return Error::Expired;
    }

    const QJsonValue nbf = claims.value(QLatin1String("nbf"));
    if (!nbf.isUndefined()) {
        if (!isNumericDate(nbf))
            return Error::MissingClaim;
        if (nbf.toDouble() > now + leeway)
            return Error::NotYetValid;
    }

    const QJsonValue iat = claims.value(QLatin1String("iat"));
    if (!iat.isUndefined()) {
        if (!isNumericDate(iat))
            return Error::MissingClaim;
        if (iat.toDouble() > now + leeway)
            return Error::IssuedInFuture;
    }

    if (!requirements.issuer.isEmpty()) {
        const QJsonValue iss = claims.value(QLatin1String("iss"));
        if (!iss.isString())
            return Error::MissingClaim;
        if (iss.toString() != requirements.issuer)
            return Error::WrongIssuer;
    }

    if (!requirements.audience.isEmpty())
        return checkAudience(claims.value(QLatin1String("aud")), requirements.audience);
    return Error::None;
}

VerifyResult verifyJwt(QByteArrayView compact, const QList<Key> &keys,
                       const ClaimRequirements &requirements, qsizetype maxSize)
{
    VerifyResult result = verifyCompact(compact, keys, maxSize);
    if (!result.ok())
        return result;
    // Only now, with the signature verified, is the payload parsed; strictly, so that two "exp"
    // or two "sub" members are refused instead of read as whichever comes last.
    const auto claims = parseTokenJson(result.payload, "JWT claim set");
    if (!claims)
        return rejected(Error::Malformed);
    // A rejected token yields nothing but the error, so no caller can use its claims by mistake.
    if (const Error error = checkClaims(result.header, *claims, requirements); error != Error::None)
        return rejected(error);
    result.claims = *claims;
    return result;
}

} // namespace Tessera::Jose

// SPDX-License-Identifier: MIT
#include "idtoken_p.h"

#include "../accesstiming_p.h"
#include "../logging_p.h"

#include <tessera/strictjson.h>

#include <QtCore/QJsonArray>
#include <QtCore/QJsonObject>

#include <algorithm>
#include <cmath>
#include <memory>

namespace Tessera::OAuth {
namespace {

using Jose::Algorithm;

// The JOSE header, decoded without verifying anything: only to choose the key and refuse
// what must never be verified.
std::optional<QJsonObject> peekHeader(QByteArrayView token)
{
    const qsizetype dot = token.indexOf('.');
    if (dot < 0)
        return std::nullopt;
    const std::optional<QByteArray> json = Jose::base64UrlDecode(token.first(dot));
    if (!json)
        return std::nullopt;
    return Jose::parseJsonObject(*json);
}

std::optional<Algorithm> allowedAlgorithm(const QString &name, const QStringList &advertised,
                                          QString *why)
{
    const std::optional<Algorithm> algorithm = Jose::algorithmFromName(name);
    // "none" and unknown names: nothing verifies them.
    if (!algorithm) {
        *why = QStringLiteral("its algorithm is not one the SDK verifies");
        return std::nullopt;
    }
    // A public client shares no secret with the provider: an HS256 token could only be
    // "signed" with something public, such as the bytes of the provider's RSA key.
    if (*algorithm == Algorithm::HS256) {
        *why = QStringLiteral("HS256 is not accepted from a provider for a public client");
        return std::nullopt;
    }
    const QStringList allowed =
            advertised.isEmpty() ? QStringList{QStringLiteral("RS256")} : advertised;
    if (!allowed.contains(name)) {
        *why = QStringLiteral("its algorithm %1 is not in the provider's "
                              "id_token_signing_alg_values_supported")
                       .arg(name);
        return std::nullopt;
    }
    return algorithm;
}

bool isPrintableAscii(const QString &text)
{
    return std::all_of(text.cbegin(), text.cend(),
                       [](QChar c) { return c.unicode() >= 0x20 && c.unicode() < 0x7f; });
}

// A NumericDate (RFC 7519 §2) that fits in qint64 seconds.
std::optional<qint64> numericDate(const QJsonValue &value)
{
    if (!value.isDouble() || !std::isfinite(value.toDouble()) || value.toDouble() < 0
        || value.toDouble() > 1e15)
        return std::nullopt;
    return qint64(std::floor(value.toDouble()));
}

// The claim checks of §3.1.3.7 items 2-3, 9-11 and §2 on a verified payload. Empty when all
// pass, else why not.
QString claimProblem(const QJsonObject &claims, const IdTokenExpectations &expected, qint64 nowS)
{
    const QJsonValue iss = claims.value(QLatin1String("iss"));
    if (!iss.isString())
        return QStringLiteral("it has no \"iss\"");
    if (iss.toString() != expected.issuer)
        return QStringLiteral("its \"iss\" is not the issuer %1").arg(expected.issuer);

    const QJsonValue aud = claims.value(QLatin1String("aud"));
    QStringList audiences;
    if (aud.isString()) {
        audiences.append(aud.toString());
    } else if (aud.isArray()) {
        for (const QJsonValue &entry : aud.toArray()) {
            if (!entry.isString())
                return QStringLiteral("its \"aud\" holds a value that is not a string");
            audiences.append(entry.toString());
        }
    } else {
        return QStringLiteral("it has no \"aud\"");
    }
    if (!audiences.contains(expected.clientId))
        return QStringLiteral("its \"aud\" does not name the client");
    for (const QString &audience : std::as_const(audiences)) {
        if (audience != expected.clientId && !expected.trustedAudiences.contains(audience))
            return QStringLiteral("its \"aud\" names an audience the client does not trust");
    }
    const QJsonValue azp = claims.value(QLatin1String("azp"));
    // With several audiences, "azp" says which party the token was issued to (§2).
    if (audiences.size() > 1 && azp.isUndefined())
        return QStringLiteral("it has several audiences and no \"azp\"");
    if (!azp.isUndefined() && azp != QJsonValue(expected.clientId))
        return QStringLiteral("its \"azp\" is not the client");

    const std::optional<qint64> exp = numericDate(claims.value(QLatin1String("exp")));
    const std::optional<qint64> iat = numericDate(claims.value(QLatin1String("iat")));
    if (!exp || !iat)
        return QStringLiteral("it has no valid \"exp\" or \"iat\"");
    const qint64 tolerance = IdTokenClockTolerance.count();
    if (*exp <= nowS - tolerance)
        return QStringLiteral("it has expired");
    if (*iat > nowS + tolerance)
        return QStringLiteral("it was issued in the future");
    const QJsonValue nbf = claims.value(QLatin1String("nbf"));
    if (!nbf.isUndefined()) {
        const std::optional<qint64> notBefore = numericDate(nbf);
        if (!notBefore || *notBefore > nowS + tolerance)
            return QStringLiteral("it is not valid yet (\"nbf\")");
    }

    if (!expected.nonce.isEmpty()) {
        const QJsonValue nonce = claims.value(QLatin1String("nonce"));
        if (!nonce.isString())
            return QStringLiteral("it has no \"nonce\" though one was sent");
        if (!Jose::constantTimeEquals(nonce.toString().toUtf8(), expected.nonce))
            return QStringLiteral("its \"nonce\" is not the one sent");
    }

    const QJsonValue sub = claims.value(QLatin1String("sub"));
    if (!sub.isString() || sub.toString().isEmpty())
        return QStringLiteral("it has no \"sub\"");
    if (sub.toString().size() > MaxSubjectLength || !isPrintableAscii(sub.toString()))
        return QStringLiteral("its \"sub\" is not at most %1 printable ASCII characters")
                .arg(MaxSubjectLength);
    const QJsonValue authTime = claims.value(QLatin1String("auth_time"));
    if (!authTime.isUndefined() && !numericDate(authTime))
        return QStringLiteral("its \"auth_time\" is not a number");
    return {};
}

} // namespace

QString idTokenKeyId(QByteArrayView idToken)
{
    if (idToken.size() > MaxIdTokenBytes)
        return {};
    const std::optional<QJsonObject> header = peekHeader(idToken);
    return header ? header->value(QLatin1String("kid")).toString() : QString();
}

std::optional<IdTokenClaims> validateIdToken(const Secret &idToken, const QList<JwksKey> &keys,
                                             const IdTokenExpectations &expected, Error *error)
{
    const auto refuse = [error](const QString &why) {
        qCWarning(lcSession) << "ID token refused:" << why;
        *error = {Error::Code::InvalidResponse, QStringLiteral("ID token refused: %1").arg(why)};
        return std::nullopt;
    };
    const QByteArrayView token = idToken.reveal();
    if (token.size() > MaxIdTokenBytes)
        return refuse(QStringLiteral("it is larger than %1 bytes").arg(MaxIdTokenBytes));
    // A JWE compact serialization has five parts (RFC 7516 §7.1). The client registers no
    // encryption key, so an encrypted ID token is not one the provider should send.
    if (token.count('.') == 4)
        return refuse(QStringLiteral("it is encrypted (JWE); the client accepts signed tokens"));
    if (token.count('.') != 2)
        return refuse(QStringLiteral("it is not a JWS compact serialization"));

    const std::optional<QJsonObject> header = peekHeader(token);
    if (!header || !header->value(QLatin1String("alg")).isString())
        return refuse(QStringLiteral("its header is not readable"));
    QString why;
    const std::optional<Algorithm> algorithm = allowedAlgorithm(
            header->value(QLatin1String("alg")).toString(), expected.signingAlgorithms, &why);
    if (!algorithm)
        return refuse(why);

    // §10.1: with several keys in the set the header must name one with "kid".
    const QJsonValue kid = header->value(QLatin1String("kid"));
    if (!kid.isUndefined() && !kid.isString())
        return refuse(QStringLiteral("its \"kid\" is not a string"));
    QList<Jose::Key> candidates;
    for (const JwksKey &key : keys) {
        if (kid.isString() ? key.keyId == kid.toString() : keys.size() == 1) {
            const Jose::Key forAlgorithm = key.forAlgorithm(*algorithm);
            if (!forAlgorithm.isNull())
                candidates.append(forAlgorithm);
        }
    }
    if (candidates.isEmpty())
        return refuse(kid.isString()
                              ? QStringLiteral("no key of the provider's JWKS for its \"kid\" "
                                               "and algorithm")
                              : QStringLiteral("it names no \"kid\" and the provider's JWKS "
                                               "does not hold exactly one key for it"));

    Jose::VerifyResult verified = Jose::verifyCompact(token, candidates, MaxIdTokenBytes);
    if (!verified.ok())
        return refuse(Jose::errorString(verified.error));
    QString problem;
    const std::optional<QJsonObject> claims = Jose::parseJsonObject(verified.payload, &problem);
    secureWipe(verified.payload);
    if (!claims)
        return refuse(QStringLiteral("its payload is not a strict JSON object"));

    if (qAbs(expected.serverSkewMs) > MaxTrustedSkewMs)
        return refuse(QStringLiteral("the provider's clock is implausibly far off"));
    const qint64 skewMs = qAbs(expected.serverSkewMs) < 1500 ? 0 : expected.serverSkewMs;
    const qint64 nowS = (expected.nowMs.value_or(Tessera::nowMs()) + skewMs) / 1000;
    why = claimProblem(*claims, expected, nowS);
    if (!why.isEmpty())
        return refuse(why);

    IdTokenClaims result;
    result.subject = claims->value(QLatin1String("sub")).toString();
    const QJsonValue username = claims->value(QLatin1String("preferred_username"));
    result.username = username.isString() && !username.toString().isEmpty() ? username.toString()
                                                                            : result.subject;
    if (claims->contains(QLatin1String("auth_time")))
        result.authTime = numericDate(claims->value(QLatin1String("auth_time")));
    result.sessionId = claims->value(QLatin1String("sid")).toString();
    return result;
}

IdTokenValidator::IdTokenValidator(JwksCache &keys, QObject *parent)
    : QObject(parent)
    , m_keys(keys)
{ }

QFuture<IdTokenClaims> IdTokenValidator::validate(Secret idToken,
                                                  const IdTokenExpectations &expected)
{
    const QString keyId = idTokenKeyId(idToken.reveal());
    // The continuation is copied by QFuture: the token is shared, not copied, and wiped when
    // the last holder goes.
    auto token = std::make_shared<Secret>(std::move(idToken));
    return m_keys.keysFor(keyId).then(this, [this, token, expected]() {
        Error error;
        std::optional<IdTokenClaims> claims =
                validateIdToken(*token, m_keys.keys(), expected, &error);
        token->clear();
        if (!claims)
            throw ErrorException(error);
        return *claims;
    });
}

} // namespace Tessera::OAuth

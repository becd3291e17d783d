// SPDX-License-Identifier: MIT
#include "tokenresponse_p.h"

#include <tessera/jose.h>

#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>

#include <cmath>

namespace Tessera {
namespace {

constexpr qint64 MaxLifetimeSeconds = 30 * 24 * 3600;

bool isPrintableAscii(QByteArrayView text)
{
    for (char c : text) {
        if (c < 0x21 || c > 0x7e)
            return false;
    }
    return true;
}

std::optional<QJsonObject> decodeSegment(QByteArrayView segment)
{
    const auto bytes = Jose::base64UrlDecode(segment);
    if (!bytes)
        return std::nullopt;
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(*bytes, &error);
    if (error.error != QJsonParseError::NoError || !document.isObject())
        return std::nullopt;
    return document.object();
}

std::optional<qint64> wholeSeconds(const QJsonValue &value)
{
    if (!value.isDouble())
        return std::nullopt;
    const double number = value.toDouble();
    if (!std::isfinite(number) || number < 0 || number > 1e11)
        return std::nullopt;
    return qint64(number);
}

} // namespace

std::optional<AccessClaims> readAccessClaims(QByteArrayView token, qint64 serverNow,
                                             QString *problem)
{
    if (token.isEmpty() || token.size() > MaxAccessTokenBytes || !isPrintableAscii(token)) {
        *problem = QStringLiteral("access token is empty, too long or has invalid characters");
        return std::nullopt;
    }
    const qsizetype firstDot = token.indexOf('.');
    const qsizetype secondDot = firstDot < 0 ? -1 : token.sliced(firstDot + 1).indexOf('.');
    if (firstDot <= 0 || secondDot <= 0) {
        *problem = QStringLiteral("access token is not a JWT");
        return std::nullopt;
    }
    const QByteArrayView headerPart = token.first(firstDot);
    const QByteArrayView payloadPart = token.sliced(firstDot + 1, secondDot);
    const QByteArrayView signaturePart = token.sliced(firstDot + 1 + secondDot + 1);
    if (signaturePart.isEmpty() || signaturePart.contains('.')) {
        *problem = QStringLiteral("access token is not a signed JWT");
        return std::nullopt;
    }
    const auto header = decodeSegment(headerPart);
    const auto payload = decodeSegment(payloadPart);
    if (!header || !payload) {
        *problem = QStringLiteral("access token header or payload is not a JSON object");
        return std::nullopt;
    }
    const QString algorithm = header->value(QStringLiteral("alg")).toString();
    if (algorithm.isEmpty() || algorithm.compare(u"none", Qt::CaseInsensitive) == 0) {
        *problem = QStringLiteral("access token is unsigned (alg none)");
        return std::nullopt;
    }
    AccessClaims claims;
    const auto exp = wholeSeconds(payload->value(QStringLiteral("exp")));
    if (!exp) {
        *problem = QStringLiteral("access token has no numeric exp");
        return std::nullopt;
    }
    claims.expiresAt = *exp;
    if (payload->contains(QStringLiteral("iat"))) {
        claims.issuedAt = wholeSeconds(payload->value(QStringLiteral("iat")));
        if (!claims.issuedAt || *claims.issuedAt >= claims.expiresAt) {
            *problem = QStringLiteral("access token iat is not before exp");
            return std::nullopt;
        }
        // An iat of 0 (or years back) would make any exp look like a long lifetime.
        if (claims.expiresAt - *claims.issuedAt > MaxLifetimeSeconds) {
            *problem = QStringLiteral("access token lifetime (exp - iat) is implausible");
            return std::nullopt;
        }
    }
    if (claims.expiresAt > serverNow + MaxLifetimeSeconds) {
        *problem = QStringLiteral("access token exp is implausibly far in the future");
        return std::nullopt;
    }
    return claims;
}

std::optional<TokenResponse> parseTokenResponse(QByteArrayView body, bool refreshRequired,
                                                qint64 serverNow, QString *problem)
{
    if (body.size() > MaxTokenResponseBytes) {
        *problem = QStringLiteral("token response is too large");
        return std::nullopt;
    }
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(body.toByteArray(), &error);
    if (error.error != QJsonParseError::NoError || !document.isObject()) {
        *problem = QStringLiteral("token response is not a JSON object");
        return std::nullopt;
    }
    const QJsonObject object = document.object();
    const QJsonValue access = object.value(QStringLiteral("access"));
    if (!access.isString()) {
        *problem = QStringLiteral("token response has no access token");
        return std::nullopt;
    }
    const QByteArray accessBytes = access.toString().toUtf8();
    auto claims = readAccessClaims(accessBytes, serverNow, problem);
    if (!claims)
        return std::nullopt;

    TokenResponse response;
    const QJsonValue type = object.value(QStringLiteral("token_type"));
    if (!type.isUndefined()) {
        const QString name = type.toString();
        response.dpopBound = name.compare(QLatin1String("DPoP"), Qt::CaseInsensitive) == 0;
        if (!response.dpopBound
            && name.compare(QLatin1String("Bearer"), Qt::CaseInsensitive) != 0) {
            *problem = QStringLiteral("token_type is neither Bearer nor DPoP");
            return std::nullopt;
        }
    }
    response.access = Secret(accessBytes);
    response.claims = *claims;
    const QJsonValue refresh = object.value(QStringLiteral("refresh"));
    if (refresh.isUndefined() && !refreshRequired)
        return response;
    if (!refresh.isString()) {
        *problem = QStringLiteral("token response has no refresh token");
        return std::nullopt;
    }
    const QByteArray refreshBytes = refresh.toString().toUtf8();
    if (refreshBytes.isEmpty() || refreshBytes.size() > MaxRefreshTokenBytes
        || !isPrintableAscii(refreshBytes)) {
        *problem = QStringLiteral("refresh token is empty, too long or has invalid characters");
        return std::nullopt;
    }
    response.refresh = Secret(refreshBytes);
    return response;
}

ServerProblem parseServerProblem(QByteArrayView body)
{
    if (body.size() > MaxTokenResponseBytes)
        return {};
    const QJsonDocument document = QJsonDocument::fromJson(body.toByteArray());
    if (!document.isObject())
        return {};
    const QJsonObject object = document.object();
    ServerProblem problem;
    problem.code = object.value(QStringLiteral("code")).toString().left(64);
    problem.detail = object.value(QStringLiteral("detail")).toString().left(200);
    return problem;
}

} // namespace Tessera

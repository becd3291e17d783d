// SPDX-License-Identifier: MIT
#include "oauthtokenresponse_p.h"

#include <tessera/strictjson.h>

#include <QtCore/QJsonObject>

#include <cmath>

namespace Tessera::OAuth {
namespace {

// VSCHAR without the space (RFC 6749 Appendix A): what may go into an HTTP header and storage.
bool isVisibleAscii(QByteArrayView text)
{
    for (char c : text) {
        if (c < 0x21 || c > 0x7e)
            return false;
    }
    return true;
}

// NQSCHAR (RFC 6749 Appendix A: error, error_description): %x20-21 / %x23-5B / %x5D-7E.
bool isErrorText(const QString &text)
{
    for (QChar c : text) {
        const char16_t u = c.unicode();
        if (u < 0x20 || u > 0x7e || u == 0x22 || u == 0x5c)
            return false;
    }
    return true;
}

// A string member that, when present, must be a non-empty string of visible ASCII (spaces
// too when `spaces`) of at most `maxBytes`. False (and *problem) when present but unusable.
bool optionalString(const QJsonObject &object, const char *name, qsizetype maxBytes, bool spaces,
                    QByteArray *value, QString *problem)
{
    const QJsonValue member = object.value(QLatin1String(name));
    if (member.isUndefined())
        return true;
    const QByteArray bytes = member.isString() ? member.toString().toUtf8() : QByteArray();
    bool ok = !bytes.isEmpty() && bytes.size() <= maxBytes;
    for (char c : bytes)
        ok = ok && ((c >= 0x21 && c <= 0x7e) || (spaces && c == 0x20));
    if (!ok) {
        *problem = QStringLiteral("%1 is not a string of visible ASCII within %2 bytes")
                           .arg(QLatin1String(name))
                           .arg(maxBytes);
        return false;
    }
    *value = bytes;
    return true;
}

} // namespace

std::optional<TokenResponse> parseOAuthTokenResponse(QByteArrayView body, QString *problem)
{
    if (body.size() > MaxTokenResponseBytes) {
        *problem = QStringLiteral("token response is too large");
        return std::nullopt;
    }
    QString jsonProblem;
    const std::optional<QJsonObject> object = Jose::parseJsonObject(body, &jsonProblem);
    if (!object) {
        *problem = QStringLiteral("token response is not one strict JSON object (%1)")
                           .arg(jsonProblem);
        return std::nullopt;
    }

    const QJsonValue access = object->value(QStringLiteral("access_token"));
    const QByteArray accessBytes = access.isString() ? access.toString().toUtf8() : QByteArray();
    if (accessBytes.isEmpty() || accessBytes.size() > MaxAccessTokenBytes
        || !isVisibleAscii(accessBytes)) {
        *problem = QStringLiteral("access_token is missing, too long or has invalid characters");
        return std::nullopt;
    }
    const QJsonValue type = object->value(QStringLiteral("token_type"));
    const bool bearer = type.isString()
            && type.toString().compare(QLatin1String("Bearer"), Qt::CaseInsensitive) == 0;
    const bool dpop = type.isString()
            && type.toString().compare(QLatin1String("DPoP"), Qt::CaseInsensitive) == 0;
    if (!bearer && !dpop) {
        *problem = QStringLiteral("token_type is missing or neither Bearer nor DPoP");
        return std::nullopt;
    }

    TokenResponse response;
    response.dpopBound = dpop;
    const QJsonValue expiresIn = object->value(QStringLiteral("expires_in"));
    if (!expiresIn.isUndefined()) {
        const double seconds = expiresIn.isDouble() ? expiresIn.toDouble() : -1;
        if (!std::isfinite(seconds) || seconds != std::floor(seconds) || seconds < 1
            || seconds > double(MaxExpiresInSeconds)) {
            *problem = QStringLiteral("expires_in is not a whole number of seconds in 1..%1")
                               .arg(MaxExpiresInSeconds);
            return std::nullopt;
        }
        response.claims.lifetimeSeconds = qint64(seconds);
    } else {
        // No expires_in: a JWT access token's own exp, read as SimpleJWT's are (only to
        // schedule the refresh); anything else gets the short assumed lifetime.
        QString ignored;
        const qint64 plausibleNow = QDateTime::currentSecsSinceEpoch() + 60;
        if (const auto claims = readAccessClaims(accessBytes, plausibleNow, &ignored))
            response.claims = *claims;
        else
            response.claims.lifetimeSeconds = AssumedAccessLifetimeSeconds;
    }

    QByteArray refresh;
    QByteArray idToken;
    QByteArray scope;
    if (!optionalString(*object, "refresh_token", MaxRefreshTokenBytes, false, &refresh, problem)
        || !optionalString(*object, "id_token", MaxIdTokenBytes, false, &idToken, problem)
        || !optionalString(*object, "scope", MaxScopeBytes, true, &scope, problem))
        return std::nullopt;
    response.access = Secret(accessBytes);
    response.refresh = Secret(refresh);
    response.idToken = Secret(idToken);
    response.scope = QString::fromLatin1(scope);
    return response;
}

std::optional<OAuthError> parseOAuthError(QByteArrayView body)
{
    if (body.size() > MaxTokenResponseBytes)
        return std::nullopt;
    const std::optional<QJsonObject> object = Jose::parseJsonObject(body);
    if (!object)
        return std::nullopt;
    const QJsonValue error = object->value(QStringLiteral("error"));
    if (!error.isString() || error.toString().isEmpty() || error.toString().size() > 64
        || !isErrorText(error.toString()))
        return std::nullopt;
    OAuthError result;
    result.error = error.toString();
    const QJsonValue description = object->value(QStringLiteral("error_description"));
    if (description.isString() && isErrorText(description.toString())) {
        result.description = description.toString();
        if (result.description.size() > 200)
            result.description = result.description.left(200) + QStringLiteral("...");
    }
    return result;
}

} // namespace Tessera::OAuth

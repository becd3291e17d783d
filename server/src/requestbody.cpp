// SPDX-License-Identifier: MIT
#include "requestbody.h"

#include <tessera/strictjson.h>

#include <QtCore/QJsonArray>

namespace Tessera::Server {

std::variant<QJsonObject, RequestProblem> parseJsonBody(const QByteArray &body,
                                                        QByteArrayView contentType, qint64 maxBytes)
{
    if (body.size() > maxBytes)
        return RequestProblem{413,
                              QStringLiteral("request_too_large"),
                              QStringLiteral("Request body is larger than %1 bytes").arg(maxBytes),
                              {}};
    if (body.isEmpty())
        return QJsonObject();
    const QByteArray mime = contentType.toByteArray().split(';').first().trimmed().toLower();
    if (mime != "application/json")
        return RequestProblem{415,
                              QStringLiteral("unsupported_media_type"),
                              QStringLiteral("Content-Type must be application/json"),
                              {}};
    // The parser that reads JOSE headers and claims: a body with two "password" or two
    // "refresh" members is refused, not read as whichever one a parser keeps.
    QString problem;
    std::optional<QJsonObject> object = Jose::parseJsonObject(body, &problem);
    if (!object)
        return RequestProblem{400,
                              QStringLiteral("parse_error"),
                              QStringLiteral("Body must be a JSON object (%1)").arg(problem),
                              {}};
    return std::move(*object);
}

std::optional<RequestProblem> requireStrings(const QJsonObject &body,
                                             std::initializer_list<QString> fields)
{
    QJsonObject errors;
    for (const QString &field : fields) {
        const QJsonValue value = body.value(field);
        if (value.isUndefined() || value.isNull())
            errors.insert(field, QJsonArray{QStringLiteral("This field is required.")});
        else if (!value.isString())
            errors.insert(field, QJsonArray{QStringLiteral("Not a valid string.")});
        else if (value.toString().isEmpty())
            errors.insert(field, QJsonArray{QStringLiteral("This field may not be blank.")});
    }
    if (errors.isEmpty())
        return std::nullopt;
    return RequestProblem{400, QStringLiteral("invalid"), QStringLiteral("Invalid request fields"),
                          errors};
}

} // namespace Tessera::Server

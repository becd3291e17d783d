// SPDX-License-Identifier: MIT
#include "requestbody.h"

#include <QtCore/QJsonArray>
#include <QtCore/QJsonDocument>

namespace Tessera::Server {
namespace {

// RFC 8259 forbids unescaped control characters inside strings; Qt's parser
// lets some through (NUL, TAB), so check before parsing.
bool hasRawControlCharacterInString(const QByteArray &json)
{
    bool inString = false;
    bool escaped = false;
    for (const char c : json) {
        if (!inString) {
            inString = c == '"';
            continue;
        }
        if (static_cast<unsigned char>(c) < 0x20)
            return true;
        if (escaped)
            escaped = false;
        else if (c == '\\')
            escaped = true;
        else if (c == '"')
            inString = false;
    }
    return false;
}

} // namespace

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
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(body, &parseError);
    if (parseError.error != QJsonParseError::NoError || !document.isObject()
        || hasRawControlCharacterInString(body))
        return RequestProblem{400,
                              QStringLiteral("parse_error"),
                              QStringLiteral("Body must be a JSON object"),
                              {}};
    return document.object();
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

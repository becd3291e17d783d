// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QByteArrayView>
#include <QtCore/QJsonObject>
#include <QtCore/QString>

#include <initializer_list>
#include <optional>
#include <variant>

namespace Tessera::Server {

// Why a request body was refused: HTTP status, stable code, human detail, and
// DRF-style per-field errors ({"field": ["..."]}) for 400 invalid.
struct RequestProblem
{
    int status = 400;
    QString code;
    QString detail;
    QJsonObject fieldErrors;
};

// The JSON object of a request body (an empty body is an empty object), or the
// problem: over `maxBytes` (413), not application/json (415), or not one JSON object
// by the rules of Tessera::Jose::parseJsonObject (400 parse_error): duplicate member
// names, raw control characters in strings, invalid UTF-8, nesting too deep included.
std::variant<QJsonObject, RequestProblem>
parseJsonBody(const QByteArray &body, QByteArrayView contentType, qint64 maxBytes);

// Each field must be a non-empty string.
std::optional<RequestProblem> requireStrings(const QJsonObject &body,
                                             std::initializer_list<QString> fields);

} // namespace Tessera::Server

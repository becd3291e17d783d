// SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QByteArrayView>
#include <QtCore/QHash>
#include <QtCore/QString>

namespace Tessera::Server {

// The parameters of a query string or an application/x-www-form-urlencoded body (OAuth
// requests, the login form). RFC 6749 §3.1 and §3.2: a parameter sent more than once is an
// error, and a parameter without a value is treated as omitted.
struct FormParameters
{
    QHash<QString, QString> values;
    QString problem; // non-empty: refuse the request (repeated name, bad UTF-8 or escape)

    QString value(const QString &name) const { return values.value(name); }
    bool has(const QString &name) const { return values.contains(name); }
};

// '+' is a space, %XX a byte; names and values must be UTF-8 without control characters.
FormParameters parseFormParameters(QByteArrayView encoded);

// Whether the request's Content-Type is application/x-www-form-urlencoded (parameters such
// as charset allowed).
bool isFormContentType(QByteArrayView contentType);

} // namespace Tessera::Server

// SPDX-License-Identifier: MIT
#include "jsonresponses.h"

#include "heldfields.h"

#include <QtCore/QJsonDocument>

#include <algorithm>

namespace Tessera::Server {
namespace {
const QByteArray JsonMime = QByteArrayLiteral("application/json");
} // namespace

QHttpServerResponse serializedJsonResponse(QByteArray &&body, Status status)
{
    QHttpServerResponse response(JsonMime, std::move(body), status);
    // Token responses must never be cached (RFC 6749 5.1); nothing here should be.
    // A new response has only Content-Type: adding is enough (setHeader would
    // search and clear first, on every request).
    response.addHeader(QByteArrayLiteral("Cache-Control"), QByteArrayLiteral("no-store"));
    response.addHeader(QByteArrayLiteral("Pragma"), QByteArrayLiteral("no-cache"));
    response.addHeader(QByteArrayLiteral("X-Content-Type-Options"), QByteArrayLiteral("nosniff"));
    return response;
}

QHttpServerResponse jsonResponse(const QJsonObject &body, Status status)
{
    return serializedJsonResponse(QJsonDocument(body).toJson(QJsonDocument::Compact), status);
}

QHttpServerResponse errorResponse(Status status, const QString &code, const QString &detail,
                                  QJsonObject extra)
{
    extra.insert(QStringLiteral("code"), code);
    extra.insert(QStringLiteral("detail"), detail);
    return jsonResponse(extra, status);
}

QHttpServerResponse internalError()
{
    return errorResponse(Status::InternalServerError, QStringLiteral("server_error"),
                         QStringLiteral("Internal server error"));
}

QHttpServerResponse storageErrorResponse(bool databaseUnavailable)
{
    if (!databaseUnavailable)
        return internalError();
    return retryLaterResponse(Status::ServiceUnavailable, QStringLiteral("database_unavailable"),
                              QStringLiteral("The database is unavailable; try again."), 1);
}

QHttpServerResponse problemResponse(const RequestProblem &problem)
{
    return errorResponse(Status(problem.status), problem.code, problem.detail, problem.fieldErrors);
}

namespace {

// Base64url and the dots of a JWT: nothing a JSON string needs escaped.
bool isTokenText(const QByteArray &token)
{
    return std::all_of(token.cbegin(), token.cend(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                || c == '-' || c == '_' || c == '.';
    });
}

} // namespace

QHttpServerResponse tokenPairResponse(const TokenPair &tokens, bool dpopBound)
{
    if (isTokenText(tokens.access) && isTokenText(tokens.refresh)) {
        // Written directly, as QJsonDocument writes it (keys sorted, compact): the answer of
        // every refresh, where building a QJsonObject cost more than the rest of the body.
        QByteArray body;
        body.reserve(tokens.access.size() + tokens.refresh.size() + 48);
        body += "{\"access\":\"";
        body += tokens.access;
        body += "\",\"refresh\":\"";
        body += tokens.refresh;
        body += dpopBound ? QByteArrayView("\",\"token_type\":\"DPoP\"}") : QByteArrayView("\"}");
        return serializedJsonResponse(std::move(body));
    }
    QJsonObject body{{QStringLiteral("access"), QString::fromLatin1(tokens.access)},
                     {QStringLiteral("refresh"), QString::fromLatin1(tokens.refresh)}};
    if (dpopBound)
        body.insert(QStringLiteral("token_type"), QStringLiteral("DPoP"));
    return jsonResponse(body);
}

QHttpServerResponse retryLaterResponse(Status status, const QString &code, const QString &detail,
                                       qint64 retryAfterSeconds)
{
    auto response = errorResponse(status, code, detail);
    response.setHeader(QByteArrayLiteral("Retry-After"),
                       QByteArray::number(qMax<qint64>(1, retryAfterSeconds)));
    return response;
}

QByteArray header(const QHttpServerRequest &request, QByteArrayView name)
{
    if (const HeldFields::Fields *held = HeldFields::current(); held && HeldFields::isHeld(name)) {
        for (const auto &[key, value] : *held) {
            if (key.compare(name, Qt::CaseInsensitive) == 0)
                return value;
        }
        return {};
    }
    const auto headers = request.headers();
    for (const auto &[key, value] : headers) {
        if (key.compare(name, Qt::CaseInsensitive) == 0)
            return value;
    }
    return {};
}

QList<QByteArray> headerValues(const QHttpServerRequest &request, QByteArrayView name)
{
    QList<QByteArray> values;
    if (const HeldFields::Fields *held = HeldFields::current(); held && HeldFields::isHeld(name)) {
        for (const auto &[key, value] : *held) {
            if (key.compare(name, Qt::CaseInsensitive) == 0)
                values.append(value);
        }
        return values;
    }
    const auto headers = request.headers();
    for (const auto &[key, value] : headers) {
        if (key.compare(name, Qt::CaseInsensitive) == 0)
            values.append(value);
    }
    return values;
}

std::variant<QJsonObject, QHttpServerResponse> jsonBody(const QHttpServerRequest &request,
                                                        qint64 maxBytes)
{
    auto parsed = parseJsonBody(request.body(), header(request, "content-type"), maxBytes);
    if (const auto *problem = std::get_if<RequestProblem>(&parsed))
        return problemResponse(*problem);
    return std::get<QJsonObject>(parsed);
}

std::optional<QHttpServerResponse> requireFields(const QJsonObject &body,
                                                 std::initializer_list<QString> fields)
{
    if (const auto problem = requireStrings(body, fields))
        return problemResponse(*problem);
    return std::nullopt;
}

QHttpServerResponse oauthError(const QString &error, const QString &description, Status status)
{
    QHttpServerResponse response = jsonResponse(
            {{QStringLiteral("error"), error}, {QStringLiteral("error_description"), description}},
            status);
    response.setHeader(QByteArrayLiteral("Pragma"), QByteArrayLiteral("no-cache"));
    return response;
}

QHttpServerResponse oauthStorageError(bool databaseUnavailable)
{
    if (!databaseUnavailable)
        return oauthError(QStringLiteral("server_error"), QStringLiteral("storage failure"),
                          Status::InternalServerError);
    QHttpServerResponse response = oauthError(
            QStringLiteral("temporarily_unavailable"),
            QStringLiteral("the database is unavailable; try again"), Status::ServiceUnavailable);
    response.setHeader(QByteArrayLiteral("Retry-After"), QByteArrayLiteral("1"));
    return response;
}

} // namespace Tessera::Server

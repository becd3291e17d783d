// SPDX-License-Identifier: MIT
#pragma once

#include "requestbody.h"
#include "tokenservice.h"

#include <QtCore/QByteArray>
#include <QtCore/QByteArrayView>
#include <QtCore/QJsonObject>
#include <QtHttpServer/QHttpServerRequest>
#include <QtHttpServer/QHttpServerResponse>

#include <initializer_list>
#include <optional>
#include <variant>

namespace Tessera::Server {

// The JSON bodies and headers every route answers with (docs/SERVER.md
// "Endpoints"): no-store, nosniff, and {"code","detail"} on errors.
using Status = QHttpServerResponse::StatusCode;

QHttpServerResponse serializedJsonResponse(QByteArray &&body, Status status = Status::Ok);
QHttpServerResponse jsonResponse(const QJsonObject &body, Status status = Status::Ok);
QHttpServerResponse errorResponse(Status status, const QString &code, const QString &detail,
                                  QJsonObject extra = {});
QHttpServerResponse internalError();
// A storage failure: 503 database_unavailable with Retry-After: 1 while the database is
// unreachable for now (Store::unavailable()), else internalError().
QHttpServerResponse storageErrorResponse(bool databaseUnavailable);
QHttpServerResponse problemResponse(const RequestProblem &problem);
// {"access","refresh"}, and "token_type":"DPoP" when the access token is DPoP-bound.
QHttpServerResponse tokenPairResponse(const TokenPair &tokens, bool dpopBound = false);
// 429 or 503 with Retry-After in whole seconds.
QHttpServerResponse retryLaterResponse(Status status, const QString &code, const QString &detail,
                                       qint64 retryAfterSeconds);

// An OAuth 2 error (RFC 6749 §5.2): {"error","error_description"}, no-store; 400 unless told.
QHttpServerResponse oauthError(const QString &error, const QString &description,
                               Status status = Status::BadRequest);
// A storage failure at an OAuth endpoint: 503 temporarily_unavailable with Retry-After: 1
// while the database is unreachable for now (Store::unavailable()), else 500 server_error.
QHttpServerResponse oauthStorageError(bool databaseUnavailable);

// The first value of a header field (case-insensitive name), empty if absent. Authorization
// and DPoP come from the connection guard (heldfields.h) while it dispatches the request:
// read them in the handler, not later.
QByteArray header(const QHttpServerRequest &request, QByteArrayView name);
// Every value of a header field, in order.
QList<QByteArray> headerValues(const QHttpServerRequest &request, QByteArrayView name);

// The JSON object in the body, or the error response to send instead.
std::variant<QJsonObject, QHttpServerResponse> jsonBody(const QHttpServerRequest &request,
                                                        qint64 maxBytes);
std::optional<QHttpServerResponse> requireFields(const QJsonObject &body,
                                                 std::initializer_list<QString> fields);

} // namespace Tessera::Server

// SPDX-License-Identifier: MIT
// Test support: synchronous HTTP against a running tessera-server.
// Nested event loops are fine here (tests only, never library code).
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QList>
#include <QtCore/QPair>
#include <QtCore/QString>
#include <QtCore/QUrl>
#include <QtCore/QVariant>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QTcpSocket>

#include <functional>
#include <memory>
#include <optional>

namespace Tessera::Test {

class ServerProcess;

struct HttpResponse
{
    int status = 0;       // 0: no HTTP response (connection error, timeout, closed)
    QString networkError; // transport-level error text, if any
    bool timedOut = false;
    bool closedWithoutResponse = false; // raw requests: peer closed before a full response
    QList<QPair<QByteArray, QByteArray>> headers;
    QByteArray body;
    QJsonDocument document; // parsed body (null if not JSON)
    qint64 elapsedMs = 0;

    QByteArray header(QByteArrayView name) const; // case-insensitive, first match
    bool hasHeader(QByteArrayView name) const;
    QJsonObject json() const { return document.object(); }
    bool isJsonObject() const { return document.isObject(); }
    QString code() const { return json().value(QStringLiteral("code")).toString(); }
    QString str(const QString &member) const { return json().value(member).toString(); }
    // One line for failure messages; never prints token values in full.
    QString describe() const;
};

// Synchronous helper around QNetworkAccessManager. The base URL is read on
// every request, so a client bound to a ServerProcess follows restarts.
class HttpClient
{
public:
    explicit HttpClient(const ServerProcess &server);
    explicit HttpClient(QUrl baseUrl);

    void setTimeout(int ms) { m_timeoutMs = ms; }
    QUrl url(const QString &path) const;

    using Headers = QList<QPair<QByteArray, QByteArray>>;
    HttpResponse request(const QByteArray &method, const QString &path, const QByteArray &body = {},
                         const Headers &headers = {});
    HttpResponse get(const QString &path, const Headers &headers = {});
    HttpResponse post(const QString &path, const QByteArray &body,
                      const QByteArray &contentType = "application/json",
                      const Headers &headers = {});
    HttpResponse postJson(const QString &path, const QJsonObject &object);

    // The API.
    HttpResponse login(const QString &username, const QString &password);
    HttpResponse refresh(const QString &refreshToken);
    HttpResponse blacklist(const QString &refreshToken);
    HttpResponse verify(const QString &token);
    HttpResponse me(const QString &accessToken);
    HttpResponse jwks();
    HttpResponse health();

    QNetworkAccessManager &manager() { return m_manager; }

private:
    std::function<QUrl()> m_base;
    QNetworkAccessManager m_manager;
    int m_timeoutMs = 15000;
};

// Raw HTTP/1.1 over a fresh QTcpSocket, for requests QNetworkAccessManager will
// not send (wrong Content-Length, no Content-Type, garbage bytes) and for
// choosing the client's source address (any 127.0.0.0/8 address is loopback).
struct RawOptions
{
    int timeoutMs = 5000;
    QHostAddress sourceAddress;          // null: let the OS choose
    bool shutdownWriteAfterSend = false; // half-close after the request bytes
};
HttpResponse rawRequest(const QUrl &base, const QByteArray &bytes, const RawOptions &options = {});
// A well-formed request with the given pieces, "Connection: close".
QByteArray buildRawRequest(const QByteArray &method, const QString &path, const QUrl &base,
                           const QByteArray &body,
                           const QByteArray &contentType = "application/json",
                           const QList<QByteArray> &extraHeaderLines = {});

// Keep-alive connections for pipelining and for several connections open at once.
struct RawAnswer
{
    int status = 0;
    QByteArray body;
};
// A connected socket to `base`'s host and port; null if it did not connect within 5 s.
std::unique_ptr<QTcpSocket> connectTo(const QUrl &base);
// The next `count` answers of `socket` (Content-Length framed), in the order they arrive;
// fewer when the connection ends or 20 s pass. `buffer` keeps what was read beyond them.
QList<RawAnswer> readAnswers(QTcpSocket &socket, int count, QByteArray &buffer);

// JWT helpers without any key: split and decode the compact serialization.
QList<QByteArray> jwtSegments(const QString &token);
std::optional<QByteArray> base64UrlDecodeLoose(QByteArrayView text);
QByteArray base64UrlEncodeNoPad(QByteArrayView data);
QJsonObject jwtHeader(const QString &token);
QJsonObject jwtClaims(const QString &token);
// header.payload.signature from JSON objects and raw signature bytes (no signing).
QString makeJws(const QJsonObject &header, const QJsonObject &claims, const QByteArray &signature);
QString makeJwsRaw(const QByteArray &headerJson, const QByteArray &payloadJson,
                   const QByteArray &signature);
// HMAC-SHA256 JWS with an arbitrary key (any length, also empty).
QString signHs256(const QJsonObject &header, const QJsonObject &claims, const QByteArray &key);

// POST /api/token/refresh/ and GET /api/me/ without waiting, for several requests in flight at
// once; the caller owns the reply.
QNetworkReply *postRefresh(QNetworkAccessManager &manager, const ServerProcess &server,
                           const QString &refreshToken);
QNetworkReply *getMe(QNetworkAccessManager &manager, const ServerProcess &server,
                     const QString &accessToken);

// A spot check for log/DB leak assertions: `haystack` contains `needle`, or its
// longest obvious fragments (JWT segments).
bool containsSecret(const QByteArray &haystack, const QString &secret);

// Runs one SELECT on an SQLite file opened read-only (QSQLITE) and returns the
// rows; std::nullopt and `error` on failure. For white-box checks of the
// server's database.
// `readOnly` false is for copies the test made itself (WAL recovery after a crash
// needs write access).
std::optional<QList<QVariantList>> sqliteSelect(const QString &path, const QString &sql,
                                                QString *error = nullptr, bool readOnly = true);

} // namespace Tessera::Test

// SPDX-License-Identifier: MIT
#include "httpclient.h"

#include "serverprocess.h"

#include <QtCore/QCryptographicHash>
#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QEventLoop>
#include <QtCore/QMessageAuthenticationCode>
#include <QtCore/QTimer>
#include <QtNetwork/QNetworkProxy>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QNetworkRequest>
#include <QtNetwork/QTcpSocket>
#include <QtCore/QUuid>
#include <QtSql/QSqlDatabase>
#include <QtSql/QSqlError>
#include <QtSql/QSqlQuery>
#include <QtSql/QSqlRecord>

#include <sys/socket.h>

namespace Tessera::Test {

QByteArray HttpResponse::header(QByteArrayView name) const
{
    for (const auto &[key, value] : headers) {
        if (key.compare(name, Qt::CaseInsensitive) == 0)
            return value;
    }
    return {};
}

bool HttpResponse::hasHeader(QByteArrayView name) const
{
    for (const auto &pair : headers) {
        if (pair.first.compare(name, Qt::CaseInsensitive) == 0)
            return true;
    }
    return false;
}

QString HttpResponse::describe() const
{
    QString text = QStringLiteral("HTTP %1").arg(status);
    if (timedOut)
        text += QStringLiteral(" (timed out)");
    if (closedWithoutResponse)
        text += QStringLiteral(" (closed without a response)");
    if (!networkError.isEmpty())
        text += QStringLiteral(" [%1]").arg(networkError);
    QByteArray shown = body.left(300);
    text += QStringLiteral(" body: ") + QString::fromUtf8(shown);
    if (body.size() > shown.size())
        text += QStringLiteral("...");
    return text;
}

HttpClient::HttpClient(const ServerProcess &server)
    : m_base([&server] { return server.baseUrl(); })
{
    m_manager.setProxy(QNetworkProxy::NoProxy);
}

HttpClient::HttpClient(QUrl baseUrl)
    : m_base([baseUrl] { return baseUrl; })
{
    m_manager.setProxy(QNetworkProxy::NoProxy);
}

QUrl HttpClient::url(const QString &path) const
{
    QUrl base = m_base();
    return QUrl(base.toString(QUrl::StripTrailingSlash) + path);
}

HttpResponse HttpClient::request(const QByteArray &method, const QString &path,
                                 const QByteArray &body, const Headers &headers)
{
    QNetworkRequest request(url(path));
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute,
                         QNetworkRequest::ManualRedirectPolicy);
    request.setAttribute(QNetworkRequest::Http2AllowedAttribute, false);
    request.setAttribute(QNetworkRequest::CacheLoadControlAttribute,
                         QNetworkRequest::AlwaysNetwork);
    for (const auto &[name, value] : headers)
        request.setRawHeader(name, value);

    HttpResponse response;
    QElapsedTimer elapsed;
    elapsed.start();
    QNetworkReply *reply = m_manager.sendCustomRequest(request, method, body);
    QEventLoop loop;
    QTimer timer;
    timer.setSingleShot(true);
    QObject::connect(&timer, &QTimer::timeout, &loop, [&] {
        response.timedOut = true;
        loop.quit();
    });
    QObject::connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    timer.start(m_timeoutMs);
    if (!reply->isFinished())
        loop.exec();
    response.elapsedMs = elapsed.elapsed();
    if (response.timedOut) {
        reply->abort();
    } else {
        response.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        response.headers = reply->rawHeaderPairs();
        response.body = reply->readAll();
        if (response.status == 0)
            response.networkError = reply->errorString();
        response.document = QJsonDocument::fromJson(response.body);
    }
    reply->deleteLater();
    return response;
}

HttpResponse HttpClient::get(const QString &path, const Headers &headers)
{
    return request("GET", path, {}, headers);
}

HttpResponse HttpClient::post(const QString &path, const QByteArray &body,
                              const QByteArray &contentType, const Headers &headers)
{
    Headers all = headers;
    if (!contentType.isEmpty())
        all.append({"Content-Type", contentType});
    return request("POST", path, body, all);
}

HttpResponse HttpClient::postJson(const QString &path, const QJsonObject &object)
{
    return post(path, QJsonDocument(object).toJson(QJsonDocument::Compact));
}

HttpResponse HttpClient::login(const QString &username, const QString &password)
{
    return postJson(
            QStringLiteral("/api/token/"),
            {{QStringLiteral("username"), username}, {QStringLiteral("password"), password}});
}

HttpResponse HttpClient::refresh(const QString &refreshToken)
{
    return postJson(QStringLiteral("/api/token/refresh/"),
                    {{QStringLiteral("refresh"), refreshToken}});
}

HttpResponse HttpClient::blacklist(const QString &refreshToken)
{
    return postJson(QStringLiteral("/api/token/blacklist/"),
                    {{QStringLiteral("refresh"), refreshToken}});
}

HttpResponse HttpClient::verify(const QString &token)
{
    return postJson(QStringLiteral("/api/token/verify/"), {{QStringLiteral("token"), token}});
}

HttpResponse HttpClient::me(const QString &accessToken)
{
    return get(QStringLiteral("/api/me/"), {{"Authorization", "Bearer " + accessToken.toUtf8()}});
}

HttpResponse HttpClient::jwks()
{
    return get(QStringLiteral("/.well-known/jwks.json"));
}

HttpResponse HttpClient::health()
{
    return get(QStringLiteral("/healthz"));
}

// ---- raw HTTP ---------------------------------------------------------------

namespace {

// Parses `data` as one HTTP response. True when it is complete.
bool parseRawResponse(const QByteArray &data, bool peerClosed, HttpResponse *out)
{
    const qsizetype headerEnd = data.indexOf("\r\n\r\n");
    if (headerEnd < 0)
        return false;
    const QList<QByteArray> lines = data.left(headerEnd).split('\n');
    if (lines.isEmpty())
        return false;
    const QList<QByteArray> statusLine = lines.first().trimmed().split(' ');
    if (statusLine.size() < 2 || !statusLine.first().startsWith("HTTP/"))
        return false;
    HttpResponse response;
    response.status = statusLine.at(1).toInt();
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const QByteArray line = lines.at(i).trimmed();
        const qsizetype colon = line.indexOf(':');
        if (colon <= 0)
            continue;
        response.headers.append({line.left(colon).trimmed(), line.mid(colon + 1).trimmed()});
    }
    const QByteArray rest = data.mid(headerEnd + 4);
    bool ok = false;
    const qint64 length = response.header("Content-Length").toLongLong(&ok);
    if (ok) {
        if (rest.size() < length)
            return false;
        response.body = rest.left(length);
    } else if (!peerClosed) {
        return false;
    } else {
        response.body = rest;
    }
    response.document = QJsonDocument::fromJson(response.body);
    *out = response;
    return true;
}

} // namespace

HttpResponse rawRequest(const QUrl &base, const QByteArray &bytes, const RawOptions &options)
{
    HttpResponse response;
    QTcpSocket socket;
    QElapsedTimer elapsed;
    elapsed.start();
    if (!options.sourceAddress.isNull() && !socket.bind(options.sourceAddress, 0)) {
        response.networkError =
                QStringLiteral("bind to %1 failed: %2")
                        .arg(options.sourceAddress.toString(), socket.errorString());
        return response;
    }
    QByteArray received;
    bool closed = false;
    bool complete = false;
    QEventLoop loop;
    QTimer timer;
    timer.setSingleShot(true);
    QObject::connect(&timer, &QTimer::timeout, &loop, [&] {
        response.timedOut = true;
        loop.quit();
    });
    QObject::connect(&socket, &QTcpSocket::connected, &loop, [&] {
        socket.write(bytes);
        if (options.shutdownWriteAfterSend) {
            socket.flush();
            ::shutdown(int(socket.socketDescriptor()), SHUT_WR);
        }
    });
    QObject::connect(&socket, &QTcpSocket::readyRead, &loop, [&] {
        received += socket.readAll();
        complete = parseRawResponse(received, false, &response);
        if (complete)
            loop.quit();
    });
    QObject::connect(&socket, &QTcpSocket::disconnected, &loop, [&] {
        closed = true;
        loop.quit();
    });
    QObject::connect(&socket, &QTcpSocket::errorOccurred, &loop,
                     [&](QAbstractSocket::SocketError e) {
                         if (e == QAbstractSocket::RemoteHostClosedError) {
                             closed = true;
                         } else {
                             response.networkError = socket.errorString();
                         }
                         loop.quit();
                     });
    timer.start(options.timeoutMs);
    socket.connectToHost(QHostAddress(base.host()), quint16(base.port()));
    loop.exec();
    received += socket.readAll();
    if (!complete) {
        const bool timedOut = response.timedOut;
        const QString error = response.networkError;
        complete = parseRawResponse(received, true, &response);
        response.timedOut = timedOut;
        response.networkError = error;
        if (!complete) {
            response.status = 0;
            response.closedWithoutResponse = closed;
            response.body = received;
        }
    }
    socket.abort();
    response.elapsedMs = elapsed.elapsed();
    return response;
}

QByteArray buildRawRequest(const QByteArray &method, const QString &path, const QUrl &base,
                           const QByteArray &body, const QByteArray &contentType,
                           const QList<QByteArray> &extraHeaderLines)
{
    QByteArray request = method + ' ' + path.toUtf8() + " HTTP/1.1\r\n";
    request += "Host: " + base.host().toUtf8() + ':' + QByteArray::number(base.port()) + "\r\n";
    request += "Connection: close\r\n";
    if (!contentType.isEmpty())
        request += "Content-Type: " + contentType + "\r\n";
    bool explicitLength = false;
    for (const QByteArray &line : extraHeaderLines) {
        if (line.toLower().startsWith("content-length:")
            || line.toLower().startsWith("transfer-encoding:"))
            explicitLength = true;
        request += line + "\r\n";
    }
    if (!explicitLength && (!body.isEmpty() || method == "POST"))
        request += "Content-Length: " + QByteArray::number(body.size()) + "\r\n";
    request += "\r\n";
    request += body;
    return request;
}

// ---- JWT helpers --------------------------------------------------------------

QList<QByteArray> jwtSegments(const QString &token)
{
    return token.toLatin1().split('.');
}

std::optional<QByteArray> base64UrlDecodeLoose(QByteArrayView text)
{
    auto result = QByteArray::fromBase64Encoding(text.toByteArray(),
                                                 QByteArray::Base64UrlEncoding
                                                         | QByteArray::OmitTrailingEquals
                                                         | QByteArray::AbortOnBase64DecodingErrors);
    if (!result)
        return std::nullopt;
    return *result;
}

QByteArray base64UrlEncodeNoPad(QByteArrayView data)
{
    return data.toByteArray().toBase64(QByteArray::Base64UrlEncoding
                                       | QByteArray::OmitTrailingEquals);
}

static QJsonObject decodeSegment(const QString &token, int index)
{
    const QList<QByteArray> segments = jwtSegments(token);
    if (segments.size() != 3)
        return {};
    const auto decoded = base64UrlDecodeLoose(segments.at(index));
    if (!decoded)
        return {};
    return QJsonDocument::fromJson(*decoded).object();
}

QJsonObject jwtHeader(const QString &token)
{
    return decodeSegment(token, 0);
}

QJsonObject jwtClaims(const QString &token)
{
    return decodeSegment(token, 1);
}

QString makeJwsRaw(const QByteArray &headerJson, const QByteArray &payloadJson,
                   const QByteArray &signature)
{
    return QString::fromLatin1(base64UrlEncodeNoPad(headerJson) + '.'
                               + base64UrlEncodeNoPad(payloadJson) + '.'
                               + base64UrlEncodeNoPad(signature));
}

QString makeJws(const QJsonObject &header, const QJsonObject &claims, const QByteArray &signature)
{
    return makeJwsRaw(QJsonDocument(header).toJson(QJsonDocument::Compact),
                      QJsonDocument(claims).toJson(QJsonDocument::Compact), signature);
}

QString signHs256(const QJsonObject &header, const QJsonObject &claims, const QByteArray &key)
{
    QJsonObject h = header;
    h.insert(QStringLiteral("alg"), QStringLiteral("HS256"));
    const QByteArray signingInput =
            base64UrlEncodeNoPad(QJsonDocument(h).toJson(QJsonDocument::Compact)) + '.'
            + base64UrlEncodeNoPad(QJsonDocument(claims).toJson(QJsonDocument::Compact));
    const QByteArray mac =
            QMessageAuthenticationCode::hash(signingInput, key, QCryptographicHash::Sha256);
    return QString::fromLatin1(signingInput + '.' + base64UrlEncodeNoPad(mac));
}

QNetworkReply *postRefresh(QNetworkAccessManager &manager, const ServerProcess &server,
                           const QString &refreshToken)
{
    QNetworkRequest request(server.baseUrl().resolved(QUrl(QStringLiteral("/api/token/refresh/"))));
    request.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/json"));
    return manager.post(request,
                        QJsonDocument(QJsonObject{{QStringLiteral("refresh"), refreshToken}})
                                .toJson(QJsonDocument::Compact));
}

QNetworkReply *getMe(QNetworkAccessManager &manager, const ServerProcess &server,
                     const QString &accessToken)
{
    QNetworkRequest request(server.baseUrl().resolved(QUrl(QStringLiteral("/api/me/"))));
    request.setRawHeader("Authorization", "Bearer " + accessToken.toLatin1());
    return manager.get(request);
}

bool containsSecret(const QByteArray &haystack, const QString &secret)
{
    if (secret.isEmpty())
        return false;
    const QByteArray bytes = secret.toUtf8();
    if (haystack.contains(bytes))
        return true;
    // A JWT's signature alone identifies (and with the rest, reconstructs) it.
    const QList<QByteArray> segments = bytes.split('.');
    if (segments.size() == 3 && segments.at(2).size() >= 20 && haystack.contains(segments.at(2)))
        return true;
    return false;
}

std::optional<QList<QVariantList>> sqliteSelect(const QString &path, const QString &sql,
                                                QString *error, bool readOnly)
{
    const QString name =
            QStringLiteral("tessera-test-") + QUuid::createUuid().toString(QUuid::Id128);
    std::optional<QList<QVariantList>> rows;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
        db.setDatabaseName(path);
        db.setConnectOptions(
                readOnly ? QStringLiteral("QSQLITE_OPEN_READONLY;QSQLITE_BUSY_TIMEOUT=5000")
                         : QStringLiteral("QSQLITE_BUSY_TIMEOUT=5000"));
        if (!db.open()) {
            if (error)
                *error = db.lastError().text();
        } else {
            QSqlQuery query(db);
            if (!query.exec(sql)) {
                if (error)
                    *error = query.lastError().text() + QStringLiteral(" in: ") + sql;
            } else {
                QList<QVariantList> result;
                while (query.next()) {
                    QVariantList row;
                    for (int i = 0; i < query.record().count(); ++i)
                        row.append(query.value(i));
                    result.append(row);
                }
                rows = result;
            }
        }
        db.close();
    }
    QSqlDatabase::removeDatabase(name);
    return rows;
}

std::unique_ptr<QTcpSocket> connectTo(const QUrl &base)
{
    auto socket = std::make_unique<QTcpSocket>();
    socket->connectToHost(base.host(), quint16(base.port()));
    if (!socket->waitForConnected(5000))
        return nullptr;
    return socket;
}

QList<RawAnswer> readAnswers(QTcpSocket &socket, int count, QByteArray &buffer)
{
    QList<RawAnswer> answers;
    QDeadlineTimer deadline(20000);
    while (answers.size() < count) {
        // What arrived while the caller's event loop ran is already in the socket's buffer.
        buffer += socket.readAll();
        const qsizetype headEnd = buffer.indexOf("\r\n\r\n");
        if (headEnd >= 0) {
            const QByteArray head = buffer.left(headEnd);
            qsizetype length = 0;
            for (const QByteArray &line : head.split('\n')) {
                if (line.toLower().startsWith("content-length:"))
                    length = line.mid(15).trimmed().toLongLong();
            }
            if (buffer.size() >= headEnd + 4 + length) {
                answers.append({head.mid(9, 3).toInt(), buffer.mid(headEnd + 4, length)});
                buffer.remove(0, headEnd + 4 + length);
                continue;
            }
        }
        if (deadline.hasExpired() || !socket.waitForReadyRead(int(deadline.remainingTime())))
            break;
    }
    return answers;
}

} // namespace Tessera::Test

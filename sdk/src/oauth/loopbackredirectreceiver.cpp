// SPDX-License-Identifier: MIT
#include "loopbackredirectreceiver_p.h"

#include "httprequesthead_p.h"

#include <QtCore/QLoggingCategory>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>

namespace Tessera::OAuth {

namespace {

// Events only: never a state, code or query.
Q_LOGGING_CATEGORY(lcRedirect, "tessera.oauth.redirect", QtWarningMsg)

// Headers of every answer: nothing cached, no referrer to wherever the page links (it links
// nowhere), no script or other resource, no framing, no sniffing, one request per connection.
constexpr char CommonHeaders[] = "Cache-Control: no-store\r\n"
                                 "Pragma: no-cache\r\n"
                                 "Referrer-Policy: no-referrer\r\n"
                                 "Content-Security-Policy: default-src 'none'; base-uri 'none'; "
                                 "form-action 'none'; frame-ancestors 'none'\r\n"
                                 "X-Content-Type-Options: nosniff\r\n"
                                 "X-Frame-Options: DENY\r\n"
                                 "Connection: close\r\n";

QByteArray statusLine(int status)
{
    switch (status) {
    case 200:
        return "HTTP/1.1 200 OK";
    case 404:
        return "HTTP/1.1 404 Not Found";
    case 405:
        return "HTTP/1.1 405 Method Not Allowed";
    case 431:
        return "HTTP/1.1 431 Request Header Fields Too Large";
    default:
        return "HTTP/1.1 400 Bad Request";
    }
}

QByteArray page(bool signedIn)
{
    const QByteArray heading = signedIn ? "Signed in" : "Sign-in failed";
    const QByteArray text = signedIn
            ? "You can close this window and return to the application."
            : "The sign-in did not complete. You can close this window and return to the "
              "application to try again.";
    return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta name=\"viewport\" content=\"width=device-width\"><title>"
            + heading + "</title></head>\n<body><h1>" + heading + "</h1><p>" + text
            + "</p></body></html>\n";
}

// The redirect path must be absolute and need no escaping, so it compares byte for byte with
// the target a browser sends.
bool isValidPath(QByteArrayView path)
{
    if (!path.startsWith('/') || path.startsWith("//"))
        return false;
    for (const char c : path) {
        const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
        if (!unreserved && c != '/')
            return false;
    }
    return true;
}

} // namespace

LoopbackRedirectReceiver::LoopbackRedirectReceiver(QObject *parent)
    : QObject(parent)
{
    m_timeout.setSingleShot(true);
    connect(&m_timeout, &QTimer::timeout, this, [this] {
        qCInfo(lcRedirect) << "the browser sign-in timed out";
        finish({Error::Code::Timeout, QStringLiteral("the browser sign-in timed out")});
    });
}

LoopbackRedirectReceiver::~LoopbackRedirectReceiver()
{
    for (Connection &connection : m_connections)
        secureWipe(connection.head);
}

Error LoopbackRedirectReceiver::listen(Secret state, const IssuerExpectation &issuer,
                                       const Options &options)
{
    if (m_server || m_finished)
        return {Error::Code::InvalidConfiguration,
                QStringLiteral("the redirect receiver is one-shot and was already used")};
    if (state.isEmpty())
        return {Error::Code::InvalidConfiguration, QStringLiteral("no state to wait for")};
    if (!isValidPath(options.path))
        return {Error::Code::InvalidConfiguration,
                QStringLiteral("the redirect path must start with one '/' and hold only "
                               "unreserved characters and '/'")};
    if (options.timeout.count() <= 0 || options.connectionDeadline.count() <= 0
        || options.maxHeadSize <= 0 || options.maxConnections <= 0)
        return {Error::Code::InvalidConfiguration,
                QStringLiteral("the redirect receiver's limits must be positive")};

    auto *server = new QTcpServer(this);
    server->setMaxPendingConnections(options.maxConnections);
    // 127.0.0.1 first (RFC 8252 §8.3: not "localhost", which may resolve elsewhere); ::1 only
    // when the IPv4 loopback cannot be bound. Never QHostAddress::Any.
    if (!server->listen(QHostAddress::LocalHost, options.port)) {
        qCInfo(lcRedirect) << "cannot listen on 127.0.0.1, trying ::1:" << server->errorString();
        if (!server->listen(QHostAddress::LocalHostIPv6, options.port)) {
            const QString reason = server->errorString();
            delete server;
            return {Error::Code::NetworkError,
                    QStringLiteral("cannot listen on a loopback address for the browser "
                                   "redirect: %1")
                            .arg(reason)};
        }
    }
    m_server = server;
    m_options = options;
    m_address = server->serverAddress();
    m_port = server->serverPort();
    m_redirectUri.setScheme(QStringLiteral("http"));
    m_redirectUri.setHost(m_address.toString());
    m_redirectUri.setPort(m_port);
    m_redirectUri.setPath(QString::fromLatin1(options.path));
    m_state = std::move(state);
    m_expectation = issuer;
    connect(m_server, &QTcpServer::newConnection, this,
            &LoopbackRedirectReceiver::acceptConnections);
    m_timeout.start(options.timeout);
    qCInfo(lcRedirect).nospace() << "waiting for the browser redirect on " << m_address.toString()
                                 << " port " << m_port;
    return {};
}

bool LoopbackRedirectReceiver::isListening() const
{
    return m_server && m_server->isListening();
}

void LoopbackRedirectReceiver::cancel()
{
    if (m_finished)
        return;
    qCInfo(lcRedirect) << "the browser sign-in was cancelled";
    finish({Error::Code::Cancelled, QStringLiteral("the browser sign-in was cancelled")});
}

void LoopbackRedirectReceiver::acceptConnections()
{
    while (m_server && m_server->hasPendingConnections()) {
        QTcpSocket *socket = m_server->nextPendingConnection();
        if (m_finished) {
            socket->abort();
            socket->deleteLater();
            continue;
        }
        if (m_connections.size() >= m_options.maxConnections) {
            // The oldest goes, not the newest: connections held open on purpose must not keep
            // the browser's redirect out.
            qCDebug(lcRedirect) << "oldest waiting connection cut: too many open";
            QTcpSocket *oldest = m_connections.first().socket;
            forget(oldest);
            oldest->abort();
            oldest->deleteLater();
        }
        m_connections.append({socket, QByteArray()});
        connect(socket, &QObject::destroyed, this, [this, socket] { forget(socket); });
        connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
        connect(socket, &QTcpSocket::readyRead, this, [this, socket] { readRequest(socket); });
        QTimer::singleShot(m_options.connectionDeadline, socket, [socket] {
            qCDebug(lcRedirect) << "connection cut: no request head before the deadline";
            socket->abort();
            socket->deleteLater();
        });
        if (socket->bytesAvailable() > 0)
            readRequest(socket);
    }
}

void LoopbackRedirectReceiver::readRequest(QTcpSocket *socket)
{
    QByteArray *waiting = headOf(socket);
    if (!waiting)
        return; // answered already: nothing more is read on this connection
    QByteArray &bytes = *waiting;
    // One byte past the cap tells an oversized head from one that ends exactly at it.
    bytes += socket->read(m_options.maxHeadSize + 1 - bytes.size());
    HttpRequestHead head = HttpRequestHead::parse(bytes);
    if (head.status == HttpRequestHead::Status::Incomplete) {
        if (bytes.size() > m_options.maxHeadSize) {
            qCDebug(lcRedirect) << "request refused: head too large";
            answer(socket, 431);
        }
        return;
    }
    forget(socket);
    disconnect(socket, &QTcpSocket::readyRead, this, nullptr);

    if (head.status == HttpRequestHead::Status::BadRequest) {
        qCDebug(lcRedirect) << "request refused: malformed";
        answer(socket, 400);
        return;
    }
    if (head.status == HttpRequestHead::Status::NotGet) {
        qCDebug(lcRedirect) << "request refused: not GET";
        answer(socket, 405);
        return;
    }
    const QByteArray authority = m_redirectUri.authority().toLatin1();
    if (head.host.compare(authority, Qt::CaseInsensitive) != 0) {
        // A name other than the literal address (DNS rebinding, or "localhost"): not the
        // redirect we sent the browser to.
        qCInfo(lcRedirect) << "request refused: Host is not the redirect URI's";
        secureWipe(head.query);
        answer(socket, 400);
        return;
    }
    if (head.path != m_options.path || m_finished) {
        qCDebug(lcRedirect) << "request refused: not the redirect path";
        secureWipe(head.query);
        answer(socket, 404);
        return;
    }

    AuthorizationResponse response =
            AuthorizationResponse::evaluate(head.query, m_state, m_expectation);
    secureWipe(head.query);
    switch (response.kind) {
    case AuthorizationResponse::Kind::NotOurs:
        qCWarning(lcRedirect) << "a request on the redirect path without this sign-in's state "
                                 "was refused; still waiting";
        answer(socket, 400);
        return;
    case AuthorizationResponse::Kind::Failed:
        qCInfo(lcRedirect) << "the authorization response ended the sign-in:"
                           << response.error.code();
        answerPage(socket, false);
        finish(response.error);
        return;
    case AuthorizationResponse::Kind::Code:
        qCInfo(lcRedirect) << "authorization code received";
        m_code = std::move(response.code);
        m_issuer = response.issuer;
        answerPage(socket, true);
        finish({});
        return;
    }
}

void LoopbackRedirectReceiver::send(QTcpSocket *socket, const QByteArray &status,
                                    const QByteArray &contentType, const QByteArray &body,
                                    const QByteArray &extraHeaders)
{
    socket->write(status + "\r\nContent-Type: " + contentType
                  + "\r\nContent-Length: " + QByteArray::number(body.size()) + "\r\n"
                  + CommonHeaders + extraHeaders + "\r\n" + body);
    socket->disconnectFromHost();
}

void LoopbackRedirectReceiver::answer(QTcpSocket *socket, int status)
{
    forget(socket);
    disconnect(socket, &QTcpSocket::readyRead, this, nullptr);
    const QByteArray line = statusLine(status);
    send(socket, line, "text/plain; charset=utf-8", line.mid(9) + '\n',
         status == 405 ? QByteArray("Allow: GET\r\n") : QByteArray());
}

void LoopbackRedirectReceiver::answerPage(QTcpSocket *socket, bool signedIn)
{
    // The page outlives this receiver if it is deleted as soon as finished() arrives: the
    // socket is on its own from here, gone when written or at the connection deadline.
    socket->setParent(nullptr);
    QTimer::singleShot(m_options.connectionDeadline, socket, [socket] {
        socket->abort();
        socket->deleteLater();
    });
    send(socket, statusLine(200), "text/html; charset=utf-8", page(signedIn));
}

void LoopbackRedirectReceiver::finish(Error error)
{
    if (m_finished)
        return;
    m_finished = true;
    m_error = std::move(error);
    m_timeout.stop();
    m_state.clear();
    // Stop listening at once: a second request is refused by the kernel, not answered.
    if (m_server)
        m_server->close();
    closeConnections();
    QMetaObject::invokeMethod(
            this, [this] { Q_EMIT finished(QPrivateSignal()); }, Qt::QueuedConnection);
}

void LoopbackRedirectReceiver::closeConnections()
{
    while (!m_connections.isEmpty()) {
        QTcpSocket *socket = m_connections.first().socket;
        forget(socket);
        socket->abort();
        socket->deleteLater();
    }
}

QByteArray *LoopbackRedirectReceiver::headOf(QTcpSocket *socket)
{
    for (Connection &connection : m_connections) {
        if (connection.socket == socket)
            return &connection.head;
    }
    return nullptr;
}

void LoopbackRedirectReceiver::forget(QTcpSocket *socket)
{
    for (qsizetype i = 0; i < m_connections.size(); ++i) {
        if (m_connections[i].socket == socket) {
            secureWipe(m_connections[i].head);
            m_connections.removeAt(i);
            return;
        }
    }
}

} // namespace Tessera::OAuth

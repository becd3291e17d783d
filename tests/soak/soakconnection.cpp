// SPDX-License-Identifier: MIT
#include "soakconnection.h"

#include <QtNetwork/QHostAddress>

Q_LOGGING_CATEGORY(lcSoak, "tessera.soak")

namespace Tessera::Soak {

SoakConnection::SoakConnection(quint16 port, int timeoutMs, QObject *parent)
    : QObject(parent)
    , m_port(port)
{
    m_timeout.setSingleShot(true);
    m_timeout.setInterval(timeoutMs);
    connect(&m_timeout, &QTimer::timeout, this, [this] {
        // finish() aborts the socket: a late answer must not be taken for the next request's.
        SoakResponse response;
        response.failure = SoakResponse::Failure::Timeout;
        response.detail = QStringLiteral("no response within %1 ms").arg(m_timeout.interval());
        finish(response);
    });
    connect(&m_socket, &QTcpSocket::readyRead, this, &SoakConnection::onReadyRead);
    connect(&m_socket, &QTcpSocket::disconnected, this, &SoakConnection::onDisconnected);
    connect(&m_socket, &QTcpSocket::errorOccurred, this, [this](QAbstractSocket::SocketError) {
        // A failed connect never emits disconnected(); a reset may come without it too.
        if (busy() && m_socket.state() != QAbstractSocket::ConnectedState)
            onDisconnected();
    });
}

void SoakConnection::send(const QByteArray &method, const QByteArray &path,
                          const QList<QPair<QByteArray, QByteArray>> &headers,
                          const QByteArray &body, Callback done)
{
    Q_ASSERT(!busy());
    m_callback = std::move(done);
    m_buffer.clear();
    if (m_socket.state() != QAbstractSocket::ConnectedState) {
        m_closeAccounted = true;
        m_socket.abort();
        m_closeAccounted = false;
        m_socket.connectToHost(QHostAddress::LocalHost, m_port);
        ++m_connectionsOpened;
    }
    QByteArray request;
    request.reserve(256 + body.size());
    request += method + ' ' + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + QByteArray::number(m_port)
            + "\r\n";
    for (const auto &[name, value] : headers)
        request += name + ": " + value + "\r\n";
    if (!body.isEmpty() || method == "POST")
        request += "Content-Length: " + QByteArray::number(body.size()) + "\r\n";
    request += "\r\n" + body;
    m_elapsed.start();
    m_timeout.start();
    // Written once connected when still connecting (QTcpSocket buffers it).
    m_socket.write(request);
}

void SoakConnection::abort()
{
    if (busy()) {
        SoakResponse response;
        response.failure = SoakResponse::Failure::Transport;
        response.detail = QStringLiteral("aborted by the load tool");
        finish(response);
    }
    m_closeAccounted = true;
    m_socket.abort();
}

void SoakConnection::onReadyRead()
{
    m_buffer += m_socket.readAll();
    if (!busy()) {
        if (!m_buffer.isEmpty()) {
            qCWarning(lcSoak) << "unsolicited bytes from the server:" << m_buffer.size();
            m_buffer.clear();
        }
        return;
    }
    SoakResponse response;
    if (tryParse(&response))
        finish(response);
}

void SoakConnection::onDisconnected()
{
    if (!busy()) {
        if (!m_closeAccounted)
            ++m_idleClosesByPeer;
        m_closeAccounted = true;
        return;
    }
    SoakResponse response;
    response.failure = SoakResponse::Failure::Transport;
    response.detail = m_socket.errorString();
    if (!m_buffer.isEmpty())
        response.detail += QStringLiteral(" (after %1 bytes of a response)").arg(m_buffer.size());
    finish(response);
}

void SoakConnection::finish(SoakResponse response)
{
    m_timeout.stop();
    response.elapsedMs = m_elapsed.elapsed();
    Callback callback = std::move(m_callback);
    m_callback = nullptr;
    if (response.failure != SoakResponse::Failure::None) {
        // Framing is lost or the peer is gone: never reuse this connection.
        m_closeAccounted = true;
        m_socket.abort();
    }
    if (callback)
        callback(response);
}

bool SoakConnection::tryParse(SoakResponse *response)
{
    const qsizetype headerEnd = m_buffer.indexOf("\r\n\r\n");
    if (headerEnd < 0)
        return false;
    const QList<QByteArray> lines = m_buffer.left(headerEnd).split('\n');
    const QList<QByteArray> statusLine = lines.first().trimmed().split(' ');
    bool statusOk = false;
    if (statusLine.size() >= 2 && statusLine.first() == "HTTP/1.1")
        response->status = statusLine.at(1).toInt(&statusOk);
    if (!statusOk) {
        response->failure = SoakResponse::Failure::Protocol;
        response->detail = QStringLiteral("bad status line");
        return true;
    }
    qint64 contentLength = -1;
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const QByteArray line = lines.at(i).trimmed();
        const qsizetype colon = line.indexOf(':');
        if (colon <= 0)
            continue;
        const QByteArray name = line.left(colon).trimmed().toLower();
        const QByteArray value = line.mid(colon + 1).trimmed();
        if (name == "content-length") {
            bool ok = false;
            contentLength = value.toLongLong(&ok);
            if (!ok || contentLength < 0)
                contentLength = -2;
        } else if (name == "transfer-encoding") {
            contentLength = -2; // the server is expected to send Content-Length
        } else if (name == "connection" && value.toLower().contains("close")) {
            // The next request would go to a closed socket: report it as such.
            response->detail = QStringLiteral("server answered with Connection: close");
        }
    }
    if (contentLength < 0) {
        response->failure = SoakResponse::Failure::Protocol;
        response->detail = QStringLiteral("response without a usable Content-Length");
        return true;
    }
    const qsizetype total = headerEnd + 4 + contentLength;
    if (m_buffer.size() < total)
        return false;
    response->body = m_buffer.mid(headerEnd + 4, contentLength);
    if (m_buffer.size() > total) {
        response->failure = SoakResponse::Failure::Protocol;
        response->detail =
                QStringLiteral("%1 bytes after the response").arg(m_buffer.size() - total);
        return true;
    }
    m_buffer.clear();
    if (!response->detail.isEmpty())
        response->failure = SoakResponse::Failure::Protocol;
    return true;
}

} // namespace Tessera::Soak

// SPDX-License-Identifier: MIT
#include "faultproxy.h"

#include <QtCore/QLoggingCategory>
#include <QtCore/QMetaEnum>
#include <QtCore/QTimer>
#include <QtNetwork/QTcpSocket>

#include <sys/socket.h>

#include <algorithm>
#include <memory>

Q_LOGGING_CATEGORY(lcFaultProxy, "tessera.test.proxy", QtWarningMsg)

namespace Tessera::Test {

namespace {

using Headers = QList<QPair<QByteArray, QByteArray>>;

constexpr qsizetype MaxHeaderBytes = 64 * 1024;
QByteArray headerValue(const Headers &headers, QByteArrayView name)
{
    for (const auto &header : headers) {
        if (header.first.compare(name, Qt::CaseInsensitive) == 0)
            return header.second;
    }
    return {};
}

bool hasToken(const QByteArray &value, QByteArrayView token)
{
    const QList<QByteArray> parts = value.split(',');
    return std::any_of(parts.cbegin(), parts.cend(), [token](const QByteArray &part) {
        return part.trimmed().compare(token, Qt::CaseInsensitive) == 0;
    });
}

struct Head
{
    QByteArray startLine;
    Headers headers;
    qsizetype headerEnd = 0; // offset just past the blank line
    int status = 0;          // responses only
};

enum class Frame { Incomplete, Complete, UntilClose, Invalid };

// Delimits the HTTP/1.1 message at the start of `buffer`. On Complete, `*length` is its size.
Frame frameMessage(const QByteArray &buffer, bool response, QByteArrayView requestMethod,
                   Head *head, qsizetype *length)
{
    const qsizetype blank = buffer.indexOf("\r\n\r\n");
    if (blank < 0)
        return buffer.size() > MaxHeaderBytes ? Frame::Invalid : Frame::Incomplete;
    if (blank > MaxHeaderBytes)
        return Frame::Invalid;
    head->headerEnd = blank + 4;
    head->headers.clear();
    const QList<QByteArray> lines = buffer.left(blank).split('\n');
    head->startLine = lines.first().trimmed();
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const QByteArray line = lines.at(i).trimmed();
        const qsizetype colon = line.indexOf(':');
        if (colon <= 0)
            return Frame::Invalid;
        head->headers.append({line.left(colon).trimmed(), line.mid(colon + 1).trimmed()});
    }
    const QList<QByteArray> parts = head->startLine.split(' ');
    if (response) {
        if (parts.size() < 2 || !parts.at(0).startsWith("HTTP/"))
            return Frame::Invalid;
        bool ok = false;
        head->status = parts.at(1).toInt(&ok);
        if (!ok || head->status < 100 || head->status > 999)
            return Frame::Invalid;
        if (head->status < 200 || head->status == 204 || head->status == 304
            || requestMethod == "HEAD") {
            *length = head->headerEnd;
            return Frame::Complete;
        }
    } else if (parts.size() != 3 || !parts.at(2).startsWith("HTTP/") || parts.at(0).isEmpty()) {
        return Frame::Invalid;
    }

    if (hasToken(headerValue(head->headers, "transfer-encoding"), "chunked")) {
        qsizetype pos = head->headerEnd;
        for (;;) {
            const qsizetype eol = buffer.indexOf("\r\n", pos);
            if (eol < 0)
                return Frame::Incomplete;
            QByteArray sizeField = buffer.mid(pos, eol - pos);
            if (const qsizetype semicolon = sizeField.indexOf(';'); semicolon >= 0)
                sizeField.truncate(semicolon);
            bool ok = false;
            const qint64 size = sizeField.trimmed().toLongLong(&ok, 16);
            if (!ok || size < 0 || size > (qint64(1) << 40))
                return Frame::Invalid;
            pos = eol + 2;
            if (size == 0) { // trailer section, up to an empty line
                for (;;) {
                    const qsizetype end = buffer.indexOf("\r\n", pos);
                    if (end < 0)
                        return Frame::Incomplete;
                    const bool empty = end == pos;
                    pos = end + 2;
                    if (empty) {
                        *length = pos;
                        return Frame::Complete;
                    }
                }
            }
            if (buffer.size() < pos + size + 2)
                return Frame::Incomplete;
            if (QByteArrayView(buffer).sliced(pos + size, 2) != "\r\n")
                return Frame::Invalid;
            pos += size + 2;
        }
    }
    const QByteArray contentLength = headerValue(head->headers, "content-length");
    if (!contentLength.isNull()) {
        bool ok = false;
        const qint64 size = contentLength.toLongLong(&ok);
        if (!ok || size < 0 || size > (qint64(1) << 40))
            return Frame::Invalid;
        *length = head->headerEnd + size;
        return buffer.size() >= *length ? Frame::Complete : Frame::Incomplete;
    }
    if (response)
        return Frame::UntilClose; // no length: the body ends when the server closes
    *length = head->headerEnd;
    return Frame::Complete;
}

QByteArray pathOf(const QByteArray &target)
{
    const qsizetype query = target.indexOf('?');
    return query < 0 ? target : target.left(query);
}

const char *kindName(Action::Kind kind)
{
    return QMetaEnum::fromType<Action::Kind>().valueToKey(int(kind));
}

// Closes with RST instead of FIN: SO_LINGER with a zero timeout, then close().
void resetSocket(QTcpSocket *socket)
{
    const qintptr fd = socket->socketDescriptor();
    if (fd != -1) {
        struct linger lingerOption = {1, 0};
        ::setsockopt(int(fd), SOL_SOCKET, SO_LINGER, &lingerOption, sizeof lingerOption);
    }
    socket->abort();
}

} // namespace

// One client connection and its upstream connection.
class FaultProxyConnection : public QObject
{
public:
    FaultProxyConnection(FaultProxy *proxy, QTcpSocket *client, int index);

    void release(); // of the held response
    void dropHeldResponse();
    void resetConnection() { closeClient(Close::Reset); }

private:
    enum class Close { Graceful, Reset };

    void onClientReadyRead();
    void processNext();
    void execute();
    void forward();
    void ensureUpstream();
    void onUpstreamReadyRead();
    void onUpstreamGone();
    void frameResponse();
    // `response` by value: it may be m_upstreamBuffer, which this clears.
    void responseComplete(QByteArray response, const Head &head, bool untilClose);
    void deliverResponse();
    void writeAndFinish(const QByteArray &bytes);
    void startTrickle(const QByteArray &bytes);
    void finishRequest();
    void discardUpstream();
    void closeClient(Close how);
    void closeClientAfterFlush(Close how, int delayMs);
    void shutdown(); // stop relaying; the client socket is left alone
    void onClientDisconnected();
    bool overLimit() const;

    FaultProxy *m_proxy;
    QTcpSocket *m_client;
    QTcpSocket *m_upstream = nullptr;
    const int m_index;
    int m_requestsOnConnection = 0;
    QByteArray m_clientBuffer;
    QByteArray m_upstreamBuffer;
    bool m_closed = false;

    // The request being handled.
    bool m_busy = false;
    int m_id = -1;
    Action m_action;
    QByteArray m_rawRequest;
    QByteArray m_method;
    bool m_requestWantsClose = false;
    int m_sendsLeft = 0;
    bool m_awaitingResponse = false;
    QList<QByteArray> m_responses;
    QByteArray m_delivered; // the response chosen for delivery
    qsizetype m_deliveredHeaderEnd = 0;
    bool m_closeAfterResponse = false;
    QTimer *m_trickle = nullptr;
    QByteArray m_trickleData;
    qsizetype m_trickleOffset = 0;
    qsizetype m_trickleChunk = 1;
};

FaultProxyConnection::FaultProxyConnection(FaultProxy *proxy, QTcpSocket *client, int index)
    : QObject(proxy)
    , m_proxy(proxy)
    , m_client(client)
    , m_index(index)
{
    m_client->setParent(this);
    connect(m_client, &QTcpSocket::readyRead, this, &FaultProxyConnection::onClientReadyRead);
    connect(m_client, &QTcpSocket::disconnected, this, &FaultProxyConnection::onClientDisconnected);
    if (m_client->bytesAvailable() > 0)
        QMetaObject::invokeMethod(this, &FaultProxyConnection::onClientReadyRead,
                                  Qt::QueuedConnection);
}

bool FaultProxyConnection::overLimit() const
{
    qint64 total = m_clientBuffer.size() + m_upstreamBuffer.size();
    for (const QByteArray &response : m_responses)
        total += response.size();
    return total > m_proxy->maxBufferedBytes();
}

void FaultProxyConnection::onClientReadyRead()
{
    if (m_closed)
        return;
    m_clientBuffer.append(m_client->readAll());
    if (overLimit()) {
        qCWarning(lcFaultProxy, "connection %d: more than %lld bytes buffered, resetting", m_index,
                  qlonglong(m_proxy->maxBufferedBytes()));
        closeClient(Close::Reset);
        return;
    }
    if (!m_busy)
        processNext();
}

void FaultProxyConnection::processNext()
{
    if (m_closed || m_busy)
        return;
    while (m_clientBuffer.startsWith("\r\n"))
        m_clientBuffer.remove(0, 2);
    Head head;
    qsizetype length = 0;
    switch (frameMessage(m_clientBuffer, false, {}, &head, &length)) {
    case Frame::Incomplete:
        return;
    case Frame::Invalid:
    case Frame::UntilClose:
        qCWarning(lcFaultProxy, "connection %d: malformed request, closing", m_index);
        closeClient(Close::Graceful);
        return;
    case Frame::Complete:
        break;
    }

    m_rawRequest = m_clientBuffer.left(length);
    m_clientBuffer.remove(0, length);

    RequestInfo info;
    info.connection = m_index;
    info.indexOnConnection = m_requestsOnConnection++;
    const QList<QByteArray> parts = head.startLine.split(' ');
    info.method = parts.at(0);
    info.target = parts.at(1);
    info.path = pathOf(info.target);
    info.headers = head.headers;
    info.body = m_rawRequest.mid(head.headerEnd);

    const QByteArray connectionHeader = headerValue(head.headers, "connection");
    m_requestWantsClose = parts.at(2) == "HTTP/1.0" ? !hasToken(connectionHeader, "keep-alive")
                                                    : hasToken(connectionHeader, "close");
    m_method = info.method;
    m_busy = true;
    m_responses.clear();
    m_delivered.clear();
    m_closeAfterResponse = false;
    m_sendsLeft = 0;

    QPointer<FaultProxyConnection> self(this);
    m_action = m_proxy->admit(info); // runs the rule, emits requestSeen
    if (!self || m_closed)
        return;
    m_id = info.id;
    qCDebug(lcFaultProxy, "connection %d request %d: %s %s -> %s", m_index, m_id,
            info.method.constData(), info.path.constData(), kindName(m_action.kind()));
    execute();
}

void FaultProxyConnection::execute()
{
    switch (m_action.kind()) {
    case Action::Kind::DropRequest:
        closeClient(Close::Graceful);
        return;
    case Action::Kind::ResetBeforeForward:
        closeClient(Close::Reset);
        return;
    case Action::Kind::Stall:
        return; // stays busy: later requests on this connection are never handled
    case Action::Kind::ReplaceResponse:
        m_client->write(m_action.raw());
        closeClient(Close::Graceful); // after the bytes are written
        return;
    case Action::Kind::DelayRequest:
        m_sendsLeft = 1;
        QTimer::singleShot(m_action.ms(), this, &FaultProxyConnection::forward);
        return;
    case Action::Kind::DuplicateRequest:
        m_sendsLeft = 2;
        forward();
        return;
    default:
        m_sendsLeft = 1;
        forward();
        return;
    }
}

void FaultProxyConnection::forward()
{
    if (m_closed)
        return;
    --m_sendsLeft;
    m_awaitingResponse = true;
    m_upstreamBuffer.clear();
    ensureUpstream();
    m_upstream->write(m_rawRequest); // buffered until connected
    m_proxy->noteForwarded(m_id);
}

void FaultProxyConnection::ensureUpstream()
{
    if (m_upstream)
        return;
    m_upstream = new QTcpSocket(this);
    connect(m_upstream, &QTcpSocket::readyRead, this, &FaultProxyConnection::onUpstreamReadyRead);
    connect(m_upstream, &QTcpSocket::disconnected, this, &FaultProxyConnection::onUpstreamGone);
    connect(m_upstream, &QTcpSocket::errorOccurred, this, [this](QAbstractSocket::SocketError) {
        // A failed connect emits no disconnected(); a remote close emits both.
        if (m_upstream && m_upstream->state() != QAbstractSocket::ConnectedState)
            onUpstreamGone();
    });
    m_upstream->connectToHost(m_proxy->m_upstreamHost, m_proxy->m_upstreamPort);
}

void FaultProxyConnection::discardUpstream()
{
    if (!m_upstream)
        return;
    QTcpSocket *upstream = m_upstream;
    m_upstream = nullptr;
    upstream->disconnect(this);
    upstream->abort();
    upstream->deleteLater();
}

void FaultProxyConnection::onUpstreamReadyRead()
{
    if (m_closed || !m_upstream)
        return;
    const QByteArray bytes = m_upstream->readAll();
    if (!m_awaitingResponse)
        return; // nothing asked for: not part of any response we relay
    m_upstreamBuffer.append(bytes);
    if (overLimit()) {
        qCWarning(lcFaultProxy, "connection %d: more than %lld bytes buffered, resetting", m_index,
                  qlonglong(m_proxy->maxBufferedBytes()));
        closeClient(Close::Reset);
        return;
    }
    frameResponse();
}

void FaultProxyConnection::frameResponse()
{
    while (m_awaitingResponse && !m_closed) {
        Head head;
        qsizetype length = 0;
        switch (frameMessage(m_upstreamBuffer, true, m_method, &head, &length)) {
        case Frame::Incomplete:
        case Frame::UntilClose:
            return;
        case Frame::Invalid:
            qCWarning(lcFaultProxy, "connection %d: malformed upstream response, closing", m_index);
            closeClient(Close::Graceful);
            return;
        case Frame::Complete:
            break;
        }
        const QByteArray response = m_upstreamBuffer.left(length);
        m_upstreamBuffer.remove(0, length);
        if (head.status < 200 && head.status != 101) {
            // Interim response (100 Continue): relayed as is, unless it belongs to the first
            // copy of a duplicated request.
            if (m_sendsLeft == 0
                && (m_action.kind() == Action::Kind::Forward
                    || m_action.kind() == Action::Kind::DelayRequest))
                m_client->write(response);
            continue;
        }
        responseComplete(response, head, false);
    }
}

void FaultProxyConnection::onUpstreamGone()
{
    if (m_closed || !m_upstream)
        return;
    QTcpSocket *gone = m_upstream;
    m_upstream = nullptr;
    gone->disconnect(this);
    const QByteArray rest = gone->readAll();
    gone->deleteLater();

    if (!m_awaitingResponse) {
        if (!m_busy)
            closeClient(Close::Graceful); // mirror the server closing an idle connection
        else if (!m_responses.isEmpty())
            m_closeAfterResponse = true; // response held, delayed or trickling
        // Otherwise the request has not been forwarded yet; forward() reconnects.
        return;
    }
    m_upstreamBuffer.append(rest);
    frameResponse();
    // Done, or the second copy of a duplicated request is on its way on a new connection.
    if (m_closed || !m_awaitingResponse || m_upstream)
        return;
    Head head;
    qsizetype length = 0;
    if (!m_upstreamBuffer.isEmpty()
        && frameMessage(m_upstreamBuffer, true, m_method, &head, &length) == Frame::UntilClose) {
        responseComplete(m_upstreamBuffer, head, true);
        return;
    }
    // The server closed before a complete response: relay what there is, then close.
    qCDebug(lcFaultProxy, "connection %d: upstream closed before a complete response", m_index);
    m_awaitingResponse = false;
    m_client->write(m_upstreamBuffer);
    m_upstreamBuffer.clear();
    closeClient(Close::Graceful);
}

void FaultProxyConnection::responseComplete(QByteArray response, const Head &head, bool untilClose)
{
    m_awaitingResponse = false;
    m_upstreamBuffer.clear();
    m_responses.append(std::move(response));
    const bool serverCloses =
            untilClose || !m_upstream || hasToken(headerValue(head.headers, "connection"), "close");
    if (serverCloses)
        discardUpstream();
    m_proxy->noteUpstreamStatus(m_id, head.status);
    if (m_closed)
        return;

    if (m_sendsLeft > 0) {
        forward();
        return;
    }

    const bool deliverFirst = m_action.kind() == Action::Kind::DuplicateRequest
            && m_action.deliver() == Action::Deliver::First;
    m_delivered = deliverFirst ? m_responses.first() : m_responses.last();
    if (deliverFirst) {
        Head first;
        qsizetype length = 0;
        frameMessage(m_delivered, true, m_method, &first, &length);
        m_deliveredHeaderEnd = first.headerEnd;
        m_closeAfterResponse = m_closeAfterResponse || untilClose
                || hasToken(headerValue(first.headers, "connection"), "close")
                || headerValue(first.headers, "content-length").isNull();
    } else {
        m_deliveredHeaderEnd = head.headerEnd;
        m_closeAfterResponse = m_closeAfterResponse || serverCloses;
    }
    deliverResponse();
}

void FaultProxyConnection::deliverResponse()
{
    switch (m_action.kind()) {
    case Action::Kind::ForwardThenDropResponse:
        closeClient(Close::Graceful);
        return;
    case Action::Kind::ForwardThenResetMidBody: {
        const qsizetype body = m_delivered.size() - m_deliveredHeaderEnd;
        m_client->write(m_delivered.left(m_deliveredHeaderEnd + body / 2));
        closeClientAfterFlush(Close::Reset, Action::ResetAfterWriteMs);
        return;
    }
    case Action::Kind::TruncateResponse: {
        const qint64 keep = m_action.countsBodyOnly() ? m_deliveredHeaderEnd + m_action.bytes()
                                                      : m_action.bytes();
        m_client->write(m_delivered.left(keep));
        closeClient(Close::Graceful);
        return;
    }
    case Action::Kind::DelayResponse:
        QTimer::singleShot(m_action.ms(), this, [this] { writeAndFinish(m_delivered); });
        return;
    case Action::Kind::TrickleResponse:
        startTrickle(m_delivered);
        return;
    case Action::Kind::HoldResponse:
        m_proxy->hold(m_id, this);
        return;
    default:
        writeAndFinish(m_delivered);
        return;
    }
}

void FaultProxyConnection::release()
{
    if (!m_closed)
        writeAndFinish(m_delivered);
}

void FaultProxyConnection::dropHeldResponse()
{
    closeClient(Close::Graceful);
}

void FaultProxyConnection::writeAndFinish(const QByteArray &bytes)
{
    if (m_closed)
        return;
    m_client->write(bytes);
    finishRequest();
}

void FaultProxyConnection::startTrickle(const QByteArray &bytes)
{
    const int rate = std::max(1, m_action.bytesPerSecond());
    // At most 20 writes a second; slower rates write one byte at a time.
    const int interval = rate >= 20 ? 50 : 1000 / rate;
    m_trickleChunk = rate >= 20 ? rate / 20 : 1;
    m_trickleData = bytes;
    m_trickleOffset = 0;
    if (!m_trickle) {
        m_trickle = new QTimer(this);
        connect(m_trickle, &QTimer::timeout, this, [this] {
            if (m_closed)
                return;
            m_client->write(m_trickleData.mid(m_trickleOffset, m_trickleChunk));
            m_trickleOffset += m_trickleChunk;
            if (m_trickleOffset >= m_trickleData.size()) {
                m_trickle->stop();
                m_trickleData.clear();
                finishRequest();
            }
        });
    }
    m_trickle->setInterval(interval);
    m_trickle->start();
}

void FaultProxyConnection::finishRequest()
{
    m_busy = false;
    m_id = -1;
    m_responses.clear();
    m_delivered.clear();
    if (m_closeAfterResponse || m_requestWantsClose) {
        closeClient(Close::Graceful);
        return;
    }
    QMetaObject::invokeMethod(this, &FaultProxyConnection::processNext, Qt::QueuedConnection);
}

void FaultProxyConnection::closeClientAfterFlush(Close how, int delayMs)
{
    const auto closeLater = [this, how, delayMs] {
        QTimer::singleShot(delayMs, this, [this, how] { closeClient(how); });
    };
    if (m_client->bytesToWrite() == 0) {
        closeLater();
        return;
    }
    auto once = std::make_shared<QMetaObject::Connection>();
    *once = connect(m_client, &QTcpSocket::bytesWritten, this, [this, once, closeLater] {
        if (m_client->bytesToWrite() > 0)
            return;
        QObject::disconnect(*once);
        closeLater();
    });
}

void FaultProxyConnection::shutdown()
{
    if (m_closed)
        return;
    m_closed = true;
    if (m_trickle)
        m_trickle->stop();
    if (m_id >= 0)
        m_proxy->unhold(m_id);
    discardUpstream();
}

void FaultProxyConnection::closeClient(Close how)
{
    if (m_closed)
        return;
    shutdown();
    if (how == Close::Reset) {
        resetSocket(m_client);
        deleteLater();
        return;
    }
    // Writes what is still buffered, then FIN; onClientDisconnected() deletes this.
    m_client->disconnectFromHost();
    if (m_client->state() == QAbstractSocket::UnconnectedState)
        deleteLater();
}

void FaultProxyConnection::onClientDisconnected()
{
    shutdown();
    deleteLater();
}

// --- Action ---

Action Action::delayRequest(int ms)
{
    Action action(Kind::DelayRequest);
    action.m_ms = ms;
    return action;
}

Action Action::truncateResponse(qint64 bytes)
{
    Action action(Kind::TruncateResponse);
    action.m_bytes = bytes;
    return action;
}

Action Action::truncateResponseBody(qint64 bodyBytes)
{
    Action action(Kind::TruncateResponse);
    action.m_bytes = bodyBytes;
    action.m_bodyOnly = true;
    return action;
}

Action Action::delayResponse(int ms)
{
    Action action(Kind::DelayResponse);
    action.m_ms = ms;
    return action;
}

Action Action::trickleResponse(int bytesPerSecond)
{
    Action action(Kind::TrickleResponse);
    action.m_bytesPerSecond = bytesPerSecond;
    return action;
}

Action Action::duplicateRequest(Deliver deliver)
{
    Action action(Kind::DuplicateRequest);
    action.m_deliver = deliver;
    return action;
}

Action Action::replaceResponse(QByteArray raw)
{
    Action action(Kind::ReplaceResponse);
    action.m_raw = std::move(raw);
    return action;
}

Action Action::replaceResponse(int status, QByteArrayView contentType, QByteArrayView body)
{
    QByteArray raw = "HTTP/1.1 " + QByteArray::number(status) + " Fault\r\n";
    if (!contentType.isEmpty())
        raw += "Content-Type: " + contentType.toByteArray() + "\r\n";
    raw += "Content-Length: " + QByteArray::number(body.size()) + "\r\nConnection: close\r\n\r\n";
    raw += body;
    return replaceResponse(std::move(raw));
}

bool Action::forwards() const
{
    switch (m_kind) {
    case Kind::DropRequest:
    case Kind::ResetBeforeForward:
    case Kind::ReplaceResponse:
    case Kind::Stall:
        return false;
    default:
        return true;
    }
}

QByteArray RequestInfo::header(QByteArrayView name) const
{
    return headerValue(headers, name);
}

// --- FaultProxy ---

FaultProxy::FaultProxy(QHostAddress upstreamHost, quint16 upstreamPort, QObject *parent)
    : QObject(parent)
    , m_upstreamHost(std::move(upstreamHost))
    , m_upstreamPort(upstreamPort)
{
    qRegisterMetaType<Tessera::Test::RequestInfo>();
    connect(&m_server, &QTcpServer::newConnection, this, &FaultProxy::onNewConnection);
}

FaultProxy::FaultProxy(const QUrl &upstream, QObject *parent)
    : FaultProxy(QHostAddress(upstream.host()), quint16(upstream.port()), parent)
{ }

FaultProxy::~FaultProxy()
{
    m_server.close();
    m_held.clear();
    // Before the members go: connections call back into the proxy.
    qDeleteAll(findChildren<FaultProxyConnection *>(Qt::FindDirectChildrenOnly));
}

bool FaultProxy::listen()
{
    return m_server.listen(QHostAddress::LocalHost, 0);
}

quint16 FaultProxy::port() const
{
    return m_server.serverPort();
}

QUrl FaultProxy::url() const
{
    QUrl url;
    url.setScheme(QStringLiteral("http"));
    url.setHost(QStringLiteral("127.0.0.1"));
    url.setPort(port());
    return url;
}

void FaultProxy::setUpstream(QHostAddress host, quint16 port)
{
    m_upstreamHost = std::move(host);
    m_upstreamPort = port;
}

int FaultProxy::requestCount(QByteArrayView path) const
{
    return int(std::count_if(m_requests.cbegin(), m_requests.cend(),
                             [path](const RequestInfo &info) { return info.path == path; }));
}

int FaultProxy::requestCount(QByteArrayView method, QByteArrayView path) const
{
    return int(std::count_if(m_requests.cbegin(), m_requests.cend(),
                             [method, path](const RequestInfo &info) {
                                 return info.method == method && info.path == path;
                             }));
}

void FaultProxy::clearHistory()
{
    m_requests.clear();
    m_pathCounts.clear();
    m_forwarded = 0;
    m_connections = 0;
}

bool FaultProxy::releaseHeld(int requestId)
{
    const QPointer<FaultProxyConnection> connection = m_held.take(requestId);
    if (!connection)
        return false;
    qCDebug(lcFaultProxy, "request %d: releasing held response", requestId);
    connection->release();
    return true;
}

bool FaultProxy::dropHeld(int requestId)
{
    const QPointer<FaultProxyConnection> connection = m_held.take(requestId);
    if (!connection)
        return false;
    qCDebug(lcFaultProxy, "request %d: dropping held response", requestId);
    connection->dropHeldResponse();
    return true;
}

void FaultProxy::closeAllConnections()
{
    m_held.clear();
    const auto connections = findChildren<FaultProxyConnection *>(Qt::FindDirectChildrenOnly);
    for (FaultProxyConnection *connection : connections)
        connection->resetConnection();
}

void FaultProxy::onNewConnection()
{
    while (QTcpSocket *socket = m_server.nextPendingConnection())
        new FaultProxyConnection(this, socket, m_connections++);
}

Action FaultProxy::admit(RequestInfo &info)
{
    info.id = int(m_requests.size());
    info.pathIndex = m_pathCounts[info.path]++;
    const Action action = m_rule ? m_rule(info) : Action::forward();
    info.action = action.kind();
    m_requests.append(info);
    Q_EMIT requestSeen(info);
    return action;
}

void FaultProxy::noteForwarded(int requestId)
{
    ++m_forwarded;
    if (requestId >= 0 && requestId < m_requests.size())
        ++m_requests[requestId].forwardCount;
}

void FaultProxy::noteUpstreamStatus(int requestId, int status)
{
    if (requestId >= 0 && requestId < m_requests.size())
        m_requests[requestId].upstreamStatus = status;
    Q_EMIT upstreamResponded(requestId, status);
}

void FaultProxy::hold(int requestId, FaultProxyConnection *connection)
{
    m_held.insert(requestId, connection);
    qCDebug(lcFaultProxy, "request %d: response held", requestId);
    Q_EMIT responseHeld(requestId);
}

void FaultProxy::unhold(int requestId)
{
    m_held.remove(requestId);
}

} // namespace Tessera::Test

// SPDX-License-Identifier: MIT
// Over 500 lines on purpose: one connection's guard, whose hand-over to Qt's
// parser, read pausing (the plug) and deadlines act on the same socket state;
// apart, each would have to re-check what the others did to it.
#include "httpconnection.h"

#include "logging.h"

#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtNetwork/QSslSocket>

#include <sys/socket.h>

namespace Tessera::Server {
namespace {

QByteArrayView reasonPhrase(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

} // namespace

QByteArray closingErrorResponse(int status, QByteArrayView code, QByteArrayView detail,
                                QByteArrayView extraHeaders)
{
    const QByteArray body =
            QJsonDocument(QJsonObject{{QStringLiteral("code"), QString::fromLatin1(code)},
                                      {QStringLiteral("detail"), QString::fromLatin1(detail)}})
                    .toJson(QJsonDocument::Compact);
    QByteArray response = "HTTP/1.1 " + QByteArray::number(status) + ' '
            + reasonPhrase(status).toByteArray() + "\r\n";
    response += "Content-Type: application/json\r\n"
                "Cache-Control: no-store\r\n"
                "X-Content-Type-Options: nosniff\r\n"
                "Connection: close\r\n";
    response += extraHeaders.toByteArray();
    response += "Content-Length: " + QByteArray::number(body.size()) + "\r\n\r\n";
    response += body;
    return response;
}

HttpConnection::HttpConnection(QTcpSocket *socket, const ConnectionSettings &settings,
                               std::function<void()> onClosed)
    : QObject(socket)
    , m_socket(socket)
    , m_ssl(qobject_cast<QSslSocket *>(socket))
    , m_released(dynamic_cast<ReleasedRequest *>(socket))
    , m_settings(settings)
    , m_onClosed(std::move(onClosed))
    , m_framer(settings.framing)
    , m_acceptedAt(Clock::now())
    , m_phaseStart(m_acceptedAt)
    , m_lastAnswer(m_acceptedAt)
    , m_outputSince(m_acceptedAt)
{
    // Qt's buffer holds at most this much before the kernel's buffer (and TCP
    // flow control) takes over; every readyRead empties it.
    socket->setReadBufferSize(settings.readBufferBytes);
    connect(socket, &QIODevice::readyRead, this, &HttpConnection::onReadyRead);
    // Output progress is the kernel taking bytes: with TLS, ciphertext (the
    // plaintext bytesWritten only says it was encrypted).
    if (m_ssl)
        connect(m_ssl, &QSslSocket::encryptedBytesWritten, this, &HttpConnection::onBytesWritten);
    else
        connect(socket, &QIODevice::bytesWritten, this, &HttpConnection::onBytesWritten);
    m_timer.setSingleShot(true);
    connect(&m_timer, &QTimer::timeout, this, &HttpConnection::onTimeout);
    updateTimer();
}

HttpConnection::~HttpConnection()
{
    if (m_onClosed)
        m_onClosed();
}

// Bytes written but not yet handed to the kernel (for TLS, plaintext and ciphertext).
qint64 HttpConnection::pendingOutput() const
{
    qint64 pending = m_socket->bytesToWrite();
    if (m_ssl)
        pending += m_ssl->encryptedBytesToWrite();
    return pending;
}

QString HttpConnection::peer() const
{
    return m_socket->peerAddress().toString();
}

void HttpConnection::onReadyRead()
{
    if (m_releasing)
        return;
    // QHttpServer starts a transaction on every readyRead; since this guard
    // emptied the buffer before, it read nothing in it. Closing it here keeps
    // the bytes read below from being kept for a rollback.
    if (m_socket->isTransactionStarted())
        m_socket->commitTransaction();
    readAvailable();
    advance();
}

// Empties Qt's read buffer, always: what is left in it when a readyRead is
// delivered would be read by QHttpServer's slot, which runs after this one.
void HttpConnection::readAvailable()
{
    char buffer[16 * 1024];
    qint64 n = 0;
    // Read until empty: the last, short read also re-arms the socket's read notifier.
    while ((n = m_socket->read(buffer, sizeof buffer)) > 0) {
        QByteArrayView bytes(buffer, n);
        if (m_plugged) {
            // The plug is always first: it went in while the buffer was empty.
            // Qt added data behind it (TLS decrypts records it already had).
            m_plugged = false;
            bytes = bytes.sliced(1);
        }
        take(bytes);
    }
}

void HttpConnection::take(QByteArrayView bytes)
{
    if (m_closing || bytes.isEmpty())
        return; // a closing connection reads and drops until the client is done
    if (!m_unframed.isEmpty()) {
        m_unframed.append(bytes);
        return;
    }
    const qsizetype used = m_framer.feed(bytes);
    if (used < bytes.size())
        m_unframed = bytes.sliced(used).toByteArray();
}

void HttpConnection::feedFramer()
{
    if (!m_unframed.isEmpty()) {
        const qsizetype used = m_framer.feed(m_unframed);
        if (used == m_unframed.size())
            m_unframed = QByteArray(); // its memory too
        else
            m_unframed.remove(0, used);
    }
    trackPhase();
}

void HttpConnection::onBytesWritten()
{
    const Clock::time_point now = Clock::now();
    m_outputSince = now;
    m_lastAnswer = now;
    if (m_closing) {
        shutdownWhenFlushed();
        return;
    }
    advance();
}

void HttpConnection::noteWrite()
{
    // The output deadline counts from the first unsent byte, then from each
    // time the kernel takes some.
    if (pendingOutput() == 0)
        m_outputSince = Clock::now();
    if (!m_outstanding || m_responseBegun)
        return;
    // QHttpServerResponder writes a whole answer in one go. An answer written
    // during the hand-over is complete when it returns (release() goes on);
    // one written later (a login) is complete once control is back in the
    // event loop.
    m_responseBegun = true;
    if (!m_releasing)
        QMetaObject::invokeMethod(this, &HttpConnection::finishResponse, Qt::QueuedConnection);
}

// Hands over what can be handed over, then starts or stops reading to match.
void HttpConnection::advance()
{
    processQueue();
    if (readingWanted()) {
        if (m_paused) {
            resumeReading(); // may bring bytes the framer can take at once
            processQueue();
        }
    }
    if (!readingWanted())
        pauseReading();
    // A safety net: the plug keeps this to a read or two.
    if (m_unframed.size() > 4 * m_settings.readBufferBytes) {
        qCWarning(lcServerHttp) << "connection from" << peer()
                                << "closed: more unread bytes than it may hold";
        m_closing = true;
        m_socket->abort();
        return;
    }
    updateTimer();
}

void HttpConnection::trackPhase()
{
    const RequestFramer::Phase phase = m_framer.phase();
    const quint64 completed = m_framer.completedRequests();
    const bool newMessage = completed != m_trackedCompleted;
    if (phase == RequestFramer::Phase::Head
        && (m_trackedPhase != RequestFramer::Phase::Head || newMessage)) {
        // The first request's head counts from the accept (TLS handshake included).
        m_phaseStart = completed == 0 ? m_acceptedAt : Clock::now();
    } else if (phase == RequestFramer::Phase::Body
               && (m_trackedPhase != RequestFramer::Phase::Body || newMessage)) {
        m_phaseStart = Clock::now();
    }
    m_trackedPhase = phase;
    m_trackedCompleted = completed;
}

void HttpConnection::processQueue()
{
    while (!m_closing && !m_outstanding && !m_releasing
           && m_socket->state() == QAbstractSocket::ConnectedState) {
        feedFramer();
        if (m_framer.hasRequest()) {
            // A client that does not read its answers gets no more of them.
            if (pendingOutput() > m_settings.writeBacklogBytes)
                return;
            release(m_framer.takeRequest());
            continue; // an answer written during the hand-over: the next one
        }
        if (m_framer.failed()) {
            respondAndClose(m_framer.error());
        } else if (m_framer.stopped()) {
            lingerClose();
        } else if (m_framer.wantsContinue()) {
            m_socket->write("HTTP/1.1 100 Continue\r\n\r\n");
            m_framer.continueSent();
        }
        return;
    }
}

// Closes the connection at once; what was handed over and not read is never read.
void HttpConnection::abortReleased()
{
    if (m_released)
        m_released->drop();
    m_closing = true;
    m_socket->abort();
}

void HttpConnection::release(RequestFramer::Request request)
{
    m_outstanding = true;
    m_responseBegun = false;
    m_closeAfterResponse = request.closeAfter;
    if (m_socket->isTransactionStarted())
        m_socket->commitTransaction();
    // Qt's parser must find the request alone in the buffer.
    const bool plugged = m_plugged;
    removePlug();
    const qsizetype size = request.message.size();
    if (m_released) {
        m_released->hand(std::move(request.message));
    } else {
        const QByteArray &bytes = request.message;
        for (qsizetype i = bytes.size(); i-- > 0;)
            m_socket->ungetChar(bytes.at(i));
    }
    if (m_socket->bytesAvailable() != size) {
        qCWarning(lcServerHttp) << "cannot hand a request to the HTTP parser; connection from"
                                << peer() << "closed";
        abortReleased();
        return;
    }
    m_releasing = true;
    {
        // Qt parses and dispatches the request within this signal; its handlers read the
        // held fields from here.
        const HeldFields::Dispatch dispatch(&request.heldFields);
        emit m_socket->readyRead();
    }
    m_releasing = false;
    // Qt's parser and the framer agree on where a canonical request ends; if
    // they ever did not, what is left must not be taken for another request.
    if (m_socket->bytesAvailable() > 0) {
        qCWarning(lcServerHttp) << "the HTTP parser left" << m_socket->bytesAvailable()
                                << "bytes of a framed request; connection from" << peer()
                                << "closed";
        abortReleased();
        return;
    }
    if (plugged)
        insertPlug();
    if (m_responseBegun)
        completeResponse();
}

// An answer written later than the hand-over (a login): once it is written.
void HttpConnection::finishResponse()
{
    if (!m_outstanding)
        return;
    completeResponse();
    if (!m_closing)
        advance();
}

void HttpConnection::completeResponse()
{
    m_outstanding = false;
    m_lastAnswer = Clock::now();
    if (m_closeAfterResponse)
        lingerClose();
}

void HttpConnection::respondAndClose(const FramingError &error)
{
    if (error.status != 0) {
        qCDebug(lcServerHttp) << "request from" << peer() << "refused:" << error.status
                              << error.detail.constData();
        m_socket->write(closingErrorResponse(error.status, error.code, error.detail));
    } else {
        qCDebug(lcServerHttp) << "connection from" << peer()
                              << "closed:" << error.detail.constData();
    }
    lingerClose();
}

void HttpConnection::lingerClose()
{
    if (m_closing)
        return;
    m_closing = true;
    m_unframed = QByteArray();
    m_lingerDeadline = Clock::now() + m_settings.lingerTimeout;
    resumeReading(); // what the client still sends is read and dropped
    shutdownWhenFlushed();
    updateTimer();
}

// Checked from the event loop: QSslSocket reports bytesWritten while it still
// holds the ciphertext it is about to hand to the kernel.
void HttpConnection::shutdownWhenFlushed()
{
    QMetaObject::invokeMethod(
            this,
            [this] {
                if (pendingOutput() == 0)
                    shutdownWrite();
            },
            Qt::QueuedConnection);
}

// Half-close: the client reads the last answer and then end-of-stream; what it
// still sends is read and dropped until it closes or the linger time ends, so
// the kernel does not reset the connection under the unread answer.
void HttpConnection::shutdownWrite()
{
    if (m_shutdownSent)
        return;
    m_shutdownSent = true;
    const qintptr descriptor = m_socket->socketDescriptor();
    if (descriptor >= 0)
        ::shutdown(int(descriptor), SHUT_WR);
}

bool HttpConnection::readingWanted() const
{
    return m_closing || (m_unframed.isEmpty() && pendingOutput() <= m_settings.writeBacklogBytes);
}

// Qt reads from the kernel only while its read buffer has room: one byte of
// room at once (so at most a byte comes in before the plug), none once the
// plug is in. The plug goes in from the event loop, never while a readyRead is
// being delivered: QHttpServer's slot would read it.
void HttpConnection::pauseReading()
{
    if (m_socket->state() != QAbstractSocket::ConnectedState)
        return;
    if (!m_paused) {
        m_paused = true;
        m_socket->setReadBufferSize(1);
    }
    if (m_plugged || m_plugScheduled)
        return;
    m_plugScheduled = true;
    QMetaObject::invokeMethod(
            this,
            [this] {
                m_plugScheduled = false;
                if (!m_paused || m_plugged || m_socket->state() != QAbstractSocket::ConnectedState)
                    return;
                // Every readyRead emptied the buffer; should Qt ever have kept
                // something without one, it is taken first.
                if (m_socket->bytesAvailable() > 0) {
                    readAvailable();
                    advance();
                    if (!m_paused)
                        return;
                }
                insertPlug();
            },
            Qt::QueuedConnection);
}

void HttpConnection::resumeReading()
{
    if (!m_paused)
        return;
    m_paused = false;
    removePlug();
    if (m_socket->state() != QAbstractSocket::ConnectedState)
        return;
    m_socket->setReadBufferSize(m_settings.readBufferBytes);
    // Anything Qt holds (TLS: decrypted behind the plug), and the read that
    // re-arms its read notifier.
    readAvailable();
}

void HttpConnection::insertPlug()
{
    if (m_plugged || m_socket->state() != QAbstractSocket::ConnectedState)
        return;
    if (m_socket->isTransactionStarted())
        m_socket->commitTransaction();
    m_socket->ungetChar('\n');
    m_plugged = true;
}

void HttpConnection::removePlug()
{
    if (!m_plugged)
        return;
    m_plugged = false;
    if (!m_socket->isOpen())
        return; // aborted: the buffer is gone with the plug
    if (m_socket->isTransactionStarted())
        m_socket->commitTransaction();
    char plug = 0;
    m_socket->read(&plug, 1);
}

bool HttpConnection::outputStalled(Clock::time_point now) const
{
    return pendingOutput() > 0 && now >= m_outputSince + m_settings.idleTimeout;
}

void HttpConnection::onTimeout()
{
    const std::optional<Clock::time_point> due = deadline();
    if (!due)
        return; // re-armed when a deadline runs again
    const Clock::time_point now = Clock::now();
    if (now < *due) {
        updateTimer(); // the deadline moved on, or a coarse timer fired early
        return;
    }
    if (m_closing) {
        m_socket->abort();
        return;
    }
    if (outputStalled(now)) {
        // Whatever else it sends, a client that takes none of its answers for
        // this long is not waited for: no answer could reach it.
        qCDebug(lcServerHttp) << "connection from" << peer() << "closed: its answers are not read";
        m_closing = true;
        m_socket->abort();
        return;
    }
    switch (m_framer.phase()) {
    case RequestFramer::Phase::Head:
    case RequestFramer::Phase::Body:
        qCDebug(lcServerHttp) << "request from" << peer() << "not received in time";
        m_framer.fail(408, "request_timeout", "request not received in time");
        processQueue();
        break;
    default:
        // Nothing of a request arrived (a silent or idle keep-alive connection).
        qCDebug(lcServerHttp) << "idle connection from" << peer() << "closed";
        lingerClose();
        break;
    }
    updateTimer();
}

std::optional<HttpConnection::Clock::time_point> HttpConnection::deadline() const
{
    if (m_closing)
        return m_lingerDeadline;
    // Answers the kernel has not taken: the client must keep reading them,
    // whatever it keeps sending.
    std::optional<Clock::time_point> due;
    if (pendingOutput() > 0)
        due = m_outputSince + m_settings.idleTimeout;
    if (m_outstanding)
        return due; // the server is working on an answer: no request deadline runs
    std::optional<Clock::time_point> request;
    switch (m_framer.phase()) {
    case RequestFramer::Phase::Head:
        request = m_phaseStart + m_settings.headerTimeout;
        break;
    case RequestFramer::Phase::Body:
        request = m_phaseStart + m_settings.bodyTimeout;
        break;
    case RequestFramer::Phase::Idle:
        request = m_framer.completedRequests() == 0 ? m_acceptedAt + m_settings.headerTimeout
                                                    : m_lastAnswer + m_settings.idleTimeout;
        break;
    case RequestFramer::Phase::Stopped:
        break; // answers still to be written: the output deadline above
    }
    if (!due || (request && *request < *due))
        return request;
    return due;
}

void HttpConnection::updateTimer()
{
    // The timer is only restarted when the deadline moves earlier: a timer that
    // fires before its deadline (or with none) is re-armed by onTimeout(), which
    // keeps a busy keep-alive connection from re-registering a timer per request.
    const std::optional<Clock::time_point> due = deadline();
    if (!due || (m_timer.isActive() && *due >= m_timerDue))
        return;
    m_timerDue = *due;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*due - Clock::now());
    m_timer.start(int(qBound(qint64(0), qint64(left.count()) + 1, qint64(24 * 3600 * 1000))));
}

} // namespace Tessera::Server

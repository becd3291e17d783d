// SPDX-License-Identifier: MIT
#pragma once

#include "httpframing.h"

#include <QtCore/QObject>
#include <QtCore/QPointer>
#include <QtCore/QTimer>
#include <QtNetwork/QTcpSocket>

QT_FORWARD_DECLARE_CLASS(QSslSocket)

#include <chrono>
#include <functional>
#include <optional>

namespace Tessera::Server {

struct ConnectionSettings
{
    FramingLimits framing;
    std::chrono::milliseconds headerTimeout{10000}; // from accept, or from a head's first byte
    std::chrono::milliseconds bodyTimeout{10000};   // from the end of the head
    std::chrono::milliseconds idleTimeout{10000};   // keep-alive, or a client not reading
    std::chrono::milliseconds lingerTimeout{2000};  // after the last answer, before the reset
    qint64 readBufferBytes = 16 * 1024;             // per socket, in Qt's buffer
    qint64 writeBacklogBytes = 256 * 1024;          // unread answers before reading pauses
};

// A complete answer that closes the connection: JSON error body, no-store.
QByteArray closingErrorResponse(int status, QByteArrayView code, QByteArrayView detail,
                                QByteArrayView extraHeaders = {});

// Guards one accepted connection for its whole life, in front of QHttpServer.
// It is connected to the socket's readyRead before QHttpServer is, so it reads
// every byte first: the bytes go through RequestFramer, and only a complete,
// validated request in canonical form is put back into the socket's buffer
// (QIODevice::ungetChar) and announced with readyRead, one request at a time,
// the next one only after the answer to the previous one has begun. Qt's
// parser therefore never sees a partial or malformed request, never sees two
// at once, and answers pipelined requests in order. The guard also runs the
// connection's deadlines (head, body, keep-alive idle), answers framing errors
// itself and closes after them with a lingering close, so the client reads the
// answer instead of a reset.
class HttpConnection : public QObject
{
    Q_OBJECT
public:
    // Becomes a child of `socket`; `onClosed` runs when it is destroyed.
    HttpConnection(QTcpSocket *socket, const ConnectionSettings &settings,
                   std::function<void()> onClosed);
    ~HttpConnection() override;

    // Called by the socket before anything is written to it.
    void noteWrite();

private:
    using Clock = std::chrono::steady_clock;

    void onReadyRead();
    void onBytesWritten();
    void onTimeout();
    void trackPhase();
    void processQueue();
    void release(RequestFramer::Request request);
    void finishResponse();
    void respondAndClose(const FramingError &error);
    void lingerClose();
    void shutdownWhenFlushed();
    void shutdownWrite();
    // When the current phase of the connection runs out; none while the server works.
    std::optional<Clock::time_point> deadline() const;
    void updateTimer();
    qint64 pendingOutput() const;
    QString peer() const;

    QTcpSocket *m_socket;
    QSslSocket *m_ssl; // the same socket, with TLS; null without
    ConnectionSettings m_settings;
    std::function<void()> m_onClosed;
    RequestFramer m_framer;
    QTimer m_timer;

    Clock::time_point m_acceptedAt;
    Clock::time_point m_phaseStart;
    Clock::time_point m_lastActivity;
    Clock::time_point m_lingerDeadline;
    Clock::time_point m_timerDue; // what m_timer was last started for
    RequestFramer::Phase m_trackedPhase = RequestFramer::Phase::Idle;
    quint64 m_trackedCompleted = 0;

    bool m_releasing = false;   // our own readyRead for QHttpServer is being delivered
    bool m_outstanding = false; // a request was handed over, its answer has not begun
    bool m_responseBegun = false;
    bool m_closeAfterResponse = false;
    bool m_closing = false;
    bool m_shutdownSent = false;
};

// The socket types handed to QHttpServer: they tell their guard about every
// write, which is how it knows that an answer has begun.
template<typename Socket> class WatchedSocket : public Socket
{
public:
    explicit WatchedSocket(QObject *parent)
        : Socket(parent)
    { }
    void setConnection(HttpConnection *connection) { m_connection = connection; }

protected:
    qint64 writeData(const char *data, qint64 size) override
    {
        if (m_connection)
            m_connection->noteWrite();
        return Socket::writeData(data, size);
    }

private:
    QPointer<HttpConnection> m_connection;
};

} // namespace Tessera::Server

// SPDX-License-Identifier: MIT
#pragma once

#include "httpframing.h"

#include <QtCore/QObject>
#include <QtCore/QPointer>
#include <QtCore/QTimer>
#include <QtNetwork/QTcpSocket>

QT_FORWARD_DECLARE_CLASS(QSslSocket)

#include <chrono>
#include <cstring>
#include <functional>
#include <optional>

namespace Tessera::Server {

struct ConnectionSettings
{
    FramingLimits framing;
    std::chrono::milliseconds headerTimeout{10000}; // from accept, or from a head's first byte
    std::chrono::milliseconds bodyTimeout{10000};   // from the end of the head
    // Keep-alive: from the end of the last answer. Answers not taken: from the
    // last time the kernel took any of them.
    std::chrono::milliseconds idleTimeout{10000};
    std::chrono::milliseconds lingerTimeout{2000}; // after the last answer, before the reset
    qint64 readBufferBytes = 16 * 1024;            // per socket, in Qt's buffer
    // The kernel's receive and send buffers of each connection (SO_RCVBUF,
    // SO_SNDBUF; Linux doubles both). Without a bound the kernel grows them to
    // megabytes for a client that writes and never reads, and a client that
    // does not read gets that many answers worked out before it is held back.
    // A request is at most 80 KiB, an answer a few KiB.
    int kernelReceiveBufferBytes = 64 * 1024;
    int kernelSendBufferBytes = 16 * 1024;
    // Answers the kernel has not taken yet (the client is not reading) beyond
    // which no request is handed over and nothing more is read.
    qint64 writeBacklogBytes = 16 * 1024;
};

// A complete answer that closes the connection: JSON error body, no-store.
QByteArray closingErrorResponse(int status, QByteArrayView code, QByteArrayView detail,
                                QByteArrayView extraHeaders = {});

// The request a guard hands to QHttpServer's parser, held by the socket (WatchedSocket) and
// served from its readData() once Qt's own buffer is empty, which it is at the hand-over.
// Qt 6.4's parser reads a head byte by byte through QIODevice::read(); served this way, the
// bytes go into Qt's buffer in one copy on the first of those reads, instead of one
// QIODevice::ungetChar() call each.
class ReleasedRequest
{
public:
    void hand(QByteArray request)
    {
        m_bytes = std::move(request);
        m_offset = 0;
    }
    qint64 unread() const { return m_bytes.size() - m_offset; }
    void drop() { hand(QByteArray()); }

protected:
    ~ReleasedRequest() = default;
    qint64 serve(char *data, qint64 maxSize)
    {
        const qint64 n = qMin(maxSize, unread());
        std::memcpy(data, m_bytes.constData() + m_offset, size_t(n));
        m_offset += n;
        if (unread() == 0)
            drop();
        return n;
    }

private:
    QByteArray m_bytes;
    qsizetype m_offset = 0;
};

// Guards one accepted connection for its whole life, in front of QHttpServer.
// It is connected to the socket's readyRead before QHttpServer is, so it reads
// every byte first: the bytes go through RequestFramer, and only a complete,
// validated request in canonical form is handed to the socket (ReleasedRequest;
// QIODevice::ungetChar for a socket that is not a WatchedSocket) and announced
// with readyRead, one request at a time,
// the next one only after the answer to the previous one has begun. Qt's
// parser therefore never sees a partial or malformed request, never sees two
// at once, and answers pipelined requests in order. The guard also runs the
// connection's deadlines (head, body, keep-alive idle, answers not read),
// answers framing errors itself and closes after them with a lingering close,
// so the client reads the answer instead of a reset.
//
// Reading stops while the framer holds a request waiting for its turn and
// more bytes are waiting behind it, and while the client leaves its answers
// unread: Qt stops reading from the kernel when its read buffer is full, so
// the guard shrinks that buffer to one byte and fills it with a byte of its
// own (the plug), which it takes out before it hands a request over or reads
// again. TCP flow control then holds the client back instead of memory here.
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
    void readAvailable();
    void take(QByteArrayView bytes);
    void feedFramer();
    void advance();
    void trackPhase();
    void processQueue();
    void release(RequestFramer::Request request);
    void abortReleased();
    void finishResponse();
    void completeResponse();
    void respondAndClose(const FramingError &error);
    void lingerClose();
    void shutdownWhenFlushed();
    void shutdownWrite();
    // Whether bytes should be read from the socket now.
    bool readingWanted() const;
    void pauseReading();
    void resumeReading();
    void insertPlug();
    void removePlug();
    // When the current phase of the connection runs out; none while the server
    // works and the client has taken every answer.
    std::optional<Clock::time_point> deadline() const;
    bool outputStalled(Clock::time_point now) const;
    void updateTimer();
    qint64 pendingOutput() const;
    QString peer() const;

    QTcpSocket *m_socket;
    QSslSocket *m_ssl;           // the same socket, with TLS; null without
    ReleasedRequest *m_released; // the same socket, when it is a WatchedSocket
    ConnectionSettings m_settings;
    std::function<void()> m_onClosed;
    RequestFramer m_framer;
    QByteArray m_unframed; // read, not taken by the framer yet (it holds a waiting request)
    QTimer m_timer;

    Clock::time_point m_acceptedAt;
    Clock::time_point m_phaseStart;
    Clock::time_point m_lastAnswer;  // the end of the last answer, or output progress since
    Clock::time_point m_outputSince; // when the kernel last took answer bytes (or the first)
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
    bool m_paused = false;        // Qt's read buffer is down to one byte
    bool m_plugged = false;       // ...and holds the plug
    bool m_plugScheduled = false; // insertPlug() is queued
};

// The socket types handed to QHttpServer: they tell their guard about every
// write, which is how it knows that an answer has begun.
// They also serve the request their guard hands over (ReleasedRequest).
template<typename Socket> class WatchedSocket : public Socket, public ReleasedRequest
{
public:
    explicit WatchedSocket(QObject *parent)
        : Socket(parent)
    { }
    void setConnection(HttpConnection *connection) { m_connection = connection; }
    qint64 bytesAvailable() const override { return Socket::bytesAvailable() + unread(); }

protected:
    qint64 readData(char *data, qint64 maxSize) override
    {
        if (maxSize > 0 && unread() > 0)
            return serve(data, maxSize);
        return Socket::readData(data, maxSize);
    }
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

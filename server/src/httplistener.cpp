// SPDX-License-Identifier: MIT
#include "httplistener.h"

#include "logging.h"

#include <QtCore/QDateTime>
#include <QtCore/QTimer>
#include <QtNetwork/QSslSocket>

#include <sys/socket.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace Tessera::Server {
namespace {

// After this many closed connections, freed memory is handed back to the system.
constexpr int ClosesBeforeTrim = 64;
constexpr qint64 RefusalWarningIntervalMs = 10000;

QHostAddress peerOf(qintptr descriptor)
{
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (::getpeername(int(descriptor), reinterpret_cast<sockaddr *>(&address), &length) != 0)
        return {};
    return QHostAddress(reinterpret_cast<const sockaddr *>(&address));
}

} // namespace

ConnectionIntake::ConnectionIntake(const ConnectionSettings &settings,
                                   std::optional<QSslConfiguration> tls, QObject *parent)
    : QTcpServer(parent)
    , m_settings(settings)
    , m_tls(std::move(tls))
{ }

ConnectionIntake::~ConnectionIntake() = default;

void ConnectionIntake::adopt(qintptr descriptor, std::function<void()> onClosed)
{
    QTcpSocket *socket = nullptr;
    WatchedSocket<QSslSocket> *ssl = nullptr;
    if (m_tls) {
        ssl = new WatchedSocket<QSslSocket>(this);
        ssl->setSslConfiguration(*m_tls);
        socket = ssl;
    } else {
        socket = new WatchedSocket<QTcpSocket>(this);
    }
    if (!socket->setSocketDescriptor(descriptor)) {
        delete socket;
        ::close(int(descriptor));
        m_open.fetch_sub(1, std::memory_order_relaxed);
        onClosed();
        return;
    }
    const QPointer<ConnectionIntake> self(this);
    auto *connection = new HttpConnection(socket, m_settings, [onClosed, self] {
        onClosed();
        if (self) {
            self->m_open.fetch_sub(1, std::memory_order_relaxed);
            self->connectionClosed();
        }
    });
    if (ssl)
        ssl->setConnection(connection);
    else
        static_cast<WatchedSocket<QTcpSocket> *>(socket)->setConnection(connection);
    // QHttpServer deletes the sockets it was given when they disconnect; this
    // covers the ones it has not been given yet (TLS handshake under way).
    connect(socket, &QAbstractSocket::disconnected, socket, &QObject::deleteLater);
    if (!ssl) {
        addPendingConnection(socket);
        return;
    }
    connect(ssl, &QSslSocket::encrypted, this, [this, ssl] { addPendingConnection(ssl); });
    connect(ssl, &QSslSocket::errorOccurred, ssl, [ssl](QAbstractSocket::SocketError) {
        if (!ssl->isEncrypted()) {
            qCDebug(lcServerHttp) << "TLS handshake with" << ssl->peerAddress().toString()
                                  << "failed:" << ssl->errorString();
            ssl->abort();
            ssl->deleteLater();
        }
    });
    ssl->startServerEncryption();
}

// glibc keeps freed heap memory for reuse; after a burst of connections has
// gone (an attack, a load spike) it is handed back, at most once a second.
void ConnectionIntake::connectionClosed()
{
#if defined(__GLIBC__)
    if (++m_closedSinceTrim < ClosesBeforeTrim || m_trimScheduled)
        return;
    m_trimScheduled = true;
    QTimer::singleShot(1000, this, [this] {
        m_trimScheduled = false;
        m_closedSinceTrim = 0;
        ::malloc_trim(0);
    });
#endif
}

HttpListener::HttpListener(const ConnectionSettings &settings, int maxConnections,
                           int maxPerAddress, std::optional<QSslConfiguration> tls, QObject *parent)
    : ConnectionIntake(settings, std::move(tls), parent)
    , m_limiter(std::make_shared<ConnectionLimiter>(maxConnections, maxPerAddress))
    , m_intakes{this}
{
    // Out of descriptors anyway (another part of the process used them up):
    // QTcpServer stops accepting for good; try again shortly instead.
    connect(this, &QTcpServer::acceptError, this, [this](QAbstractSocket::SocketError error) {
        qCWarning(lcServerHttp) << "accepting a connection failed:" << error << errorString()
                                << "- retrying in 100 ms";
        QTimer::singleShot(100, this, [this] { resumeAccepting(); });
    });
}

HttpListener::~HttpListener() = default;

void HttpListener::addIntake(ConnectionIntake *intake)
{
    m_intakes.append(intake);
}

void HttpListener::incomingConnection(qintptr descriptor)
{
    const QHostAddress peer = peerOf(descriptor);
    if (!m_limiter->tryAcquire(peer)) {
        refuse(descriptor, peer);
        return;
    }
    // TCP holds back a client the guard stops reading from (or one that does
    // not read) once these are full, not after megabytes.
    ::setsockopt(int(descriptor), SOL_SOCKET, SO_RCVBUF, &m_settings.kernelReceiveBufferBytes,
                 sizeof m_settings.kernelReceiveBufferBytes);
    ::setsockopt(int(descriptor), SOL_SOCKET, SO_SNDBUF, &m_settings.kernelSendBufferBytes,
                 sizeof m_settings.kernelSendBufferBytes);
    // The least busy intake; among equals, the next in turn.
    ConnectionIntake *chosen = nullptr;
    for (qsizetype i = 0; i < m_intakes.size(); ++i) {
        ConnectionIntake *intake = m_intakes.at((m_nextIntake + i) % m_intakes.size());
        if (!chosen || intake->openConnections() < chosen->openConnections())
            chosen = intake;
    }
    m_nextIntake = (m_nextIntake + 1) % m_intakes.size();
    chosen->m_open.fetch_add(1, std::memory_order_relaxed);
    std::function<void()> onClosed = [limiter = m_limiter, peer] { limiter->release(peer); };
    if (chosen == this) {
        adopt(descriptor, std::move(onClosed));
        return;
    }
    QMetaObject::invokeMethod(
            chosen,
            [chosen, descriptor, onClosed = std::move(onClosed)]() mutable {
                chosen->adopt(descriptor, std::move(onClosed));
            },
            Qt::QueuedConnection);
}

void HttpListener::refuse(qintptr descriptor, const QHostAddress &peer)
{
    ++m_refusedSinceWarning;
    const qint64 nowMs = QDateTime::currentMSecsSinceEpoch();
    if (nowMs - m_lastRefusalWarningMs >= RefusalWarningIntervalMs) {
        qCWarning(lcServerHttp) << "connection limit reached:" << m_refusedSinceWarning
                                << "connections refused (latest from" << peer.toString() << ";"
                                << m_limiter->total() << "open, at most" << m_limiter->maxTotal()
                                << "in total and" << m_limiter->maxPerAddress() << "per address)";
        m_refusedSinceWarning = 0;
        m_lastRefusalWarningMs = nowMs;
    }
    // A TLS client cannot read a plain answer; a flood past the small budget
    // of answered refusals is not worth the descriptors.
    if (m_tls || m_refusalsInFlight >= MaxRefusalsInFlight) {
        ::close(int(descriptor));
        return;
    }
    auto *socket = new QTcpSocket(this);
    if (!socket->setSocketDescriptor(descriptor)) {
        delete socket;
        ::close(int(descriptor));
        return;
    }
    ++m_refusalsInFlight;
    connect(socket, &QObject::destroyed, this, [this] { --m_refusalsInFlight; });
    connect(socket, &QAbstractSocket::disconnected, socket, &QObject::deleteLater);
    // Answer, half-close, drop whatever the client sends, and reset after a second at most.
    connect(socket, &QIODevice::readyRead, socket, [socket] { socket->readAll(); });
    connect(socket, &QIODevice::bytesWritten, socket, [socket] {
        if (socket->bytesToWrite() == 0)
            ::shutdown(int(socket->socketDescriptor()), SHUT_WR);
    });
    QTimer::singleShot(1000, socket, [socket] { socket->abort(); });
    socket->write(closingErrorResponse(503, "too_many_connections",
                                       "Too many open connections; retry later.",
                                       "Retry-After: 1\r\n"));
}

} // namespace Tessera::Server

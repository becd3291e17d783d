// SPDX-License-Identifier: MIT
#pragma once

#include "connectionlimiter.h"
#include "httpconnection.h"

#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QTcpServer>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>

namespace Tessera::Server {

// Serves the connections the listener admitted on the thread this object lives in: gives each
// its HttpConnection guard, runs the TLS handshake under the guard's first deadline, and offers
// the socket to the QHttpServer bound to this object once it is ready (encrypted, with TLS).
// The listener is one; with several serving threads (servingunit.h) each has an intake of its
// own, which never listens: QHttpServer only needs pendingConnectionAvailable.
class ConnectionIntake : public QTcpServer
{
    Q_OBJECT
public:
    ConnectionIntake(const ConnectionSettings &settings, std::optional<QSslConfiguration> tls,
                     QObject *parent = nullptr);
    ~ConnectionIntake() override;

    // On this object's thread. `onClosed` runs (on this thread) when the connection is gone;
    // the descriptor is closed by then.
    void adopt(qintptr descriptor, std::function<void()> onClosed);
    // Connections handed to this intake and not closed yet, for the listener's choice.
    int openConnections() const { return m_open.load(std::memory_order_relaxed); }

protected:
    const ConnectionSettings m_settings;
    const std::optional<QSslConfiguration> m_tls;

private:
    friend class HttpListener;
    void connectionClosed();

    std::atomic<int> m_open{0};
    int m_closedSinceTrim = 0;
    bool m_trimScheduled = false;
};

// The listening socket. Every accepted connection is counted (in total and per client address)
// before anything is read from it; beyond a cap it is answered 503 and closed (TLS: closed) at
// once, so the clients already connected keep being served. An admitted connection goes to the
// intake with the fewest open connections: this object itself (its thread's QHttpServer is
// bound to it) or one of the serving threads' (addIntake()).
class HttpListener : public ConnectionIntake
{
    Q_OBJECT
public:
    HttpListener(const ConnectionSettings &settings, int maxConnections, int maxPerAddress,
                 std::optional<QSslConfiguration> tls, QObject *parent = nullptr);
    ~HttpListener() override;

    // Another thread's intake; it must outlive this listener's accepting (close() first).
    void addIntake(ConnectionIntake *intake);

    // Refused connections being answered at once, at most: beyond, they are closed unanswered.
    static constexpr int MaxRefusalsInFlight = 16;

protected:
    void incomingConnection(qintptr descriptor) override;

private:
    void refuse(qintptr descriptor, const QHostAddress &peer);

    std::shared_ptr<ConnectionLimiter> m_limiter;
    QList<ConnectionIntake *> m_intakes; // this one first
    qsizetype m_nextIntake = 0;
    int m_refusalsInFlight = 0;
    qint64 m_refusedSinceWarning = 0;
    qint64 m_lastRefusalWarningMs = 0;
};

} // namespace Tessera::Server

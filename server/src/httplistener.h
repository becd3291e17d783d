// SPDX-License-Identifier: MIT
#pragma once

#include "connectionlimiter.h"
#include "httpconnection.h"

#include <QtNetwork/QSslConfiguration>
#include <QtNetwork/QTcpServer>

#include <memory>
#include <optional>

namespace Tessera::Server {

// The listening socket QHttpServer is bound to. Every accepted connection is
// counted (in total and per client address) before anything is read from it;
// beyond a cap it is answered 503 and closed (TLS: closed) at once, so the
// clients already connected keep being served. Each admitted connection gets
// its HttpConnection guard before QHttpServer sees it; with TLS the handshake
// runs here, under the guard's first deadline, and QHttpServer gets the socket
// once it is encrypted.
class HttpListener : public QTcpServer
{
    Q_OBJECT
public:
    HttpListener(const ConnectionSettings &settings, int maxConnections, int maxPerAddress,
                 std::optional<QSslConfiguration> tls, QObject *parent = nullptr);
    ~HttpListener() override;

    // Refused connections being answered at once, at most: beyond, they are closed unanswered.
    static constexpr int MaxRefusalsInFlight = 16;

protected:
    void incomingConnection(qintptr descriptor) override;

private:
    void refuse(qintptr descriptor, const QHostAddress &peer);
    void connectionClosed();

    ConnectionSettings m_settings;
    std::shared_ptr<ConnectionLimiter> m_limiter;
    std::optional<QSslConfiguration> m_tls;
    int m_refusalsInFlight = 0;
    qint64 m_refusedSinceWarning = 0;
    qint64 m_lastRefusalWarningMs = 0;
    int m_closedSinceTrim = 0;
    bool m_trimScheduled = false;
};

} // namespace Tessera::Server

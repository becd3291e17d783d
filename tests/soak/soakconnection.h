// SPDX-License-Identifier: MIT
// One persistent HTTP/1.1 keep-alive connection for the soak load tool: raw
// QTcpSocket, one request in flight at a time, responses framed by
// Content-Length. Raw sockets (not QNetworkAccessManager) so that the tool
// holds exactly N TCP connections and sees every close the server makes.
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QElapsedTimer>
#include <QtCore/QList>
#include <QtCore/QLoggingCategory>
#include <QtCore/QObject>
#include <QtCore/QPair>
#include <QtCore/QString>
#include <QtCore/QTimer>
#include <QtNetwork/QTcpSocket>

#include <functional>

Q_DECLARE_LOGGING_CATEGORY(lcSoak)

namespace Tessera::Soak {

struct SoakResponse
{
    enum class Failure {
        None,
        Transport, // connection refused, reset, closed before a complete response
        Timeout,   // no complete response within the request timeout
        Protocol,  // unparseable or unframed response, or bytes nobody asked for
    };
    Failure failure = Failure::None;
    int status = 0;
    QByteArray body;
    QString detail; // transport error text or protocol problem; never contains request data
    qint64 elapsedMs = 0;
};

class SoakConnection : public QObject
{
    Q_OBJECT
public:
    using Callback = std::function<void(const SoakResponse &)>;

    SoakConnection(quint16 port, int timeoutMs, QObject *parent = nullptr);

    // Points later (re)connections at another port, e.g. after a server restart.
    void setPort(quint16 port) { m_port = port; }
    bool busy() const { return bool(m_callback); }
    // TCP connections this object opened (one per connect; reconnects add up).
    int connectionsOpened() const { return m_connectionsOpened; }
    // The server closed the connection while no request was in flight.
    int idleClosesByPeer() const { return m_idleClosesByPeer; }

    // Sends one request; `done` runs exactly once with the outcome. Connects
    // first if the socket is not connected. Must not be called while busy().
    void send(const QByteArray &method, const QByteArray &path,
              const QList<QPair<QByteArray, QByteArray>> &headers, const QByteArray &body,
              Callback done);
    // Closes the socket; a request in flight finishes as a transport failure.
    void abort();

private:
    void onReadyRead();
    void onDisconnected();
    void finish(SoakResponse response);
    // Parses m_buffer; true when a complete response (or a protocol failure) was produced.
    bool tryParse(SoakResponse *response);

    QTcpSocket m_socket;
    QTimer m_timeout;
    QElapsedTimer m_elapsed;
    QByteArray m_buffer;
    Callback m_callback;
    quint16 m_port;
    int m_connectionsOpened = 0;
    int m_idleClosesByPeer = 0;
    bool m_closeAccounted = false; // the current socket's end is already reported
};

} // namespace Tessera::Soak

// SPDX-License-Identifier: MIT
#pragma once

#include "authorizationresponse_p.h"

#include <tessera/error.h>
#include <tessera/secret.h>

#include <QtCore/QList>
#include <QtCore/QObject>
#include <QtCore/QTimer>
#include <QtCore/QUrl>
#include <QtNetwork/QHostAddress>

#include <chrono>

QT_BEGIN_NAMESPACE
class QTcpServer;
class QTcpSocket;
QT_END_NAMESPACE

namespace Tessera::OAuth {

// The loopback redirect of a native app's browser sign-in (RFC 8252 §7.3), one shot: listens on
// 127.0.0.1 (on ::1 only when 127.0.0.1 cannot be bound; never another interface) and waits
// for the one request that carries the authorization request's `state`. That request gets a
// small page, the result is kept and finished() is emitted; the listening socket is closed at
// once, so nothing more is accepted. Every other request is answered 400/404/405 and the wait
// goes on: someone else's request cannot end (or take over) the user's sign-in. The timeout and
// cancel() end the wait too. Plain QTcpServer with its own strict HTTP/1.x head parser: the SDK
// does not depend on Qt HttpServer.
class TESSERA_SDK_EXPORT LoopbackRedirectReceiver : public QObject
{
    Q_OBJECT

public:
    struct Options
    {
        QByteArray path = "/callback"; // of the redirect URI: "/" and unreserved characters
        quint16 port = 0;              // 0: an ephemeral port (RFC 8252 §7.3); fixed for the
                                       // providers that cannot match loopback ports
        std::chrono::milliseconds timeout = std::chrono::minutes(10); // the whole wait
        // A connection that has not sent a whole request head by then is cut, so silent or
        // slow connections cannot hold the receiver.
        std::chrono::milliseconds connectionDeadline = std::chrono::seconds(10);
        qsizetype maxHeadSize = 8 * 1024; // a longer head is answered 431 and cut
        // Connections waiting for a head at once; one more cuts the oldest.
        int maxConnections = 16;
    };

    explicit LoopbackRedirectReceiver(QObject *parent = nullptr);
    ~LoopbackRedirectReceiver() override;

    // Starts listening and the timeout. `state` is the one the authorization request carries.
    // Fails (and nothing listens) when neither loopback address can be bound, or on a second
    // call. After success, redirectUri() is what the authorization request must name.
    Error listen(Secret state, const IssuerExpectation &issuer, const Options &options);
    Error listen(Secret state, const IssuerExpectation &issuer)
    {
        return listen(std::move(state), issuer, Options());
    }

    bool isListening() const;
    // Where listen() bound, kept after the wait is over (null and 0 before).
    QHostAddress address() const { return m_address; }
    quint16 port() const { return m_port; }
    // http://127.0.0.1:{port}{path}, or http://[::1]:{port}{path} on the fallback.
    QUrl redirectUri() const { return m_redirectUri; }

    // Ends the wait with Cancelled (when still waiting) and stops listening.
    void cancel();

    bool isFinished() const { return m_finished; }
    // After finished(): NoError with a code, or why there is none (Timeout, Cancelled,
    // AccessDenied, InvalidResponse, ...).
    Error error() const { return m_error; }
    // The authorization code, once (later calls give an empty Secret).
    Secret takeCode() { return std::move(m_code); }
    // The RFC 9207 `iss` of the response, when it had one (already checked).
    QString issuer() const { return m_issuer; }

Q_SIGNALS:
    // Emitted once, from the event loop, when the wait is over (whatever the outcome).
    void finished(QPrivateSignal);

private:
    void acceptConnections();
    void readRequest(QTcpSocket *socket);
    void answer(QTcpSocket *socket, int status);
    void answerPage(QTcpSocket *socket, bool signedIn);
    void send(QTcpSocket *socket, const QByteArray &statusLine, const QByteArray &contentType,
              const QByteArray &body, const QByteArray &extraHeaders = {});
    void finish(Error error);
    void closeConnections();
    QByteArray *headOf(QTcpSocket *socket);
    // Drops a connection from the waiting ones, its bytes wiped.
    void forget(QTcpSocket *socket);

    QTcpServer *m_server = nullptr;
    Options m_options;
    Secret m_state;
    IssuerExpectation m_expectation;
    QHostAddress m_address;
    quint16 m_port = 0;
    QUrl m_redirectUri;
    QTimer m_timeout;
    // The connections still waiting for a whole request head, oldest first, with what each
    // has sent so far.
    struct Connection
    {
        QTcpSocket *socket;
        QByteArray head;
    };
    QList<Connection> m_connections;
    bool m_finished = false;
    Error m_error;
    Secret m_code;
    QString m_issuer;
};

} // namespace Tessera::OAuth

// SPDX-License-Identifier: MIT
// Test support: a fault-injection HTTP/1.1 proxy that tests put between a
// client and a real server on loopback. In-process and event-loop driven (no
// threads): the proxy only makes progress while the owning thread's event loop
// runs (QTRY_*, QTest::qWait, QSignalSpy::wait, a local QEventLoop).
//
// Every client connection gets its own upstream connection, so keep-alive,
// connection reuse and connection close are mirrored one to one. Requests on
// one connection are handled one at a time (no pipelining). A rule decides,
// per request, what happens to it; the rule sees the connection index, so
// faults can be applied per connection as well.
//
// QNetworkAccessManager (Qt 6.4) resends a request, POST included, on a new connection when
// its connection closes before the response headers are complete (DropRequest,
// ResetBeforeForward, ForwardThenDropResponse, dropHeld, a cut inside the headers, upstream
// unreachable): the rule sees each try as a new request, so fault only `pathIndex == 0` to let
// the resend through, or every try to make the client fail. After the headers it does not
// resend, but may report a body cut short as success: check the body, not only the error.
//
// Bytes are relayed unchanged (the Host header still names the proxy). Logging
// (category tessera.test.proxy, debug) names method and path only; bodies,
// query strings and header values (Authorization!) are never logged.
#pragma once

#include <QtCore/QByteArray>
#include <QtCore/QByteArrayView>
#include <QtCore/QHash>
#include <QtCore/QList>
#include <QtCore/QMetaType>
#include <QtCore/QObject>
#include <QtCore/QPair>
#include <QtCore/QPointer>
#include <QtCore/QUrl>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QTcpServer>

#include <functional>

namespace Tessera::Test {

class FaultProxyConnection;

// What the proxy does with one request. Build it with the static functions.
class Action
{
    Q_GADGET
public:
    enum class Kind {
        Forward,                 // relay request and response unchanged (the default)
        DropRequest,             // close the client connection (FIN) without forwarding
        ResetBeforeForward,      // reset the client connection (RST) without forwarding
        DelayRequest,            // wait `ms`, then forward
        ForwardThenDropResponse, // forward; once the whole response arrived, close the client
                                 // connection without writing any of it ("lost response")
        ForwardThenResetMidBody, // forward; write status line, headers and half the body, then RST
        TruncateResponse, // forward; write only the first `bytes` bytes of the response, then FIN
        DelayResponse,    // forward; hold the complete response for `ms`, then write it
        TrickleResponse,  // forward; write the response at `bytesPerSecond`
        DuplicateRequest, // send the request upstream twice (one after the other, each after
                          // the previous response); deliver the second response (or the first)
        HoldResponse,     // forward; keep the complete response, emit responseHeld(id); deliver it
                          // on releaseHeld(id), close the client connection on dropHeld(id)
        ReplaceResponse,  // do not forward; write `raw` to the client, then close (FIN)
        Stall,            // do not forward and never answer; the connection stays open until the
                          // client gives up (for client timeouts)
    };
    Q_ENUM(Kind)

    static Action forward() { return Action(Kind::Forward); }
    static Action dropRequest() { return Action(Kind::DropRequest); }
    static Action resetBeforeForward() { return Action(Kind::ResetBeforeForward); }
    static Action delayRequest(int ms);
    static Action forwardThenDropResponse() { return Action(Kind::ForwardThenDropResponse); }
    // Half of the upstream response's body, then, ResetAfterWriteMs after it left the proxy (so
    // the client has read the bytes it is meant to see), a reset.
    static Action forwardThenResetMidBody() { return Action(Kind::ForwardThenResetMidBody); }
    static constexpr int ResetAfterWriteMs = 100;
    // The first `bytes` bytes of the raw response (status line and headers count).
    static Action truncateResponse(qint64 bytes);
    // Status line and headers complete, then the first `bodyBytes` bytes of the body as sent
    // on the wire (chunk framing counts for chunked responses).
    static Action truncateResponseBody(qint64 bodyBytes);
    static Action delayResponse(int ms);
    static Action trickleResponse(int bytesPerSecond);
    enum class Deliver { First, Second };
    static Action duplicateRequest(Deliver deliver = Deliver::Second);
    static Action holdResponse() { return Action(Kind::HoldResponse); }
    // `raw` is written as is: a complete or deliberately broken HTTP response.
    static Action replaceResponse(QByteArray raw);
    // A well-formed response with Content-Length and "Connection: close".
    static Action replaceResponse(int status, QByteArrayView contentType, QByteArrayView body);
    static Action stall() { return Action(Kind::Stall); }

    Kind kind() const { return m_kind; }
    int ms() const { return m_ms; }
    qint64 bytes() const { return m_bytes; }
    bool countsBodyOnly() const { return m_bodyOnly; }
    int bytesPerSecond() const { return m_bytesPerSecond; }
    Deliver deliver() const { return m_deliver; }
    QByteArray raw() const { return m_raw; }
    bool forwards() const;

    Action() = default;

private:
    explicit Action(Kind kind)
        : m_kind(kind)
    { }

    Kind m_kind = Kind::Forward;
    int m_ms = 0;
    qint64 m_bytes = 0;
    bool m_bodyOnly = false;
    int m_bytesPerSecond = 0;
    Deliver m_deliver = Deliver::Second;
    QByteArray m_raw;
};

// One request as the proxy received it from a client.
struct RequestInfo
{
    int id = -1; // 0-based, in order of arrival over the proxy's lifetime; the held-response id
    int connection = -1;        // 0-based index of the client connection, in order of accept
    int indexOnConnection = -1; // 0-based index of the request on its connection
    int pathIndex = -1;         // 0-based index among requests with the same path (any method)
    QByteArray method;
    QByteArray target;                            // request-target as sent, query included
    QByteArray path;                              // target without the query
    QList<QPair<QByteArray, QByteArray>> headers; // in order, names as sent
    QByteArray body; // as sent (chunk framing included, if the client used it)

    // Filled in later; meaningful in FaultProxy::requests()/request(), not in the rule.
    Action::Kind action = Action::Kind::Forward;
    int forwardCount = 0;   // times sent upstream (2 for DuplicateRequest)
    int upstreamStatus = 0; // status of the last upstream response, 0 if none (yet)

    QByteArray header(QByteArrayView name) const; // case-insensitive, first match; null if absent
};

class FaultProxy : public QObject
{
    Q_OBJECT
public:
    using Rule = std::function<Action(const RequestInfo &)>;

    FaultProxy(QHostAddress upstreamHost, quint16 upstreamPort, QObject *parent = nullptr);
    // In front of the server at `upstream` (an http://ADDRESS:PORT base URL).
    explicit FaultProxy(const QUrl &upstream, QObject *parent = nullptr);
    ~FaultProxy() override;

    // Listens on 127.0.0.1 on a port chosen by the system.
    bool listen();
    bool isListening() const { return m_server.isListening(); }
    quint16 port() const;
    QUrl url() const; // http://127.0.0.1:PORT
    QString errorString() const { return m_server.errorString(); }

    // Where new upstream connections go (e.g. after the server restarted on another port).
    void setUpstream(QHostAddress host, quint16 port);

    // No rule, or an empty one: Forward. The rule runs once per request, before
    // requestSeen(). It must not delete the proxy.
    void setRule(Rule rule) { m_rule = std::move(rule); }
    void clearRule() { m_rule = nullptr; }

    // Per connection, bytes buffered from the client and the upstream together;
    // beyond this both connections are reset. Default 8 MiB.
    void setMaxBufferedBytes(qint64 bytes) { m_maxBuffered = bytes; }
    qint64 maxBufferedBytes() const { return m_maxBuffered; }

    // Observability.
    QList<RequestInfo> requests() const { return m_requests; }
    RequestInfo request(int id) const { return m_requests.value(id); }
    int requestCount() const { return int(m_requests.size()); }
    int requestCount(QByteArrayView path) const; // any method; path without query
    int requestCount(QByteArrayView method, QByteArrayView path) const;
    int forwardedCount() const { return m_forwarded; }    // requests written upstream
    int connectionCount() const { return m_connections; } // client connections accepted
    // Forgets requests and counters (ids, connection and path indexes start again at 0).
    // Call it only while no request is in flight.
    void clearHistory();

    // Held responses (HoldResponse). False if `id` is not held (any more), e.g.
    // because the client went away.
    QList<int> heldResponses() const { return m_held.keys(); }
    bool releaseHeld(int requestId);
    bool dropHeld(int requestId);

    // Resets every open client connection (and its upstream connection).
    void closeAllConnections();

Q_SIGNALS:
    void requestSeen(const Tessera::Test::RequestInfo &request);
    void responseHeld(int requestId);
    // Each complete response from upstream, before the action applies to it.
    void upstreamResponded(int requestId, int status);

private:
    friend class FaultProxyConnection;

    void onNewConnection();
    // For FaultProxyConnection.
    Action admit(RequestInfo &info);
    void noteForwarded(int requestId);
    void noteUpstreamStatus(int requestId, int status);
    void hold(int requestId, FaultProxyConnection *connection);
    void unhold(int requestId);

    QTcpServer m_server;
    QHostAddress m_upstreamHost;
    quint16 m_upstreamPort;
    Rule m_rule;
    qint64 m_maxBuffered = 8 * 1024 * 1024;
    QList<RequestInfo> m_requests;
    QHash<QByteArray, int> m_pathCounts;
    int m_forwarded = 0;
    int m_connections = 0;
    QHash<int, QPointer<FaultProxyConnection>> m_held;
};

} // namespace Tessera::Test

Q_DECLARE_METATYPE(Tessera::Test::RequestInfo)

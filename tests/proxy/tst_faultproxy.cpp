// SPDX-License-Identifier: MIT
// FaultProxy against a real HTTP/1.1 responder on loopback (in-process, a QTcpServer), with
// QNetworkAccessManager clients and raw POSIX sockets where FIN and RST must be told apart.
#include "faultproxy.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QEventLoop>
#include <QtCore/QHash>
#include <QtCore/QLoggingCategory>
#include <QtCore/QMutex>
#include <QtCore/QStringList>
#include <QtCore/QTimer>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkProxy>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QNetworkRequest>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <arpa/inet.h>
#include <cerrno>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>

using namespace Tessera::Test;

namespace {

QElapsedTimer testClock; // started in initTestCase; both sides stamp events with it

// --- A tiny HTTP/1.1 server: keep-alive, Content-Length request bodies ---

struct SeenRequest
{
    QByteArray method;
    QByteArray target;
    QByteArray body;
    QByteArray authorization;
    qint64 atMs = 0;
};

class Upstream : public QObject
{
public:
    // QNAM 6.4 does not read chunked trailers: ChunkedWithTrailer is for raw clients only.
    enum class Framing { ContentLength, Chunked, ChunkedWithTrailer, UntilClose, NoBody };
    struct Reply
    {
        int status = 200;
        QByteArray body;
        Framing framing = Framing::ContentLength;
    };
    // Default: "n=<count> <METHOD> <target> body=<size>" with Content-Length.
    std::function<Reply(const SeenRequest &)> handler;
    QList<SeenRequest> seen;
    int connections = 0;

    Upstream()
    {
        QObject::connect(&m_server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *socket = m_server.nextPendingConnection()) {
                ++connections;
                socket->setParent(this);
                QObject::connect(socket, &QTcpSocket::readyRead, this,
                                 [this, socket] { onReadyRead(socket); });
                QObject::connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
            }
        });
    }
    bool listen() { return m_server.listen(QHostAddress::LocalHost, 0); }
    quint16 port() const { return m_server.serverPort(); }
    void close() { m_server.close(); }

    // `omitBody`: headers as for the full response, no body (HEAD, 304).
    static QByteArray response(const Reply &reply, bool omitBody = false)
    {
        QByteArray out = "HTTP/1.1 " + QByteArray::number(reply.status) + " X\r\n"
                + "Content-Type: text/plain\r\n";
        const QByteArray body = omitBody ? QByteArray() : reply.body;
        switch (reply.framing) {
        case Framing::ContentLength:
            out += "Content-Length: " + QByteArray::number(reply.body.size()) + "\r\n\r\n" + body;
            break;
        case Framing::Chunked:
        case Framing::ChunkedWithTrailer:
            out += "Transfer-Encoding: chunked\r\n\r\n";
            for (qsizetype at = 0; at < body.size(); at += 1000) {
                const QByteArray chunk = body.mid(at, 1000);
                out += QByteArray::number(chunk.size(), 16) + ";ext=1\r\n" + chunk + "\r\n";
            }
            out += reply.framing == Framing::Chunked ? "0\r\n\r\n" : "0\r\nX-Trailer: t\r\n\r\n";
            break;
        case Framing::UntilClose:
            out += "\r\n" + body;
            break;
        case Framing::NoBody:
            out += "\r\n";
            break;
        }
        return out;
    }

private:
    void onReadyRead(QTcpSocket *socket)
    {
        QByteArray &buffer = m_buffers[socket];
        buffer += socket->readAll();
        for (;;) {
            const qsizetype blank = buffer.indexOf("\r\n\r\n");
            if (blank < 0)
                return;
            SeenRequest request;
            qsizetype length = 0;
            const QList<QByteArray> lines = buffer.left(blank).split('\n');
            const QList<QByteArray> start = lines.first().trimmed().split(' ');
            request.method = start.value(0);
            request.target = start.value(1);
            for (const QByteArray &line : lines.mid(1)) {
                const qsizetype colon = line.indexOf(':');
                const QByteArray name = line.left(colon).trimmed().toLower();
                if (name == "content-length")
                    length = line.mid(colon + 1).trimmed().toLongLong();
                else if (name == "authorization")
                    request.authorization = line.mid(colon + 1).trimmed();
            }
            if (buffer.size() < blank + 4 + length)
                return;
            request.body = buffer.mid(blank + 4, length);
            buffer.remove(0, blank + 4 + length);
            request.atMs = testClock.elapsed();
            seen.append(request);
            const Reply reply = handler ? handler(request) : defaultReply(request);
            socket->write(response(reply, request.method == "HEAD" || reply.status == 304));
            if (reply.framing == Framing::UntilClose) {
                socket->disconnectFromHost();
                return;
            }
        }
    }
    Reply defaultReply(const SeenRequest &request) const
    {
        return {200,
                "n=" + QByteArray::number(seen.size()) + ' ' + request.method + ' ' + request.target
                        + " body=" + QByteArray::number(request.body.size())};
    }

    QTcpServer m_server;
    QHash<QTcpSocket *, QByteArray> m_buffers;
};

// --- Clients ---

struct Result
{
    int status = 0;
    QByteArray body;
    QNetworkReply::NetworkError error = QNetworkReply::NoError;
    qint64 elapsedMs = 0;
    int readyReads = 0;
    QByteArray contentType;
};

// Sends one request and waits for the reply (nested event loop: tests only).
Result send(QNetworkAccessManager &nam, const QByteArray &method, const QUrl &url,
            const QByteArray &body = {}, int transferTimeoutMs = 10000,
            const QList<QPair<QByteArray, QByteArray>> &headers = {})
{
    QNetworkRequest request(url);
    request.setTransferTimeout(transferTimeoutMs);
    if (!body.isEmpty())
        request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArray("application/json"));
    for (const auto &header : headers)
        request.setRawHeader(header.first, header.second);
    QElapsedTimer timer;
    timer.start();
    // QNAM only knows a HEAD response has no body when it is sent as head().
    QNetworkReply *reply =
            method == "HEAD" ? nam.head(request) : nam.sendCustomRequest(request, method, body);
    Result result;
    QObject::connect(reply, &QNetworkReply::readyRead, reply, [&] {
        ++result.readyReads;
        result.body += reply->readAll();
    });
    QEventLoop loop;
    QObject::connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    QTimer::singleShot(transferTimeoutMs + 5000, &loop, &QEventLoop::quit); // safety net
    if (!reply->isFinished())
        loop.exec();
    if (reply->isOpen())
        result.body += reply->readAll();
    result.elapsedMs = timer.elapsed();
    result.error = reply->isFinished() ? reply->error() : QNetworkReply::TimeoutError;
    result.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    result.contentType = reply->header(QNetworkRequest::ContentTypeHeader).toByteArray();
    reply->abort();
    reply->deleteLater();
    return result;
}

QUrl at(const FaultProxy &proxy, const QString &pathAndQuery)
{
    return proxy.url().resolved(QUrl(pathAndQuery));
}

// A raw loopback client (POSIX), to see whether the proxy closed with FIN or RST.
struct RawResult
{
    QByteArray received;
    bool eof = false;   // orderly close (FIN)
    bool reset = false; // ECONNRESET (RST)
    bool timedOut = false;
};

class RawClient
{
public:
    explicit RawClient(quint16 port)
    {
        m_fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        m_connected = ::connect(m_fd, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0;
    }
    ~RawClient() { ::close(m_fd); }
    bool isConnected() const { return m_connected; }

    bool send(const QByteArray &bytes)
    {
        qsizetype sent = 0;
        QElapsedTimer timer;
        timer.start();
        while (sent < bytes.size() && timer.elapsed() < 10000) {
            const ssize_t n = ::send(m_fd, bytes.constData() + sent, size_t(bytes.size() - sent),
                                     MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0)
                sent += n;
            else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                return false;
            else
                QTest::qWait(2); // the proxy runs in this thread's event loop
        }
        return sent == bytes.size();
    }

    // Reads until `done(received)`, the connection closes, or the timeout.
    RawResult read(int timeoutMs = 5000,
                   const std::function<bool(const QByteArray &)> &done = nullptr)
    {
        RawResult result;
        QElapsedTimer timer;
        timer.start();
        char chunk[65536];
        while (timer.elapsed() < timeoutMs) {
            const ssize_t n = ::recv(m_fd, chunk, sizeof chunk, MSG_DONTWAIT);
            if (n > 0) {
                result.received.append(chunk, n);
                if (done && done(result.received))
                    return result;
                continue;
            }
            if (n == 0) {
                result.eof = true;
                return result;
            }
            if (errno == ECONNRESET) {
                result.reset = true;
                return result;
            }
            QTest::qWait(2);
        }
        result.timedOut = true;
        return result;
    }

private:
    int m_fd = -1;
    bool m_connected = false;
};

QByteArray rawRequest(const QByteArray &method, const QByteArray &target,
                      const QByteArray &body = {})
{
    QByteArray out = method + ' ' + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (!body.isEmpty() || method == "POST")
        out += "Content-Type: application/json\r\nContent-Length: "
                + QByteArray::number(body.size()) + "\r\n";
    return out + "\r\n" + body;
}

// Log capture for the "never log secrets" test.
QMutex logMutex;
QStringList capturedLog;
QtMessageHandler previousHandler = nullptr;
void captureMessages(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    {
        QMutexLocker lock(&logMutex);
        capturedLog.append(message);
    }
    if (previousHandler)
        previousHandler(type, context, message);
}

} // namespace

class tst_FaultProxy : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    void forwardRelaysAndRecords();
    void keepAliveConnectionIsMirrored();
    void responseFraming_data();
    void responseFraming();
    void rawKeepAliveFraming_data();
    void rawKeepAliveFraming();
    void dropRequest();
    void resetBeforeForward();
    void delayRequest();
    void forwardThenDropResponse();
    void forwardThenResetMidBody();
    void truncateResponse_data();
    void truncateResponse();
    void delayResponse();
    void trickleResponse();
    void duplicateRequest_data();
    void duplicateRequest();
    void holdResponseRelease();
    void holdResponseDrop();
    void holdResponseClientGone();
    void replaceResponse_data();
    void replaceResponse();
    void stall();
    void ruleSeesConnections();
    void qnamResendsAfterEarlyClose();
    void bufferCap_data();
    void bufferCap();
    void upstreamDown();
    void setUpstreamFollowsRestart();
    void logsNeverCarrySecrets();

private:
    std::unique_ptr<Upstream> m_upstream;
    std::unique_ptr<FaultProxy> m_proxy;
    std::unique_ptr<QNetworkAccessManager> m_nam;
};

void tst_FaultProxy::initTestCase()
{
    testClock.start();
}

void tst_FaultProxy::init()
{
    m_upstream = std::make_unique<Upstream>();
    QVERIFY(m_upstream->listen());
    m_proxy =
            std::make_unique<FaultProxy>(QHostAddress(QHostAddress::LocalHost), m_upstream->port());
    QVERIFY2(m_proxy->listen(), qPrintable(m_proxy->errorString()));
    QVERIFY(m_proxy->port() != 0);
    QCOMPARE(m_proxy->url().host(), QStringLiteral("127.0.0.1"));
    m_nam = std::make_unique<QNetworkAccessManager>();
    m_nam->setProxy(QNetworkProxy::NoProxy); // never an http_proxy from the environment
}

void tst_FaultProxy::cleanup()
{
    m_nam.reset();
    m_proxy.reset();
    m_upstream.reset();
}

void tst_FaultProxy::forwardRelaysAndRecords()
{
    QSignalSpy seen(m_proxy.get(), &FaultProxy::requestSeen);
    QSignalSpy responded(m_proxy.get(), &FaultProxy::upstreamResponded);

    const Result get = send(*m_nam, "GET", at(*m_proxy, QStringLiteral("/api/me/?q=1")), {}, 10000,
                            {{"Authorization", "Bearer abc.def"}});
    QCOMPARE(get.error, QNetworkReply::NoError);
    QCOMPARE(get.status, 200);
    QCOMPARE(get.body, QByteArray("n=1 GET /api/me/?q=1 body=0"));

    const QByteArray json = R"({"refresh":"r1"})";
    const Result post =
            send(*m_nam, "POST", at(*m_proxy, QStringLiteral("/api/token/refresh/")), json);
    QCOMPARE(post.status, 200);
    QCOMPARE(post.body, "n=2 POST /api/token/refresh/ body=" + QByteArray::number(json.size()));

    // The upstream got the bytes unchanged.
    QCOMPARE(m_upstream->seen.size(), 2);
    QCOMPARE(m_upstream->seen.at(0).authorization, QByteArray("Bearer abc.def"));
    QCOMPARE(m_upstream->seen.at(1).body, json);

    // Observability.
    QCOMPARE(seen.size(), 2);
    QCOMPARE(responded.size(), 2);
    QCOMPARE(responded.at(1).at(1).toInt(), 200);
    const RequestInfo first = qvariant_cast<RequestInfo>(seen.at(0).at(0));
    QCOMPARE(first.method, QByteArray("GET"));
    QCOMPARE(first.target, QByteArray("/api/me/?q=1"));
    QCOMPARE(first.path, QByteArray("/api/me/"));
    QCOMPARE(first.header("authorization"), QByteArray("Bearer abc.def"));
    QCOMPARE(first.id, 0);
    const QList<RequestInfo> requests = m_proxy->requests();
    QCOMPARE(requests.size(), 2);
    QCOMPARE(requests.at(1).id, 1);
    QCOMPARE(requests.at(1).body, json);
    QCOMPARE(requests.at(1).pathIndex, 0);
    QCOMPARE(requests.at(1).forwardCount, 1);
    QCOMPARE(requests.at(1).upstreamStatus, 200);
    QCOMPARE(requests.at(1).action, Action::Kind::Forward);
    QCOMPARE(m_proxy->requestCount(), 2);
    QCOMPARE(m_proxy->requestCount("/api/token/refresh/"), 1);
    QCOMPARE(m_proxy->requestCount("POST", "/api/token/refresh/"), 1);
    QCOMPARE(m_proxy->requestCount("GET", "/api/token/refresh/"), 0);
    QCOMPARE(m_proxy->requestCount("/api/me/"), 1);
    QCOMPARE(m_proxy->forwardedCount(), 2);

    send(*m_nam, "POST", at(*m_proxy, QStringLiteral("/api/token/refresh/")), json);
    QCOMPARE(m_proxy->request(2).pathIndex, 1);

    m_proxy->clearHistory();
    QCOMPARE(m_proxy->requestCount(), 0);
    QCOMPARE(m_proxy->forwardedCount(), 0);
}

void tst_FaultProxy::keepAliveConnectionIsMirrored()
{
    for (int i = 0; i < 3; ++i)
        QCOMPARE(send(*m_nam, "GET", at(*m_proxy, QStringLiteral("/k"))).status, 200);
    QCOMPARE(m_proxy->connectionCount(), 1);
    QCOMPARE(m_upstream->connections, 1);
    const QList<RequestInfo> requests = m_proxy->requests();
    QCOMPARE(requests.size(), 3);
    for (int i = 0; i < 3; ++i) {
        QCOMPARE(requests.at(i).connection, 0);
        QCOMPARE(requests.at(i).indexOnConnection, i);
        QCOMPARE(requests.at(i).pathIndex, i);
    }

    // A raw client sending two requests at once: handled one at a time, in order.
    RawClient raw(m_proxy->port());
    QVERIFY(raw.isConnected());
    QVERIFY(raw.send(rawRequest("GET", "/a") + rawRequest("POST", "/b", "xyz")));
    const RawResult result =
            raw.read(5000, [](const QByteArray &received) { return received.contains("body=3"); });
    QVERIFY2(!result.timedOut, result.received.constData());
    QVERIFY(result.received.contains("GET /a body=0"));
    QVERIFY(result.received.indexOf("GET /a") < result.received.indexOf("POST /b body=3"));
    QCOMPARE(m_upstream->connections, 2);
}

void tst_FaultProxy::responseFraming_data()
{
    QTest::addColumn<int>("framing");
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<int>("status");
    QTest::addColumn<bool>("sameConnection"); // for the second request
    QTest::addRow("content-length")
            << int(Upstream::Framing::ContentLength) << QByteArray("GET") << 200 << true;
    QTest::addRow("chunked") << int(Upstream::Framing::Chunked) << QByteArray("GET") << 200 << true;
    QTest::addRow("until-close") << int(Upstream::Framing::UntilClose) << QByteArray("GET") << 200
                                 << false;
    QTest::addRow("head") << int(Upstream::Framing::ContentLength) << QByteArray("HEAD") << 200
                          << true;
    QTest::addRow("204") << int(Upstream::Framing::NoBody) << QByteArray("DELETE") << 204 << true;
}

void tst_FaultProxy::responseFraming()
{
    QFETCH(int, framing);
    QFETCH(QByteArray, method);
    QFETCH(int, status);
    QFETCH(bool, sameConnection);
    QByteArray big(100 * 1024, 'b');
    for (qsizetype i = 0; i < big.size(); i += 97)
        big[i] = char('a' + i % 26);
    m_upstream->handler = [&](const SeenRequest &request) {
        Upstream::Reply reply;
        reply.framing = request.target == "/second" ? Upstream::Framing::ContentLength
                                                    : Upstream::Framing(framing);
        reply.status = request.target == "/second" ? 200 : status;
        reply.body = reply.status == 204 ? QByteArray() : big;
        return reply;
    };
    const Result first = send(*m_nam, method, at(*m_proxy, QStringLiteral("/first")), {}, 5000);
    QCOMPARE(first.error, QNetworkReply::NoError);
    QCOMPARE(first.status, status);
    QCOMPARE(first.body, method == "GET" ? big : QByteArray());
    const Result second = send(*m_nam, "GET", at(*m_proxy, QStringLiteral("/second")), {}, 5000);
    QCOMPARE(second.error, QNetworkReply::NoError);
    QCOMPARE(second.body, big);
    QCOMPARE(m_proxy->request(1).connection == m_proxy->request(0).connection, sameConnection);
    QCOMPARE(m_proxy->request(0).upstreamStatus, status);
}

void tst_FaultProxy::rawKeepAliveFraming_data()
{
    QTest::addColumn<int>("framing");
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<int>("status");
    QTest::addRow("content-length")
            << int(Upstream::Framing::ContentLength) << QByteArray("GET") << 200;
    QTest::addRow("chunked with trailer")
            << int(Upstream::Framing::ChunkedWithTrailer) << QByteArray("GET") << 200;
    QTest::addRow("head") << int(Upstream::Framing::ContentLength) << QByteArray("HEAD") << 200;
    QTest::addRow("304") << int(Upstream::Framing::ContentLength) << QByteArray("GET") << 304;
}

void tst_FaultProxy::rawKeepAliveFraming()
{
    QFETCH(int, framing);
    QFETCH(QByteArray, method);
    QFETCH(int, status);
    // Responses without a body (HEAD, 304) still carry the Content-Length of the resource.
    const Upstream::Reply reply{status, QByteArray(3000, 'c'), Upstream::Framing(framing)};
    m_upstream->handler = [&](const SeenRequest &) { return reply; };
    const QByteArray expected = Upstream::response(reply, method == "HEAD" || status == 304);

    RawClient raw(m_proxy->port());
    for (int i = 0; i < 2; ++i) {
        QVERIFY(raw.send(rawRequest(method, "/k" + QByteArray::number(i))));
        const RawResult result =
                raw.read(5000, [&](const QByteArray &received) { return received == expected; });
        QCOMPARE(result.received, expected);
    }
    QCOMPARE(m_proxy->connectionCount(), 1);
    QCOMPARE(m_upstream->connections, 1);
    QCOMPARE(m_upstream->seen.size(), 2);
}

void tst_FaultProxy::dropRequest()
{
    RawClient raw(m_proxy->port());
    m_proxy->setRule([](const RequestInfo &) { return Action::dropRequest(); });
    QVERIFY(raw.send(rawRequest("POST", "/api/token/", "{}")));
    const RawResult closed = raw.read();
    QVERIFY(closed.eof);
    QVERIFY(!closed.reset);
    QCOMPARE(closed.received, QByteArray());
    QCOMPARE(m_proxy->requestCount("POST", "/api/token/"), 1);
    QCOMPARE(m_proxy->request(0).action, Action::Kind::DropRequest);

    // QNAM resends before it gives up (see qnamResendsAfterEarlyClose); every try is dropped.
    const Result result = send(*m_nam, "POST", at(*m_proxy, QStringLiteral("/api/token/")), "{}");
    QCOMPARE(result.error, QNetworkReply::RemoteHostClosedError);
    QCOMPARE(result.status, 0);
    QVERIFY(m_proxy->requestCount("POST", "/api/token/") >= 2);
    QCOMPARE(m_proxy->forwardedCount(), 0);
    QCOMPARE(m_upstream->seen.size(), 0);
}

void tst_FaultProxy::resetBeforeForward()
{
    m_proxy->setRule([](const RequestInfo &) { return Action::resetBeforeForward(); });
    RawClient raw(m_proxy->port());
    QVERIFY(raw.send(rawRequest("POST", "/api/token/", "{}")));
    const RawResult closed = raw.read();
    QVERIFY2(closed.reset, "expected a connection reset, not a FIN");
    QCOMPARE(closed.received, QByteArray());

    const Result result = send(*m_nam, "POST", at(*m_proxy, QStringLiteral("/api/token/")), "{}");
    QVERIFY(result.error != QNetworkReply::NoError);
    QCOMPARE(result.status, 0);
    QCOMPARE(m_upstream->seen.size(), 0);
    QCOMPARE(m_proxy->forwardedCount(), 0);
}

void tst_FaultProxy::delayRequest()
{
    QList<qint64> seenAt;
    connect(m_proxy.get(), &FaultProxy::requestSeen, this,
            [&] { seenAt.append(testClock.elapsed()); });
    m_proxy->setRule([](const RequestInfo &) { return Action::delayRequest(500); });
    const Result result = send(*m_nam, "POST", at(*m_proxy, QStringLiteral("/d")), "{}");
    QCOMPARE(result.status, 200);
    QVERIFY2(result.elapsedMs >= 450, qPrintable(QString::number(result.elapsedMs)));
    QCOMPARE(m_upstream->seen.size(), 1);
    QCOMPARE(seenAt.size(), 1);
    // The server only saw it after the delay.
    const qint64 lag = m_upstream->seen.at(0).atMs - seenAt.at(0);
    QVERIFY2(lag >= 450, qPrintable(QString::number(lag)));
}

void tst_FaultProxy::forwardThenDropResponse()
{
    QSignalSpy responded(m_proxy.get(), &FaultProxy::upstreamResponded);
    m_proxy->setRule([](const RequestInfo &info) {
        return info.path == "/api/token/refresh/" ? Action::forwardThenDropResponse()
                                                  : Action::forward();
    });
    RawClient raw(m_proxy->port());
    QVERIFY(raw.send(rawRequest("POST", "/api/token/refresh/", R"({"refresh":"r"})")));
    const RawResult closed = raw.read();
    QVERIFY(closed.eof);
    QCOMPARE(closed.received, QByteArray());
    // The server processed it (the rotation happened); only the answer was lost.
    QCOMPARE(m_upstream->seen.size(), 1);
    QCOMPARE(responded.size(), 1);
    QCOMPARE(m_proxy->request(0).upstreamStatus, 200);
    QCOMPARE(m_proxy->request(0).forwardCount, 1);

    // QNAM: every try reaches the server, none of the answers reaches the client.
    const Result result = send(*m_nam, "POST", at(*m_proxy, QStringLiteral("/api/token/refresh/")),
                               R"({"refresh":"r"})");
    QCOMPARE(result.error, QNetworkReply::RemoteHostClosedError);
    QCOMPARE(result.status, 0);
    QCOMPARE(result.body, QByteArray());
    QCOMPARE(m_upstream->seen.size(), m_proxy->requestCount("POST", "/api/token/refresh/"));
    QCOMPARE(responded.size(), m_upstream->seen.size());
}

void tst_FaultProxy::forwardThenResetMidBody()
{
    const QByteArray body(2000, 'x');
    m_upstream->handler = [&](const SeenRequest &) { return Upstream::Reply{200, body}; };
    m_proxy->setRule([](const RequestInfo &) { return Action::forwardThenResetMidBody(); });

    RawClient raw(m_proxy->port());
    QVERIFY(raw.send(rawRequest("POST", "/r", "{}")));
    const RawResult result = raw.read();
    QVERIFY2(result.reset, "expected a connection reset");
    const QByteArray full = Upstream::response({200, body});
    const qsizetype headerEnd = full.indexOf("\r\n\r\n") + 4;
    QCOMPARE(result.received, full.left(headerEnd + 1000));
    QCOMPARE(m_upstream->seen.size(), 1);

    // QNAM has the status; whether it reports an error for the short body depends on timing
    // (Qt 6.4 may finish the reply with NoError), so the body is what to check.
    const Result viaQnam = send(*m_nam, "POST", at(*m_proxy, QStringLiteral("/r")), "{}");
    QCOMPARE(viaQnam.status, 200);
    QVERIFY(viaQnam.body.size() < body.size());
}

void tst_FaultProxy::truncateResponse_data()
{
    QTest::addColumn<bool>("bodyOnly");
    QTest::addColumn<int>("bytes");
    QTest::addRow("whole response, in the status line") << false << 10;
    QTest::addRow("whole response, in the body") << false << 200;
    QTest::addRow("body only") << true << 100;
}

void tst_FaultProxy::truncateResponse()
{
    QFETCH(bool, bodyOnly);
    QFETCH(int, bytes);
    const QByteArray body(1000, 'y');
    m_upstream->handler = [&](const SeenRequest &) { return Upstream::Reply{200, body}; };
    m_proxy->setRule([&](const RequestInfo &) {
        return bodyOnly ? Action::truncateResponseBody(bytes) : Action::truncateResponse(bytes);
    });
    const QByteArray full = Upstream::response({200, body});
    const qsizetype headerEnd = full.indexOf("\r\n\r\n") + 4;

    RawClient raw(m_proxy->port());
    QVERIFY(raw.send(rawRequest("POST", "/t", "{}")));
    const RawResult result = raw.read();
    QVERIFY(result.eof);
    QVERIFY(!result.reset);
    QCOMPARE(result.received, full.left(bodyOnly ? headerEnd + bytes : bytes));
    QCOMPARE(m_upstream->seen.size(), 1);

    // As with a reset mid-body, QNAM may or may not flag the short body; it never gets it all.
    const Result viaQnam = send(*m_nam, "POST", at(*m_proxy, QStringLiteral("/t")), "{}");
    QVERIFY(viaQnam.body.size() < body.size());
    QCOMPARE(m_upstream->seen.size(), m_proxy->requestCount());
}

void tst_FaultProxy::delayResponse()
{
    QList<qint64> respondedAt;
    connect(m_proxy.get(), &FaultProxy::upstreamResponded, this,
            [&] { respondedAt.append(testClock.elapsed()); });
    m_proxy->setRule([](const RequestInfo &) { return Action::delayResponse(600); });
    const qint64 start = testClock.elapsed();
    const Result result = send(*m_nam, "POST", at(*m_proxy, QStringLiteral("/slow")), "{}");
    QCOMPARE(result.status, 200);
    QCOMPARE(result.body, QByteArray("n=1 POST /slow body=2"));
    QVERIFY2(result.elapsedMs >= 550, qPrintable(QString::number(result.elapsedMs)));
    // The server answered at once; the client saw the answer only after the delay.
    QCOMPARE(m_upstream->seen.size(), 1);
    QVERIFY(m_upstream->seen.at(0).atMs - start < 400);
    QCOMPARE(respondedAt.size(), 1);
    QVERIFY(start + result.elapsedMs - respondedAt.at(0) >= 550);
}

void tst_FaultProxy::trickleResponse()
{
    const QByteArray body(2000, 'z');
    m_upstream->handler = [&](const SeenRequest &) { return Upstream::Reply{200, body}; };
    m_proxy->setRule([](const RequestInfo &) { return Action::trickleResponse(5000); });
    const Result result = send(*m_nam, "GET", at(*m_proxy, QStringLiteral("/trickle")));
    QCOMPARE(result.error, QNetworkReply::NoError);
    QCOMPARE(result.body, body);
    // ~2070 bytes at 5000 B/s: ~400 ms, in many small pieces.
    QVERIFY2(result.elapsedMs >= 300, qPrintable(QString::number(result.elapsedMs)));
    QVERIFY2(result.readyReads >= 4, qPrintable(QString::number(result.readyReads)));
}

void tst_FaultProxy::duplicateRequest_data()
{
    QTest::addColumn<bool>("deliverFirst");
    QTest::addColumn<QByteArray>("expectedBody");
    QTest::addRow("second response") << false << QByteArray("n=2 POST /api/token/refresh/ body=15");
    QTest::addRow("first response") << true << QByteArray("n=1 POST /api/token/refresh/ body=15");
}

void tst_FaultProxy::duplicateRequest()
{
    QFETCH(bool, deliverFirst);
    QFETCH(QByteArray, expectedBody);
    QSignalSpy responded(m_proxy.get(), &FaultProxy::upstreamResponded);
    m_proxy->setRule([&](const RequestInfo &) {
        return Action::duplicateRequest(deliverFirst ? Action::Deliver::First
                                                     : Action::Deliver::Second);
    });
    const QByteArray json = R"({"refresh":"r"})";
    const Result result =
            send(*m_nam, "POST", at(*m_proxy, QStringLiteral("/api/token/refresh/")), json);
    QCOMPARE(result.status, 200);
    QCOMPARE(result.body, expectedBody);
    QCOMPARE(m_upstream->seen.size(), 2);
    QCOMPARE(m_upstream->seen.at(0).body, json);
    QCOMPARE(m_upstream->seen.at(1).body, json);
    QCOMPARE(m_proxy->requestCount("POST", "/api/token/refresh/"), 1);
    QCOMPARE(m_proxy->forwardedCount(), 2);
    QCOMPARE(m_proxy->request(0).forwardCount, 2);
    QCOMPARE(responded.size(), 2);

    // Also when the server closes after every response.
    m_upstream->handler = [](const SeenRequest &request) {
        return Upstream::Reply{200, "closing " + request.body, Upstream::Framing::UntilClose};
    };
    const Result closing = send(*m_nam, "POST", at(*m_proxy, QStringLiteral("/c")), json);
    QCOMPARE(closing.status, 200);
    QCOMPARE(closing.body, "closing " + json);
    QCOMPARE(m_upstream->seen.size(), 4);
}

void tst_FaultProxy::holdResponseRelease()
{
    QSignalSpy held(m_proxy.get(), &FaultProxy::responseHeld);
    m_proxy->setRule([](const RequestInfo &info) {
        return info.path == "/held" ? Action::holdResponse() : Action::forward();
    });
    QNetworkRequest heldRequest(at(*m_proxy, QStringLiteral("/held")));
    heldRequest.setHeader(QNetworkRequest::ContentTypeHeader, QByteArray("application/json"));
    QNetworkReply *heldReply = m_nam->post(heldRequest, QByteArray("{}"));
    QVERIFY(held.wait(5000));
    QCOMPARE(held.size(), 1);
    const int id = held.at(0).at(0).toInt();
    QCOMPARE(m_proxy->heldResponses(), QList<int>{id});
    QCOMPARE(m_proxy->request(id).path, QByteArray("/held"));
    QCOMPARE(m_upstream->seen.size(), 1); // the server has answered already

    // Another request overtakes the held one.
    const Result other = send(*m_nam, "GET", at(*m_proxy, QStringLiteral("/other")));
    QCOMPARE(other.status, 200);
    QTest::qWait(200);
    QVERIFY(!heldReply->isFinished());

    QVERIFY(m_proxy->releaseHeld(id));
    QTRY_VERIFY(heldReply->isFinished());
    QCOMPARE(heldReply->error(), QNetworkReply::NoError);
    QCOMPARE(heldReply->readAll(), QByteArray("n=1 POST /held body=2"));
    QVERIFY(!m_proxy->releaseHeld(id));
    QVERIFY(m_proxy->heldResponses().isEmpty());
    delete heldReply;
}

void tst_FaultProxy::holdResponseDrop()
{
    QSignalSpy held(m_proxy.get(), &FaultProxy::responseHeld);
    m_proxy->setRule([](const RequestInfo &) { return Action::holdResponse(); });
    RawClient raw(m_proxy->port());
    QVERIFY(raw.send(rawRequest("POST", "/h", "{}")));
    QVERIFY(held.wait(5000));
    const int id = held.at(0).at(0).toInt();
    QVERIFY(m_proxy->dropHeld(id));
    const RawResult closed = raw.read();
    QVERIFY(closed.eof);
    QCOMPARE(closed.received, QByteArray());
    QCOMPARE(m_upstream->seen.size(), 1);
    QVERIFY(!m_proxy->dropHeld(id));
    QVERIFY(!m_proxy->releaseHeld(id));

    // QNAM resends after the drop; dropping every try ends in an error.
    QNetworkRequest request(at(*m_proxy, QStringLiteral("/h")));
    request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArray("application/json"));
    std::unique_ptr<QNetworkReply> reply(m_nam->post(request, QByteArray("{}")));
    connect(m_proxy.get(), &FaultProxy::responseHeld, this,
            [this](int heldId) { m_proxy->dropHeld(heldId); });
    QTRY_VERIFY(reply->isFinished());
    QCOMPARE(reply->error(), QNetworkReply::RemoteHostClosedError);
    QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 0);
    QCOMPARE(m_upstream->seen.size(), m_proxy->requestCount());
    QVERIFY(m_proxy->heldResponses().isEmpty());
}

void tst_FaultProxy::holdResponseClientGone()
{
    QSignalSpy held(m_proxy.get(), &FaultProxy::responseHeld);
    m_proxy->setRule([](const RequestInfo &) { return Action::holdResponse(); });
    {
        RawClient raw(m_proxy->port());
        QVERIFY(raw.send(rawRequest("POST", "/h", "{}")));
        QVERIFY(held.wait(5000));
        QCOMPARE(m_proxy->heldResponses().size(), 1);
    }
    QTRY_VERIFY(m_proxy->heldResponses().isEmpty());
    QVERIFY(!m_proxy->releaseHeld(held.at(0).at(0).toInt()));
}

void tst_FaultProxy::replaceResponse_data()
{
    QTest::addColumn<QByteArray>("raw");
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<QByteArray>("contentType");

    const auto row = [](const char *name, int status, const QByteArray &contentType,
                        const QByteArray &body) {
        QTest::addRow("%s", name) << Action::replaceResponse(status, contentType, body).raw()
                                  << status << body << contentType;
    };
    row("5xx", 503, "application/json", R"({"detail":"down","code":"unavailable"})");
    row("garbage json", 200, "application/json", R"({"access": "a", "refr)");
    row("wrong content type", 200, "text/html", "<html>login</html>");
    row("huge body", 200, "application/json", QByteArray(4 * 1024 * 1024, '['));
    QTest::addRow("no length, body until close")
            << QByteArray("HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\n\r\nproxy")
            << 502 << QByteArray("proxy") << QByteArray("text/plain");
}

void tst_FaultProxy::replaceResponse()
{
    QFETCH(QByteArray, raw);
    QFETCH(int, status);
    QFETCH(QByteArray, body);
    QFETCH(QByteArray, contentType);
    m_proxy->setRule([&](const RequestInfo &) { return Action::replaceResponse(raw); });
    const Result result = send(*m_nam, "POST", at(*m_proxy, QStringLiteral("/api/token/")), "{}");
    QCOMPARE(result.status, status);
    QCOMPARE(result.body.size(), body.size());
    QCOMPARE(result.body, body);
    QCOMPARE(result.contentType, contentType);
    QCOMPARE(m_upstream->seen.size(), 0);
    QCOMPARE(m_proxy->forwardedCount(), 0);
}

void tst_FaultProxy::stall()
{
    m_proxy->setRule([](const RequestInfo &) { return Action::stall(); });
    const Result result = send(*m_nam, "POST", at(*m_proxy, QStringLiteral("/s")), "{}", 400);
    QCOMPARE(result.error, QNetworkReply::OperationCanceledError); // transfer timeout
    QVERIFY(result.elapsedMs >= 350);
    QCOMPARE(m_proxy->requestCount(), 1);
    QCOMPARE(m_upstream->seen.size(), 0);
}

void tst_FaultProxy::ruleSeesConnections()
{
    // Per connection: everything on the first connection is slow.
    m_proxy->setRule([](const RequestInfo &info) {
        return info.connection == 0 ? Action::delayResponse(700) : Action::forward();
    });
    QNetworkReply *slow = m_nam->get(QNetworkRequest(at(*m_proxy, QStringLiteral("/one"))));
    QTRY_COMPARE(m_proxy->requestCount(), 1);
    QNetworkReply *fast = m_nam->get(QNetworkRequest(at(*m_proxy, QStringLiteral("/two"))));
    QTRY_VERIFY(fast->isFinished());
    QVERIFY(!slow->isFinished());
    QCOMPARE(fast->error(), QNetworkReply::NoError);
    QTRY_VERIFY(slow->isFinished());
    QCOMPARE(slow->error(), QNetworkReply::NoError);
    QCOMPARE(m_proxy->request(0).connection, 0);
    QCOMPARE(m_proxy->request(1).connection, 1);
    QCOMPARE(m_proxy->connectionCount(), 2);
    delete slow;
    delete fast;
}

void tst_FaultProxy::qnamResendsAfterEarlyClose()
{
    // What proxy users must know: when a connection closes before the response headers are
    // complete, QNetworkAccessManager silently sends the request again on a new connection.
    // The rule sees each try as a new request (new id, next pathIndex, another connection).
    m_proxy->setRule([](const RequestInfo &info) {
        return info.pathIndex == 0 ? Action::forwardThenDropResponse() : Action::forward();
    });
    const Result get = send(*m_nam, "GET", at(*m_proxy, QStringLiteral("/idempotent")));
    QCOMPARE(get.error, QNetworkReply::NoError);
    QCOMPARE(m_proxy->requestCount("GET", "/idempotent"), 2);
    QCOMPARE(m_upstream->seen.size(), 2);
    QVERIFY(m_proxy->request(1).connection != m_proxy->request(0).connection);

    // Qt 6.4 does it for POST as well: a "lost" refresh response is refreshed again.
    const Result post = send(*m_nam, "POST", at(*m_proxy, QStringLiteral("/rotate")), "{}");
    qInfo("POST after a lost response: %d tries, error %d",
          m_proxy->requestCount("POST", "/rotate"), int(post.error));
#if QT_VERSION < QT_VERSION_CHECK(6, 5, 0)
    QCOMPARE(post.error, QNetworkReply::NoError);
    QCOMPARE(m_proxy->requestCount("POST", "/rotate"), 2);
    QCOMPARE(m_upstream->seen.size(), 4);
#endif
}

void tst_FaultProxy::bufferCap_data()
{
    QTest::addColumn<bool>("bigRequest");
    QTest::addRow("request") << true;
    QTest::addRow("response") << false;
}

void tst_FaultProxy::bufferCap()
{
    QFETCH(bool, bigRequest);
    m_proxy->setMaxBufferedBytes(64 * 1024);
    QCOMPARE(m_proxy->maxBufferedBytes(), qint64(64 * 1024));
    const QByteArray big(256 * 1024, 'q');
    m_upstream->handler = [&](const SeenRequest &) { return Upstream::Reply{200, big}; };
    const Result result = send(*m_nam, "POST", at(*m_proxy, QStringLiteral("/big")),
                               bigRequest ? big : QByteArray("{}"));
    QVERIFY(result.error != QNetworkReply::NoError);
    QVERIFY(result.body.size() < big.size());
    if (bigRequest)
        QCOMPARE(m_upstream->seen.size(), 0);
    else // every try of QNAM reached the server
        QCOMPARE(m_upstream->seen.size(), m_proxy->requestCount());
}

void tst_FaultProxy::upstreamDown()
{
    m_upstream->close();
    m_upstream.reset();
    const Result result = send(*m_nam, "POST", at(*m_proxy, QStringLiteral("/down")), "{}", 5000);
    QCOMPARE(result.error, QNetworkReply::RemoteHostClosedError);
    QVERIFY(result.elapsedMs < 4000);
    QVERIFY(m_proxy->requestCount() >= 1);
    QCOMPARE(m_proxy->request(0).upstreamStatus, 0);
}

void tst_FaultProxy::setUpstreamFollowsRestart()
{
    Upstream second;
    QVERIFY(second.listen());
    second.handler = [](const SeenRequest &) { return Upstream::Reply{200, "second"}; };
    QCOMPARE(send(*m_nam, "GET", at(*m_proxy, QStringLiteral("/x"))).body,
             QByteArray("n=1 GET /x body=0"));
    m_proxy->setUpstream(QHostAddress(QHostAddress::LocalHost), second.port());
    m_proxy->closeAllConnections(); // the open connection still goes to the first upstream
    QCOMPARE(send(*m_nam, "POST", at(*m_proxy, QStringLiteral("/x")), "{}").body,
             QByteArray("second"));
    QCOMPARE(second.seen.size(), 1);
}

void tst_FaultProxy::logsNeverCarrySecrets()
{
    QLoggingCategory::setFilterRules(QStringLiteral("tessera.test.proxy.debug=true"));
    {
        QMutexLocker lock(&logMutex);
        capturedLog.clear();
    }
    previousHandler = qInstallMessageHandler(captureMessages);
    m_proxy->setRule([](const RequestInfo &info) {
        return info.pathIndex == 0 ? Action::holdResponse() : Action::forward();
    });
    connect(m_proxy.get(), &FaultProxy::responseHeld, m_proxy.get(),
            [this](int id) { m_proxy->releaseHeld(id); });
    send(*m_nam, "GET", at(*m_proxy, QStringLiteral("/api/me/?token=SECRETQUERY")), {}, 10000,
         {{"Authorization", "Bearer SECRETHEADER"}});
    send(*m_nam, "POST", at(*m_proxy, QStringLiteral("/api/token/refresh/")),
         R"({"refresh":"SECRETBODY"})");
    qInstallMessageHandler(previousHandler);
    QLoggingCategory::setFilterRules(QString());

    QMutexLocker lock(&logMutex);
    const QString all = capturedLog.join(u'\n');
    QVERIFY2(all.contains(QStringLiteral("GET /api/me/")), qPrintable(all));
    QVERIFY2(all.contains(QStringLiteral("POST /api/token/refresh/")), qPrintable(all));
    QVERIFY2(!all.contains(QStringLiteral("SECRET")), qPrintable(all));
}

QTEST_GUILESS_MAIN(tst_FaultProxy)
#include "tst_faultproxy.moc"

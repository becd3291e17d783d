// SPDX-License-Identifier: MIT
// Threat-model scorecard (issue 5), hostile server responses: the SDK
// (Tessera::Session and AuthenticatedNetworkAccessManager) talks to the real
// tessera-server through the fault proxy, which breaks the token responses of
// refresh and login. Each function is one scorecard row. For every fault the
// SDK must end the operation with a typed, transient Error within its
// configured time, never hand out or send a bad access token, not flood the
// server, and lose nothing: the stored refresh token is unchanged, the session
// stays signed in, and once the fault is gone the next refresh and request work.
#include "sessiontestsupport.h"

#include <tessera/authenticatednetworkaccessmanager.h>

#include <QtCore/QDateTime>
#include <QtCore/QElapsedTimer>
#include <QtCore/QEventLoop>
#include <QtCore/QFutureWatcher>
#include <QtCore/QJsonArray>
#include <QtCore/QLocale>
#include <QtCore/QLoggingCategory>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <atomic>
#include <functional>
#include <memory>

Q_LOGGING_CATEGORY(lcSecurityResponses, "tessera.test.security.responses")

using namespace Tessera;
using namespace Tessera::SessionTest;

namespace {

// The fault rows run the SDK's refresh retry backoff scaled down to a first delay of 250 ms
// instead of 1 s (SessionPrivate::setRetryBaseDelayForTesting: 125-375 ms, then 250-750 ms,
// 500-1500 ms ...), so that the waits for its retries (a request during the fault, the
// recovery) take a quarter of the time. serverErrorStorm keeps the default schedule and
// checks it.
constexpr std::chrono::milliseconds RetryBase{250};

const QString Refresh = QStringLiteral("refresh");
const QString Login = QStringLiteral("login");

QByteArray b64(QByteArrayView data)
{
    return data.toByteArray().toBase64(QByteArray::Base64UrlEncoding
                                       | QByteArray::OmitTrailingEquals);
}

QByteArray compact(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

QByteArray httpDateNow()
{
    return QLocale::c()
                   .toString(QDateTime::currentDateTimeUtc(),
                             QStringLiteral("ddd, dd MMM yyyy hh:mm:ss"))
                   .toLatin1()
            + " GMT";
}

// A complete HTTP response (Content-Length, Date, Connection: close); no
// Content-Type header when `contentType` is empty.
QByteArray rawResponse(int status, const QByteArray &contentType, const QByteArray &body)
{
    QByteArray raw = "HTTP/1.1 " + QByteArray::number(status) + " Hostile\r\n";
    if (!contentType.isEmpty())
        raw += "Content-Type: " + contentType + "\r\n";
    raw += "Date: " + httpDateNow() + "\r\nCache-Control: no-store\r\nContent-Length: "
            + QByteArray::number(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    return raw;
}

// --- token surgery ------------------------------------------------------------

QList<QByteArray> segmentsOf(const QByteArray &token)
{
    return token.split('.');
}

QJsonObject decodedSegment(const QByteArray &token, int index)
{
    const auto bytes = QByteArray::fromBase64Encoding(segmentsOf(token).value(index),
                                                      QByteArray::Base64UrlEncoding
                                                              | QByteArray::OmitTrailingEquals);
    return QJsonDocument::fromJson(*bytes).object();
}

// The token with its header replaced (signature kept, or `signature` when given).
QByteArray withHeader(const QByteArray &token, const QByteArray &headerJson,
                      std::optional<QByteArray> signature = std::nullopt)
{
    const QList<QByteArray> parts = segmentsOf(token);
    return b64(headerJson) + '.' + parts.value(1) + '.' + signature.value_or(parts.value(2));
}

// The token with claim `name` set to the JSON text `rawValue` (removed when empty),
// header and signature kept: a server that signs absurd values signs them validly,
// and the SDK does not verify signatures anyway.
QByteArray withRawClaim(const QByteArray &token, const QString &name, const QByteArray &rawValue)
{
    QJsonObject claims = decodedSegment(token, 1);
    claims.remove(name);
    QByteArray payload = compact(claims);
    if (!rawValue.isEmpty()) {
        payload.chop(1);
        payload += ",\"" + name.toLatin1() + "\":" + rawValue + '}';
    }
    const QList<QByteArray> parts = segmentsOf(token);
    return parts.value(0) + '.' + b64(payload) + '.' + parts.value(2);
}

QByteArray tokenBody(const QByteArray &access, const QByteArray &refresh)
{
    return compact({{QStringLiteral("access"), QString::fromLatin1(access)},
                    {QStringLiteral("refresh"), QString::fromLatin1(refresh)}});
}

// --- the client ----------------------------------------------------------------

// A TestClient with the authenticated network access manager of its session.
struct Client : TestClient
{
    Client(const QUrl &url, std::chrono::milliseconds requestTimeout)
        : TestClient(url, requestTimeout)
        , network(std::make_unique<AuthenticatedNetworkAccessManager>(session.get()))
    { }

    std::unique_ptr<AuthenticatedNetworkAccessManager> network;
};

// Runs a real event loop until `done` is emitted (or the timeout): unlike
// QTest::qWaitFor, which sleeps between rounds, it reacts like an application's
// main thread, so the SDK's checks run as soon as data arrives.
template<typename Sender, typename Signal>
bool spinUntil(Sender *sender, Signal done, int timeoutMs, const std::function<bool()> &already)
{
    if (already())
        return true;
    QEventLoop loop;
    QTimer timer;
    timer.setSingleShot(true);
    QObject::connect(&timer, &QTimer::timeout, &loop, &QEventLoop::quit);
    QObject::connect(sender, done, &loop, &QEventLoop::quit);
    timer.start(timeoutMs);
    loop.exec();
    return already();
}

struct TokenWait
{
    bool finished = false;
    std::optional<QByteArray> token;
    Error error; // when it failed
};

TokenWait waitForToken(Session &session, int timeoutMs)
{
    QFuture<Secret> future = session.freshAccessToken();
    QFutureWatcher<Secret> watcher;
    watcher.setFuture(future);
    TokenWait wait;
    wait.finished = spinUntil(&watcher, &QFutureWatcher<Secret>::finished, timeoutMs,
                              [&future] { return future.isFinished(); });
    if (!wait.finished)
        return wait;
    wait.error = errorOf(future);
    if (!wait.error)
        wait.token = future.takeResult().reveal().toByteArray();
    return wait;
}

Error loginAndWait(Session &session, int timeoutMs)
{
    const QFuture<void> future = session.login(TestUser, TestPassword);
    QFutureWatcher<void> watcher;
    watcher.setFuture(future);
    if (!spinUntil(&watcher, &QFutureWatcher<void>::finished, timeoutMs,
                   [&future] { return future.isFinished(); }))
        return {Error::Code::Cancelled, QStringLiteral("timed out")};
    return errorOf(future);
}

struct ApiResult
{
    bool finished = false;
    int status = 0;
    QNetworkReply::NetworkError error = QNetworkReply::NoError;
    QByteArray body;
};

ApiResult authenticatedGet(AuthenticatedNetworkAccessManager &network, const QUrl &url,
                           int timeoutMs)
{
    std::unique_ptr<QNetworkReply> reply(network.get(QNetworkRequest(url)));
    ApiResult result;
    QNetworkReply *watched = reply.get();
    result.finished = spinUntil(watched, &QNetworkReply::finished, timeoutMs,
                                [watched] { return watched->isFinished(); });
    if (!result.finished) {
        reply->abort();
        return result;
    }
    result.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    result.error = reply->error();
    result.body = reply->readAll();
    return result;
}

// --- a front that can answer with an endless body --------------------------------

// Loopback TCP front for hugeBody, on a thread of its own like a remote server
// (so producing the stream never waits for the SDK's thread). Relaying, it
// tunnels each connection byte for byte to `upstream` (the fault proxy).
// Streaming, it answers every new connection with a huge or endless 200
// response produced as the socket drains, holding no more than a few chunks:
// what the SDK buffers shows in this process's resident memory.
class FrontWorker : public QObject
{
public:
    // TrickleBody: prompt headers, then one body byte a second.
    enum class Body { Declared64MiB, EndlessChunked, EndlessUntilClose, TrickleBody };

    explicit FrontWorker(quint16 upstreamPort)
        : m_upstreamPort(upstreamPort)
    { }

    quint16 listen()
    {
        m_server = new QTcpServer(this);
        connect(m_server, &QTcpServer::newConnection, this, &FrontWorker::accept);
        return m_server->listen(QHostAddress::LocalHost, 0) ? m_server->serverPort() : 0;
    }

    void setStreaming(bool streaming, Body body)
    {
        m_streaming = streaming;
        m_body = body;
        // Open connections are cut so the client's next request comes on a new one.
        const auto open = m_open;
        m_open.clear();
        for (const QPointer<QTcpSocket> &socket : open) {
            if (socket)
                socket->abort();
        }
    }

    std::atomic<qint64> largestStream{0};
    std::atomic<int> streams{0};

private:
    static constexpr qint64 Chunk = 64 * 1024;
    static constexpr qint64 EndlessCap = qint64(1) << 30;

    void accept()
    {
        while (QTcpSocket *client = m_server->nextPendingConnection()) {
            m_open.append(client);
            connect(client, &QTcpSocket::disconnected, client, &QObject::deleteLater);
            if (m_streaming)
                stream(client);
            else
                relay(client);
        }
    }

    void relay(QTcpSocket *client)
    {
        auto *upstream = new QTcpSocket(client);
        upstream->connectToHost(QHostAddress::LocalHost, m_upstreamPort);
        connect(client, &QTcpSocket::readyRead, upstream,
                [client, upstream] { upstream->write(client->readAll()); });
        connect(upstream, &QTcpSocket::connected, upstream,
                [client, upstream] { upstream->write(client->readAll()); });
        connect(upstream, &QTcpSocket::readyRead, client,
                [client, upstream] { client->write(upstream->readAll()); });
        connect(upstream, &QTcpSocket::disconnected, client, [client, upstream] {
            client->write(upstream->readAll());
            client->disconnectFromHost();
        });
        connect(upstream, &QTcpSocket::errorOccurred, client, [client] { client->abort(); });
        connect(client, &QTcpSocket::disconnected, upstream, [upstream] { upstream->abort(); });
    }

    void stream(QTcpSocket *client)
    {
        ++streams;
        auto sent = std::make_shared<qint64>(0);
        auto started = std::make_shared<bool>(false);
        const Body body = m_body;
        auto pump = [this, client, sent, body] {
            const qint64 limit = body == Body::Declared64MiB ? 64 * 1024 * 1024 : EndlessCap;
            while (client->state() == QAbstractSocket::ConnectedState
                   && client->bytesToWrite() < 4 * Chunk && *sent < limit) {
                QByteArray piece(Chunk, 'A');
                if (*sent == 0)
                    piece.replace(0, 11, "{\"access\":\"");
                *sent += piece.size();
                if (body == Body::EndlessChunked)
                    piece = QByteArray::number(piece.size(), 16) + "\r\n" + piece + "\r\n";
                client->write(piece);
            }
            if (*sent > largestStream)
                largestStream = *sent;
        };
        connect(client, &QTcpSocket::readyRead, client, [client, started, body, pump] {
            client->readAll();
            if (*started)
                return;
            *started = true;
            QByteArray head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: "
                    + httpDateNow() + "\r\n";
            if (body == Body::Declared64MiB)
                head += "Content-Length: 67108864\r\n";
            else if (body == Body::EndlessChunked)
                head += "Transfer-Encoding: chunked\r\n";
            else
                head += "Connection: close\r\n";
            if (body == Body::TrickleBody) {
                client->write(head + "Content-Length: 4096\r\n\r\n{");
                auto *trickle = new QTimer(client);
                connect(trickle, &QTimer::timeout, client, [client] { client->write("A"); });
                trickle->start(1000);
                return;
            }
            client->write(head + "\r\n");
            pump();
        });
        connect(client, &QTcpSocket::bytesWritten, client, [started, pump, body] {
            if (*started && body != Body::TrickleBody)
                pump();
        });
    }

    QTcpServer *m_server = nullptr;
    quint16 m_upstreamPort;
    bool m_streaming = false;
    Body m_body = Body::EndlessChunked;
    QList<QPointer<QTcpSocket>> m_open;
};

class StreamingFront
{
public:
    using Body = FrontWorker::Body;

    explicit StreamingFront(quint16 upstreamPort)
        : m_worker(new FrontWorker(upstreamPort))
    {
        m_worker->moveToThread(&m_thread);
        m_thread.start();
    }
    ~StreamingFront()
    {
        QMetaObject::invokeMethod(
                m_worker, [worker = m_worker] { delete worker; }, Qt::BlockingQueuedConnection);
        m_thread.quit();
        m_thread.wait();
    }

    bool listen()
    {
        QMetaObject::invokeMethod(
                m_worker, [this] { m_port = m_worker->listen(); }, Qt::BlockingQueuedConnection);
        return m_port != 0;
    }
    QUrl url() const { return QUrl(QStringLiteral("http://127.0.0.1:%1").arg(m_port)); }
    void setStreaming(bool streaming, Body body)
    {
        QMetaObject::invokeMethod(
                m_worker, [this, streaming, body] { m_worker->setStreaming(streaming, body); },
                Qt::BlockingQueuedConnection);
    }
    qint64 largestStream() const { return m_worker->largestStream; }
    int streams() const { return m_worker->streams; }

private:
    QThread m_thread;
    FrontWorker *m_worker;
    quint16 m_port = 0;
};

// What one fault must produce.
struct Expectation
{
    QList<Error::Code> codes;
    int maxElapsedMs = 5000; // from the start of the operation to its failure
    bool refused = true;     // false: a control row, the response is fine
    int minElapsedMs = 0;    // e.g. the deadline, not the idle timeout, ended it
    // How long after the server's answer the fault itself holds the attempt open (the proxy's
    // wait before a reset): it cannot fail sooner.
    int heldAfterAnswerMs = 0;
};

} // namespace

Q_DECLARE_METATYPE(Tessera::Test::Action)
Q_DECLARE_METATYPE(FrontWorker::Body)

class tst_SecurityResponses : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();

    void resetMidBody_data();
    void resetMidBody();
    void truncatedJson_data();
    void truncatedJson();
    void hugeBody_data();
    void hugeBody();
    void trickleOneBytePerSecond_data();
    void trickleOneBytePerSecond();
    void serverErrorStorm_data();
    void serverErrorStorm();
    void wrongContentType_data();
    void wrongContentType();
    void algNoneToken_data();
    void algNoneToken();
    void absurdExp_data();
    void absurdExp();

private:
    // Signs in (for refresh), turns the fault on, runs `operation` and checks the
    // failure and that nothing was lost or misused; turns the fault off and checks
    // the recovery. `setFault(true)` may return the access token of a hostile
    // response, which must never reach the server in an Authorization header.
    using FaultSwitch = std::function<QByteArray(bool on)>;
    void runFault(FaultProxy &proxy, Client &client, const QString &operation,
                  const FaultSwitch &setFault, const Expectation &expect);
    // A fault that answers the operation's endpoint with `raw(genuine pair)`: a
    // hostile rewrite of a real token response fetched out of band.
    void runRewrittenResponse(
            const QString &operation,
            const std::function<QByteArray(const QByteArray &access, const QByteArray &refresh,
                                           QByteArray *hostileAccess)> &rewrite,
            const Expectation &expect);

    std::unique_ptr<Peer> m_peer;
    // The genuine refresh token a rewritten response carries (runRewrittenResponse).
    QByteArray m_carriedRefresh;
};

void tst_SecurityResponses::initTestCase()
{
    // A response lost after the server rotated is recovered by retrying the old
    // token within the reuse grace window. Here recovery waits for the SDK's
    // backed-off retry, and a fault row can take 10 s on a slow (sanitized)
    // build: the window is widened so that the rows test the client's handling
    // of the fault, not the window's bounds (tst_server_rotation tests those).
    // No login throttling: every row signs in, some twice.
    PeerOptions options;
    options.extraArgs = {QStringLiteral("--login-limit"),         QStringLiteral("0"),
                         QStringLiteral("--reuse-grace"),         QStringLiteral("120"),
                         QStringLiteral("--reuse-grace-answers"), QStringLiteral("20")};
    m_peer = std::make_unique<Peer>(ServerKind::Tessera, options);
    TESSERA_START_PEER(*m_peer);
}

void tst_SecurityResponses::cleanupTestCase()
{
    m_peer.reset();
}

void tst_SecurityResponses::runFault(FaultProxy &proxy, Client &client, const QString &operation,
                                     const FaultSwitch &setFault, const Expectation &expect)
{
    Session &session = *client.session;
    SessionPrivate::get(&session)->setRetryBaseDelayForTesting(RetryBase);
    const bool refresh = operation == Refresh;
    QByteArray stored;
    if (refresh) {
        TESSERA_LOGIN(session);
        stored = client.storedToken();
        QVERIFY(!stored.isEmpty());
    }
    const QByteArray endpoint = refresh ? RefreshPath : ObtainPath;
    // Every Authorization header that reaches the API, compared and never printed. Each attempt
    // at the operation's endpoint: when it arrived and, if it was forwarded, when the server's
    // answer did (ms since the fault was switched on).
    QList<QByteArray> authorizations;
    struct Attempt
    {
        int id;
        qint64 seenMs;
        qint64 answeredMs = -1;
    };
    QList<Attempt> attempts;
    QElapsedTimer faultClock;
    QObject scope; // ends the connections with this function
    connect(&proxy, &FaultProxy::requestSeen, &scope,
            [&authorizations, &attempts, &faultClock, endpoint](const RequestInfo &request) {
                if (request.path == MePath)
                    authorizations.append(request.header("Authorization"));
                else if (request.path == endpoint && faultClock.isValid())
                    attempts.append({request.id, faultClock.elapsed()});
            });
    connect(&proxy, &FaultProxy::upstreamResponded, &scope,
            [&attempts, &faultClock](int requestId, int) {
                for (Attempt &attempt : attempts) {
                    if (attempt.id == requestId)
                        attempt.answeredMs = faultClock.elapsed();
                }
            });
    const int attemptsBefore = proxy.requestCount(endpoint);
    m_carriedRefresh.clear();
    const QByteArray hostileAccess = setFault(true);
    faultClock.start();
    const int errorsBefore = int(client.errors.size());

    QElapsedTimer clock;
    clock.start();
    const int waitMs = expect.maxElapsedMs + 15000;
    Error failure;
    bool finished = true;
    if (refresh) {
        SessionPrivate::get(&session)->expireAccessTokenForTesting();
        const TokenWait wait = waitForToken(session, waitMs);
        finished = wait.finished;
        if (wait.token && expect.refused) {
            // Evidence for the report: what the SDK does with what it accepted.
            QTest::qWait(1500);
            QFAIL(qPrintable(QStringLiteral("the SDK accepted the hostile response and handed out "
                                            "its access token (%1; %2 refresh attempts in 1.5 s)")
                                     .arg(wait.token == hostileAccess
                                                  ? QStringLiteral("the hostile one")
                                                  : QStringLiteral("another one"))
                                     .arg(proxy.requestCount(endpoint) - attemptsBefore)));
        }
        if (!expect.refused) {
            QVERIFY2(wait.token.has_value(), qPrintable(wait.error.message()));
        } else {
            failure = wait.error;
            QCOMPARE(session.lastError(), failure);
        }
    } else {
        failure = loginAndWait(session, waitMs);
        finished = failure.message() != QLatin1String("timed out");
        if (expect.refused && !failure)
            QFAIL("the SDK accepted the hostile login response");
        if (!expect.refused)
            QVERIFY2(!failure, qPrintable(failure.message()));
    }
    const qint64 elapsed = clock.elapsed();
    QVERIFY2(finished,
             qPrintable(QStringLiteral("no answer after %1 ms: the SDK hangs").arg(elapsed)));

    // The API on the session's own origin (requests elsewhere carry no token).
    const QUrl me = client.config.endpoint(QString::fromLatin1(MePath));
    if (!expect.refused) {
        // Control: the same machinery with an acceptable response.
        QCOMPARE(session.state(), Session::State::SignedIn);
        QVERIFY(!client.storedToken().isEmpty() && client.storedToken() != stored);
        setFault(false);
        QCOMPARE(authenticatedGet(*client.network, me, 15000).status, 200);
        return;
    }

    // A typed, transient error, in time.
    qCDebug(lcSecurityResponses) << "failed after" << elapsed << "ms:" << failure;
    const QString code =
            QString::fromLatin1(QMetaEnum::fromType<Error::Code>().valueToKey(int(failure.code())));
    QVERIFY2(expect.codes.contains(failure.code()),
             qPrintable(QStringLiteral("unexpected error %1: %2").arg(code, failure.message())));
    QVERIFY2(failure.isTransient(), qPrintable(failure.message()));
    QVERIFY2(elapsed <= expect.maxElapsedMs,
             qPrintable(QStringLiteral("failed only after %1 ms (at most %2 expected)")
                                .arg(elapsed)
                                .arg(expect.maxElapsedMs)));
    QVERIFY2(elapsed >= expect.minElapsedMs,
             qPrintable(QStringLiteral("failed already after %1 ms (at least %2 expected)")
                                .arg(elapsed)
                                .arg(expect.minElapsedMs)));
    // Reported once, to the caller that waited: not also through errorOccurred.
    QCOMPARE(client.errors.size(), errorsBefore);

    // No flood: the failure is followed by backed-off retries only, the first after 0.5 to 1.5
    // base delays, the next 1 to 3 base delays later: at most 3 attempts within 1.5 base delays
    // (with the default 1 s base: within 1.5 s).
    const int floodWindowMs = int(RetryBase.count() * 3 / 2);
    QTest::qWait(floodWindowMs);
    const int attemptCount = proxy.requestCount(endpoint) - attemptsBefore;
    QVERIFY2(attemptCount <= 3,
             qPrintable(QStringLiteral("%1 attempts within %2 ms")
                                .arg(attemptCount)
                                .arg(floodWindowMs)));
    // Nor a retry sooner than the shortest backoff (half the base delay, less the 5 % a coarse
    // Qt timer may fire early) after the attempt before it failed. An attempt cannot fail before
    // the proxy has its request and, when it forwards it, the server's answer: measured from
    // there, this holds however long an attempt takes (a flood retries within milliseconds).
    const qint64 shortestRetryMs = RetryBase.count() / 2 * 95 / 100;
    QStringList arrivals;
    for (const Attempt &attempt : std::as_const(attempts))
        arrivals << QString::number(attempt.seenMs);
    for (qsizetype i = 1; i < attempts.size(); ++i) {
        const Attempt &before = attempts.at(i - 1);
        const qint64 failedAfter =
                before.answeredMs >= 0 && before.answeredMs <= attempts.at(i).seenMs
                ? before.answeredMs + expect.heldAfterAnswerMs
                : before.seenMs;
        QVERIFY2(attempts.at(i).seenMs - failedAfter >= shortestRetryMs,
                 qPrintable(QStringLiteral("a retry %1 ms after the attempt before it could fail "
                                           "(at least %2 expected); attempts at ms: %3")
                                    .arg(attempts.at(i).seenMs - failedAfter)
                                    .arg(shortestRetryMs)
                                    .arg(arrivals.join(u' '))));
    }

    // Nothing lost: still signed in with the same stored token (or, for login, signed
    // out with nothing stored).
    if (refresh) {
        // Signed in (a backed-off retry may be in flight).
        QVERIFY2(session.state() == Session::State::SignedIn
                         || session.state() == Session::State::Refreshing,
                 QMetaEnum::fromType<Session::State>().valueToKey(int(session.state())));
        QVERIFY(!client.states.contains(Session::State::ReauthRequired));
        // Unchanged, or the rotated token a well-formed response carried next to an
        // unusable access token: the SDK keeps that one, because the token it spent
        // is dead on the server once the grace window passes (recovery below shows
        // the stored token works).
        QVERIFY2(client.storedToken() == stored
                         || (!m_carriedRefresh.isEmpty()
                             && client.storedToken() == m_carriedRefresh),
                 "the stored refresh token changed");
    } else {
        QCOMPARE(session.state(), Session::State::SignedOut);
        QVERIFY(!client.store->contains(client.key()));
    }

    // A request during the fault fails, and no bad token is ever sent.
    const ApiResult during = authenticatedGet(*client.network, me, waitMs);
    QVERIFY2(during.finished, "an authenticated request hangs during the fault");
    QVERIFY2(during.status != 200, during.body.constData());
    QVERIFY2(authorizations.isEmpty(),
             qPrintable(QStringLiteral("%1 request(s) reached the API during the fault")
                                .arg(authorizations.size())));

    // Recovery once the fault is gone.
    setFault(false);
    if (refresh) {
        const TokenWait wait = waitForToken(session, 15000);
        QVERIFY2(wait.token.has_value(), qPrintable(wait.error.message()));
        QVERIFY(wait.token != hostileAccess);
        QVERIFY2(client.storedToken() != stored && !client.storedToken().isEmpty(),
                 "the refresh did not rotate the stored token");
    } else {
        TESSERA_LOGIN(session);
        QVERIFY(!client.storedToken().isEmpty());
    }
    QCOMPARE(session.state(), Session::State::SignedIn);
    const ApiResult after = authenticatedGet(*client.network, me, 15000);
    QCOMPARE(after.status, 200);
    QCOMPARE(QJsonDocument::fromJson(after.body)
                     .object()
                     .value(QStringLiteral("username"))
                     .toString(),
             TestUser);
    if (!hostileAccess.isEmpty()) {
        for (const QByteArray &authorization : std::as_const(authorizations))
            QVERIFY2(authorization != "Bearer " + hostileAccess,
                     "the hostile access token was sent");
    }
}

// --- faults on the wire ----------------------------------------------------------

void tst_SecurityResponses::resetMidBody_data()
{
    QTest::addColumn<QString>("operation");
    QTest::newRow("refresh: response reset halfway through the body") << Refresh;
    QTest::newRow("login: response reset halfway through the body") << Login;
}

void tst_SecurityResponses::resetMidBody()
{
    QFETCH(QString, operation);
    FaultProxy proxy(m_peer->baseUrl());
    TESSERA_START_PROXY(proxy);
    Client client(proxy.url(), std::chrono::milliseconds(3000));
    const QByteArray path = operation == Refresh ? RefreshPath : ObtainPath;
    runFault(proxy, client, operation,
             [&proxy, path](bool on) {
                 if (!on) {
                     proxy.clearRule();
                     return QByteArray();
                 }
                 proxy.setRule([path](const RequestInfo &request) {
                     return request.path == path ? Action::forwardThenResetMidBody()
                                                 : Action::forward();
                 });
                 return QByteArray();
             },
             {{Error::Code::NetworkError, Error::Code::ServerError},
              3000,
              true,
              0,
              Action::ResetAfterWriteMs});
}

void tst_SecurityResponses::truncatedJson_data()
{
    QTest::addColumn<QString>("operation");
    QTest::addColumn<Action>("fault"); // for forwarded responses; Stall marks a rewritten one
    QTest::addColumn<int>("keep");     // rewritten: bytes of the genuine body kept
    QTest::newRow("refresh: cut after the headers")
            << Refresh << Action::truncateResponseBody(0) << 0;
    QTest::newRow("refresh: cut after 10 body bytes")
            << Refresh << Action::truncateResponseBody(10) << 0;
    QTest::newRow("refresh: cut after 200 body bytes")
            << Refresh << Action::truncateResponseBody(200) << 0;
    QTest::newRow("refresh: complete response, JSON one byte short")
            << Refresh << Action::stall() << -1;
    QTest::newRow("refresh: complete response, JSON cut inside the access token")
            << Refresh << Action::stall() << 40;
    QTest::newRow("refresh: complete response, empty body") << Refresh << Action::stall() << 0;
    QTest::newRow("login: cut after 10 body bytes")
            << Login << Action::truncateResponseBody(10) << 0;
    QTest::newRow("login: complete response, JSON one byte short")
            << Login << Action::stall() << -1;
}

void tst_SecurityResponses::truncatedJson()
{
    QFETCH(QString, operation);
    QFETCH(Action, fault);
    QFETCH(int, keep);
    if (fault.kind() == Action::Kind::Stall) {
        runRewrittenResponse(
                operation,
                [keep](const QByteArray &access, const QByteArray &refresh, QByteArray *) {
                    const QByteArray body = tokenBody(access, refresh);
                    return rawResponse(200, "application/json",
                                       keep < 0 ? body.chopped(-keep) : body.left(keep));
                },
                {{Error::Code::ServerError}, 3000});
        return;
    }
    FaultProxy proxy(m_peer->baseUrl());
    TESSERA_START_PROXY(proxy);
    Client client(proxy.url(), std::chrono::milliseconds(3000));
    const QByteArray path = operation == Refresh ? RefreshPath : ObtainPath;
    runFault(proxy, client, operation,
             [&proxy, path, fault](bool on) {
                 if (on)
                     proxy.setRule([path, fault](const RequestInfo &request) {
                         return request.path == path ? fault : Action::forward();
                     });
                 else
                     proxy.clearRule();
                 return QByteArray();
             },
             {{Error::Code::NetworkError, Error::Code::ServerError}, 3000});
}

void tst_SecurityResponses::hugeBody_data()
{
    QTest::addColumn<QString>("operation");
    QTest::addColumn<StreamingFront::Body>("body");
    QTest::newRow("refresh: 64 MiB body with Content-Length")
            << Refresh << StreamingFront::Body::Declared64MiB;
    QTest::newRow("refresh: endless chunked body")
            << Refresh << StreamingFront::Body::EndlessChunked;
    QTest::newRow("refresh: endless body until close")
            << Refresh << StreamingFront::Body::EndlessUntilClose;
    QTest::newRow("login: 64 MiB body with Content-Length")
            << Login << StreamingFront::Body::Declared64MiB;
    QTest::newRow("login: endless chunked body") << Login << StreamingFront::Body::EndlessChunked;
}

void tst_SecurityResponses::hugeBody()
{
    QFETCH(QString, operation);
    QFETCH(StreamingFront::Body, body);
    // SDK -> streaming front -> fault proxy -> server: the front answers by itself
    // while the fault is on.
    FaultProxy proxy(m_peer->baseUrl());
    TESSERA_START_PROXY(proxy);
    StreamingFront front(proxy.port());
    QVERIFY(front.listen());
    Client client(front.url(), std::chrono::milliseconds(5000));

    qint64 baseline = 0;
    qint64 peak = 0;
    QTimer sampler;
    sampler.setInterval(5);
    connect(&sampler, &QTimer::timeout, this,
            [&peak] { peak = qMax(peak, residentKiB(QCoreApplication::applicationPid())); });
    runFault(proxy, client, operation,
             [&](bool on) {
                 if (on) {
                     baseline = residentKiB(QCoreApplication::applicationPid());
                     peak = baseline;
                     sampler.start();
                 } else {
                     sampler.stop();
                 }
                 front.setStreaming(on, body);
                 return QByteArray();
             },
             {{Error::Code::ServerError}, 5000});
    if (QTest::currentTestFailed())
        return;
    QVERIFY(front.streams() >= 1);
    const QString measured = QStringLiteral("%1 bytes streamed on one connection, resident "
                                            "memory grew by %2 KiB during the fault")
                                     .arg(front.largestStream())
                                     .arg(peak - baseline);
    qInfo("scorecard: %s", qPrintable(measured));
    // The SDK refuses the body at its cap (64 KiB) with the error and nothing lost
    // (runFault above); a declared length over the cap is refused when the headers
    // arrive. What Qt's network thread reads before the refusal reaches it is
    // bounded by the reply's read buffer and the socket buffers: 0.6 to 3.5 MB
    // streamed and at most 2.5 MB of growth measured, where an endless chunked body
    // was read to the front's 1 GiB cap (and the process grew by as much) before
    // the SDK made sure Qt's network thread gets the buffer size. (Under ASan its
    // quarantine keeps freed memory on purpose, so RSS says nothing there.)
    QVERIFY2(front.largestStream() < 16 * 1024 * 1024, qPrintable(measured));
#if !defined(TESSERA_SANITIZED)
    QVERIFY2(peak - baseline < 16 * 1024, qPrintable(measured));
#endif
}

void tst_SecurityResponses::trickleOneBytePerSecond_data()
{
    QTest::addColumn<QString>("operation");
    QTest::addColumn<bool>("promptHeaders"); // else the whole response trickles, headers too
    QTest::newRow("refresh: whole response at 1 byte/s") << Refresh << false;
    QTest::newRow("login: whole response at 1 byte/s") << Login << false;
    QTest::newRow("refresh: prompt headers, body at 1 byte/s") << Refresh << true;
    QTest::newRow("login: prompt headers, body at 1 byte/s") << Login << true;
}

void tst_SecurityResponses::trickleOneBytePerSecond()
{
    QFETCH(QString, operation);
    QFETCH(bool, promptHeaders);
    // Idle timeout above the 1 s between bytes; the total deadline is twice it.
    constexpr int TimeoutMs = 1500;
    FaultProxy proxy(m_peer->baseUrl());
    TESSERA_START_PROXY(proxy);
    const QByteArray path = operation == Refresh ? RefreshPath : ObtainPath;
    if (!promptHeaders) {
        // No progress is reported before the headers are complete: the idle timeout ends it.
        Client client(proxy.url(), std::chrono::milliseconds(TimeoutMs));
        runFault(proxy, client, operation,
                 [&proxy, path](bool on) {
                     if (on)
                         proxy.setRule([path](const RequestInfo &request) {
                             return request.path == path ? Action::trickleResponse(1)
                                                         : Action::forward();
                         });
                     else
                         proxy.clearRule();
                     return QByteArray();
                 },
                 {{Error::Code::Timeout}, 2 * TimeoutMs + 700, true, TimeoutMs - 200});
        return;
    }
    // Every body byte is progress, so only the total deadline ends it.
    StreamingFront front(proxy.port());
    QVERIFY(front.listen());
    Client client(front.url(), std::chrono::milliseconds(TimeoutMs));
    runFault(proxy, client, operation,
             [&front](bool on) {
                 front.setStreaming(on, StreamingFront::Body::TrickleBody);
                 return QByteArray();
             },
             {{Error::Code::Timeout}, 2 * TimeoutMs + 700, true, 2 * TimeoutMs - 300});
}

// --- 5xx storm ----------------------------------------------------------------

void tst_SecurityResponses::serverErrorStorm_data()
{
    QTest::addColumn<int>("pollMs"); // 0: the app waits; else it requests this often
    QTest::newRow("session alone") << 0;
    QTest::newRow("app requesting every 250 ms") << 250;
}

void tst_SecurityResponses::serverErrorStorm()
{
    QFETCH(int, pollMs);
    constexpr int StormMs = 7000;
    // Declared first: replies and the proxy, destroyed later, may still report to them.
    QElapsedTimer clock;
    QList<qint64> attempts; // ms since the storm began
    int served = 0;
    int polled = 0;
    int succeeded = 0;
    FaultProxy proxy(m_peer->baseUrl());
    TESSERA_START_PROXY(proxy);
    Client client(proxy.url(), std::chrono::milliseconds(3000));
    Session &session = *client.session;
    TESSERA_LOGIN(session);
    const QByteArray stored = client.storedToken();

    connect(&proxy, &FaultProxy::requestSeen, this, [&](const RequestInfo &request) {
        if (request.path == RefreshPath)
            attempts.append(clock.elapsed());
    });
    const int apiBefore = proxy.requestCount(MePath);
    proxy.setRule([&served](const RequestInfo &request) {
        if (request.path != RefreshPath)
            return Action::forward();
        // The statuses and bodies a struggling deployment produces.
        static const int statuses[] = {503, 500, 502, 504};
        const int status = statuses[served++ % 4];
        return status == 502
                ? Action::replaceResponse(
                        rawResponse(status, "text/html", "<html><body>Bad Gateway</body></html>"))
                : Action::replaceResponse(
                        rawResponse(status, "application/json",
                                    R"({"code":"server_error","detail":"Internal server error"})"));
    });
    clock.start();
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    session.freshAccessToken();
    QTimer poll;
    connect(&poll, &QTimer::timeout, this, [&] {
        ++polled;
        QNetworkReply *reply = client.network->get(
                QNetworkRequest(proxy.url().resolved(QUrl(QString::fromLatin1(MePath)))));
        connect(reply, &QNetworkReply::finished, reply, [reply, &succeeded] {
            if (reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt() == 200)
                ++succeeded;
            reply->deleteLater();
        });
    });
    if (pollMs > 0)
        poll.start(pollMs);
    QTest::qWait(StormMs);
    poll.stop();
    const QList<qint64> stormAttempts = attempts;
    QStringList offsets;
    for (qint64 at : stormAttempts)
        offsets << QString::number(at);
    qCInfo(lcSecurityResponses) << "refresh attempts during the storm at (ms):" << offsets
                                << "app requests:" << polled;

    // Backoff (0.5-1.5 s, then 1-3 s, 2-6 s ...): a handful of attempts, not one per request.
    QVERIFY2(stormAttempts.size() >= 2,
             qPrintable(QStringLiteral("no retry on its own: %1").arg(offsets.join(u' '))));
    QVERIFY2(stormAttempts.size() <= 5,
             qPrintable(QStringLiteral("%1 refresh attempts in %2 ms (%3 app requests), at ms: %4")
                                .arg(stormAttempts.size())
                                .arg(StormMs)
                                .arg(polled)
                                .arg(offsets.join(u' '))));
    // Every failure transient; the session and its stored token kept. (A retry that requests
    // waited on tells them; one nobody waited on is reported by errorOccurred.)
    QCOMPARE(session.lastError().code(), Error::Code::ServerError);
    for (const Error &failure : std::as_const(client.errors)) {
        QCOMPARE(failure.code(), Error::Code::ServerError);
        QVERIFY(failure.isTransient());
    }
    QVERIFY(!client.states.contains(Session::State::ReauthRequired));
    QVERIFY(!client.states.contains(Session::State::SignedOut));
    QCOMPARE(session.state(), Session::State::SignedIn);
    QVERIFY2(client.storedToken() == stored, "the stored refresh token changed");
    QCOMPARE(succeeded, 0);
    QCOMPARE(proxy.requestCount(MePath), apiBefore); // no request went out without a token

    // The storm passes: the next request refreshes and succeeds.
    proxy.clearRule();
    const ApiResult after = authenticatedGet(
            *client.network, proxy.url().resolved(QUrl(QString::fromLatin1(MePath))), 15000);
    QCOMPARE(after.status, 200);
    QCOMPARE(session.state(), Session::State::SignedIn);
    QVERIFY(client.storedToken() != stored);
}

// --- rewritten token responses ----------------------------------------------------

void tst_SecurityResponses::runRewrittenResponse(
        const QString &operation,
        const std::function<QByteArray(const QByteArray &, const QByteArray &, QByteArray *)>
                &rewrite,
        const Expectation &expect)
{
    FaultProxy proxy(m_peer->baseUrl());
    TESSERA_START_PROXY(proxy);
    Client client(proxy.url(), std::chrono::milliseconds(3000));
    Test::HttpClient direct(m_peer->baseUrl());
    const QByteArray path = operation == Refresh ? RefreshPath : ObtainPath;
    runFault(
            proxy, client, operation,
            [&](bool on) {
                if (!on) {
                    proxy.clearRule();
                    return QByteArray();
                }
                // A genuine token pair for the same user, fetched out of band by a
                // login of its own: the session's stored token is not rotated behind
                // its back, so its recovery does not race the reuse grace window.
                const Test::HttpResponse genuine = direct.login(TestUser, TestPassword);
                const auto pair = Test::tokenPair(genuine);
                if (!pair) {
                    qCWarning(lcSecurityResponses) << "no genuine token pair:" << genuine.status;
                    return QByteArray();
                }
                QByteArray hostileAccess;
                m_carriedRefresh = pair->refresh.toLatin1();
                const QByteArray raw =
                        rewrite(pair->access.toLatin1(), pair->refresh.toLatin1(), &hostileAccess);
                proxy.setRule([path, raw](const RequestInfo &request) {
                    return request.path == path ? Action::replaceResponse(raw) : Action::forward();
                });
                return hostileAccess;
            },
            expect);
}

void tst_SecurityResponses::wrongContentType_data()
{
    QTest::addColumn<QString>("operation");
    QTest::addColumn<QByteArray>("contentType"); // empty: no Content-Type header
    QTest::addColumn<bool>("html");              // an HTML page instead of the token JSON
    QTest::addColumn<bool>("refused");
    QTest::newRow("refresh: captive-portal HTML page as text/html")
            << Refresh << QByteArray("text/html; charset=utf-8") << true << true;
    QTest::newRow("refresh: token JSON served as text/html")
            << Refresh << QByteArray("text/html") << false << true;
    QTest::newRow("refresh: token JSON served as text/plain")
            << Refresh << QByteArray("text/plain") << false << true;
    QTest::newRow("refresh: token JSON without Content-Type")
            << Refresh << QByteArray() << false << true;
    QTest::newRow("refresh: token JSON as application/x-www-form-urlencoded")
            << Refresh << QByteArray("application/x-www-form-urlencoded") << false << true;
    QTest::newRow("login: captive-portal HTML page as text/html")
            << Login << QByteArray("text/html") << true << true;
    QTest::newRow("login: token JSON served as text/html")
            << Login << QByteArray("text/html") << false << true;
    QTest::newRow("control: refresh, application/json; charset=utf-8")
            << Refresh << QByteArray("application/json; charset=utf-8") << false << false;
}

void tst_SecurityResponses::wrongContentType()
{
    QFETCH(QString, operation);
    QFETCH(QByteArray, contentType);
    QFETCH(bool, html);
    QFETCH(bool, refused);
    runRewrittenResponse(operation,
                         [contentType, html](const QByteArray &access, const QByteArray &refresh,
                                             QByteArray *hostileAccess) {
                             if (html)
                                 return rawResponse(
                                         200, contentType,
                                         "<!DOCTYPE html><html><head><title>Sign in to the "
                                         "Wi-Fi</title></head><body><form></form></body></html>");
                             *hostileAccess = access;
                             return rawResponse(200, contentType, tokenBody(access, refresh));
                         },
                         {{Error::Code::ServerError}, 3000, refused});
}

void tst_SecurityResponses::algNoneToken_data()
{
    QTest::addColumn<QString>("operation");
    QTest::addColumn<QByteArray>("header"); // the access token's new header; empty: the control
    QTest::addColumn<QByteArray>("signature");
    const QByteArray typ = R"("typ":"at+jwt")";
    const QByteArray original = "original";
    QTest::newRow("refresh: alg none, empty signature")
            << Refresh << QByteArray(R"({"alg":"none",)" + typ + "}") << QByteArray();
    QTest::newRow("refresh: alg none, original signature kept")
            << Refresh << QByteArray(R"({"alg":"none",)" + typ + "}") << original;
    QTest::newRow("refresh: alg None")
            << Refresh << QByteArray(R"({"alg":"None",)" + typ + "}") << original;
    QTest::newRow("refresh: alg NONE")
            << Refresh << QByteArray(R"({"alg":"NONE",)" + typ + "}") << original;
    QTest::newRow("refresh: no alg") << Refresh << QByteArray("{" + typ + "}") << original;
    QTest::newRow("refresh: alg empty")
            << Refresh << QByteArray(R"({"alg":"",)" + typ + "}") << original;
    QTest::newRow("refresh: alg null")
            << Refresh << QByteArray(R"({"alg":null,)" + typ + "}") << original;
    QTest::newRow("refresh: two segments only")
            << Refresh << QByteArray(R"({"alg":"none"})") << QByteArray("-");
    QTest::newRow("login: alg none, empty signature")
            << Login << QByteArray(R"({"alg":"none",)" + typ + "}") << QByteArray();
    QTest::newRow("login: alg none, original signature kept")
            << Login << QByteArray(R"({"alg":"none",)" + typ + "}") << original;
    QTest::newRow("control: refresh, genuine token") << Refresh << QByteArray() << QByteArray();
}

void tst_SecurityResponses::algNoneToken()
{
    QFETCH(QString, operation);
    QFETCH(QByteArray, header);
    QFETCH(QByteArray, signature);
    runRewrittenResponse(
            operation,
            [header, signature](const QByteArray &access, const QByteArray &refresh,
                                QByteArray *hostileAccess) {
                QByteArray forged = access;
                if (!header.isEmpty()) {
                    if (signature == "-")
                        forged = b64(header) + '.' + segmentsOf(access).value(1);
                    else
                        forged = withHeader(access, header,
                                            signature == "original" ? std::nullopt
                                                                    : std::optional(signature));
                }
                *hostileAccess = forged;
                return rawResponse(200, "application/json", tokenBody(forged, refresh));
            },
            {{Error::Code::ServerError}, 3000, !header.isEmpty()});
}

void tst_SecurityResponses::absurdExp_data()
{
    QTest::addColumn<QString>("operation");
    QTest::addColumn<QString>("claim");
    QTest::addColumn<QByteArray>("value"); // JSON text; empty: the claim removed
    QTest::addColumn<bool>("dropIat");     // also remove iat (no lifetime to go by)
    const QString exp = QStringLiteral("exp");
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    QTest::newRow("refresh: exp in 10 years")
            << Refresh << exp << QByteArray::number(now + 10LL * 365 * 24 * 3600) << false;
    QTest::newRow("refresh: exp in year 2^31 (2038)")
            << Refresh << exp << QByteArray("2147483648") << false;
    QTest::newRow("refresh: exp 2^63")
            << Refresh << exp << QByteArray("9223372036854775808") << false;
    QTest::newRow("refresh: exp 1e300") << Refresh << exp << QByteArray("1e300") << false;
    QTest::newRow("refresh: exp 1e400 (overflows a double)")
            << Refresh << exp << QByteArray("1e400") << false;
    QTest::newRow("refresh: exp -1") << Refresh << exp << QByteArray("-1") << false;
    QTest::newRow("refresh: exp -1e300") << Refresh << exp << QByteArray("-1e300") << false;
    QTest::newRow("refresh: exp as a string")
            << Refresh << exp << QByteArray("\"" + QByteArray::number(now + 300) + "\"") << false;
    QTest::newRow("refresh: exp null") << Refresh << exp << QByteArray("null") << false;
    QTest::newRow("refresh: exp true") << Refresh << exp << QByteArray("true") << false;
    QTest::newRow("refresh: exp an array")
            << Refresh << exp << QByteArray("[" + QByteArray::number(now + 300) + "]") << false;
    QTest::newRow("refresh: exp missing") << Refresh << exp << QByteArray() << false;
    QTest::newRow("refresh: exp 1 (1970)") << Refresh << exp << QByteArray("1") << false;
    QTest::newRow("refresh: exp an hour ago, iat as issued")
            << Refresh << exp << QByteArray::number(now - 3600) << false;
    QTest::newRow("refresh: iat 0 (1970), exp as issued")
            << Refresh << QStringLiteral("iat") << QByteArray("0") << false;
    QTest::newRow("refresh: iat after exp")
            << Refresh << QStringLiteral("iat") << QByteArray::number(now + 3600) << false;
    QTest::newRow("refresh: exp an hour ago, no iat")
            << Refresh << exp << QByteArray::number(now - 3600) << true;
    QTest::newRow("login: exp in 10 years")
            << Login << exp << QByteArray::number(now + 10LL * 365 * 24 * 3600) << false;
    QTest::newRow("login: exp -1") << Login << exp << QByteArray("-1") << false;
    QTest::newRow("login: exp as a string")
            << Login << exp << QByteArray("\"" + QByteArray::number(now + 300) + "\"") << false;
    QTest::newRow("login: exp an hour ago, iat as issued")
            << Login << exp << QByteArray::number(now - 3600) << false;
}

void tst_SecurityResponses::absurdExp()
{
    QFETCH(QString, operation);
    QFETCH(QString, claim);
    QFETCH(QByteArray, value);
    QFETCH(bool, dropIat);
    runRewrittenResponse(
            operation,
            [claim, value, dropIat](const QByteArray &access, const QByteArray &refresh,
                                    QByteArray *hostileAccess) {
                const QByteArray base =
                        dropIat ? withRawClaim(access, QStringLiteral("iat"), {}) : access;
                *hostileAccess = withRawClaim(base, claim, value);
                return rawResponse(200, "application/json", tokenBody(*hostileAccess, refresh));
            },
            {{Error::Code::ServerError}, 3000});
}

QTEST_GUILESS_MAIN(tst_SecurityResponses)
#include "tst_security_responses.moc"

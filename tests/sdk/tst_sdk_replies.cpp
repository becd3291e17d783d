// SPDX-License-Identifier: MIT
// The replies of AuthenticatedNetworkAccessManager against an in-process loopback server that
// misbehaves as no real server would (never answers, trickles) or is set up to tempt a cache:
// the transport policy holds on the request path itself (idle timeout, total deadline, no local
// cache either way, no-cache towards shared caches), and a reply's body is whole however it is
// read and however long the reply outlives its manager. No storage.
#include <tessera/authenticatednetworkaccessmanager.h>
#include <tessera/jose.h>
#include <tessera/session.h>
#include <tessera/sessionconfig.h>

#include <QtCore/QDateTime>
#include <QtCore/QElapsedTimer>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QLoggingCategory>
#include <QtCore/QPointer>
#include <QtCore/QRegularExpression>
#include <QtCore/QTemporaryDir>
#include <QtCore/QTimer>
#include <QtNetwork/QNetworkDiskCache>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QTest>

#include <functional>
#include <memory>

using namespace Tessera;

namespace {

QByteArray segment(const QJsonObject &object)
{
    return Jose::base64UrlEncode(QJsonDocument(object).toJson(QJsonDocument::Compact));
}

// An access-token-shaped string valid for an hour; the client never verifies the signature.
QByteArray accessToken()
{
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    return segment({{QStringLiteral("alg"), QStringLiteral("ES256")}}) + '.'
            + segment({{QStringLiteral("exp"), now + 3600}, {QStringLiteral("iat"), now}})
            + ".c2lnbmF0dXJl";
}

QByteArray response(const QByteArray &statusAndHeaders, const QByteArray &body)
{
    return "HTTP/1.1 " + statusAndHeaders + "\r\nContent-Length: " + QByteArray::number(body.size())
            + "\r\nConnection: close\r\n\r\n" + body;
}

// An HTTP server on 127.0.0.1, one request per connection: a login (POST /api/token/) gets
// tokens, any other request goes to `onRequest` with its head once the head has arrived.
class FakeServer : public QObject
{
public:
    using Handler = std::function<void(QTcpSocket *, const QByteArray &head)>;
    explicit FakeServer(Handler onRequest)
        : m_onRequest(std::move(onRequest))
    {
        m_server.listen(QHostAddress::LocalHost);
        connect(&m_server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *socket = m_server.nextPendingConnection()) {
                auto received = std::make_shared<QByteArray>();
                connect(socket, &QTcpSocket::readyRead, socket, [this, socket, received] {
                    const bool headSeen = received->contains("\r\n\r\n");
                    received->append(socket->readAll());
                    if (headSeen || !received->contains("\r\n\r\n"))
                        return;
                    const QByteArray head = received->left(received->indexOf("\r\n\r\n"));
                    if (head.startsWith("POST /api/token/ ")) {
                        const QJsonObject tokens{
                                {QStringLiteral("access"), QString::fromLatin1(accessToken())},
                                {QStringLiteral("refresh"), QStringLiteral("refresh-1")}};
                        socket->write(response("200 OK\r\nContent-Type: application/json",
                                               QJsonDocument(tokens).toJson()));
                        socket->disconnectFromHost();
                        return;
                    }
                    heads.append(head);
                    m_onRequest(socket, head);
                });
            }
        });
    }
    bool isListening() const { return m_server.isListening(); }
    QUrl url(const QString &path) const
    {
        return QUrl(QStringLiteral("http://127.0.0.1:%1%2").arg(m_server.serverPort()).arg(path));
    }
    QList<QByteArray> heads; // of the requests other than logins

private:
    QTcpServer m_server;
    Handler m_onRequest;
};

// A signed-in session against `server` and its authenticated manager.
struct Client
{
    Client(const FakeServer &server, std::chrono::milliseconds timeout)
    {
        SessionConfig config(server.url(QStringLiteral("/")),
                             QStringLiteral("org.tessera.tests.replies"));
        config.setStoragePolicy(SessionConfig::StoragePolicy::MemoryOnly);
        config.setRequestTimeout(timeout);
        session = std::make_unique<Session>(config);
        const QFuture<void> login =
                session->login(QStringLiteral("alice"), QStringLiteral("not-a-real-password"));
        signedIn =
                QTest::qWaitFor([&login] { return login.isFinished(); }, 10000) && !errorOf(login);
        manager = std::make_unique<AuthenticatedNetworkAccessManager>(session.get());
    }

    std::unique_ptr<Session> session;
    std::unique_ptr<AuthenticatedNetworkAccessManager> manager;
    bool signedIn = false;
};

// Waits for `reply` to finish; false when it does not within `ms`.
bool waitFinished(QNetworkReply *reply, int ms = 10000)
{
    return QTest::qWaitFor([reply] { return reply->isFinished(); }, ms);
}

QByteArray body(int size)
{
    QByteArray bytes(size, Qt::Uninitialized);
    for (int i = 0; i < size; ++i)
        bytes[i] = char('a' + i % 26);
    return bytes;
}

} // namespace

class tst_SdkReplies : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        // The timeouts say which limit passed in an info line.
        QLoggingCategory::setFilterRules(QStringLiteral("tessera.network.info=true"));
    }
    void idleTimeout();
    void deadlineOutlastsTrickle();
    void noCacheEitherWay();
    void bodyReadInPieces_data();
    void bodyReadInPieces();
    void bodyOutlivesManager();
    void deletedInItsFinished_data();
    void deletedInItsFinished();
};

// A server that reads the request and never answers: the request fails with TimeoutError
// once it has been idle for the configured timeout.
void tst_SdkReplies::idleTimeout()
{
    FakeServer silent([](QTcpSocket *, const QByteArray &) {});
    QVERIFY(silent.isListening());
    Client client(silent, std::chrono::milliseconds(400));
    QVERIFY(client.signedIn);
    QTest::ignoreMessage(QtInfoMsg, QRegularExpression(QStringLiteral("timed out \\(idle\\)")));
    QElapsedTimer clock;
    clock.start();
    std::unique_ptr<QNetworkReply> reply(
            client.manager->get(QNetworkRequest(silent.url(QStringLiteral("/api/me/")))));
    QVERIFY(waitFinished(reply.get()));
    QCOMPARE(reply->error(), QNetworkReply::TimeoutError);
    QVERIFY2(clock.elapsed() >= 350, qPrintable(QString::number(clock.elapsed())));
    QCOMPARE(silent.heads.size(), 1);
}

// Headers at once, then one body byte every 100 ms: never idle for 400 ms, so only the total
// deadline (800 ms) ends it.
void tst_SdkReplies::deadlineOutlastsTrickle()
{
    FakeServer trickle([](QTcpSocket *socket, const QByteArray &) {
        socket->write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      "Content-Length: 1000\r\n\r\n");
        auto *drip = new QTimer(socket);
        QObject::connect(drip, &QTimer::timeout, socket, [socket] { socket->write(" "); });
        drip->start(100);
    });
    QVERIFY(trickle.isListening());
    Client client(trickle, std::chrono::milliseconds(400));
    QVERIFY(client.signedIn);
    QTest::ignoreMessage(QtInfoMsg, QRegularExpression(QStringLiteral("timed out \\(deadline\\)")));
    QElapsedTimer clock;
    clock.start();
    std::unique_ptr<QNetworkReply> reply(
            client.manager->get(QNetworkRequest(trickle.url(QStringLiteral("/api/me/")))));
    QVERIFY(waitFinished(reply.get()));
    QCOMPARE(reply->error(), QNetworkReply::TimeoutError);
    QVERIFY2(clock.elapsed() >= 750, qPrintable(QString::number(clock.elapsed())));
}

// A cache an app sets on the manager is never used for the session's server: a fresh entry
// does not answer the request, and a response that allows caching is not stored. Shared caches
// on the way are told the same (Cache-Control and Pragma no-cache).
void tst_SdkReplies::noCacheEitherWay()
{
    const QByteArray fromServer = R"({"from":"server"})";
    FakeServer server([&fromServer](QTcpSocket *socket, const QByteArray &) {
        socket->write(response("200 OK\r\nContent-Type: application/json\r\n"
                               "Cache-Control: public, max-age=3600",
                               fromServer));
        socket->disconnectFromHost();
    });
    QVERIFY(server.isListening());
    Client client(server, std::chrono::milliseconds(5000));
    QVERIFY(client.signedIn);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    auto *cache = new QNetworkDiskCache(client.manager.get());
    cache->setCacheDirectory(dir.path());
    client.manager->setCache(cache);

    const QUrl cachedUrl = server.url(QStringLiteral("/api/me/"));
    QNetworkCacheMetaData entry;
    entry.setUrl(cachedUrl);
    entry.setRawHeaders(
            {{"Content-Type", "application/json"}, {"Cache-Control", "public, max-age=3600"}});
    entry.setLastModified(QDateTime::currentDateTimeUtc());
    entry.setExpirationDate(QDateTime::currentDateTimeUtc().addSecs(3600));
    entry.setSaveToDisk(true);
    QIODevice *device = cache->prepare(entry);
    QVERIFY(device);
    device->write(R"({"from":"cache"})");
    cache->insert(device);
    QVERIFY(cache->metaData(cachedUrl).isValid());

    std::unique_ptr<QNetworkReply> first(client.manager->get(QNetworkRequest(cachedUrl)));
    QVERIFY(waitFinished(first.get()));
    QCOMPARE(first->error(), QNetworkReply::NoError);
    QCOMPARE(first->readAll(), fromServer);
    QCOMPARE(server.heads.size(), 1);
    const QByteArray head = server.heads.first().toLower();
    QVERIFY2(head.contains("\r\ncache-control: no-cache"), head.constData());
    QVERIFY2(head.contains("\r\npragma: no-cache"), head.constData());

    const QUrl otherUrl = server.url(QStringLiteral("/api/other/"));
    std::unique_ptr<QNetworkReply> second(client.manager->get(QNetworkRequest(otherUrl)));
    QVERIFY(waitFinished(second.get()));
    QCOMPARE(second->readAll(), fromServer);
    QCOMPARE(server.heads.size(), 2);
    QVERIFY(!cache->metaData(otherUrl).isValid());
}

void tst_SdkReplies::bodyReadInPieces_data()
{
    QTest::addColumn<int>("size");
    QTest::addColumn<int>("piece"); // 0: readAll()
    QTest::addRow("small, readAll") << 57 << 0;
    QTest::addRow("small, 10 bytes at a time") << 57 << 10;
    QTest::addRow("100 KB, readAll") << 100 * 1024 << 0;
    QTest::addRow("100 KB, 1000 bytes at a time") << 100 * 1024 << 1000;
    QTest::addRow("100 KB, 20000 bytes at a time") << 100 * 1024 << 20000;
    QTest::addRow("empty") << 0 << 0;
}

// The body arrives whole, with the headers and status of the real reply, however the caller
// reads it; bytesAvailable() and downloadProgress announce all of it at once.
void tst_SdkReplies::bodyReadInPieces()
{
    QFETCH(int, size);
    QFETCH(int, piece);
    const QByteArray expected = body(size);
    FakeServer server([&expected](QTcpSocket *socket, const QByteArray &) {
        socket->write(response("200 OK\r\nContent-Type: text/plain\r\nX-Test: one", expected));
        socket->disconnectFromHost();
    });
    QVERIFY(server.isListening());
    Client client(server, std::chrono::milliseconds(5000));
    QVERIFY(client.signedIn);
    std::unique_ptr<QNetworkReply> reply(
            client.manager->get(QNetworkRequest(server.url(QStringLiteral("/api/me/")))));
    qint64 announced = -1;
    connect(reply.get(), &QNetworkReply::downloadProgress, this,
            [&announced](qint64 received, qint64) { announced = received; });
    QVERIFY(waitFinished(reply.get()));
    QCOMPARE(reply->error(), QNetworkReply::NoError);
    QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 200);
    QCOMPARE(reply->attribute(QNetworkRequest::HttpReasonPhraseAttribute).toString(),
             QStringLiteral("OK"));
    QCOMPARE(reply->rawHeader("X-Test"), QByteArray("one"));
    QCOMPARE(reply->header(QNetworkRequest::ContentLengthHeader).toLongLong(), qint64(size));
    QCOMPARE(reply->bytesAvailable(), qint64(size));
    QCOMPARE(announced, size ? qint64(size) : qint64(-1));
    QByteArray received;
    if (piece == 0) {
        received = reply->readAll();
    } else {
        while (reply->bytesAvailable() > 0) {
            const QByteArray chunk = reply->read(piece);
            QVERIFY(!chunk.isEmpty());
            QVERIFY(chunk.size() <= piece);
            received += chunk;
        }
    }
    QCOMPARE(received.size(), expected.size());
    QCOMPARE(received, expected);
    QCOMPARE(reply->bytesAvailable(), qint64(0));
    QVERIFY(reply->atEnd());
    QVERIFY(reply->readAll().isEmpty());
}

// A finished reply the app keeps (taken from the manager, as any QNetworkReply may be) keeps
// its body and headers after the manager and the session are gone.
void tst_SdkReplies::bodyOutlivesManager()
{
    const QByteArray expected = body(40 * 1024);
    FakeServer server([&expected](QTcpSocket *socket, const QByteArray &) {
        socket->write(response("200 OK\r\nContent-Type: text/plain", expected));
        socket->disconnectFromHost();
    });
    QVERIFY(server.isListening());
    auto client = std::make_unique<Client>(server, std::chrono::milliseconds(5000));
    QVERIFY(client->signedIn);
    std::unique_ptr<QNetworkReply> reply(
            client->manager->get(QNetworkRequest(server.url(QStringLiteral("/api/me/")))));
    QVERIFY(waitFinished(reply.get()));
    reply->setParent(nullptr);
    const QByteArray start = reply->read(100);
    client.reset();
    QTest::qWait(50); // deferred deletions run
    QCOMPARE(reply->rawHeader("Content-Type"), QByteArray("text/plain"));
    QCOMPARE(start + reply->readAll(), expected);
}

void tst_SdkReplies::deletedInItsFinished_data()
{
    QTest::addColumn<bool>("answered"); // false: the server stays silent, the request times out
    QTest::addRow("answered") << true;
    QTest::addRow("timed out") << false;
}

// Qt asks for deleteLater() in a slot of finished(), but a caller deleting the reply there at
// once must not pull the real reply from under its own finished() (or abort(), which goes on
// after finished() when the deadline aborts it).
void tst_SdkReplies::deletedInItsFinished()
{
    QFETCH(bool, answered);
    FakeServer server([answered](QTcpSocket *socket, const QByteArray &) {
        if (!answered)
            return;
        socket->write(response("200 OK\r\nContent-Type: text/plain", body(100)));
        socket->disconnectFromHost();
    });
    QVERIFY(server.isListening());
    Client client(server, std::chrono::milliseconds(answered ? 5000 : 300));
    QVERIFY(client.signedIn);
    if (!answered)
        QTest::ignoreMessage(QtInfoMsg, QRegularExpression(QStringLiteral("timed out")));
    QNetworkReply *reply =
            client.manager->get(QNetworkRequest(server.url(QStringLiteral("/api/me/"))));
    // The real reply, a child of the manager while it runs: it is still inside its finished()
    // (or abort()) when the caller deletes ours, so it must outlive that.
    QPointer<QNetworkReply> real;
    for (QNetworkReply *child :
         client.manager->findChildren<QNetworkReply *>(Qt::FindDirectChildrenOnly)) {
        if (child != reply)
            real = child;
    }
    QVERIFY(real);
    bool deleted = false;
    bool realGoneInSlot = false;
    QByteArray received;
    connect(reply, &QNetworkReply::finished, this,
            [reply, &real, &deleted, &realGoneInSlot, &received] {
                received = reply->readAll();
                delete reply;
                deleted = true;
                realGoneInSlot = real.isNull();
            });
    QVERIFY(QTest::qWaitFor([&deleted] { return deleted; }, 10000));
    QCOMPARE(received, answered ? body(100) : QByteArray());
    QVERIFY(!realGoneInSlot);
    QVERIFY(QTest::qWaitFor([&real] { return real.isNull(); }, 1000)); // deleted later
}

QTEST_GUILESS_MAIN(tst_SdkReplies)
#include "tst_sdk_replies.moc"

// SPDX-License-Identifier: MIT
// Threat-model scorecard, hostile clients of the login route (issue 15): the
// real tessera-server on loopback against lockout attempts, good logins from a
// shared address, distributed guessing, forged X-Forwarded-For, floods of
// abandoned or concurrent logins, and user enumeration when stored hashes and
// the server's Argon2 settings differ. Each function is one scorecard row;
// measured figures are logged as "scorecard:" lines (never asserted on time).
#include "testsupport.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QHash>
#include <QtCore/QRegularExpression>
#include <QtCore/QTimer>
#include <QtNetwork/QTcpSocket>
#include <QtSql/QSqlDatabase>
#include <QtSql/QSqlQuery>
#include <QtTest/QTest>

#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <vector>

using namespace Tessera::Test;

namespace {

const QString Wrong = QStringLiteral("wrong password 4f1b");

QByteArray loginBody(const QString &username, const QString &password)
{
    return QJsonDocument(QJsonObject{{QStringLiteral("username"), username},
                                     {QStringLiteral("password"), password}})
            .toJson(QJsonDocument::Compact);
}

// One login on its own connection from `source` (any 127.0.0.0/8 address).
HttpResponse loginFrom(const ServerProcess &server, const QString &source, const QString &username,
                       const QString &password, const QList<QByteArray> &extraHeaders = {})
{
    RawOptions options;
    options.sourceAddress = QHostAddress(source);
    options.timeoutMs = 30000;
    return rawRequest(server.baseUrl(),
                      buildRawRequest("POST", QStringLiteral("/api/token/"), server.baseUrl(),
                                      loginBody(username, password), "application/json",
                                      extraHeaders),
                      options);
}

// Sends a login and leaves the connection open (or nullptr).
std::unique_ptr<QTcpSocket> sendLogin(const ServerProcess &server, const QString &password,
                                      const QHostAddress &from = QHostAddress::LocalHost)
{
    auto socket = std::make_unique<QTcpSocket>();
    if (!socket->bind(from))
        return nullptr;
    socket->connectToHost(QHostAddress::LocalHost, server.port());
    if (!socket->waitForConnected(5000))
        return nullptr;
    socket->write(buildRawRequest("POST", QStringLiteral("/api/token/"), server.baseUrl(),
                                  loginBody(TestUser, password)));
    if (!socket->waitForBytesWritten(5000))
        return nullptr;
    return socket;
}

// The status line and headers of the answer on `socket`, read until it is complete.
QByteArray readAnswer(QTcpSocket &socket, int timeoutMs)
{
    QByteArray answer = socket.readAll();
    QDeadlineTimer deadline(timeoutMs);
    while (!(answer.contains("\r\n\r\n{") && answer.endsWith('}')) && !deadline.hasExpired()) {
        if (!socket.waitForReadyRead(int(qMax<qint64>(1, deadline.remainingTime()))))
            break;
        answer += socket.readAll();
    }
    return answer;
}

int retryAfter(const HttpResponse &response)
{
    bool ok = false;
    const int seconds = response.header("Retry-After").toInt(&ok);
    return ok ? seconds : -1;
}

// Makes every change of a stored password hash fail, as an I/O error would.
bool addRefusingTrigger(const QString &databasePath)
{
    const QString connection = QStringLiteral("refusing-trigger");
    const mode_t previous = ::umask(077); // a -wal or -shm SQLite creates stays 0600
    bool added = false;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), connection);
        db.setDatabaseName(databasePath);
        if (db.open()) {
            QSqlQuery query(db);
            added = query.exec(QStringLiteral(
                    "CREATE TRIGGER refuse_rehash BEFORE UPDATE OF password_hash ON users"
                    " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"));
        }
        db.close();
    }
    QSqlDatabase::removeDatabase(connection);
    ::umask(previous);
    return added;
}

qint64 median(QList<qint64> values)
{
    std::sort(values.begin(), values.end());
    return values.isEmpty() ? 0 : values.at(values.size() / 2);
}

// Keeps `connections` logins for unknown usernames outstanding from one
// source address (the review's loginq.py): each answer is followed by a new
// login on a new connection, until stop().
class LoginFlood : public QObject
{
public:
    LoginFlood(const ServerProcess &server, const QString &source, int connections)
        : m_server(server)
        , m_source(source)
    {
        for (int i = 0; i < connections; ++i)
            launch();
    }
    void stop()
    {
        m_stopped = true;
        for (QTcpSocket *socket : findChildren<QTcpSocket *>())
            socket->abort();
    }
    int count(int status) const { return m_statuses.value(status); }

private:
    void launch()
    {
        if (m_stopped)
            return;
        auto *socket = new QTcpSocket(this);
        socket->bind(QHostAddress(m_source), 0);
        auto *answer = new QByteArray;
        connect(socket, &QObject::destroyed, [answer] { delete answer; });
        connect(socket, &QTcpSocket::connected, socket, [this, socket] {
            socket->write(
                    buildRawRequest("POST", QStringLiteral("/api/token/"), m_server.baseUrl(),
                                    loginBody(QStringLiteral("nobody-%1").arg(++m_sent), Wrong)));
        });
        connect(socket, &QTcpSocket::readyRead, socket, [this, socket, answer] {
            *answer += socket->readAll();
            if (!(answer->contains("\r\n\r\n{") && answer->endsWith('}')))
                return;
            const int status = answer->mid(9, 3).toInt();
            ++m_statuses[status];
            done(socket, status == 503 ? 50 : 0);
        });
        connect(socket, &QTcpSocket::errorOccurred, socket, [this, socket] { done(socket); });
        socket->connectToHost(QHostAddress::LocalHost, m_server.port());
    }
    // A refused login is tried again 50 ms later (fast enough to take every
    // place that frees up, without spinning the machine's cores).
    void done(QTcpSocket *socket, int delayMs = 0)
    {
        if (socket->property("done").toBool())
            return;
        socket->setProperty("done", true);
        socket->abort();
        socket->deleteLater();
        QTimer::singleShot(delayMs, this, [this] { launch(); });
    }

    const ServerProcess &m_server;
    QString m_source;
    bool m_stopped = false;
    int m_sent = 0;
    QHash<int, int> m_statuses;
};

} // namespace

class tst_SecurityLogin : public QObject
{
    Q_OBJECT
private slots:
    void wrongGuessesDoNotLockOut();
    void goodLoginsAreNeverThrottled();
    void distributedGuessingSlowsDown();
    void forwardedForOnlyFromTrustedProxy();
    void abandonedLoginsAreNotHashed();
    void loginQueueIsBounded();
    void oneAddressCannotFillTheLoginQueue();
    void unknownUsersCostLikeStoredUsers();
    void loginRehashesToCurrentSettings();
};

// The reviewer's attack: wrong guesses for a user from one address must not
// keep the user, with the right password, out from another address.
void tst_SecurityLogin::wrongGuessesDoNotLockOut()
{
    ServerProcess server; // default limits: 10 failures per user and address per minute
    TESSERA_START_WITH_TEST_USER(server);
    const QString attacker = QStringLiteral("127.0.0.2");
    const QString victim = QStringLiteral("127.0.0.3");

    for (int i = 0; i < 10; ++i)
        TESSERA_EXPECT_ERROR(loginFrom(server, attacker, TestUser, Wrong), 401,
                             QStringLiteral("authentication_failed"));
    const HttpResponse throttled = loginFrom(server, attacker, TestUser, Wrong);
    TESSERA_EXPECT_ERROR(throttled, 429, QStringLiteral("throttled"));
    QVERIFY(retryAfter(throttled) > 0 && retryAfter(throttled) <= 60);
    // The attacker keeps going; the user is never locked out.
    for (int round = 0; round < 3; ++round) {
        TESSERA_EXPECT_STATUS(loginFrom(server, attacker, TestUser, Wrong), 429);
        TESSERA_EXPECT_STATUS(loginFrom(server, victim, TestUser, TestPassword), 200);
    }
    // The guessing address stays throttled for this user, even with the right
    // password: one address is one client here (docs/SERVER.md, "Login limits").
    TESSERA_EXPECT_STATUS(loginFrom(server, attacker, TestUser, TestPassword), 429);
    qInfo("scorecard: after 10 wrong passwords from %s, the right password from %s: 200 (3 of 3); "
          "the guessing address: 429, Retry-After %d s",
          qPrintable(attacker), qPrintable(victim), retryAfter(throttled));
}

// A NAT, or the CLI in memory-only mode (one login per command): good logins
// from one address never count against it.
void tst_SecurityLogin::goodLoginsAreNeverThrottled()
{
    ServerProcess server({QStringLiteral("--login-limit"), QStringLiteral("3"),
                          QStringLiteral("--login-address-limit"), QStringLiteral("3")});
    TESSERA_ADD_USER(server, TestUser, TestPassword.toUtf8());
    TESSERA_ADD_USER(server, QStringLiteral("bob"), TestPassword.toUtf8());
    TESSERA_START(server);
    const QString nat = QStringLiteral("127.0.0.4");
    int answered = 0;
    for (int i = 0; i < 12; ++i) {
        TESSERA_EXPECT_STATUS(
                loginFrom(server, nat, i % 2 ? QStringLiteral("bob") : TestUser, TestPassword),
                200);
        ++answered;
    }
    // Two typos in between do not change that either.
    TESSERA_EXPECT_STATUS(loginFrom(server, nat, TestUser, Wrong), 401);
    TESSERA_EXPECT_STATUS(loginFrom(server, nat, TestUser, Wrong), 401);
    TESSERA_EXPECT_STATUS(loginFrom(server, nat, TestUser, TestPassword), 200);
    TESSERA_EXPECT_STATUS(loginFrom(server, nat, QStringLiteral("bob"), TestPassword), 200);
    qInfo("scorecard: %d good logins from one address with --login-limit 3 and "
          "--login-address-limit 3: all 200",
          answered + 2);
}

// Many addresses guessing one user's password: past the username's ceiling,
// each address that failed waits longer and longer; an address that has not
// failed (the user) is never held back.
void tst_SecurityLogin::distributedGuessingSlowsDown()
{
    ServerProcess server({QStringLiteral("--login-limit"), QStringLiteral("10"),
                          QStringLiteral("--login-user-ceiling"), QStringLiteral("6")});
    TESSERA_START_WITH_TEST_USER(server);
    for (int i = 10; i < 16; ++i)
        TESSERA_EXPECT_STATUS(
                loginFrom(server, QStringLiteral("127.0.0.%1").arg(i), TestUser, Wrong), 401);
    // Over the ceiling: an address that failed backs off (60 s / 10 = 6 s first).
    const HttpResponse slowed = loginFrom(server, QStringLiteral("127.0.0.10"), TestUser, Wrong);
    TESSERA_EXPECT_ERROR(slowed, 429, QStringLiteral("throttled"));
    QVERIFY2(retryAfter(slowed) >= 1 && retryAfter(slowed) <= 6,
             qPrintable(QString::number(retryAfter(slowed))));
    // Without the ceiling it would have been a 401: the pair had 1 failure of 10.
    // The user from a new address, right password: in at once.
    TESSERA_EXPECT_STATUS(loginFrom(server, QStringLiteral("127.0.0.20"), TestUser, TestPassword),
                          200);
    // A new address with a wrong password is still answered (slowed, not blocked).
    TESSERA_EXPECT_STATUS(loginFrom(server, QStringLiteral("127.0.0.21"), TestUser, Wrong), 401);
    // And the slowed address gets its turn once its backoff is over.
    QTest::qWait(retryAfter(slowed) * 1000 + 100);
    TESSERA_EXPECT_STATUS(loginFrom(server, QStringLiteral("127.0.0.10"), TestUser, TestPassword),
                          200);
    QVERIFY(server.serverStderr().contains("username under attack: backoff"));
    qInfo("scorecard: 6 failures from 6 addresses (ceiling 6): a failing address waits %d s; a "
          "new address with the right password: 200",
          retryAfter(slowed));
}

// X-Forwarded-For names the client only when the peer is a --trusted-proxy,
// and then its right-most untrusted entry: a client can neither pick another
// address through an untrusted peer nor by prepending entries.
void tst_SecurityLogin::forwardedForOnlyFromTrustedProxy()
{
    ServerProcess server({QStringLiteral("--login-limit"), QStringLiteral("2"),
                          QStringLiteral("--trusted-proxy"), QStringLiteral("127.0.0.2")});
    TESSERA_START_WITH_TEST_USER(server);
    const QString proxy = QStringLiteral("127.0.0.2");
    const QString direct = QStringLiteral("127.0.0.3");
    auto forwarded = [](const char *value) {
        return QList<QByteArray>{QByteArray("X-Forwarded-For: ") + value};
    };

    // Through the proxy: counted under the forwarded client, 203.0.113.5.
    for (int i = 0; i < 2; ++i)
        TESSERA_EXPECT_STATUS(loginFrom(server, proxy, TestUser, Wrong, forwarded("203.0.113.5")),
                              401);
    TESSERA_EXPECT_STATUS(loginFrom(server, proxy, TestUser, Wrong, forwarded("203.0.113.5")), 429);
    // A forged entry on the left does not change who the client is.
    TESSERA_EXPECT_STATUS(
            loginFrom(server, proxy, TestUser, Wrong, forwarded("198.51.100.1, 203.0.113.5")), 429);
    // Another client behind the same proxy is not affected.
    TESSERA_EXPECT_STATUS(
            loginFrom(server, proxy, TestUser, TestPassword, forwarded("203.0.113.6")), 200);

    // From an untrusted peer the header is ignored: each new value does not
    // make a new client.
    TESSERA_EXPECT_STATUS(loginFrom(server, direct, TestUser, Wrong, forwarded("192.0.2.1")), 401);
    TESSERA_EXPECT_STATUS(loginFrom(server, direct, TestUser, Wrong, forwarded("192.0.2.2")), 401);
    TESSERA_EXPECT_STATUS(loginFrom(server, direct, TestUser, Wrong, forwarded("192.0.2.3")), 429);

    const QByteArray log = server.serverStderr();
    QVERIFY2(log.contains("login failed for user id 1 from 203.0.113.5"), log.constData());
    QVERIFY2(log.contains("login failed for user id 1 from 127.0.0.3"), log.constData());
    QVERIFY(!log.contains("192.0.2.1") && !log.contains("198.51.100.1"));
    qInfo("scorecard: via --trusted-proxy the right-most X-Forwarded-For address is the client; "
          "from another peer the header is ignored (3rd failure 429 either way)");
}

// 100 logins whose clients hang up right after sending: their passwords are not
// hashed, and a legitimate login is not stuck behind them.
void tst_SecurityLogin::abandonedLoginsAreNotHashed()
{
    ServerProcess server({QStringLiteral("--login-limit"), QStringLiteral("0"),
                          QStringLiteral("--login-queue"), QStringLiteral("200")});
    server.setFastArgon2(false); // the default cost: 64 MiB, 3 iterations
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);
    QList<qint64> idle;
    for (int i = 0; i < 3; ++i) {
        const HttpResponse response = http.login(TestUser, TestPassword);
        TESSERA_EXPECT_STATUS(response, 200);
        idle.append(response.elapsedMs);
    }

    constexpr int Abandoned = 100;
    // Sent while the server is stopped (SIGSTOP; the kernel queues the connections and their
    // bytes): none is hashed, let alone answered, before all of them are there, however slowly
    // a loaded machine runs this loop. From four addresses, so that all of them stay open at
    // once under the per-address connection cap.
    PausedProcess paused(server);
    std::vector<std::unique_ptr<QTcpSocket>> abandoned;
    for (int i = 0; i < Abandoned; ++i) {
        abandoned.push_back(sendLogin(server, TestPassword,
                                      QHostAddress(QStringLiteral("127.0.0.%1").arg(2 + i / 25))));
        QVERIFY2(abandoned.back(), "could not send a login request");
    }
    paused.resume();
    // A request on a connection opened after all of them: the server accepts connections in
    // the order they came, and by the event-loop round that reads this request every login
    // above was readable, so it is read in that round at the latest. Once this is answered,
    // every login is queued. Not on http's keep-alive connection, which was accepted before
    // them and can be answered in a round that has not read them all. (A client that resets
    // before the server read its request is no login at all, and a slow server, under ASan or
    // a loaded machine, reads late.)
    TESSERA_EXPECT_STATUS(
            rawRequest(server.baseUrl(),
                       buildRawRequest("GET", QStringLiteral("/healthz"), server.baseUrl(), {})),
            200);
    for (const auto &socket : abandoned)
        socket->abort(); // RST
    abandoned.clear();
    const HttpResponse legitimate = http.login(TestUser, TestPassword);
    TESSERA_EXPECT_STATUS(legitimate, 200);
    // At most one login per hashing thread was running (or even answered) before
    // the hang-ups; every other one is skipped.
    constexpr int RunningBound = 10;
    QTRY_VERIFY_WITH_TIMEOUT(server.serverStderr().count("password check skipped")
                                     >= Abandoned - RunningBound,
                             30000);
    const QByteArray log = server.serverStderr();
    const int skipped = int(log.count("password check skipped"));
    const int hashed = int(log.count("left during its password check"));
    QVERIFY2(skipped + hashed <= Abandoned, log.constData());
    // Only the checks already running when the clients left (one per thread,
    // and any started before their hang-up was seen) cost a hash.
    QVERIFY2(hashed <= RunningBound,
             qPrintable(QStringLiteral("%1 of %2 abandoned logins were hashed anyway")
                                .arg(hashed)
                                .arg(Abandoned)));
    qInfo("scorecard: %d abandoned logins: %d hashed, %d skipped; a legitimate login right after: "
          "%lld ms (idle: %lld ms)",
          Abandoned, hashed, skipped, legitimate.elapsedMs, median(idle));
}

// More logins at once than the hashing threads and the queue hold: the excess
// gets 503 + Retry-After at once instead of waiting without bound.
void tst_SecurityLogin::loginQueueIsBounded()
{
    ServerProcess server({QStringLiteral("--login-limit"), QStringLiteral("0"),
                          QStringLiteral("--login-queue"), QStringLiteral("4")});
    server.setFastArgon2(false);
    TESSERA_START_WITH_TEST_USER(server);

    constexpr int Burst = 30;
    std::vector<std::unique_ptr<QTcpSocket>> sockets;
    for (int i = 0; i < Burst; ++i) {
        auto socket = sendLogin(server, TestPassword);
        QVERIFY2(socket, "could not send a login request");
        sockets.push_back(std::move(socket));
    }
    int ok = 0;
    int busy = 0;
    QList<int> retryAfters;
    static const QRegularExpression retryAfterHeader(QStringLiteral("\r\nRetry-After: (\\d+)\r\n"),
                                                     QRegularExpression::CaseInsensitiveOption);
    for (auto &socket : sockets) {
        const QByteArray answer = readAnswer(*socket, 60000);
        if (answer.startsWith("HTTP/1.1 200")) {
            ++ok;
        } else if (answer.startsWith("HTTP/1.1 503")) {
            ++busy;
            QVERIFY2(answer.contains("\"server_busy\""), answer.constData());
            const auto match = retryAfterHeader.match(QString::fromLatin1(answer));
            QVERIFY2(match.hasMatch(), answer.constData());
            retryAfters.append(match.captured(1).toInt());
            QVERIFY(retryAfters.last() >= 1);
        } else {
            QFAIL(qPrintable(QStringLiteral("unexpected answer: ")
                             + QString::fromLatin1(answer.left(200))));
        }
    }
    QCOMPARE(ok + busy, Burst);
    // Hashing threads (2 on the CI machine, more elsewhere) + 4 waiting, and a
    // few that started while the burst was still being sent.
    QVERIFY2(busy >= Burst / 2,
             qPrintable(QStringLiteral("only %1 of %2 refused").arg(busy).arg(Burst)));
    HttpClient http(server);
    TESSERA_EXPECT_STATUS(http.login(TestUser, TestPassword), 200);
    qInfo("scorecard: %d concurrent logins with --login-queue 4: %d answered 200, %d got 503 with "
          "Retry-After %d..%d s",
          Burst, ok, busy, *std::min_element(retryAfters.begin(), retryAfters.end()),
          *std::max_element(retryAfters.begin(), retryAfters.end()));
}

// One address keeps 30 logins outstanding, more than the hashing threads and
// --login-queue 8 hold: a login from another address takes the place of one
// of its waiting logins (it holds more than a quarter of the queue), so logins
// from other addresses are still served; the 503s are logged as one summary
// line per 10 s, not one line each.
void tst_SecurityLogin::oneAddressCannotFillTheLoginQueue()
{
    ServerProcess server({QStringLiteral("--login-limit"), QStringLiteral("0"),
                          QStringLiteral("--login-queue"), QStringLiteral("8")});
    server.setFastArgon2(false); // the default cost: hashes take a while
    TESSERA_ADD_USER(server, TestUser, TestPassword.toUtf8());
    TESSERA_START(server);

    LoginFlood flood(server, QStringLiteral("127.0.0.2"), 30);
    QTest::qWait(1500); // the queue is as full as this address may make it
    constexpr int Legitimate = 6;
    QList<int> statuses;
    QList<qint64> elapsed;
    for (int i = 0; i < Legitimate; ++i) {
        const HttpResponse response =
                loginFrom(server, QStringLiteral("127.0.0.%1").arg(10 + i), TestUser, TestPassword);
        statuses.append(response.status);
        elapsed.append(response.elapsedMs);
        QTest::qWait(300); // the flood refills what it can meanwhile
    }
    flood.stop();
    const int busy = flood.count(503);
    const QByteArray log = server.serverStderr();
    const int busyLines = int(log.count("login queue"));
    qInfo("scorecard: one address keeping 30 logins outstanding (--login-queue 8): it got %d x "
          "503, %d x 401; %d logins from other addresses: %d answered 200 (median %lld ms); "
          "%d log lines about the 503s",
          busy, flood.count(401), Legitimate, int(statuses.count(200)), median(elapsed), busyLines);
    QCOMPARE(statuses, QList<int>(Legitimate, 200));
    QVERIFY2(busy > 0, "the flood was never refused");
    QVERIFY2(log.contains("login queue full"), log.right(2000).constData());
    // The first 503 of a quiet period, then one summary per 10 s.
    QVERIFY2(busyLines <= 3 && busyLines < busy,
             qPrintable(QStringLiteral("%1 log lines for %2 refusals").arg(busyLines).arg(busy)));
}

// Users stored with Argon2 parameters other than the server's current ones:
// unknown usernames must be checked against a decoy with the stored users'
// parameters (the timing itself is measured by bench/login_attacks.py).
void tst_SecurityLogin::unknownUsersCostLikeStoredUsers()
{
    ServerProcess server({QStringLiteral("--login-limit"), QStringLiteral("0")});
    server.setFastArgon2(false); // users: 64 MiB, 3 iterations
    for (const char *name : {"alice", "bob", "carol"})
        TESSERA_ADD_USER(server, QString::fromLatin1(name), TestPassword.toUtf8());
    server.setFastArgon2(true); // the server: 8 MiB, 1 iteration
    TESSERA_START(server);
    HttpClient http(server);
    QVERIFY2(server.serverStderr().contains(
                     "checked against a decoy hash with "
                     "v=19,m=65536,t=3,p=1,salt=16,hash=32; stored users with these parameters: 3"),
             server.serverStderr().constData());

    QList<qint64> known;
    QList<qint64> unknown;
    for (int i = 0; i < 5; ++i) {
        const HttpResponse wrong = http.login(TestUser, Wrong);
        TESSERA_EXPECT_ERROR(wrong, 401, QStringLiteral("authentication_failed"));
        known.append(wrong.elapsedMs);
        const HttpResponse nobody = http.login(QStringLiteral("nobody-%1").arg(i), Wrong);
        TESSERA_EXPECT_ERROR(nobody, 401, QStringLiteral("authentication_failed"));
        unknown.append(nobody.elapsedMs);
        QCOMPARE(nobody.body, wrong.body);
    }
    // Two of three log in and are rehashed to the server's settings: the decoy follows.
    TESSERA_EXPECT_STATUS(http.login(TestUser, TestPassword), 200);
    TESSERA_EXPECT_STATUS(http.login(QStringLiteral("bob"), TestPassword), 200);
    QTRY_VERIFY2(
            server.serverStderr().contains(
                    "checked against a decoy hash with "
                    "v=19,m=8192,t=1,p=1,salt=16,hash=32; stored users with these parameters: 2"),
            server.serverStderr().constData());
    qInfo("scorecard: users at 64 MiB/3, server at 8 MiB/1: decoy m=65536,t=3; login median "
          "wrong password %lld ms, unknown user %lld ms (5 each); after 2 of 3 users were "
          "rehashed the decoy is m=8192,t=1",
          median(known), median(unknown));
}

// A successful login rehashes a password stored with other Argon2 parameters;
// a failed write keeps the old hash (the user can still log in).
void tst_SecurityLogin::loginRehashesToCurrentSettings()
{
    ServerProcess server;
    server.setFastArgon2(false);
    TESSERA_ADD_USER(server, TestUser, TestPassword.toUtf8());
    TESSERA_ADD_USER(server, QStringLiteral("bob"), TestPassword.toUtf8());
    server.setFastArgon2(true);
    const QString hashOf = QStringLiteral("SELECT password_hash FROM users WHERE username = '%1'");
    auto storedHash = [&server, &hashOf](const QString &user) {
        const auto rows = sqliteSelect(server.databasePath(), hashOf.arg(user));
        return rows && !rows->isEmpty() ? rows->first().first().toString() : QString();
    };
    const QString before = storedHash(TestUser);
    QVERIFY2(before.startsWith(QStringLiteral("$argon2id$v=19$m=65536,t=3,p=1$")),
             qPrintable(before));
    TESSERA_START(server);
    HttpClient http(server);

    // A wrong password changes nothing.
    TESSERA_EXPECT_STATUS(http.login(TestUser, Wrong), 401);
    QCOMPARE(storedHash(TestUser), before);
    TESSERA_EXPECT_STATUS(http.login(TestUser, TestPassword), 200);
    const QString after = storedHash(TestUser);
    QVERIFY2(after.startsWith(QStringLiteral("$argon2id$v=19$m=8192,t=1,p=1$")), qPrintable(after));
    TESSERA_EXPECT_STATUS(http.login(TestUser, TestPassword), 200);
    TESSERA_EXPECT_STATUS(http.login(TestUser, Wrong), 401);
    QCOMPARE(storedHash(TestUser), after);
    QVERIFY(server.serverStderr().contains("password of user id 1 rehashed from v=19,m=65536,t=3"));
    QVERIFY2(server.stop(), qPrintable(server.errorString()));

    // The write fails (a trigger refuses it): the login still succeeds and the
    // old hash stays whole.
    QVERIFY2(addRefusingTrigger(server.databasePath()), "cannot add the trigger");
    TESSERA_START(server);
    const QString bobBefore = storedHash(QStringLiteral("bob"));
    TESSERA_EXPECT_STATUS(http.login(QStringLiteral("bob"), TestPassword), 200);
    QTRY_VERIFY(
            server.serverStderr().contains("could not store the rehashed password of user id 2"));
    QCOMPARE(storedHash(QStringLiteral("bob")), bobBefore);
    TESSERA_EXPECT_STATUS(http.login(QStringLiteral("bob"), TestPassword), 200);
    qInfo("scorecard: a login rehashed m=65536,t=3 to m=8192,t=1; with the write refused the "
          "user kept the old hash and logged in again");
}

QTEST_GUILESS_MAIN(tst_SecurityLogin)
#include "tst_security_login.moc"

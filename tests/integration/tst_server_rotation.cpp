// SPDX-License-Identifier: MIT
// tessera-server refresh rotation, reuse detection (family revocation), the
// grace window, logout (docs/SERVER.md "Token semantics"), and the same token at two
// servers on one database.
#include "testdatabase.h"
#include "testsupport.h"

#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QSet>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>
#include <QtSql/QSqlDatabase>
#include <QtSql/QSqlQuery>
#include <QtTest/QTest>

#include <QtCore/QFileInfo>
#include <QtCore/QRegularExpression>

#include <csignal>
#include <memory>
#include <sys/resource.h>

using namespace Tessera::Test;

class tst_ServerRotation : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void rotation();
    void reuseRevokesFamily();
    void reusedToken_data();
    void reusedToken();
    void logout_data();
    void logout();
    void blacklistRejects_data();
    void blacklistRejects();
    void graceAnswersAreBounded_data();
    void graceAnswersAreBounded();
    void syncedThiefIsDetected();
    void sameTokenAtTwoInstances();
    void pipelinedRefreshesInOrder();
    void clientLeavesDuringRefresh();
    void concurrentRefreshesShareOneCommit();
    void failedGroupCommitLosesNothing();
    void lockedDatabaseRefreshIsRetryLater();
};

namespace {

QString sid(const QString &access)
{
    return jwtClaims(access).value(QStringLiteral("sid")).toString();
}

// A login of the test user and `rotations` refreshes after it, each spending the refresh
// token before it: every pair of the chain, the login first. Shorter when a step was not
// answered with a token pair.
QList<TokenPair> rotationChain(HttpClient &http, int rotations)
{
    QList<TokenPair> chain;
    for (auto next = tokenPair(http.login(TestUser, TestPassword)); next;
         next = tokenPair(http.refresh(next->refresh))) {
        chain.append(*next);
        if (chain.size() > rotations)
            break;
    }
    return chain;
}

// A refresh from a chosen loopback source address (the log names it).
HttpResponse refreshFrom(const ServerProcess &server, const QString &source, const QString &token)
{
    RawOptions options;
    options.sourceAddress = QHostAddress(source);
    const QByteArray body = QJsonDocument(QJsonObject{{QStringLiteral("refresh"), token}})
                                    .toJson(QJsonDocument::Compact);
    return rawRequest(
            server.baseUrl(),
            buildRawRequest("POST", QStringLiteral("/api/token/refresh/"), server.baseUrl(), body),
            options);
}

// A keep-alive POST /api/token/refresh/ of `refreshToken`.
QByteArray rawRefresh(const QUrl &base, const QString &refreshToken)
{
    const QByteArray body = QJsonDocument(QJsonObject{{QStringLiteral("refresh"), refreshToken}})
                                    .toJson(QJsonDocument::Compact);
    return "POST /api/token/refresh/ HTTP/1.1\r\nHost: " + base.host().toLatin1() + ':'
            + QByteArray::number(base.port())
            + "\r\nContent-Type: application/json\r\nContent-Length: "
            + QByteArray::number(body.size()) + "\r\n\r\n" + body;
}

QString refreshOf(const RawAnswer &answer)
{
    return QJsonDocument::fromJson(answer.body)
            .object()
            .value(QStringLiteral("refresh"))
            .toString();
}

// Keep-alive connections to `server`, each answered once already: the server has accepted
// them all, so requests written on them later are read in the same event-loop round.
std::vector<std::unique_ptr<QTcpSocket>> acceptedConnections(const ServerProcess &server, int count)
{
    const QUrl base = server.baseUrl();
    const QByteArray health = "GET /healthz HTTP/1.1\r\nHost: " + base.host().toLatin1() + ':'
            + QByteArray::number(base.port()) + "\r\n\r\n";
    std::vector<std::unique_ptr<QTcpSocket>> sockets;
    for (int i = 0; i < count; ++i) {
        auto socket = connectTo(base);
        if (!socket)
            return {};
        socket->write(health);
        QByteArray buffer;
        if (readAnswers(*socket, 1, buffer).size() != 1)
            return {};
        sockets.push_back(std::move(socket));
    }
    return sockets;
}

// One refresh per connection, all written while the server is stopped (SIGSTOP), so it
// reads them in one round; their answers in connection order (status 0: none came).
QList<RawAnswer> refreshInOneRound(const ServerProcess &server,
                                   std::vector<std::unique_ptr<QTcpSocket>> &sockets,
                                   const QStringList &tokens)
{
    PausedProcess paused(server);
    for (size_t i = 0; i < sockets.size(); ++i) {
        sockets[i]->write(rawRefresh(server.baseUrl(), tokens.at(int(i))));
        sockets[i]->flush();
    }
    paused.resume();
    QList<RawAnswer> answers;
    for (auto &socket : sockets) {
        QByteArray buffer;
        const QList<RawAnswer> one = readAnswers(*socket, 1, buffer);
        answers.append(one.isEmpty() ? RawAnswer{} : one.first());
    }
    return answers;
}

// The largest group of rotations the server logged as committed in one transaction.
int largestCommittedGroup(ServerProcess &server)
{
    static const QRegularExpression line(QStringLiteral("committed a group of (\\d+) rotations"));
    int largest = 0;
    auto it = line.globalMatch(QString::fromUtf8(server.serverStderr()));
    while (it.hasNext())
        largest = qMax(largest, it.next().captured(1).toInt());
    return largest;
}

// Group commit is SQLite's: PostgreSQL rotates in one statement per request.
#define TESSERA_GROUP_COMMIT_ONLY() \
    do { \
        if (testsUsePostgreSQL()) \
            QSKIP("PostgreSQL rotates in one statement per request, on each serving thread"); \
    } while (false)

// Starts `server` with the test user and the store's debug log (its group commits).
#define TESSERA_START_WITH_STORE_LOG(server) \
    do { \
        (server).setEnvironment(withStoreDebugLog()); \
        TESSERA_START_WITH_TEST_USER(server); \
    } while (false)

QProcessEnvironment withStoreDebugLog()
{
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("QT_LOGGING_RULES"),
                       QStringLiteral("tessera.server.store.debug=true"));
    return environment;
}

} // namespace

// Runs on SQLite, and again on PostgreSQL (TESSERA_TEST_DATABASE, CMakeLists.txt).
void tst_ServerRotation::initTestCase()
{
    TESSERA_REQUIRE_TEST_DATABASE();
}

void tst_ServerRotation::rotation()
{
    ServerProcess server({QStringLiteral("--reuse-grace"), QStringLiteral("0")});
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);

    TESSERA_TOKEN_PAIR(first, http.login(TestUser, TestPassword));
    TESSERA_TOKEN_PAIR(second, http.refresh(first.refresh));
    QVERIFY(second.refresh != first.refresh);
    QVERIFY(second.access != first.access);
    QCOMPARE(second.refresh.size(), 43);
    QVERIFY(second_response.header("Cache-Control").contains("no-store"));
    // Same login, same family.
    QCOMPARE(sid(second.access), sid(first.access));
    TESSERA_EXPECT_STATUS(http.me(second.access), 200);

    // Always rotates, also the second time.
    TESSERA_TOKEN_PAIR(third, http.refresh(second.refresh));
    QVERIFY(third.refresh != second.refresh);
    QVERIFY(third.refresh != first.refresh);

    // The rotated-away tokens are rejected (grace 0).
    TESSERA_EXPECT_ERROR(http.refresh(second.refresh), 401, "token_not_valid");
    TESSERA_EXPECT_ERROR(http.refresh(first.refresh), 401, "token_not_valid");
}

void tst_ServerRotation::reuseRevokesFamily()
{
    ServerProcess server({QStringLiteral("--reuse-grace"), QStringLiteral("0")});
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);

    TESSERA_TOKEN_PAIR(other, http.login(TestUser, TestPassword)); // another device
    TESSERA_TOKEN_PAIR(r0, http.login(TestUser, TestPassword));
    TESSERA_TOKEN_PAIR(r1, http.refresh(r0.refresh));
    TESSERA_EXPECT_STATUS(http.me(r1.access), 200);

    // The thief (or a buggy client) presents the rotated R0.
    TESSERA_EXPECT_ERROR(http.refresh(r0.refresh), 401, "token_not_valid");
    // The whole family is gone: the newest refresh token ...
    TESSERA_EXPECT_ERROR(http.refresh(r1.refresh), 401, "token_not_valid");
    // ... and its live access tokens, at once.
    const HttpResponse me = http.me(r1.access);
    TESSERA_EXPECT_ERROR(me, 401, "token_not_valid");
    QVERIFY(me.header("WWW-Authenticate").startsWith("Bearer"));
    TESSERA_EXPECT_ERROR(http.verify(r1.access), 401, "token_not_valid");
    TESSERA_EXPECT_ERROR(http.me(r0.access), 401, "token_not_valid");

    // Another login's family is unaffected.
    TESSERA_EXPECT_STATUS(http.me(other.access), 200);
    TESSERA_EXPECT_STATUS(http.verify(other.access), 200);
    TESSERA_TOKEN_PAIR(otherNext, http.refresh(other.refresh));
    TESSERA_EXPECT_STATUS(http.me(otherNext.access), 200);
}

// Presenting an already-rotated refresh token: within the grace window the
// immediate parent of the current token gets that current token again; any
// other case revokes the family.
void tst_ServerRotation::reusedToken_data()
{
    QTest::addColumn<QString>("grace");
    QTest::addColumn<int>("rotations"); // R0 -> ... -> R<rotations>
    QTest::addColumn<int>("present");   // index of the token presented again
    QTest::addColumn<int>("waitMs");    // before presenting it
    QTest::addColumn<bool>("expectCurrent");

    QTest::addRow("grace 0, parent") << QStringLiteral("0") << 1 << 0 << 0 << false;
    QTest::addRow("grace 5, parent within window") << QStringLiteral("5") << 1 << 0 << 0 << true;
    QTest::addRow("grace 5, parent of R2 within window")
            << QStringLiteral("5") << 2 << 1 << 0 << true;
    QTest::addRow("grace 1, parent after window") << QStringLiteral("1") << 1 << 0 << 1700 << false;
    QTest::addRow("grace 5, grandparent within window")
            << QStringLiteral("5") << 2 << 0 << 0 << false;
    QTest::addRow("grace 5, great-grandparent") << QStringLiteral("5") << 3 << 0 << 0 << false;
}

void tst_ServerRotation::reusedToken()
{
    QFETCH(QString, grace);
    QFETCH(int, rotations);
    QFETCH(int, present);
    QFETCH(int, waitMs);
    QFETCH(bool, expectCurrent);

    ServerProcess server({QStringLiteral("--reuse-grace"), grace});
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);

    TESSERA_TOKEN_PAIR(bystander, http.login(TestUser, TestPassword));
    const QList<TokenPair> chain = rotationChain(http, rotations);
    QCOMPARE(chain.size(), rotations + 1);
    const TokenPair current = chain.last();
    if (waitMs > 0)
        QTest::qWait(waitMs);

    const HttpResponse again = http.refresh(chain.at(present).refresh);
    if (expectCurrent) {
        TESSERA_EXPECT_STATUS(again, 200);
        // Exactly the current refresh token again, not a new one (no fork).
        QCOMPARE(again.str(QStringLiteral("refresh")), current.refresh);
        const QString access = again.str(QStringLiteral("access"));
        QVERIFY(!access.isEmpty());
        QCOMPARE(sid(access), sid(current.access));
        TESSERA_EXPECT_STATUS(http.me(access), 200);
        TESSERA_EXPECT_STATUS(http.me(current.access), 200);
        // The current token still works afterwards, and rotates.
        TESSERA_TOKEN_PAIR(after, http.refresh(current.refresh));
        QVERIFY(after.refresh != current.refresh);
        TESSERA_EXPECT_STATUS(http.me(after.access), 200);
    } else {
        TESSERA_EXPECT_ERROR(again, 401, "token_not_valid");
        QVERIFY(!again.json().contains(QStringLiteral("refresh")));
        // Reuse revoked the family: current refresh and access tokens are dead.
        TESSERA_EXPECT_ERROR(http.refresh(current.refresh), 401, "token_not_valid");
        TESSERA_EXPECT_ERROR(http.me(current.access), 401, "token_not_valid");
        TESSERA_EXPECT_ERROR(http.verify(current.access), 401, "token_not_valid");
    }
    // Never collateral damage to another login.
    TESSERA_EXPECT_STATUS(http.me(bystander.access), 200);
    TESSERA_EXPECT_STATUS(http.refresh(bystander.refresh), 200);
}

void tst_ServerRotation::logout_data()
{
    QTest::addColumn<int>("rotations"); // before logging out with the current token

    QTest::addRow("fresh login") << 0;
    QTest::addRow("after two rotations") << 2;
}

void tst_ServerRotation::logout()
{
    QFETCH(int, rotations);

    ServerProcess server; // default grace window (10 s): logout must still win over it
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);

    TESSERA_TOKEN_PAIR(other, http.login(TestUser, TestPassword));
    const QList<TokenPair> chain = rotationChain(http, rotations);
    QCOMPARE(chain.size(), rotations + 1);
    const TokenPair current = chain.last();
    TESSERA_EXPECT_STATUS(http.me(current.access), 200);

    const HttpResponse out = http.blacklist(current.refresh);
    TESSERA_EXPECT_STATUS(out, 200);
    QVERIFY2(out.isJsonObject() && out.json().isEmpty(), qPrintable(out.describe()));

    TESSERA_EXPECT_ERROR(http.refresh(current.refresh), 401, "token_not_valid");
    // Every access token of the family dies at once, not at its expiry.
    for (const TokenPair &pair : chain) {
        const HttpResponse me = http.me(pair.access);
        TESSERA_EXPECT_ERROR(me, 401, "token_not_valid");
        QVERIFY(me.header("WWW-Authenticate").startsWith("Bearer"));
        TESSERA_EXPECT_ERROR(http.verify(pair.access), 401, "token_not_valid");
    }
    // The parent within the grace window does not resurrect a logged-out family.
    if (rotations > 0)
        TESSERA_EXPECT_ERROR(http.refresh(chain.at(chain.size() - 2).refresh), 401,
                             "token_not_valid");
    // A second logout with the same token is refused.
    TESSERA_EXPECT_ERROR(http.blacklist(current.refresh), 401, "token_not_valid");

    // Other sessions of the same user live on.
    TESSERA_EXPECT_STATUS(http.me(other.access), 200);
    TESSERA_EXPECT_STATUS(http.refresh(other.refresh), 200);
}

void tst_ServerRotation::blacklistRejects_data()
{
    QTest::addColumn<QString>("token");
    QTest::addRow("garbage") << QStringLiteral("not-a-token");
    QTest::addRow("unknown, well-formed")
            << QString::fromLatin1(base64UrlEncodeNoPad(QByteArray(32, '\x42')));
    QTest::addRow("44 characters") << QStringLiteral("A").repeated(44);
}

void tst_ServerRotation::blacklistRejects()
{
    QFETCH(QString, token);
    ServerProcess server;
    TESSERA_START(server);
    HttpClient http(server);
    TESSERA_EXPECT_ERROR(http.blacklist(token), 401, "token_not_valid");
    TESSERA_EXPECT_ERROR(http.refresh(token), 401, "token_not_valid");
}

void tst_ServerRotation::graceAnswersAreBounded_data()
{
    QTest::addColumn<QStringList>("flags");
    QTest::addColumn<int>("answers"); // the bound in effect
    QTest::addRow("default bound (4)") << QStringList{} << 4;
    QTest::addRow("--reuse-grace-answers 1")
            << QStringList{QStringLiteral("--reuse-grace-answers"), QStringLiteral("1")} << 1;
}

// A thief replaying the parent of the current token inside the window gets the
// current token a bounded number of times (so a bounded number of access
// tokens), then the family is revoked: the window serves one client's retries,
// not a second client. Each answer is logged with the client's address.
void tst_ServerRotation::graceAnswersAreBounded()
{
    QFETCH(QStringList, flags);
    QFETCH(int, answers);
    ServerProcess server(QStringList{QStringLiteral("--reuse-grace"), QStringLiteral("30")}
                         + flags);
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);
    TESSERA_TOKEN_PAIR(bystander, http.login(TestUser, TestPassword));
    TESSERA_TOKEN_PAIR(login, http.login(TestUser, TestPassword));
    TESSERA_TOKEN_PAIR(current, http.refresh(login.refresh));

    const QString thief = QStringLiteral("127.0.0.66");
    QSet<QString> minted;
    for (int i = 0; i < answers; ++i) {
        const HttpResponse again = refreshFrom(server, thief, login.refresh);
        TESSERA_EXPECT_STATUS(again, 200);
        QCOMPARE(again.str(QStringLiteral("refresh")), current.refresh);
        minted.insert(again.str(QStringLiteral("access")));
    }
    QCOMPARE(minted.size(), answers);
    // One more: reuse. The family is revoked, the current tokens with it.
    TESSERA_EXPECT_ERROR(refreshFrom(server, thief, login.refresh), 401, "token_not_valid");
    TESSERA_EXPECT_ERROR(http.refresh(current.refresh), 401, "token_not_valid");
    TESSERA_EXPECT_ERROR(http.me(current.access), 401, "token_not_valid");
    for (const QString &access : std::as_const(minted))
        TESSERA_EXPECT_ERROR(http.me(access), 401, "token_not_valid");
    TESSERA_EXPECT_ERROR(refreshFrom(server, thief, login.refresh), 401, "token_not_valid");
    TESSERA_EXPECT_STATUS(http.me(bystander.access), 200);

    const QByteArray log = server.serverStderr();
    QCOMPARE(int(log.count("current token returned again")), answers);
    QVERIFY2(log.contains(QStringLiteral("(answer %1 of %1) to 127.0.0.66").arg(answers).toUtf8()),
             log.constData());
    QVERIFY2(log.contains(QStringLiteral("already answered it %1 times) from 127.0.0.66")
                                  .arg(answers)
                                  .toUtf8()),
             log.constData());
    for (const QString &secret : {login.refresh, current.refresh, current.access})
        QVERIFY(!containsSecret(log, secret));
}

// A thief who keeps in step, replaying each parent once right after each of the
// victim's rotations, is caught at the second one: a token the window handed
// out twice may have two holders, and its own rotation is not repeated.
void tst_ServerRotation::syncedThiefIsDetected()
{
    ServerProcess server({QStringLiteral("--reuse-grace"), QStringLiteral("30")});
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);
    TESSERA_TOKEN_PAIR(login, http.login(TestUser, TestPassword));
    const QString thief = QStringLiteral("127.0.0.67");

    TESSERA_TOKEN_PAIR(first, http.refresh(login.refresh));                // the victim rotates
    const HttpResponse stolen = refreshFrom(server, thief, login.refresh); // the thief, in step
    TESSERA_EXPECT_STATUS(stolen, 200);
    QCOMPARE(stolen.str(QStringLiteral("refresh")), first.refresh);
    TESSERA_TOKEN_PAIR(second, http.refresh(first.refresh)); // the victim rotates again
    TESSERA_EXPECT_ERROR(refreshFrom(server, thief, first.refresh), 401, "token_not_valid");
    // Detected: both are signed out.
    TESSERA_EXPECT_ERROR(http.refresh(second.refresh), 401, "token_not_valid");
    TESSERA_EXPECT_ERROR(http.me(second.access), 401, "token_not_valid");
    QVERIFY(server.serverStderr().contains("handed out again, presented again after its rotation"));
}

// Two servers on one database, handed the same refresh token at the same moment, many
// times: the rotation is a compare-and-set, so one instance rotates and the other, finding
// the token rotated (before or after its own read), answers from the grace window with the
// same successor. Never two successors, never a 500, never a revoked family.
void tst_ServerRotation::sameTokenAtTwoInstances()
{
    ServerProcess first;
    TESSERA_START_WITH_TEST_USER(first);
    ServerProcess second;
    second.setDatabasePath(first.databasePath());
    TESSERA_START(second);
    HttpClient http(first);
    QNetworkAccessManager manager;
    constexpr int Rounds = 40;
    for (int round = 0; round < Rounds; ++round) {
        TESSERA_TOKEN_PAIR(pair, http.login(TestUser, TestPassword));
        std::unique_ptr<QNetworkReply> atFirst(postRefresh(manager, first, pair.refresh));
        std::unique_ptr<QNetworkReply> atSecond(postRefresh(manager, second, pair.refresh));
        QTRY_VERIFY_WITH_TIMEOUT(atFirst->isFinished() && atSecond->isFinished(), 15000);
        QStringList successors;
        for (QNetworkReply *reply : {atFirst.get(), atSecond.get()}) {
            const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
            const QByteArray body = reply->readAll();
            QVERIFY2(status == 200,
                     qPrintable(QStringLiteral("round %1: HTTP %2 %3")
                                        .arg(round)
                                        .arg(status)
                                        .arg(QString::fromUtf8(body))));
            successors << QJsonDocument::fromJson(body)
                                  .object()
                                  .value(QStringLiteral("refresh"))
                                  .toString();
        }
        QVERIFY(!successors.first().isEmpty());
        QCOMPARE(successors.last(), successors.first());
        // The family lives on: its one successor rotates at either instance.
        TESSERA_EXPECT_STATUS(HttpClient(second).refresh(successors.first()), 200);
    }
}

QTEST_GUILESS_MAIN(tst_ServerRotation)
// Refreshes pipelined on one connection, between answers of other kinds, come back in the
// order of the requests, each with its own pair; the grace window answers the second
// presentation of a token rotated earlier in the same pipeline.
void tst_ServerRotation::pipelinedRefreshesInOrder()
{
    ServerProcess server;
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);
    TESSERA_TOKEN_PAIR(a, http.login(TestUser, TestPassword));
    TESSERA_TOKEN_PAIR(b, http.login(TestUser, TestPassword));
    const QUrl base = server.baseUrl();
    const QByteArray health = "GET /healthz HTTP/1.1\r\nHost: " + base.host().toLatin1() + ':'
            + QByteArray::number(base.port()) + "\r\n\r\n";
    auto socket = connectTo(base);
    QVERIFY(socket);
    socket->write(rawRefresh(base, a.refresh) + health + rawRefresh(base, b.refresh)
                  + rawRefresh(base, a.refresh) // again: the grace window's answer
                  + rawRefresh(base, QStringLiteral("not-a-refresh-token")));
    QByteArray buffer;
    const QList<RawAnswer> answers = readAnswers(*socket, 5, buffer);
    QCOMPARE(answers.size(), 5);
    QCOMPARE(answers[0].status, 200);
    QCOMPARE(answers[1].status, 200);
    QVERIFY2(answers[1].body.contains("\"status\""), answers[1].body.constData());
    QCOMPARE(answers[2].status, 200);
    QCOMPARE(answers[3].status, 200);
    QCOMPARE(answers[4].status, 401);
    const QString successorOfA = refreshOf(answers[0]);
    QVERIFY(!successorOfA.isEmpty());
    QCOMPARE(refreshOf(answers[3]), successorOfA);
    QVERIFY(refreshOf(answers[2]) != successorOfA);
    for (const RawAnswer &answer : {answers[0], answers[2], answers[3]}) {
        const QString access = QJsonDocument::fromJson(answer.body)
                                       .object()
                                       .value(QStringLiteral("access"))
                                       .toString();
        TESSERA_EXPECT_STATUS(http.me(access), 200);
    }
    QCOMPARE(sid(QJsonDocument::fromJson(answers[2].body)
                         .object()
                         .value(QStringLiteral("access"))
                         .toString()),
             sid(b.access));
}

// Clients that reset their connection right after sending a refresh: the server stays up,
// answers the clients that stayed, and every abandoned token is either still current or
// rotated with its successor kept for the grace window (the answer lost with the
// connection), so presenting it again succeeds.
void tst_ServerRotation::clientLeavesDuringRefresh()
{
    ServerProcess server;
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);
    const QUrl base = server.baseUrl();
    QList<TokenPair> abandoned;
    std::vector<std::unique_ptr<QTcpSocket>> kept;
    for (int i = 0; i < 24; ++i) {
        TESSERA_TOKEN_PAIR(login, http.login(TestUser, TestPassword));
        auto socket = connectTo(base);
        QVERIFY(socket);
        socket->write(rawRefresh(base, login.refresh));
        socket->flush();
        if (i % 3 == 2) {
            kept.push_back(std::move(socket));
        } else {
            socket->abort(); // RST
            abandoned.append(login);
        }
    }
    for (auto &socket : kept) {
        QByteArray buffer;
        const QList<RawAnswer> answers = readAnswers(*socket, 1, buffer);
        QCOMPARE(answers.size(), 1);
        QCOMPARE(answers.first().status, 200);
    }
    for (const TokenPair &login : abandoned) {
        TESSERA_TOKEN_PAIR(again, http.refresh(login.refresh));
        TESSERA_EXPECT_STATUS(http.me(again.access), 200);
    }
    TESSERA_EXPECT_STATUS(http.health(), 200);
}

// SQLite: the refreshes of one event-loop round share one commit (group commit,
// docs/SERVER.md "Group commit"), and each is answered with a token pair that works.
void tst_ServerRotation::concurrentRefreshesShareOneCommit()
{
    TESSERA_GROUP_COMMIT_ONLY();
    ServerProcess server;
    TESSERA_START_WITH_STORE_LOG(server);
    HttpClient http(server);
    constexpr int Clients = 12;
    QStringList tokens;
    for (int i = 0; i < Clients; ++i) {
        TESSERA_TOKEN_PAIR(login, http.login(TestUser, TestPassword));
        tokens.append(login.refresh);
    }
    auto sockets = acceptedConnections(server, Clients);
    QCOMPARE(int(sockets.size()), Clients);
    const QList<RawAnswer> answers = refreshInOneRound(server, sockets, tokens);
    QSet<QString> successors;
    for (const RawAnswer &answer : answers) {
        QCOMPARE(answer.status, 200);
        successors.insert(refreshOf(answer));
    }
    QCOMPARE(int(successors.size()), Clients);
    // Requests read in one round: one transaction for all of them (the log line is the
    // store's, written once its COMMIT returned; read from the pipe as it comes).
    QTRY_COMPARE_WITH_TIMEOUT(largestCommittedGroup(server), Clients, 10000);
    for (const QString &successor : std::as_const(successors)) {
        TESSERA_TOKEN_PAIR(next, http.refresh(successor));
        TESSERA_EXPECT_STATUS(http.me(next.access), 200);
    }
}

// SQLite: a group whose commit fails (the file size limit reached: writing the log fails)
// answers all its requests 503 with Retry-After, and writes none of them: after a restart
// without the limit, every token answered 503 is still current and every successor handed
// out is valid.
void tst_ServerRotation::failedGroupCommitLosesNothing()
{
    TESSERA_GROUP_COMMIT_ONLY();
    ServerProcess server;
    TESSERA_START_WITH_STORE_LOG(server);
    HttpClient http(server);
    constexpr int Clients = 4;
    constexpr int Rounds = 40;
    QStringList tokens;
    for (int i = 0; i < Clients * Rounds; ++i) {
        TESSERA_TOKEN_PAIR(login, http.login(TestUser, TestPassword));
        tokens.append(login.refresh);
    }
    QVERIFY(server.stop());
    // Writes past the limit fail with EFBIG (SIGXFSZ ignored, as exec keeps it): the log can
    // take a few groups of rotations more than it holds now, then no commit succeeds.
    const QString wal = server.databasePath() + QStringLiteral("-wal");
    const rlim_t limit = rlim_t(qMax(QFileInfo(wal).size(), QFileInfo(server.databasePath()).size())
                                + 64 * 1024);
    server.setChildProcessModifier([limit] {
        ::signal(SIGXFSZ, SIG_IGN);
        const struct rlimit fileSize
        {
            limit, limit
        };
        ::setrlimit(RLIMIT_FSIZE, &fileSize);
    });
    QVERIFY2(server.start(), qPrintable(server.errorString()));
    auto sockets = acceptedConnections(server, Clients);
    QCOMPARE(int(sockets.size()), Clients);
    QStringList refused;
    QStringList successors;
    for (int round = 0; round < Rounds && refused.isEmpty(); ++round) {
        const QStringList roundTokens = tokens.mid(round * Clients, Clients);
        const QList<RawAnswer> answers = refreshInOneRound(server, sockets, roundTokens);
        for (int i = 0; i < Clients; ++i) {
            if (answers[i].status == 200) {
                successors.append(refreshOf(answers[i]));
                continue;
            }
            QCOMPARE(answers[i].status, 503);
            QVERIFY(answers[i].body.contains("database_unavailable"));
            refused.append(roundTokens.at(i));
        }
    }
    QVERIFY2(!refused.isEmpty(), "no commit failed under the file size limit");
    QVERIFY(!successors.isEmpty());
    // The statements went through; their COMMIT, which writes the log, did not.
    QTRY_VERIFY_WITH_TIMEOUT(
            server.serverStderr().contains("a group of rotations could not be committed"), 10000);
    sockets.clear();
    QVERIFY(server.stop());
    server.setChildProcessModifier({});
    QVERIFY2(server.start(), qPrintable(server.errorString()));
    HttpClient again(server);
    for (const QString &token : std::as_const(refused)) {
        TESSERA_TOKEN_PAIR(next, again.refresh(token));
        TESSERA_EXPECT_STATUS(again.me(next.access), 200);
    }
    for (const QString &successor : std::as_const(successors)) {
        TESSERA_TOKEN_PAIR(next, again.refresh(successor));
        TESSERA_EXPECT_STATUS(again.me(next.access), 200);
    }
}

// SQLite: another connection holds the write lock past the busy timeout. The rotation's
// statement (run through SQLite's C API) fails as busy: 503 with Retry-After, classed as the
// database unavailable, not a 500. Nothing was written: once the lock is gone the same token
// rotates.
void tst_ServerRotation::lockedDatabaseRefreshIsRetryLater()
{
    TESSERA_GROUP_COMMIT_ONLY();
    ServerProcess server;
    TESSERA_START_WITH_TEST_USER(server);
    HttpClient http(server);
    TESSERA_TOKEN_PAIR(login, http.login(TestUser, TestPassword));
    const QString lockConnection = QStringLiteral("rotation-test-lock");
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), lockConnection);
        db.setDatabaseName(server.databasePath());
        QVERIFY(db.open());
        // WAL: readers go on, a writer waits for the lock.
        QVERIFY(QSqlQuery(db).exec(QStringLiteral("BEGIN EXCLUSIVE")));
        const HttpResponse locked = http.refresh(login.refresh);
        QCOMPARE(locked.status, 503);
        QCOMPARE(locked.header("Retry-After"), QByteArray("1"));
        QVERIFY2(locked.body.contains("database_unavailable"), locked.body.constData());
        QVERIFY(QSqlQuery(db).exec(QStringLiteral("ROLLBACK")));
        db.close();
    }
    QSqlDatabase::removeDatabase(lockConnection);
    TESSERA_TOKEN_PAIR(next, http.refresh(login.refresh));
    TESSERA_EXPECT_STATUS(http.me(next.access), 200);
    QVERIFY(server.serverStderr().contains("statement failed"));
}

#include "tst_server_rotation.moc"

// SPDX-License-Identifier: MIT
// Several real tessera-server processes on one PostgreSQL database (docs/SERVER.md "Running
// several instances"): revocation seen at every instance, rotation races between instances,
// the shared login limit, the DPoP replay cache, the revocation listener's loss and recovery,
// an instance killed and PostgreSQL restarted under load. PostgreSQL only
// (tests/integration/CMakeLists.txt sets TESSERA_TEST_DATABASE=postgresql).
#include "httpclient.h"
#include "oauthflow.h"
#include "serverprocess.h"
#include "testdatabase.h"
#include "testsupport.h"

#include <tessera/dpop.h>
#include <tessera/jose.h>

#include <QtCore/QCryptographicHash>
#include <QtCore/QDateTime>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QTimer>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QTcpSocket>
#include <QtSql/QSqlDatabase>
#include <QtSql/QSqlError>
#include <QtSql/QSqlQuery>
#include <QtTest/QTest>

#include <algorithm>
#include <functional>
#include <memory>

using namespace Tessera::Test;

class tst_ServerInstances : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void logoutSeenAtEveryInstance();
    void logoutSeenAtEveryServingThread();
    void reuseSeenAtEveryInstance();
    void sameTokenAtTwoInstances100Times();
    void loginLimitShared();
    void dpopProofReplayedAtAnotherInstance();
    void dpopReplayCacheUnreachable();
    void userCodeLimitShared();
    void listenerKilledThenBack();
    void storeConnectionKilledThenBack();
    void statementTimeoutEndsABlockedStatement();
    void instanceKilledUnderLoad();
    void postgresRestartedUnderLoad();
};

namespace {

// The first instance with the test user, and `count - 1` more on its database, all with
// one issuer.
bool startInstances(std::vector<std::unique_ptr<ServerProcess>> *servers, int count,
                    const QStringList &args, QString *error)
{
    for (int i = 0; i < count; ++i) {
        // One issuer for all (by default each would name its own listen URL, and refuse
        // the others' access tokens).
        auto server = std::make_unique<ServerProcess>(
                args + QStringList{QStringLiteral("--issuer"), QStringLiteral("http://127.0.0.1")});
        if (i == 0) {
            if (!server->addUser(TestUser, TestPassword.toUtf8())) {
                *error = QString::fromUtf8(server->lastAddUserOutput());
                return false;
            }
        } else {
            server->setDatabasePath(servers->front()->databasePath());
        }
        if (!server->start()) {
            *error = server->errorString();
            return false;
        }
        servers->push_back(std::move(server));
    }
    return true;
}

const QStringList OneConnection{QStringLiteral("--db-pool"), QStringLiteral("1")};

#define TESSERA_START_INSTANCES(servers, count, args) \
    std::vector<std::unique_ptr<ServerProcess>> servers; \
    do { \
        QString tessera_error_; \
        QVERIFY2(startInstances(&servers, count, args, &tessera_error_), \
                 qPrintable(tessera_error_)); \
    } while (false)

// The pid of `server`'s revocation listener (application_name tessera-revocations-PID);
// 0 when it has none.
qint64 listenerPid(const ServerProcess &server)
{
    const auto rows = databaseSelect(
            server.databasePath(),
            QStringLiteral("SELECT pid FROM pg_stat_activity WHERE application_name = "
                           "'tessera-revocations-%1'")
                    .arg(server.pid()));
    return rows && rows->size() == 1 ? rows->first().value(0).toLongLong() : 0;
}

int revokedFamilies(const QString &database)
{
    const auto rows = databaseSelect(
            database, QStringLiteral("SELECT count(*) FROM families WHERE revoked_at IS NOT NULL"));
    return rows && !rows->isEmpty() ? rows->first().value(0).toInt() : -1;
}

// The stored form of a refresh token (SHA-256), as PostgreSQL's hex text.
QString tokenHashHex(const QString &token)
{
    return QString::fromLatin1(
            QCryptographicHash::hash(token.toUtf8(), QCryptographicHash::Sha256).toHex());
}

// A DPoP proof of `key` for `method` on `path` at the instances' issuer (http://127.0.0.1,
// the URL every instance checks proofs against).
QByteArray dpopProof(const Tessera::Jose::Key &key, const QByteArray &method, const QString &path,
                     const QByteArray &accessToken = {})
{
    Tessera::Jose::Dpop::ProofOptions options;
    if (!accessToken.isEmpty())
        options.accessToken = QByteArrayView(accessToken);
    QString problem;
    const QByteArray proof = Tessera::Jose::Dpop::createProof(
            key, method, QUrl(QStringLiteral("http://127.0.0.1") + path),
            QDateTime::currentSecsSinceEpoch(), options, &problem);
    if (proof.isEmpty())
        qWarning("createProof: %s", qPrintable(problem));
    return proof;
}

HttpResponse dpopLogin(HttpClient &http, const QByteArray &proof)
{
    const QByteArray body = QJsonDocument(QJsonObject{{QStringLiteral("username"), TestUser},
                                                      {QStringLiteral("password"), TestPassword}})
                                    .toJson(QJsonDocument::Compact);
    return http.post(QStringLiteral("/api/token/"), body, QByteArrayLiteral("application/json"),
                     {{QByteArrayLiteral("DPoP"), proof}});
}

HttpResponse dpopMe(HttpClient &http, const QString &access, const QByteArray &proof)
{
    return http.get(QStringLiteral("/api/me/"),
                    {{QByteArrayLiteral("Authorization"), "DPoP " + access.toLatin1()},
                     {QByteArrayLiteral("DPoP"), proof}});
}

int rowCount(const QString &database, const QString &table)
{
    const auto rows = databaseSelect(database, QStringLiteral("SELECT count(*) FROM ") + table);
    return rows && !rows->isEmpty() ? rows->first().value(0).toInt() : -1;
}

// Ends `server`'s store connection (its backend gone when this returns).
bool killStoreConnection(const ServerProcess &server)
{
    const auto killed = databaseSelect(
            server.databasePath(),
            QStringLiteral("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                           " WHERE application_name = 'tessera-server-%1'")
                    .arg(server.pid()));
    return killed && killed->size() == 1 && killed->first().value(0).toBool();
}

// How many of `server`'s connections named `role`-PID (tessera-server: the store's,
// tessera-revocations: the revocation listeners') the database has; -1 if unread.
int connectionsOf(const ServerProcess &server, const char *role)
{
    const auto rows = databaseSelect(
            server.databasePath(),
            QStringLiteral("SELECT count(*) FROM pg_stat_activity WHERE application_name = '%1-%2'")
                    .arg(QLatin1String(role))
                    .arg(server.pid()));
    return rows && !rows->isEmpty() ? rows->first().value(0).toInt() : -1;
}

// GET /api/me/ on a kept-alive connection; the answer's status, 0 if none came.
int meOn(QTcpSocket &socket, const ServerProcess &server, const QString &accessToken)
{
    socket.write("GET /api/me/ HTTP/1.1\r\nHost: 127.0.0.1:" + QByteArray::number(server.port())
                 + "\r\nAuthorization: Bearer " + accessToken.toLatin1() + "\r\n\r\n");
    QByteArray buffer;
    const QList<RawAnswer> answers = readAnswers(socket, 1, buffer);
    return answers.isEmpty() ? 0 : answers.first().status;
}

} // namespace

void tst_ServerInstances::initTestCase()
{
    if (!testsUsePostgreSQL())
        QSKIP("PostgreSQL run skipped: several instances need PostgreSQL "
              "(TESSERA_TEST_DATABASE=postgresql)");
    TESSERA_REQUIRE_TEST_DATABASE();
}

// Login at one, rotate at another, logout at a third: right after the logout's answer the
// access token is refused at every instance, each of which had it cached as active.
void tst_ServerInstances::logoutSeenAtEveryInstance()
{
    TESSERA_START_INSTANCES(servers, 3, QStringList());
    HttpClient a(*servers[0]), b(*servers[1]), c(*servers[2]);
    for (int round = 0; round < 10; ++round) {
        TESSERA_TOKEN_PAIR(login, a.login(TestUser, TestPassword));
        TESSERA_TOKEN_PAIR(rotated, b.refresh(login.refresh));
        for (HttpClient *http : {&a, &b, &c}) {
            TESSERA_EXPECT_STATUS(http->me(login.access), 200);
            TESSERA_EXPECT_STATUS(http->me(rotated.access), 200);
        }
        TESSERA_EXPECT_STATUS(c.blacklist(rotated.refresh), 200);
        for (HttpClient *http : {&a, &b, &c}) {
            TESSERA_EXPECT_ERROR(http->me(rotated.access), 401, "token_not_valid");
            TESSERA_EXPECT_ERROR(http->me(login.access), 401, "token_not_valid");
        }
        TESSERA_EXPECT_ERROR(a.refresh(rotated.refresh), 401, "token_not_valid");
        TESSERA_EXPECT_ERROR(b.refresh(rotated.refresh), 401, "token_not_valid");
    }
    // Every revocation was acknowledged by every instance in time.
    for (const auto &server : servers) {
        const QByteArray log = server->serverStderr();
        QVERIFY2(!log.contains("instances acknowledged") && !log.contains("listener lost"),
                 log.constData());
    }
}

// One instance serving with three threads (--db-pool 3): three store connections and three
// revocation listeners. Connections open at the same time are spread over the threads (the
// least busy takes the next), so six of them reach every thread; each thread's cache learns
// the session as active, and a logout answered by any of them is seen by all at once.
void tst_ServerInstances::logoutSeenAtEveryServingThread()
{
    TESSERA_START_INSTANCES(servers, 1,
                            (QStringList{QStringLiteral("--db-pool"), QStringLiteral("3")}));
    const ServerProcess &server = *servers[0];
    QCOMPARE(connectionsOf(server, "tessera-server"), 3);
    QTRY_COMPARE_WITH_TIMEOUT(connectionsOf(server, "tessera-revocations"), 3, 5000);
    HttpClient http(server);
    for (int round = 0; round < 3; ++round) {
        TESSERA_TOKEN_PAIR(login, http.login(TestUser, TestPassword));
        std::vector<std::unique_ptr<QTcpSocket>> sockets;
        for (int i = 0; i < 6; ++i) {
            sockets.push_back(connectTo(server.baseUrl()));
            QVERIFY(sockets.back());
        }
        for (const auto &socket : sockets)
            QCOMPARE(meOn(*socket, server, login.access), 200);
        TESSERA_EXPECT_STATUS(http.blacklist(login.refresh), 200);
        for (const auto &socket : sockets)
            QCOMPARE(meOn(*socket, server, login.access), 401);
    }
    const QByteArray log = servers[0]->serverStderr();
    QVERIFY2(!log.contains("instances acknowledged") && !log.contains("listener lost"),
             log.constData());
}

// Reuse detected at one instance revokes the family at all of them at once.
void tst_ServerInstances::reuseSeenAtEveryInstance()
{
    TESSERA_START_INSTANCES(servers, 3,
                            (QStringList{QStringLiteral("--reuse-grace"), QStringLiteral("0")}));
    HttpClient a(*servers[0]), b(*servers[1]), c(*servers[2]);
    for (int round = 0; round < 10; ++round) {
        TESSERA_TOKEN_PAIR(login, a.login(TestUser, TestPassword));
        TESSERA_TOKEN_PAIR(rotated, b.refresh(login.refresh));
        for (HttpClient *http : {&a, &b, &c})
            TESSERA_EXPECT_STATUS(http->me(rotated.access), 200);
        TESSERA_EXPECT_ERROR(c.refresh(login.refresh), 401, "token_not_valid"); // reuse
        for (HttpClient *http : {&a, &b, &c})
            TESSERA_EXPECT_ERROR(http->me(rotated.access), 401, "token_not_valid");
        TESSERA_EXPECT_ERROR(a.refresh(rotated.refresh), 401, "token_not_valid");
    }
}

// The same refresh token at two instances at once, 100 times: the same successor twice (the
// loser gets the grace answer) or one clean refusal; never two successors, never a revocation.
void tst_ServerInstances::sameTokenAtTwoInstances100Times()
{
    TESSERA_START_INSTANCES(servers, 2, QStringList());
    const ServerProcess &first = *servers[0];
    const ServerProcess &second = *servers[1];
    HttpClient http(first), other(second);
    QNetworkAccessManager manager;
    constexpr int Rounds = 100;
    int graceAnswers = 0;
    for (int round = 0; round < Rounds; ++round) {
        TESSERA_TOKEN_PAIR(pair, http.login(TestUser, TestPassword));
        std::unique_ptr<QNetworkReply> atFirst(postRefresh(manager, first, pair.refresh));
        std::unique_ptr<QNetworkReply> atSecond(postRefresh(manager, second, pair.refresh));
        QTRY_VERIFY_WITH_TIMEOUT(atFirst->isFinished() && atSecond->isFinished(), 15000);
        QStringList successors;
        QString access;
        for (QNetworkReply *reply : {atFirst.get(), atSecond.get()}) {
            const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
            const QJsonObject body = QJsonDocument::fromJson(reply->readAll()).object();
            QVERIFY2(status == 200 || status == 401,
                     qPrintable(QStringLiteral("round %1: HTTP %2").arg(round).arg(status)));
            if (status == 200) {
                successors << body.value(QStringLiteral("refresh")).toString();
                access = body.value(QStringLiteral("access")).toString();
            } else {
                QCOMPARE(body.value(QStringLiteral("code")).toString(),
                         QStringLiteral("token_not_valid"));
            }
        }
        QVERIFY2(!successors.isEmpty(), qPrintable(QStringLiteral("round %1").arg(round)));
        if (successors.size() == 2) {
            QCOMPARE(successors.at(0), successors.at(1));
            ++graceAnswers;
        }
        // The family lives on at both instances.
        TESSERA_EXPECT_STATUS(http.me(access), 200);
        TESSERA_EXPECT_STATUS(other.me(access), 200);
    }
    QCOMPARE(revokedFamilies(first.databasePath()), 0);
    qInfo("%d of %d races answered twice with one successor", graceAnswers, Rounds);
}

// Failures at one instance count at the others: the pair limit, then the address limit.
void tst_ServerInstances::loginLimitShared()
{
    TESSERA_START_INSTANCES(
            servers, 2,
            (QStringList{QStringLiteral("--login-limit"), QStringLiteral("4"),
                         QStringLiteral("--login-address-limit"), QStringLiteral("6")}));
    HttpClient a(*servers[0]), b(*servers[1]);
    for (int i = 0; i < 4; ++i)
        TESSERA_EXPECT_STATUS((i % 2 ? b : a).login(TestUser, QStringLiteral("wrong-%1").arg(i)),
                              401);
    // Two failures at each instance: four for the pair, its limit.
    const HttpResponse throttled = a.login(TestUser, TestPassword);
    TESSERA_EXPECT_STATUS(throttled, 429);
    QVERIFY(throttled.header("Retry-After").toInt() > 0);
    TESSERA_EXPECT_STATUS(b.login(TestUser, TestPassword), 429);
    // Other usernames from the same address: two more failures reach the address limit (6).
    TESSERA_EXPECT_STATUS(a.login(QStringLiteral("nobody-1"), QStringLiteral("x")), 401);
    TESSERA_EXPECT_STATUS(b.login(QStringLiteral("nobody-2"), QStringLiteral("x")), 401);
    TESSERA_EXPECT_STATUS(a.login(QStringLiteral("nobody-3"), QStringLiteral("x")), 429);
    TESSERA_EXPECT_STATUS(b.login(QStringLiteral("nobody-4"), QStringLiteral("x")), 429);
}

// Wrong user codes on the /device page at one instance count at the other: five at each
// reach the limit of ten per address, and both instances hold the address back.
void tst_ServerInstances::userCodeLimitShared()
{
    TESSERA_START_INSTANCES(servers, 2, QStringList());
    struct Entry
    {
        explicit Entry(const ServerProcess &server)
            : http(server)
        {
            // The test sends the page's cookie itself, once.
            http.manager().setCookieJar(new OAuth::NoCookies);
        }
        HttpClient http;
        QString csrf;
        QByteArray cookie;
    };
    std::vector<std::unique_ptr<Entry>> entries;
    for (const auto &server : servers) {
        auto entry = std::make_unique<Entry>(*server);
        const HttpResponse page = entry->http.get(QStringLiteral("/device"));
        TESSERA_EXPECT_STATUS(page, 200);
        for (const auto &[name, value] : OAuth::hiddenFields(page.body)) {
            if (name == u"csrf")
                entry->csrf = value;
        }
        entry->cookie = page.header("Set-Cookie").split(';').first();
        entries.push_back(std::move(entry));
    }
    auto enter = [](Entry &entry, const QString &code) {
        return entry.http.post(QStringLiteral("/device"),
                               OAuth::formBody({{QStringLiteral("csrf"), entry.csrf},
                                                {QStringLiteral("user_code"), code}}),
                               "application/x-www-form-urlencoded", {{"Cookie", entry.cookie}});
    };
    for (int i = 0; i < 10; ++i) {
        QString guess = QStringLiteral("BCDFGHJK");
        guess[7] = QChar(u"BCDFGHJKLM"[i]);
        TESSERA_EXPECT_STATUS(enter(*entries[i % 2], guess), 400);
    }
    for (const auto &entry : entries) {
        const HttpResponse limited = enter(*entry, QStringLiteral("ZZZZ-ZZZZ"));
        TESSERA_EXPECT_STATUS(limited, 429);
        QVERIFY(limited.header("Retry-After").toInt() > 0);
    }
}

// The listener of one instance killed: a revocation elsewhere is still seen there (its
// cache bypassed), and once it listens again its cache is used and kept exact again.
// A DPoP proof accepted at one instance is refused at another (and at the first): the replay
// cache is the database's, for token requests and resource requests alike.
void tst_ServerInstances::dpopProofReplayedAtAnotherInstance()
{
    TESSERA_START_INSTANCES(servers, 2, QStringList());
    HttpClient a(*servers[0]), b(*servers[1]);
    const auto key = Tessera::Jose::Key::generate(Tessera::Jose::Algorithm::ES256);
    const QByteArray loginProof = dpopProof(key, "POST", QStringLiteral("/api/token/"));
    QVERIFY(!loginProof.isEmpty());
    TESSERA_TOKEN_PAIR(login, dpopLogin(a, loginProof));
    QCOMPARE(login_response.str(QStringLiteral("token_type")), QStringLiteral("DPoP"));
    const HttpResponse replayedLogin = dpopLogin(b, loginProof);
    QCOMPARE(replayedLogin.status, 400);
    QCOMPARE(replayedLogin.str(QStringLiteral("error")), QStringLiteral("invalid_dpop_proof"));

    const QByteArray meProof =
            dpopProof(key, "GET", QStringLiteral("/api/me/"), login.access.toLatin1());
    TESSERA_EXPECT_STATUS(dpopMe(b, login.access, meProof), 200);
    for (HttpClient *http : {&a, &b}) {
        const HttpResponse replayed = dpopMe(*http, login.access, meProof);
        QCOMPARE(replayed.status, 401);
        QVERIFY(replayed.header("WWW-Authenticate").contains("error=\"invalid_dpop_proof\""));
    }
    // A fresh proof is accepted at either.
    TESSERA_EXPECT_STATUS(
            dpopMe(a, login.access,
                   dpopProof(key, "GET", QStringLiteral("/api/me/"), login.access.toLatin1())),
            200);
    QCOMPARE(rowCount(servers[0]->databasePath(), QStringLiteral("dpop_proofs")), 3);
}

// The database that holds the replay cache cannot be asked: the proof is answered 503 with
// Retry-After, never accepted (no family started, no resource served); once the connection is
// back, a new proof is.
void tst_ServerInstances::dpopReplayCacheUnreachable()
{
    // One serving thread: the test kills that thread's one connection.
    TESSERA_START_INSTANCES(servers, 1, OneConnection);
    ServerProcess &server = *servers[0];
    HttpClient http(server);
    const auto key = Tessera::Jose::Key::generate(Tessera::Jose::Algorithm::ES256);
    TESSERA_TOKEN_PAIR(login,
                       dpopLogin(http, dpopProof(key, "POST", QStringLiteral("/api/token/"))));
    const int families = rowCount(server.databasePath(), QStringLiteral("families"));
    const int proofs = rowCount(server.databasePath(), QStringLiteral("dpop_proofs"));

    QVERIFY(killStoreConnection(server));
    const HttpResponse refused =
            dpopLogin(http, dpopProof(key, "POST", QStringLiteral("/api/token/")));
    TESSERA_EXPECT_ERROR(refused, 503, "database_unavailable");
    QCOMPARE(refused.header("Retry-After"), QByteArray("1"));
    // The answer of every other database failure at this endpoint, field for field.
    const QJsonObject unavailableBody{
            {QStringLiteral("code"), QStringLiteral("database_unavailable")},
            {QStringLiteral("detail"), QStringLiteral("The database is unavailable; try again.")}};
    QCOMPARE(refused.json(), unavailableBody);
    QCOMPARE(refused.header("Cache-Control"), QByteArray("no-store"));
    QCOMPARE(rowCount(server.databasePath(), QStringLiteral("families")), families);
    QCOMPARE(rowCount(server.databasePath(), QStringLiteral("dpop_proofs")), proofs);

    // A resource request: its access token is known to this instance (no statement), its
    // proof is not. (A new connection is tried at most once a second.)
    TESSERA_EXPECT_STATUS(
            dpopMe(http, login.access,
                   dpopProof(key, "GET", QStringLiteral("/api/me/"), login.access.toLatin1())),
            200);
    QTest::qWait(1100);
    QVERIFY(killStoreConnection(server));
    const HttpResponse refusedMe =
            dpopMe(http, login.access,
                   dpopProof(key, "GET", QStringLiteral("/api/me/"), login.access.toLatin1()));
    TESSERA_EXPECT_ERROR(refusedMe, 503, "database_unavailable");
    QCOMPARE(refusedMe.header("Retry-After"), QByteArray("1"));

    TESSERA_TOKEN_PAIR(again,
                       dpopLogin(http, dpopProof(key, "POST", QStringLiteral("/api/token/"))));
    QCOMPARE(rowCount(server.databasePath(), QStringLiteral("families")), families + 1);
    QVERIFY(server.isRunning());
}

void tst_ServerInstances::listenerKilledThenBack()
{
    // One serving thread each: the test kills the watcher's one revocation listener.
    TESSERA_START_INSTANCES(servers, 2, OneConnection);
    const ServerProcess &revoker = *servers[0];
    ServerProcess *watcher_ = servers[1].get();
    const ServerProcess &watcher = *watcher_;
    HttpClient a(revoker), b(watcher);
    qint64 pid = 0;
    QTRY_VERIFY_WITH_TIMEOUT((pid = listenerPid(watcher)) > 0, 5000);

    TESSERA_TOKEN_PAIR(login, a.login(TestUser, TestPassword));
    TESSERA_EXPECT_STATUS(b.me(login.access), 200); // cached as active at the watcher
    // pg_terminate_backend with a timeout waits until the backend is gone.
    const auto killed =
            databaseSelect(watcher.databasePath(),
                           QStringLiteral("SELECT pg_terminate_backend(%1, 5000)").arg(pid));
    QVERIFY(killed && killed->size() == 1 && killed->first().value(0).toBool());
    TESSERA_EXPECT_STATUS(a.blacklist(login.refresh), 200);
    TESSERA_EXPECT_ERROR(b.me(login.access), 401, "token_not_valid");
    QVERIFY(watcher_->serverStderr().contains("revocation listener lost"));

    // Back within a few seconds, on a new connection.
    qint64 newPid = 0;
    QTRY_VERIFY_WITH_TIMEOUT((newPid = listenerPid(watcher)) > 0 && newPid != pid, 10000);
    QTRY_VERIFY_WITH_TIMEOUT(
            watcher_->serverStderr().contains("revocation listener back: session caches flushed"),
            5000);
    TESSERA_TOKEN_PAIR(again, a.login(TestUser, TestPassword));
    TESSERA_EXPECT_STATUS(b.me(again.access), 200);
    TESSERA_EXPECT_STATUS(a.blacklist(again.refresh), 200);
    TESSERA_EXPECT_ERROR(b.me(again.access), 401, "token_not_valid");
    QVERIFY(watcher.isRunning());
}

// The server's own connection killed: the request that finds it broken gets 503 and
// Retry-After, the next ones run on a new connection, without a restart.
void tst_ServerInstances::storeConnectionKilledThenBack()
{
    // One serving thread: the test kills that thread's one connection.
    TESSERA_START_INSTANCES(servers, 1, OneConnection);
    ServerProcess &server = *servers[0];
    HttpClient http(server);
    TESSERA_TOKEN_PAIR(login, http.login(TestUser, TestPassword));
    const auto killed = databaseSelect(
            server.databasePath(),
            QStringLiteral("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                           " WHERE application_name = 'tessera-server-%1'")
                    .arg(server.pid()));
    QVERIFY(killed && killed->size() == 1 && killed->first().value(0).toBool());
    const HttpResponse first = http.refresh(login.refresh);
    // The backend is gone (pg_terminate_backend waited for it): its first statement fails.
    TESSERA_EXPECT_ERROR(first, 503, "database_unavailable");
    QCOMPARE(first.header("Retry-After"), QByteArray("1"));
    // Nothing was written by the failed request: the same token rotates now.
    const QString refresh = login.refresh;
    TESSERA_TOKEN_PAIR(rotated, http.refresh(refresh));
    TESSERA_EXPECT_STATUS(http.me(rotated.access), 200);
    TESSERA_TOKEN_PAIR(again, http.login(TestUser, TestPassword));
    QVERIFY(server.serverStderr().contains("database connection re-established"));

    // The login and the OAuth token endpoint answer the same way: 503 and a retry, not 500.
    // (A new connection is tried at most once a second: each kill waits that long first.)
    const auto killAgain = [&] {
        QTest::qWait(1100);
        const auto killed = databaseSelect(
                server.databasePath(),
                QStringLiteral("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                               " WHERE application_name = 'tessera-server-%1'")
                        .arg(server.pid()));
        return killed && killed->size() == 1 && killed->first().value(0).toBool();
    };
    QVERIFY(killAgain());
    const HttpResponse login503 = http.login(TestUser, TestPassword);
    TESSERA_EXPECT_ERROR(login503, 503, "database_unavailable");
    QCOMPARE(login503.header("Retry-After"), QByteArray("1"));
    TESSERA_TOKEN_PAIR(afterLogin503, http.login(TestUser, TestPassword));
    QVERIFY(killAgain());
    const HttpResponse token503 = http.post(
            QStringLiteral("/token"),
            QByteArrayLiteral("grant_type=refresh_token&client_id=any-client&refresh_token=x"),
            QByteArrayLiteral("application/x-www-form-urlencoded"));
    QCOMPARE(token503.status, 503);
    QCOMPARE(token503.json().value(QStringLiteral("error")).toString(),
             QStringLiteral("temporarily_unavailable"));
    QCOMPARE(token503.header("Retry-After"), QByteArray("1"));
    // Every prepared statement works on the new connection: the client lookup answers.
    const HttpResponse unknownClient = http.post(
            QStringLiteral("/token"),
            QByteArrayLiteral("grant_type=refresh_token&client_id=any-client&refresh_token=x"),
            QByteArrayLiteral("application/x-www-form-urlencoded"));
    QCOMPARE(unknownClient.status, 401);
    QCOMPARE(unknownClient.json().value(QStringLiteral("error")).toString(),
             QStringLiteral("invalid_client"));
    QVERIFY(server.isRunning());
}

// A statement blocked on a row lock another session holds is cancelled after
// --db-statement-timeout: the request gets 503 instead of holding the server, and once the
// lock is gone the same token rotates.
void tst_ServerInstances::statementTimeoutEndsABlockedStatement()
{
    TESSERA_START_INSTANCES(
            servers, 1,
            (QStringList{QStringLiteral("--db-statement-timeout"), QStringLiteral("300")}));
    ServerProcess &server = *servers[0];
    HttpClient http(server);
    http.setTimeout(30000);
    TESSERA_TOKEN_PAIR(login, http.login(TestUser, TestPassword));

    const QUrl uri(server.databasePath());
    {
        QSqlDatabase locker =
                QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), QStringLiteral("locker"));
        locker.setHostName(uri.host());
        locker.setPort(uri.port());
        locker.setUserName(uri.userName());
        locker.setDatabaseName(uri.path().mid(1));
        QVERIFY2(locker.open(), qPrintable(locker.lastError().text()));
        QVERIFY(locker.transaction());
        QSqlQuery lock(locker);
        QVERIFY2(lock.exec(QStringLiteral("SELECT 1 FROM refresh_tokens FOR UPDATE")),
                 qPrintable(lock.lastError().text()));
        // The rotation's UPDATE waits for the lock until statement_timeout cancels it.
        TESSERA_EXPECT_ERROR(http.refresh(login.refresh), 503, "database_unavailable");
        QVERIFY(locker.rollback());
        lock.finish();
        locker.close();
    }
    QSqlDatabase::removeDatabase(QStringLiteral("locker"));
    QVERIFY(server.serverStderr().contains("canceling statement due to statement timeout"));
    TESSERA_TOKEN_PAIR(rotated, http.refresh(login.refresh));
    TESSERA_EXPECT_STATUS(http.me(rotated.access), 200);
}

// Two instances, 20 families rotating in chains that alternate between them, one request
// per family in flight; one instance gets SIGKILL while requests to it are in flight. Every
// rotation a client saw answered is in the database: the newest acknowledged token of each
// chain rotates at the survivor, or, where the answer to it was lost in the kill after the
// commit, the grace window answers it with the very successor the database recorded. No
// family is revoked, and the survivor keeps rotating every chain.
void tst_ServerInstances::instanceKilledUnderLoad()
{
    // A window wide enough that a loaded machine cannot push the check out of it.
    TESSERA_START_INSTANCES(servers, 2,
                            (QStringList{QStringLiteral("--reuse-grace"), QStringLiteral("60")}));
    ServerProcess &victim = *servers[0];
    const ServerProcess &survivor = *servers[1];
    const QString database = survivor.databasePath();
    HttpClient http(survivor);

    constexpr int Families = 20;
    constexpr int KillAfterRotations = 150;
    constexpr int RotationsAfterKill = 3;
    struct Family
    {
        QString refresh; // the newest acknowledged refresh token
        int rotations = 0;
        int rotationsAfterKill = 0;
        bool answerLost = false; // its request to the victim got no answer
    };
    std::vector<Family> families(Families);
    for (Family &family : families) {
        TESSERA_TOKEN_PAIR(login, http.login(TestUser, TestPassword));
        family.refresh = login.refresh;
    }

    QNetworkAccessManager manager;
    manager.setTransferTimeout(15000);
    bool killed = false;
    int inFlight = 0;
    int inFlightAtVictim = 0;
    int inFlightAtKill = 0;
    int acknowledged = 0;
    QStringList failures;
    std::function<void(int)> rotate = [&](int index) {
        Family &family = families[size_t(index)];
        const bool atVictim = !killed && (family.rotations + index) % 2 == 0;
        QNetworkReply *reply = postRefresh(manager, atVictim ? victim : survivor, family.refresh);
        ++inFlight;
        if (atVictim)
            ++inFlightAtVictim;
        QObject::connect(reply, &QNetworkReply::finished, [&, index, reply, atVictim] {
            reply->deleteLater();
            --inFlight;
            if (atVictim)
                --inFlightAtVictim;
            Family &family = families[size_t(index)];
            const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
            const QString successor = QJsonDocument::fromJson(reply->readAll())
                                              .object()
                                              .value(QStringLiteral("refresh"))
                                              .toString();
            if (status == 200 && !successor.isEmpty()) {
                family.refresh = successor;
                ++family.rotations;
                ++acknowledged;
                if (killed)
                    ++family.rotationsAfterKill;
            } else if (status == 0 && atVictim && killed) {
                family.answerLost = true; // settled below, at the survivor
                return;
            } else {
                failures << QStringLiteral("family %1 at the %2: HTTP %3 (%4)")
                                    .arg(index)
                                    .arg(atVictim ? QStringLiteral("victim")
                                                  : QStringLiteral("survivor"))
                                    .arg(status)
                                    .arg(reply->errorString());
                return;
            }
            if (!killed && acknowledged >= KillAfterRotations && inFlightAtVictim > 0) {
                inFlightAtKill = inFlightAtVictim;
                victim.kill();
                killed = true;
            }
            if (family.rotationsAfterKill < RotationsAfterKill)
                rotate(index);
        });
    };
    for (int index = 0; index < Families; ++index)
        rotate(index);
    QTRY_VERIFY_WITH_TIMEOUT((killed && inFlight == 0) || !failures.isEmpty(), 25000);
    QVERIFY2(failures.isEmpty(), qPrintable(failures.join(QLatin1String("; "))));
    QVERIFY(!victim.isRunning());
    QVERIFY(inFlightAtKill > 0);

    int lostBeforeCommit = 0;
    int lostAfterCommit = 0;
    for (int index = 0; index < Families; ++index) {
        const Family &family = families[size_t(index)];
        const QString hash = tokenHashHex(family.refresh);
        // Whether the newest acknowledged token was rotated, and into what.
        const auto rows = databaseSelect(
                database,
                QStringLiteral("SELECT p.rotated_at IS NOT NULL, encode(s.token_hash, 'hex')"
                               " FROM refresh_tokens p LEFT JOIN refresh_tokens s"
                               " ON s.parent_hash = p.token_hash"
                               " WHERE p.token_hash = decode('%1', 'hex')")
                        .arg(hash));
        QVERIFY2(rows && rows->size() == 1,
                 qPrintable(QStringLiteral("family %1: its acknowledged token is not stored")
                                    .arg(index)));
        const bool rotated = rows->first().value(0).toBool();
        const QString recordedSuccessor = rows->first().value(1).toString();
        // Only a rotation whose answer was lost leaves the newest acknowledged token rotated.
        QVERIFY2(!rotated || family.answerLost, qPrintable(QString::number(index)));

        TESSERA_TOKEN_PAIR(next, http.refresh(family.refresh));
        if (rotated) {
            ++lostAfterCommit;
            QCOMPARE(tokenHashHex(next.refresh), recordedSuccessor);
        } else if (family.answerLost) {
            ++lostBeforeCommit;
        }
        // The chain goes on at the survivor.
        TESSERA_TOKEN_PAIR(after, http.refresh(next.refresh));
        TESSERA_EXPECT_STATUS(http.me(after.access), 200);
    }
    QCOMPARE(revokedFamilies(database), 0);
    QVERIFY(survivor.isRunning());
    qInfo("%d rotations acknowledged; SIGKILL with %d requests in flight at the victim: "
          "%d of them left no rotation, %d rotated without an answer (settled by the grace "
          "window)",
          acknowledged, inFlightAtKill, lostBeforeCommit, lostAfterCommit);
}

// Two instances under load (refreshes at one, GET /api/me/ at the other, alternating),
// PostgreSQL stopped with `pg_ctl stop -m fast` and started again. Every request gets an
// HTTP answer within the client's timeout: 200, or 503 database_unavailable with Retry-After
// (never 500, never a dropped connection); every acknowledged refresh token is stored and
// each chain goes on rotating from its newest one after the restart; no family is revoked;
// both instances reconnect their store and their revocation listener without a restart.
void tst_ServerInstances::postgresRestartedUnderLoad()
{
    TESSERA_START_INSTANCES(servers, 2,
                            (QStringList{QStringLiteral("--reuse-grace"), QStringLiteral("60")}));
    QString error;
    PostgresCluster *cluster = PostgresCluster::shared(&error);
    QVERIFY2(cluster, qPrintable(error));
    const QString database = servers[0]->databasePath();
    HttpClient http(*servers[0]);

    constexpr int Families = 10;
    constexpr int RotationsAfterRestart = 3;
    constexpr int ClientTimeoutMs = 10000;
    struct Family
    {
        QString refresh; // the newest acknowledged refresh token
        QString access;
        int rotations = 0;
        int rotationsAfterRestart = 0;
    };
    std::vector<Family> families(Families);
    for (Family &family : families) {
        TESSERA_TOKEN_PAIR(login, http.login(TestUser, TestPassword));
        family.refresh = login.refresh;
        family.access = login.access;
    }

    enum class Phase { Before, Down, After };
    Phase phase = Phase::Before;
    bool stopping = false;
    int inFlight = 0;
    int answers = 0;
    int unavailable = 0;
    QStringList acknowledgedTokens;
    QStringList failures;
    QNetworkAccessManager manager;
    manager.setTransferTimeout(ClientTimeoutMs);
    // One operation per family at a time: refresh, then GET /api/me/ with the new access
    // token, at alternating instances; a 503 is retried after a short pause.
    std::function<void(int, bool)> step = [&](int index, bool refresh) {
        if (stopping)
            return;
        Family &family = families[size_t(index)];
        const ServerProcess &server = *servers[size_t((family.rotations + index + refresh) % 2)];
        QNetworkReply *reply = refresh ? postRefresh(manager, server, family.refresh)
                                       : getMe(manager, server, family.access);
        ++inFlight;
        QObject::connect(reply, &QNetworkReply::finished, [&, index, refresh, reply] {
            reply->deleteLater();
            --inFlight;
            ++answers;
            Family &family = families[size_t(index)];
            const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
            const QJsonObject body = QJsonDocument::fromJson(reply->readAll()).object();
            const QString what = QStringLiteral("family %1, %2: HTTP %3 (%4)")
                                         .arg(index)
                                         .arg(refresh ? QStringLiteral("refresh")
                                                      : QStringLiteral("GET /api/me/"))
                                         .arg(status)
                                         .arg(status ? body.value(QStringLiteral("code")).toString()
                                                     : reply->errorString());
            if (status == 503) {
                if (body.value(QStringLiteral("code")).toString()
                            != QLatin1String("database_unavailable")
                    || reply->rawHeader("Retry-After") != "1") {
                    failures << what + QStringLiteral(" without Retry-After: 1");
                    return;
                }
                ++unavailable;
                QTimer::singleShot(50, [&step, index, refresh] { step(index, refresh); });
                return;
            }
            if (status != 200) {
                failures << what;
                return;
            }
            if (refresh) {
                const QString successor = body.value(QStringLiteral("refresh")).toString();
                const QString access = body.value(QStringLiteral("access")).toString();
                if (successor.isEmpty() || access.isEmpty()) {
                    failures << what + QStringLiteral(" without tokens");
                    return;
                }
                family.refresh = successor;
                family.access = access;
                acknowledgedTokens << successor;
                ++family.rotations;
                if (phase == Phase::After)
                    ++family.rotationsAfterRestart;
            }
            step(index, !refresh);
        });
    };
    const auto everyFamily = [&](int Family::*counter, int atLeast) {
        return std::all_of(families.begin(), families.end(),
                           [&](const Family &family) { return family.*counter >= atLeast; });
    };

    for (int index = 0; index < Families; ++index)
        step(index, true);
    QTRY_VERIFY_WITH_TIMEOUT(everyFamily(&Family::rotations, 3) || !failures.isEmpty(), 15000);
    QVERIFY2(failures.isEmpty(), qPrintable(failures.join(QLatin1String("; "))));

    QVERIFY2(cluster->stopFast(&error), qPrintable(error));
    phase = Phase::Down;
    const int answersBeforeDown = answers;
    QTest::qWait(1500); // the load goes on against a stopped database
    const int answersWhileDown = answers - answersBeforeDown;
    QVERIFY2(cluster->startAgain(&error), qPrintable(error));
    phase = Phase::After;
    QTRY_VERIFY_WITH_TIMEOUT(everyFamily(&Family::rotationsAfterRestart, RotationsAfterRestart)
                                     || !failures.isEmpty(),
                             20000);
    stopping = true;
    QTRY_VERIFY_WITH_TIMEOUT(inFlight == 0, ClientTimeoutMs + 5000);
    QVERIFY2(failures.isEmpty(), qPrintable(failures.join(QLatin1String("; "))));
    QVERIFY(unavailable > 0); // the load did meet the stopped database
    QVERIFY(answersWhileDown > 0);

    // Both listeners are back (each tries again every second), without a restart.
    for (const auto &server : servers) {
        QVERIFY(server->serverStderr().contains("revocation listener lost"));
        QTRY_VERIFY_WITH_TIMEOUT(server->serverStderr().contains("revocation listener back"), 5000);
        QVERIFY(server->isRunning());
    }

    // Every acknowledged refresh token was committed.
    QStringList hashes;
    for (const QString &token : std::as_const(acknowledgedTokens))
        hashes << QStringLiteral("decode('%1', 'hex')").arg(tokenHashHex(token));
    const auto stored = databaseSelect(
            database,
            QStringLiteral("SELECT count(*) FROM refresh_tokens WHERE token_hash IN (%1)")
                    .arg(hashes.join(QLatin1Char(','))));
    QVERIFY(stored && stored->size() == 1);
    QCOMPARE(stored->first().value(0).toInt(), acknowledgedTokens.size());
    // Each chain's newest token rotates, at either instance, and its session is active.
    for (int index = 0; index < Families; ++index) {
        HttpClient at(*servers[size_t(index % 2)]);
        TESSERA_TOKEN_PAIR(next, at.refresh(families[size_t(index)].refresh));
        for (const auto &server : servers)
            TESSERA_EXPECT_STATUS(HttpClient(*server).me(next.access), 200);
    }
    QCOMPARE(revokedFamilies(database), 0);
    qInfo("%d answers, %d of them 503 (%d while PostgreSQL was down), %d rotations acknowledged",
          answers, unavailable, answersWhileDown, int(acknowledgedTokens.size()));
}

QTEST_GUILESS_MAIN(tst_ServerInstances)
#include "tst_server_instances.moc"

// SPDX-License-Identifier: MIT
// Several real tessera-server processes on one PostgreSQL database (docs/SERVER.md "Running
// several instances"): revocation seen at every instance, rotation races between instances,
// the shared login limit, and the revocation listener's loss and recovery. PostgreSQL only
// (tests/integration/CMakeLists.txt sets TESSERA_TEST_DATABASE=postgresql).
#include "httpclient.h"
#include "serverprocess.h"
#include "testdatabase.h"
#include "testsupport.h"

#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>
#include <QtSql/QSqlDatabase>
#include <QtSql/QSqlError>
#include <QtSql/QSqlQuery>
#include <QtTest/QTest>

#include <memory>

using namespace Tessera::Test;

class tst_ServerInstances : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void logoutSeenAtEveryInstance();
    void reuseSeenAtEveryInstance();
    void sameTokenAtTwoInstances100Times();
    void loginLimitShared();
    void listenerKilledThenBack();
    void storeConnectionKilledThenBack();
    void statementTimeoutEndsABlockedStatement();
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
    auto post = [&manager](const ServerProcess &server, const QString &token) {
        QNetworkRequest request(
                server.baseUrl().resolved(QUrl(QStringLiteral("/api/token/refresh/"))));
        request.setHeader(QNetworkRequest::ContentTypeHeader, QStringLiteral("application/json"));
        return manager.post(request,
                            QJsonDocument(QJsonObject{{QStringLiteral("refresh"), token}})
                                    .toJson(QJsonDocument::Compact));
    };
    constexpr int Rounds = 100;
    int graceAnswers = 0;
    for (int round = 0; round < Rounds; ++round) {
        TESSERA_TOKEN_PAIR(pair, http.login(TestUser, TestPassword));
        std::unique_ptr<QNetworkReply> atFirst(post(first, pair.refresh));
        std::unique_ptr<QNetworkReply> atSecond(post(second, pair.refresh));
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

// The listener of one instance killed: a revocation elsewhere is still seen there (its
// cache bypassed), and once it listens again its cache is used and kept exact again.
void tst_ServerInstances::listenerKilledThenBack()
{
    TESSERA_START_INSTANCES(servers, 2, QStringList());
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
    TESSERA_START_INSTANCES(servers, 1, QStringList());
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

QTEST_GUILESS_MAIN(tst_ServerInstances)
#include "tst_server_instances.moc"

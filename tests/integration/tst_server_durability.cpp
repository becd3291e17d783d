// SPDX-License-Identifier: MIT
// tessera-server crash durability: many concurrent refresh chains, SIGKILL in
// the middle of the load, restart on the same database. Every rotation a
// client saw answered must have survived; a rotation whose response was lost
// must be recoverable through the grace window; no family may be left
// half-rotated. The database checks read the schema of server/src/store.cpp
// (families, refresh_tokens.token_hash = SHA-256 of the token string,
// parent_hash, rotated_at, successor_sealed).
#include "testsupport.h"

#include <tessera/jose.h>

#include <QtCore/QDir>
#include <QtCore/QElapsedTimer>
#include <QtCore/QFile>
#include <QtCore/QTemporaryDir>
#include <QtCore/QTimer>
#include <QtNetwork/QNetworkProxy>
#include <QtNetwork/QNetworkReply>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QTest>

#include <algorithm>
#include <functional>
#include <memory>
#include <vector>

using namespace Tessera::Test;

namespace {

constexpr int Chains = 40; // one refresh in flight per chain
constexpr int LoadBeforeKillMs = 1200;

struct Chain
{
    QStringList seen; // refresh tokens answered 200, in order; [0] from login
    QString lastAccess;
    bool running = true;  // a request is (or will be) in flight
    bool stopped = false; // the transport failed (server gone)
    int unexpected401 = 0;
    QString failure;
    std::unique_ptr<QNetworkAccessManager> manager;
};

QString hashHex(const QString &token)
{
    return QString::fromLatin1(Tessera::Jose::sha256(token.toLatin1()).toHex());
}

// Copies the database (main file and WAL, as SIGKILL left them) so the check
// never touches the server's own files.
bool copyDatabase(const QString &from, const QString &toDir, QString *copyPath)
{
    *copyPath = QDir(toDir).filePath(QStringLiteral("copy.sqlite3"));
    if (!QFile::copy(from, *copyPath))
        return false;
    if (QFile::exists(from + QStringLiteral("-wal"))
        && !QFile::copy(from + QStringLiteral("-wal"), *copyPath + QStringLiteral("-wal")))
        return false;
    return true;
}

} // namespace

class tst_ServerDurability : public QObject
{
    Q_OBJECT
private slots:
    void sigkillUnderRefreshLoad();
    void lostResponseThenSigkill();

private:
    void checkNoHalfRotatedFamily(const QString &dbPath, bool readOnly, int expectedFamilies);
};

void tst_ServerDurability::checkNoHalfRotatedFamily(const QString &dbPath, bool readOnly,
                                                    int expectedFamilies)
{
    QString error;
    const auto families =
            sqliteSelect(dbPath,
                         QStringLiteral("SELECT f.id, f.revoked_at IS NOT NULL,"
                                        " (SELECT COUNT(*) FROM refresh_tokens r"
                                        "  WHERE r.family_id = f.id AND r.rotated_at IS NULL)"
                                        " FROM families f"),
                         &error, readOnly);
    QVERIFY2(families.has_value(), qPrintable(error));
    QCOMPARE(families->size(), expectedFamilies);
    for (const QVariantList &row : *families) {
        QVERIFY2(!row.at(1).toBool(),
                 qPrintable(QStringLiteral("family %1 was revoked").arg(row.at(0).toString())));
        QVERIFY2(row.at(2).toInt() == 1,
                 qPrintable(QStringLiteral("family %1 has %2 current refresh tokens")
                                    .arg(row.at(0).toString())
                                    .arg(row.at(2).toInt())));
    }
    // Every rotated token has its sealed copy and names its successor, a stored row whose
    // parent it is; a token not rotated names none.
    const auto orphans = sqliteSelect(
            dbPath,
            QStringLiteral(
                    "SELECT COUNT(*) FROM refresh_tokens p WHERE (p.rotated_at IS NOT NULL AND"
                    " (p.successor_sealed IS NULL OR NOT EXISTS (SELECT 1 FROM refresh_tokens c"
                    "  WHERE c.token_hash = p.successor_hash AND c.parent_hash = p.token_hash)))"
                    " OR (p.rotated_at IS NULL AND p.successor_hash IS NOT NULL)"),
            &error, readOnly);
    QVERIFY2(orphans.has_value(), qPrintable(error));
    QCOMPARE(orphans->first().first().toInt(), 0);
    // No token has two successors (nor does a successor row exist without the rotation).
    const auto children = sqliteSelect(
            dbPath,
            QStringLiteral("SELECT COUNT(*) FROM refresh_tokens c WHERE c.parent_hash IS NOT NULL"
                           " AND NOT EXISTS (SELECT 1 FROM refresh_tokens p WHERE p.token_hash ="
                           " c.parent_hash AND p.successor_hash = c.token_hash)"),
            &error, readOnly);
    QVERIFY2(children.has_value(), qPrintable(error));
    QCOMPARE(children->first().first().toInt(), 0);
}

void tst_ServerDurability::sigkillUnderRefreshLoad()
{
    ServerProcess server({QStringLiteral("--reuse-grace"), QStringLiteral("10"),
                          QStringLiteral("--login-limit"), QStringLiteral("0")});
    TESSERA_START_WITH_TEST_USER(server);
    const QUrl base = server.baseUrl();

    std::vector<Chain> chains(Chains);
    {
        HttpClient http(server);
        for (Chain &chain : chains) {
            TESSERA_TOKEN_PAIR(login, http.login(TestUser, TestPassword));
            chain.seen << login.refresh;
            chain.lastAccess = login.access;
        }
    }

    int answered = 0;
    bool killed = false;
    std::function<void(Chain &)> spend = [&](Chain &chainRef) {
        Chain *const chain = &chainRef;
        QNetworkRequest request(QUrl(base.toString() + QStringLiteral("/api/token/refresh/")));
        request.setHeader(QNetworkRequest::ContentTypeHeader,
                          QByteArrayLiteral("application/json"));
        const QByteArray body =
                QJsonDocument(QJsonObject{{QStringLiteral("refresh"), chain->seen.last()}})
                        .toJson(QJsonDocument::Compact);
        QNetworkReply *reply = chain->manager->post(request, body);
        QObject::connect(
                reply, &QNetworkReply::finished, reply, [&spend, &answered, &killed, chain, reply] {
                    reply->deleteLater();
                    const int status =
                            reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
                    const QJsonObject json = QJsonDocument::fromJson(reply->readAll()).object();
                    // Connection-level errors (refused, closed mid-response, ...) are below 100.
                    const bool transportError =
                            reply->error() != QNetworkReply::NoError && reply->error() < 100;
                    if (status == 200 && !transportError
                        && !json.value(QStringLiteral("refresh")).toString().isEmpty()) {
                        ++answered;
                        chain->seen << json.value(QStringLiteral("refresh")).toString();
                        chain->lastAccess = json.value(QStringLiteral("access")).toString();
                        spend(*chain);
                        return;
                    }
                    chain->running = false;
                    if (transportError || status == 0) {
                        chain->stopped =
                                true; // transport error: expected only once the server is killed
                        if (!killed)
                            chain->failure = QStringLiteral("transport error before the kill: ")
                                    + reply->errorString();
                        return;
                    }
                    if (status == 401)
                        ++chain->unexpected401;
                    chain->failure = QStringLiteral("HTTP %1 during the load: %2")
                                             .arg(status)
                                             .arg(QString::fromUtf8(QJsonDocument(json).toJson(
                                                     QJsonDocument::Compact)));
                });
    };
    for (Chain &chain : chains) {
        chain.manager = std::make_unique<QNetworkAccessManager>();
        chain.manager->setProxy(QNetworkProxy::NoProxy);
        spend(chain);
    }

    // Let the load run, then crash the server in the middle of it.
    QTest::qWait(LoadBeforeKillMs);
    const int answeredBeforeKill = answered;
    killed = true;
    server.kill();
    QTRY_VERIFY_WITH_TIMEOUT(
            std::all_of(chains.begin(), chains.end(), [](const Chain &c) { return !c.running; }),
            20000);
    qInfo("%d refreshes answered in %d ms of load (%d when SIGKILL was sent)", answered,
          LoadBeforeKillMs, answeredBeforeKill);
    QVERIFY2(answered >= Chains, "the load did not get going");
    for (const Chain &chain : chains) {
        QVERIFY2(chain.failure.isEmpty(), qPrintable(chain.failure));
        QCOMPARE(chain.unexpected401, 0);
        QVERIFY(chain.stopped);
    }

    // The database as SIGKILL left it (copied; WAL recovery runs on the copy).
    QTemporaryDir checkDir;
    QVERIFY(checkDir.isValid());
    QString copy;
    QVERIFY(copyDatabase(server.databasePath(), checkDir.path(), &copy));
    checkNoHalfRotatedFamily(copy, false, Chains);
    if (QTest::currentTestFailed())
        return;

    // Where did each chain's newest acknowledged token end up?
    QList<QString> lostSuccessorHash(Chains); // non-empty: committed, response lost
    int lostResponses = 0;
    for (int i = 0; i < Chains; ++i) {
        QString error;
        const auto rows =
                sqliteSelect(copy,
                             QStringLiteral("SELECT r.rotated_at IS NULL,"
                                            " (SELECT hex(c.token_hash) FROM refresh_tokens c "
                                            "WHERE c.parent_hash = r.token_hash)"
                                            " FROM refresh_tokens r WHERE r.token_hash = X'%1'")
                                     .arg(hashHex(chains[i].seen.last())),
                             &error, false);
        QVERIFY2(rows.has_value(), qPrintable(error));
        QVERIFY2(rows->size() == 1,
                 qPrintable(
                         QStringLiteral(
                                 "chain %1: its newest acknowledged refresh token (after %2 "
                                 "rotations) is not in the database: an answered rotation was lost")
                                 .arg(i)
                                 .arg(chains[i].seen.size() - 1)));
        if (!rows->first().at(0).toBool()) {
            lostSuccessorHash[i] = rows->first().at(1).toString().toLower();
            QVERIFY2(!lostSuccessorHash[i].isEmpty(),
                     qPrintable(QStringLiteral("chain %1: rotated without successor").arg(i)));
            ++lostResponses;
        }
    }
    qInfo("%d of %d chains had a rotation committed whose response was lost", lostResponses,
          Chains);

    // Restart on the same database, well within the 10 s grace window.
    TESSERA_START(server);
    HttpClient http(server);
    for (int i = 0; i < Chains; ++i) {
        Chain &chain = chains[i];
        const HttpResponse again = http.refresh(chain.seen.last());
        QVERIFY2(again.status == 200,
                 qPrintable(QStringLiteral(
                                    "chain %1 (%2): newest acknowledged token refused after the "
                                    "crash: %3")
                                    .arg(i)
                                    .arg(lostSuccessorHash[i].isEmpty()
                                                 ? QStringLiteral("not rotated")
                                                 : QStringLiteral("response lost"))
                                    .arg(again.describe())));
        const QString next = again.str(QStringLiteral("refresh"));
        if (!lostSuccessorHash[i].isEmpty()) {
            // The grace window hands out exactly the successor whose response was lost.
            QCOMPARE(hashHex(next), lostSuccessorHash[i]);
        }
        TESSERA_EXPECT_STATUS(http.me(again.str(QStringLiteral("access"))), 200);
        // The chain goes on.
        TESSERA_TOKEN_PAIR(after, http.refresh(next));
        TESSERA_EXPECT_STATUS(http.me(after.access), 200);
    }
    QVERIFY2(server.stop(), qPrintable(server.errorString()));
    checkNoHalfRotatedFamily(server.databasePath(), true, Chains);
}

// Deterministic variant of the lost response: the client sends a refresh and
// never reads the answer, the server crashes; after the restart the client's
// only token (the parent) must yield exactly the committed successor.
void tst_ServerDurability::lostResponseThenSigkill()
{
    ServerProcess server({QStringLiteral("--reuse-grace"), QStringLiteral("10")});
    TESSERA_START_WITH_TEST_USER(server);
    QString parent;
    {
        HttpClient http(server);
        TESSERA_TOKEN_PAIR(login, http.login(TestUser, TestPassword));
        TESSERA_TOKEN_PAIR(first, http.refresh(login.refresh));
        parent = first.refresh;
    }
    {
        QTcpSocket socket;
        socket.connectToHost(QHostAddress::LocalHost, server.port());
        QVERIFY(socket.waitForConnected(5000));
        const QByteArray body = QJsonDocument(QJsonObject{{QStringLiteral("refresh"), parent}})
                                        .toJson(QJsonDocument::Compact);
        socket.write(buildRawRequest("POST", QStringLiteral("/api/token/refresh/"),
                                     server.baseUrl(), body));
        QVERIFY(socket.waitForBytesWritten(5000));
        // The rotation commits; its response sits unread in this socket's buffer.
        const QString query = QStringLiteral("SELECT rotated_at IS NOT NULL FROM refresh_tokens "
                                             "WHERE token_hash = X'%1'")
                                      .arg(hashHex(parent));
        QTRY_VERIFY_WITH_TIMEOUT(sqliteSelect(server.databasePath(), query)
                                         .value_or(QList<QVariantList>{})
                                         .value(0)
                                         .value(0)
                                         .toBool(),
                                 5000);
        server.kill();
        socket.abort();
    }
    QString error;
    const auto successor = sqliteSelect(
            server.databasePath(),
            QStringLiteral("SELECT hex(token_hash) FROM refresh_tokens WHERE parent_hash = X'%1'")
                    .arg(hashHex(parent)),
            &error, false);
    QVERIFY2(successor.has_value() && successor->size() == 1, qPrintable(error));

    TESSERA_START(server);
    HttpClient http(server);
    TESSERA_TOKEN_PAIR(recovered, http.refresh(parent));
    QCOMPARE(hashHex(recovered.refresh), successor->first().first().toString().toLower());
    TESSERA_EXPECT_STATUS(http.me(recovered.access), 200);
    TESSERA_TOKEN_PAIR(next, http.refresh(recovered.refresh));
    TESSERA_EXPECT_STATUS(http.me(next.access), 200);
    QVERIFY2(server.stop(), qPrintable(server.errorString()));
    checkNoHalfRotatedFamily(server.databasePath(), true, 1);
}

QTEST_GUILESS_MAIN(tst_ServerDurability)
#include "tst_server_durability.moc"

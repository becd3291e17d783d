// SPDX-License-Identifier: MIT
// Logging (issue 3, behaviour 13): with every tessera.* category at debug level,
// a whole session (failed login, login, requests, proactive and reactive
// refresh, restore, transient failure, rejection, logout) logs events but no
// token, password or Authorization value. The secrets to look for are taken
// from the wire (the fault proxy records every request body and header), so
// every token that existed is checked, not only those the test asked for.
#include "sessiontestsupport.h"

#include <tessera/authenticatednetworkaccessmanager.h>

#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QLoggingCategory>
#include <QtCore/QMutex>
#include <QtTest/QTest>

using namespace Tessera;
using namespace Tessera::SessionTest;

class tst_SessionLogging : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void noSecretsInLogs_data() { addServerRows(); }
    void noSecretsInLogs();
};

namespace {

QMutex g_mutex;
QByteArray g_log;
QtMessageHandler g_previous = nullptr;

void capture(QtMsgType, const QMessageLogContext &context, const QString &message)
{
    // Every message, whatever its category: Qt's own warnings count too.
    QMutexLocker lock(&g_mutex);
    g_log += (context.category ? QByteArray(context.category) : QByteArray("default")) + ": "
            + message.toUtf8() + '\n';
}

} // namespace

void tst_SessionLogging::initTestCase()
{
    if (!secretServiceProblem().isEmpty())
        QSKIP("no Secret Service; run through scripts/with-keyring.sh");
    g_previous = qInstallMessageHandler(capture);
    QLoggingCategory::setFilterRules(QStringLiteral("tessera.*=true"));
}

void tst_SessionLogging::cleanupTestCase()
{
    qInstallMessageHandler(g_previous);
}

void tst_SessionLogging::noSecretsInLogs()
{
    QFETCH(ServerKind, server);
    const QByteArray wrongPassword = "wrong horse battery staple 9";
    Peer peer(server);
    TESSERA_START_PEER(peer);
    FaultProxy proxy(peer.baseUrl());
    TESSERA_START_PROXY(proxy);
    const SessionConfig config = makeConfig(proxy.url(), QStringLiteral("logging"));
    const QUrl me = config.endpoint(QString::fromLatin1(MePath));
    {
        QMutexLocker lock(&g_mutex);
        g_log.clear();
    }

    {
        Session session(config);
        AuthenticatedNetworkAccessManager network(&session);
        QCOMPARE(login(session, TestUser, QString::fromLatin1(wrongPassword)).code(),
                 Error::Code::InvalidCredentials);
        TESSERA_LOGIN(session);
        QCOMPARE(getStatus(network, me), 200);
        // Proactive path: the token is due, the request waits for a refresh.
        SessionPrivate::get(&session)->expireAccessTokenForTesting();
        QCOMPARE(getStatus(network, me), 200);
        // Reactive path: the current token is refused once.
        const auto current = freshToken(session);
        QVERIFY(current.has_value());
        const QByteArray refused = "Bearer " + *current;
        proxy.setRule([refused](const RequestInfo &request) {
            return request.header("Authorization") == refused ? Action::replaceResponse(
                           401, "application/json", R"({"code":"token_not_valid"})")
                                                              : Action::forward();
        });
        QCOMPARE(getStatus(network, me), 200);
        // Transient failure and its retry.
        proxy.setRule([](const RequestInfo &request) {
            return request.path == "/api/token/refresh/"
                    ? Action::replaceResponse(503, "application/json", R"({"code":"x"})")
                    : Action::forward();
        });
        SessionPrivate::get(&session)->expireAccessTokenForTesting();
        QVERIFY(!freshToken(session).has_value());
        proxy.clearRule();
        QTRY_COMPARE_WITH_TIMEOUT(refreshCount(session), 3, 5000);
    }
    {
        // A second start restores from storage and logs out.
        Session session(config);
        QVERIFY(!restore(session));
        QVERIFY(!logout(session));
    }
    {
        // A rejected session: log in, revoke elsewhere, refresh.
        Session session(config);
        QVERIFY(!login(session));
        const Platform::StoreResult stored = storedRefreshToken(session);
        QVERIFY(stored.ok());
        Test::HttpClient http(peer.baseUrl());
        TESSERA_EXPECT_STATUS(http.blacklist(QString::fromLatin1(stored.data.reveal())), 200);
        SessionPrivate::get(&session)->expireAccessTokenForTesting();
        QVERIFY(!freshToken(session).has_value());
        QCOMPARE(session.state(), Session::State::ReauthRequired);
    }

    // Every secret that crossed the wire: passwords, refresh tokens (requests and
    // responses are not recorded, but every refresh token issued is presented later or
    // revoked), access tokens (Authorization headers).
    QList<QByteArray> secrets{TestPassword.toUtf8(), wrongPassword};
    QSet<QByteArray> authorizations;
    for (const RequestInfo &request : proxy.requests()) {
        const QJsonObject body = QJsonDocument::fromJson(request.body).object();
        for (const char *field : {"password", "refresh", "token"}) {
            const QByteArray value = body.value(QLatin1String(field)).toString().toUtf8();
            if (!value.isEmpty())
                secrets << value;
        }
        const QByteArray authorization = request.header("Authorization");
        if (!authorization.isEmpty()) {
            authorizations.insert(authorization);
            secrets << authorization.mid(7);
        }
    }
    QVERIFY2(authorizations.size() >= 3, "too few access tokens seen: the flow did not run");
    QVERIFY2(proxy.requestCount("/api/token/refresh/") >= 4, "too few refreshes seen");

    QByteArray log;
    {
        QMutexLocker lock(&g_mutex);
        log = g_log;
    }
    // The log is not empty: the events are there ...
    for (const char *event :
         {"login succeeded", "refresh request sent", "refresh succeeded",
          "refreshing and retrying once", "retrying in", "restored a stored session",
          "logout complete", "re-authentication required", "tessera.storage: keychain write"}) {
        QVERIFY2(log.contains(event),
                 qPrintable(QStringLiteral("no \"%1\" in the log:\n%2")
                                    .arg(QLatin1String(event), QString::fromUtf8(log))));
    }
    // ... the values are not.
    for (const QByteArray &secret : secrets) {
        QVERIFY2(!Test::containsSecret(log, QString::fromUtf8(secret)),
                 qPrintable(
                         QStringLiteral("a secret of %1 bytes is in the log").arg(secret.size())));
        QVERIFY(!log.contains(secret.toBase64()));
    }
    QVERIFY2(!log.contains("Bearer"), "an Authorization value is in the log");
    QVERIFY2(!log.contains("eyJ"), "something JWT-like is in the log");
}

QTEST_GUILESS_MAIN(tst_SessionLogging)
#include "tst_session_logging.moc"

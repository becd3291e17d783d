// SPDX-License-Identifier: MIT
// Authenticated requests (issue 3, behaviours 4 and 5):
// - reactive refresh: a 401 triggers exactly one refresh and one retry; a second
//   401 is delivered as an error, never a loop. The real servers answer; the
//   fault proxy between them and the client turns answers into 401s where no
//   real server would send one (a token the server itself just issued);
// - single flight: 200 concurrent requests on an expired access token cause
//   exactly one refresh at the server, and all 200 succeed.
// Refreshes are counted at the server (tessera-server's "refresh rotated" log
// line, Django's BlacklistedToken rows) and on the wire (the proxy).
#include "sessiontestsupport.h"

#include <tessera/authenticatednetworkaccessmanager.h>

#include <QtNetwork/QNetworkReply>
#include <QtTest/QTest>

using namespace Tessera;
using namespace Tessera::SessionTest;

class tst_SessionRequests : public QObject
{
    Q_OBJECT
private slots:
    void reactiveRefresh_data();
    void reactiveRefresh();
    void reactiveRefreshRejected();
    void singleFlight_data() { addServerRows(); }
    void singleFlight();
};

namespace {

// What tessera-server and SimpleJWT answer for a token they do not accept.
Action tokenNotValid()
{
    const QByteArray body =
            R"({"detail":"Given token not valid for any token type","code":"token_not_valid"})";
    return Action::replaceResponse("HTTP/1.1 401 Unauthorized\r\n"
                                   "Content-Type: application/json\r\n"
                                   "WWW-Authenticate: Bearer realm=\"api\"\r\n"
                                   "Content-Length: "
                                   + QByteArray::number(body.size())
                                   + "\r\nConnection: close\r\n\r\n" + body);
}

struct Client
{
    explicit Client(const QUrl &url)
        : config(makeConfig(url, QStringLiteral("requests")))
        , session(config)
        , network(&session)
    {
        // The storage path with its cross-process lock, without the keyring.
        SessionPrivate::get(&session)->setStoreForTesting(std::make_unique<TestStore>());
    }

    QList<QNetworkReply *> get(int count)
    {
        QList<QNetworkReply *> replies;
        for (int i = 0; i < count; ++i)
            replies << network.get(QNetworkRequest(config.endpoint(QString::fromLatin1(MePath))));
        return replies;
    }

    SessionConfig config;
    Session session;
    AuthenticatedNetworkAccessManager network;
};

bool allFinished(const QList<QNetworkReply *> &replies)
{
    return std::all_of(replies.begin(), replies.end(),
                       [](QNetworkReply *reply) { return reply->isFinished(); });
}

int status(QNetworkReply *reply)
{
    return reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
}

} // namespace

// Behaviour 4.
void tst_SessionRequests::reactiveRefresh_data()
{
    QTest::addColumn<ServerKind>("server");
    QTest::addColumn<bool>("always");
    QTest::addColumn<int>("requests");
    for (const auto &[name, kind] :
         {std::pair{"tessera", ServerKind::Tessera}, std::pair{"django", ServerKind::Django}}) {
        QTest::addRow("%s: 401 once, one refresh, one retry", name) << kind << false << 1;
        QTest::addRow("%s: 401 on 20 concurrent requests, one refresh", name)
                << kind << false << 20;
        QTest::addRow("%s: always 401, no loop", name) << kind << true << 1;
    }
}

void tst_SessionRequests::reactiveRefresh()
{
    QFETCH(ServerKind, server);
    QFETCH(bool, always);
    QFETCH(int, requests);

    Peer peer(server);
    TESSERA_START_PEER(peer);
    FaultProxy proxy(peer.baseUrl());
    TESSERA_START_PROXY(proxy);
    Client client(proxy.url());
    TESSERA_LOGIN(client.session);
    const auto first = freshToken(client.session);
    QVERIFY(first.has_value());

    // The server "no longer accepts" the token it issued at login (always: any token).
    const QByteArray rejected = "Bearer " + *first;
    proxy.setRule([rejected, always](const RequestInfo &request) {
        if (request.path == MePath && (always || request.header("Authorization") == rejected))
            return tokenNotValid();
        return Action::forward();
    });

    const QList<QNetworkReply *> replies = client.get(requests);
    QTRY_VERIFY_WITH_TIMEOUT(allFinished(replies), 20000);
    // Let anything that would loop show itself.
    QTest::qWait(1000);

    QCOMPARE(proxy.requestCount(RefreshPath), 1);
    QCOMPARE(peer.rotations(), 1);
    QCOMPARE(refreshCount(client.session), 1);
    // Each request was sent twice: once with the old token, once after the refresh.
    QCOMPARE(proxy.requestCount(MePath), 2 * requests);
    const QList<RequestInfo> seen = proxy.requests();
    QByteArray retryAuthorization;
    for (const RequestInfo &request : seen) {
        if (request.path != MePath || request.header("Authorization") == rejected)
            continue;
        if (retryAuthorization.isEmpty())
            retryAuthorization = request.header("Authorization");
        QCOMPARE(request.header("Authorization"), retryAuthorization); // the one new token
    }
    QVERIFY(!retryAuthorization.isEmpty());

    for (QNetworkReply *reply : replies) {
        if (always) {
            // The second 401 is delivered as it is: an error, status 401.
            QCOMPARE(status(reply), 401);
            QCOMPARE(reply->error(), QNetworkReply::AuthenticationRequiredError);
            QVERIFY(reply->readAll().contains("token_not_valid"));
        } else {
            QCOMPARE(reply->error(), QNetworkReply::NoError);
            QCOMPARE(status(reply), 200);
            QVERIFY(reply->readAll().contains("\"username\":\"alice\""));
        }
        reply->deleteLater();
    }
    // A refused request does not end the session: the refresh itself succeeded.
    QCOMPARE(client.session.state(), Session::State::SignedIn);
}

// Behaviour 4 with a real 401: tessera-server revokes the whole family (logout on
// another device), so the access token is refused at once and the refresh is
// rejected too: one refresh attempt, no retry, ReauthRequired.
void tst_SessionRequests::reactiveRefreshRejected()
{
    Peer peer(ServerKind::Tessera);
    TESSERA_START_PEER(peer);
    FaultProxy proxy(peer.baseUrl());
    TESSERA_START_PROXY(proxy);
    Client client(proxy.url());
    TESSERA_LOGIN(client.session);
    const Platform::StoreResult stored = storedRefreshToken(client.session);
    QVERIFY2(stored.ok(), qPrintable(stored.message));
    Test::HttpClient http(peer.baseUrl());
    TESSERA_EXPECT_STATUS(http.blacklist(QString::fromLatin1(stored.data.reveal())), 200);

    const QList<QNetworkReply *> replies = client.get(1);
    QTRY_VERIFY_WITH_TIMEOUT(allFinished(replies), 20000);
    QTest::qWait(1000);
    QCOMPARE(proxy.requestCount(MePath), 1);
    QCOMPARE(proxy.requestCount(RefreshPath), 1);
    QCOMPARE(replies.first()->error(), QNetworkReply::AuthenticationRequiredError);
    QCOMPARE(client.session.state(), Session::State::ReauthRequired);
    QCOMPARE(client.session.lastError().code(), Error::Code::SessionRejected);
    delete replies.first();
}

// Behaviour 5.
void tst_SessionRequests::singleFlight()
{
    QFETCH(ServerKind, server);
    constexpr int Requests = 200;
    Peer peer(server);
    TESSERA_START_PEER(peer);
    FaultProxy proxy(peer.baseUrl());
    TESSERA_START_PROXY(proxy);
    Client client(proxy.url());
    TESSERA_LOGIN(client.session);
    QCOMPARE(peer.rotations(), 0);

    SessionPrivate::get(&client.session)->expireAccessTokenForTesting();
    const QList<QNetworkReply *> replies = client.get(Requests);
    QTRY_VERIFY_WITH_TIMEOUT(allFinished(replies), 40000);

    int ok = 0;
    for (QNetworkReply *reply : replies) {
        if (reply->error() == QNetworkReply::NoError && status(reply) == 200)
            ++ok;
        else
            qWarning("request failed: %d %s", status(reply), qPrintable(reply->errorString()));
        reply->deleteLater();
    }
    QCOMPARE(ok, Requests);
    // One refresh: at the server (tessera-server: also none answered from the grace
    // window), on the wire and in the session.
    QCOMPARE(peer.rotations(), 1);
    QCOMPARE(peer.graceReissues(), 0);
    QCOMPARE(proxy.requestCount(RefreshPath), 1);
    QCOMPARE(refreshCount(client.session), 1);
    // Every request carried the one refreshed token.
    QSet<QByteArray> tokens;
    for (const RequestInfo &request : proxy.requests()) {
        if (request.path == MePath)
            tokens.insert(request.header("Authorization"));
    }
    QCOMPARE(proxy.requestCount(MePath), Requests);
    QCOMPARE(tokens.size(), 1);
}

QTEST_GUILESS_MAIN(tst_SessionRequests)
#include "tst_session_requests.moc"

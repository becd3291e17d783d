// SPDX-License-Identifier: MIT
// DPoP (RFC 9449, issue 13) in the SimpleJWT profile of Tessera::Session, against the real
// tessera-server run with --dpop required and --dpop allowed (data rows; and --dpop-nonce):
// login at /api/token/, refresh at
// /api/token/refresh/ in another process with the key from the real keyring
// (scripts/with-keyring.sh), GET /api/me/ with a proof, the nonce retry, and what a thief
// holding a copied access or refresh token gets; a session whose key is gone; and, where DPoP
// is only allowed, a session without it that keeps bearer tokens. Django + SimpleJWT has no DPoP,
// so tessera-server only.
#include "sessiontestsupport.h"

#include "dpopsigner_p.h"
#include "thiefsupport.h"

#include <tessera/dpop.h>

#include <QtCore/QTextStream>
#include <QtNetwork/QNetworkAccessManager>
#include <QtNetwork/QNetworkReply>
#include <QtTest/QTest>

using namespace Tessera;
using namespace Tessera::SessionTest;

namespace {

constexpr int WaitMs = 30000;

// `tst_session_dpop --restore-child BASE_URL APP_ID`: restores the stored session of the test
// user in a process of its own (a refresh at /api/token/refresh/) and prints
// "refreshes N bound B jkt THUMBPRINT", or the error.
int restoreChild(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    SessionConfig config(QUrl(QString::fromLocal8Bit(argv[2])), QString::fromLocal8Bit(argv[3]));
    config.setRequestTimeout(std::chrono::seconds(20));
    config.setDpopPolicy(SessionConfig::DpopPolicy::Required);
    Session session(config);
    const Error error = waitFor(session.restore(Test::TestUser), WaitMs);
    QTextStream out(stdout);
    if (error.isError()) {
        out << "error " << error.message() << Qt::endl;
        return 1;
    }
    out << "refreshes " << SessionPrivate::get(&session)->refreshCount() << " bound "
        << (session.isDpopBound() ? 1 : 0) << " jkt " << session.dpopKeyThumbprint() << Qt::endl;
    return 0;
}

// A GET of /api/me/ through the session's authenticated manager: status and body.
std::pair<int, QByteArray> getMe(Session &session, const QUrl &me)
{
    AuthenticatedNetworkAccessManager manager(&session);
    std::unique_ptr<QNetworkReply> reply(manager.get(QNetworkRequest(me)));
    if (!QTest::qWaitFor([&] { return reply->isFinished(); }, WaitMs))
        return {-1, {}};
    return {reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), reply->readAll()};
}

// The error of `future` once it finished (Cancelled when it did not in time).
template<typename T> Error waitForResult(QFuture<T> future)
{
    if (!QTest::qWaitFor([&] { return future.isFinished(); }, WaitMs))
        return {Error::Code::Cancelled, QStringLiteral("timed out")};
    return errorOf(future);
}

// A refresh at /api/token/refresh/ as a thief holding `refresh` sends it: without a proof, or
// with a proof of `key`.
Answer thiefRefresh(const QUrl &baseUrl, const QByteArray &refresh, const Jose::Key *key)
{
    const QUrl url = baseUrl.resolved(QUrl(QStringLiteral("/api/token/refresh/")));
    QList<std::pair<QByteArray, QByteArray>> headers;
    if (key)
        headers.append(
                {"DPoP",
                 Jose::Dpop::createProof(*key, "POST", url, QDateTime::currentSecsSinceEpoch())});
    return plainPost(url, "application/json", "{\"refresh\":\"" + refresh + "\"}", headers);
}

// A DPoP-bound refresh token without its key: refused (400 or 401 with the DPoP challenge).
bool refused(const Answer &answer)
{
    return answer.status == 400 || answer.status == 401;
}

// tessera-server with `--dpop MODE` and `extra`.
PeerOptions serverWith(const QString &mode, QStringList extra = {})
{
    extra.prepend(mode);
    extra.prepend(QStringLiteral("--dpop"));
    return {300, -1, {}, extra};
}

} // namespace

class tst_SessionDpop : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void bindsLoginRefreshAndRequests_data() { serverModes(); }
    void bindsLoginRefreshAndRequests();
    void nonceIsFetchedAtTheTokenEndpointAndTheResource_data() { serverModes(); }
    void nonceIsFetchedAtTheTokenEndpointAndTheResource();
    void missingKeyMeansReauthRequired_data() { serverModes(); }
    void missingKeyMeansReauthRequired();
    void offIsRefusedByARequiringServer();
    void offKeepsBearerTokensWhereDpopIsAllowed();

private:
    // The server's --dpop for each row: a client with DPoP gets bound tokens either way.
    static void serverModes()
    {
        QTest::addColumn<QString>("mode");
        QTest::newRow("required") << QStringLiteral("required");
        QTest::newRow("allowed") << QStringLiteral("allowed");
    }

    QString m_secretServiceProblem;
};

void tst_SessionDpop::initTestCase()
{
    m_secretServiceProblem = secretServiceProblem();
}

void tst_SessionDpop::bindsLoginRefreshAndRequests()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    QFETCH(QString, mode);
    Peer peer(ServerKind::Tessera, serverWith(mode));
    TESSERA_START_PEER(peer);
    SessionConfig config = makeConfig(peer.baseUrl(), QStringLiteral("dpop-") + mode);
    config.setDpopPolicy(SessionConfig::DpopPolicy::Required);
    const QUrl me = peer.baseUrl().resolved(QUrl(QString::fromLatin1(MePath)));

    Session session(config);
    TESSERA_LOGIN(session);
    QVERIFY(session.isDpopBound());
    const QString jkt = session.dpopKeyThumbprint();
    QCOMPARE(jkt.size(), 43);
    // The key is in the keyring beside the refresh token.
    const QString key = config.storageKey(Test::TestUser);
    QCOMPARE(DpopSigner::importKey(Secret(storedSecret(config, key + QStringLiteral("#dpop"))))
                     .thumbprint(),
             jkt);

    // GET /api/me/ through the session: Authorization: DPoP and a proof.
    const auto [status, body] = getMe(session, me);
    QCOMPARE(status, 200);
    QVERIFY(body.contains("alice"));

    // The access token copied out of memory is worth nothing without the key: as Bearer, as
    // DPoP without a proof, with a proof of the thief's own key; the session's key makes it
    // work once, and the same proof replayed is refused.
    QFuture<Secret> held = session.freshAccessToken();
    QVERIFY(!waitForResult(held).isError());
    const QByteArray token = held.takeResult().reveal().toByteArray();
    QCOMPARE(plainGet(me, {{"Authorization", "Bearer " + token}}).status, 401);
    QCOMPARE(plainGet(me, {{"Authorization", "DPoP " + token}}).status, 401);
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    Jose::Dpop::ProofOptions withToken;
    withToken.accessToken = token;
    const Jose::Key thief = Jose::Key::generate(Jose::Algorithm::ES256);
    QCOMPARE(plainGet(me,
                      {{"Authorization", "DPoP " + token},
                       {"DPoP", Jose::Dpop::createProof(thief, "GET", me, now, withToken)}})
                     .status,
             401);
    const Jose::Key &own = SessionPrivate::get(&session)->dpopSignerForTesting()->key();
    const QByteArray proof = Jose::Dpop::createProof(own, "GET", me, now, withToken);
    QCOMPARE(plainGet(me, {{"Authorization", "DPoP " + token}, {"DPoP", proof}}).status, 200);
    QCOMPARE(plainGet(me, {{"Authorization", "DPoP " + token}, {"DPoP", proof}}).status, 401);

    // The refresh token copied out of the keyring, without the key: refused without a proof
    // and with a proof of the thief's key; the family is not revoked for it (next steps).
    const QByteArray stolenRefresh = storedSecret(config, config.storageKey(Test::TestUser));
    QVERIFY(!stolenRefresh.isEmpty());
    QVERIFY(refused(thiefRefresh(peer.baseUrl(), stolenRefresh, nullptr)));
    QVERIFY(refused(thiefRefresh(peer.baseUrl(), stolenRefresh, &thief)));

    // Another process restores the session: a refresh at /api/token/refresh/ with a proof of
    // the same key, read from the keyring.
    const QByteArray before = storedSecret(config, key);
    QProcess child;
    child.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    child.start(QCoreApplication::applicationFilePath(),
                {QStringLiteral("--restore-child"), peer.baseUrl().toString(), config.appId()});
    QVERIFY(child.waitForFinished(WaitMs * 2));
    QCOMPARE(QString::fromUtf8(child.readAllStandardOutput()).trimmed(),
             QStringLiteral("refreshes 1 bound 1 jkt %1").arg(jkt));
    QCOMPARE(child.exitCode(), 0);
    QVERIFY(storedSecret(config, key) != before); // rotated

    // This process spends the rotated refresh token (re-read under the lock) with that key.
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    QFuture<Secret> refreshed = session.freshAccessToken();
    const Error refreshError = waitForResult(refreshed);
    QVERIFY2(!refreshError.isError(), qPrintable(refreshError.message()));
    QVERIFY(session.isDpopBound());
    QCOMPARE(session.dpopKeyThumbprint(), jkt);
    QCOMPARE(getMe(session, me).first, 200);

    QVERIFY(!logout(session).isError());
    QVERIFY(storedSecret(config, key + QStringLiteral("#dpop")).isEmpty());
}

void tst_SessionDpop::nonceIsFetchedAtTheTokenEndpointAndTheResource()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    // Every proof must carry the server's nonce: the first /api/token/ is 400 use_dpop_nonce,
    // retried once with the nonce it brought; likewise a refresh in a new process.
    QFETCH(QString, mode);
    Peer peer(ServerKind::Tessera, serverWith(mode, {QStringLiteral("--dpop-nonce")}));
    TESSERA_START_PEER(peer);
    SessionConfig config = makeConfig(peer.baseUrl(), QStringLiteral("dpop-nonce-") + mode);
    config.setDpopPolicy(SessionConfig::DpopPolicy::Required);
    const QUrl me = peer.baseUrl().resolved(QUrl(QString::fromLatin1(MePath)));

    Session session(config);
    TESSERA_LOGIN(session);
    QVERIFY(session.isDpopBound());
    QCOMPARE(getMe(session, me).first, 200);
    // The nonce challenge was no reason to refresh.
    QCOMPARE(SessionPrivate::get(&session)->refreshCount(), 0);

    Session restored(config);
    const Error error = restore(restored, Test::TestUser);
    QVERIFY2(!error.isError(), qPrintable(error.message()));
    QVERIFY(restored.isDpopBound());
    QCOMPARE(restored.dpopKeyThumbprint(), session.dpopKeyThumbprint());
    QCOMPARE(getMe(restored, me).first, 200);
    QVERIFY(!logout(restored).isError());
}

void tst_SessionDpop::missingKeyMeansReauthRequired()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    QFETCH(QString, mode);
    Peer peer(ServerKind::Tessera, serverWith(mode));
    TESSERA_START_PEER(peer);
    SessionConfig config = makeConfig(peer.baseUrl(), QStringLiteral("dpop-nokey-") + mode);
    config.setDpopPolicy(SessionConfig::DpopPolicy::Required);
    const QString key = config.storageKey(Test::TestUser);
    {
        Session session(config);
        TESSERA_LOGIN(session);
        QVERIFY(session.isDpopBound());
    }
    // The key is gone (deleted, or a keyring cleaner): the stored refresh token is useless,
    // and the session is never continued unbound.
    QVERIFY(removeStoredSecret(config, key + QStringLiteral("#dpop")));
    Session restored(config);
    const Error error = restore(restored, Test::TestUser);
    QCOMPARE(error.code(), Error::Code::SessionRejected);
    QTRY_COMPARE_WITH_TIMEOUT(restored.state(), Session::State::ReauthRequired, WaitMs);
    QVERIFY(!restored.isDpopBound());
    QTRY_VERIFY_WITH_TIMEOUT(storedSecret(config, key).isEmpty(), WaitMs);
}

void tst_SessionDpop::offKeepsBearerTokensWhereDpopIsAllowed()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    Peer peer(ServerKind::Tessera, serverWith(QStringLiteral("allowed")));
    TESSERA_START_PEER(peer);
    SessionConfig config = makeConfig(peer.baseUrl(), QStringLiteral("dpop-allowed-off"));
    config.setDpopPolicy(SessionConfig::DpopPolicy::Off);
    const QUrl me = peer.baseUrl().resolved(QUrl(QString::fromLatin1(MePath)));

    Session session(config);
    TESSERA_LOGIN(session);
    QVERIFY(!session.isDpopBound());
    QVERIFY(session.dpopKeyThumbprint().isEmpty());
    QVERIFY(storedSecret(config, config.storageKey(Test::TestUser) + QStringLiteral("#dpop"))
                    .isEmpty());
    QCOMPARE(getMe(session, me).first, 200);

    // Refreshes as bearer, without a proof.
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    QFuture<Secret> refreshed = session.freshAccessToken();
    const Error refreshError = waitForResult(refreshed);
    QVERIFY2(!refreshError.isError(), qPrintable(refreshError.message()));
    QCOMPARE(SessionPrivate::get(&session)->refreshCount(), 1);
    QVERIFY(!session.isDpopBound());
    // What bearer costs: the copy works for whoever holds it, until it expires.
    const QByteArray token = refreshed.takeResult().reveal().toByteArray();
    QCOMPARE(plainGet(me, {{"Authorization", "Bearer " + token}}).status, 200);
    QVERIFY(!logout(session).isError());
}

void tst_SessionDpop::offIsRefusedByARequiringServer()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    // A client without DPoP cannot log in where the server requires it: a clear, permanent
    // error, nothing stored.
    Peer peer(ServerKind::Tessera,
              {300, -1, {}, {QStringLiteral("--dpop"), QStringLiteral("required")}});
    TESSERA_START_PEER(peer);
    SessionConfig config = makeConfig(peer.baseUrl(), QStringLiteral("dpop-off"));
    config.setDpopPolicy(SessionConfig::DpopPolicy::Off);
    Session session(config);
    const Error error = login(session);
    QVERIFY(error.isError());
    QVERIFY(!error.isTransient());
    QCOMPARE(session.state(), Session::State::SignedOut);
    QVERIFY(storedSecret(config, config.storageKey(Test::TestUser)).isEmpty());
}

int main(int argc, char **argv)
{
    if (argc == 4 && qstrcmp(argv[1], "--restore-child") == 0)
        return restoreChild(argc, argv);
    QCoreApplication app(argc, argv);
    tst_SessionDpop test;
    QTEST_SET_MAIN_SOURCE_PATH
    return QTest::qExec(&test, argc, argv);
}
#include "tst_session_dpop.moc"

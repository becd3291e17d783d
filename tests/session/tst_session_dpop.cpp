// SPDX-License-Identifier: MIT
// DPoP (RFC 9449, issue 13) in the SimpleJWT profile of Tessera::Session, against the real
// tessera-server run with --dpop required (and --dpop-nonce): login at /api/token/, refresh at
// /api/token/refresh/ in another process with the key from the real keyring
// (scripts/with-keyring.sh), GET /api/me/ with a proof, the nonce retry, and what a thief
// holding a copied access token gets. Django + SimpleJWT has no DPoP, so tessera-server only.
#include "sessiontestsupport.h"

#include "dpopsigner_p.h"

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

// The status of a GET of `url` with exactly these headers, outside any session.
int plainGet(const QUrl &url, const QList<std::pair<QByteArray, QByteArray>> &headers)
{
    QNetworkAccessManager plain;
    QNetworkRequest request(url);
    for (const auto &[name, value] : headers)
        request.setRawHeader(name, value);
    std::unique_ptr<QNetworkReply> reply(plain.get(request));
    if (!QTest::qWaitFor([&] { return reply->isFinished(); }, WaitMs))
        return -1;
    return reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
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

// What the real keyring holds under `key` of `config`'s service (empty when nothing).
QByteArray storedSecret(const SessionConfig &config, const QString &key)
{
    const auto store = Platform::createKeychainStore(config.storageService());
    std::optional<QByteArray> value;
    store->read(key, [&value](const Platform::StoreResult &result) {
        value = result.ok() ? QByteArray(result.data.reveal().data(), result.data.size())
                            : QByteArray();
    });
    if (!QTest::qWaitFor([&] { return value.has_value(); }, WaitMs))
        return {};
    return *value;
}

} // namespace

class tst_SessionDpop : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void requiredBindsLoginRefreshAndRequests();
    void nonceIsFetchedAtTheTokenEndpointAndTheResource();
    void offIsRefusedByARequiringServer();

private:
    QString m_secretServiceProblem;
};

void tst_SessionDpop::initTestCase()
{
    m_secretServiceProblem = secretServiceProblem();
}

void tst_SessionDpop::requiredBindsLoginRefreshAndRequests()
{
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    Peer peer(ServerKind::Tessera,
              {300, -1, {}, {QStringLiteral("--dpop"), QStringLiteral("required")}});
    TESSERA_START_PEER(peer);
    SessionConfig config = makeConfig(peer.baseUrl(), QStringLiteral("dpop"));
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
    QCOMPARE(plainGet(me, {{"Authorization", "Bearer " + token}}), 401);
    QCOMPARE(plainGet(me, {{"Authorization", "DPoP " + token}}), 401);
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    Jose::Dpop::ProofOptions withToken;
    withToken.accessToken = token;
    const Jose::Key thief = Jose::Key::generate(Jose::Algorithm::ES256);
    QCOMPARE(plainGet(me,
                      {{"Authorization", "DPoP " + token},
                       {"DPoP", Jose::Dpop::createProof(thief, "GET", me, now, withToken)}}),
             401);
    const Jose::Key &own = SessionPrivate::get(&session)->dpopSignerForTesting()->key();
    const QByteArray proof = Jose::Dpop::createProof(own, "GET", me, now, withToken);
    QCOMPARE(plainGet(me, {{"Authorization", "DPoP " + token}, {"DPoP", proof}}), 200);
    QCOMPARE(plainGet(me, {{"Authorization", "DPoP " + token}, {"DPoP", proof}}), 401);

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
    Peer peer(ServerKind::Tessera,
              {300,
               -1,
               {},
               {QStringLiteral("--dpop"), QStringLiteral("required"),
                QStringLiteral("--dpop-nonce")}});
    TESSERA_START_PEER(peer);
    SessionConfig config = makeConfig(peer.baseUrl(), QStringLiteral("dpop-nonce"));
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

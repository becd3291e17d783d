// SPDX-License-Identifier: MIT
// Logout (issue 3, behaviour 9): revokes server-side, deletes the storage entry
// (the real Secret Service, seen through secret-tool) and wipes memory; with the
// server down it still clears local state and reports RevokeFailed.
// What differs between the servers: tessera-server's logout revokes the whole
// family, its live access tokens included; SimpleJWT blacklists the refresh
// token only, and an access token stays valid until its exp.
#include "sessiontestsupport.h"

#include <QtTest/QTest>

using namespace Tessera;
using namespace Tessera::SessionTest;

class tst_SessionLogout : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void logoutRevokesDeletesWipes_data();
    void logoutRevokesDeletesWipes();
    void logoutWithServerDown_data() { addServerRows(); }
    void logoutWithServerDown();

private:
    QString m_secretServiceProblem;
};

namespace {

// Everything a signed-out session must show: no user, no expiry, no token to be had,
// nothing to refresh with.
void verifyWiped(Session &session, Peer &peer)
{
    QCOMPARE(session.state(), Session::State::SignedOut);
    QVERIFY(session.user().isEmpty());
    QVERIFY(!session.accessExpiresAt().isValid());
    QVERIFY(!session.isBusy());
    QVERIFY(!freshToken(session).has_value());
    const int rotations = peer.isRunning() ? peer.rotations() : 0;
    SessionPrivate::get(&session)->refreshNowForTesting();
    QTest::qWait(300);
    QCOMPARE(session.state(), Session::State::SignedOut);
    if (peer.isRunning())
        QCOMPARE(peer.rotations(), rotations);
}

} // namespace

void tst_SessionLogout::initTestCase()
{
    m_secretServiceProblem = secretServiceProblem();
}

void tst_SessionLogout::logoutRevokesDeletesWipes_data()
{
    QTest::addColumn<ServerKind>("server");
    QTest::addColumn<bool>("accessDiesAtLogout");
    QTest::newRow("tessera: logout revokes the family, the access token dies at once")
            << ServerKind::Tessera << true;
    QTest::newRow("django: logout blacklists the refresh token, the access token lives to exp")
            << ServerKind::Django << false;
}

void tst_SessionLogout::logoutRevokesDeletesWipes()
{
    QFETCH(ServerKind, server);
    QFETCH(bool, accessDiesAtLogout);
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    Peer peer(server);
    TESSERA_START_PEER(peer);
    const SessionConfig config = makeConfig(peer.baseUrl(), QStringLiteral("logout"));
    Session session(config);
    TESSERA_LOGIN(session);
    const QByteArray refresh = keychainRefreshToken(config);
    QVERIFY(!refresh.isEmpty());
    const auto access = freshToken(session);
    QVERIFY(access.has_value());
    Test::HttpClient http(peer.baseUrl());
    TESSERA_EXPECT_STATUS(http.me(QString::fromLatin1(*access)), 200);

    const Error loggedOut = logout(session);
    QVERIFY2(!loggedOut, qPrintable(loggedOut.message()));

    // Local: the storage entry and the account pointer are gone; memory is wiped.
    QString raw;
    QVERIFY2(keychainItems(config.appId(), &raw).isEmpty(), qPrintable(raw));
    verifyWiped(session, peer);
    QCOMPARE(restore(session).code(), Error::Code::NotSignedIn);

    // Server: the refresh token is refused from now on.
    TESSERA_EXPECT_ERROR(http.refresh(QString::fromLatin1(refresh)), 401, "token_not_valid");
    // The access token: tessera-server revoked its family; SimpleJWT cannot.
    TESSERA_EXPECT_STATUS(http.me(QString::fromLatin1(*access)), accessDiesAtLogout ? 401 : 200);
}

void tst_SessionLogout::logoutWithServerDown()
{
    QFETCH(ServerKind, server);
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    Peer peer(server);
    TESSERA_START_PEER(peer);
    const SessionConfig config = makeConfig(peer.baseUrl(), QStringLiteral("logoutdown"));
    Session session(config);
    TESSERA_LOGIN(session);
    const QByteArray refresh = keychainRefreshToken(config);
    QVERIFY(!refresh.isEmpty());

    QVERIFY(peer.stop());
    const Error loggedOut = logout(session);
    QCOMPARE(loggedOut.code(), Error::Code::RevokeFailed);
    QCOMPARE(session.lastError().code(), Error::Code::RevokeFailed);
    // Local state is cleared all the same.
    QString raw;
    QVERIFY2(keychainItems(config.appId(), &raw).isEmpty(), qPrintable(raw));
    verifyWiped(session, peer);

    // RevokeFailed is the truth: the server never heard of the logout, and the refresh
    // token (which the app no longer has) is still alive there.
    TESSERA_START_PEER(peer);
    Test::HttpClient http(peer.baseUrl());
    TESSERA_EXPECT_STATUS(http.refresh(QString::fromLatin1(refresh)), 200);
}

QTEST_GUILESS_MAIN(tst_SessionLogout)
#include "tst_session_logout.moc"

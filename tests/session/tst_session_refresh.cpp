// SPDX-License-Identifier: MIT
// Proactive refresh (issue 3, behaviour 3): the session refreshes before the
// access token's `exp`, also when the server's clock is two minutes ahead or
// behind. The servers run under libfaketime (only their wall clock is off).
// Which skew measurement each row exercises:
// - tessera-server sends no Date header: the SDK measures skew from the token's `iat`;
// - Django's WSGI server sends Date: the SDK measures skew from the Date header.
// Each row asserts that the header situation is what its name says.
#include "sessiontestsupport.h"

#include <tessera/authenticatednetworkaccessmanager.h>

#include <QtCore/QDateTime>
#include <QtCore/QLoggingCategory>
#include <QtCore/QRegularExpression>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

using namespace Tessera;
using namespace Tessera::SessionTest;

class tst_SessionRefresh : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void proactiveRefreshWithSkew_data();
    void proactiveRefreshWithSkew();
    void shortLivedAccessTokens_data() { addServerRows(); }
    void shortLivedAccessTokens();
};

namespace {

QStringList g_log;
QtMessageHandler g_previous = nullptr;

void captureMessages(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    if (context.category && QByteArrayView(context.category).startsWith("tessera."))
        g_log << QString::fromLatin1(context.category) + QStringLiteral(": ") + message;
    if (g_previous && type >= QtWarningMsg)
        g_previous(type, context, message);
}

} // namespace

void tst_SessionRefresh::initTestCase()
{
    QVERIFY2(!Peer::libFakeTimePath().isEmpty(),
             "libfaketime is not installed (Debian package libfaketime)");
    g_previous = qInstallMessageHandler(captureMessages);
    QLoggingCategory::setFilterRules(QStringLiteral("tessera.session.info=true"));
}

void tst_SessionRefresh::proactiveRefreshWithSkew_data()
{
    QTest::addColumn<ServerKind>("server");
    QTest::addColumn<QString>("fakeTime");
    QTest::addColumn<int>("skewSeconds");
    QTest::addColumn<bool>("sendsDate");
    QTest::newRow("tessera: server clock +2m, skew from iat (no Date header)")
            << ServerKind::Tessera << QStringLiteral("+2m") << 120 << false;
    QTest::newRow("tessera: server clock -2m, skew from iat (no Date header)")
            << ServerKind::Tessera << QStringLiteral("-2m") << -120 << false;
    QTest::newRow("django: server clock +2m, skew from the Date header")
            << ServerKind::Django << QStringLiteral("+2m") << 120 << true;
    QTest::newRow("django: server clock -2m, skew from the Date header")
            << ServerKind::Django << QStringLiteral("-2m") << -120 << true;
}

void tst_SessionRefresh::proactiveRefreshWithSkew()
{
    QFETCH(ServerKind, server);
    QFETCH(QString, fakeTime);
    QFETCH(int, skewSeconds);
    QFETCH(bool, sendsDate);
    constexpr int Ttl = 6; // seconds; lead = min(max(60 s, 20 %), 50 %) = 3 s

    Peer peer(server, {Ttl, -1, fakeTime, {}});
    TESSERA_START_PEER(peer);

    // Which measurement the SDK can use here: the Date header, or else iat.
    Test::HttpClient http(peer.baseUrl());
    const Test::HttpResponse probe = http.login(Test::TestUser, Test::TestPassword);
    TESSERA_EXPECT_STATUS(probe, 200);
    QCOMPARE(probe.hasHeader("Date"), sendsDate);
    const qint64 iat = Test::jwtClaims(probe.str(QStringLiteral("access")))
                               .value(QStringLiteral("iat"))
                               .toInteger();
    const qint64 serverAhead = iat - QDateTime::currentSecsSinceEpoch();
    QVERIFY2(qAbs(serverAhead - skewSeconds) <= 2,
             qPrintable(QStringLiteral("the server's clock is off by %1 s").arg(serverAhead)));

    SessionConfig config = makeConfig(peer.baseUrl(), QStringLiteral("refresh"));
    config.setStoragePolicy(SessionConfig::StoragePolicy::MemoryOnly);
    Session session(config);
    g_log.clear();
    const qint64 requested = QDateTime::currentMSecsSinceEpoch();
    TESSERA_LOGIN(session);
    const qint64 signedIn = QDateTime::currentMSecsSinceEpoch();

    // The expiry in local time is login + TTL, not two minutes off.
    const qint64 expiresAt = session.accessExpiresAt().toMSecsSinceEpoch();
    QVERIFY2(expiresAt >= requested + Ttl * 1000 - 1500
                     && expiresAt <= signedIn + Ttl * 1000 + 1500,
             qPrintable(QStringLiteral("access expires %1 ms after login, expected about %2")
                                .arg(expiresAt - requested)
                                .arg(Ttl * 1000)));
    const QStringList skewLines =
            g_log.filter(QRegularExpression(QStringLiteral("server clock differs by")));
    QCOMPARE(skewLines.size(), 1);
    const auto measured =
            QRegularExpression(QStringLiteral("differs by (-?\\d+) s")).match(skewLines.first());
    QVERIFY2(measured.hasMatch() && qAbs(measured.captured(1).toInt() - skewSeconds) <= 2,
             qPrintable(skewLines.first()));

    // No refresh early (a server clock behind must not make every token look expired) ...
    QTest::qWait(1500);
    QCOMPARE(refreshCount(session), 0);
    // ... and one before exp (a server clock ahead must not make it late).
    QTRY_COMPARE_WITH_TIMEOUT(refreshCount(session), 1, (Ttl + 2) * 1000);
    const qint64 refreshedAfter = QDateTime::currentMSecsSinceEpoch() - requested;
    QVERIFY2(refreshedAfter < Ttl * 1000,
             qPrintable(QStringLiteral("refreshed %1 ms after login; the token lived %2 s")
                                .arg(refreshedAfter)
                                .arg(Ttl)));
    QCOMPARE(session.state(), Session::State::SignedIn);
    QVERIFY(!session.lastError());

    // The refreshed token's expiry is measured the same way: refresh time + TTL in local
    // time. (SimpleJWT 5.2.2 copies the refresh token's `iat` into the access token it
    // mints on refresh, so there `iat` is stale and only the Date header tells the
    // server's time.)
    const qint64 refreshedExpiry = session.accessExpiresAt().toMSecsSinceEpoch();
    const qint64 refreshedAt = requested + refreshedAfter;
    QVERIFY2(qAbs(refreshedExpiry - (refreshedAt + Ttl * 1000)) <= 1500,
             qPrintable(QStringLiteral("the refreshed token expires %1 ms after the refresh, "
                                       "expected about %2")
                                .arg(refreshedExpiry - refreshedAt)
                                .arg(Ttl * 1000)));
    const QStringList allSkewLines =
            g_log.filter(QRegularExpression(QStringLiteral("server clock differs by")));
    for (const QString &line : allSkewLines) {
        const auto match = QRegularExpression(QStringLiteral("differs by (-?\\d+) s")).match(line);
        QVERIFY2(match.hasMatch() && qAbs(match.captured(1).toInt() - skewSeconds) <= 2,
                 qPrintable(allSkewLines.join(u'\n')));
    }

    // The refreshed token is good at the server.
    AuthenticatedNetworkAccessManager network(&session);
    QCOMPARE(getStatus(network, config.endpoint(QString::fromLatin1(MePath)), 10000), 200);
    QCOMPARE(refreshCount(session), 1);
    QCOMPARE(peer.rotations(), 1);
}

// A server issuing 2-second access tokens: sign-in works (a token lives less than the old
// 2 s floor on arrival, since exp has whole-second precision), the session keeps refreshing
// ahead of expiry, and never faster than the floor allows (MinUsableLifetimeMs / 2 apart).
void tst_SessionRefresh::shortLivedAccessTokens()
{
    QFETCH(ServerKind, server);
    constexpr int Ttl = 2;
    constexpr int WatchMs = 6000;
    Peer peer(server, {Ttl, -1, {}, {}});
    TESSERA_START_PEER(peer);
    const SessionConfig config = makeConfig(peer.baseUrl(), QStringLiteral("shortlived"));
    Session session(config);
    SessionPrivate::get(&session)->setStoreForTesting(std::make_unique<TestStore>());
    QSignalSpy errors(&session, &Session::errorOccurred);
    TESSERA_LOGIN(session);

    QTest::qWait(WatchMs);
    const int refreshes = refreshCount(session);
    QVERIFY2(refreshes >= WatchMs / (Ttl * 1000),
             qPrintable(QStringLiteral("%1 refreshes in %2 ms").arg(refreshes).arg(WatchMs)));
    QVERIFY2(refreshes <= WatchMs / (MinUsableLifetimeMs / 2) + 1,
             qPrintable(QStringLiteral("%1 refreshes in %2 ms: faster than the floor allows")
                                .arg(refreshes)
                                .arg(WatchMs)));
    QCOMPARE(errors.count(), 0);
    QVERIFY2(!session.lastError(), qPrintable(session.lastError().message()));

    // The token in hand is good at the server.
    AuthenticatedNetworkAccessManager network(&session);
    QCOMPARE(getStatus(network, config.endpoint(QString::fromLatin1(MePath)), 10000), 200);
    QVERIFY(session.state() == Session::State::SignedIn
            || session.state() == Session::State::Refreshing);
}

QTEST_GUILESS_MAIN(tst_SessionRefresh)
#include "tst_session_refresh.moc"

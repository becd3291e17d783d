// SPDX-License-Identifier: MIT
// Where a Session keeps its tokens (issue 3, behaviours 1, 2 and 11):
// - login puts the refresh token in the real Secret Service (seen through
//   libsecret's secret-tool) and nowhere else; the access token and the
//   password are written nowhere;
// - restore() in a fresh process signs in from storage alone;
// - without secure storage (no D-Bus, no Secret Service, a locked collection)
//   login fails with a typed error and writes nothing; memory-only mode works,
//   but only when chosen.
#include "sessiontestsupport.h"

#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QTemporaryDir>
#include <QtTest/QTest>

using namespace Tessera;
using namespace Tessera::SessionTest;

class tst_SessionStorage : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void loginStoresOnlyInSecretService_data() { addServerRows(); }
    void loginStoresOnlyInSecretService();
    void restoreInFreshProcess_data() { addServerRows(); }
    void restoreInFreshProcess();
    void storageUnavailable_data();
    void storageUnavailable();
    void memoryOnlyOnlyWhenChosen();

private:
    QString m_secretServiceProblem;
};

namespace {

QList<QByteArray> needlesFor(const QList<QByteArray> &secrets)
{
    // The value itself, its base64 form (how QtKeychain hands binary data to libsecret),
    // and for JWTs the signature segment alone.
    QList<QByteArray> needles;
    for (const QByteArray &secret : secrets) {
        needles << secret << secret.toBase64();
        const QList<QByteArray> segments = secret.split('.');
        if (segments.size() == 3 && segments.at(2).size() >= 20)
            needles << segments.at(2);
    }
    return needles;
}

} // namespace

void tst_SessionStorage::initTestCase()
{
    m_secretServiceProblem = secretServiceProblem();
    QVERIFY2(QFileInfo(probePath()).isExecutable(), qPrintable(probePath()));
}

// Behaviour 1.
void tst_SessionStorage::loginStoresOnlyInSecretService()
{
    QFETCH(ServerKind, server);
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    const QString home = QDir::homePath();
    const QString runtimeDir = qEnvironmentVariable("XDG_RUNTIME_DIR");
    QVERIFY2(!home.isEmpty() && QFileInfo(home).isWritable(), qPrintable(home));

    Peer peer(server);
    TESSERA_START_PEER(peer);
    const SessionConfig config = makeConfig(peer.baseUrl(), QStringLiteral("storage"));
    QCOMPARE(config.storagePolicy(), SessionConfig::StoragePolicy::SecureStorage);
    Session session(config);
    QCOMPARE(SessionPrivate::get(&session)->store()->backendName(), QStringLiteral("keychain"));

    const Error loggedIn = login(session);
    QVERIFY2(!loggedIn, qPrintable(loggedIn.message()));
    QCOMPARE(session.state(), Session::State::SignedIn);
    const auto access1 = freshToken(session);
    QVERIFY(access1.has_value());

    // The Secret Service holds exactly two items for this app: the refresh token under the
    // account's storage key, and the account pointer (a user name, no token).
    QString raw;
    QList<SecretItem> items = keychainItems(config.appId(), &raw);
    QCOMPARE(items.size(), 2);
    QHash<QString, QByteArray> byKey;
    for (const SecretItem &item : items)
        byKey.insert(item.attributes.value(QStringLiteral("user")), item.secret);
    const QString tokenKey = config.storageKey(TestUser);
    QVERIFY2(byKey.contains(tokenKey), qPrintable(raw));
    const QByteArray refresh1 = byKey.value(tokenKey);
    QVERIFY2(refresh1.size() >= 32, qPrintable(raw));
    QCOMPARE(byKey.value(config.storageKey(QString()) + QStringLiteral("#account")),
             TestUser.toUtf8());
    QVERIFY2(!Test::containsSecret(raw.toUtf8(), QString::fromLatin1(*access1)),
             "the access token is in the keyring");

    // A refresh rotates: the keyring follows, still two items.
    SessionPrivate::get(&session)->expireAccessTokenForTesting();
    const auto access2 = freshToken(session);
    QVERIFY(access2.has_value());
    QVERIFY(*access2 != *access1);
    items = keychainItems(config.appId(), &raw);
    QCOMPARE(items.size(), 2);
    QByteArray refresh2;
    for (const SecretItem &item : items) {
        if (item.attributes.value(QStringLiteral("user")) == tokenKey)
            refresh2 = item.secret;
    }
    QVERIFY2(!refresh2.isEmpty() && refresh2 != refresh1, qPrintable(raw));
    QVERIFY2(!Test::containsSecret(raw.toUtf8(), QString::fromLatin1(*access2)),
             "the access token is in the keyring");

    // Nowhere else: no file under the isolated HOME (which also holds the keyring's own,
    // encrypted file) or the runtime directory contains a token or the password, in clear
    // or base64.
    const QList<QByteArray> needles =
            needlesFor({refresh1, refresh2, *access1, *access2, TestPassword.toUtf8()});
    QStringList hits = filesContaining(home, needles);
    if (!runtimeDir.isEmpty())
        hits += filesContaining(runtimeDir, needles);
    QVERIFY2(hits.isEmpty(), qPrintable(hits.join(QLatin1Char(' '))));

    // What the keyring holds is the live refresh token of this login: the server accepts
    // it (and this revokes the test's session server-side).
    Test::HttpClient http(peer.baseUrl());
    TESSERA_EXPECT_STATUS(http.blacklist(QString::fromLatin1(refresh2)), 200);
}

// Behaviour 2.
void tst_SessionStorage::restoreInFreshProcess()
{
    QFETCH(ServerKind, server);
    TESSERA_REQUIRE_SECRET_SERVICE(m_secretServiceProblem);
    Peer peer(server);
    TESSERA_START_PEER(peer);
    const QString appId = uniqueAppId(QStringLiteral("restore"));

    // Process 1 signs in and exits.
    const ProbeRun first = runProbe(probeArguments(QStringLiteral("login"), peer.baseUrl(), appId),
                                    TestPassword.toUtf8() + '\n');
    QVERIFY2(first.result() == QLatin1String("result ok"), qPrintable(first.describe()));
    const int rotationsAfterLogin = peer.rotations();

    // Process 2 knows no password (stdin closed) and no user name: the account pointer
    // and the refresh token in secure storage are all it has.
    const QStringList getArgs{QStringLiteral("get"), QStringLiteral("--server"),
                              peer.baseUrl().toString(), QStringLiteral("--app-id"), appId};
    const ProbeRun second = runProbe(getArgs);
    QVERIFY2(second.exitCode == 0, qPrintable(second.describe()));
    QVERIFY2(second.result() == QLatin1String("result ok"), qPrintable(second.describe()));
    QVERIFY2(second.hasLine(QStringLiteral("state SignedIn")), qPrintable(second.describe()));
    QVERIFY2(second.hasLineStartingWith(QStringLiteral("http 200 ")),
             qPrintable(second.describe()));
    QVERIFY2(second.lines.filter(QStringLiteral("\"username\":\"alice\"")).size() == 1,
             qPrintable(second.describe()));
    // It signed in by one refresh (restore), not by a login.
    QCOMPARE(peer.rotations(), rotationsAfterLogin + 1);

    // And a third process, from what the second one stored after rotating.
    const ProbeRun third =
            runProbe(probeArguments(QStringLiteral("restore"), peer.baseUrl(), appId));
    QVERIFY2(third.exitCode == 0 && third.result() == QLatin1String("result ok"),
             qPrintable(third.describe()));

    // Another app id (another app on the same server and account) has nothing to restore.
    const ProbeRun other = runProbe(probeArguments(QStringLiteral("restore"), peer.baseUrl(),
                                                   uniqueAppId(QStringLiteral("other"))));
    QVERIFY2(other.result() == QLatin1String("result error NotSignedIn fatal"),
             qPrintable(other.describe()));
}

// Behaviour 11.
void tst_SessionStorage::storageUnavailable_data()
{
    QTest::addColumn<QString>("setup");
    QTest::addColumn<QString>("expected");
    QTest::newRow("no D-Bus session (socket missing)")
            << QStringLiteral("no-bus") << QStringLiteral("result error StorageUnavailable fatal");
    QTest::newRow("no D-Bus session (nothing set)")
            << QStringLiteral("no-bus-unset")
            << QStringLiteral("result error StorageUnavailable fatal");
    QTest::newRow("no Secret Service on the bus")
            << QStringLiteral("no-secret-service")
            << QStringLiteral("result error StorageUnavailable fatal");
    QTest::newRow("locked collection")
            << QStringLiteral("locked") << QStringLiteral("result error StorageLocked transient");
}

void tst_SessionStorage::storageUnavailable()
{
    QFETCH(QString, setup);
    QFETCH(QString, expected);
    Peer peer(ServerKind::Tessera);
    TESSERA_START_PEER(peer);
    QTemporaryDir home, runtime, scratch;
    QVERIFY(home.isValid() && runtime.isValid() && scratch.isValid());
    QProcessEnvironment env = isolatedEnvironment(home.path(), runtime.path());
    const QString appId = uniqueAppId(QStringLiteral("unavailable"));
    const QStringList probe = QStringList{probePath()}
            + probeArguments(QStringLiteral("login"), peer.baseUrl(), appId);

    QString program;
    QStringList arguments;
    if (setup == QLatin1String("no-bus")) {
        env.insert(QStringLiteral("DBUS_SESSION_BUS_ADDRESS"),
                   QStringLiteral("unix:path=/nonexistent"));
        program = probe.first();
        arguments = probe.mid(1);
    } else if (setup == QLatin1String("no-bus-unset")) {
        program = probe.first();
        arguments = probe.mid(1);
    } else if (setup == QLatin1String("no-secret-service")) {
        program = QStringLiteral("dbus-run-session");
        arguments = bareSessionBusArguments(scratch.path(), probe);
        QVERIFY(!arguments.isEmpty());
    } else {
        // A real gnome-keyring with an unlocked login collection, then locked over D-Bus
        // (Secret Service Lock). With no display the unlock prompt cannot be shown.
        env.insert(QStringLiteral("KEYRING_PASSWORD"), QStringLiteral("tessera-locked"));
        QStringList quoted;
        for (const QString &word : probe)
            quoted << u'\'' + word + u'\'';
        const QString script = QStringLiteral(R"sh(
printf %s "$KEYRING_PASSWORD" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
  org.freedesktop.Secret.Service.Lock array:objpath:/org/freedesktop/secrets/collection/login >/dev/null
exec %1
)sh")
                                       .arg(quoted.join(u' '));
        program = QStringLiteral("dbus-run-session");
        arguments = {QStringLiteral("--"), QStringLiteral("bash"), QStringLiteral("-c"), script};
    }

    QProcess process;
    process.setProcessEnvironment(env);
    process.start(program, arguments);
    QVERIFY2(process.waitForStarted(10000), qPrintable(process.errorString()));
    process.write(TestPassword.toUtf8() + '\n');
    process.closeWriteChannel();
    const ProbeRun run = collect(process, 30000);
    QVERIFY2(run.finished, qPrintable(run.describe()));
    QVERIFY2(run.result() == expected, qPrintable(run.describe()));
    QVERIFY2(!run.hasLine(QStringLiteral("state SignedIn")), qPrintable(run.describe()));

    // Nothing written anywhere: no plaintext fallback, no cache, no lock file. With a real
    // (locked) keyring only the keyring's own files exist.
    for (const QString &dir : {home.path(), runtime.path()}) {
        QStringList entries = entriesBelow(dir);
        if (setup == QLatin1String("locked")) {
            entries.removeIf([](const QString &entry) {
                return entry == QLatin1String(".local") || entry == QLatin1String(".local/share")
                        || entry.startsWith(QLatin1String(".local/share/keyrings"))
                        || entry.startsWith(QLatin1String("keyring")) // the daemon's sockets
                        || entry.startsWith(QLatin1String("dbus-1")); // the bus's service dir
            });
        }
        QVERIFY2(entries.isEmpty(), qPrintable(dir + QStringLiteral(": ") + entries.join(u' ')));
    }
}

// Behaviour 11, second half.
void tst_SessionStorage::memoryOnlyOnlyWhenChosen()
{
    Peer peer(ServerKind::Tessera);
    TESSERA_START_PEER(peer);
    QTemporaryDir home, runtime;
    QVERIFY(home.isValid() && runtime.isValid());
    QProcessEnvironment env = isolatedEnvironment(home.path(), runtime.path());
    env.insert(QStringLiteral("DBUS_SESSION_BUS_ADDRESS"),
               QStringLiteral("unix:path=/nonexistent"));
    const QString appId = uniqueAppId(QStringLiteral("memory"));

    // Not chosen: no silent fallback (the same environment as the first row above).
    const ProbeRun refused =
            runProbe(probeArguments(QStringLiteral("login"), peer.baseUrl(), appId),
                     TestPassword.toUtf8() + '\n', env);
    QVERIFY2(refused.result() == QLatin1String("result error StorageUnavailable fatal"),
             qPrintable(refused.describe()));

    // Chosen: the same login works without any storage, and nothing is written.
    const ProbeRun chosen = runProbe(probeArguments(QStringLiteral("login"), peer.baseUrl(), appId,
                                                    {QStringLiteral("--memory-only")}),
                                     TestPassword.toUtf8() + '\n', env);
    QVERIFY2(chosen.result() == QLatin1String("result ok"), qPrintable(chosen.describe()));
    QVERIFY2(chosen.hasLine(QStringLiteral("state SignedIn")), qPrintable(chosen.describe()));
    // The session ends with the process.
    const ProbeRun restored = runProbe(probeArguments(QStringLiteral("restore"), peer.baseUrl(),
                                                      appId, {QStringLiteral("--memory-only")}),
                                       {}, env);
    QVERIFY2(restored.result() == QLatin1String("result error NotSignedIn fatal"),
             qPrintable(restored.describe()));
    for (const QString &dir : {home.path(), runtime.path()}) {
        const QStringList entries = entriesBelow(dir);
        QVERIFY2(entries.isEmpty(), qPrintable(dir + QStringLiteral(": ") + entries.join(u' ')));
    }

    // In process, with a working Secret Service at hand, memory-only never touches it.
    if (m_secretServiceProblem.isEmpty()) {
        SessionConfig config = makeConfig(peer.baseUrl(), QStringLiteral("memory"));
        config.setStoragePolicy(SessionConfig::StoragePolicy::MemoryOnly);
        Session session(config);
        QCOMPARE(SessionPrivate::get(&session)->store()->backendName(), QStringLiteral("memory"));
        TESSERA_LOGIN(session);
        SessionPrivate::get(&session)->expireAccessTokenForTesting();
        QVERIFY(freshToken(session).has_value());
        QString raw;
        QVERIFY2(keychainItems(config.appId(), &raw).isEmpty(), qPrintable(raw));
    }
}

QTEST_GUILESS_MAIN(tst_SessionStorage)
#include "tst_session_storage.moc"

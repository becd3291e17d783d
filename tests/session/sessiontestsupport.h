// SPDX-License-Identifier: MIT
// Support for the behaviour tests of Tessera::Session (tests/session, tests/security): the
// two real servers behind one interface, the fault proxy in front of them, a controllable
// SecureStore and a session that uses it, the probe app as a child process, the real
// Secret Service through secret-tool, and small waits around the asynchronous Session API.
// The shared test support (Tessera::Test: tests/common, tests/proxy) is in scope too.
#pragma once

#include "djangopeer.h"
#include "faultproxy.h"
#include "keyringtest.h"
#include "serverprocess.h"
#include "testsupport.h"

#include "securestore_p.h"
#include "session_p.h"

#include <tessera/authenticatednetworkaccessmanager.h>
#include <tessera/session.h>

#include <QtCore/QHash>
#include <QtCore/QProcess>
#include <QtCore/QProcessEnvironment>
#include <QtCore/QStringList>
#include <QtCore/QUrl>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

namespace Tessera::SessionTest {

using namespace Tessera::Test;

// Paths of the API, as the fault proxy sees them.
inline const QByteArray ObtainPath = "/api/token/";
inline const QByteArray RefreshPath = "/api/token/refresh/";
inline const QByteArray MePath = "/api/me/";

// --- the two real servers ------------------------------------------------------

enum class ServerKind { Tessera, Django };

struct PeerOptions
{
    int accessTtl = 300;
    int reuseGrace = -1;   // tessera-server --reuse-grace; -1 keeps its default (10 s)
    QString fakeTime;      // FAKETIME for libfaketime, e.g. "+2m"; empty: the real clock
    QStringList extraArgs; // tessera-server only (e.g. --tls-cert/--tls-key)
};

// tessera-server or the Django + SimpleJWT peer, with the test user
// (Test::TestUser / Test::TestPassword) created.
class Peer
{
public:
    Peer(ServerKind kind, PeerOptions options = {});
    ~Peer();

    static QString libFakeTimePath();

    bool start();
    bool stop();
    void kill();
    bool isRunning() const;
    QString errorString() const { return m_error; }

    ServerKind kind() const { return m_kind; }
    QUrl baseUrl() const;

    // Server-side evidence, read from the server itself:
    // refreshes that rotated a token. tessera-server: its debug log line
    // "refresh rotated in family" (tessera.server.auth.debug); Django: rows of
    // BlacklistedToken (every rotation blacklists the spent token; logouts add one too;
    // SimpleJWT 5.2.2 accepts concurrent refreshes of one token, which this counts once,
    // so tests that race also count refresh requests on the wire).
    int rotations();
    // tessera-server only: "current token returned again" (grace window) and
    // "reuse detected" (family revoked) log lines; 0 for Django.
    int graceReissues();
    int reuseDetections();
    QByteArray log();

    Test::ServerProcess *tessera() { return m_tessera.get(); }
    Test::DjangoPeer *django() { return m_django.get(); }

private:
    Test::ListeningProcess &process();
    const Test::ListeningProcess &process() const;

    ServerKind m_kind;
    PeerOptions m_options;
    std::unique_ptr<Test::ServerProcess> m_tessera;
    std::unique_ptr<Test::DjangoPeer> m_django;
    QString m_error;
};

// QTest rows "tessera" and "django" with a ServerKind column named "server".
void addServerRows();

#define TESSERA_START_PEER(peer) QVERIFY2((peer).start(), qPrintable((peer).errorString()))
// A FaultProxy listening on loopback (declared with the server's URL: FaultProxy proxy(url)).
#define TESSERA_START_PROXY(proxy) QVERIFY2((proxy).listen(), qPrintable((proxy).errorString()))

// --- a SecureStore that tests control --------------------------------------------

// An in-memory store whose writes can be held (until releaseWrites()) or made to fail,
// injected with SessionPrivate::setStoreForTesting(). Completions are asynchronous, as the
// SecureStore contract requires.
class TestStore final : public Platform::SecureStore
{
    Q_OBJECT
public:
    using Status = Platform::StoreResult::Status;

    TestStore();
    ~TestStore() override;

    void read(const QString &key, Completion done) override;
    void write(const QString &key, const Secret &secret, Completion done) override;
    void remove(const QString &key, Completion done) override;
    QString backendName() const override { return QStringLiteral("test"); }

    // Writes wait until releaseWrites() (then complete in order).
    void setHoldWrites(bool hold) { m_holdWrites = hold; }
    void releaseWrites();
    int heldWrites() const { return int(m_held.size()); }
    // Writes fail with this status (Ok: they succeed) and store nothing.
    void setWriteStatus(Status status) { m_writeStatus = status; }

    bool contains(const QString &key) const { return m_entries.contains(key); }
    // Test inspection: the stored bytes in the clear.
    QByteArray value(const QString &key) const { return m_entries.value(key); }
    void put(const QString &key, const QByteArray &value) { m_entries.insert(key, value); }
    // "write <key>", "write-done <key> <status>", "read <key>", "remove <key>", in order.
    QStringList events() const { return m_events; }

Q_SIGNALS:
    void writeRequested(const QString &key);

private:
    struct Held
    {
        QString key;
        QByteArray secret;
        Completion done;
    };
    void completeWrite(Held held);

    QHash<QString, QByteArray> m_entries;
    QList<Held> m_held;
    bool m_holdWrites = false;
    Status m_writeStatus = Status::Ok;
    QStringList m_events;
};

// --- a session under test -------------------------------------------------------

// A Session whose refresh token lives in a TestStore the test reads and changes (the
// storage path with its cross-process lock, without the keyring), with what it reported
// through errorOccurred (and when) and every state it went through.
struct TestClient
{
    explicit TestClient(const QUrl &url,
                        std::chrono::milliseconds requestTimeout = std::chrono::seconds(10));

    // The storage key of the test user's refresh token, and what is stored under it.
    QString key() const { return config.storageKey(Test::TestUser); }
    QByteArray storedToken() const { return store->value(key()); }

    SessionConfig config;
    TestStore *store; // owned by the session
    std::unique_ptr<Session> session;
    QList<Error> errors;      // errorOccurred
    QList<qint64> errorTimes; // when each came (ms since the epoch)
    QList<Session::State> states;
};

// --- the Session API, synchronously -------------------------------------------

// A config for `url` with an app id unique to this run (so tests never share
// keychain entries or lock files).
SessionConfig makeConfig(const QUrl &url, const QString &appName);
QString uniqueAppId(const QString &appName);

// Waits for an operation's future and returns its error (errorOf()). A timeout gives
// Error::Code::Cancelled with the message "timed out".
Error waitFor(QFuture<void> future, int timeoutMs = 20000);
Error login(Session &session, const QString &user = Test::TestUser,
            const QString &password = Test::TestPassword);
Error restore(Session &session, const QString &user = QString());
Error logout(Session &session);

// login() as the test user, or the test fails with the reason.
#define TESSERA_LOGIN(session) \
    do { \
        const ::Tessera::Error tessera_login_error_ = ::Tessera::SessionTest::login(session); \
        QVERIFY2(!tessera_login_error_, qPrintable(tessera_login_error_.message())); \
    } while (false)

// Session::freshAccessToken(), waited for. nullopt when it failed; `error` (when given)
// then says why.
std::optional<QByteArray> freshToken(Session &session, int timeoutMs = 20000,
                                     Error *error = nullptr);
// The refreshes that brought a new access token (the private counter).
int refreshCount(Session &session);

// A GET through `network`, waited for: its HTTP status, or -1 when it did not finish in time.
int getStatus(AuthenticatedNetworkAccessManager &network, const QUrl &url, int timeoutMs = 15000);

// One read/write/remove on a store, waited for.
Platform::StoreResult storeRead(Platform::SecureStore *store, const QString &key);
Platform::StoreResult storeWrite(Platform::SecureStore *store, const QString &key,
                                 const QByteArray &value);
// The refresh token the session's own store holds for the session's user.
Platform::StoreResult storedRefreshToken(Session &session, const QString &user = Test::TestUser);

// --- the probe app -----------------------------------------------------------

QString probePath();

struct ProbeRun
{
    bool finished = false; // exited by itself before the timeout
    int exitCode = -1;     // -1 when it crashed or was killed
    QStringList lines;     // stdout
    QString stdErr;
    QString result() const; // the "result ..." line, or empty
    bool hasLine(const QString &line) const { return lines.contains(line); }
    bool hasLineStartingWith(const QString &prefix) const;
    QString describe() const;
};

// tessera-sdk-probe COMMAND --server URL --app-id ID [--user alice] EXTRA...
QStringList probeArguments(const QString &command, const QUrl &server, const QString &appId,
                           const QStringList &extra = {});
ProbeRun runProbe(const QStringList &arguments, const QByteArray &stdinData = {},
                  const QProcessEnvironment &environment = QProcessEnvironment::systemEnvironment(),
                  int timeoutMs = 30000);
// A probe that keeps running while the test does other things; read it with collect().
std::unique_ptr<QProcess>
startProbe(const QStringList &arguments,
           const QProcessEnvironment &environment = QProcessEnvironment::systemEnvironment());
ProbeRun collect(QProcess &process, int timeoutMs = 30000);

// --- the real Secret Service and files ----------------------------------------

// Why this process cannot use the Secret Service (tests/common/keyringtest.h).
using Test::secretServiceProblem;

struct SecretItem
{
    QHash<QString, QString> attributes; // "user", "server", "type", ...
    QByteArray secret;                  // decoded (QtKeychain stores binary data as base64)
    QString rawSecret;                  // as secret-tool printed it
};
// `secret-tool search --all ATTR VALUE ...` through libsecret.
QList<SecretItem> secretToolSearch(const QStringList &attributes, QString *raw = nullptr);
// The items QtKeychain stores for a Session of `appId` (service "tessera:<appId>").
QList<SecretItem> keychainItems(const QString &appId, QString *raw = nullptr);
// The refresh token the keychain holds for the test user of `config`; empty when none.
QByteArray keychainRefreshToken(const SessionConfig &config);

// Every regular file below `dir` (recursively, hidden included) whose bytes contain one
// of `needles`: "relative/path: needle#i".
QStringList filesContaining(const QString &dir, const QList<QByteArray> &needles);
} // namespace Tessera::SessionTest

Q_DECLARE_METATYPE(Tessera::SessionTest::ServerKind)

// SPDX-License-Identifier: MIT
// tessera-soak: load and soak of the real tessera-server (issue 5).
//
// Starts tessera-server on 127.0.0.1:0 with a temporary database (ServerProcess),
// drives it from N persistent keep-alive connections (raw HTTP/1.1) for D
// seconds, SIGKILLs it while the traffic still runs, restarts it on the same
// database and checks every refresh chain. Exit status 0 only if every check
// passes; the summary on stdout never contains a token or password.
//
// Choices (see tests/soak/CMakeLists.txt for the ctest entry):
// - Mix by request count: 10 % login, 30 % refresh, 60 % GET /api/me/, over
//   several users (connection i logs in as user i % users). A connection with
//   no session yet logs in first.
// - Each connection owns the chains (login sessions) it created and has one
//   request in flight, so no refresh token is ever spent twice: reuse detection
//   must never fire, and any 401 is an error.
// - Server flags: fast Argon2 (ServerProcess), --login-limit 1000000 (the
//   largest accepted value: the limiter stays on but a minute holds far fewer
//   logins), --login-queue as large as --connections (every login waits its
//   turn for a hashing thread instead of getting 503 server_busy, which
//   tests/security loginQueueIsBounded checks), --reuse-grace 60 so that a
//   rotation whose answer the kill cut off is still inside the grace window
//   when it is checked after the restart, even on a slow CI machine.
// - Errors: transport errors, timeouts, protocol errors, idle connections the
//   server closed, and every non-200 answer. All must be 0 before the kill.
//   After the SIGKILL only transport failures are expected ("cut").
// - RSS: /proc/PID/status VmRSS once a second. "Levels off": the largest sample
//   of the last third of the load exceeds the largest of the middle third by
//   less than --rss-margin-kib (default 3072 KiB; the reasoning is at
//   Soak::checkRss()). The first third is warm-up (SQLite page cache, malloc
//   arenas of the Argon2 threads) and not judged.
// - After the kill, a copy of the database (with its WAL) shows for every chain
//   where its newest answered refresh token stands: current, or rotated only if
//   a refresh of it was in flight at the kill (committed, answer lost). After
//   the restart every chain must refresh that token with 200, and a committed-
//   but-unanswered rotation must come back as exactly the committed successor
//   (grace window); then GET /api/me/ and one more refresh must succeed.
// - --instances N (N > 1, soak.server.haproxy): N instances on one database of a throwaway
//   PostgreSQL cluster (tests/common/postgrescluster.h), the load through HAProxy
//   (haproxyprocess.h: round robin, health check GET /healthz, the configuration docs/SERVER.md
//   shows). The first instance is the one killed; HAProxy answers what it held 502 (cut, like
//   a transport failure), the others answer what they hold. The database is read directly
//   after the kill (committed transactions are all there is), the killed instance restarts on
//   its port, and the chains are verified through HAProxy once it sees every instance up.
//   Also checked: every instance answered a share of the load (HAProxy's per-server counts),
//   and a logout at instance 1 is refused at once by instance 2, which had the session in its
//   cache, and through HAProxy (the revocation feed, docs/SERVER.md "Running several
//   instances").
#include "haproxyprocess.h"
#include "soakconnection.h"

#include "httpclient.h"
#include "serverprocess.h"
#include "testdatabase.h"

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QCryptographicHash>
#include <QtCore/QDateTime>
#include <QtCore/QDir>
#include <QtCore/QElapsedTimer>
#include <QtCore/QEventLoop>
#include <QtCore/QFile>
#include <QtCore/QHash>
#include <QtCore/QJsonDocument>
#include <QtCore/QJsonObject>
#include <QtCore/QRandomGenerator>
#include <QtCore/QSet>
#include <QtCore/QTemporaryDir>
#include <QtCore/QTimer>

#include <algorithm>
#include <array>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

using namespace Tessera::Soak;
using Tessera::Test::residentKiB;
using Tessera::Test::ServerProcess;

namespace {

enum Kind { Login, Refresh, Me, KindCount };
const char *const KindNames[KindCount] = {"login", "refresh", "me"};

enum class Phase { Load, Killed, Verify };

struct Options
{
    int connections = 50;
    int durationS = 60;
    int users = 5;
    int loginPercent = 10;
    int refreshPercent = 30;
    int timeoutMs = 10000;
    qint64 rssMarginKiB = 3072;
    quint64 seed = 0;
    int instances = 1; // more than one: PostgreSQL, behind HAProxy
};

struct Chain
{
    int user = 0;
    QByteArray access;
    QByteArray refresh;            // the newest refresh token answered 200
    QString family;                // "sid" of the access token
    int rotations = 0;             // refreshes answered 200
    bool refreshCut = false;       // a refresh of `refresh` was in flight at the kill
    QByteArray committedSuccessor; // hex SHA-256; set when that refresh had committed
    bool verified = false;
};

struct Worker
{
    std::unique_ptr<SoakConnection> connection;
    int user = 0;
    QList<int> chains; // indexes into Soak::m_chains, created by this connection
    qsizetype verifyCursor = 0;
};

void out(const QString &line)
{
    std::fputs(line.toUtf8().constData(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

QByteArray hashHex(const QByteArray &token)
{
    return QCryptographicHash::hash(token, QCryptographicHash::Sha256).toHex().toUpper();
}

// Runs the event loop until `done` holds or `timeoutMs` passes; returns `done()`.
bool waitUntil(const std::function<bool()> &done, int timeoutMs)
{
    QElapsedTimer elapsed;
    elapsed.start();
    while (!done() && elapsed.elapsed() < timeoutMs) {
        QEventLoop loop;
        QTimer::singleShot(10, &loop, &QEventLoop::quit);
        loop.exec();
    }
    return done();
}

QString percentiles(std::vector<qint64> values)
{
    if (values.empty())
        return QStringLiteral("-");
    std::sort(values.begin(), values.end());
    const auto at = [&values](double q) {
        return values[std::min(values.size() - 1, size_t(q * double(values.size())))];
    };
    return QStringLiteral("%1/%2/%3").arg(at(0.5)).arg(at(0.99)).arg(values.back());
}

QString mib(qint64 kib)
{
    return QString::number(double(kib) / 1024.0, 'f', 1);
}

class Soak
{
public:
    explicit Soak(const Options &options)
        : m_options(options)
        , m_random(options.seed)
    { }

    int run();

private:
    bool multiInstance() const { return m_options.instances > 1; }
    // The instance the load kills and restarts (the only one without HAProxy).
    ServerProcess &victim() { return *m_servers.front(); }
    // Where the load goes: HAProxy, or the one instance.
    quint16 loadPort() { return multiInstance() ? m_haproxy.port() : victim().port(); }
    bool setUp();
    bool startHaproxy();
    bool waitForAllServersUp(int timeoutMs);
    void checkBothInstancesServed();
    void checkRevocationAcrossInstances();
    void runLoad();
    void issueNext(int workerIndex);
    void onLoadResponse(int workerIndex, Kind kind, int chainIndex, const SoakResponse &response);
    void killServer();
    void checkDatabaseAfterKill();
    void verifyAfterRestart();
    void verifyNext(int workerIndex);
    void checkDatabaseAfterStop();
    void checkRss(size_t instance);
    void recordError(Kind kind, const QString &what);
    void fail(const QString &what);
    void printSummary();

    Options m_options;
    QRandomGenerator m_random;
    std::vector<std::unique_ptr<ServerProcess>> m_servers;
    HaproxyProcess m_haproxy;
    QStringList m_userNames;
    QList<QByteArray> m_passwords; // random per run, never printed
    std::vector<Worker> m_workers;
    std::vector<Chain> m_chains;
    Phase m_phase = Phase::Load;
    std::vector<qint64> m_serverPids; // per instance, as started for the load

    // Load figures.
    std::array<int, KindCount> m_answered{};
    std::array<std::vector<qint64>, KindCount> m_latencyMs;
    std::array<int, KindCount> m_errors{};
    std::array<int, KindCount> m_cut{}; // in flight when the server died
    int m_transportErrors = 0, m_timeouts = 0, m_protocolErrors = 0, m_non200 = 0, m_badBodies = 0;
    QStringList m_errorSamples;
    qint64 m_loadMs = 0;
    int m_answeredAtKill = 0;
    std::vector<QList<qint64>> m_rssKiB; // per instance
    QStringList m_rssVerdicts;
    int m_idleCloses = 0;
    int m_connectionsOpenedDuringLoad = 0;

    // After the kill.
    int m_cutCommitted = 0, m_cutNotCommitted = 0;
    int m_unansweredFamilies = 0;
    qint64 m_restartMs = 0;
    std::array<int, 3> m_verifySteps{}; // refresh, me, second refresh answered 200
    int m_verifiedViaGrace = 0;
    int m_verifyErrors = 0;
    int m_finalFamilies = 0;

    // Several instances: responses per instance (HAProxy's count) and the revocation check.
    QStringList m_servedBy;
    int m_revokedOnPurpose = 0; // families checkRevocationAcrossInstances() revoked
    QString m_revocationVerdict;

    QStringList m_failures;
};

void Soak::fail(const QString &what)
{
    m_failures << what;
    out(QStringLiteral("FAIL: ") + what);
}

void Soak::recordError(Kind kind, const QString &what)
{
    ++m_errors[kind];
    if (m_errorSamples.size() < 10)
        m_errorSamples << QStringLiteral("%1: %2").arg(QLatin1String(KindNames[kind]), what);
}

bool Soak::setUp()
{
    const QStringList common{
            QStringLiteral("--login-limit"), QStringLiteral("1000000"),
            QStringLiteral("--login-queue"), QString::number(m_options.connections),
            QStringLiteral("--reuse-grace"), QStringLiteral("60")};
    QList<quint16> ports;
    for (int i = 0; i < m_options.instances; ++i) {
        QStringList args = common;
        if (multiInstance()) {
            // A fixed port (HAProxy's configuration names it, and the restarted instance
            // takes it again; the later --listen wins over ServerProcess's) and one issuer
            // for all, so that a token from one instance is valid at the others.
            ports << HaproxyProcess::freePort();
            args << QStringLiteral("--listen") << QStringLiteral("127.0.0.1:%1").arg(ports.last())
                 << QStringLiteral("--issuer") << QStringLiteral("http://127.0.0.1")
                 << HaproxyProcess::instanceArguments();
        }
        m_servers.push_back(std::make_unique<ServerProcess>(args));
        if (i > 0)
            m_servers.back()->setDatabasePath(victim().databasePath());
    }
    for (int i = 0; i < m_options.users; ++i) {
        m_userNames << QStringLiteral("soak-user-%1").arg(i + 1);
        m_passwords << QByteArray::number(m_random.generate64(), 36)
                        + QByteArray::number(m_random.generate64(), 36);
        if (!victim().addUser(m_userNames.last(), m_passwords.last())) {
            fail(QStringLiteral("cannot add %1: %2")
                         .arg(m_userNames.last(), QString::fromUtf8(victim().lastAddUserOutput())));
            return false;
        }
    }
    for (auto &server : m_servers) {
        if (!server->start()) {
            fail(QStringLiteral("cannot start tessera-server: ") + server->errorString());
            return false;
        }
        m_serverPids.push_back(server->pid());
        m_rssKiB.emplace_back();
    }
    if (multiInstance()) {
        if (!m_haproxy.start(ports)) {
            fail(QStringLiteral("cannot start HAProxy: ") + m_haproxy.errorString());
            return false;
        }
        if (!waitForAllServersUp(15000))
            return false;
    }
    return true;
}

bool Soak::waitForAllServersUp(int timeoutMs)
{
    QHash<QString, HaproxyProcess::ServerStats> stats;
    const bool up = waitUntil(
            [this, &stats] {
                stats = m_haproxy.serverStats();
                return stats.size() == m_options.instances
                        && std::all_of(stats.cbegin(), stats.cend(), [](const auto &server) {
                               return server.status == QLatin1String("UP");
                           });
            },
            timeoutMs);
    if (!up) {
        QStringList states;
        for (auto it = stats.cbegin(); it != stats.cend(); ++it)
            states << it.key() + u' ' + it->status;
        fail(QStringLiteral("HAProxy does not see every instance up within %1 ms: %2 %3")
                     .arg(timeoutMs)
                     .arg(states.join(QStringLiteral(", ")), m_haproxy.errorString()));
    }
    return up;
}

// HAProxy's own count of the responses of each instance: round robin must have given
// every instance a share of the load.
void Soak::checkBothInstancesServed()
{
    const auto stats = m_haproxy.serverStats();
    for (int i = 1; i <= m_options.instances; ++i) {
        const QString name = QStringLiteral("tessera%1").arg(i);
        const qint64 served = stats.value(name).responses2xx;
        m_servedBy << QStringLiteral("%1 %2").arg(name).arg(served);
        if (served == 0)
            fail(QStringLiteral("%1 answered no request with 2xx through HAProxy (%2)")
                         .arg(name, m_haproxy.errorString()));
    }
}

void Soak::issueNext(int workerIndex)
{
    if (m_phase != Phase::Load)
        return;
    Worker &worker = m_workers[size_t(workerIndex)];
    Kind kind = Login;
    if (!worker.chains.isEmpty()) {
        const int roll = int(m_random.bounded(100));
        kind = roll < m_options.loginPercent                               ? Login
                : roll < m_options.loginPercent + m_options.refreshPercent ? Refresh
                                                                           : Me;
    }
    int chainIndex = -1;
    if (kind != Login)
        chainIndex = worker.chains.at(qsizetype(m_random.bounded(quint32(worker.chains.size()))));
    const auto done = [this, workerIndex, kind, chainIndex](const SoakResponse &response) {
        onLoadResponse(workerIndex, kind, chainIndex, response);
    };
    const QList<QPair<QByteArray, QByteArray>> json{{"Content-Type", "application/json"}};
    switch (kind) {
    case Login: {
        const QJsonObject body{
                {QStringLiteral("username"), m_userNames.at(worker.user)},
                {QStringLiteral("password"), QString::fromLatin1(m_passwords.at(worker.user))}};
        worker.connection->send("POST", "/api/token/", json,
                                QJsonDocument(body).toJson(QJsonDocument::Compact), done);
        break;
    }
    case Refresh: {
        const QJsonObject body{{QStringLiteral("refresh"),
                                QString::fromLatin1(m_chains[size_t(chainIndex)].refresh)}};
        worker.connection->send("POST", "/api/token/refresh/", json,
                                QJsonDocument(body).toJson(QJsonDocument::Compact), done);
        break;
    }
    case Me:
    case KindCount:
        worker.connection->send(
                "GET", "/api/me/",
                {{"Authorization", "Bearer " + m_chains[size_t(chainIndex)].access}}, {}, done);
        break;
    }
}

void Soak::onLoadResponse(int workerIndex, Kind kind, int chainIndex, const SoakResponse &response)
{
    // Behind HAProxy a request the killed instance held is answered by HAProxy itself (502,
    // or 503/504; its error pages are HTML, tessera-server's errors JSON): cut, like a
    // transport failure without HAProxy.
    if (m_phase == Phase::Killed && multiInstance()
        && response.failure == SoakResponse::Failure::None
        && (response.status == 502 || response.status == 503 || response.status == 504)
        && !QJsonDocument::fromJson(response.body).isObject()) {
        ++m_cut[kind];
        if (kind == Refresh)
            m_chains[size_t(chainIndex)].refreshCut = true;
        return;
    }
    if (response.failure != SoakResponse::Failure::None) {
        if (m_phase == Phase::Killed && response.failure == SoakResponse::Failure::Transport) {
            ++m_cut[kind];
            if (kind == Refresh)
                m_chains[size_t(chainIndex)].refreshCut = true;
            return;
        }
        switch (response.failure) {
        case SoakResponse::Failure::Transport:
            ++m_transportErrors;
            break;
        case SoakResponse::Failure::Timeout:
            ++m_timeouts;
            break;
        default:
            ++m_protocolErrors;
            break;
        }
        // A refresh with no answer may have rotated server-side: this chain's
        // token must not be spent again, so the chain is retired from the load.
        if (kind == Refresh)
            m_workers[size_t(workerIndex)].chains.removeAll(chainIndex);
        recordError(kind, response.detail);
        issueNext(workerIndex);
        return;
    }
    const QJsonObject json = QJsonDocument::fromJson(response.body).object();
    if (response.status != 200) {
        ++m_non200;
        // Error bodies are {"code","detail"}; only the code is shown.
        recordError(kind,
                    QStringLiteral("HTTP %1 %2")
                            .arg(response.status)
                            .arg(json.value(QStringLiteral("code")).toString()));
        if (kind == Refresh)
            m_workers[size_t(workerIndex)].chains.removeAll(chainIndex);
        issueNext(workerIndex);
        return;
    }
    const QByteArray access = json.value(QStringLiteral("access")).toString().toLatin1();
    const QByteArray refresh = json.value(QStringLiteral("refresh")).toString().toLatin1();
    Worker &worker = m_workers[size_t(workerIndex)];
    switch (kind) {
    case Login: {
        const QString family = Tessera::Test::jwtClaims(QString::fromLatin1(access))
                                       .value(QStringLiteral("sid"))
                                       .toString();
        if (access.isEmpty() || refresh.isEmpty() || family.isEmpty()) {
            ++m_badBodies;
            recordError(kind, QStringLiteral("200 without access/refresh/sid"));
            break;
        }
        Chain chain;
        chain.user = worker.user;
        chain.access = access;
        chain.refresh = refresh;
        chain.family = family;
        m_chains.push_back(chain);
        worker.chains << int(m_chains.size() - 1);
        break;
    }
    case Refresh: {
        Chain &chain = m_chains[size_t(chainIndex)];
        const QString family = Tessera::Test::jwtClaims(QString::fromLatin1(access))
                                       .value(QStringLiteral("sid"))
                                       .toString();
        if (access.isEmpty() || refresh.isEmpty() || family != chain.family
            || refresh == chain.refresh) {
            ++m_badBodies;
            recordError(kind, QStringLiteral("200 without a new token pair of the same family"));
            worker.chains.removeAll(chainIndex);
            break;
        }
        chain.access = access;
        chain.refresh = refresh;
        ++chain.rotations;
        break;
    }
    case Me:
    case KindCount:
        if (json.value(QStringLiteral("username")).toString()
                    != m_userNames.at(m_chains[size_t(chainIndex)].user)
            || json.value(QStringLiteral("sid")).toString()
                    != m_chains[size_t(chainIndex)].family) {
            ++m_badBodies;
            recordError(kind, QStringLiteral("200 for another user or session"));
        }
        break;
    }
    ++m_answered[kind];
    m_latencyMs[kind].push_back(response.elapsedMs);
    issueNext(workerIndex);
}

void Soak::runLoad()
{
    for (int i = 0; i < m_options.connections; ++i) {
        Worker worker;
        worker.connection = std::make_unique<SoakConnection>(loadPort(), m_options.timeoutMs);
        worker.user = i % m_options.users;
        m_workers.push_back(std::move(worker));
    }
    QElapsedTimer clock;
    clock.start();
    QTimer rssTimer;
    const auto sampleRss = [this] {
        for (size_t i = 0; i < m_serverPids.size(); ++i)
            m_rssKiB[i] << residentKiB(m_serverPids[i]);
    };
    QObject::connect(&rssTimer, &QTimer::timeout, sampleRss);
    sampleRss();
    rssTimer.start(1000);
    for (int i = 0; i < m_options.connections; ++i)
        issueNext(i);
    // The traffic keeps running right up to the kill.
    waitUntil([&clock, this] { return clock.elapsed() >= qint64(m_options.durationS) * 1000; },
              m_options.durationS * 1000 + 1000);
    rssTimer.stop();
    m_loadMs = clock.elapsed();
    for (const Worker &worker : m_workers) {
        m_idleCloses += worker.connection->idleClosesByPeer();
        m_connectionsOpenedDuringLoad += worker.connection->connectionsOpened();
    }
}

void Soak::killServer()
{
    m_answeredAtKill = m_answered[Login] + m_answered[Refresh] + m_answered[Me];
    m_phase = Phase::Killed;
    // ServerProcess::kill(): a real SIGKILL, then reap. Requests on the wire stay
    // in flight; answers already in our socket buffers still count. With several instances
    // the others go on answering what they hold.
    victim().kill();
    const bool drained = waitUntil(
            [this] {
                return std::none_of(m_workers.begin(), m_workers.end(),
                                    [](const Worker &w) { return w.connection->busy(); });
            },
            15000);
    if (!drained)
        fail(QStringLiteral("requests still pending 15 s after the SIGKILL"));
    for (Worker &worker : m_workers)
        worker.connection->abort(); // counts any straggler as cut
    out(QStringLiteral("SIGKILL sent to pid %1 after %2 ms of load; cut in flight: login %3, "
                       "refresh %4, me %5; answered after the signal: %6")
                .arg(m_serverPids.front())
                .arg(m_loadMs)
                .arg(m_cut[Login])
                .arg(m_cut[Refresh])
                .arg(m_cut[Me])
                .arg(m_answered[Login] + m_answered[Refresh] + m_answered[Me] - m_answeredAtKill));
}

void Soak::checkDatabaseAfterKill()
{
    const QString familiesSql = QStringLiteral("SELECT id, revoked_at IS NULL FROM families");
    QString error;
    std::optional<QList<QVariantList>> tokens, families;
    if (Tessera::Test::testsUsePostgreSQL()) {
        // The database as the committed transactions left it (the other instances are idle).
        const QString database = victim().databasePath();
        tokens = Tessera::Test::databaseSelect(
                database,
                QStringLiteral("SELECT upper(encode(token_hash, 'hex')), family_id,"
                               " rotated_at IS NULL, upper(encode(parent_hash, 'hex'))"
                               " FROM refresh_tokens"),
                &error);
        families = Tessera::Test::databaseSelect(database, familiesSql, &error);
    } else {
        // A copy of the database as SIGKILL left it (main file + WAL): WAL recovery
        // needs write access and must not touch the server's own files.
        QTemporaryDir copyDir;
        const QString copy = QDir(copyDir.path()).filePath(QStringLiteral("copy.sqlite3"));
        const QString original = victim().databasePath();
        if (!QFile::copy(original, copy)
            || (QFile::exists(original + QStringLiteral("-wal"))
                && !QFile::copy(original + QStringLiteral("-wal"),
                                copy + QStringLiteral("-wal")))) {
            fail(QStringLiteral("cannot copy the database after the kill"));
            return;
        }
        tokens = Tessera::Test::sqliteSelect(
                copy,
                QStringLiteral("SELECT hex(token_hash), family_id, rotated_at IS NULL,"
                               " hex(parent_hash) FROM refresh_tokens"),
                &error, false);
        families = Tessera::Test::sqliteSelect(copy, familiesSql, &error, false);
    }
    if (!tokens || !families) {
        fail(QStringLiteral("cannot read the database after the kill: ") + error);
        return;
    }
    struct Row
    {
        QString family;
        bool current = false;
    };
    QHash<QByteArray, Row> byHash;
    QHash<QByteArray, QByteArray> childOf; // parent hash -> child hash
    QHash<QString, int> rowsPerFamily;
    for (const QVariantList &row : *tokens) {
        const QByteArray hash = row.at(0).toByteArray();
        byHash.insert(hash, {row.at(1).toString(), row.at(2).toBool()});
        if (!row.at(3).isNull() && !row.at(3).toByteArray().isEmpty())
            childOf.insert(row.at(3).toByteArray(), hash);
        ++rowsPerFamily[row.at(1).toString()];
    }
    QHash<QString, bool> familyActive;
    for (const QVariantList &row : *families)
        familyActive.insert(row.at(0).toString(), row.at(1).toBool());

    int problems = 0;
    const auto problem = [&](int chainIndex, const QString &what) {
        if (++problems <= 10)
            fail(QStringLiteral("chain %1: %2").arg(chainIndex).arg(what));
    };
    QSet<QString> chainFamilies;
    for (size_t i = 0; i < m_chains.size(); ++i) {
        Chain &chain = m_chains[i];
        chainFamilies.insert(chain.family);
        const auto row = byHash.constFind(hashHex(chain.refresh));
        if (row == byHash.constEnd()) {
            problem(int(i),
                    QStringLiteral("its newest answered refresh token (after %1 rotations) "
                                   "is not in the database: an answered 200 was lost")
                            .arg(chain.rotations));
            continue;
        }
        if (row->family != chain.family)
            problem(int(i), QStringLiteral("token stored under another family"));
        if (!familyActive.value(chain.family, false))
            problem(int(i), QStringLiteral("family missing or revoked"));
        int expectedRows = chain.rotations + 1;
        if (!row->current) {
            if (!chain.refreshCut) {
                problem(int(i),
                        QStringLiteral("rotated although no refresh of it was outstanding"));
                continue;
            }
            chain.committedSuccessor = childOf.value(hashHex(chain.refresh));
            if (chain.committedSuccessor.isEmpty())
                problem(int(i), QStringLiteral("rotated without a successor"));
            ++expectedRows;
            ++m_cutCommitted;
        } else if (chain.refreshCut) {
            ++m_cutNotCommitted;
        }
        // One row per login and per committed rotation: nothing lost, nothing extra.
        if (rowsPerFamily.value(chain.family) != expectedRows)
            problem(int(i),
                    QStringLiteral("family holds %1 refresh tokens, expected %2")
                            .arg(rowsPerFamily.value(chain.family))
                            .arg(expectedRows));
    }
    // Families nobody holds: logins committed whose answer the kill cut off.
    for (auto it = familyActive.constBegin(); it != familyActive.constEnd(); ++it) {
        if (chainFamilies.contains(it.key()))
            continue;
        ++m_unansweredFamilies;
        if (rowsPerFamily.value(it.key()) != 1)
            fail(QStringLiteral("a family no client saw has %1 refresh tokens")
                         .arg(rowsPerFamily.value(it.key())));
    }
    if (m_unansweredFamilies > m_cut[Login])
        fail(QStringLiteral("%1 families no client saw, but only %2 logins were cut by the kill")
                     .arg(m_unansweredFamilies)
                     .arg(m_cut[Login]));
    if (problems > 10)
        fail(QStringLiteral("... %1 chain problems in total").arg(problems));
}

void Soak::verifyNext(int workerIndex)
{
    Worker &worker = m_workers[size_t(workerIndex)];
    if (worker.verifyCursor >= worker.chains.size())
        return;
    const int chainIndex = worker.chains.at(worker.verifyCursor++);
    const auto stepFailed = [this, workerIndex, chainIndex](const QString &step,
                                                            const SoakResponse &response) {
        if (++m_verifyErrors <= 10)
            fail(QStringLiteral("after restart, chain %1 (%2): %3: %4")
                         .arg(chainIndex)
                         .arg(m_chains[size_t(chainIndex)].committedSuccessor.isEmpty()
                                      ? QStringLiteral("not rotated at the kill")
                                      : QStringLiteral("rotation committed, answer lost"))
                         .arg(step)
                         .arg(response.failure != SoakResponse::Failure::None
                                      ? response.detail
                                      : QStringLiteral("HTTP %1 %2")
                                                .arg(response.status)
                                                .arg(QJsonDocument::fromJson(response.body)
                                                             .object()
                                                             .value(QStringLiteral("code"))
                                                             .toString())));
        verifyNext(workerIndex);
    };
    const auto refreshBody = [](const QByteArray &token) {
        return QJsonDocument(QJsonObject{{QStringLiteral("refresh"), QString::fromLatin1(token)}})
                .toJson(QJsonDocument::Compact);
    };
    const QList<QPair<QByteArray, QByteArray>> json{{"Content-Type", "application/json"}};
    SoakConnection *connection = worker.connection.get();
    // Step 1: the newest answered token (or, via the grace window, its committed successor).
    connection->send(
            "POST", "/api/token/refresh/", json, refreshBody(m_chains[size_t(chainIndex)].refresh),
            [=](const SoakResponse &first) {
                Chain &chain = m_chains[size_t(chainIndex)];
                const QJsonObject pair = QJsonDocument::fromJson(first.body).object();
                const QByteArray access =
                        pair.value(QStringLiteral("access")).toString().toLatin1();
                const QByteArray refresh =
                        pair.value(QStringLiteral("refresh")).toString().toLatin1();
                if (first.failure != SoakResponse::Failure::None || first.status != 200
                    || refresh.isEmpty())
                    return stepFailed(QStringLiteral("refresh of the newest answered token"),
                                      first);
                ++m_verifySteps[0];
                if (!chain.committedSuccessor.isEmpty()) {
                    if (hashHex(refresh) != chain.committedSuccessor)
                        return stepFailed(QStringLiteral("grace window returned a token other than "
                                                         "the committed successor"),
                                          first);
                    ++m_verifiedViaGrace;
                }
                // Step 2: the new access token works.
                connection->send(
                        "GET", "/api/me/", {{"Authorization", "Bearer " + access}}, {},
                        [=](const SoakResponse &me) {
                            Chain &chain = m_chains[size_t(chainIndex)];
                            if (me.failure != SoakResponse::Failure::None || me.status != 200
                                || QJsonDocument::fromJson(me.body)
                                                .object()
                                                .value(QStringLiteral("username"))
                                                .toString()
                                        != m_userNames.at(chain.user))
                                return stepFailed(QStringLiteral("GET /api/me/"), me);
                            ++m_verifySteps[1];
                            // Step 3: the chain goes on.
                            connection->send("POST", "/api/token/refresh/", json,
                                             refreshBody(refresh), [=](const SoakResponse &second) {
                                                 if (second.failure != SoakResponse::Failure::None
                                                     || second.status != 200)
                                                     return stepFailed(
                                                             QStringLiteral("second refresh"),
                                                             second);
                                                 ++m_verifySteps[2];
                                                 m_chains[size_t(chainIndex)].verified = true;
                                                 verifyNext(workerIndex);
                                             });
                        });
            });
}

void Soak::verifyAfterRestart()
{
    QElapsedTimer restart;
    restart.start();
    if (!victim().start()) {
        fail(QStringLiteral("restart on the same database failed: ") + victim().errorString());
        return;
    }
    m_restartMs = restart.elapsed();
    // Through HAProxy once it sends to the restarted instance again, so that the chains are
    // verified at both.
    if (multiInstance() && !waitForAllServersUp(15000))
        return;
    m_phase = Phase::Verify;
    for (size_t i = 0; i < m_workers.size(); ++i) {
        Worker &worker = m_workers[i];
        worker.connection->setPort(loadPort());
        // Lost answers first: they must be checked inside the grace window.
        std::stable_sort(worker.chains.begin(), worker.chains.end(), [this](int a, int b) {
            return !m_chains[size_t(a)].committedSuccessor.isEmpty()
                    && m_chains[size_t(b)].committedSuccessor.isEmpty();
        });
        verifyNext(int(i));
    }
    const bool finished = waitUntil(
            [this] {
                return std::all_of(m_workers.begin(), m_workers.end(), [](const Worker &w) {
                    return !w.connection->busy() && w.verifyCursor >= w.chains.size();
                });
            },
            60000);
    if (!finished)
        fail(QStringLiteral("verification after the restart did not finish within 60 s"));
    for (Worker &worker : m_workers)
        worker.connection->abort();
}

// One request on a connection of its own, waited for.
SoakResponse exchange(quint16 port, const QByteArray &method, const QByteArray &path,
                      const QList<QPair<QByteArray, QByteArray>> &headers,
                      const QByteArray &body = {})
{
    SoakConnection connection(port, 10000);
    std::optional<SoakResponse> result;
    connection.send(method, path, headers, body,
                    [&result](const SoakResponse &response) { result = response; });
    waitUntil([&result] { return result.has_value(); }, 15000);
    return result.value_or(SoakResponse{SoakResponse::Failure::Timeout, 0, {}, {}, 0});
}

// A logout at one instance is seen through the other at once (docs/SERVER.md "Running
// several instances": the revoking request is answered only after every listening
// instance dropped the family). The other instance has the session in its cache first, so
// that only the revocation feed can make it refuse; then HAProxy, sending to both in turn,
// must refuse it too.
void Soak::checkRevocationAcrossInstances()
{
    const quint16 revoker = m_servers[0]->port(), watcher = m_servers[1]->port();
    const QList<QPair<QByteArray, QByteArray>> json{{"Content-Type", "application/json"}};
    const QByteArray login =
            QJsonDocument(QJsonObject{{QStringLiteral("username"), m_userNames.first()},
                                      {QStringLiteral("password"),
                                       QString::fromLatin1(m_passwords.first())}})
                    .toJson(QJsonDocument::Compact);
    const SoakResponse signedIn = exchange(revoker, "POST", "/api/token/", json, login);
    const QJsonObject pair = QJsonDocument::fromJson(signedIn.body).object();
    const QByteArray access = pair.value(QStringLiteral("access")).toString().toLatin1();
    const QByteArray refresh = pair.value(QStringLiteral("refresh")).toString().toLatin1();
    if (signedIn.status != 200 || access.isEmpty() || refresh.isEmpty()) {
        fail(QStringLiteral("revocation check: login at instance 1 answered %1")
                     .arg(signedIn.status));
        return;
    }
    const QList<QPair<QByteArray, QByteArray>> bearer{{"Authorization", "Bearer " + access}};
    const int cachedStatus = exchange(watcher, "GET", "/api/me/", bearer).status;
    const QByteArray refreshBody =
            QJsonDocument(QJsonObject{{QStringLiteral("refresh"), QString::fromLatin1(refresh)}})
                    .toJson(QJsonDocument::Compact);
    const int logoutStatus =
            exchange(revoker, "POST", "/api/token/blacklist/", json, refreshBody).status;
    m_revokedOnPurpose = logoutStatus == 200 ? 1 : 0;
    const int meAfter = exchange(watcher, "GET", "/api/me/", bearer).status;
    const int refreshAfter =
            exchange(watcher, "POST", "/api/token/refresh/", json, refreshBody).status;
    QList<int> throughHaproxy;
    for (int i = 0; i < 2 * m_options.instances; ++i)
        throughHaproxy << exchange(m_haproxy.port(), "GET", "/api/me/", bearer).status;
    QStringList balanced;
    for (int status : std::as_const(throughHaproxy))
        balanced << QString::number(status);
    m_revocationVerdict = QStringLiteral("GET /api/me/ at instance 2 before the logout %1; logout "
                                         "at instance 1 %2; then at instance 2: GET /api/me/ %3, "
                                         "refresh %4; through HAProxy: %5")
                                  .arg(cachedStatus)
                                  .arg(logoutStatus)
                                  .arg(meAfter)
                                  .arg(refreshAfter)
                                  .arg(balanced.join(u' '));
    if (cachedStatus != 200 || logoutStatus != 200 || meAfter != 401 || refreshAfter != 401
        || std::any_of(throughHaproxy.begin(), throughHaproxy.end(),
                       [](int status) { return status != 401; }))
        fail(QStringLiteral("revocation not seen across instances: ") + m_revocationVerdict);
}

void Soak::checkDatabaseAfterStop()
{
    // After a clean stop the WAL is checkpointed; an SQLite file is read read-only.
    QString error;
    const auto families = Tessera::Test::databaseSelect(
            victim().databasePath(),
            QStringLiteral("SELECT f.revoked_at IS NOT NULL,"
                           " (SELECT COUNT(*) FROM refresh_tokens r"
                           "  WHERE r.family_id = f.id AND r.rotated_at IS NULL)"
                           " FROM families f"),
            &error);
    if (!families) {
        fail(QStringLiteral("cannot read the database after the stop: ") + error);
        return;
    }
    m_finalFamilies = int(families->size());
    int revoked = 0, notSingleCurrent = 0;
    for (const QVariantList &row : *families) {
        const bool isRevoked = row.at(0).toBool();
        revoked += isRevoked ? 1 : 0;
        notSingleCurrent += !isRevoked && row.at(1).toInt() != 1 ? 1 : 0;
    }
    // Only the families checkRevocationAcrossInstances() logged out are revoked.
    if (revoked != m_revokedOnPurpose || notSingleCurrent > 0)
        fail(QStringLiteral("after the stop: %1 revoked families (expected %2), %3 families "
                            "without exactly one current refresh token")
                     .arg(revoked)
                     .arg(m_revokedOnPurpose)
                     .arg(notSingleCurrent));
    const int expectedFamilies = int(m_chains.size()) + m_unansweredFamilies + m_revokedOnPurpose;
    if (m_finalFamilies != expectedFamilies)
        fail(QStringLiteral("%1 families in the database, expected %2")
                     .arg(m_finalFamilies)
                     .arg(expectedFamilies));
}

// Why 3 MiB: after the first third only bounded, small things may still grow.
// SQLite's page cache is capped at its default 2000 KiB (the server sets no
// cache_size) and fills as the database grows; the rate limiter keeps 8 bytes
// per login of the last --login-window (~50 KB at this load); glibc arenas of
// the Argon2 threads reach their size with the first logins (the jump in the
// first second). That is about 2.1 MiB at most, plus ~1 MiB for allocator
// jitter. A leak of ~150 bytes per request at 1000 req/s (20 000 requests a
// third) exceeds it. Observed: last - middle below 100 KiB.
void Soak::checkRss(size_t instance)
{
    const QList<qint64> &samples = m_rssKiB[instance];
    const QString label =
            multiInstance() ? QStringLiteral("instance %1: ").arg(instance + 1) : QString();
    const qsizetype n = samples.size();
    if (n < 9 || std::any_of(samples.begin(), samples.end(), [](qint64 v) { return v <= 0; })) {
        fail(label + QStringLiteral("too few or unreadable RSS samples (%1)").arg(n));
        return;
    }
    const qsizetype third = n / 3;
    const auto maxOf = [&samples](qsizetype from, qsizetype to) {
        return *std::max_element(samples.begin() + from, samples.begin() + to);
    };
    const qint64 first = maxOf(0, third), middle = maxOf(third, 2 * third),
                 last = maxOf(2 * third, n);
    const qint64 growth = last - middle;
    // Least-squares slope over the last two thirds, for the report only.
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    const qsizetype m = n - third;
    for (qsizetype i = third; i < n; ++i) {
        const double x = double(i), y = double(samples.at(i));
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    const double slope = (double(m) * sxy - sx * sy) / (double(m) * sxx - sx * sx);
    const QString verdict = label
            + QStringLiteral("max per third %1 / %2 / %3 MiB; last - middle = %4 KiB "
                             "(limit %5 KiB); slope over the last two thirds %6 KiB/s")
                      .arg(mib(first), mib(middle), mib(last))
                      .arg(growth)
                      .arg(m_options.rssMarginKiB)
                      .arg(slope, 0, 'f', 1);
    m_rssVerdicts << verdict;
    if (growth >= m_options.rssMarginKiB)
        fail(QStringLiteral("RSS does not level off: ") + verdict);
}

void Soak::printSummary()
{
    const int answeredTotal = m_answered[Login] + m_answered[Refresh] + m_answered[Me];
    const int errorsTotal = m_errors[Login] + m_errors[Refresh] + m_errors[Me] + m_idleCloses;
    out(QStringLiteral("==== tessera-soak summary ===="));
    out(QStringLiteral(
                "load: %1 keep-alive connections, %2 users, mix login/refresh/me %3/%4/%5 %, "
                "%6 ms, seed %7")
                .arg(m_options.connections)
                .arg(m_options.users)
                .arg(m_options.loginPercent)
                .arg(m_options.refreshPercent)
                .arg(100 - m_options.loginPercent - m_options.refreshPercent)
                .arg(m_loadMs)
                .arg(m_options.seed));
    out(QStringLiteral("answered 200 before the kill: %1 (%2 req/s); login %3, refresh %4, me %5")
                .arg(m_answeredAtKill)
                .arg(double(m_answeredAtKill) * 1000.0 / double(qMax<qint64>(1, m_loadMs)), 0, 'f',
                     0)
                .arg(m_answered[Login])
                .arg(m_answered[Refresh])
                .arg(m_answered[Me]));
    out(QStringLiteral("latency ms p50/p99/max: login %1, refresh %2, me %3")
                .arg(percentiles(m_latencyMs[Login]), percentiles(m_latencyMs[Refresh]),
                     percentiles(m_latencyMs[Me])));
    out(QStringLiteral(
                "errors: %1 (transport %2, timeout %3, protocol %4, non-200 %5, bad body %6, "
                "idle connections closed by the server %7); TCP connections opened %8")
                .arg(errorsTotal)
                .arg(m_transportErrors)
                .arg(m_timeouts)
                .arg(m_protocolErrors)
                .arg(m_non200)
                .arg(m_badBodies)
                .arg(m_idleCloses)
                .arg(m_connectionsOpenedDuringLoad));
    for (const QString &sample : std::as_const(m_errorSamples))
        out(QStringLiteral("  error: ") + sample);
    for (size_t i = 0; i < m_rssKiB.size(); ++i) {
        QStringList rss;
        for (qint64 kib : std::as_const(m_rssKiB[i]))
            rss << mib(kib);
        out(QStringLiteral("server %1RSS MiB, 1 s samples: ")
                    .arg(multiInstance() ? QStringLiteral("%1 ").arg(i + 1) : QString())
            + rss.join(u' '));
    }
    for (const QString &verdict : std::as_const(m_rssVerdicts))
        out(QStringLiteral("RSS check: ") + verdict);
    if (multiInstance()) {
        out(QStringLiteral("%1 instances on PostgreSQL behind HAProxy (%2); 2xx responses per "
                           "instance during the load: %3")
                    .arg(m_options.instances)
                    .arg(m_haproxy.configPath(), m_servedBy.join(QStringLiteral(", "))));
        out(QStringLiteral("revocation across instances: ") + m_revocationVerdict);
    }
    int rotations = 0;
    for (const Chain &chain : m_chains)
        rotations += chain.rotations;
    int verified = 0;
    for (const Chain &chain : m_chains)
        verified += chain.verified ? 1 : 0;
    out(QStringLiteral("chains (logins answered 200): %1; rotations answered 200: %2")
                .arg(m_chains.size())
                .arg(rotations));
    out(QStringLiteral("cut by SIGKILL: login %1, refresh %2 (committed, answer lost: %3; not "
                       "committed: %4), me %5; families no client saw: %6")
                .arg(m_cut[Login])
                .arg(m_cut[Refresh])
                .arg(m_cutCommitted)
                .arg(m_cutNotCommitted)
                .arg(m_cut[Me])
                .arg(m_unansweredFamilies));
    out(QStringLiteral("restart: %1 ms; chains verified %2 of %3 (refresh 200: %4, of them grace "
                       "successor: %5; me 200: %6; next refresh 200: %7); verification errors %8")
                .arg(m_restartMs)
                .arg(verified)
                .arg(m_chains.size())
                .arg(m_verifySteps[0])
                .arg(m_verifiedViaGrace)
                .arg(m_verifySteps[1])
                .arg(m_verifySteps[2])
                .arg(m_verifyErrors));
    out(QStringLiteral("after clean stop: %1 families, each with one current refresh token; "
                       "revoked: %2 (logged out on purpose)")
                .arg(m_finalFamilies)
                .arg(m_revokedOnPurpose));
    out(m_failures.isEmpty() ? QStringLiteral("RESULT: PASS")
                             : QStringLiteral("RESULT: FAIL (%1 checks)").arg(m_failures.size()));
}

int Soak::run()
{
    if (!setUp())
        return 1;
    for (const auto &server : m_servers)
        out(QStringLiteral("tessera-server pid %1 on %2")
                    .arg(server->pid())
                    .arg(server->baseUrl().toString()));
    if (multiInstance())
        out(QStringLiteral("HAProxy on http://127.0.0.1:%1 (%2)")
                    .arg(m_haproxy.port())
                    .arg(m_haproxy.configPath()));
    out(QStringLiteral("%1 s of load starting").arg(m_options.durationS));
    runLoad();
    if (multiInstance())
        checkBothInstancesServed();
    killServer();
    for (size_t i = 0; i < m_rssKiB.size(); ++i)
        checkRss(i);
    const int errorsTotal = m_errors[Login] + m_errors[Refresh] + m_errors[Me];
    if (errorsTotal > 0 || m_idleCloses > 0)
        fail(QStringLiteral("%1 errors during the load, %2 idle connections closed by the server")
                     .arg(errorsTotal)
                     .arg(m_idleCloses));
    if (m_connectionsOpenedDuringLoad != m_options.connections)
        fail(QStringLiteral("%1 TCP connections opened for %2 keep-alive clients")
                     .arg(m_connectionsOpenedDuringLoad)
                     .arg(m_options.connections));
    for (int kind = 0; kind < KindCount; ++kind) {
        if (m_answered[size_t(kind)] == 0)
            fail(QStringLiteral("no %1 request was answered").arg(QLatin1String(KindNames[kind])));
    }
    checkDatabaseAfterKill();
    verifyAfterRestart();
    int verified = 0;
    for (const Chain &chain : m_chains)
        verified += chain.verified ? 1 : 0;
    if (verified != int(m_chains.size()))
        fail(QStringLiteral("%1 of %2 chains verified after the restart")
                     .arg(verified)
                     .arg(m_chains.size()));
    if (multiInstance())
        checkRevocationAcrossInstances();
    bool stopped = true;
    for (auto &server : m_servers) {
        if (!server->stop()) {
            stopped = false;
            fail(QStringLiteral("clean stop after the verification failed: ")
                 + server->errorString());
        }
    }
    if (stopped)
        checkDatabaseAfterStop();
    if (multiInstance() && !m_haproxy.stop())
        fail(QStringLiteral("HAProxy did not stop on SIGTERM"));
    printSummary();
    if (!m_failures.isEmpty()) {
        // The server logs events and family ids, never tokens.
        for (auto &server : m_servers)
            out(QStringLiteral("---- tessera-server stderr (tail) ----\n")
                + QString::fromUtf8(server->serverStderr().right(4000))
                + QStringLiteral("\n---- end ----"));
        if (multiInstance())
            out(QStringLiteral("---- haproxy output (tail) ----\n")
                + QString::fromUtf8(m_haproxy.output().right(4000))
                + QStringLiteral("\n---- end ----"));
    }
    return m_failures.isEmpty() ? 0 : 1;
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCommandLineParser parser;
    parser.setApplicationDescription(
            QStringLiteral("Load and soak of tessera-server: keep-alive traffic, RSS, SIGKILL, "
                           "restart, chain check. $TESSERA_SERVER selects the binary."));
    parser.addHelpOption();
    const QCommandLineOption connections(QStringLiteral("connections"),
                                         QStringLiteral("Persistent connections (default 50)."),
                                         QStringLiteral("N"), QStringLiteral("50"));
    const QCommandLineOption duration(
            QStringLiteral("duration"),
            QStringLiteral("Seconds of load before the kill (default 60, at least 9)."),
            QStringLiteral("S"), QStringLiteral("60"));
    const QCommandLineOption users(QStringLiteral("users"), QStringLiteral("Users (default 5)."),
                                   QStringLiteral("N"), QStringLiteral("5"));
    const QCommandLineOption mix(QStringLiteral("mix"),
                                 QStringLiteral("Percent login,refresh (rest GET /api/me/); "
                                                "default 10,30."),
                                 QStringLiteral("L,R"), QStringLiteral("10,30"));
    const QCommandLineOption margin(QStringLiteral("rss-margin-kib"),
                                    QStringLiteral("Allowed RSS growth, last third over middle "
                                                   "third (default 3072)."),
                                    QStringLiteral("KIB"), QStringLiteral("3072"));
    const QCommandLineOption seed(QStringLiteral("seed"),
                                  QStringLiteral("Random seed (default: time based)."),
                                  QStringLiteral("N"));
    const QCommandLineOption instances(
            QStringLiteral("instances"),
            QStringLiteral("tessera-server instances (default 1). More than one: they share a "
                           "database of a throwaway PostgreSQL cluster and take the load "
                           "through HAProxy (round robin); the first is the one killed."),
            QStringLiteral("N"), QStringLiteral("1"));
    const QCommandLineOption printConfig(
            QStringLiteral("print-haproxy-config"),
            QStringLiteral("Print the HAProxy configuration the soak generates, for two instances "
                           "on ports 8001 and 8002 behind port 8000, and exit."));
    parser.addOptions({connections, duration, users, mix, margin, seed, instances, printConfig});
    parser.process(app);

    Options options;
    options.connections = qBound(1, parser.value(connections).toInt(), 1000);
    options.durationS = qBound(9, parser.value(duration).toInt(), 3600);
    options.users = qBound(1, parser.value(users).toInt(), 100);
    const QStringList percents = parser.value(mix).split(u',');
    if (percents.size() != 2) {
        std::fputs("tessera-soak: --mix takes L,R\n", stderr);
        return 2;
    }
    options.loginPercent = qBound(1, percents.at(0).toInt(), 98);
    options.refreshPercent = qBound(1, percents.at(1).toInt(), 99 - options.loginPercent);
    options.rssMarginKiB = parser.value(margin).toLongLong();
    options.seed = parser.isSet(seed) ? parser.value(seed).toULongLong()
                                      : quint64(QDateTime::currentMSecsSinceEpoch());
    if (parser.isSet(printConfig)) {
        std::fputs(HaproxyProcess::configuration(8000, {8001, 8002},
                                                 QStringLiteral("/run/haproxy/tessera.sock"))
                           .toUtf8()
                           .constData(),
                   stdout);
        std::fputs(qPrintable(QStringLiteral("# instances: tessera-server --listen 127.0.0.1:8001 "
                                             "--db URI --issuer URL ")
                              + HaproxyProcess::instanceArguments().join(u' ') + u'\n'),
                   stdout);
        return 0;
    }
    options.instances = qBound(1, parser.value(instances).toInt(), 8);
    if (options.instances > 1) {
        // Several instances share one PostgreSQL database (ServerProcess then gives the first
        // a new database in this process's throwaway cluster).
        qputenv("TESSERA_TEST_DATABASE", "postgresql");
        QString missing = Tessera::Test::testDatabaseUnavailable();
        if (missing.isEmpty() && HaproxyProcess::binaryPath().isEmpty())
            missing = QStringLiteral("haproxy is not installed (Debian package haproxy)");
        if (!missing.isEmpty()) {
            if (Tessera::Test::PostgresCluster::required()) {
                out(QStringLiteral("FAIL: TESSERA_REQUIRE_POSTGRESQL is set but ") + missing);
                return 1;
            }
            // ctest's SKIP_RETURN_CODE (tests/soak/CMakeLists.txt).
            out(QStringLiteral("SKIP: ") + missing);
            return 77;
        }
        const QString problem = Tessera::Test::testDatabaseStartProblem();
        if (!problem.isEmpty()) {
            out(QStringLiteral("FAIL: ") + problem);
            return 1;
        }
    }
    Soak soak(options);
    return soak.run();
}

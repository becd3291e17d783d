// SPDX-License-Identifier: MIT
// bench_cold_start --server URL --user NAME [--runs 10] [--probes 20]
// The password is read from the first line of stdin. Needs a Secret Service
// (run it under scripts/with-keyring.sh).
//
// Process start to first authenticated response through Session::restore().
// The parent signs in once (a child with --setup stores the refresh token in
// secure storage), then spawns `runs` cold children (--cold) with posix_spawn.
// Each child restores the session from secure storage and makes one
// authenticated GET; it reports CLOCK_MONOTONIC timestamps of its phases, so
// the parent can split the time from its own spawn timestamp:
//   exec+load   spawn -> main()            (dynamic loading of Qt and the SDK)
//   init        main() -> restore() called (QCoreApplication, Session)
//   storage     restore() -> SignedIn      (secure-storage reads: account, token)
//   refresh     SignedIn -> restore done   (lock, storage re-read, POST refresh,
//                                           storage write of the rotated token)
//   first GET   restore done -> response   (authenticated GET /api/me/)
// The parent also times isolated QtKeychain reads and writes of a dummy entry,
// so the refresh phase can be split into storage and network.
// Finally a --logout child revokes the session and deletes the stored entry.
#include "benchcommon.h"

#include <tessera/authenticatednetworkaccessmanager.h>
#include <tessera/session.h>

#include <QtCore/QJsonArray>
#include <QtCore/QProcess>
#include <QtNetwork/QNetworkReply>
#include <qt6keychain/keychain.h>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

using namespace Bench;

namespace {

const QString AppId = QStringLiteral("org.tessera.bench.coldstart");

Tessera::SessionConfig makeConfig(const QUrl &server)
{
    Tessera::SessionConfig config(server, AppId);
    config.setStoragePolicy(Tessera::SessionConfig::StoragePolicy::SecureStorage);
    return config;
}

int runSetup(const QUrl &server, const QString &user)
{
    const QString password = readStdinLine();
    Tessera::Session session(makeConfig(server));
    const Tessera::Error error = runOperation(session.login(user, password));
    if (error.isError())
        die(QStringLiteral("setup login failed: ") + error.message());
    return 0;
}

int runLogout(const QUrl &server)
{
    Tessera::Session session(makeConfig(server));
    Tessera::Error error = runOperation(session.restore());
    if (error.isError())
        die(QStringLiteral("logout: restore failed: ") + error.message());
    error = runOperation(session.logout());
    if (error.isError())
        die(QStringLiteral("logout failed: ") + error.message());
    return 0;
}

int runCold(qint64 mainNs, const QUrl &server, const QString &path)
{
    Tessera::Session session(makeConfig(server));
    qint64 signedIn = 0, refreshing = 0;
    QObject::connect(&session, &Tessera::Session::stateChanged, &session,
                     [&](Tessera::Session::State state) {
                         if (state == Tessera::Session::State::SignedIn && !signedIn)
                             signedIn = nowNs();
                         if (state == Tessera::Session::State::Refreshing && !refreshing)
                             refreshing = nowNs();
                     });
    const qint64 restoreCalled = nowNs();
    const Tessera::Error error = runOperation(session.restore());
    const qint64 restored = nowNs();
    if (error.isError())
        die(QStringLiteral("restore failed: ") + error.message());

    Tessera::AuthenticatedNetworkAccessManager manager(&session);
    QUrl url = server;
    url.setPath(path);
    QEventLoop loop;
    QNetworkReply *reply = manager.get(QNetworkRequest(url));
    QObject::connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    QTimer::singleShot(60000, &loop, &QEventLoop::quit);
    loop.exec();
    const qint64 responded = nowNs();
    const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    if (!reply->isFinished() || status != 200)
        die(QStringLiteral("first authenticated GET failed (status %1)").arg(status));
    printJson({{QStringLiteral("main"), double(mainNs)},
               {QStringLiteral("restore_called"), double(restoreCalled)},
               {QStringLiteral("signed_in"), double(signedIn)},
               {QStringLiteral("refreshing"), double(refreshing)},
               {QStringLiteral("restored"), double(restored)},
               {QStringLiteral("responded"), double(responded)}});
    return 0;
}

// Runs a child with posix_spawn; returns its stdout. spawnNs receives the
// timestamp taken right before the spawn.
QByteArray spawnChild(const QStringList &arguments, qint64 *spawnNs, int *exitCode)
{
    std::vector<QByteArray> storage;
    for (const QString &a : arguments)
        storage.push_back(a.toLocal8Bit());
    std::vector<char *> argv;
    for (auto &s : storage)
        argv.push_back(s.data());
    argv.push_back(nullptr);
    int pipeFds[2];
    if (::pipe(pipeFds) != 0)
        die(QStringLiteral("pipe failed"));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipeFds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, pipeFds[0]);
    posix_spawn_file_actions_addclose(&actions, pipeFds[1]);
    pid_t pid = 0;
    *spawnNs = nowNs();
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipeFds[1]);
    if (rc != 0)
        die(QStringLiteral("posix_spawn failed"));
    QByteArray out;
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(pipeFds[0], buffer, sizeof buffer)) > 0)
        out.append(buffer, n);
    ::close(pipeFds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    *exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    return out;
}

// Times one QtKeychain job on a dummy entry (never a token).
double timeKeychainJob(QKeychain::Job *job)
{
    QEventLoop loop;
    bool ok = false;
    QObject::connect(job, &QKeychain::Job::finished, &loop, [&](QKeychain::Job *j) {
        ok = j->error() == QKeychain::NoError;
        loop.quit();
    });
    QTimer::singleShot(30000, &loop, &QEventLoop::quit);
    const qint64 start = nowNs();
    job->start();
    loop.exec();
    const double ms = double(nowNs() - start) / 1e6;
    if (!ok)
        die(QStringLiteral("keychain probe failed: ") + job->errorString());
    return ms;
}

} // namespace

int main(int argc, char *argv[])
{
    const qint64 mainNs = nowNs();
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("bench_cold_start"));
    const Args args(QCoreApplication::arguments());
    const QUrl server(args.str(QStringLiteral("server")));
    const QString user = args.str(QStringLiteral("user"));
    const QString path = args.str(QStringLiteral("path"), QStringLiteral("/api/me/"));
    if (!server.isValid())
        die(QStringLiteral("usage: --server URL --user NAME [--runs N] (password on stdin)"));
    if (args.has(QStringLiteral("cold")))
        return runCold(mainNs, server, path);
    if (args.has(QStringLiteral("setup")))
        return runSetup(server, user);
    if (args.has(QStringLiteral("logout")))
        return runLogout(server);

    const int runs = args.num(QStringLiteral("runs"), 10);
    const int probes = args.num(QStringLiteral("probes"), 20);
    const QString self = QCoreApplication::applicationFilePath();
    const QString password = readStdinLine();
    {
        QProcess setup;
        setup.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        setup.start(self,
                    {QStringLiteral("--setup"), QStringLiteral("--server"), server.toString(),
                     QStringLiteral("--user"), user});
        setup.write(password.toUtf8() + '\n');
        setup.closeWriteChannel();
        if (!setup.waitForFinished(120000) || setup.exitCode() != 0)
            die(QStringLiteral("setup child failed"));
    }

    std::vector<double> exec, init, storage, refresh, firstGet, total, wall;
    for (int i = 0; i < runs; ++i) {
        qint64 spawned = 0;
        int exitCode = 0;
        const QByteArray out =
                spawnChild({self, QStringLiteral("--cold"), QStringLiteral("--server"),
                            server.toString(), QStringLiteral("--path"), path},
                           &spawned, &exitCode);
        const qint64 exited = nowNs();
        const QJsonObject t = QJsonDocument::fromJson(out.trimmed()).object();
        if (exitCode != 0 || t.isEmpty())
            die(QStringLiteral("cold child %1 failed").arg(i));
        auto ms = [](double a, double b) { return (b - a) / 1e6; };
        exec.push_back(ms(double(spawned), t.value(QStringLiteral("main")).toDouble()));
        init.push_back(ms(t.value(QStringLiteral("main")).toDouble(),
                          t.value(QStringLiteral("restore_called")).toDouble()));
        storage.push_back(ms(t.value(QStringLiteral("restore_called")).toDouble(),
                             t.value(QStringLiteral("signed_in")).toDouble()));
        refresh.push_back(ms(t.value(QStringLiteral("signed_in")).toDouble(),
                             t.value(QStringLiteral("restored")).toDouble()));
        firstGet.push_back(ms(t.value(QStringLiteral("restored")).toDouble(),
                              t.value(QStringLiteral("responded")).toDouble()));
        total.push_back(ms(double(spawned), t.value(QStringLiteral("responded")).toDouble()));
        wall.push_back(ms(double(spawned), double(exited)));
    }

    // Isolated secure-storage costs on a dummy entry of another service name.
    std::vector<double> reads, writes;
    const QString probeService = QStringLiteral("org.tessera.bench.probe");
    const QString probeKey = QStringLiteral("probe");
    for (int i = 0; i < probes; ++i) {
        auto *w = new QKeychain::WritePasswordJob(probeService);
        w->setAutoDelete(true);
        w->setInsecureFallback(false);
        w->setKey(probeKey);
        w->setBinaryData(QByteArray(43, 'x'));
        writes.push_back(timeKeychainJob(w));
        auto *r = new QKeychain::ReadPasswordJob(probeService);
        r->setAutoDelete(true);
        r->setInsecureFallback(false);
        r->setKey(probeKey);
        reads.push_back(timeKeychainJob(r));
    }
    {
        auto *d = new QKeychain::DeletePasswordJob(probeService);
        d->setAutoDelete(true);
        d->setKey(probeKey);
        timeKeychainJob(d);
    }
    {
        QProcess logout;
        logout.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        logout.start(self,
                     {QStringLiteral("--logout"), QStringLiteral("--server"), server.toString()});
        if (!logout.waitForFinished(120000) || logout.exitCode() != 0)
            die(QStringLiteral("logout child failed"));
    }

    auto arr = [](const std::vector<double> &v) {
        QJsonArray a;
        for (double x : v)
            a.append(x);
        return a;
    };
    printJson({{QStringLiteral("runs"), runs},
               {QStringLiteral("exec_ms"), median(exec)},
               {QStringLiteral("init_ms"), median(init)},
               {QStringLiteral("storage_ms"), median(storage)},
               {QStringLiteral("refresh_ms"), median(refresh)},
               {QStringLiteral("first_get_ms"), median(firstGet)},
               {QStringLiteral("total_ms"), median(total)},
               {QStringLiteral("total_p99_ms"), percentile(total, 99)},
               {QStringLiteral("process_wall_ms"), median(wall)},
               {QStringLiteral("keychain_read_ms"), median(reads)},
               {QStringLiteral("keychain_write_ms"), median(writes)},
               {QStringLiteral("total_all_ms"), arr(total)}});
    return 0;
}

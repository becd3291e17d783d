// SPDX-License-Identifier: MIT
// bench_refresh_storm --server URL --user NAME [--requests 1000] [--rounds 3]
//                     [--expire-wait-ms 9000] [--path /api/me/]
// The password is read from the first line of stdin. Run it against a server
// started with a short --access-ttl (expire-wait-ms must exceed it).
//
// Each round: the event loop is blocked until the access token has expired
// (client and server side), then `requests` authenticated GETs are issued at
// once. Reports the refreshes the SDK made for them (must be exactly one), the
// statuses, and the time until all complete; then, as a baseline, the same
// burst again on the fresh token.
#include "batch.h"

#include <tessera/authenticatednetworkaccessmanager.h>
#include <tessera/session.h>

#include <QtCore/QJsonArray>

#include <chrono>
#include <thread>

using namespace Bench;

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("bench_refresh_storm"));
    const Args args(QCoreApplication::arguments());
    const QUrl server(args.str(QStringLiteral("server")));
    const QString user = args.str(QStringLiteral("user"));
    const QString path = args.str(QStringLiteral("path"), QStringLiteral("/api/me/"));
    const int requests = args.num(QStringLiteral("requests"), 1000);
    const int rounds = args.num(QStringLiteral("rounds"), 3);
    const int expireWaitMs = args.num(QStringLiteral("expire-wait-ms"), 9000);
    if (!server.isValid() || user.isEmpty())
        die(QStringLiteral("usage: --server URL --user NAME (password on stdin)"));
    const QString password = readStdinLine();

    Tessera::SessionConfig config(server, QStringLiteral("org.tessera.bench"));
    config.setStoragePolicy(Tessera::SessionConfig::StoragePolicy::MemoryOnly);
    Tessera::Session session(config);
    const Tessera::Error loginError = runOperation(session.login(user, password));
    if (loginError.isError())
        die(QStringLiteral("login failed: ") + loginError.message());

    Tessera::AuthenticatedNetworkAccessManager manager(&session);
    QUrl url = server;
    url.setPath(path);
    const QNetworkRequest request(url);
    // Open the connections first so the storm does not measure TCP setup.
    if (runBatch(&manager, request, 50, 50).failed)
        die(QStringLiteral("warm-up failed"));

    QJsonArray stormMs, baselineMs, refreshes, failures, stormP99, baselineP99;
    bool exact = true;
    for (int round = 0; round < rounds; ++round) {
        // Block the event loop: no proactive refresh can run, and the token
        // expires on both sides.
        std::this_thread::sleep_for(std::chrono::milliseconds(expireWaitMs));
        const int before = refreshCount(session);
        const BatchResult storm = runBatch(&manager, request, requests, requests, 120000);
        const int made = refreshCount(session) - before;
        exact = exact && made == 1;
        stormMs.append(storm.wallMs);
        stormP99.append(percentile(storm.latencyUs, 99) / 1000.0);
        refreshes.append(made);
        const BatchResult baseline = runBatch(&manager, request, requests, requests, 120000);
        baselineMs.append(baseline.wallMs);
        baselineP99.append(percentile(baseline.latencyUs, 99) / 1000.0);
        failures.append(storm.failed + baseline.failed + (storm.timedOut || baseline.timedOut));
    }
    auto medianOf = [](const QJsonArray &a) {
        std::vector<double> v;
        for (const auto &x : a)
            v.push_back(x.toDouble());
        return median(v);
    };
    int failed = 0;
    for (const auto &f : failures)
        failed += f.toInt();
    printJson({
            {QStringLiteral("requests"), requests},
            {QStringLiteral("rounds"), rounds},
            {QStringLiteral("storm_ms"), stormMs},
            {QStringLiteral("storm_median_ms"), medianOf(stormMs)},
            {QStringLiteral("storm_p99_ms"), medianOf(stormP99)},
            {QStringLiteral("baseline_ms"), baselineMs},
            {QStringLiteral("baseline_median_ms"), medianOf(baselineMs)},
            {QStringLiteral("baseline_p99_ms"), medianOf(baselineP99)},
            {QStringLiteral("refreshes_per_storm"), refreshes},
            {QStringLiteral("exactly_one_refresh"), exact},
            {QStringLiteral("failures"), failed},
    });
    return exact && failed == 0 ? 0 : 1;
}

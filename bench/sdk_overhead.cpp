// SPDX-License-Identifier: MIT
// bench_sdk_overhead --server URL --user NAME [--path /api/me/] [--requests 10000]
//                    [--concurrency 1] [--rounds 5] [--warmup 500] [--only raw|auth]
// The password is read from the first line of stdin.
//
// Per-request overhead of Tessera::AuthenticatedNetworkAccessManager against a
// raw QNetworkAccessManager that sends the same bearer token to the same
// endpoint. Rounds alternate which manager goes first; prints one JSON line
// with the wall time of every round and the per-request latency percentiles.
// --only runs a single manager (for profiling one side, e.g. under callgrind).
#include "batch.h"

#include <tessera/authenticatednetworkaccessmanager.h>
#include <tessera/session.h>

#include <QtCore/QJsonArray>

using namespace Bench;

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("bench_sdk_overhead"));
    const Args args(QCoreApplication::arguments());
    const QUrl server(args.str(QStringLiteral("server")));
    const QString user = args.str(QStringLiteral("user"));
    const QString path = args.str(QStringLiteral("path"), QStringLiteral("/api/me/"));
    const int requests = args.num(QStringLiteral("requests"), 10000);
    const int concurrency = args.num(QStringLiteral("concurrency"), 1);
    const int rounds = args.num(QStringLiteral("rounds"), 5);
    const int warmup = args.num(QStringLiteral("warmup"), 500);
    const QString only = args.str(QStringLiteral("only"));
    if (!server.isValid() || user.isEmpty())
        die(QStringLiteral("usage: --server URL --user NAME (password on stdin)"));
    const QString password = readStdinLine();

    Tessera::SessionConfig config(server, QStringLiteral("org.tessera.bench"));
    config.setStoragePolicy(Tessera::SessionConfig::StoragePolicy::MemoryOnly);
    Tessera::Session session(config);
    const Tessera::Error loginError = runOperation(session.login(user, password));
    if (loginError.isError())
        die(QStringLiteral("login failed: ") + loginError.message());

    QNetworkAccessManager raw;
    Tessera::AuthenticatedNetworkAccessManager authenticated(&session);
    QUrl url = server;
    url.setPath(path);
    QNetworkRequest plainRequest(url);
    QNetworkRequest rawRequest(url);
    {
        QByteArray token = freshToken(session);
        if (token.isEmpty())
            die(QStringLiteral("no access token"));
        rawRequest.setRawHeader(QByteArrayLiteral("Authorization"),
                                QByteArrayLiteral("Bearer ") + token);
        token.fill('\0');
    }

    // Warm-up: open the connections and settle allocations on both sides.
    for (QNetworkAccessManager *m : {static_cast<QNetworkAccessManager *>(&raw),
                                     static_cast<QNetworkAccessManager *>(&authenticated)}) {
        const BatchResult w =
                runBatch(m, m == &raw ? rawRequest : plainRequest, warmup, concurrency);
        if (w.failed || w.timedOut)
            die(QStringLiteral("warm-up failed"));
    }

    QJsonArray rawMs, authMs;
    std::vector<double> rawLatency, authLatency;
    int failures = 0;
    for (int round = 0; round < rounds; ++round) {
        for (int leg = 0; leg < 2; ++leg) {
            const bool useRaw = (round % 2 == 0) == (leg == 0);
            if ((only == QLatin1String("raw") && !useRaw)
                || (only == QLatin1String("auth") && useRaw))
                continue;
            BatchResult r = useRaw ? runBatch(&raw, rawRequest, requests, concurrency)
                                   : runBatch(&authenticated, plainRequest, requests, concurrency);
            failures += r.failed + (r.timedOut ? 1 : 0);
            (useRaw ? rawMs : authMs).append(r.wallMs);
            auto &latency = useRaw ? rawLatency : authLatency;
            latency.insert(latency.end(), r.latencyUs.begin(), r.latencyUs.end());
        }
    }
    auto medianOf = [](const QJsonArray &a) {
        std::vector<double> v;
        for (const auto &x : a)
            v.push_back(x.toDouble());
        return median(v);
    };
    std::vector<double> paired; // per round, so slow drifts in machine load cancel out
    for (qsizetype i = 0; i < rawMs.size() && i < authMs.size(); ++i)
        paired.push_back((authMs.at(i).toDouble() / rawMs.at(i).toDouble() - 1.0) * 100.0);
    const double rawMedian = medianOf(rawMs);
    const double authMedian = medianOf(authMs);
    printJson({
            {QStringLiteral("requests"), requests},
            {QStringLiteral("concurrency"), concurrency},
            {QStringLiteral("rounds"), rounds},
            {QStringLiteral("path"), path},
            {QStringLiteral("raw_ms"), rawMs},
            {QStringLiteral("auth_ms"), authMs},
            {QStringLiteral("raw_median_ms"), rawMedian},
            {QStringLiteral("auth_median_ms"), authMedian},
            {QStringLiteral("overhead_pct"), (authMedian / rawMedian - 1.0) * 100.0},
            {QStringLiteral("overhead_pct_paired_median"), median(paired)},
            {QStringLiteral("raw_p50_us"), percentile(rawLatency, 50)},
            {QStringLiteral("raw_p99_us"), percentile(rawLatency, 99)},
            {QStringLiteral("auth_p50_us"), percentile(authLatency, 50)},
            {QStringLiteral("auth_p99_us"), percentile(authLatency, 99)},
            {QStringLiteral("failures"), failures},
            {QStringLiteral("refreshes"), refreshCount(session)},
    });
    return failures == 0 ? 0 : 1;
}

// SPDX-License-Identifier: MIT
// bench_sdk_overhead --server URL --user NAME [--path /api/me/] [--requests 1000]
//                    [--concurrency 1] [--rounds 30] [--warmup 500] [--only raw|auth]
//                    [--server-pid PID]
// The password is read from the first line of stdin.
//
// Per-request overhead of Tessera::AuthenticatedNetworkAccessManager against a
// raw QNetworkAccessManager that sends the same bearer token to the same
// endpoint. Each round runs both managers (alternating which goes first) and
// measures each side's wall time, this process's CPU time (user + system, all
// threads), the server's CPU time (--server-pid: all its threads, from /proc)
// and, where the machine has a hardware counter, this process's instructions.
// The overhead of a round is (authenticated / raw - 1) for each measure, so
// slow drifts in machine load cancel out; CPU time and instructions are what
// background load on a shared machine barely moves, wall time is what a user
// waits. Prints one JSON line: every round's figures, the spread (min,
// quartiles, median, max) of each overhead over the rounds, per-request
// latency percentiles.
// --only runs a single manager (for profiling one side, e.g. under callgrind);
// --rounds 0 does the log-in and warm-up alone (the baseline to subtract there).
#include "batch.h"
#include "cpumeter.h"

#include <tessera/authenticatednetworkaccessmanager.h>
#include <tessera/session.h>

#include <QtCore/QJsonArray>

#include <cmath>
#include <cstring>

using namespace Bench;

namespace {

// One manager's figures over one batch of requests.
struct Leg
{
    double wallMs = 0;
    double clientCpuUs = 0;
    double serverCpuUs = NAN;
    double instructions = NAN;
};

using Measure = double (*)(const Leg &);

QJsonArray toJson(const std::vector<double> &values)
{
    QJsonArray array;
    for (double v : values)
        array.append(std::isnan(v) ? QJsonValue() : QJsonValue(v));
    return array;
}

// Per round: (authenticated / raw - 1) in percent; empty when a side lacks the measure.
std::vector<double> pairedOverhead(const std::vector<Leg> &raw, const std::vector<Leg> &auth,
                                   Measure measure)
{
    std::vector<double> out;
    for (size_t i = 0; i < raw.size() && i < auth.size(); ++i) {
        const double r = measure(raw[i]);
        const double a = measure(auth[i]);
        if (std::isnan(r) || std::isnan(a) || r <= 0)
            return {};
        out.push_back((a / r - 1.0) * 100.0);
    }
    return out;
}

std::vector<double> perRequest(const std::vector<Leg> &legs, Measure measure, int requests)
{
    std::vector<double> out;
    for (const Leg &leg : legs) {
        if (std::isnan(measure(leg)))
            return {};
        out.push_back(measure(leg) / requests);
    }
    return out;
}

const std::pair<const char *, Measure> Measures[] = {
        {"wall", [](const Leg &l) { return l.wallMs; }},
        {"client_cpu", [](const Leg &l) { return l.clientCpuUs; }},
        {"server_cpu", [](const Leg &l) { return l.serverCpuUs; }},
        {"total_cpu", [](const Leg &l) { return l.clientCpuUs + l.serverCpuUs; }},
        {"client_instructions", [](const Leg &l) { return l.instructions; }},
};

Measure measureNamed(const char *name)
{
    for (const auto &[n, m] : Measures) {
        if (std::strcmp(n, name) == 0)
            return m;
    }
    std::abort();
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("bench_sdk_overhead"));
    const Args args(QCoreApplication::arguments());
    const QUrl server(args.str(QStringLiteral("server")));
    const QString user = args.str(QStringLiteral("user"));
    const QString path = args.str(QStringLiteral("path"), QStringLiteral("/api/me/"));
    const int requests = args.num(QStringLiteral("requests"), 1000);
    const int concurrency = args.num(QStringLiteral("concurrency"), 1);
    const int rounds = args.num(QStringLiteral("rounds"), 30);
    const int warmup = args.num(QStringLiteral("warmup"), 500);
    const QString only = args.str(QStringLiteral("only"));
    if (!server.isValid() || user.isEmpty() || requests < 1 || rounds < 0)
        die(QStringLiteral("usage: --server URL --user NAME (password on stdin)"));
    // Before the session and the network managers start any thread.
    const CpuMeter meter(args.num(QStringLiteral("server-pid"), 0));
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

    std::vector<Leg> rawLegs, authLegs;
    std::vector<double> rawLatency, authLatency;
    int failures = 0;
    for (int round = 0; round < rounds; ++round) {
        for (int leg = 0; leg < 2; ++leg) {
            const bool useRaw = (round % 2 == 0) == (leg == 0);
            if ((only == QLatin1String("raw") && !useRaw)
                || (only == QLatin1String("auth") && useRaw))
                continue;
            const CpuMeter::Sample before = meter.sample();
            BatchResult r = useRaw ? runBatch(&raw, rawRequest, requests, concurrency)
                                   : runBatch(&authenticated, plainRequest, requests, concurrency);
            const CpuMeter::Sample after = meter.sample();
            failures += r.failed + (r.timedOut ? 1 : 0);
            Leg figures;
            figures.wallMs = r.wallMs;
            figures.clientCpuUs = after.selfCpuUs - before.selfCpuUs;
            if (meter.hasServer())
                figures.serverCpuUs = CpuMeter::serverCpuUs(before, after);
            if (meter.hasInstructions())
                figures.instructions = after.instructions - before.instructions;
            (useRaw ? rawLegs : authLegs).push_back(figures);
            auto &latency = useRaw ? rawLatency : authLatency;
            latency.insert(latency.end(), r.latencyUs.begin(), r.latencyUs.end());
        }
    }

    auto column = [](const std::vector<Leg> &legs, Measure measure) {
        std::vector<double> out;
        for (const Leg &leg : legs)
            out.push_back(measure(leg));
        return out;
    };
    const std::vector<double> rawMs = column(rawLegs, measureNamed("wall"));
    const std::vector<double> authMs = column(authLegs, measureNamed("wall"));
    const double rawMedian = median(rawMs);
    const double authMedian = median(authMs);
    const std::vector<double> pairedWall = pairedOverhead(rawLegs, authLegs, measureNamed("wall"));

    QJsonObject overhead; // per measure: the spread of the per-round overhead, %
    QJsonObject overheadRounds;
    QJsonObject perRequestRaw; // per measure: the spread over rounds of the cost per request
    QJsonObject perRequestAuth;
    for (const auto &[name, measure] : Measures) {
        const QString key = QString::fromLatin1(name);
        const std::vector<double> paired = pairedOverhead(rawLegs, authLegs, measure);
        overhead.insert(key, paired.empty() ? QJsonValue() : QJsonValue(spread(paired)));
        overheadRounds.insert(key, toJson(paired));
        const std::vector<double> r = perRequest(rawLegs, measure, requests);
        const std::vector<double> a = perRequest(authLegs, measure, requests);
        perRequestRaw.insert(key, r.empty() ? QJsonValue() : QJsonValue(spread(r)));
        perRequestAuth.insert(key, a.empty() ? QJsonValue() : QJsonValue(spread(a)));
    }
    printJson({
            {QStringLiteral("requests"), requests},
            {QStringLiteral("concurrency"), concurrency},
            {QStringLiteral("rounds"), rounds},
            {QStringLiteral("path"), path},
            {QStringLiteral("raw_ms"), toJson(rawMs)},
            {QStringLiteral("auth_ms"), toJson(authMs)},
            {QStringLiteral("raw_client_cpu_us"),
             toJson(column(rawLegs, measureNamed("client_cpu")))},
            {QStringLiteral("auth_client_cpu_us"),
             toJson(column(authLegs, measureNamed("client_cpu")))},
            {QStringLiteral("raw_server_cpu_us"),
             toJson(column(rawLegs, measureNamed("server_cpu")))},
            {QStringLiteral("auth_server_cpu_us"),
             toJson(column(authLegs, measureNamed("server_cpu")))},
            {QStringLiteral("raw_instructions"),
             toJson(column(rawLegs, measureNamed("client_instructions")))},
            {QStringLiteral("auth_instructions"),
             toJson(column(authLegs, measureNamed("client_instructions")))},
            {QStringLiteral("raw_median_ms"), rawMedian},
            {QStringLiteral("auth_median_ms"), authMedian},
            {QStringLiteral("overhead_pct"), (authMedian / rawMedian - 1.0) * 100.0},
            {QStringLiteral("overhead_pct_paired_median"), median(pairedWall)},
            {QStringLiteral("overhead_pct_spread"), overhead},
            {QStringLiteral("overhead_pct_rounds"), overheadRounds},
            {QStringLiteral("raw_per_request"), perRequestRaw},
            {QStringLiteral("auth_per_request"), perRequestAuth},
            {QStringLiteral("server_cpu_source"), meter.serverSource()},
            {QStringLiteral("instructions_scope"), meter.instructionScope()},
            {QStringLiteral("raw_p50_us"), percentile(rawLatency, 50)},
            {QStringLiteral("raw_p99_us"), percentile(rawLatency, 99)},
            {QStringLiteral("auth_p50_us"), percentile(authLatency, 50)},
            {QStringLiteral("auth_p99_us"), percentile(authLatency, 99)},
            {QStringLiteral("failures"), failures},
            {QStringLiteral("refreshes"), refreshCount(session)},
    });
    return failures == 0 ? 0 : 1;
}

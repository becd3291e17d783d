#!/usr/bin/env bash
# Builds the benchmark programs (Release) and runs them all on loopback; writes
# docs/BENCHMARKS.md. Build directory: ${TESSERA_BENCH_BUILD_DIR:-build-bench};
# TESSERA_BENCH_SKIP_BUILD=1 uses the programs already built there as they are
# (the ctest test bench.run_options does, in the test build).
# Options go to bench/run.py (`bench/run.py --help`):
#   --reps N, --duration S, --sizes 1000,100000,1000000   counts and sizes
#   --sdk-requests N, --sdk-rounds N   SDK overhead: requests per round, paired rounds
#   --callgrind-runs N   callgrind runs of the SDK overhead (the median run is kept)
#   --skip-growth, --skip-cold, --no-profile (skip perf + callgrind profiles)   phases
#   --skip-oauth, --oauth-only   the OAuth phase (tessera-server's /token and code flow, the
#                SDK's browser sign-in against tessera-server and oidc-provider): skip it, or
#                run it alone; --oauth-runs N   its code-flow round trips (sign-ins: N/2)
#   --scaleout   only the scale-out comparison (issue 14): refresh with rotation and
#                authenticated GET on tessera-server with SQLite, with PostgreSQL, two instances
#                on PostgreSQL behind HAProxy, and Django; CPU and PostgreSQL transactions per
#                request; its section of --out is replaced, the rest of the file kept
#   --dpop   only the DPoP comparison (issue 13): authenticated GET with a Bearer token and with
#            a DPoP-bound one plus a proof per request on tessera-server, Django's Bearer GET,
#            refresh with and without DPoP; server CPU per request; the SDK's cost of signing a
#            proof and the server's of checking one; its section of --out is replaced
#   --growth-only   only the cost-growth phase: refresh with rotation against tessera-server
#            seeded with each of --sizes families, its memory, database size and query plans, and
#            the growth target's verdict; its section of --out ("## Cost growth") is replaced, the
#            rest of the file kept. A full run writes its own; with --skip-growth it keeps the old
#   --quick   a short run (numbers only indicative)
#   --smoke   the smallest run that takes every code path (numbers meaningless)
#   --out FILE   the report (default docs/BENCHMARKS.md)
#   --raw FILE   the raw results, JSON, written as each measurement completes
#                (default BUILD/bench-results/raw-DATE.json); the report is rendered from it
#   --report-only RAW   render the report again from a raw file, measuring nothing
# Needs: wrk, gunicorn, Debian's python3-django + DRF + SimpleJWT, gnome-keyring and
# dbus (cold start), linux-perf and valgrind for the profiles, node + npm for oidc-provider
# (see scripts/packages.txt).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TESSERA_BENCH_BUILD_DIR:-$root/build-bench}
for arg in "$@"; do
  # Rendering alone needs no build.
  [[ "$arg" == --report-only* ]] && exec /usr/bin/python3 "$root/bench/run.py" "$@"
done
if [[ "${TESSERA_BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  jobs=$(nproc)
  ((jobs > 2)) && jobs=2
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTESSERA_BUILD_BENCH=ON \
    -DTESSERA_BUILD_TESTS=OFF -DTESSERA_BUILD_DEMO=OFF >/dev/null
  cmake --build "$build" -j"$jobs" --target tessera-server bench_trivial_server bench_sdk_overhead \
    bench_refresh_storm bench_cold_start bench_browser_signin bench_postgres_cluster \
    bench_dpop_proof bench_dpop_proofs bench_dpop_verify
fi
exec /usr/bin/python3 "$root/bench/run.py" --build "$build" "$@"

#!/usr/bin/env bash
# Builds the benchmark programs (Release) and runs them all on loopback; writes
# docs/BENCHMARKS.md. Build directory: ${TESSERA_BENCH_BUILD_DIR:-build-bench}.
# Options go to bench/run.py: --reps N, --duration S, --sizes 1000,100000,1000000,
# --skip-growth, --skip-cold, --no-profile (skip perf + callgrind profiles), --quick.
# Needs: wrk, gunicorn, Debian's python3-django + DRF + SimpleJWT, gnome-keyring and
# dbus (cold start), linux-perf and valgrind for the profiles (see scripts/packages.txt).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TESSERA_BENCH_BUILD_DIR:-$root/build-bench}
jobs=$(nproc)
((jobs > 2)) && jobs=2
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTESSERA_BUILD_BENCH=ON \
  -DTESSERA_BUILD_TESTS=OFF -DTESSERA_BUILD_DEMO=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target tessera-server bench_trivial_server bench_sdk_overhead \
  bench_refresh_storm bench_cold_start
exec /usr/bin/python3 "$root/bench/run.py" --build "$build" "$@"

#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole test suite:
# a libFuzzer smoke run of each fuzz target (TESSERA_FUZZ_SECONDS, default 60;
# 0 skips), then ctest inside a private D-Bus session with a real, unlocked
# Secret Service. Extra arguments go to ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TESSERA_BUILD_DIR:-$root/build}
"$root/scripts/setup.sh"
TESSERA_BUILD_DIR=$build "$root/scripts/build.sh" -DTESSERA_BUILD_TESTS=ON
fuzz_seconds=${TESSERA_FUZZ_SECONDS:-60}
if ((fuzz_seconds > 0)); then
  echo "== fuzz smoke run, ${fuzz_seconds}s per target"
  TESSERA_FUZZ_BUILD_DIR=${TESSERA_FUZZ_BUILD_DIR:-$root/build-fuzz} "$root/scripts/fuzz.sh" "$fuzz_seconds"
fi
echo "== ctest"
"$root/scripts/with-keyring.sh" ctest --test-dir "$build" --output-on-failure --timeout 600 "$@"

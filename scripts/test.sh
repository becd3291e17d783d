#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole test suite:
#   1. a libFuzzer smoke run of each fuzz target (TESSERA_FUZZ_SECONDS, default 60; 0 skips)
#   2. the whole ctest suite built with AddressSanitizer + UndefinedBehaviorSanitizer
#      (TESSERA_SANITIZE=0 skips)
#   3. the whole ctest suite of the normal build, last
# ctest runs inside a private D-Bus session with a real, unlocked Secret Service, one test per
# core at once (TESSERA_TEST_JOBS; tests/CMakeLists.txt says which tests never meet).
# Extra arguments go to both ctest runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TESSERA_BUILD_DIR:-$root/build}
jobs=${TESSERA_TEST_JOBS:-$(nproc)}
"$root/scripts/setup.sh"
TESSERA_BUILD_DIR=$build "$root/scripts/build.sh" -DTESSERA_BUILD_TESTS=ON

fuzz_seconds=${TESSERA_FUZZ_SECONDS:-60}
if ((fuzz_seconds > 0)); then
  echo "== fuzz smoke run, ${fuzz_seconds}s per target"
  TESSERA_FUZZ_BUILD_DIR=${TESSERA_FUZZ_BUILD_DIR:-$root/build-fuzz} "$root/scripts/fuzz.sh" "$fuzz_seconds"
fi

if [[ "${TESSERA_SANITIZE:-1}" != 0 ]]; then
  echo "== ASan + UBSan build and test run"
  sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  # verify_asan_link_order=0 below: the clock-skew tests LD_PRELOAD libfaketime.
  # vptr checks need RTTI of the (uninstrumented) Qt classes we derive from; off.
  sanitize+=" -fno-sanitize=vptr"
  TESSERA_BUILD_DIR=${TESSERA_ASAN_BUILD_DIR:-$root/build-asan} "$root/scripts/build.sh" \
    -DCMAKE_BUILD_TYPE=Debug -DTESSERA_BUILD_TESTS=ON -DCMAKE_CXX_FLAGS="$sanitize" \
    -DCMAKE_EXE_LINKER_FLAGS="$sanitize" -DCMAKE_SHARED_LINKER_FLAGS="$sanitize"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:verify_asan_link_order=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$root/scripts/with-keyring.sh" ctest --test-dir "${TESSERA_ASAN_BUILD_DIR:-$root/build-asan}" \
    --output-on-failure --timeout 900 -j"$jobs" -E '^package\.' "$@" # the consumer test builds without ASan
fi

echo "== ctest"
"$root/scripts/with-keyring.sh" ctest --test-dir "$build" --output-on-failure --timeout 600 -j"$jobs" "$@"

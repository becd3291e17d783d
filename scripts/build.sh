#!/usr/bin/env bash
# Configures and builds Tessera into ${TESSERA_BUILD_DIR:-build}, optimised and without debug
# information (TESSERA_BUILD_TYPE, default Release): the test suite's sanitizer build
# (scripts/test.sh) is the one with debug information, for its stack traces; here it would only
# make the build, which the demo and the test command share, slower.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TESSERA_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${TESSERA_BUILD_TYPE:-Release}" "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"

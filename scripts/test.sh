#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole test suite
# (ctest) inside a private D-Bus session with a real, unlocked Secret Service.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TESSERA_BUILD_DIR:-$root/build}
"$root/scripts/setup.sh"
TESSERA_BUILD_DIR=$build "$root/scripts/build.sh" -DTESSERA_BUILD_TESTS=ON
"$root/scripts/with-keyring.sh" ctest --test-dir "$build" --output-on-failure --timeout 600 "$@"

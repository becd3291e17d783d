#!/usr/bin/env bash
# Installs this build into a temporary prefix, then configures, builds and runs
# tests/package/consumer against it with find_package(Tessera).
set -euo pipefail
build=$1 source=$2
work=$(mktemp -d /tmp/tessera-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/lib/cmake/Tessera/TesseraConfig.cmake" || test -n "$(find "$work/prefix" -name TesseraConfig.cmake)"
# Private headers must never be installed.
if find "$work/prefix/include" -name '*_p.h' | grep -q .; then
  echo "private headers were installed" >&2
  exit 1
fi
cmake -S "$source/tests/package/consumer" -B "$work/consumer" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib:$(dirname "$(find "$work/prefix" -name 'libtessera-sdk.so*' | head -1)")" \
  QT_QPA_PLATFORM=offscreen "$work/consumer/consumer"

#!/usr/bin/env bash
# Installs this build into a temporary prefix, then configures, builds and runs, against it:
# tests/package/consumer (C++, find_package(Tessera)) and tests/package/qmlconsumer (QML,
# find_package(Tessera COMPONENTS Qml), `import Tessera` from the installed module; signs in
# to a tessera-server of this build when there is one). Prints "package consumers ok" last.
set -euo pipefail
build=$1 source=$2
work=$(mktemp -d /tmp/tessera-package.XXXXXX)
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/lib/cmake/Tessera/TesseraConfig.cmake" || test -n "$(find "$work/prefix" -name TesseraConfig.cmake)"
# Private headers must never be installed.
if find "$work/prefix/include" -name '*_p.h' | grep -q .; then
  echo "private headers were installed" >&2
  exit 1
fi
libdir=$(dirname "$(find "$work/prefix" -name 'libtessera-sdk.so*' | head -1)")
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

cmake -S "$source/tests/package/consumer" -B "$work/consumer" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
QT_QPA_PLATFORM=offscreen "$work/consumer/consumer"

# The QML module: the library, exported for COMPONENTS Qml, and the module directory.
module=$(find "$work/prefix" -path '*/qml/Tessera/qmldir' | head -1)
if [[ -z $module ]]; then
  echo "the QML module Tessera (qmldir) was not installed" >&2
  exit 1
fi
for file in TesseraQml.qmltypes libTesseraQmlplugin.so; do
  test -f "$(dirname "$module")/$file" || { echo "QML module file $file was not installed" >&2; exit 1; }
done
cmake -S "$source/tests/package/qmlconsumer" -B "$work/qmlconsumer" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/qmlconsumer" >/dev/null

# A live server of this build for the sign-in, on a loopback port of its choosing.
server_url=
server=$(find "$build" -maxdepth 3 -type f -name tessera-server -perm -u+x | head -1)
if [[ -n $server ]]; then
  "$server" --listen 127.0.0.1:0 --db "$work/server.sqlite3" --demo --login-limit 0 \
    --argon2-memory 8192 --argon2-iterations 1 >"$work/server.out" 2>"$work/server.err" &
  server_pid=$!
  for _ in $(seq 150); do
    server_url=$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$work/server.out" | sed 's/^listening on //' || true)
    [[ -n $server_url ]] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z $server_url ]]; then
    echo "tessera-server did not start:" >&2
    cat "$work/server.err" >&2
    exit 1
  fi
else
  echo "no tessera-server in this build: the QML consumers check errors only"
fi
QT_QPA_PLATFORM=offscreen "$work/qmlconsumer/qmlconsumer" $server_url
QT_QPA_PLATFORM=offscreen "$work/qmlconsumer/qmlpluginconsumer" $server_url
echo "package consumers ok"

#!/usr/bin/env bash
# Installs what is missing, builds, starts tessera-server on its embedded SQLite
# database with a demo user and the demo's OAuth client, then runs the desktop
# demo (browser sign-in) when a display is present, and otherwise walks through
# the `tessera` CLI: login, status, a protected call, a refresh, logout, reuse
# detection, and then the device flow (RFC 8628), printing each step.
# TESSERA_DEMO_PREBUILT=1 uses the build in TESSERA_BUILD_DIR as it is (the
# test of this script); TESSERA_DEMO_DIR moves its working directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TESSERA_BUILD_DIR:-$root/build}
if [[ "${TESSERA_DEMO_PREBUILT:-}" != 1 ]]; then
  "$root/scripts/setup.sh"
  TESSERA_BUILD_DIR=$build "$root/scripts/build.sh"
fi

workdir=${TESSERA_DEMO_DIR:-$build/demo}
mkdir -p "$workdir"
# The server refuses a database directory its group can write to, which a
# umask of 002 (Debian's default for users with a private group) would give.
chmod 0700 "$workdir"
log="$workdir/server.log"
cd "$workdir"
# The demo keeps its database here, next to its logs (the server's default is
# ~/.local/share/tessera-server/); the server refuses a directory others can write.
"$build/server/tessera-server" --listen 127.0.0.1:0 --db "$workdir/tessera-server.sqlite3" --demo \
  --access-ttl 60 --reuse-grace 2 >"$workdir/server.out" 2>"$log" &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q '^listening on ' "$workdir/server.out" 2>/dev/null && break
  kill -0 $server_pid 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
base=$(sed -n 's/^listening on //p' "$workdir/server.out")
echo "== tessera-server on $base (database $workdir/tessera-server.sqlite3)"
grep '^demo \(user\|client\)' "$workdir/server.out"

if [[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" && -x "$build/demo-app/desktop/tessera-demo" ]]; then
  echo "== starting the desktop demo: sign in with your browser (as demo / tessera-demo)"
  "$build/demo-app/desktop/tessera-demo" --issuer "$base" --client-id tessera-demo
  exit 0
fi

walkthrough() {
  local cli="$build/demo-app/cli/tessera" config="$workdir/cli.conf"
  tessera() { "$cli" "$@" --config "$config" --app-id org.tessera.demo; }
  step() { printf '\n== %s\n$ %s\n' "$1" "$2"; }

  step "1. login (password on stdin; the refresh token goes to the Secret Service)" \
    "tessera login --server $base --username demo --password-stdin"
  echo tessera-demo | tessera login --server "$base" --username demo --password-stdin
  local key="org.tessera.demo|$base|demo"
  local secret
  secret=$(secret-tool lookup server tessera:org.tessera.demo user "$key" | base64 -d)
  echo "stored in the Secret Service: a refresh token of ${#secret} characters"
  echo "files under \$HOME and $workdir containing it: $(grep -rlF -- "$secret" "$HOME" "$workdir" 2>/dev/null | wc -l)"
  unset secret

  step "2. status (each invocation signs in from secure storage with one rotating refresh)" "tessera status"
  tessera status

  step "3. a protected call" "tessera get /api/me/"
  tessera get /api/me/

  step "4. a fresh access token for scripts (shown truncated here)" "tessera token"
  token=$(tessera token)
  echo "${token:0:12}… (${#token} characters)"
  curl -sS -w '  <- curl with that token: HTTP %{http_code}\n' -H "Authorization: Bearer $token" "$base/api/me/"

  step "5. logout: revoked on the server, forgotten locally" "tessera logout"
  tessera logout
  curl -sS -w '  <- the old access token right after logout: HTTP %{http_code}\n' \
    -H "Authorization: Bearer $token" "$base/api/me/"
  set +e
  tessera status
  echo "(exit code $?: 3 = signed out)"
  set -e
}

# The OAuth profile without a browser here: the device authorization grant. The
# person who approves the code on "another device" is the project's scripted
# browser (tests/interop/oidc/browser.py), which the CLI starts as $BROWSER.
device_walkthrough() {
  local cli="$build/demo-app/cli/tessera" config="$workdir/cli-oauth.conf"
  tessera() { "$cli" "$@" --config "$config" --app-id org.tessera.demo; }
  step() { printf '\n== %s\n$ %s\n' "$1" "$2"; }
  local person="$workdir/person"
  printf '#!/bin/sh\nexec /usr/bin/python3 "%s" --login demo --password tessera-demo "$1"\n' \
    "$root/tests/interop/oidc/browser.py" >"$person"
  chmod 0700 "$person"
  rm -f "$config"

  step "7. login with the device flow (OAuth 2.0, RFC 8628): the CLI shows a code to approve elsewhere" \
    "tessera login --issuer $base --client-id tessera-demo --device"
  echo "(no browser on this machine: the person approving the code on another device is played by"
  echo " tests/interop/oidc/browser.py, started as \$BROWSER; it signs in as demo on $base/device)"
  BROWSER=$person tessera login --issuer "$base" --client-id tessera-demo --device

  step "8. status (the config remembers issuer and client id; the refresh token is in the Secret Service)" \
    "tessera status"
  tessera status

  step "9. a protected call: the OpenID Connect userinfo endpoint" "tessera get /userinfo"
  tessera get /userinfo

  step "10. logout: the refresh token is revoked at $base/revoke (RFC 7009)" "tessera logout"
  token=$(tessera token)
  tessera logout
  curl -sS -o /dev/null -w '  <- the old access token at /userinfo right after logout: HTTP %{http_code}\n' \
    -H "Authorization: Bearer $token" "$base/userinfo"
  set +e
  tessera status
  echo "(exit code $?: 3 = signed out)"
  set -e
}

in_keyring() {
  if [[ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]]; then
    export -f walkthrough device_walkthrough
    export root build workdir base
    "$root/scripts/with-keyring.sh" bash -c "$1"
  else
    "$1"
  fi
}

[[ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ]] ||
  echo "== no desktop session here: the CLI uses a throwaway Secret Service (gnome-keyring)"
in_keyring walkthrough

json() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"; }
post() { curl -sS -o "$workdir/body" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @- "$base$1"; }
printf '\n== 6. reuse detection (raw API): a login, one rotation, then the OLD refresh token is replayed\n'
printf '{"username":"demo","password":"tessera-demo"}' | post /api/token/ >/dev/null
r1=$(json refresh <"$workdir/body")
printf '{"refresh":"%s"}' "$r1" | post /api/token/refresh/ >/dev/null
a2=$(json access <"$workdir/body"); r2=$(json refresh <"$workdir/body")
echo "waiting out the grace window (2 s here, 10 s by default) that absorbs lost responses..."
sleep 3
echo "replayed old refresh token: HTTP $(printf '{"refresh":"%s"}' "$r1" | post /api/token/refresh/)"
echo "the family's newest refresh token: HTTP $(printf '{"refresh":"%s"}' "$r2" | post /api/token/refresh/) (the whole family was revoked)"
curl -sS -o /dev/null -w "its access token: HTTP %{http_code}\n" -H "Authorization: Bearer $a2" "$base/api/me/"


in_keyring device_walkthrough

printf '\n== server log (events only, never tokens or passwords)\n'
cat "$log"

#!/usr/bin/env bash
# Installs what is missing, builds, starts tessera-server on its embedded SQLite
# database with a demo user, and walks through login, a protected call, a
# refresh with rotation, reuse detection and logout with curl, printing each step.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TESSERA_BUILD_DIR:-$root/build}
"$root/scripts/setup.sh"
TESSERA_BUILD_DIR=$build "$root/scripts/build.sh"

workdir="$build/demo"
mkdir -p "$workdir"
log="$workdir/server.log"
cd "$workdir" # the server's SQLite default, tessera-server.sqlite3, lives here
"$build/server/tessera-server" --listen 127.0.0.1:0 --demo --access-ttl 60 --reuse-grace 2 >"$workdir/server.out" 2>"$log" &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q '^listening on ' "$workdir/server.out" 2>/dev/null && break
  kill -0 $server_pid 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
base=$(sed -n 's/^listening on //p' "$workdir/server.out")
echo "== tessera-server on $base (database $workdir/tessera-server.sqlite3)"
grep '^demo user' "$workdir/server.out"

json() { /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"; }
# Tokens are secrets: the demo shows only their first characters.
show() { printf '%s…(%d chars)' "${1:0:10}" "${#1}"; }
post() { curl -sS -o "$workdir/body" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @- "$base$1"; }

step() { printf '\n== %s\n' "$*"; }

step "1. login as demo (POST /api/token/; the password goes on stdin, not the command line)"
code=$(printf '{"username":"demo","password":"tessera-demo"}' | post /api/token/)
access=$(json access <"$workdir/body"); refresh=$(json refresh <"$workdir/body")
echo "HTTP $code  access=$(show "$access")  refresh=$(show "$refresh")"

step "2. protected call (GET /api/me/ with Authorization: Bearer)"
curl -sS -w '  HTTP %{http_code}\n' -H "Authorization: Bearer $access" "$base/api/me/"

step "3. refresh (POST /api/token/refresh/): the refresh token rotates"
code=$(printf '{"refresh":"%s"}' "$refresh" | post /api/token/refresh/)
access2=$(json access <"$workdir/body"); refresh2=$(json refresh <"$workdir/body")
echo "HTTP $code  new access=$(show "$access2")  new refresh=$(show "$refresh2")"
[[ "$refresh2" != "$refresh" ]] && echo "refresh token rotated: yes"
curl -sS -w '  HTTP %{http_code}\n' -H "Authorization: Bearer $access2" "$base/api/me/"

step "4. logout (POST /api/token/blacklist/): the server revokes the whole session"
code=$(printf '{"refresh":"%s"}' "$refresh2" | post /api/token/blacklist/)
echo "HTTP $code $(cat "$workdir/body")"

step "5. after logout the access token is dead at once, and so is the refresh token"
curl -sS -w '  HTTP %{http_code}\n' -H "Authorization: Bearer $access2" "$base/api/me/"
code=$(printf '{"refresh":"%s"}' "$refresh2" | post /api/token/refresh/)
echo "refresh: HTTP $code $(cat "$workdir/body")"

step "6. reuse detection: a new login, one rotation, then the OLD refresh token is replayed"
printf '{"username":"demo","password":"tessera-demo"}' | post /api/token/ >/dev/null
r1=$(json refresh <"$workdir/body")
printf '{"refresh":"%s"}' "$r1" | post /api/token/refresh/ >/dev/null
a2=$(json access <"$workdir/body"); r2=$(json refresh <"$workdir/body")
echo "waiting out the grace window (2 s here, 10 s by default) that absorbs lost responses..."
sleep 3
code=$(printf '{"refresh":"%s"}' "$r1" | post /api/token/refresh/)
echo "replayed old refresh token: HTTP $code $(cat "$workdir/body")"
code=$(printf '{"refresh":"%s"}' "$r2" | post /api/token/refresh/)
echo "the family's newest refresh token: HTTP $code (the whole family was revoked)"
curl -sS -w '  HTTP %{http_code}\n' -H "Authorization: Bearer $a2" "$base/api/me/"

step "server log (events only, no tokens or passwords)"
cat "$log"

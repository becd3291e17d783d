#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with an unlocked gnome-keyring
# (a real Secret Service) and an isolated HOME, so nothing touches a user's own
# keyring and nothing a test writes outlives the run.
set -euo pipefail
if (($# == 0)); then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi
sandbox=$(mktemp -d /tmp/tessera-keyring.XXXXXX)
trap 'rm -rf "$sandbox"' EXIT
mkdir -p "$sandbox/home" "$sandbox/run"
chmod 700 "$sandbox/home" "$sandbox/run"
export HOME="$sandbox/home" XDG_RUNTIME_DIR="$sandbox/run"
unset DBUS_SESSION_BUS_ADDRESS
# The keyring password only protects this throwaway keyring. Not exec'd, so the
# trap above removes the sandbox afterwards.
dbus-run-session -- bash -c '
  printf tessera-ci | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  exec "$@"' tessera-keyring "$@"

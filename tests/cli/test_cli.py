#!/usr/bin/python3
"""End-to-end tests of the `tessera` CLI against a live server on loopback.

    test_cli.py --cli PATH --server-bin PATH --peer PATH {tessera|django}

Runs inside scripts/with-keyring.sh (a private D-Bus session with an unlocked
gnome-keyring): the CLI keeps its refresh token in that real Secret Service.
Prints one line per check and "N passed, N failed" at the end.
"""
import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

PASSWORD = "cli-test-password-42"
JWT = re.compile(rb"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
results = {"passed": 0, "failed": 0}


def check(name, condition, detail=""):
    results["passed" if condition else "failed"] += 1
    print(f"{'PASS' if condition else 'FAIL'}  {name}{'' if condition else '  -- ' + detail}", flush=True)
    return condition


def start(cmd, stdin_text=None, env=None):
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    if stdin_text is not None:
        proc.stdin.write(stdin_text.encode())
    proc.stdin.close()
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stdout.readline().decode()
        if line.startswith("listening on "):
            return proc, line.split()[-1].strip()
        if not line and proc.poll() is not None:
            break
    raise SystemExit(f"server did not start: {proc.stderr.read().decode()[-2000:]}")


class Cli:
    def __init__(self, binary, config, server, extra=()):
        self.binary, self.config, self.server, self.extra = binary, config, server, list(extra)

    def __call__(self, *args, stdin="", env=None, server=True):
        cmd = [self.binary, *args, "--config", self.config] + self.extra
        if server:
            cmd += ["--server", self.server]
        proc = subprocess.run(cmd, input=stdin.encode(), capture_output=True, timeout=60, env=env)
        return proc.returncode, proc.stdout, proc.stderr


def stored_secret(service, key):
    out = subprocess.run(["secret-tool", "lookup", "server", service, "user", key],
                         capture_output=True).stdout
    if not out:
        return b""
    try:
        return base64.b64decode(out, validate=True)
    except Exception:
        return out


def http(url, body=None, token=None):
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None)
    if body:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", required=True)
    parser.add_argument("--server-bin", required=True)
    parser.add_argument("--peer", required=True)
    parser.add_argument("kind", choices=["tessera", "django"])
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="tessera-cli-test.")
    config = os.path.join(work, "cli.conf")
    app_id = "org.tessera.cli-test." + args.kind
    if args.kind == "tessera":
        subprocess.run([args.server_bin, "user", "add", "alice", "--db", os.path.join(work, "db.sqlite3"),
                        "--argon2-memory", "8192", "--argon2-iterations", "1"],
                       input=PASSWORD.encode(), check=True, capture_output=True)
        server, base = start([args.server_bin, "--listen", "127.0.0.1:0", "--db",
                              os.path.join(work, "db.sqlite3"), "--argon2-memory", "8192",
                              "--argon2-iterations", "1"])
        paths = []
        refresh_path = "/api/token/refresh/"
    else:
        server, base = start(["/usr/bin/python3", args.peer, "--db", os.path.join(work, "peer.sqlite3"),
                              "--user", "alice"], stdin_text=PASSWORD + "\n")
        # The peer also serves SimpleJWT under a djoser-style layout: configure the paths.
        paths = ["--obtain-path", "/auth/jwt/create/", "--refresh-path", "/auth/jwt/refresh/",
                 "--revoke-path", "/auth/jwt/blacklist/"]
        refresh_path = "/auth/jwt/refresh/"
    cli = Cli(args.cli, config, base, ["--app-id", app_id])
    service = "tessera:" + app_id
    key = f"{app_id}|http://127.0.0.1:{base.rsplit(':', 1)[1]}|alice"

    try:
        code, out, _ = cli("status")
        check("status before login exits 3", code == 3 and b"not signed in" in out, f"{code} {out!r}")

        code, _, err = cli("login", "--username", "alice", "--password-stdin", *paths, stdin="wrong\n")
        check("wrong password exits 3 with one line on stderr", code == 3 and err.count(b"\n") == 1,
              f"{code} {err!r}")

        code, out, err = cli("login", "--username", "alice", "--password-stdin", *paths,
                             stdin=PASSWORD + "\n")
        check("login exits 0", code == 0 and b"signed in as alice" in out, f"{code} {out!r} {err!r}")
        refresh = stored_secret(service, key)
        check("refresh token is in the Secret Service", len(refresh) > 20, repr(refresh[:8]))
        text = open(config, "rb").read()
        check("config file remembers server and user, no token",
              base.encode() in text and b"alice" in text and refresh not in text and not JWT.search(text),
              text.decode(errors="replace"))

        code, out, err = cli("status", server=False)
        check("status exits 0 and names user, server and expiry",
              code == 0 and b"alice" in out and base.encode() in out and b"expires" in out,
              f"{code} {out!r} {err!r}")
        check("status prints no token", not JWT.search(out + err))
        rotated = stored_secret(service, key)
        check("each invocation rotates and stores the new refresh token", rotated and rotated != refresh)

        code, out, err = cli("get", "/api/me/", server=False)
        check("get /api/me/ exits 0 with the user", code == 0 and b'"alice"' in out, f"{code} {out!r} {err!r}")

        code, out, err = cli("token", server=False)
        token = out.strip().decode()
        check("token prints one access JWT", code == 0 and JWT.fullmatch(out.strip()) is not None,
              f"{code} {err!r}")
        check("token never prints the refresh token", stored_secret(service, key) not in out)
        status, body = http(base + "/api/me/", token=token)
        check("the printed token works with curl-style clients", status == 200, f"{status} {body!r}")

        code, out, err = cli("get", "/nonexistent/", server=False)
        check("get of a missing path exits 5", code == 5, f"{code} {err!r}")

        old_refresh = stored_secret(service, key)
        code, out, err = cli("logout", server=False)
        check("logout exits 0", code == 0 and b"signed out" in out, f"{code} {out!r} {err!r}")
        check("logout removed the stored token", stored_secret(service, key) == b"")
        status, _ = http(base + refresh_path, body={"refresh": old_refresh.decode()})
        check("the server rejects the revoked refresh token", status == 401, str(status))
        code, out, _ = cli("status", server=False)
        check("status after logout exits 3", code == 3, str(code))
        code, _, _ = cli("get", "/api/me/", server=False)
        check("get after logout exits 3", code == 3, str(code))

        code, out, err = cli("get", "/api/me/", "--memory-only", "--username", "alice",
                             "--password-stdin", *paths, stdin=PASSWORD + "\n")
        check("memory-only get signs in and calls in one invocation", code == 0 and b"alice" in out,
              f"{code} {out!r} {err!r}")
        check("memory-only stores nothing", stored_secret(service, key) == b"")
        code, _, err = cli("status", "--memory-only")
        check("memory-only status is a usage error", code == 2 and b"memory-only" in err, f"{code} {err!r}")

        code, _, err = cli("get", server=False)
        check("missing PATH is a usage error", code == 2, str(code))
        code, _, err = cli("frobnicate", server=False)
        check("unknown command is a usage error", code == 2, str(code))
        code, _, err = cli("status", "--server", "http://auth.example.com", server=False)
        check("http to a remote host is refused", code == 2 and b"https" in err, f"{code} {err!r}")

        # Secure storage unavailable: typed exit code, nothing written under HOME.
        home = os.path.join(work, "nobus-home")
        os.mkdir(home)
        env = dict(os.environ, HOME=home, DBUS_SESSION_BUS_ADDRESS="unix:path=/nonexistent",
                   XDG_CONFIG_HOME=os.path.join(home, ".config"))
        env.pop("DISPLAY", None)
        code, _, err = subprocess.run(
            [args.cli, "login", "--server", base, "--username", "alice", "--password-stdin",
             "--app-id", app_id, *paths], input=(PASSWORD + "\n").encode(), capture_output=True,
            env=env, timeout=60).returncode, None, None
        check("no secure storage exits 4", code == 4, str(code))
        leftovers = [os.path.join(d, f) for d, _, fs in os.walk(home) for f in fs]
        check("no secure storage writes nothing under HOME", not leftovers, str(leftovers))

        code, _, _ = cli("login", "--username", "alice", "--password-stdin", *paths, stdin=PASSWORD + "\n")
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
        code, _, err = cli("get", "/api/me/", server=False)
        check("server down exits 5", code == 5 and err.count(b"\n") == 1, f"{code} {err!r}")
        code, out, err = cli("logout", server=False)
        check("logout with the server down still forgets locally, exits 5",
              code == 5 and stored_secret(service, key) == b"", f"{code} {err!r}")
    finally:
        if server.poll() is None:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

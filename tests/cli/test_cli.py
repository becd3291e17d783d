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
import pty
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
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

    def argv(self, *args, server=True, config=None):
        """config: a path, None for the default test config, False for none (the CLI's default)."""
        cmd = [self.binary, *args] + self.extra
        if config is not False:
            cmd += ["--config", config or self.config]
        if server:
            cmd += ["--server", self.server]
        return cmd

    def __call__(self, *args, stdin="", env=None, server=True, config=None, umask=None):
        proc = subprocess.run(self.argv(*args, server=server, config=config), input=stdin.encode(),
                              capture_output=True, timeout=60, env=env,
                              preexec_fn=None if umask is None else (lambda: os.umask(umask)))
        return proc.returncode, proc.stdout, proc.stderr

    def with_terminal(self, *args, answer, prompt=b"Password", server=True, config=None):
        """Runs the CLI with a terminal on stdin (so it prompts), waits for the prompt on stderr,
        types answer. Returns (exit code, stdout, stderr)."""
        master, slave = pty.openpty()
        proc = subprocess.Popen(self.argv(*args, server=server, config=config), stdin=slave,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        os.close(slave)
        err = b""
        deadline = time.time() + 30
        while prompt not in err and time.time() < deadline and proc.poll() is None:
            ready, _, _ = select.select([proc.stderr], [], [], 0.5)
            if ready:
                err += os.read(proc.stderr.fileno(), 4096)
        if prompt in err:
            os.write(master, answer.encode() + b"\n")
        try:
            out, rest = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, rest = proc.communicate()
        finally:
            os.close(master)
        return proc.returncode, out, err + rest


class Trap:
    """A loopback listener that only counts the connections it gets: a request that reaches it
    went somewhere the CLI must never send one."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self):
        self.sock.close()


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def write_config(path, server, file_mode=0o600, extra=""):
    with open(path, "w") as f:
        f.write(f"[General]\nserver={server}\nusername=alice\n{extra}")
    os.chmod(path, file_mode)


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
        check("config file is written 0600", mode(config) == 0o600, oct(mode(config)))

        # A new config: 0600 in directories created 0700, whatever the umask.
        fresh = os.path.join(work, "fresh", "tessera", "cli.conf")
        code, _, err = cli("login", "--username", "alice", "--password-stdin", *paths, stdin=PASSWORD + "\n",
                           config=fresh, umask=0)
        check("with umask 0, login writes the config 0600 in directories it creates 0700",
              code == 0 and mode(fresh) == 0o600 and mode(os.path.dirname(fresh)) == 0o700
              and mode(os.path.join(work, "fresh")) == 0o700,
              f"{code} {err!r} " + (" ".join(oct(mode(p)) for p in (fresh, os.path.dirname(fresh)))
                                    if os.path.exists(fresh) else "no file"))
        # The default location, as an older version left it: directory 0755, file 0644.
        xdg = os.path.join(work, "xdg")
        default = os.path.join(xdg, "tessera", "cli.conf")
        os.makedirs(os.path.dirname(default))
        os.chmod(os.path.dirname(default), 0o755)
        write_config(default, base, 0o644)
        os.link(default, default + ".old")
        old_text = open(default).read()
        code, _, err = cli("login", "--password-stdin", *paths, stdin=PASSWORD + "\n", config=False,
                           env=dict(os.environ, XDG_CONFIG_HOME=xdg))
        check("login rewrites the default config 0600 and makes its directory 0700",
              code == 0 and mode(default) == 0o600 and mode(os.path.dirname(default)) == 0o700,
              f"{code} {err!r} {oct(mode(default))} {oct(mode(os.path.dirname(default)))}")
        check("the config is replaced through a new file (rename), never rewritten in place",
              os.stat(default).st_ino != os.stat(default + ".old").st_ino
              and open(default + ".old").read() == old_text)

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

        # PATH is resolved strictly on the session's server: an argument that could name another
        # origin is refused before any request, even the refresh that signs in.
        trap = Trap()
        host = f"127.0.0.1:{trap.port}"
        before = stored_secret(service, key)
        for path in (f"//{host}/x", f"///{host}/x", f"http://{host}/x", f"https://{host}/x",
                     f"\\\\{host}\\x", f"/\\{host}/x", "api/me/", "/api/me/\r\nX: y"):
            code, out, err = cli("get", path, server=False)
            check(f"get {path!r} is refused with one line, exit 2", code == 2 and err.count(b"\n") == 1
                  and b"PATH must be a path on" in err and not out, f"{code} {out!r} {err!r}")
        check("no refused PATH reached another origin", trap.connections == 0, f"{trap.connections} connections")
        check("no refused PATH sent a request to the server either (no refresh)",
              stored_secret(service, key) == before)
        trap.close()
        code, out, err = cli("get", "/api/me/?from=cli", server=False)
        check("get of a path with a query string works", code == 0 and b'"alice"' in out, f"{code} {err!r}")

        # The password prompt names where the password goes when the server comes from the config.
        code, out, err = cli.with_terminal("login", answer=PASSWORD, server=False)
        check("the password prompt names the user and the server from the config",
              code == 0 and f"Password for alice at {base}: ".encode() in err, f"{code} {out!r} {err!r}")
        check("the typed password is not echoed", PASSWORD.encode() not in out + err)

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

        # cli.conf is trusted like ssh's config. Each unsafe one names a trap as its server: the CLI
        # must refuse it with one line (why, and how to fix) and send nothing, not even the password.
        trap = Trap()
        trust = os.path.join(work, "trust")
        os.mkdir(trust, 0o700)

        def refused(name, conf, reason):
            code, out, err = cli("login", "--password-stdin", *paths, stdin=PASSWORD + "\n", server=False,
                                 config=conf)
            check(f"unsafe config ({name}) is refused with one line saying why and how to fix",
                  code == 2 and err.count(b"\n") == 1 and b"refusing config" in err and reason in err
                  and b"fix:" in err, f"{code} {err!r}")

        write_config(os.path.join(trust, "everyone.conf"), trap.url, 0o666)
        refused("writable by all", os.path.join(trust, "everyone.conf"), b"writable by group and others")
        write_config(os.path.join(trust, "group.conf"), trap.url, 0o620)
        refused("group-writable", os.path.join(trust, "group.conf"), b"writable by its group")
        opendir = os.path.join(trust, "open")
        os.mkdir(opendir)
        os.chmod(opendir, 0o777)
        write_config(os.path.join(opendir, "cli.conf"), trap.url)
        refused("in a directory writable by all", os.path.join(opendir, "cli.conf"), b"directory")
        new_in_open = os.path.join(opendir, "new.conf")
        code, _, err = cli("login", "--username", "alice", "--password-stdin", *paths, stdin=PASSWORD + "\n",
                           config=new_in_open)
        check("login writes no new config into a directory others can write, and says so (exit 1)",
              code == 1 and not os.path.exists(new_in_open) and b"refusing config" in err
              and err.count(b"\n") == 1 and os.listdir(opendir) == ["cli.conf"], f"{code} {err!r}")
        write_config(os.path.join(trust, "target.conf"), trap.url)
        os.symlink(os.path.join(trust, "target.conf"), os.path.join(trust, "link.conf"))
        refused("symbolic link", os.path.join(trust, "link.conf"), b"symbolic link")
        if os.geteuid() == 0:
            write_config(os.path.join(trust, "other.conf"), trap.url)
            os.chown(os.path.join(trust, "other.conf"), 65534, 65534)
            refused("another user's file", os.path.join(trust, "other.conf"), b"belongs to uid 65534")
        check("no unsafe config sent anything to its server", trap.connections == 0,
              f"{trap.connections} connections")
        trap.close()
        # Safe ones are used: readable by others (it holds no secret), or in a sticky directory like /tmp.
        write_config(os.path.join(trust, "readable.conf"), base, 0o644)
        code, _, err = cli("status", server=False, config=os.path.join(trust, "readable.conf"))
        check("a config others can read but not write is used", code in (0, 3) and b"refusing" not in err,
              f"{code} {err!r}")
        sticky = os.path.join(trust, "sticky")
        os.mkdir(sticky)
        os.chmod(sticky, 0o1777)
        write_config(os.path.join(sticky, "cli.conf"), base)
        code, _, err = cli("status", server=False, config=os.path.join(sticky, "cli.conf"))
        check("a config in a sticky directory (like /tmp) is used", code in (0, 3) and b"refusing" not in err,
              f"{code} {err!r}")

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

#!/usr/bin/python3
"""End-to-end tests of `tessera login --issuer URL --client-id ID` (the browser sign-in and the
device flow) and of status, get, token, refresh and logout for such a session, against a real
authorization server on loopback: the certified oidc-provider, or the companion tessera-server.

    test_cli_oauth.py oidc-provider --cli PATH --node PATH --provider PATH/provider.js --browser PATH/browser.py
    test_cli_oauth.py tessera-server --cli PATH --server-bin PATH --browser PATH/browser.py

The same checks run against both; where the two servers differ, the Provider classes below say
so (an explicit expectation each, with the reason). The person in the browser is
tests/interop/oidc/browser.py, run by the CLI as $BROWSER (through small wrapper scripts in the
test's temporary directory: $BROWSER is one program). Runs inside scripts/with-keyring.sh: the
refresh token goes to that real Secret Service. Prints one line per check and "N passed,
N failed" at the end.
"""
import argparse
import base64
import http.server
import json
import os
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
import urllib.error
import urllib.parse
import urllib.request

results = {"passed": 0, "failed": 0}


def check(name, condition, detail=""):
    results["passed" if condition else "failed"] += 1
    print(f"{'PASS' if condition else 'FAIL'}  {name}{'' if condition else '  -- ' + detail}", flush=True)
    return condition


class OidcProvider:
    """oidc-provider (tests/interop/oidc/provider.js): its devInteractions pages accept any
    password and end with a consent page that has an abort button."""

    name = "oidc-provider"
    client_id = "tessera-native"  # registered by provider.js
    password = "any password"
    # The person can decline in the browser flow: the consent page has an abort button.
    browser_flow_can_be_declined = True
    # provider.js without --dpop advertises no DPoP: the CLI's default (IfSupported) binds nothing.
    binds_by_default = False

    def __init__(self, args, work, extra=()):
        self.proc = subprocess.Popen([args.node, args.provider, *extra], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=os.path.dirname(args.provider))
        issuer = None
        deadline = time.time() + 60
        while time.time() < deadline and issuer is None:
            line = self.proc.stdout.readline().decode()
            if line.startswith("issuer "):
                issuer = line.split()[1].strip()
            elif not line and self.proc.poll() is not None:
                raise SystemExit(f"oidc-provider did not start: {self.proc.stderr.read().decode()[-2000:]}")
        if issuer is None:
            self.proc.kill()
            raise SystemExit("oidc-provider did not print its issuer")
        # Drain its output ("event ..." lines) so it never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        self.issuer = issuer

    def stop(self):
        stop_process(self.proc)


class TesseraServer:
    """The companion server, its database set up with its own commands: `user add` and
    `client add` (a public native client with a loopback redirect URI, any port)."""

    name = "tessera-server"
    client_id = "tessera-cli-test"
    password = "correct horse battery staple"
    # First-party clients skip consent (docs/SERVER.md): the login page has no cancel button,
    # so a person cannot decline in the browser flow; one who walks away is the Ctrl-C case.
    browser_flow_can_be_declined = False
    # It advertises DPoP (--dpop allowed, the default): the CLI's default (IfSupported) binds.
    binds_by_default = True

    def __init__(self, args, work, extra=()):
        work = tempfile.mkdtemp(dir=work) if extra else work  # a database of its own
        db = os.path.join(work, "server.sqlite3")
        cheap = ["--argon2-memory", "8192", "--argon2-iterations", "1"]
        subprocess.run([args.server_bin, "user", "add", "alice", "--db", db, *cheap],
                       input=self.password.encode(), check=True, capture_output=True)
        subprocess.run([args.server_bin, "client", "add", self.client_id, "--redirect-uri",
                        "http://127.0.0.1/callback", "--db", db], check=True, capture_output=True)
        # --device-interval 1: device sign-ins poll every second instead of RFC 8628's 5 s.
        self.proc = subprocess.Popen([args.server_bin, "--listen", "127.0.0.1:0", "--db", db, *cheap,
                                      "--device-interval", "1", *extra],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.issuer = None
        deadline = time.time() + 60
        while time.time() < deadline and self.issuer is None:
            line = self.proc.stdout.readline().decode()
            if line.startswith("listening on "):
                self.issuer = line.split()[-1].strip()  # no --issuer: the listen URL
            elif not line and self.proc.poll() is not None:
                raise SystemExit(f"tessera-server did not start: {self.proc.stderr.read().decode()[-2000:]}")
        if self.issuer is None:
            self.proc.kill()
            raise SystemExit("tessera-server did not print its URL")
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=lambda s=stream: [None for _ in s], daemon=True).start()

    def stop(self):
        stop_process(self.proc)


PROVIDERS = {kind.name: kind for kind in (OidcProvider, TesseraServer)}


def stop_process(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def fetch(url, form=None, token=None, dpop_key=None):
    """(status, body) of a GET, or of a form POST when form is given. No proxies: loopback.
    With dpop_key (PKCS#8 DER, as the keyring holds it): a DPoP proof of that key, and the token
    as a DPoP token, as the CLI itself would send them for a bound session."""
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode() if form else None)
    if token:
        request.add_header("Authorization", ("DPoP " if dpop_key else "Bearer ") + token)
    if dpop_key:
        request.add_header("DPoP", dpop_proof(dpop_key, "POST" if form else "GET", url, token))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def dpop_proof(der, method, url, access_token=None):
    """An RFC 9449 proof (ES256, typ dpop+jwt, the public jwk) signed with the P-256 key `der`."""
    import hashlib
    import jwt
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    key = load_der_private_key(der, None)
    numbers = key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64(numbers.x.to_bytes(32, "big")),
           "y": b64(numbers.y.to_bytes(32, "big"))}
    claims = {"jti": b64(os.urandom(16)), "htm": method, "htu": url.split("?")[0], "iat": int(time.time())}
    if access_token:
        claims["ath"] = b64(hashlib.sha256(access_token.encode()).digest())
    return jwt.encode(claims, key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": jwk})


def reachable(url):
    try:
        fetch(url)
        return True
    except urllib.error.URLError:
        return False


def stored_secret(service, key):
    out = subprocess.run(["secret-tool", "lookup", "server", service, "user", key],
                         capture_output=True).stdout
    if not out:
        return b""
    try:
        return base64.b64decode(out, validate=True)
    except Exception:
        return out


def stored_entries(service):
    """Every Secret Service item filed under the app's service (attributes only)."""
    proc = subprocess.run(["secret-tool", "search", "--all", "server", service], capture_output=True)
    return (proc.stdout + proc.stderr).decode(errors="replace").count("attribute.server")


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def executable(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o700)
    return path


class Trap:
    """A loopback listener that only counts connections: one that reaches it went somewhere the
    CLI must never send a request."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
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


class ResourceServer:
    """An API at another origin (a resource origin): answers 200 and records the Authorization
    header of each request."""

    def __init__(self):
        seen = self.authorizations = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.headers.get("Authorization", ""))
                body = b'{"resource": "ok"}\n'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def thief_key():
    """A P-256 key of the thief's own (PKCS#8 DER): valid proofs, of the wrong key."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives import serialization
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def check_dpop(kind, args, work, person, python, server_mode="required"):
    """DPoP (RFC 9449): login --dpop against oidc-provider with DPoP on (provider.js --dpop) or
    tessera-server --dpop required / allowed; status names the key, token's output alone is
    refused, so is the refresh token copied out of the keyring, logout deletes the key. Where
    DPoP is only allowed, login --no-dpop keeps working as bearer, refreshes included."""
    if kind is OidcProvider:
        provider = OidcProvider(args, work, ("--dpop",))
    else:
        provider = TesseraServer(args, work, ("--dpop", server_mode))
    issuer = provider.issuer
    client_id = kind.client_id
    app_id = f"org.tessera.cli-test.oauth.dpop.{kind.name}.{server_mode}"
    service = "tessera:" + app_id
    key = f"{app_id}|oauth|{issuer}|{client_id}|alice"
    config = os.path.join(work, f"dpop-{server_mode}.conf")
    where = f" (--dpop {server_mode})" if kind is TesseraServer else ""
    _, metadata = fetch(issuer + "/.well-known/openid-configuration")
    metadata = json.loads(metadata)

    def cli(*extra, login=False):
        cmd = [args.cli, *extra, "--app-id", app_id, "--config", config]
        if login:
            cmd += ["--issuer", issuer, "--client-id", client_id]
        proc = subprocess.run(cmd, capture_output=True, timeout=90, stdin=subprocess.DEVNULL,
                              env=dict(os.environ, BROWSER=person))
        return proc.returncode, proc.stdout, proc.stderr

    try:
        if kind is TesseraServer and server_mode == "required":
            # --dpop required: a login without a proof is refused, and nothing is stored.
            code, out, err = cli("login", "--no-dpop", login=True)
            check("login --no-dpop where the server requires DPoP: refused, nothing stored",
                  code != 0 and b"signed in" not in out and stored_secret(service, key) == b"",
                  f"{code} {out!r} {err!r}")
        elif kind is TesseraServer:
            # --dpop allowed: a client without DPoP keeps bearer tokens, and refreshes them.
            code, out, err = cli("login", "--no-dpop", login=True)
            check("login --no-dpop where DPoP is allowed: signed in, no key stored",
                  code == 0 and b"signed in as alice" in out
                  and stored_secret(service, key + "#dpop") == b"", f"{code} {out!r} {err!r}")
            before = stored_secret(service, key)
            code, out, err = cli("status")
            check("status in a new process (--no-dpop remembered): refreshed as bearer, rotated",
                  code == 0 and b"DPoP: not bound (bearer token)" in out
                  and stored_secret(service, key) not in (b"", before), f"{code} {out!r} {err!r}")
            code, token, err = cli("token")
            status, body = fetch(metadata["userinfo_endpoint"], token=token.strip().decode())
            check("a bearer session's printed token works for whoever holds it",
                  code == 0 and status == 200, f"{code} {status} {body[:200]!r}")
            code, out, err = cli("logout")
            check("logout of the bearer session: exit 0, nothing left",
                  code == 0 and stored_secret(service, key) == b"", f"{code} {out!r} {err!r}")
        code, out, err = cli("login", "--dpop", login=True)
        check("login --dpop" + where + ": exit 0", code == 0 and b"signed in as alice" in out,
              f"{code} {out!r} {err!r}")
        check("login --dpop stored the key beside the refresh token",
              len(stored_secret(service, key + "#dpop")) > 100 and len(stored_secret(service, key)) > 20)
        code, out, err = cli("status")
        bound = re.search(rb"DPoP: bound to key ([A-Za-z0-9_-]{43})\n", out)
        check("status in a new process: DPoP-bound, with the key's thumbprint",
              code == 0 and bound is not None, f"{code} {out!r} {err!r}")
        # Each status is a new process that restores the session: a refresh with a proof of the
        # key read from the keyring, the binding kept.
        before = stored_secret(service, key)
        code, out2, err = cli("status")
        again = re.search(rb"DPoP: bound to key ([A-Za-z0-9_-]{43})\n", out2)
        check("status in another process refreshed with the same key: rotated, still bound to it",
              code == 0 and bound is not None and again is not None
              and again.group(1) == bound.group(1) and stored_secret(service, key) not in (b"", before),
              f"{code} {out2!r} {err!r}")
        code, token, err = cli("token")
        check("token prints the access token", code == 0 and len(token.strip()) > 20, f"{code} {err!r}")
        status, body = fetch(metadata["userinfo_endpoint"], token=token.strip().decode())
        check("the printed token alone (as a bearer token) is refused: it is bound to the key",
              status == 401, f"{status} {body[:200]!r}")
        # The refresh token copied out of the keyring, without the key: refused without a proof
        # and with a proof of another key; the holder's session does not pay for it.
        stolen = stored_secret(service, key).decode()
        form = {"grant_type": "refresh_token", "refresh_token": stolen, "client_id": client_id}
        status, body = fetch(metadata["token_endpoint"], form=form)
        check("a stolen refresh token without a proof is refused" + where,
              status in (400, 401), f"{status} {body[:200]!r}")
        status, body = fetch(metadata["token_endpoint"], form=form, dpop_key=thief_key())
        check("a stolen refresh token with a proof of another key is refused" + where,
              status in (400, 401), f"{status} {body[:200]!r}")
        code, out, err = cli("status")
        check("the session still refreshes with its own key after the thief's attempts",
              code == 0 and bound is not None and f"DPoP: bound to key {bound.group(1).decode()}".encode() in out,
              f"{code} {out!r} {err!r}")
        code, out, err = cli("logout")
        check("logout: exit 0, the key deleted with the token",
              code == 0 and stored_secret(service, key + "#dpop") == b""
              and stored_secret(service, key) == b"", f"{code} {out!r} {err!r}")
    finally:
        provider.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=sorted(PROVIDERS))
    parser.add_argument("--cli", required=True)
    parser.add_argument("--browser", required=True)
    parser.add_argument("--node", help="oidc-provider: the node binary")
    parser.add_argument("--provider", help="oidc-provider: tests/interop/oidc/provider.js")
    parser.add_argument("--server-bin", help="tessera-server: its binary")
    args = parser.parse_args()
    kind = PROVIDERS[args.kind]
    client_id = kind.client_id

    work = tempfile.mkdtemp(prefix="tessera-cli-oauth-test.")
    config = os.path.join(work, "cli.conf")
    app_id = "org.tessera.cli-test.oauth." + args.kind
    service = "tessera:" + app_id
    python = sys.executable
    as_alice = f'--login alice --password "{kind.password}"'
    person = executable(os.path.join(work, "person"),
                        f'#!/bin/sh\nexec "{python}" "{args.browser}" {as_alice} "$1"\n')
    refuser = executable(os.path.join(work, "refuser"),
                         f'#!/bin/sh\nexec "{python}" "{args.browser}" --deny {as_alice} "$1"\n')
    # A browser that never comes back: the person walked away (Ctrl-C then ends the wait).
    absent = executable(os.path.join(work, "absent"), "#!/bin/sh\nexit 0\n")

    provider = kind(args, work)
    issuer = provider.issuer
    print(f"against {kind.name} at {issuer}", flush=True)
    resource = ResourceServer()
    key = f"{app_id}|oauth|{issuer}|{client_id}|alice"
    _, metadata = fetch(issuer + "/.well-known/openid-configuration")
    metadata = json.loads(metadata)

    def cli(*extra, browser=person, conf=config, login=False):
        cmd = [args.cli, *extra, "--app-id", app_id, "--config", conf]
        if login:
            cmd += ["--issuer", issuer, "--client-id", client_id]
        proc = subprocess.run(cmd, capture_output=True, timeout=90, stdin=subprocess.DEVNULL,
                              env=dict(os.environ, BROWSER=browser))
        return proc.returncode, proc.stdout, proc.stderr

    try:
        code, out, err = cli("status", "--device", login=True)
        check("--device outside login is a usage error, exit 2, nothing written",
              code == 2 and b"--device" in err and not os.path.exists(config), f"{code} {out!r} {err!r}")

        # The device authorization grant: the person (browser.py, opening
        # verification_uri_complete) confirms the code, signs in and consents.
        code, out, err = cli("login", "--device", browser=refuser, login=True)
        check("login --device declined on the other device: exit 3, nothing stored",
              code == 3 and b"denied" in err.lower() and not os.path.exists(config)
              and stored_entries(service) == 0, f"{code} {out!r} {err!r}")
        code, out, err = cli("login", "--device", login=True)
        check("login --device: exit 0, signed in as alice at the issuer",
              code == 0 and f"signed in as alice at {issuer}".encode() in out, f"{code} {out!r} {err!r}")
        shown_code = re.search(rb"enter the code:\s+(\S+)", err)
        check("login --device prints the verification URI and the user code on stderr",
              shown_code is not None and metadata["device_authorization_endpoint"] != ""
              and re.search(rb"https?://\S+/device", err) is not None, f"{err!r}")
        device_refresh = stored_secret(service, key)
        check("login --device stored the refresh token", len(device_refresh) > 20)
        code, out, err = cli("status")
        check("status after the device sign-in, in a new process: signed in as alice, token rotated",
              code == 0 and b"signed in as alice" in out and stored_secret(service, key) not in (b"", device_refresh),
              f"{code} {out!r} {err!r}")
        device_refresh = stored_secret(service, key)
        # tessera-server advertises DPoP, so the CLI's default binds: the probes below carry a
        # proof of the session's key (read before logout deletes it), else they would be refused
        # for the missing proof whether or not the logout revoked anything.
        device_key = stored_secret(service, key + "#dpop") or None
        check("the session is DPoP-bound exactly where the server advertises DPoP",
              (device_key is not None) == kind.binds_by_default, repr(device_key)[:40])
        code, out, err = cli("logout")
        check("logout after the device sign-in", code == 0 and stored_secret(service, key) == b"",
              f"{code} {out!r} {err!r}")
        status, body = fetch(metadata["token_endpoint"], form={
            "grant_type": "refresh_token", "refresh_token": device_refresh.decode(), "client_id": client_id},
            dpop_key=device_key)
        check("the server refuses the device session's refresh token after logout",
              status == 400 and json.loads(body).get("error") == "invalid_grant", f"{status} {body[:200]!r}")
        os.remove(config)

        if kind.browser_flow_can_be_declined:
            code, out, err = cli("login", browser=refuser, login=True)
            check("a person who declines: exit 3 (signed out), saying access was denied",
                  code == 3 and b"denied" in err.lower(), f"{code} {out!r} {err!r}")
            check("a declined sign-in stores nothing: no config, no secret",
                  not os.path.exists(config) and stored_entries(service) == 0,
                  f"{os.path.exists(config)} {stored_entries(service)}")

        def start_waiting_login(*flow, until):
            """A login whose person never comes back, read until it says it waits."""
            proc = subprocess.Popen([args.cli, "login", *flow, "--issuer", issuer, "--client-id", client_id,
                                     "--app-id", app_id, "--config", config],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=dict(os.environ, BROWSER=absent))
            err = b""
            deadline = time.time() + 30
            while until not in err and time.time() < deadline and proc.poll() is None:
                ready, _, _ = select.select([proc.stderr], [], [], 0.5)
                if ready:
                    err += os.read(proc.stderr.fileno(), 4096)
            return proc, err

        # Ctrl-C while the device flow polls: cancelSignIn, exit 130, nothing stored.
        proc, err = start_waiting_login("--device", until=b"waiting for the sign-in")
        shown_code = re.search(rb"enter the code:\s+(\S+)", err)
        proc.send_signal(signal.SIGINT)
        try:
            out, rest = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, rest = proc.communicate()
        err += rest
        check("Ctrl-C while the device flow waits cancels cleanly: exit 130, saying so last",
              shown_code is not None and proc.returncode == 130
              and err.endswith(b"tessera: sign-in cancelled; nothing was stored\n"),
              f"{proc.returncode} {out!r} {err!r}")
        check("a device sign-in cancelled by Ctrl-C stores nothing",
              not os.path.exists(config) and stored_entries(service) == 0)

        # Ctrl-C (or SIGTERM) while waiting for the browser: cancelSignIn, exit 128 + the
        # signal, nothing stored.
        for number, name in ((signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")):
            proc, err = start_waiting_login(until=b"waiting for the browser")
            shown = re.search(rb"https?://\S+", err)
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(shown.group(0).decode()).query) if shown else {}
            redirect_uri = query.get("redirect_uri", [""])[0]
            check("while it waits, the loopback redirect listener answers",
                  redirect_uri.startswith("http://127.0.0.1:") and reachable(redirect_uri), f"{err!r}")
            proc.send_signal(number)
            try:
                out, rest = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, rest = proc.communicate()
            err += rest
            check(f"{name} while the browser is out cancels cleanly: exit {128 + number}, saying so last",
                  proc.returncode == 128 + number and err.endswith(b"tessera: sign-in cancelled; nothing was stored\n"),
                  f"{proc.returncode} {out!r} {err!r}")
            check(f"a sign-in cancelled by {name} stores nothing",
                  not os.path.exists(config) and stored_entries(service) == 0)
            check(f"the loopback listener is gone after {name}", redirect_uri and not reachable(redirect_uri))

        code, out, err = cli("login", "--resource-origin", resource.url, login=True)
        check("login --issuer --client-id in the browser: exit 0, signed in as alice at the issuer",
              code == 0 and f"signed in as alice at {issuer}".encode() in out, f"{code} {out!r} {err!r}")
        urls = re.findall(rb"https?://\S+", err)
        authorization = [u.decode() for u in urls if u.decode().startswith(metadata["authorization_endpoint"] + "?")]
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(authorization[0]).query) if authorization else {}
        check("the authorization URL is printed on stderr (for copy-paste), with PKCE and the client id",
              query.get("client_id") == [client_id] and query.get("code_challenge_method") == ["S256"]
              and query.get("redirect_uri", [""])[0].startswith("http://127.0.0.1:"), f"{err!r}")
        check("the authorization URL is not on stdout", b"code_challenge" not in out, f"{out!r}")
        refresh = stored_secret(service, key)
        check("the refresh token is in the Secret Service", len(refresh) > 20, repr(refresh[:8]))

        text = open(config, "rb").read()
        check("the config remembers issuer, client id, scopes and the resource origin",
              f"issuer={issuer}".encode() in text and f"client-id={client_id}".encode() in text
              and b"offline_access" in text and resource.url.encode() in text, text.decode(errors="replace"))
        check("the config holds no token and no server= line", refresh not in text and b"server=" not in text,
              text.decode(errors="replace"))
        check("the config is written 0600", mode(config) == 0o600, oct(mode(config)))

        # A new process restores from the keyring with the profile from the config alone.
        code, out, err = cli("status")
        check("status in a new process: signed in as alice, names the issuer and the client id",
              code == 0 and b"signed in as alice" in out and f"issuer: {issuer}".encode() in out
              and client_id.encode() in out and b"expires" in out, f"{code} {out!r} {err!r}")
        rotated = stored_secret(service, key)
        check("the restore rotated the refresh token and stored the new one", rotated and rotated != refresh)
        check("status prints no token", rotated not in out + err)

        code, out, err = cli("token")
        token = out.strip().decode()
        check("token prints one access token", code == 0 and token and "\n" not in token
              and stored_secret(service, key) not in out, f"{code} {err!r}")
        # Bound where the server advertises DPoP: the printed token alone is then refused, and
        # works with a proof of the key the keyring holds beside the refresh token.
        dpop_key = stored_secret(service, key + "#dpop") or None
        check("the session is DPoP-bound exactly where the server advertises DPoP",
              (dpop_key is not None) == kind.binds_by_default, repr(dpop_key)[:40])
        if dpop_key:
            status, body = fetch(metadata["userinfo_endpoint"], token=token)
            check("the printed token alone (as a bearer token) is refused: it is bound to the key",
                  status == 401, f"{status} {body!r}")
        status, body = fetch(metadata["userinfo_endpoint"], token=token, dpop_key=dpop_key)
        check("the provider's userinfo endpoint accepts the printed token",
              status == 200 and json.loads(body).get("sub") == "alice", f"{status} {body!r}")

        userinfo_path = urllib.parse.urlsplit(metadata["userinfo_endpoint"]).path
        code, out, err = cli("get", userinfo_path)
        check(f"get {userinfo_path} (the issuer's origin) through the CLI returns alice's claims",
              code == 0 and json.loads(out).get("sub") == "alice", f"{code} {out!r} {err!r}")

        seen = len(resource.authorizations)
        code, out, err = cli("get", resource.url + "/api/thing?x=1")
        check("get of a full URL on the listed resource origin works and carries the token",
              code == 0 and b'"ok"' in out and len(resource.authorizations) == seen + 1
              and resource.authorizations[-1].startswith("DPoP " if dpop_key else "Bearer "),
              f"{code} {out!r} {err!r} {resource.authorizations[-1:]!r}")

        trap = Trap()
        before = stored_secret(service, key)
        for url in (trap.url + "/x", metadata["userinfo_endpoint"].replace("127.0.0.1", "localhost"),
                    f"//{trap.url[7:]}/x", resource.url.replace("http://", "http://user@") + "/x"):
            code, out, err = cli("get", url)
            check(f"get {url!r} (not a listed origin) is refused with one line, exit 2",
                  code == 2 and err.count(b"\n") == 1 and b"PATH must be" in err and not out,
                  f"{code} {out!r} {err!r}")
        check("no refused URL reached anyone (no request, no refresh)",
              trap.connections == 0 and stored_secret(service, key) == before, str(trap.connections))

        # The issuer in the config decides where the browser goes and the token is sent: a config
        # others can write, or a symbolic link, is refused before anything is sent.
        trust = os.path.join(work, "trust")
        os.mkdir(trust, 0o700)
        unsafe = os.path.join(trust, "group.conf")
        with open(unsafe, "w") as f:
            f.write(f"[General]\nissuer={trap.url}\nclient-id={client_id}\n")
        os.chmod(unsafe, 0o620)
        os.symlink(config, os.path.join(trust, "link.conf"))
        for conf, reason in ((unsafe, b"writable by its group"),
                             (os.path.join(trust, "link.conf"), b"symbolic link")):
            code, out, err = cli("token", conf=conf)
            check(f"an unsafe config ({reason.decode()}) is refused, exit 2",
                  code == 2 and b"refusing config" in err and reason in err and not out, f"{code} {err!r}")
        check("no unsafe config sent anything to its issuer", trap.connections == 0, str(trap.connections))
        trap.close()

        old_refresh = stored_secret(service, key)
        code, out, err = cli("logout")
        check("logout exits 0", code == 0 and b"signed out" in out, f"{code} {out!r} {err!r}")
        check("logout removed the stored token", stored_secret(service, key) == b"")
        # In this order: presenting a refresh token, valid or rotated away, could itself revoke
        # the grant and hide a logout that revoked nothing.
        status, body = fetch(metadata["userinfo_endpoint"], token=token, dpop_key=dpop_key)
        check("the server's userinfo endpoint refuses the access token after logout (revoked)",
              status == 401, f"{status} {body!r}")
        for name, spent in (("the last refresh token", old_refresh), ("the first, rotated away", refresh)):
            status, body = fetch(metadata["token_endpoint"], form={
                "grant_type": "refresh_token", "refresh_token": spent.decode(), "client_id": client_id},
                dpop_key=dpop_key)
            check(f"the server refuses {name} after logout at its token endpoint (revoked)",
                  status == 400 and json.loads(body).get("error") == "invalid_grant", f"{status} {body[:200]!r}")
        code, out, _ = cli("status")
        check("status after logout exits 3", code == 3 and b"not signed in" in out, f"{code} {out!r}")
        code, _, _ = cli("get", userinfo_path)
        check("get after logout exits 3", code == 3, str(code))

        code, _, err = cli("status", "--issuer", issuer, conf=os.path.join(work, "empty.conf"))
        check("--issuer without a client id is a usage error naming --client-id",
              code == 2 and b"--client-id" in err, f"{code} {err!r}")
        code, _, err = cli("status", "--issuer", "http://auth.example.com", "--client-id", client_id)
        check("an http issuer on a remote host is refused, exit 2", code == 2 and b"https" in err, f"{code} {err!r}")
        code, _, err = cli("status", "--issuer", issuer, "--client-id", client_id,
                           "--resource-origin", "http://api.example.com")
        check("an http resource origin on a remote host is refused, exit 2", code == 2 and b"https" in err,
              f"{code} {err!r}")
        code, _, err = cli("status", "--issuer", issuer, "--server", issuer)
        check("--issuer with --server is a usage error", code == 2, f"{code} {err!r}")
        code, _, err = cli("login", "--dpop", "--no-dpop", login=True)
        check("--dpop with --no-dpop is a usage error", code == 2 and b"--no-dpop" in err, f"{code} {err!r}")
        for server_mode in (("required", "allowed") if kind is TesseraServer else ("required",)):
            check_dpop(kind, args, work, person, python, server_mode)
    finally:
        resource.close()
        provider.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

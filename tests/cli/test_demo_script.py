#!/usr/bin/python3
"""Runs ./scripts/demo.sh as a newcomer without a display would (no DISPLAY, no WAYLAND_DISPLAY)
on an existing build, and checks what it shows: the SimpleJWT password walkthrough, reuse
detection, then the OAuth device flow with the CLI against the same tessera-server (the person
approving the code played by tests/interop/oidc/browser.py), userinfo and a logout that the
server honours.

    test_demo_script.py --root SOURCE_DIR --build BUILD_DIR

Runs inside scripts/with-keyring.sh (the demo then uses that Secret Service). Prints one line
per check and "N passed, N failed" at the end.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

results = {"passed": 0, "failed": 0}


def check(name, condition, detail=""):
    results["passed" if condition else "failed"] += 1
    print(f"{'PASS' if condition else 'FAIL'}  {name}{'' if condition else '  -- ' + detail}", flush=True)
    return condition


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--build", required=True)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="tessera-demo-script-test.")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")}
    env.update(TESSERA_BUILD_DIR=args.build, TESSERA_DEMO_PREBUILT="1",
               TESSERA_DEMO_DIR=os.path.join(work, "demo"))
    try:
        proc = subprocess.run([os.path.join(args.root, "scripts", "demo.sh")], env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=200)
        out = proc.stdout.decode(errors="replace")
        print(out, flush=True)
        base = re.search(r"^== tessera-server on (http://127\.0\.0\.1:\d+) ", out, re.M)
        base = base.group(1) if base else "(no server line)"
        check("demo.sh without a display exits 0", proc.returncode == 0, str(proc.returncode))
        check("the server was started with the demo user and the demo's OAuth client",
              "demo user: demo" in out and "demo client: tessera-demo" in out)
        check("the desktop demo is not started without a display", "starting the desktop demo" not in out)

        password, _, oauth = out.partition("== 7. login with the device flow")
        check("the SimpleJWT walkthrough: password login, /api/me/, logout refusing the old access token",
              f"signed in as demo at {base}" in password and '"username":"demo"' in password
              and "the old access token right after logout: HTTP 401" in password)
        check("reuse detection: the replayed token and its family are refused",
              "replayed old refresh token: HTTP 401" in password
              and "the family's newest refresh token: HTTP 401" in password)

        check("the device-flow part follows, naming the command and the scripted person",
              f"tessera login --issuer {base} --client-id tessera-demo --device" in oauth
              and "tests/interop/oidc/browser.py" in oauth, oauth[:400])
        check("the CLI shows the verification URI and the user code",
              re.search(rf"{re.escape(base)}/device\nand enter the code:\s+\S+", oauth) is not None)
        check("the scripted person approved on the /device page",
              "browser.py: finished at " + base + "/device" in oauth)
        check("the device flow signed in as demo at the issuer", f"signed in as demo at {base}" in oauth)
        check("status names the issuer and the client id",
              f"issuer: {base}" in oauth and "client id: tessera-demo" in oauth)
        check("get /userinfo returns demo's claims",
              re.search(r'^\{.*"preferred_username":"demo".*\}$', oauth, re.M) is not None)
        check("after logout the server refuses the old access token at /userinfo",
              "the old access token at /userinfo right after logout: HTTP 401" in oauth)
        check("after logout the CLI is signed out (exit 3)",
              oauth.count("not signed in\n(exit code 3: 3 = signed out)") == 1)

        log = out.rpartition("== server log")[2]
        check("the server saw the device approval and the revocation by the client",
              'device authorization approved for client "tessera-demo"' in log
              and "revoked by its client" in log, log[-800:])
        check("no token is printed whole (no complete JWT in the output)",
              re.search(r"eyJ[\w-]+\.[\w-]+\.[\w-]{20,}", out) is None)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

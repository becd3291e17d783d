#!/usr/bin/python3
"""Measures tessera-server under the login and grace-window attacks of issue 15, on loopback.

    bench/login_attacks.py --server BUILD/server/tessera-server
                           [--only lockout,abandoned,enumeration,thief] [--samples 50] [--reps 3]

- lockout: 10 wrong passwords for a user from 127.0.0.2, then the right one from 127.0.0.3;
  and 12 good logins from one address (a NAT, or the CLI's memory-only mode).
- abandoned: the latency of a legitimate login right after 100 logins whose clients hung
  up (RST) once their request was sent; default Argon2 cost (64 MiB, 3 iterations).
- enumeration: login time of unknown users against known users with a wrong password,
  when the users were added with 64 MiB / 3 iterations and the server runs with
  19 MiB / 2 (median and 10th/90th percentiles of --samples each, interleaved).
- thief: a thief replays the parent refresh token 50 times within the grace window;
  and a "synced" thief replays each parent once, right after each of 5 rotations.

Not a test: numbers for docs/SECURITY.md. Prints one JSON object per scenario and a
summary. Tokens and passwords stay in memory and are never printed.
"""
import argparse
import http.client
import json
import os
import secrets
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time


def log(*parts):
    print("[login_attacks]", *parts, file=sys.stderr, flush=True)


class Server:
    def __init__(self, binary, args, users, user_args=()):
        self.dir = tempfile.mkdtemp(prefix="tessera-login-attacks-")
        os.chmod(self.dir, 0o700)
        self.db = os.path.join(self.dir, "db.sqlite3")
        self.password = secrets.token_urlsafe(18)
        for name in users:
            subprocess.run([binary, "user", "add", name, "--db", self.db, *user_args],
                           input=self.password + "\n", text=True, check=True, capture_output=True,
                           timeout=120)
        self.stderr = open(os.path.join(self.dir, "server.log"), "wb")
        self.process = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--db", self.db, *args],
                                        stdout=subprocess.PIPE, stderr=self.stderr)
        line = self.process.stdout.readline().decode()
        if not line.startswith("listening on http://127.0.0.1:"):
            raise RuntimeError("server did not start: " + line)
        self.port = int(line.rsplit(":", 1)[1])

    def log_text(self):
        with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
            return f.read()

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def request(port, path, body, source="127.0.0.1", timeout=120):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        started = time.monotonic()
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        elapsed = (time.monotonic() - started) * 1000
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = {}
        return response.status, parsed, elapsed
    finally:
        conn.close()


def login(server, username, password, source="127.0.0.1"):
    return request(server.port, "/api/token/", {"username": username, "password": password}, source)


def refresh(server, token):
    return request(server.port, "/api/token/refresh/", {"refresh": token})


def abandon_login(port, username, password):
    body = json.dumps({"username": username, "password": password}).encode()
    head = (f"POST /api/token/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(head + body)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
    s.close()


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def lockout(binary, _args):
    server = Server(binary, ["--argon2-memory", "8192", "--argon2-iterations", "1"], ["alice"],
                    ["--argon2-memory", "8192", "--argon2-iterations", "1"])
    try:
        wrong = [login(server, "alice", "wrong", "127.0.0.2")[0] for _ in range(10)]
        right_elsewhere = login(server, "alice", server.password, "127.0.0.3")[0]
        nat = [login(server, "alice", server.password, "127.0.0.4")[0] for _ in range(12)]
    finally:
        server.stop()
    return {"scenario": "lockout", "wrong_from_127.0.0.2": wrong,
            "right_password_from_127.0.0.3": right_elsewhere,
            "good_logins_from_127.0.0.4": nat,
            "locked_out": right_elsewhere != 200 or any(s != 200 for s in nat)}


def abandoned(binary, args):
    results = []
    for rep in range(args.reps):
        server = Server(binary, ["--login-limit", "0"], ["alice"])
        try:
            idle = [login(server, "alice", server.password)[2] for _ in range(3)]
            for _ in range(100):
                abandon_login(server.port, "alice", server.password)
            status, _, after = login(server, "alice", server.password)
            results.append({"idle_ms": round(statistics.median(idle)), "after_100_abandoned_ms": round(after),
                            "status": status})
        finally:
            server.stop()
        log(f"abandoned rep {rep + 1}: {results[-1]}")
    return {"scenario": "abandoned", "runs": results,
            "idle_median_ms": statistics.median(r["idle_ms"] for r in results),
            "after_median_ms": statistics.median(r["after_100_abandoned_ms"] for r in results)}


def enumeration(binary, args):
    server = Server(binary, ["--login-limit", "0", "--argon2-memory", "19456", "--argon2-iterations", "2"],
                    ["alice"], ["--argon2-memory", "65536", "--argon2-iterations", "3"])
    try:
        known, unknown = [], []
        login(server, "alice", "warm-up")
        login(server, "nobody", "warm-up")
        for i in range(args.samples):
            status, _, ms = login(server, "alice", f"wrong-{i}")
            assert status == 401, status
            known.append(ms)
            status, _, ms = login(server, f"nobody-{i}", "wrong")
            assert status == 401, status
            unknown.append(ms)
    finally:
        server.stop()

    def summary(values):
        return {"median_ms": round(statistics.median(values), 1), "p10_ms": round(percentile(values, 0.1), 1),
                "p90_ms": round(percentile(values, 0.9), 1)}
    return {"scenario": "enumeration", "samples": args.samples, "known_user_wrong_password": summary(known),
            "unknown_user": summary(unknown),
            "unknown_over_known": round(statistics.median(unknown) / statistics.median(known), 2)}


def thief(binary, _args):
    fast = ["--argon2-memory", "8192", "--argon2-iterations", "1"]
    server = Server(binary, ["--reuse-grace", "10", "--login-limit", "0", *fast], ["alice"], fast)
    try:
        status, pair, _ = login(server, "alice", server.password)
        parent = pair["refresh"]
        status, victim, _ = refresh(server, parent)
        replays = [refresh(server, parent) for _ in range(50)]
        answered = [body for status, body, _ in replays if status == 200]
        got_current = sum(1 for body in answered if body.get("refresh") == victim["refresh"])
        minted = len({body.get("access") for body in answered})
        victim_after = refresh(server, victim["refresh"])[0]
        replay = {"replays": len(replays), "answered_200": len(answered), "got_current_refresh": got_current,
                  "access_tokens_minted": minted, "victim_refresh_after": victim_after,
                  "family_revoked": victim_after != 200}

        # Synced thief: holds R0; after each of the victim's rotations replays the parent once.
        status, pair, _ = login(server, "alice", server.password)
        current = pair["refresh"]
        stolen = 0
        rounds = []
        for _ in range(5):
            status, next_pair, _ = refresh(server, current)
            if status != 200:
                rounds.append(f"victim {status}")
                break
            status, body, _ = refresh(server, current)  # the thief, within the window
            if status == 200 and body.get("refresh") == next_pair["refresh"]:
                stolen += 1
            rounds.append(status)
            current = next_pair["refresh"]
        victim_after = refresh(server, current)[0]
        synced = {"rotations": 5, "thief_replies": rounds, "thief_got_current": stolen,
                  "victim_refresh_after": victim_after, "family_revoked": victim_after != 200}
    finally:
        server.stop()
    return {"scenario": "thief", "replay_50": replay, "synced_5": synced}


SCENARIOS = {"lockout": lockout, "abandoned": abandoned, "enumeration": enumeration, "thief": thief}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", required=True)
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with open("/proc/loadavg") as f:
        log("load average at start:", " ".join(f.read().split()[:3]))
    for name in args.only.split(","):
        result = SCENARIOS[name](args.server, args)
        print(json.dumps(result), flush=True)
    with open("/proc/loadavg") as f:
        log("load average at end:", " ".join(f.read().split()[:3]))


if __name__ == "__main__":
    main()

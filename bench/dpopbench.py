"""The DPoP comparison of bench/run.py (--dpop, issue 13).

In one run, interleaved per repetition: authenticated GET /api/me/ on tessera-server (SQLite,
`--dpop allowed`) with a Bearer token and with a DPoP-bound token plus a fresh proof per
request; Django + SimpleJWT's Bearer GET (the run's gunicorn); refresh with rotation of unbound
families and of DPoP-bound ones (a proof per refresh). Per request: the server's CPU time (from
/proc/PID/stat around each wrk run). Then the SDK's cost of signing one proof (bench_dpop_proof)
and the server's cost of checking one, with and without its key cache (bench_dpop_verify).

wrk's lua cannot sign, so proofs are made just before each wrk run by bench_dpop_proofs (one
ES256 key for the whole run, a fresh jti each, iat = now) and each is sent once. The server is
started with `--issuer http://127.0.0.1`, so the proofs' htu does not depend on its port.
"""
import http.client
import json
import os
import subprocess

from scaleout import CLK_TCK, children, cpu_ticks
import scaleout

ISSUER = "http://127.0.0.1"
# Proofs made per second of a wrk run: more than either workload answers on 2 cores (a thread
# that runs out sends an invalid proof, counted as an error, never a replay), and no more than the
# replay cache holds (262,144). The server's proof window is 30 s (--dpop-window): the last proof
# of a run is made about 14 s before the run ends, and a run's proofs have left the replay cache
# before the next run's begin.
GET_PROOFS_PER_SECOND = 24000
REFRESH_PROOFS_PER_SECOND = 6000
WORKLOADS = ("me_bearer", "me_dpop", "me_django", "refresh_plain", "refresh_dpop")
TITLES = {"me_bearer": "GET /api/me/, Bearer (tessera-server)",
          "me_dpop": "GET /api/me/, DPoP-bound token + proof (tessera-server)",
          "me_django": "GET /api/me/, Bearer (Django + SimpleJWT)",
          "refresh_plain": "refresh with rotation, unbound (tessera-server)",
          "refresh_dpop": "refresh with rotation, DPoP-bound + proof (tessera-server)"}
TARGET_RATIO = 10.0
BEGIN, END = "<!-- dpop:begin -->", "<!-- dpop:end -->"


def request(port, method, path, body=None, headers=None):
    """(status, parsed JSON body or {}); nothing is printed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers=dict(headers or {}, **({"Content-Type": "application/json"} if body is not None else {})))
        response = conn.getresponse()
        data = response.read()
        try:
            return response.status, json.loads(data) if data else {}
        except ValueError:
            return response.status, {}
    finally:
        conn.close()


def run(bench, h):
    """The phase (after bench.setup_servers(): the run's Django is one of the set-ups)."""
    a = bench.args
    res = bench.results.setdefault("dpop", {"runs": {}})
    key = bench.path("dpop.key")
    proofs_bin = os.path.join(bench.bench_bin, "bench_dpop_proofs")

    def make_proofs(method, path, count, out, token_file=None):
        argv = [proofs_bin, "--key", key, "--method", method, "--url", ISSUER + path, "--count", str(count),
                "--out", out]
        if token_file:
            argv += ["--token-file", token_file]
        subprocess.run(argv, check=True, capture_output=True, timeout=600)
        with open(out) as f:
            return [line.strip() for line in f if line.strip()]

    def login(port, proof=None):
        status, body = request(port, "POST", "/api/token/", {"username": "pool", "password": bench.password},
                               {"DPoP": proof} if proof else None)
        if status != 200:
            raise RuntimeError(f"DPoP bench: login answered {status}")
        return body

    db = bench.path("dpop.sqlite3")
    bench.add_user(db, "pool", cheap=True)
    # The two access tokens are minted once: they must outlive every repetition, however many.
    server = bench.start_tessera("tessera-dpop", db,
                                 extra=("--dpop", "allowed", "--dpop-window", "30", "--issuer", ISSUER,
                                        "--access-ttl", "86400"))
    try:
        port = server.port
        h.write_private(bench.path("dpop.bearer.access"), login(port)["access"] + "\n")
        bound = login(port, make_proofs("POST", "/api/token/", 1, bench.path("dpop.login.proof"))[0])
        h.write_private(bench.path("dpop.bound.access"), bound["access"] + "\n")
        # The token is bound: as Bearer it is refused, with a proof of the key it is served.
        check = make_proofs("GET", "/api/me/", 1, bench.path("dpop.check.proof"), bench.path("dpop.bound.access"))
        as_bearer, _ = request(port, "GET", "/api/me/", headers={"Authorization": "Bearer " + bound["access"]})
        with_proof, _ = request(port, "GET", "/api/me/",
                                headers={"Authorization": "DPoP " + bound["access"], "DPoP": check[0]})
        if as_bearer != 401 or with_proof != 200:
            raise RuntimeError(f"DPoP bench: the bound token answered {as_bearer} as Bearer, {with_proof} with a proof")
        res["gunicorn_cmd"] = bench.raw.get("gunicorn_cmd", "?")
        django_pids = [bench.django.pid] + children(bench.django.pid)
        for rep in range(a.reps):
            for name in WORKLOADS:
                url, pids = server.url, [server.pid]
                if name == "me_bearer":
                    script, path, files = "bearer_get.lua", "/api/me/", {"BENCH_TOKEN_FILE": bench.path("dpop.bearer.access")}
                elif name == "me_django":
                    url, pids = bench.django.url, django_pids
                    script, path, files = "bearer_get.lua", "/api/me/", {"BENCH_TOKEN_FILE": bench.path("django.access")}
                elif name == "me_dpop":
                    proofs = bench.path(f"dpop.get.proofs.{rep}")
                    make_proofs("GET", "/api/me/", a.duration * GET_PROOFS_PER_SECOND, proofs,
                                bench.path("dpop.bound.access"))
                    script, path = "dpop_get.lua", "/api/me/"
                    files = {"BENCH_TOKEN_FILE": bench.path("dpop.bound.access"), "BENCH_PROOF_FILE": proofs}
                elif name == "refresh_plain":
                    pool = bench.path(f"dpop.pool.plain.{rep}")
                    bench.mint_pool_at(port, a.pool, pool)
                    script, path, files = "refresh_chain.lua", "/api/token/refresh/", {"BENCH_POOL_FILE": pool}
                else:
                    pool = bench.path(f"dpop.pool.bound.{rep}")
                    logins = make_proofs("POST", "/api/token/", a.pool, bench.path(f"dpop.login.proofs.{rep}"))
                    h.write_private(pool, "\n".join(login(port, p)["refresh"] for p in logins) + "\n")
                    proofs = bench.path(f"dpop.refresh.proofs.{rep}")
                    make_proofs("POST", "/api/token/refresh/", a.duration * REFRESH_PROOFS_PER_SECOND, proofs)
                    script, path = "refresh_chain.lua", "/api/token/refresh/"
                    files = {"BENCH_POOL_FILE": pool, "BENCH_PROOF_FILE": proofs}
                cpu0 = sum(cpu_ticks(p) for p in pids)
                load = h.loadavg()
                h.log(f"DPoP rep {rep + 1}/{a.reps} {name} (load {load})")
                r = h.run_wrk(url + path, script, files, a.duration, a.connections, 10)
                r["server_cpu_s"] = (sum(cpu_ticks(p) for p in pids) - cpu0) / CLK_TCK
                r["load"] = load
                res["runs"].setdefault(name, []).append(r)
                bench.save()
                if r["errors"]:
                    h.log(f"  {r['errors']} errors")
                for f in files.values():
                    if ".proofs." in f and os.path.exists(f):
                        os.unlink(f)  # up to 100 MB each
        smoke = a.smoke
        for program, argv in (("sdk_proof", ["bench_dpop_proof", "--proofs", "200" if smoke else "20000",
                                             "--rounds", "2" if smoke else "5"]),
                              ("server_check", ["bench_dpop_verify", "--proofs", "200" if smoke else "5000",
                                                "--rounds", "2" if smoke else "5"])):
            load = h.loadavg()
            out = subprocess.run([os.path.join(bench.bench_bin, argv[0]), *argv[1:]], capture_output=True,
                                 text=True, timeout=900, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            r["command"] = " ".join(argv)
            r["load"] = load
            res[program] = r
            bench.save()
    finally:
        bench.stop(server)


# --- report -------------------------------------------------------------------------------

def splice(old_text, section):
    return scaleout.splice(old_text, section, BEGIN, END)


def section_of(text):
    return scaleout.section_of(text, BEGIN, END)


def render(raw, h):
    """The DPoP section (between its markers) and its target verdict."""
    f = dict(h.FACT_DEFAULTS, **raw.get("facts", {}))
    a = raw["args"]
    res = raw.get("results", {}).get("dpop", {})
    runs = res.get("runs", {})
    failures = list(raw.get("failures", []))
    if not raw.get("complete"):
        failures.append("the run stopped before its end; what it measured is below, the rest is missing")
    L = [BEGIN, "## DPoP: bound tokens and proofs against Bearer", ""]
    w = L.append
    quiet = not (f.get("busy_start") or 0) > 20
    w(f"Generated by `{' '.join(raw.get('argv', ['bench/run.sh', '--dpop']))}` on {f['date']} "
      f"({f['nproc']} CPUs {f['cpu']}; load average at start {f['load_start']}, at end {f.get('load_end', '?')}; "
      f"all-CPU busy share before the run {f['busy_start']} %). {a['reps']} run(s) of {a['duration']} s per cell, "
      f"wrk with {a['connections']} connections and 1 thread, interleaved workload by workload; median shown. "
      f"tessera-server on SQLite with `--dpop allowed --dpop-window 30 --issuer {ISSUER} --access-ttl 86400`; Django + SimpleJWT under "
      f"`{res.get('gunicorn_cmd', '?')}`. Each DPoP request carries its own proof (ES256, a new `jti`, "
      f"made by `bench_dpop_proofs` before the wrk run and sent once).")
    w("")
    if not quiet or a.get("quick") or a.get("smoke"):
        w("> **Preliminary numbers.** This run shared its CPUs with other work (busy share above) "
          + ("and was a short or smoke run " if a.get("quick") or a.get("smoke") else "")
          + "so absolute figures are depressed and noisy. Re-run `bench/run.sh --dpop` on a quiet machine "
          "for publishable numbers.")
        w("")
    if failures:
        w("> **Incomplete run:** " + "; ".join(failures))
        w("")
    w("| workload | req/s | p50 ms | p99 ms | errors | server CPU µs/request |")
    w("|---|---:|---:|---:|---:|---:|")
    sums = {}
    for name in WORKLOADS:
        rs = runs.get(name)
        if not rs:
            continue
        s = h.summarize(rs)
        s["cpu_us"] = h.med([r["server_cpu_s"] * 1e6 / max(1, r["requests"]) for r in rs])
        sums[name] = s
        w(f"| {TITLES[name]} | {h.fmt(s['rps'])} | {h.fmt(s['p50'], 2)} | {h.fmt(s['p99'], 2)} | {s['errors']} | "
          f"{h.fmt(s['cpu_us'], 1)} |")
    w("")
    nan = float("nan")
    rps = {k: sums[k]["rps"] if k in sums else nan for k in WORKLOADS}
    ratio = rps["me_dpop"] / rps["me_django"] if rps["me_django"] == rps["me_django"] and rps["me_django"] else nan
    ok = h.at_least(ratio, TARGET_RATIO)
    verdict = "NOT MEASURED" if ok is None else "MET" if ok else "MISSED"
    w(f"**Target (issue 13): DPoP GET >= {TARGET_RATIO:.0f}x Django's Bearer GET in the same run: "
      f"{h.fmt(ratio, 1)}x ({h.fmt(rps['me_dpop'])} / {h.fmt(rps['me_django'])} req/s): {verdict}.**")
    w("")
    lines = []
    if rps["me_bearer"] == rps["me_bearer"] and rps["me_dpop"] == rps["me_dpop"]:
        lines.append(f"- DPoP GET serves {h.fmt(100 * rps['me_dpop'] / rps['me_bearer'])} % of the Bearer GET's "
                     f"rate; the proof check adds {h.fmt(sums['me_dpop']['cpu_us'] - sums['me_bearer']['cpu_us'], 1)} "
                     "µs of server CPU per request.")
    if rps["refresh_plain"] == rps["refresh_plain"] and rps["refresh_dpop"] == rps["refresh_dpop"]:
        lines.append(f"- A refresh with a proof serves {h.fmt(100 * rps['refresh_dpop'] / rps['refresh_plain'])} % "
                     f"of the unbound refresh's rate ("
                     f"{h.fmt(sums['refresh_dpop']['cpu_us'] - sums['refresh_plain']['cpu_us'], 1)} µs more "
                     "server CPU per request).")
    sdk = res.get("sdk_proof")
    if sdk:
        lines.append(f"- SDK, per request with a bound token: {h.fmt(sdk['median_us_per_proof'], 1)} µs to sign "
                     f"one proof (`DpopSigner::proof()`: ES256, `ath` of a 1 KB token; {sdk['proofs_per_round']} "
                     f"proofs x {len(sdk['us_per_proof'])} rounds, median; `{sdk['command']}`, load {sdk['load']}).")
    check = res.get("server_check")
    if check:
        lines.append(f"- Server, per proof (`verifyProof()` of a resource request, `{check['command']}`, load "
                     f"{check['load']}): {h.fmt(check['median_us_cached'], 1)} µs with the key cache, "
                     f"{h.fmt(check['median_us_uncached'], 1)} µs importing the key each time; a bare ES256 "
                     f"signature check of a JWS of the same size takes {h.fmt(check['median_us_es256_verify'], 1)} µs.")
    for line in lines:
        w(line)
    if lines:
        w("")
    w("Commands (file contents never printed):")
    w("")
    w("```")
    for name in WORKLOADS:
        rs = runs.get(name)
        if rs:
            w(f"# {name}")
            w(rs[0].get("command", "?"))
    w("```")
    w(END)
    targets = [(f"DPoP GET >= {TARGET_RATIO:.0f}x Django GET", f"{h.fmt(ratio, 1)}x", ok)]
    return "\n".join(L), targets

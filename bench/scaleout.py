"""The scale-out comparison of bench/run.py (--scaleout, issue 14).

Refresh with rotation and authenticated GET /api/me/, with wrk, on four set-ups in one run:
tessera-server on SQLite, on PostgreSQL, two instances on one PostgreSQL database behind
HAProxy (round robin, health check GET /healthz), and Django + SimpleJWT (the run's gunicorn).
Per request: CPU time of the server processes (tessera-server, haproxy, gunicorn) and of the
PostgreSQL cluster's processes (the postmaster's children: backends, WAL writer, ...), from
/proc/PID/stat before and after each wrk run; PostgreSQL transactions (pg_stat_database
xact_commit + xact_rollback of the set-up's database) and write transactions (transaction ids
assigned, pg_current_snapshot's xmax) per request; statements per request, each statement's
calls from pg_stat_statements (which bench_postgres_cluster --statement-statistics loads) before
and after.

The PostgreSQL cluster is the tests' throwaway one (bench_postgres_cluster, built from
tests/common/postgrescluster.cpp): loopback, trust authentication, removed at the end.
"""
import glob
import os
import re
import shutil
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
SETUPS = ("sqlite", "pg1", "pg2", "django")
# One instance with two serving threads against two instances of one thread each: the same
# number of event loops and database connections, in one process or in two behind HAProxy.
SINGLE_POOL = 2
TITLES = {"sqlite": "tessera-server, SQLite", "pg1": f"tessera-server --db-pool {SINGLE_POOL}, PostgreSQL",
          "pg2": "2 x tessera-server --db-pool 1, PostgreSQL, HAProxy", "django": "Django + SimpleJWT (SQLite)"}

# The shape of docs/SERVER.md's HAProxy example (soak.haproxy_config_documented checks that
# one against the soak's generator); only the ports and the socket path differ.
HAPROXY_CONFIG = """global
    maxconn 2000
    tune.bufsize 16384
    tune.http.maxhdr 99
    stats socket {socket} mode 600 level user

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout queue 10s
    retries 3
    option redispatch

frontend tessera
    bind 127.0.0.1:{port}
    maxconn 2000
    option http-buffer-request
    option forwardfor
    default_backend tessera_servers

backend tessera_servers
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server source 127.0.0.2 maxconn 256 check inter 1s fall 2 rise 2 pool-purge-delay 5s
{servers}"""
# What each instance behind it needs (the soak's HaproxyProcess::instanceArguments()).
INSTANCE_ARGS = ("--max-connections-per-address", "512", "--idle-timeout", "60", "--trusted-proxy", "127.0.0.2")


def cpu_ticks(pid):
    """utime + stime of one process, clock ticks; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def children(ppid):
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == ppid:
                out.append(int(stat.split("/")[2]))
        except (OSError, IndexError, ValueError):
            pass
    return out


class Cluster:
    """bench_postgres_cluster as a child: its port, directory and database URIs."""

    def __init__(self, exe, databases):
        self.proc = subprocess.Popen([exe, "--databases", str(databases), "--statement-statistics"],
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, start_new_session=True)
        self.uris = []
        for line in self.proc.stdout:
            words = line.split()
            if words[:1] == ["cluster"]:
                self.port, self.directory = int(words[1]), words[2]
            elif words[:1] == ["database"]:
                self.uris.append(words[1])
            elif words[:1] == ["ready"]:
                break
        if len(self.uris) != databases:
            self.stop()
            raise RuntimeError("bench_postgres_cluster did not start")
        pidfiles = glob.glob(os.path.join(self.directory, "**", "postmaster.pid"), recursive=True)
        with open(pidfiles[0]) as f:
            self.postmaster = int(f.readline())
        self.psql = os.path.join(os.path.dirname(os.path.realpath(self._postgres_binary())), "psql")
        if not os.path.exists(self.psql):
            self.psql = "psql"
        self.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def _postgres_binary(self):
        return os.readlink(f"/proc/{self.postmaster}/exe")

    def query(self, sql):
        """One value, from the maintenance database (its own transactions are not counted in the
        set-ups' databases)."""
        uri = self.uris[0].rsplit("/", 1)[0] + "/postgres"
        out = subprocess.run([self.psql, "-Atqc", sql, uri], capture_output=True, text=True, check=True,
                             timeout=30)
        return out.stdout.strip()

    def counters(self, database):
        """(transactions of `database`, transaction ids assigned in the cluster so far)."""
        xacts = self.query("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                           f"WHERE datname = '{database}'")
        xids = self.query("SELECT pg_snapshot_xmax(pg_current_snapshot())")
        return int(xacts), int(xids)

    def statements(self, database):
        """{statement text (normalised by pg_stat_statements): calls so far} of `database`."""
        uri = self.uris[0].rsplit("/", 1)[0] + "/postgres"
        sql = ("SELECT sum(s.calls), regexp_replace(s.query, '\\s+', ' ', 'g') FROM pg_stat_statements s "
               f"JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '{database}' GROUP BY 2")
        out = subprocess.run([self.psql, "-Atq", "-F", "\t", "-c", sql, uri], capture_output=True, text=True,
                             check=True, timeout=30)
        calls = {}
        for line in out.stdout.splitlines():
            count, _, text = line.partition("\t")
            # QPSQL prepares with PREPARE name AS ...: the name differs between connections.
            text = re.sub(r"^PREPARE \w+ AS ", "", text)
            calls[text] = calls.get(text, 0) + int(count)
        return calls

    def cpu(self):
        return cpu_ticks(self.postmaster) + sum(cpu_ticks(p) for p in children(self.postmaster))

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.terminate()
                self.proc.wait(timeout=30)


def haproxy_binary():
    """haproxy on PATH, else Debian's /usr/sbin/haproxy (not on a normal user's PATH)."""
    return shutil.which("haproxy") or "/usr/sbin/haproxy"


class Haproxy:
    def __init__(self, bench, server_ports, h):
        self.port = h.free_port()
        config = bench.path("haproxy.cfg")
        servers = "".join(f"    server tessera{i + 1} 127.0.0.1:{p}\n" for i, p in enumerate(server_ports))
        with open(config, "w") as f:
            f.write(HAPROXY_CONFIG.format(socket=bench.path("haproxy.sock"), port=self.port, servers=servers))
        subprocess.run([haproxy_binary(), "-c", "-q", "-f", config], check=True, timeout=30)
        self.proc = subprocess.Popen([haproxy_binary(), "-db", "-f", config], stdout=subprocess.DEVNULL,
                                     stderr=open(bench.path("haproxy.log"), "ab"), start_new_session=True)
        self.pid = self.proc.pid
        self.url = f"http://127.0.0.1:{self.port}"
        if not h.wait_port(self.port):
            self.stop()
            raise RuntimeError("haproxy did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def run(bench, h):
    """The phase: set-ups, then each workload on each set-up, interleaved per repetition. `h` is
    bench/run.py's module (its helpers)."""
    log, loadavg, post_json, run_wrk, write_private, free_port = (
        h.log, h.loadavg, h.post_json, h.run_wrk, h.write_private, h.free_port)
    a = bench.args
    res = bench.results.setdefault("scaleout", {"runs": {}})
    cluster = Cluster(os.path.join(bench.bench_bin, "bench_postgres_cluster"), 2)
    extra_stop = [cluster]
    try:
        res["postgresql"] = cluster.query("SHOW server_version")
        res["haproxy"] = subprocess.run([haproxy_binary(), "-v"], capture_output=True, text=True).stdout.splitlines()[0]
        sqlite_db = bench.path("scaleout.sqlite3")
        for db in (sqlite_db, cluster.uris[0], cluster.uris[1]):
            bench.add_user(db, "pool", cheap=True)
        sqlite_server = bench.start_tessera("tessera-sqlite", sqlite_db)
        single = bench.start_tessera("tessera-pg", cluster.uris[0],
                                     extra=("--issuer", "http://127.0.0.1", "--db-pool", str(SINGLE_POOL)))
        pg2 = []
        for _ in range(2):
            port = free_port()
            pg2.append(bench.start_tessera(f"tessera-pg2-{len(pg2) + 1}", cluster.uris[1],
                                           extra=("--listen", f"127.0.0.1:{port}", "--issuer", "http://127.0.0.1",
                                                  "--db-pool", "1", *INSTANCE_ARGS)))
        haproxy = Haproxy(bench, [p.port for p in pg2], h)
        extra_stop.insert(0, haproxy)
        time.sleep(2.5)  # two health checks (rise 2, inter 1s): both instances in the rotation
        targets = {
            "sqlite": {"url": sqlite_server.url, "pids": [sqlite_server.pid], "db": None},
            "pg1": {"url": single.url, "pids": [single.pid], "db": cluster.uris[0].rsplit("/", 1)[1]},
            "pg2": {"url": haproxy.url, "pids": [p.pid for p in pg2] + [haproxy.pid],
                    "db": cluster.uris[1].rsplit("/", 1)[1]},
            "django": {"url": bench.django.url, "pids": [bench.django.pid] + children(bench.django.pid), "db": None},
        }
        res["gunicorn_cmd"] = bench.raw.get("gunicorn_cmd", "?")
        for name, t in targets.items():
            port = int(t["url"].rsplit(":", 1)[1])
            user = "pool" if name != "django" else "bench"
            status, body = post_json(port, "/api/token/", {"username": user, "password": bench.password})
            if status != 200:
                raise RuntimeError(f"scale-out {name}: login failed with {status}")
            write_private(bench.path(f"scaleout.{name}.access"), body["access"] + "\n")
        for rep in range(a.reps):
            for key, path, script in (("refresh", "/api/token/refresh/", "refresh_chain.lua"),
                                      ("me", "/api/me/", "bearer_get.lua")):
                for name in SETUPS:
                    t = targets[name]
                    port = int(t["url"].rsplit(":", 1)[1])
                    if key == "refresh":
                        pool = bench.path(f"scaleout.{name}.pool.{rep}")
                        if name == "django":
                            bench.mint_pool("django", a.pool, pool)
                        else:
                            bench.mint_pool_at(port, a.pool, pool)
                        files = {"BENCH_POOL_FILE": pool}
                    else:
                        files = {"BENCH_TOKEN_FILE": bench.path(f"scaleout.{name}.access")}
                    before_db = before_statements = None
                    if t["db"]:
                        time.sleep(1.5)  # the pool's logins reach the statistics first
                        before_db = cluster.counters(t["db"])
                        before_statements = cluster.statements(t["db"])
                    cpu0 = sum(cpu_ticks(p) for p in t["pids"])
                    pg0 = cluster.cpu()
                    load = loadavg()
                    log(f"scale-out rep {rep + 1}/{a.reps} {key} {name} (load {load})")
                    r = run_wrk(t["url"] + path, script, files, a.duration, a.connections, 10)
                    cpu1 = sum(cpu_ticks(p) for p in t["pids"])
                    pg1 = cluster.cpu()
                    r["load"] = load
                    r["server_cpu_s"] = (cpu1 - cpu0) / CLK_TCK
                    r["pg_cpu_s"] = (pg1 - pg0) / CLK_TCK if t["db"] else 0.0
                    if t["db"]:
                        # Backends flush their statistics at most once a second.
                        time.sleep(1.5)
                        after_db = cluster.counters(t["db"])
                        r["pg_xacts"] = after_db[0] - before_db[0]
                        # The counters() call itself assigns no transaction id (read only).
                        r["pg_xids"] = after_db[1] - before_db[1]
                        after_statements = cluster.statements(t["db"])
                        calls = {q: n - before_statements.get(q, 0) for q, n in after_statements.items()}
                        r["pg_statement_calls"] = {q: n for q, n in calls.items() if n > 0}
                        r["pg_statements"] = sum(r["pg_statement_calls"].values())
                    res["runs"].setdefault(key, {}).setdefault(name, []).append(r)
                    bench.save()
                    if r["errors"]:
                        log(f"  {r['errors']} errors")
    finally:
        for p in list(bench.processes):
            if p.name.startswith("tessera-pg") or p.name == "tessera-sqlite":
                bench.stop(p)
        for x in extra_stop:
            x.stop()


# --- report -------------------------------------------------------------------------------

BEGIN, END = "<!-- scaleout:begin -->", "<!-- scaleout:end -->"


def splice(old_text, section, begin=BEGIN, end=END):
    """`old_text` with its section between `begin` and `end` (the scale-out one by default)
    replaced by `section` (inserted before the raw data, or appended, when it has none)."""
    if begin in old_text and end in old_text:
        head, rest = old_text.split(begin, 1)
        return head + section + rest.split(end, 1)[1]
    if "\n## Raw data" in old_text:
        head, rest = old_text.split("\n## Raw data", 1)
        return head + "\n" + section + "\n\n## Raw data" + rest
    return old_text.rstrip("\n") + "\n\n" + section + "\n"


def section_of(text, begin=BEGIN, end=END):
    """The section between `begin` and `end` (the scale-out one by default), markers included;
    '' when the report has none."""
    if begin in text and end in text:
        return begin + text.split(begin, 1)[1].split(end, 1)[0] + end
    return ""


def render(raw, h):
    """The scale-out section (between its markers) and its target verdicts."""
    f = dict(h.FACT_DEFAULTS, **raw.get("facts", {}))
    a = raw["args"]
    res = raw.get("results", {}).get("scaleout", {})
    runs = res.get("runs", {})
    failures = list(raw.get("failures", []))
    if not raw.get("complete"):
        failures.append("the run stopped before its end; what it measured is below, the rest is missing")
    L = [BEGIN, "## Scale-out: SQLite, PostgreSQL, two instances behind HAProxy", ""]
    w = L.append
    quiet = not (f.get("busy_start") or 0) > 20
    w(f"Generated by `{' '.join(raw.get('argv', ['bench/run.sh', '--scaleout']))}` on {f['date']} "
      f"({f['nproc']} CPUs {f['cpu']}; load average at start {f['load_start']}, at end {f.get('load_end', '?')}; "
      f"all-CPU busy share before the run {f['busy_start']} %). {a['reps']} run(s) of {a['duration']} s per cell, "
      f"wrk with {a['connections']} connections and 1 thread, interleaved set-up by set-up; median shown. "
      f"PostgreSQL {res.get('postgresql', '?')} (the tests' throwaway cluster, loopback, default settings, "
      f"`max_connections=60`); {res.get('haproxy', '?')}.")
    w("")
    if not quiet or a.get("quick") or a.get("smoke"):
        w("> **Preliminary numbers.** This run shared its 2 CPUs with other work (busy share above) "
          + ("and was a short or smoke run " if a.get("quick") or a.get("smoke") else "")
          + "so absolute figures are depressed and noisy, and the two-instance set-up competes with "
          "wrk, PostgreSQL and HAProxy for the same 2 cores. Re-run `bench/run.sh --scaleout` on a quiet "
          "machine for publishable numbers.")
        w("")
    if failures:
        w("> **Incomplete run:** " + "; ".join(failures))
        w("")
    w("| workload | set-up | req/s | p50 ms | p99 ms | errors | CPU ms/request, servers | CPU ms/request, "
      "PostgreSQL | cores busy | PostgreSQL transactions/request | write transactions/request | "
      "statements/request |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    sums = {}
    for key, title in (("refresh", "refresh with rotation"), ("me", "authenticated GET /api/me/")):
        for name in SETUPS:
            rs = runs.get(key, {}).get(name)
            if not rs:
                continue
            s = h.summarize(rs)
            requests = [r["requests"] for r in rs]
            per = lambda field: h.med([r.get(field, 0) * 1000 / max(1, r["requests"]) for r in rs])  # noqa: E731
            s["server_ms"] = per("server_cpu_s")
            s["pg_ms"] = per("pg_cpu_s")
            pgx = h.med([r["pg_xacts"] / max(1, r["requests"]) for r in rs]) if "pg_xacts" in rs[0] else None
            xid = h.med([r["pg_xids"] / max(1, r["requests"]) for r in rs]) if "pg_xids" in rs[0] else None
            stm = (h.med([r["pg_statements"] / max(1, r["requests"]) for r in rs])
                   if "pg_statements" in rs[0] else None)
            s["xacts"], s["xids"], s["statements"] = pgx, xid, stm
            sums[(key, name)] = s
            w(f"| {title} | {TITLES[name]} | {h.fmt(s['rps'], 1 if s['rps'] < 100 else 0)} | {h.fmt(s['p50'], 2)} | "
              f"{h.fmt(s['p99'], 2)} | {s['errors']} | {h.fmt(s['server_ms'], 3)} | "
              f"{h.fmt(s['pg_ms'], 3) if name in ('pg1', 'pg2') else '-'} | "
              f"{h.fmt(s['rps'] * (s['server_ms'] + s['pg_ms']) / 1000, 2)} | "
              f"{h.fmt(pgx, 2) if pgx is not None else '-'} | {h.fmt(xid, 2) if xid is not None else '-'} | "
              f"{h.fmt(stm, 2) if stm is not None else '-'} |")
            del requests
    w("")
    w("CPU: utime + stime from `/proc/PID/stat` before and after each wrk run, divided by the requests "
      "answered. Servers: the tessera-server process(es), plus haproxy for the two-instance set-up, plus "
      "gunicorn's master and workers for Django. PostgreSQL: the postmaster and all its children (client "
      "backends, WAL writer, checkpointer, ...). wrk's own CPU is not counted. Cores busy: req/s x CPU per "
      "request (servers + PostgreSQL); well under the 2 cores means the set-up waited rather than computed "
      "(wrk and other processes on the machine take the rest; each serving thread also waits for each of "
      "its statements, which blocks that thread's event loop, docs/SERVER.md). Transactions: the set-up "
      "database's `xact_commit + xact_rollback` in `pg_stat_database` (read 1.5 s after the run, once the "
      "backends have flushed their statistics; every autocommit statement is a transaction, so this counts "
      "database round trips that are not inside an explicit transaction, and a multi-statement transaction "
      "once); it includes each instance's revocation-listener ping (`SELECT 1` once a second), about "
      "1/s per instance. Write transactions: transaction ids assigned in the cluster "
      "(`pg_snapshot_xmax(pg_current_snapshot())` before and after), i.e. transactions that wrote. "
      "Statements: every statement the set-up's database ran (each one a round trip; `BEGIN` and `COMMIT` "
      "included), the calls counted by `pg_stat_statements` (loaded by `bench_postgres_cluster "
      "--statement-statistics`) before and after the run, divided by the requests answered; the same "
      "listener ping is in it.")
    w("")
    breakdown = []
    for key, title in (("refresh", "refresh with rotation"), ("me", "authenticated GET /api/me/")):
        for name in ("pg1", "pg2"):
            rs = [r for r in runs.get(key, {}).get(name, []) if "pg_statement_calls" in r]
            if not rs:
                continue
            requests = max(1, sum(r["requests"] for r in rs))
            calls = {}
            for r in rs:
                for q, n in r["pg_statement_calls"].items():
                    calls[q] = calls.get(q, 0) + n
            shown = sorted(((n / requests, q) for q, n in calls.items() if n / requests >= 0.005), reverse=True)
            breakdown.append(f"- {title}, {TITLES[name]}:")
            breakdown.extend(f"  - {h.fmt(per, 3)} `{q if len(q) <= 200 else q[:200] + ' ...'}`"
                             for per, q in shown)
            if not shown:
                breakdown.append("  - (none)")
    if breakdown:
        w("Statements per request by statement (all runs of the cell together; under 0.005 per request "
          "left out):")
        w("")
        L.extend(breakdown)
        w("")

    targets = []

    def ratio(k, x, y):
        p, q = sums.get((k, x)), sums.get((k, y))
        return p["rps"] / q["rps"] if p and q and q["rps"] else float("nan")

    r_pg_django = ratio("refresh", "pg1", "django")
    r_me = ratio("me", "pg1", "sqlite")
    targets.append(("PostgreSQL refresh >= 10x Django's refresh", f"{h.fmt(r_pg_django, 1)}x",
                    h.at_least(r_pg_django, 10)))
    targets.append(("authenticated GET on PostgreSQL within 10 % of SQLite", f"{h.fmt(r_me, 2)}x",
                    h.at_least(r_me, 0.9)))
    r_sqlite_django = ratio("refresh", "sqlite", "django")
    targets.append(("SQLite refresh >= 30x Django's refresh (issue 14's goal)",
                    f"{h.fmt(r_sqlite_django, 1)}x", h.at_least(r_sqlite_django, 30)))
    w("| target | measured | verdict |")
    w("|---|---:|---|")
    for name, value, ok in targets:
        w(f"| {name} | {value} | {h.verdict(ok)} |")
    w("")
    def cpu_ratio(k, x, y):
        p, q = sums.get((k, x)), sums.get((k, y))
        if not p or not q or not (p["server_ms"] + p["pg_ms"]):
            return float("nan")
        return (q["server_ms"] + q["pg_ms"]) / (p["server_ms"] + p["pg_ms"])

    w("CPU per request is less sensitive to other load on the machine than req/s: by CPU, PostgreSQL refresh "
      f"(servers + database) is {h.fmt(cpu_ratio('refresh', 'pg1', 'django'), 1)}x cheaper than Django's, and an "
      f"authenticated GET on PostgreSQL costs {h.fmt(1 / cpu_ratio('me', 'pg1', 'sqlite'), 2)}x the CPU of one "
      "on SQLite.")
    w("")
    w(f"Other ratios: two instances behind HAProxy / one instance on PostgreSQL: refresh "
      f"{h.fmt(ratio('refresh', 'pg2', 'pg1'), 2)}x, GET {h.fmt(ratio('me', 'pg2', 'pg1'), 2)}x; "
      f"PostgreSQL / SQLite refresh {h.fmt(ratio('refresh', 'pg1', 'sqlite'), 2)}x.")
    w("")
    w("### Capacity model")
    w("")
    w("From the CPU and transaction figures above (a sizing aid, not a promise: it assumes CPU is the "
      "bottleneck and that the mix's costs add up):")
    w("")
    for key, title in (("refresh", "refresh with rotation"), ("me", "authenticated GET")):
        for name in ("sqlite", "pg1", "pg2"):
            s = sums.get((key, name))
            if not s:
                continue
            total = s["server_ms"] + s["pg_ms"]
            per_core = 1000 / total if total else float("nan")
            per_core_server = 1000 / s["server_ms"] if s["server_ms"] else float("nan")
            if name == "sqlite":
                line = (f"- {title}, {TITLES[name]}: {h.fmt(total, 3)} CPU ms per request, about "
                        f"{h.fmt(per_core)} requests per core-second")
            else:
                line = (f"- {title}, {TITLES[name]}: {h.fmt(total, 3)} CPU ms per request in all "
                        f"(servers {h.fmt(s['server_ms'], 3)}, PostgreSQL {h.fmt(s['pg_ms'], 3)}): about "
                        f"{h.fmt(per_core)} requests per core-second with PostgreSQL on the same cores, "
                        f"{h.fmt(per_core_server)} per core-second of the servers alone")
                if s.get("xacts") is not None and s["xacts"] >= 0.05:
                    line += (f"; {h.fmt(s['xacts'], 2)} PostgreSQL transactions per request "
                             f"({h.fmt(s['xids'], 2)} writing), so a database sustaining T transactions/s "
                             f"carries T / {h.fmt(s['xacts'], 2)} of these requests/s")
                elif s.get("xacts") is not None:
                    line += f"; {h.fmt(s['xacts'], 2)} PostgreSQL transactions per request (served from the caches)"
            w(line + ".")
    w("")
    w("Sizing: instances = peak refresh rate / (requests per core-second of tessera-server) per core; "
      "PostgreSQL must sustain peak refresh rate x transactions per refresh (its write rate is the write "
      "transactions per refresh; each is one WAL flush with default `synchronous_commit`). Authenticated "
      "GETs cost the database nothing once the session is cached (see the transactions column), so they "
      "scale with instances alone.")
    w("")
    w("Commands (file contents never printed):")
    w("")
    w("```")
    for key in ("refresh", "me"):
        for name in SETUPS:
            rs = runs.get(key, {}).get(name)
            if rs:
                w(f"# {key} / {name}")
                w(rs[0].get("command", "?"))
    w("```")
    w(END)
    return "\n".join(L), targets

#!/usr/bin/python3
"""bench/run.sh with each documented option, in its smallest mode (--smoke).

    test_run_options.py --root SOURCE_DIR --build BUILD_DIR

Runs the script against the programs of BUILD_DIR (TESSERA_BENCH_SKIP_BUILD=1) and checks
that each run writes a whole report and its raw file, that the report can be rendered again
from the raw file alone, and that a run stopped half-way keeps what it measured. Every
documented option of bench/run.sh is in one of the runs:

    --reps --duration --skip-growth --cold-runs    run "profiled" (also: cold start, profiles,
    --callgrind-runs --oauth-runs                  the OAuth phase)
    --sizes --skip-cold --no-profile               run "growth", with the counts of
    --connections --pool --login-duration          bench/run.py --help
    --sdk-requests --sdk-rounds --storm-rounds
    --skip-oauth
    --oauth-only                                   run "oauth" (the OAuth phase alone)
    --scaleout                                     run "scaleout" (the scale-out comparison alone,
                                                   into an existing report)
    --dpop                                         run "dpop" (the DPoP comparison alone, into an
                                                   existing report that has a scale-out section)
    --growth-only                                  run "growthonly" (the cost-growth phase alone, into
                                                   an existing report); the "profiled" run's raw file
                                                   (--skip-growth) rendered into that report keeps it
    --quick                                        run "stopped" (stopped after its first measurement)
    --out --raw --report-only                      every run

--smoke stands in for --quick in the whole runs: a whole --quick run takes several minutes
(a 3 s wrk run per workload and server, 15 s callgrind runs), too much for every CI run;
--smoke takes the same code paths with the smallest counts. Prints one line per check.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

results = {"passed": 0, "failed": 0}


def check(name, condition, detail=""):
    results["passed" if condition else "failed"] += 1
    print(f"{'PASS' if condition else 'FAIL'}  {name}{'' if condition else '  -- ' + str(detail)[-3000:]}",
          flush=True)
    return condition


def check_rerendered(runner, label, name, raw_path, report):
    """--report-only on a copy of `report` replaces its section with the same one."""
    again = os.path.join(runner.work, name + ".again.md")
    with open(again, "w") as f:
        f.write(report)
    code, text = runner.render(raw_path, again)
    check(f"{label}: --report-only replaces the section with the same one",
          code == 0 and open(again).read() == report, text)


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class Runner:
    def __init__(self, root, build, work):
        self.script = os.path.join(root, "bench", "run.sh")
        self.work = work
        self.env = dict(os.environ, TESSERA_BENCH_BUILD_DIR=build, TESSERA_BENCH_SKIP_BUILD="1")

    def paths(self, name):
        return os.path.join(self.work, name + ".md"), os.path.join(self.work, name + ".json")

    def start(self, name, options):
        out, raw = self.paths(name)
        return subprocess.Popen([self.script, *options, "--out", out, "--raw", raw], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def run(self, name, options, timeout=900):
        started = time.time()
        proc = self.start(name, options)
        log, _ = proc.communicate(timeout=timeout)
        print(f"      ({name}: {time.time() - started:.0f} s)", flush=True)
        return proc.returncode, log

    def render(self, raw, out):
        proc = subprocess.run([self.script, "--report-only", raw, "--out", out], env=self.env,
                              capture_output=True, text=True, timeout=120)
        return proc.returncode, proc.stdout + proc.stderr


def check_whole_run(runner, name, options, expect):
    """One whole run: exit 0, a complete raw file, a report with the expected sections, and the
    same report again from the raw file alone."""
    code, log = runner.run(name, ["--smoke", *options])
    out, raw_path = runner.paths(name)
    label = f"{name} ({' '.join(options)})"
    check(f"{label}: exits 0", code == 0, log)
    raw = load(raw_path)
    if not check(f"{label}: writes the raw file", raw is not None, log):
        return
    check(f"{label}: the raw file is complete, no phase failed",
          raw.get("complete") is True and raw.get("failures") == [], raw.get("failures"))
    report = open(out).read() if os.path.exists(out) else ""
    check(f"{label}: writes the report", report.startswith("# Benchmarks") and "## Targets" in report, log)
    check(f"{label}: the report names the options", all(o in report for o in options), report[:600])
    given = {options[i][2:].replace("-", "_"): options[i + 1] for i in range(len(options) - 1)
             if options[i].startswith("--") and not options[i + 1].startswith("--")}
    used = {k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in raw["args"].items()}
    check(f"{label}: explicit values win over --smoke's", all(used.get(k) == v for k, v in given.items()),
          f"{given} {used}")
    server = raw["results"]["server"]
    check(f"{label}: every server workload was measured",
          sorted(server) == ["healthz", "login", "me", "refresh", "trivial", "verify"], sorted(server))
    sdk = raw["results"]["sdk"]
    for conc in (1, 100):
        r = sdk.get(f"overhead_{conc}", {})
        spreads = r.get("overhead_pct_spread", {})
        check(f"{label}: SDK overhead at {conc} in flight has CPU-time figures for client and server",
              "error" not in r and spreads.get("client_cpu") and spreads.get("server_cpu")
              and spreads.get("total_cpu") and len(r.get("raw_client_cpu_us", [])) == r.get("rounds"), r)
    check(f"{label}: the refresh storm ran", "error" not in sdk.get("storm", {"error": "missing"}), sdk.get("storm"))
    for section, present, marker, option in expect:
        if present:
            check(f"{label}: {section} measured", marker(raw, report), report[-2000:])
        else:
            check(f"{label}: {section} not run, and the report says so",
                  not marker(raw, report) and f"Not run ({option})." in report, report[-2000:])
    again = os.path.join(runner.work, name + ".again.md")
    code, text = runner.render(raw_path, again)
    check(f"{label}: --report-only renders the same report from the raw file alone",
          code == 0 and os.path.exists(again) and open(again).read() == report, text)


def grown(raw, report):
    return bool(raw["results"]["growth"]) and "Not run (--skip-growth)" not in report


def cold(raw, report):
    return "error" not in raw["results"]["sdk"].get("cold", {"error": "not run"}) \
        and "Process start (`posix_spawn`)" in report


def profiled(raw, report):
    p = raw["results"].get("profile") or {}
    runs = len((p.get("sdk") or {}).get("runs", []))
    return bool(p.get("callgrind", {}).get("me") and p.get("sdk")) and "## Profiles" in report \
        and runs == raw["args"]["callgrind_runs"] and (runs == 1 or f"median of {runs} runs" in report)


def oauthed(raw, report):
    o = raw["results"].get("oauth") or {}
    refresh = o.get("refresh", {})
    return bool(o.get("round_trip") and refresh.get("oauth") and refresh.get("simplejwt")
                and all(r["errors"] == 0 for runs in refresh.values() for r in runs)
                and "error" not in o.get("sdk_tessera", {"error": 1}) and "error" not in o.get("sdk_oidc", {"error": 1})
                and o["sdk_tessera"].get("simplejwt_refresh_ms")) \
        and "### Refresh grant throughput" in report and "Not run (--skip-oauth)" not in report


def check_oauth_only_run(runner):
    """--oauth-only: the OAuth phase alone, every part of it measured, the rest marked not run."""
    name = "oauth"
    code, log = runner.run(name, ["--smoke", "--oauth-only"])
    out, raw_path = runner.paths(name)
    raw = load(raw_path)
    check("oauth (--oauth-only): exits 0, complete, no phase failed",
          code == 0 and raw is not None and raw.get("complete") is True and raw.get("failures") == [],
          log + str(raw and raw.get("failures")))
    report = open(out).read() if os.path.exists(out) else ""
    check("oauth (--oauth-only): the OAuth section is measured", raw is not None and oauthed(raw, report),
          report[-3000:])
    check("oauth (--oauth-only): nothing else ran, and the report says so",
          raw is not None and not raw["results"]["server"] and not raw["results"]["sdk"]
          and "**OAuth phase only**" in report, raw and raw["results"].keys())
    again = os.path.join(runner.work, name + ".again.md")
    code, text = runner.render(raw_path, again)
    check("oauth: --report-only renders the same report from the raw file alone",
          code == 0 and os.path.exists(again) and open(again).read() == report, text)


def check_scaleout_run(runner):
    """--scaleout: every set-up and workload measured without errors, with CPU and PostgreSQL
    figures; only the scale-out section of an existing report is written, twice in a row
    replaced, not repeated; --report-only renders the same file again."""
    name = "scaleout"
    out, raw_path = runner.paths(name)
    before = "# Benchmarks\n\nAn earlier full report.\n\n## Raw data\n\nits data\n"
    with open(out, "w") as f:
        f.write(before)
    code, log = runner.run(name, ["--smoke", "--scaleout"])
    raw = load(raw_path)
    check("scaleout (--scaleout): exits 0, complete, no phase failed",
          code == 0 and raw is not None and raw.get("complete") is True and raw.get("failures") == [],
          log + str(raw and raw.get("failures")))
    runs = (raw or {}).get("results", {}).get("scaleout", {}).get("runs", {})
    cells = [(k, s) for k in ("refresh", "me") for s in ("sqlite", "pg1", "pg2", "django")]
    check("scaleout: every set-up and workload measured, without errors, with CPU per request",
          all(runs.get(k, {}).get(s) and all(r["errors"] == 0 and r["requests"] > 0 and r["server_cpu_s"] > 0
                                              for r in runs[k][s]) for k, s in cells), runs.keys())
    check("scaleout: PostgreSQL set-ups have backend CPU and transaction counts; rotation writes",
          all("pg_xacts" in r and "pg_xids" in r for k in ("refresh", "me") for s in ("pg1", "pg2")
              for r in runs.get(k, {}).get(s, [{}]))
          and all(r["pg_xids"] >= r["requests"] for s in ("pg1", "pg2") for r in runs.get("refresh", {}).get(s, [{"pg_xids": -1, "requests": 0}])),
          runs.get("refresh"))
    # Every refresh reads its token and rotates it: at least two statements each.
    check("scaleout: PostgreSQL set-ups count their statements (pg_stat_statements), per statement",
          all("pg_statements" in r and "pg_statement_calls" in r for k in ("refresh", "me") for s in ("pg1", "pg2")
              for r in runs.get(k, {}).get(s, [{}]))
          and all(r["pg_statements"] >= 2 * r["requests"] for s in ("pg1", "pg2")
                  for r in runs.get("refresh", {}).get(s, [{"pg_statements": -1, "requests": 0}])),
          runs.get("refresh"))
    report = open(out).read() if os.path.exists(out) else ""
    check("scaleout: the report has statements per request and their breakdown",
          "statements/request" in report and "Statements per request by statement" in report, report[:3000])
    check("scaleout: the existing report is kept, the section added before its raw data",
          report.startswith("# Benchmarks\n\nAn earlier full report.") and report.count("<!-- scaleout:begin -->") == 1
          and report.index("## Scale-out") < report.index("## Raw data") and report.endswith("its data\n"),
          report[:3000])
    check_rerendered(runner, "scaleout", name, raw_path, report)


def check_dpop_run(runner):
    """--dpop: every workload measured without errors (a refused or replayed proof is a status
    error), with server CPU, the SDK's and the server's cost per proof and a verdict; only the
    DPoP section of an existing report is written, its other sections kept; --report-only
    renders the same file again."""
    name = "dpop"
    out, raw_path = runner.paths(name)
    scaleout_section = "<!-- scaleout:begin -->\n## Scale-out\n\nkept\n<!-- scaleout:end -->"
    before = f"# Benchmarks\n\nAn earlier full report.\n\n{scaleout_section}\n\n## Raw data\n\nits data\n"
    with open(out, "w") as f:
        f.write(before)
    code, log = runner.run(name, ["--smoke", "--dpop"])
    raw = load(raw_path)
    check("dpop (--dpop): exits 0, complete, no phase failed",
          code == 0 and raw and raw.get("complete") is True and raw.get("failures") == [],
          log + str(raw and raw.get("failures")))
    res = (raw or {}).get("results", {}).get("dpop", {})
    runs = res.get("runs", {})
    workloads = ("me_bearer", "me_dpop", "me_django", "refresh_plain", "refresh_dpop")
    check("dpop: every workload measured, without errors, with server CPU per request",
          all(runs.get(k) and all(r["errors"] == 0 and r["requests"] > 0 and r["server_cpu_s"] > 0
                                  for r in runs[k]) for k in workloads), runs)
    check("dpop: the SDK's signing cost and the server's checking cost measured",
          res.get("sdk_proof", {}).get("median_us_per_proof", 0) > 0
          and res.get("server_check", {}).get("median_us_cached", 0) > 0
          and res.get("server_check", {}).get("median_us_uncached", 0) > 0, res.keys())
    report = open(out).read() if os.path.exists(out) else ""
    check("dpop: the existing report and its scale-out section are kept, the section added before its raw data",
          report.startswith("# Benchmarks\n\nAn earlier full report.") and report.count("<!-- dpop:begin -->") == 1
          and scaleout_section in report and report.index("## DPoP") < report.index("## Raw data")
          and report.endswith("its data\n"), report[:3000])
    check("dpop: the verdict on the 10x target is stated",
          "Target (issue 13): DPoP GET >= 10x Django's Bearer GET in the same run" in report
          and ("MET" in report or "MISSED" in report), report[:3000])
    check_rerendered(runner, "dpop", name, raw_path, report)


def check_growth_only_run(runner):
    """--growth-only: every size measured without errors, with memory, database size and query
    plans; only the "## Cost growth" section of an existing report is replaced (up to the next
    "## " heading), with its own note and target verdict; --report-only renders the same file
    again; a full run's raw file with --skip-growth keeps the section it replaced."""
    name = "growthonly"
    out, raw_path = runner.paths(name)
    head = "# Benchmarks\n\nAn earlier full report.\n\n"
    tail = "## OAuth: kept\n\nkept\n\n## Raw data\n\nits data\n"
    with open(out, "w") as f:
        f.write(head + "## Cost growth\n\nold figures\n\n" + tail)
    code, log = runner.run(name, ["--smoke", "--growth-only"])
    raw = load(raw_path)
    check("growthonly (--growth-only): exits 0, complete, no phase failed",
          code == 0 and raw is not None and raw.get("complete") is True and raw.get("failures") == [],
          log + str(raw and raw.get("failures")))
    res = (raw or {}).get("results", {})
    rows = res.get("growth", [])
    check("growthonly: every size measured, without errors, with memory, database size and query plans",
          [r["families"] for r in rows] == (raw or {}).get("args", {}).get("sizes")
          and all(r["runs"] and all(run["errors"] == 0 and run["requests"] > 0 for run in r["runs"])
                  and r.get("rss_end_kib") and r.get("db_mib") for r in rows)
          and res.get("query_plans"), rows)
    check("growthonly: nothing else ran", raw is not None and not res["server"] and not res["sdk"]
          and not res.get("profile"), raw and res.keys())
    report = open(out).read() if os.path.exists(out) else ""
    section = report[len(head):len(report) - len(tail)]
    check("growthonly: only the cost-growth section of the existing report is replaced",
          report.startswith(head + "## Cost growth\n\n> **Re-measured separately:** this section comes from "
                            "`bench/run.sh --smoke --growth-only`")
          and report.endswith(tail) and "old figures" not in report and report.count("## Cost growth") == 1
          and "| families |" in section, report[:3000])
    check("growthonly: the section states the growth target's verdict",
          "Target: refresh throughput flat from " in section and ("**met**" in section or "**missed**" in section),
          section[-1000:])
    check_rerendered(runner, "growthonly", name, raw_path, report)
    without = os.path.join(runner.work, name + ".without.md")
    with open(without, "w") as f:
        f.write(head + tail)
    code, text = runner.render(raw_path, without)
    check("growthonly: a report without the section gets it before its raw data",
          code == 0 and open(without).read() == head + "## OAuth: kept\n\nkept\n\n" + section + "## Raw data\n\nits data\n",
          text)
    skipped = runner.paths("profiled")[1]
    if os.path.exists(skipped):
        kept = os.path.join(runner.work, name + ".kept.md")
        with open(kept, "w") as f:
            f.write(report)
        code, text = runner.render(skipped, kept)
        kept_report = open(kept).read() if code == 0 else ""
        check("growthonly: a full run with --skip-growth keeps the measured section",
              code == 0 and section in kept_report and "Not run (--skip-growth)" not in kept_report
              and kept_report.count("## Cost growth") == 1, text + kept_report[:2000])


def check_stopped_run(runner):
    """A run stopped (SIGTERM) after its first measurement keeps it, and renders."""
    name = "stopped"
    options = ["--quick", "--skip-growth", "--skip-cold", "--no-profile"]
    out, raw_path = runner.paths(name)
    proc = runner.start(name, options)
    deadline = time.time() + 600
    raw = None
    while time.time() < deadline and proc.poll() is None:
        raw = load(raw_path)
        if raw and raw["results"]["server"]:
            break
        time.sleep(0.5)
    measured = bool(raw and raw["results"]["server"])
    check("stopped (--quick): the first measurement is on disk while the run goes on", measured,
          proc.poll())
    proc.send_signal(signal.SIGTERM)
    log, _ = proc.communicate(timeout=180)
    check("stopped: exits 130 and writes no report", proc.returncode == 130 and not os.path.exists(out),
          f"{proc.returncode} {log}")
    kept = load(raw_path)
    check("stopped: the raw file still holds what was measured, marked incomplete",
          kept is not None and kept.get("complete") is False and kept["results"]["server"]
          and all(runs for key in kept["results"]["server"].values() for runs in key.values()
                  if isinstance(runs, list)), kept and kept["results"]["server"].keys())
    again = os.path.join(runner.work, name + ".again.md")
    code, text = runner.render(raw_path, again)
    report = open(again).read() if os.path.exists(again) else ""
    check("stopped: --report-only renders it, marked incomplete",
          code == 0 and "**Incomplete run:**" in report and "stopped before its end" in report,
          text + report[:1500])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--build", required=True)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="tessera-bench-test.")
    runner = Runner(args.root, args.build, work)
    try:
        check_whole_run(runner, "profiled", ["--skip-growth", "--reps", "2", "--duration", "1", "--cold-runs", "2",
                                             "--callgrind-runs", "2", "--oauth-runs", "3"],
                        [("cost growth", False, grown, "--skip-growth"), ("cold start", True, cold, None),
                         ("profiles", True, profiled, None), ("OAuth", True, oauthed, None)])
        check_whole_run(runner, "growth", ["--sizes", "100,300", "--skip-cold", "--no-profile", "--connections", "5",
                                           "--pool", "20", "--login-duration", "2", "--sdk-requests", "50",
                                           "--sdk-rounds", "3", "--storm-rounds", "1", "--skip-oauth"],
                        [("cost growth", True, grown, None), ("cold start", False, cold, "--skip-cold"),
                         ("profiles", False, profiled, "--no-profile"), ("OAuth", False, oauthed, "--skip-oauth")])
        check_oauth_only_run(runner)
        check_scaleout_run(runner)
        check_dpop_run(runner)
        check_growth_only_run(runner)
        check_stopped_run(runner)
        code, text = runner.render(os.path.join(work, "missing.json"), os.path.join(work, "missing.md"))
        check("--report-only of a missing file fails", code != 0 and not os.path.exists(os.path.join(work, "missing.md")),
              text)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

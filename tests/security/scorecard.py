#!/usr/bin/python3
"""Runs the threat-model scorecard and prints it: row, verdict, test.

    scorecard.py --rows scorecard.tsv --targets scorecard-targets.tsv [--out FILE.md]
                 [--only SUBSTRING]

scorecard.tsv has one row per threat: GROUP <TAB> THREAT <TAB> TESTS, where
TESTS is "target function[:data tag]" items separated by " ; ". Each target
(a QTest executable) runs once with all the functions its rows select, and
writes Qt's XML log; a row passes only if every test it names ran and passed
(a skip is not a pass). Messages a test logs that start with "scorecard:" are
the row's measured detail (revocation latency, counts). Exit status 1 when a
row does not pass, so CI fails loudly when a protection is removed.
"""
import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

FAILING = {"fail", "xpass", "bpass"}


def read_rows(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                sys.exit(f"{path}:{number}: expected GROUP<TAB>THREAT<TAB>TESTS")
            group, threat, tests = parts
            selections = []
            for item in tests.split(" ; "):
                target, _, selection = item.strip().partition(" ")
                function, _, tag = selection.partition(":")
                if not target or not function:
                    sys.exit(f"{path}:{number}: bad test item {item!r}")
                selections.append((target, function, tag))
            rows.append({"group": group, "threat": threat, "tests": selections})
    return rows


def read_targets(path):
    targets = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            name, _, file = line.rstrip("\n").partition("\t")
            if name:
                targets[name] = file
    return targets


def text_of(element, child):
    node = element.find(child)
    return (node.text or "").strip() if node is not None else ""


def run_target(name, executable, selections, workdir):
    """Runs one QTest executable on its selected functions; returns
    {(function, tag or ""): {"status": ..., "details": [...]}} plus a failure note."""
    xml_path = os.path.join(workdir, name + ".xml")
    argv = [executable]
    for function, tag in sorted(selections):
        argv.append(f"{function}:{tag}" if tag else function)
    argv += ["-o", f"{xml_path},xml", "-o", "-,txt"]
    print(f"== {name}: {' '.join(repr(a) if ' ' in a else a for a in argv[1:-4])}", flush=True)
    started = time.monotonic()
    process = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             errors="replace")
    elapsed = time.monotonic() - started
    sys.stdout.write(process.stdout)
    results = collections.defaultdict(lambda: {"incidents": [], "details": []})
    note = ""
    try:
        root = ET.parse(xml_path).getroot()
    except (OSError, ET.ParseError) as error:
        return {}, f"{name} exited {process.returncode} without a complete log ({error})", elapsed
    for function in root.iter("TestFunction"):
        fname = function.get("name")
        for child in function:
            tag = text_of(child, "DataTag")
            # A data row counts for "function:tag" and for the whole function.
            keys = [(fname, tag), (fname, "")] if tag else [(fname, "")]
            if child.tag == "Incident":
                for key in keys:
                    results[key]["incidents"].append(child.get("type"))
            elif child.tag == "Message":
                kind = child.get("type")
                description = text_of(child, "Description")
                if kind == "skip":
                    for key in keys:
                        results[key]["incidents"].append("skip")
                elif description.startswith("scorecard:"):
                    detail = description[len("scorecard:"):].strip()
                    results[(fname, tag)]["details"].append(detail)
                    if tag:
                        results[(fname, "")]["details"].append(f"{tag}: {detail}")
    # QTest exits with the number of failed functions; a signal is a crash.
    if process.returncode < 0 or process.returncode >= 128:
        note = f"{name} crashed (status {process.returncode})"
    elif process.returncode != 0:
        note = f"{name} exited {process.returncode}"
    return results, note, elapsed


def verdict_of(result):
    if not result or not result["incidents"]:
        return "NOT RUN"
    incidents = result["incidents"]
    if any(kind in FAILING for kind in incidents):
        return "FAIL"
    if any(kind == "skip" for kind in incidents):
        return "SKIP"
    return "PASS" if "pass" in incidents else "NOT RUN"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", required=True)
    parser.add_argument("--targets", required=True)
    parser.add_argument("--out")
    parser.add_argument("--only", help="run only rows whose threat contains this text")
    args = parser.parse_args()

    rows = read_rows(args.rows)
    if args.only:
        rows = [row for row in rows if args.only.lower() in row["threat"].lower()]
    targets = read_targets(args.targets)
    wanted = collections.defaultdict(set)
    for row in rows:
        for target, function, tag in row["tests"]:
            wanted[target].add((function, tag))

    outcomes, notes, times = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="tessera-scorecard-") as workdir:
        for target in sorted(wanted):
            if target not in targets or not os.path.exists(targets[target]):
                notes[target] = f"{target} is not built"
                continue
            outcomes[target], notes[target], times[target] = run_target(
                target, targets[target], wanted[target], workdir)

    lines = ["| # | group | threat | verdict | test | measured |", "|---|---|---|---|---|---|"]
    plain = []
    failed = 0
    for number, row in enumerate(rows, 1):
        verdicts, details, names = [], [], []
        for target, function, tag in row["tests"]:
            result = outcomes.get(target, {}).get((function, tag))
            verdict = verdict_of(result)
            if verdict != "PASS" and notes.get(target):
                verdict += f" ({notes[target]})"
            verdicts.append(verdict)
            details += result["details"] if result else []
            names.append(f"{target}::{function}" + (f' "{tag}"' if tag else ""))
        overall = "PASS" if all(v == "PASS" for v in verdicts) else next(
            v for v in verdicts if v != "PASS")
        failed += overall != "PASS"
        lines.append("| {} | {} | {} | {} | {} | {} |".format(
            number, row["group"], row["threat"], overall, "<br>".join(f"`{n}`" for n in names),
            "; ".join(details)))
        plain.append((number, row["threat"], overall, " + ".join(names), "; ".join(details)))

    print("\nThreat-model scorecard")
    for number, threat, overall, names, details in plain:
        print(f"{number:>3}. [{overall}] {threat}")
        print(f"       test: {names}")
        if details:
            print(f"       measured: {details}")
    print(f"\n{len(rows) - failed}/{len(rows)} rows pass"
          + "".join(f"; {t} {s:.0f} s" for t, s in sorted(times.items())))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        print(f"scorecard table written to {args.out}")
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""The HAProxy example in docs/SERVER.md is the configuration the soak and the benchmark run.

    check_documented_config.py TESSERA_SOAK SERVER_MD

Compares the fenced block after the line `<!-- haproxy-example -->` in SERVER_MD with
`TESSERA_SOAK --print-haproxy-config` (the soak's generator, for ports 8000/8001/8002),
and bench/scaleout.py's template filled in with the same ports, so the documented example
is the one soak.server.haproxy and `bench/run.sh --scaleout` run, not a copy that drifts.
"""
import importlib.util
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def bench_config():
    spec = importlib.util.spec_from_file_location("scaleout", os.path.join(ROOT, "bench", "scaleout.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    servers = "".join(f"    server tessera{i} 127.0.0.1:{8000 + i}\n" for i in (1, 2))
    return (module.HAPROXY_CONFIG.format(socket="/run/haproxy/tessera.sock", port=8000, servers=servers)
            + "# instances: tessera-server --listen 127.0.0.1:8001 --db URI --issuer URL "
            + " ".join(module.INSTANCE_ARGS) + "\n")


def documented(path):
    lines = open(path, encoding="utf-8").read().splitlines()
    try:
        start = lines.index("<!-- haproxy-example -->")
    except ValueError:
        sys.exit(f"FAIL: no '<!-- haproxy-example -->' marker in {path}")
    fence = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
    end = next(i for i in range(fence + 1, len(lines)) if lines[i].startswith("```"))
    return "\n".join(lines[fence + 1:end]) + "\n"


def main(soak, server_md):
    generated = subprocess.run([soak, "--print-haproxy-config"], capture_output=True, text=True,
                               check=True, timeout=60).stdout
    expected = documented(server_md)
    if generated != expected:
        import difflib
        print("FAIL: docs/SERVER.md's HAProxy example differs from the soak's configuration:")
        sys.stdout.writelines(difflib.unified_diff(expected.splitlines(True), generated.splitlines(True),
                                                   "docs/SERVER.md", "tessera-soak --print-haproxy-config"))
        return 1
    if bench_config() != expected:
        import difflib
        print("FAIL: bench/scaleout.py's HAProxy configuration differs from docs/SERVER.md's example:")
        sys.stdout.writelines(difflib.unified_diff(expected.splitlines(True), bench_config().splitlines(True),
                                                   "docs/SERVER.md", "bench/scaleout.py"))
        return 1
    print("PASS: docs/SERVER.md's HAProxy example is the soak's and the benchmark's configuration")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))

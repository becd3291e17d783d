#!/usr/bin/env bash
# ThreadSanitizer survey (issue 5), not part of CI: builds tessera-server, the SDK and the
# concurrency tests with -fsanitize=thread into ${TESSERA_TSAN_BUILD_DIR:-build-tsan}, runs
# them (reports do not fail the tests: exitcode=0), runs tests/sanitizers/tsan_qt_baseline
# (race-free Qt code), and summarises the reports by where they point.
# Debian's Qt is not built with TSan, so TSan cannot see the synchronisation inside
# libQt6Core (atomics, futex-based QMutex/QWaitCondition, QFutureInterface): the baseline
# shows the false positives that alone produces. docs/SECURITY.md has the last result.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TESSERA_TSAN_BUILD_DIR:-$root/build-tsan}
reports=$(mktemp -d /tmp/tessera-tsan.XXXXXX)
flags="-fsanitize=thread -fno-omit-frame-pointer"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTESSERA_BUILD_TESTS=ON \
  -DTESSERA_BUILD_DEMO=OFF -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
  -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread >/dev/null
cmake --build "$build" -j"$(nproc)" --target tessera-server tessera-sdk-probe tst_server_login \
  tst_server_durability tst_session_requests tst_session_rotation tst_qml_network tsan_qt_baseline
# die_after_fork=0: the tests start servers and probes with QProcess from a threaded process.
export TSAN_OPTIONS="halt_on_error=0:exitcode=0:die_after_fork=0:log_path=$reports/tests"
"$root/scripts/with-keyring.sh" ctest --test-dir "$build" --output-on-failure \
  -R '^(integration\.server\.(login|durability)|session\.(requests|rotation)|qml\.network)$'
TSAN_OPTIONS="halt_on_error=0:exitcode=0:log_path=$reports/baseline" \
  "$build/tests/tsan_qt_baseline"
/usr/bin/python3 - "$reports" "$root" <<'PY'
import collections, glob, os, re, sys
reports, root = sys.argv[1], sys.argv[2]
def survey(prefix):
    total, top_ours, any_ours, kinds, places = 0, 0, 0, collections.Counter(), collections.Counter()
    for path in glob.glob(os.path.join(reports, prefix + ".*")):
        text = open(path, errors="replace").read()
        for block in re.findall(r"WARNING: ThreadSanitizer:.*?(?:SUMMARY: ThreadSanitizer: [^\n]*|\Z)",
                                text, re.S):
            total += 1
            kinds[re.match(r"WARNING: ThreadSanitizer: ([a-z -]+)", block).group(1).strip()] += 1
            tops = re.findall(r"^\s+#0 .*? (\S+):\d+", block, re.M)
            frames = re.findall(r"^\s+#\d+ .*? (\S+):\d+", block, re.M)
            top_ours += any(p.startswith(root) for p in tops)
            any_ours += any(p.startswith(root) for p in frames)
            summary = re.search(r"SUMMARY: ThreadSanitizer: .* in (.*)", block)
            places[(summary.group(1) if summary else "?")[:80]] += 1
    print(f"{prefix}: {total} reports ({dict(kinds)}); top frame in Tessera's sources: {top_ours}; "
          f"any frame in Tessera's sources: {any_ours}")
    for place, count in places.most_common(6):
        print(f"    {count:4d}  {place}")
survey("tests")
survey("baseline")
PY
rm -rf "$reports"

#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for
# SECONDS (default 60) from its seed corpus in tests/fuzz/corpus/.
#   scripts/fuzz.sh [SECONDS]          smoke run (CI uses 60)
#   scripts/fuzz.sh 3600               a long run
# Corpus growth goes to $build/corpus (the seeds in the repository stay as they
# are); a crash leaves its reproducer in $build/artifacts and fails the script.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TESSERA_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${1:-60}
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTESSERA_BUILD_FUZZERS=ON -DTESSERA_BUILD_TESTS=OFF -DTESSERA_BUILD_DEMO=OFF \
  -DTESSERA_BUILD_SERVER=OFF >/dev/null
targets=(fuzz_jose fuzz_token_response fuzz_server_request fuzz_server_dpop fuzz_http_framing)
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"
mkdir -p "$build/artifacts"
# One libFuzzer process per target, as many at once as there are cores (each is single-threaded).
fuzz_one() {
  local target=$1
  local seeds="$root/tests/fuzz/corpus/${target#fuzz_}"
  local corpus="$build/corpus/${target#fuzz_}"
  mkdir -p "$corpus"
  "$build/tests/fuzz/$target" "$corpus" "$seeds" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$build/artifacts/$target-" \
    -print_final_stats=1 >"$build/$target.log" 2>&1
}
parallel=$(nproc)
running=0
for target in "${targets[@]}"; do
  if ((running >= parallel)); then
    wait -n || true
    running=$((running - 1))
  fi
  rm -f "$build/$target.ok"
  (fuzz_one "$target" && touch "$build/$target.ok") &
  running=$((running + 1))
done
wait
status=0
for target in "${targets[@]}"; do
  log="$build/$target.log"
  if [[ -e "$build/$target.ok" ]]; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "$target: ok, $runs executions in ${seconds}s, corpus $(ls "$build/corpus/${target#fuzz_}" | wc -l) inputs"
  else
    echo "$target: FAILED (see $log and $build/artifacts)"
    tail -40 "$log"
    status=1
  fi
done
exit $status

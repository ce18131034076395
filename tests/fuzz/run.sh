#!/usr/bin/env bash
# Runs every libFuzzer harness of a fuzz build for a bounded time each:
#   tests/fuzz/run.sh BUILD_DIR SECONDS_PER_HARNESS
# Each starts from the checked-in seed corpus and regressions (read only:
# what it discovers goes to BUILD_DIR/fuzz-corpus/<name>). A crash stops the
# run; its input is left in BUILD_DIR/fuzz-findings/<name>/ and belongs in
# tests/fuzz/regressions/<name>/ once fixed (docs/FUZZING.md).
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR SECONDS}
seconds=${2:?usage: run.sh BUILD_DIR SECONDS}
here=$(cd "$(dirname "$0")" && pwd)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
for name in validate signature query basic_auth client_response request; do
  work="$build/fuzz-corpus/$name"
  findings="$build/fuzz-findings/$name"
  mkdir -p "$work" "$findings"
  echo "== fuzz_$name for ${seconds}s"
  if ! "$build/tests/fuzz/fuzz_$name" -max_total_time="$seconds" -timeout=10 \
       -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
       -artifact_prefix="$findings/" "$work" "$here/corpus/$name" \
       "$here/regressions/$name" 2>"$build/fuzz-$name.log"; then
    tail -50 "$build/fuzz-$name.log"
    echo "fuzz_$name FAILED: input in $findings" >&2
    status=1
  else
    grep -E "^stat::number_of_executed_units|^Done" "$build/fuzz-$name.log" | tr '\n' ' '
    echo
  fi
done
exit $status

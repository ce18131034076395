#!/usr/bin/env bash
# Static analysis, as CI runs it (`make lint`): clang-tidy with the checked-in
# .clang-tidy over every C file of src/ and tests/fuzz/, then cppcheck
# (warnings and portability) over the same. A remaining finding is fixed or
# suppressed in place with a reason (// NOLINT(check): why, or
# // cppcheck-suppress id). Usage: scripts/lint.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-lint}
jobs=$(nproc)
[ "$jobs" -gt 2 ] && jobs=2

cmake -S . -B "$build" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DBUILD_TESTING=ON >/dev/null
# The dashboard sources are generated at build time; the database of
# compile commands is all clang-tidy needs from the build otherwise.
files=$(find src tests/fuzz -name '*.c' | sort)

echo "== clang-tidy ($(echo "$files" | wc -l) files)"
echo "$files" | xargs -P "$jobs" -n 4 clang-tidy -p "$build" --quiet 2>/dev/null

echo "== cppcheck"
cppcheck --enable=warning,portability --std=c11 --inline-suppr --quiet --error-exitcode=1 \
  -j "$jobs" -I src -I include --suppress=missingIncludeSystem src tests/fuzz
echo "lint: clean"

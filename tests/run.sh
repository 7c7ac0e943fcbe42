#!/usr/bin/env bash
# Runs every test: all tiers on build/, then the unit, integration and e2e tiers again on the
# AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan/, made by deploy/install.sh),
# where any sanitizer report fails the test. Extra arguments go to both ctest runs (e.g. -LE slow).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0
ctest --test-dir build --output-on-failure -j2 "$@" || status=$?
if [ -d build-asan ]; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp" \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j2 -L 'unit|integration|e2e' "$@" || status=$?
else
  echo "tests/run.sh: build-asan/ is absent (deploy/install.sh makes it): sanitizer run skipped" >&2
fi
exit "$status"

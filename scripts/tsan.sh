#!/usr/bin/env bash
# ThreadSanitizer run of the unit tests whose code runs on several threads: the
# deferred record checks (first checks outside their lock), the analysis store's
# writer thread, the parallel analysis, the journal's group commit, the file
# system's operations. A data race there seldom shows as a wrong result in a
# normal build; TSan reports it whenever both accesses happen in a run, and
# fails the test. Debian's gcc (its libtsan2 comes with g++, which setup.sh
# installs).
#
#   bash scripts/tsan.sh [TEST...]      # default: the tests below
#
# Environment: TPKG_TSAN_BUILD_DIR (default build-tsan).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${TPKG_TSAN_BUILD_DIR:-build-tsan}
ALL_TESTS=(zip_deferred_checks_test analysis_store_test parallel_analysis_test
           background_thread_test file_io_test save_log_test journal_test journal_commit_test
           fs_journal_ops_test write_behind_sink_test background_fsync_test write_back_pending_test)
TESTS=("${@:-${ALL_TESTS[@]}}")
# -O1 and line tables (-g1): what TSan's reports need (every frame's file and line; TSan's own
# advice is -O1 or more), for less CPU than -O2 -g, most of it compiling: this whole script
# 5.0 CPU minutes against 7.8 (five of the largest files: 13.9 against 22.3 s).
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" -Db_sanitize=thread -Dbuildtype=plain -Db_ndebug=false \
    -Dcpp_args="['-O1', '-g1']" -Dpython=/usr/bin/python3 >"$BUILD.setup.log" 2>&1 ||
    { tail -n 20 "$BUILD.setup.log" >&2; echo "tsan.sh: meson setup failed" >&2; exit 1; }
fi
# halt_on_error: the first race fails its test with TSan's report (second_deadlock_stack: both
# stacks of a lock-order inversion).
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
# TSan makes code 5-15 times slower, and in CI this runs beside another stack's build.
meson test -C "$BUILD" -q --print-errorlogs --timeout-multiplier 10 "${TESTS[@]}"

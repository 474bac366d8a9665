#!/usr/bin/env bash
# Build the libFuzzer targets of tests/fuzz (clang, AddressSanitizer +
# UndefinedBehaviorSanitizer) and run each for SECONDS (default 30):
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Prints, per target, the executions, the coverage reached (libFuzzer's
# `cov` = edges, `ft` = features) and the findings (crash, leak, timeout,
# out-of-memory inputs saved under <build>/fuzz-findings/<target>/), and
# exits 1 when any target found anything. The corpus each target grows is
# kept in <build>/fuzz-corpus/<target>/ and reused by the next run; seeds are
# made afresh from the real torch files of the test corpus.
#
# Environment: TPKG_FUZZ_BUILD_DIR (default build-fuzz), TPKG_BUILD_DIR (the
# normal build whose tests/corpus holds real torch archives; default build;
# made here by tests/corpus/make_corpus.py if absent).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-30}
[[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a number, not '$1'" >&2; exit 2; }
shift || true
BUILD=${TPKG_FUZZ_BUILD_DIR:-build-fuzz}
ALL_TARGETS=(zip_reader_fuzz pickle_scan_fuzz import_scan_fuzz metadata_fuzz
             write_round_trip_fuzz journal_recovery_fuzz fs_ops_fuzz)
TARGETS=("${@:-${ALL_TARGETS[@]}}")
for t in "${TARGETS[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "fuzz.sh: unknown target '$t' (known: ${ALL_TARGETS[*]})" >&2; exit 2; }
done

# clang and its runtimes (libFuzzer, the sanitizers) from Debian: the
# runtime package carries clang's major version in its name.
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
apt_install() {
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
    { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}
command -v clang++ >/dev/null || apt_install clang
CLANG_MAJOR=$(clang++ -dumpversion | cut -d. -f1)
dpkg -s "libclang-rt-$CLANG_MAJOR-dev" >/dev/null 2>&1 || apt_install "libclang-rt-$CLANG_MAJOR-dev"

# Line tables only (clang takes the last -g option): enough for symbolized stack traces of a
# finding, and the build (about half of this script's time in CI) needs 17% less CPU than with
# full debug information (5.9 against 7.1 CPU minutes, measured on the 2-core machine).
if [ ! -f "$BUILD/build.ninja" ]; then
  CXX=${CXX_FUZZ:-clang++} meson setup "$BUILD" -Dfuzz=enabled -Dtests=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized \
    -Dcpp_args=-gline-tables-only -Dpython=/usr/bin/python3 >"$BUILD.setup.log" 2>&1 ||
    { tail -n 20 "$BUILD.setup.log" >&2; echo "fuzz.sh: meson setup failed" >&2; exit 1; }
  rm -f "$BUILD.setup.log"
fi
ninja -C "$BUILD" $(printf 'tests/fuzz/%s ' "${TARGETS[@]}") >"$BUILD/fuzz-build.log" 2>&1 ||
  { tail -n 30 "$BUILD/fuzz-build.log" >&2; echo "fuzz.sh: build failed (log: $BUILD/fuzz-build.log)" >&2; exit 1; }

# Seeds from real torch files.
CORPUS=${TPKG_BUILD_DIR:-build}/tests/corpus
if [ ! -f "$CORPUS/MANIFEST.json" ]; then
  CORPUS=$BUILD/torch-corpus
  [ -f "$CORPUS/MANIFEST.json" ] || /usr/bin/python3 tests/corpus/make_corpus.py --out "$CORPUS" --zip "$(command -v zip)" >/dev/null
fi
rm -rf "$BUILD/fuzz-seeds"
/usr/bin/python3 tests/fuzz/make_seeds.py --out "$BUILD/fuzz-seeds" "$CORPUS" tests/data >/dev/null

declare -A DICT=([zip_reader_fuzz]=zip [metadata_fuzz]=zip [write_round_trip_fuzz]=zip
                 [pickle_scan_fuzz]=pickle [import_scan_fuzz]=python)
declare -A MAX_LEN=([import_scan_fuzz]=65536 [zip_reader_fuzz]=65536 [metadata_fuzz]=65536
                    [write_round_trip_fuzz]=65536 [pickle_scan_fuzz]=65536
                    [journal_recovery_fuzz]=4096 [fs_ops_fuzz]=1024)
status=0
printf '%-24s %12s %8s %8s %9s\n' target executions cov ft findings
for t in "${TARGETS[@]}"; do
  corpus="$BUILD/fuzz-corpus/$t" findings="$BUILD/fuzz-findings/$t"
  rm -rf "$findings"  # the last run reported its own
  mkdir -p "$corpus" "$findings" "$BUILD/fuzz-seeds/$t"
  args=(-max_total_time="$SECONDS_PER_TARGET" -timeout=20 -rss_limit_mb=2048
        -max_len="${MAX_LEN[$t]}" -print_final_stats=1 -artifact_prefix="$findings/")
  [ -z "${DICT[$t]:-}" ] || args+=(-dict="tests/fuzz/${DICT[$t]}.dict")
  log="$BUILD/fuzz-$t.log"
  # libFuzzer exits non-zero on a finding; the artifacts below tell which.
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$BUILD/tests/fuzz/$t" "${args[@]}" "$corpus" "$BUILD/fuzz-seeds/$t" >"$log" 2>&1 || true
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$({ grep -oE 'cov: [0-9]+' "$log" || true; } | tail -n 1 | cut -d' ' -f2)
  ft=$({ grep -oE 'ft: [0-9]+' "$log" || true; } | tail -n 1 | cut -d' ' -f2)
  found=$(find "$findings" -type f | wc -l)
  printf '%-24s %12s %8s %8s %9s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$found"
  if [ "$found" -gt 0 ] || [ -z "$execs" ]; then
    status=1
    echo "  $t: see $log; inputs in $findings/" >&2
    grep -m 3 -E 'ERROR|runtime error|fuzz target:' "$log" | sed 's/^/  /' >&2 || true
  fi
done
exit "$status"

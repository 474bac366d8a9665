#!/usr/bin/env bash
# Benchmark: `tpkg cat --json` of a large record (text and binary) against
# `tpkg cat` of the same record in the same run (the bytes as they are: the
# baseline), and against another tpkg build when OTHER_TPKG is set: wall
# time and peak RSS of each (GNU time). Prints figures; asserts nothing.
#
#   scripts/bench_cat_json.sh                               # 200 MiB records, 3 runs
#   OTHER_TPKG=/path/to/another/build/src/tools/tpkg SIZE_MIB=64 RUNS=5 scripts/bench_cat_json.sh
#
# The records: zeros (valid UTF-8, each NUL escaped as \u0000: the JSON text
# is six times the record) and random bytes (base64). Medians of RUNS, page
# cache warm after a first untimed read.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${SIZE_MIB:-200}
RUNS=${RUNS:-3}
BUILD_DIR=$(realpath "${TPKG_BUILD_DIR:-build}")
TPKG="$BUILD_DIR/src/tools/tpkg"
[ -x "$TPKG" ] || { echo "build first ($TPKG)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time)" >&2; exit 1; }
if [ -n "${OTHER_TPKG:-}" ]; then
  [ -x "$OTHER_TPKG" ] || { echo "OTHER_TPKG=$OTHER_TPKG is not executable" >&2; exit 1; }
fi

work=$(mktemp -d -p "${BENCH_DIR:-/tmp}" tpkg-bench-cat-json-XXXXXX)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work/big.pt" "$SIZE_MIB" <<'PY'
import os, sys, zipfile
size = int(sys.argv[2]) << 20
with zipfile.ZipFile(sys.argv[1], "w") as z:  # stored, as torch stores records
    z.writestr("big/zeros.bin", bytes(size))
    with z.open("big/random.bin", "w", force_zip64=True) as f:
        for _ in range(size >> 20):
            f.write(os.urandom(1 << 20))
PY

# "seconds peak_kib" of one run, its output read through a pipe (tpkg may
# skip writing to /dev/null itself); the peak is the largest process's.
measure() {
  /usr/bin/time -f "%e %M" -o "$work/time" sh -c '"$@" | cat >/dev/null' sh "$@"
  cat "$work/time"
}
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

echo "== tpkg cat of ${SIZE_MIB} MiB records; medians of $RUNS"
for record in zeros.bin random.bin; do
  "$TPKG" cat "$work/big.pt" "$record" >/dev/null  # page cache warm
  base_s=""
  for label in cat json other_json; do
    case $label in
      cat) cmd=("$TPKG" cat "$work/big.pt" "$record") ;;
      json) cmd=("$TPKG" cat --json "$work/big.pt" "$record") ;;
      other_json) [ -n "${OTHER_TPKG:-}" ] || continue
                  cmd=("$OTHER_TPKG" cat --json "$work/big.pt" "$record") ;;
    esac
    : >"$work/runs"
    for _ in $(seq "$RUNS"); do measure "${cmd[@]}" >>"$work/runs"; done
    s=$(cut -d' ' -f1 "$work/runs" | median)
    kib=$(cut -d' ' -f2 "$work/runs" | median)
    [ -n "$base_s" ] || base_s=$s
    ratio=$(awk -v a="$s" -v b="$base_s" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
    printf '%-11s %-11s %7.2f s (x%s of cat)  peak RSS %8.1f MiB   runs: %s\n' "$record" "$label" \
      "$s" "$ratio" "$(awk -v k="$kib" 'BEGIN {print k / 1024}')" \
      "$(cut -d' ' -f1 "$work/runs" | tr '\n' ' ')"
  done
done

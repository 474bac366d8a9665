#!/usr/bin/env bash
# Benchmark: write-back of an archive after a one-line edit of a source file,
# against `cp` of the same archive (and `cp` + fsync, since a write-back
# fsyncs its result). Prints figures and ratios measured in this run; it is
# not a test and asserts nothing.
#
#   scripts/bench_write_back.sh            # 2 GiB package
#   SIZE_MIB=256 scripts/bench_write_back.sh
#
# The package is pkg_model_numpy.pt from the corpus plus one storage record of
# SIZE_MIB MiB (a repeated random MiB, so nothing is sparse or all zeros). Runs
# are warm (the archive is in the page cache for every contender); each figure
# is the median of RUNS runs.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${SIZE_MIB:-2048}
RUNS=${RUNS:-3}
BUILD_DIR=$(realpath "${TPKG_BUILD_DIR:-build}")
EDIT="$BUILD_DIR/tests/tools/edit_archive"
CORPUS=$(realpath ../shared/corpus)
[ -x "$EDIT" ] || { echo "build first: $EDIT is missing" >&2; exit 1; }

work=$(mktemp -d -p "${BENCH_DIR:-/tmp}" tpkg-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
archive="$work/model.pt"

/usr/bin/python3 - "$work/storage.bin" "$SIZE_MIB" <<'PY'
import os, sys
block = os.urandom(1 << 20)
with open(sys.argv[1], "wb") as f:
    for _ in range(int(sys.argv[2])):
        f.write(block)
PY
cp "$CORPUS/pkg_model_numpy.pt" "$archive"
"$EDIT" "$archive" put-file .data/99.storage "$work/storage.bin" >/dev/null
rm "$work/storage.bin"
sync -f "$archive"

seconds() { /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -1; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
warm() { cat "$archive" >/dev/null; }

cp_times=(); cp_sync_times=(); wb_times=(); wb_rss=()
for i in $(seq "$RUNS"); do
  warm; cp_times+=("$(seconds cp "$archive" "$work/copy.pt")"); rm -f "$work/copy.pt"
  warm; cp_sync_times+=("$(seconds sh -c "cp '$archive' '$work/copy.pt' && sync '$work/copy.pt'")"); rm -f "$work/copy.pt"
  warm
  out=$(/usr/bin/time -f "%e %M" "$EDIT" "$archive" append corpus_models/util.py "# edit $i
" 2>&1 >/dev/null | tail -1)
  wb_times+=("${out% *}"); wb_rss+=("${out#* }")
done

size=$(stat -c %s "$archive")
cp_s=$(printf '%s\n' "${cp_times[@]}" | median)
cp_sync_s=$(printf '%s\n' "${cp_sync_times[@]}" | median)
wb_s=$(printf '%s\n' "${wb_times[@]}" | median)
rss=$(printf '%s\n' "${wb_rss[@]}" | sort -n | tail -1)
echo "archive: $size bytes on $(stat -f -c %T "$work"), $RUNS runs, medians"
echo "cp:               ${cp_s} s"
echo "cp + fsync:       ${cp_sync_s} s"
echo "write-back:       ${wb_s} s (one-line edit; temp, fsync, rename, fsync dir)"
awk -v w="$wb_s" -v c="$cp_s" -v s="$cp_sync_s" \
  'BEGIN { printf "ratio vs cp:      %.2fx\nratio vs cp+fsync: %.2fx\n", (c > 0 ? w / c : 0), (s > 0 ? w / s : 0) }'
echo "write-back peak RSS: ${rss} KiB"

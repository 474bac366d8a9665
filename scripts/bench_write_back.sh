#!/usr/bin/env bash
# Benchmark: write-back of an archive after a one-line edit of a source file,
# against `cp` of the same archive (and `cp` + fsync, since a write-back
# fsyncs its result). Prints figures and ratios measured in this run; it is
# not a test and asserts nothing.
#
#   scripts/bench_write_back.sh                 # 2 GiB package, on $BENCH_DIR (/tmp)
#   SIZE_MIB=256 RUNS=5 scripts/bench_write_back.sh
#   REFLINK=1 scripts/bench_write_back.sh       # also on a loop-mounted XFS with
#                                               # reflinks (root, xfsprogs): the O(edit) figure
#
# The package is pkg_model_numpy.pt from the corpus whose first record,
# `.data/0.storage`, is replaced by SIZE_MIB MiB (a repeated random MiB: not
# sparse, not zeros). Storages come first in a torch package and sources
# after them, so a source edit leaves the storage at its offset. Runs are warm
# (the archive is in the page cache for every contender); figures are the
# medians of RUNS runs. "write-back" is the WriteBack() call; "whole process"
# adds opening the journal and freeing the replaced archive's blocks when its
# last descriptor closes (slow on ext4 mounted with `discard`), which `cp`
# never pays.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${SIZE_MIB:-2048}
RUNS=${RUNS:-3}
# shellcheck source=bench/storage_package.sh
. scripts/bench/storage_package.sh
bench_build_paths

work=$(mktemp -d -p "${BENCH_DIR:-/tmp}" tpkg-bench-XXXXXX)
xfs_mnt=""
cleanup() {
  if [ -n "$xfs_mnt" ]; then umount "$xfs_mnt" || umount -l "$xfs_mnt"; fi
  rm -rf "$work"
}
trap cleanup EXIT

seconds() { /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -1; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }


make_package() {  # DIR -> DIR/model.pt
  make_storage_package "$1" "$SIZE_MIB"
  rm "$1/storage.bin"
  sync -f "$1/model.pt"
}

bench_in() {  # DIR LABEL
  local dir=$1 archive=$1/model.pt
  make_package "$dir"
  local cp_t=() cps_t=() wb_t=() wb_call=() wb_rss=()
  for i in $(seq "$RUNS"); do
    cat "$archive" >/dev/null; cp_t+=("$(seconds cp "$archive" "$dir/copy.pt")"); rm -f "$dir/copy.pt"
    cat "$archive" >/dev/null
    cps_t+=("$(seconds sh -c "cp '$archive' '$dir/copy.pt' && sync '$dir/copy.pt'")"); rm -f "$dir/copy.pt"
    cat "$archive" >/dev/null
    local out
    out=$(/usr/bin/time -f "%e %M" "$EDIT" "$archive" --time append corpus_models/util.py "# edit $i
" 2>&1 >/dev/null)
    wb_call+=("$(echo "$out" | awk '/^write-back:/ {print $2}')")
    out=$(echo "$out" | tail -1)
    wb_t+=("${out% *}"); wb_rss+=("${out#* }")
  done
  local c s w p
  c=$(printf '%s\n' "${cp_t[@]}" | median)
  s=$(printf '%s\n' "${cps_t[@]}" | median)
  w=$(printf '%s\n' "${wb_call[@]}" | median)
  p=$(printf '%s\n' "${wb_t[@]}" | median)
  echo "== $2: $(stat -c %s "$archive") bytes on $(stat -f -c %T "$dir"), medians of $RUNS runs"
  echo "cp:                 $c s"
  echo "cp + fsync:         $s s"
  printf 'write-back:         %.2f s (WriteBack(): temp archive, fsync, rename, fsync dir)\n' "$w"
  echo "whole process:      $p s (journal, write-back, and freeing the replaced archive at exit)"
  awk -v w="$w" -v c="$c" -v s="$s" 'BEGIN {
    printf "ratio vs cp:        %.2fx\nratio vs cp+fsync:  %.2fx\n", (c > 0 ? w / c : 0), (s > 0 ? w / s : 0) }'
  echo "write-back peak RSS: $(printf '%s\n' "${wb_rss[@]}" | sort -n | tail -1) KiB"
}

mkdir "$work/plain"
bench_in "$work/plain" "this filesystem"

if [ "${REFLINK:-0}" = 1 ]; then
  if ! command -v mkfs.xfs >/dev/null || [ "$(id -u)" != 0 ]; then
    echo "== reflink: skipped (needs root and mkfs.xfs from xfsprogs)"
    exit 0
  fi
  image="$work/xfs.img"
  truncate -s "$((SIZE_MIB * 3 + 1024))M" "$image"
  mkfs.xfs -q -m reflink=1 "$image"
  xfs_mnt="$work/xfs"
  mkdir "$xfs_mnt"
  mount -o loop "$image" "$xfs_mnt"
  bench_in "$xfs_mnt" "XFS with reflinks (loop device)"
fi

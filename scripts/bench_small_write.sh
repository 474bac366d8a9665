#!/usr/bin/env bash
# Benchmark: a 4-byte write into a large stored record through a real
# read/write mount: its time and the bytes it puts into the journal, against
# a native write into the same bytes on this file system and, in the same
# run, against another tpkgfs build (e.g. one from before records were
# patched in place, tpkg/record_patch.h). Prints figures; asserts nothing.
#
#   scripts/bench_small_write.sh                                   # 512 MiB storage, 3 runs
#   OTHER_TPKGFS=/usr/local/bin/tpkgfs scripts/bench_small_write.sh
#   SIZE_MIB=64 RUNS=5 BENCH_DIR=/var/tmp scripts/bench_small_write.sh
#
# Each run: mount, then in one process open(O_RDWR) the storage, pwrite 4
# bytes in its middle, close (timed: "write"), then open and fsync it
# (timed: "fsync", the write made durable); the journal's data files are
# measured (allocated blocks) before the unmount, which saves. The native
# baseline does the same to the storage's bytes extracted into a plain
# file. Warm page cache throughout; medians of RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${SIZE_MIB:-512}
RUNS=${RUNS:-3}
# shellcheck source=bench/storage_package.sh
. scripts/bench/storage_package.sh
bench_build_paths
if [ -n "${OTHER_TPKGFS:-}" ]; then
  [ -x "$OTHER_TPKGFS" ] || { echo "OTHER_TPKGFS=$OTHER_TPKGFS is not executable" >&2; exit 1; }
fi

work=$(mktemp -d -p "${BENCH_DIR:-/tmp}" tpkg-bench-small-write-XXXXXX)
cleanup() {
  for m in "$work"/mnt*; do
    [ -e "$m" ] || continue
    grep -q " $m " /proc/mounts && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m"; }
  done
  rm -rf "$work"
}
trap cleanup EXIT

wait_mounted() { for _ in $(seq 500); do grep -q " $1 " /proc/mounts && return 0; sleep 0.01; done; return 1; }

make_storage_package "$work" "$SIZE_MIB"
mv "$work/storage.bin" "$work/native.storage"
sync
offset=$(( SIZE_MIB * 1024 * 1024 / 2 + 12 ))

# One timed write: prints "<write s> <fsync s>".
timed_write() {
  /usr/bin/python3 - "$1" "$offset" <<'PY'
import os, sys, time
path, offset = sys.argv[1], int(sys.argv[2])
t0 = time.perf_counter()
fd = os.open(path, os.O_RDWR)
os.pwrite(fd, b"\x01\x02\x03\x04", offset)
os.close(fd)
t1 = time.perf_counter()
fd = os.open(path, os.O_RDWR)
os.fsync(fd)
os.close(fd)
t2 = time.perf_counter()
print(f"{t1 - t0:.6f} {t2 - t1:.6f}")
PY
}

# Allocated bytes of the journal's data files.
journal_bytes() {
  local data="$work/.model.pt.tpkgfs/data"
  [ -d "$data" ] || { echo 0; return; }
  find "$data" -type f -printf '%b\n' | awk '{ s += $1 * 512 } END { printf "%d\n", s }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Runs the mount RUNS times with daemon $1; appends "<write> <fsync> <journal bytes>" per run to $2.
measure_mount() {
  local daemon=$1 out=$2 pid
  : >"$out"
  for run in $(seq "$RUNS"); do
    mkdir -p "$work/mnt"
    cat "$work/model.pt" >/dev/null
    "$daemon" -f "$work/model.pt" "$work/mnt" 2>>"$work/daemon.err" & pid=$!
    wait_mounted "$work/mnt" || { echo "mount failed:"; cat "$work/daemon.err"; exit 1; }
    read -r w f < <(timed_write "$work/mnt/.data/0.storage")
    echo "$w $f $(journal_bytes)" >>"$out"
    fusermount3 -u "$work/mnt"
    wait "$pid"
  done
}

: >"$work/native"
for run in $(seq "$RUNS"); do
  cat "$work/native.storage" >/dev/null
  timed_write "$work/native.storage" >>"$work/native"
done
measure_mount "$TPKGFS" "$work/ours"
[ -n "${OTHER_TPKGFS:-}" ] && measure_mount "$OTHER_TPKGFS" "$work/other"

col() { awk -v c="$1" '{ print $c }' "$2" | median; }
native_w=$(col 1 "$work/native"); native_f=$(col 2 "$work/native")
echo "== a 4-byte write into a $SIZE_MIB MiB stored record (median of $RUNS; $(stat -f -c %T "$work"))"
printf "%-28s %12s %12s %16s\n" "" "write (s)" "fsync (s)" "journal bytes"
printf "%-28s %12s %12s %16s\n" "native file" "$native_w" "$native_f" "-"
report() {
  local name=$1 file=$2
  local w f j
  w=$(col 1 "$file"); f=$(col 2 "$file"); j=$(col 3 "$file")
  printf "%-28s %12s %12s %16s\n" "$name" "$w" "$f" "$j"
  awk -v n="$name" -v w="$w" -v f="$f" -v nw="$native_w" -v nf="$native_f" 'BEGIN {
    printf "%-28s %11.1fx %11.1fx\n", "  ratio to native", w / nw, f / nf }'
}
report "tpkgfs (this build)" "$work/ours"
[ -n "${OTHER_TPKGFS:-}" ] && report "tpkgfs ($OTHER_TPKGFS)" "$work/other"
exit 0

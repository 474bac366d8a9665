#!/usr/bin/env bash
# Benchmark: the save of a one-line source edit through a real read/write
# mount (sed -i, then time `fusermount3 -u` until the daemon has exited, and
# until the new archive was renamed into place), tpkgfs vs fuse-zip, with
# `cp` and `cp` + fsync of the same archive measured in the same run; daemon
# peak RSS. Packages made by real torch.package
# (scripts/bench/make_packages.py): many.pt (5,275 records) and big.pt (2 GiB).
# Prints medians and ratios; asserts nothing.
#   RUNS=3 scripts/bench_save.sh [many] [big]      # default: 3 runs, both
#   OTHER_TPKGFS=/path/to/old/tpkgfs ...           # also another build, same runs
#   SETTLE=2 ...                                   # pause 2 s between edit and unmount
#   PRIME=0 ...                                    # no memory primed before each timed
#                                                  # step (bench/bench_save.py says why)
#   REFLINK=1 ...                                  # also big.pt on a loop-mounted XFS
#                                                  # with reflinks (root, xfsprogs)
# Needs fuse-zip, fusermount3 and about 7 GiB in BENCH_DIR (kept with KEEP=1;
# 13 GiB with REFLINK=1).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${TPKG_BUILD_DIR:-build}
BENCH_DIR=${BENCH_DIR:-/tmp/tpkgfs-bench-save}
tpkgfs=$(realpath "$BUILD_DIR/src/fs/tpkgfs")
[ -x "$tpkgfs" ] || { echo "build first: $tpkgfs is missing" >&2; exit 1; }
command -v fuse-zip >/dev/null || { echo "needs fuse-zip (Debian package fuse-zip)" >&2; exit 1; }
xfs="$BENCH_DIR/xfs"
cleanup() {
  for m in "$BENCH_DIR"/mnt_* "$xfs"/mnt_*; do
    if grep -q " $m " /proc/mounts; then fusermount3 -uz "$m" || true; fi
  done
  if grep -q " $xfs " /proc/mounts; then umount "$xfs" || umount -l "$xfs"; fi
  [ "${KEEP:-0}" = 1 ] || rm -rf "$BENCH_DIR"
}
trap cleanup EXIT
cd scripts/bench
/usr/bin/python3 bench_save.py "$tpkgfs" "$BENCH_DIR" "${RUNS:-3}" "$@"
if [ "${REFLINK:-0}" = 1 ]; then
  if ! command -v mkfs.xfs >/dev/null || [ "$(id -u)" != 0 ]; then
    echo "== XFS: skipped (needs root and mkfs.xfs from xfsprogs)"
    exit 0
  fi
  [ -f "$BENCH_DIR/big.pt" ] || /usr/bin/python3 make_packages.py "$BENCH_DIR" big
  rm -f "$BENCH_DIR/xfs.img"  # a kept one (KEEP=1) would make mkfs.xfs refuse
  truncate -s 7G "$BENCH_DIR/xfs.img"
  mkfs.xfs -q -m reflink=1 "$BENCH_DIR/xfs.img"
  mkdir -p "$xfs"
  mount -o loop "$BENCH_DIR/xfs.img" "$xfs"
  cp "$BENCH_DIR/big.pt" "$xfs/big.pt"
  /usr/bin/python3 bench_save.py "$tpkgfs" "$xfs" "${RUNS:-3}" big
fi

#!/usr/bin/env bash
# One benchmark run of the mount: tpkgfs vs fuse-zip (Debian) vs the natively
# extracted directory, on a ~2 GiB package (one 768 MiB storage) and a
# 5,000-record package, both made by real torch.package (/usr/bin/python3).
# Prints figures and ratios against native (no pass/fail), and the load average.
#   scripts/bench_mount.sh [big] [many]      # default: both
#   OTHER_TPKGFS=/path/to/tpkgfs scripts/bench_mount.sh many   # and another build, same rounds
# Needs root (it drops the page cache and mounts) and about 6 GiB in BENCH_DIR;
# the generated files are deleted afterwards unless KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${TPKG_BUILD_DIR:-build}
BENCH_DIR=${BENCH_DIR:-/tmp/tpkgfs-bench}
tpkgfs=$(realpath "$BUILD_DIR/src/fs/tpkgfs")
cleanup() {
  for m in $(grep -o "$BENCH_DIR/mnt_[^ ]*" /proc/mounts || true); do
    fusermount3 -uz "$m" || echo "warning: cannot unmount $m: its daemon may be left" >&2
  done
  [ "${KEEP:-0}" = 1 ] || rm -rf "$BENCH_DIR"
}
trap cleanup EXIT
/usr/bin/python3 scripts/bench/bench_mount.py "$tpkgfs" "$BENCH_DIR" "$@"

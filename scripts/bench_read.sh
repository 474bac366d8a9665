#!/usr/bin/env bash
# Reads of the 768 MiB storage of the benchmark's big.pt: tpkgfs (and, with
# OTHER_TPKGFS=path, another tpkgfs binary, e.g. main's build) against the
# native file, in alternating rounds; medians and speed ratios to native,
# no pass/fail. Uses the packages scripts/bench_mount.sh made (run it once with
# KEEP=1 and the same BENCH_DIR). Needs root.
#   scripts/bench_read.sh [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${TPKG_BUILD_DIR:-build}
BENCH_DIR=${BENCH_DIR:-/tmp/tpkgfs-bench}
tpkgfs=$(realpath "$BUILD_DIR/src/fs/tpkgfs")
[ -f "$BENCH_DIR/big.pt" ] && [ -d "$BENCH_DIR/native/big" ] || {
  echo "no $BENCH_DIR/big.pt and native/big: run KEEP=1 scripts/bench_mount.sh big first" >&2
  exit 1
}
cleanup() {
  for m in $(grep -o "$BENCH_DIR/mnt_read" /proc/mounts || true); do
    fusermount3 -uz "$m" || echo "warning: cannot unmount $m: its daemon may be left" >&2
  done
}
trap cleanup EXIT
/usr/bin/python3 scripts/bench/bench_read.py "$BENCH_DIR" "${1:-3}" "tpkgfs=$tpkgfs" \
  ${OTHER_TPKGFS:+"other=$OTHER_TPKGFS"}

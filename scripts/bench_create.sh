#!/usr/bin/env bash
# Many small files (issue: per-created-file sync cost): create COUNT 1 KiB
# files through a read/write tpkgfs mount vs fuse-zip vs a native folder,
# then unmount until saved. Prints medians and ratios to native; asserts
# nothing. OTHER_TPKGFS=path adds another tpkgfs binary (e.g. main's build).
#   scripts/bench_create.sh [COUNT=2000] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${TPKG_BUILD_DIR:-build}
tpkgfs=$(realpath "$BUILD_DIR/src/fs/tpkgfs")
work=$(mktemp -d -p "${BENCH_DIR:-/tmp}" tpkg-bench-create-XXXXXX)
cleanup() {
  for m in $(grep -o "$work/[^ ]*/mnt" /proc/mounts || true); do
    fusermount3 -uz "$m" || echo "warning: cannot unmount $m: its daemon may be left" >&2
  done
  rm -rf "$work"
}
trap cleanup EXIT
/usr/bin/python3 scripts/bench/bench_create.py "$tpkgfs" "$work" "${1:-2000}" "${2:-3}" \
  ${OTHER_TPKGFS:+"$OTHER_TPKGFS"}

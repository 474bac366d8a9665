#!/usr/bin/env bash
# Benchmark: saving a one-line edit through a real read/write mount, and the
# daemon's memory while a 1 GiB storage is rewritten through it. Prints
# figures and ratios measured in this run; asserts nothing.
#
#   scripts/bench_write.sh                     # 2 GiB package on $BENCH_DIR (/tmp)
#   SIZE_MIB=256 DD_MIB=128 scripts/bench_write.sh
#
# 1. Write-back: mount, `sed -i` one line of corpus_models/__init__.py, then
#    time `fusermount3 -u` until the daemon has exited (the save: metadata
#    regeneration, a new archive with unchanged records copied raw, fsync,
#    rename). Baselines: `cp` of the archive, `cp` + fsync, and fuse-zip
#    (Debian) doing the same edit and unmount. Warm page cache for all.
# 2. Memory: mount, `dd` DD_MIB MiB over `.data/0.storage` (conv=notrunc),
#    read the daemon's VmHWM (peak RSS) before unmount, then unmount (saving
#    the rewritten storage) and report the peak over the whole run.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${SIZE_MIB:-2048}
DD_MIB=${DD_MIB:-1024}
# shellcheck source=bench/storage_package.sh
. scripts/bench/storage_package.sh
bench_build_paths

work=$(mktemp -d -p "${BENCH_DIR:-/tmp}" tpkg-bench-write-XXXXXX)
cleanup() {
  for m in "$work"/mnt*; do
    grep -q " $m " /proc/mounts && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m"; }
  done
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
wait_mounted() { for _ in $(seq 500); do grep -q " $1 " /proc/mounts && return 0; sleep 0.01; done; return 1; }

make_storage_package "$work" "$SIZE_MIB"
rm "$work/storage.bin"
sync -f "$work/model.pt"
size=$(stat -c %s "$work/model.pt")
edit_line='s/DEFAULT_HIDDEN = 3/DEFAULT_HIDDEN = 4/'

cat "$work/model.pt" >/dev/null
t0=$(now); cp "$work/model.pt" "$work/copy.pt"; t1=$(now)
cp_s=$(elapsed "$t0" "$t1"); rm "$work/copy.pt"
cat "$work/model.pt" >/dev/null
t0=$(now); cp "$work/model.pt" "$work/copy.pt"; sync "$work/copy.pt"; t1=$(now)
cps_s=$(elapsed "$t0" "$t1")
# Settle before each timed save: on ext4 mounted with `discard`, the blocks
# freed by an earlier rm are trimmed at the next journal commit, which the
# save's fsync would otherwise pay for.
sync

# tpkgfs: the save after a one-line edit.
mkdir "$work/mnt_tpkgfs"
cat "$work/model.pt" >/dev/null
"$TPKGFS" -f "$work/model.pt" "$work/mnt_tpkgfs" 2>"$work/tpkgfs.err" & pid=$!
wait_mounted "$work/mnt_tpkgfs"
sed -i "$edit_line" "$work/mnt_tpkgfs/corpus_models/__init__.py"
t0=$(now); fusermount3 -u "$work/mnt_tpkgfs"; wait "$pid"; t1=$(now)
tpkgfs_s=$(elapsed "$t0" "$t1")
unzip -p "$work/model.pt" pkg_model_numpy/corpus_models/__init__.py | grep -q "DEFAULT_HIDDEN = 4" \
  || { echo "tpkgfs did not save the edit:"; cat "$work/tpkgfs.err"; exit 1; }

# fuse-zip on the copy: the same edit and unmount.
fz_s="n/a"
if command -v fuse-zip >/dev/null; then
  mkdir "$work/mnt_fz"
  sync
  cat "$work/copy.pt" >/dev/null
  fuse-zip -f "$work/copy.pt" "$work/mnt_fz" 2>"$work/fz.err" & fz=$!
  wait_mounted "$work/mnt_fz"
  sed -i "$edit_line" "$work/mnt_fz/pkg_model_numpy/corpus_models/__init__.py"
  t0=$(now); fusermount3 -u "$work/mnt_fz"; wait "$fz" || true; t1=$(now)
  fz_s=$(elapsed "$t0" "$t1")
fi
rm -f "$work/copy.pt"

# Memory while DD_MIB MiB are rewritten through the mount, and over the save.
sync
mkdir "$work/mnt_dd"
/usr/bin/time -f %M -o "$work/rss_total" "$TPKGFS" -f "$work/model.pt" "$work/mnt_dd" \
  2>"$work/dd.err" & tpid=$!
wait_mounted "$work/mnt_dd"
daemon=$(pgrep -P "$tpid" -x tpkgfs)
t0=$(now)
dd if=/dev/urandom of="$work/mnt_dd/.data/0.storage" bs=1M count="$DD_MIB" conv=notrunc \
  status=none
t1=$(now)
dd_s=$(elapsed "$t0" "$t1")
hwm_dd=$(awk '/VmHWM/ {print $2}' "/proc/$daemon/status")
t0=$(now); fusermount3 -u "$work/mnt_dd"; wait "$tpid"; t1=$(now)
save_dd_s=$(elapsed "$t0" "$t1")

echo "== write-back after a one-line edit: $size bytes on $(stat -f -c %T "$work")"
echo "cp:                      $cp_s s"
echo "cp + sync:               $cps_s s"
echo "tpkgfs unmount (save):   $tpkgfs_s s"
echo "fuse-zip unmount (save): $fz_s s"
awk -v t="$tpkgfs_s" -v c="$cp_s" -v s="$cps_s" -v f="$fz_s" 'BEGIN {
  printf "tpkgfs / cp:             %.2fx\ntpkgfs / (cp + sync):    %.2fx\n", t / c, t / s
  if (f != "n/a") printf "fuse-zip / cp:           %.2fx\n", f / c }'
echo "== rewriting $DD_MIB MiB of .data/0.storage through the mount (dd conv=notrunc)"
echo "dd:                      $dd_s s (includes the copy-on-write of the storage)"
echo "daemon peak RSS (dd):    $hwm_dd KiB"
echo "unmount (save):          $save_dd_s s"
echo "daemon peak RSS (total): $(cat "$work/rss_total") KiB (whole run, save included)"

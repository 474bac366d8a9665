#!/usr/bin/env bash
# Does any setting a FUSE server can choose give its files large folios in the page cache?
# Mounts scripts/bench/fuse_probe.c (one 64 MiB file) once per setting below and prints the
# folio orders of a cold read of it (scripts/trace_folios.sh). On Linux 6.18 every setting
# gives order 0 only (doc/performance.md, "What bounds the ratios"). Needs root.
#   scripts/probe_fuse.sh ["ENV=VALUE... [-o OPTION]" ...]   # default: the list below
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /var/tmp/tpkgfs-probe.XXXXXX)
pid=
cleanup() {
  if mountpoint -q "$work/m"; then fusermount3 -u "$work/m" || true; fi
  [ -z "$pid" ] || wait "$pid" || true
  rm -rf "$work"
}
trap cleanup EXIT
cc -O2 -Wall -o "$work/fuse_probe" scripts/bench/fuse_probe.c $(pkg-config --cflags --libs fuse3)
mkdir "$work/m"
[ $# -gt 0 ] || set -- "" "WB=1" "MAXW=65536" "MAXR=1048576 -o max_read=1048576" "SPLICE=1"
for setting in "$@"; do
  echo "== ${setting:-no setting: the defaults}"
  envs=() opts=()
  read -r -a words <<< "$setting"
  for w in "${words[@]}"; do
    if [ "$w" = -o ] || [ "${#opts[@]}" -eq 1 ]; then opts+=("$w"); else envs+=("$w"); fi
  done
  env "${envs[@]}" "$work/fuse_probe" -f "$work/m" "${opts[@]}" 2> "$work/init.log" & pid=$!
  for _ in $(seq 50); do [ -e "$work/m/f" ] && break; sleep 0.1; done
  sed 's/^/  /' "$work/init.log"
  scripts/trace_folios.sh "$work/m/f" | sed 's/^/  /'
  fusermount3 -u "$work/m"
  wait "$pid"; pid=
done

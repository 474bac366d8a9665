#!/usr/bin/env bash
# Which folio sizes the page cache uses for one file: drops the caches, reads FILE once with dd,
# and prints how many folios of each order the kernel added for it (tracepoint
# filemap:mm_filemap_add_to_page_cache; order 0 = 4 KiB, 9 = 2 MiB), and how many read-ahead
# steps there were (readahead:page_cache_ra_order) and how many of them were done in single
# pages (readahead:page_cache_ra_unbounded: the fallback for a mapping without large-folio
# support). Used for the analysis of warm reads in doc/performance.md; run it on a file in a tpkgfs mount and
# on its native copy. Needs root and tracefs; kernels without the readahead events (Linux 6.18 has
# them) print only the folio orders.
#   scripts/trace_folios.sh FILE
set -euo pipefail
file=$1
T=/sys/kernel/tracing
[ -w "$T/trace" ] || { echo "trace_folios: $T is not writable (root and tracefs needed)" >&2; exit 1; }
dev=$(stat -c '%d' "$file")
ino=$(stat -c '%i' "$file")
# The events' s_dev is the kernel's dev_t (major << 20 | minor), stat's %d is the user one.
kdev=$(( ((dev >> 8 & 0xfff) << 20) | (dev & 0xff) | ((dev >> 12) & 0xfff00) ))
events=(filemap/mm_filemap_add_to_page_cache readahead/page_cache_ra_order
        readahead/page_cache_ra_unbounded)
was_on=$(cat "$T/tracing_on")
was_size=$(cat "$T/buffer_size_kb" | grep -o '^[0-9]*')
restore() {
  for e in "${events[@]}"; do
    [ -d "$T/events/$e" ] || continue
    echo 0 > "$T/events/$e/enable"
    echo 0 > "$T/events/$e/filter"
  done
  echo > "$T/trace"
  echo "$was_size" > "$T/buffer_size_kb"
  echo "$was_on" > "$T/tracing_on"
}
trap restore EXIT
sync
echo 3 > /proc/sys/vm/drop_caches
echo > "$T/trace"
echo 65536 > "$T/buffer_size_kb"  # 196,608 order-0 events for 768 MiB fit
for e in "${events[@]}"; do
  [ -d "$T/events/$e" ] || continue
  echo "s_dev == $kdev && i_ino == $ino" > "$T/events/$e/filter"
  echo 1 > "$T/events/$e/enable"
done
echo 1 > "$T/tracing_on"
start=$(date +%s.%N)
dd if="$file" of=/dev/null bs=1M status=none
end=$(date +%s.%N)
echo 0 > "$T/tracing_on"
echo "read in $(awk "BEGIN{printf \"%.2f\", $end - $start}") s; folios added to the page cache, by order:"
grep -o 'mm_filemap_add_to_page_cache: .* order=[0-9]*' "$T/trace" | grep -o 'order=[0-9]*' |
  sort | uniq -c | sort -t= -k2 -n
echo "read-ahead steps (page_cache_ra_order): $(grep -c 'page_cache_ra_order:' "$T/trace" || true);" \
  "done in single pages (page_cache_ra_unbounded): $(grep -c 'page_cache_ra_unbounded:' "$T/trace" || true)"
if grep -q LOST "$T/trace"; then echo "warning: the trace buffer lost events" >&2; fi

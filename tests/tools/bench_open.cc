// bench_open: time ZipReader::Open + a walk over entries(), in process.
//
//   bench_open ARCHIVE [RUNS]   ->   "open+list 5002 records: median 1.234 ms, min 1.100 ms (50
//   runs)"
//
// Used by scripts/bench_zip.sh; prints figures, asserts nothing.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "tpkg/error.h"
#include "tpkg/zip_reader.h"

namespace {

volatile size_t g_sink;  // keeps the walk over entries from being optimised away

// One timed run; returns milliseconds and the record count through `records`.
double TimeOnce(const std::string& path, size_t& records) {
  const auto start = std::chrono::steady_clock::now();
  const tpkg::ZipReader zip = tpkg::ZipReader::Open(path);
  size_t names = 0;
  for (const auto& e : zip.entries()) names += e.name.size();
  const auto stop = std::chrono::steady_clock::now();
  g_sink = names;
  records = zip.entries().size();
  return std::chrono::duration<double, std::milli>(stop - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_open ARCHIVE [RUNS]\n");
    return 2;
  }
  const int runs = argc > 2 ? std::max(1, std::stoi(argv[2])) : 50;
  try {
    std::vector<double> ms;
    size_t records = 0;
    for (int i = 0; i < runs; ++i) ms.push_back(TimeOnce(argv[1], records));
    std::sort(ms.begin(), ms.end());
    std::printf("open+list %zu records: median %.3f ms, min %.3f ms (%d runs)\n", records,
                ms[ms.size() / 2], ms.front(), runs);
    return 0;
  } catch (const tpkg::Error& e) {
    std::fprintf(stderr, "bench_open: %s\n", e.what());
    return 1;
  }
}

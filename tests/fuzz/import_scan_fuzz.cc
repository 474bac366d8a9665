// Fuzz target: the Python import scanner (tokenizer + parser of every grammar
// from 3.8 to 3.13, tpkg/import_scan.h), and the same parser with the compile
// checks a save runs (FindCompileError). The first byte picks the package the
// source belongs to (relative imports resolve against it); the rest is the
// source, in the encoding it declares. Syntax errors are thrown as
// tpkg::Error (or returned, by FindCompileError); anything else is a finding.
#include <array>
#include <cstdint>
#include <string_view>

#include "fuzz_support.h"
#include "tpkg/error.h"
#include "tpkg/import_scan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static constexpr std::array<std::string_view, 4> kPackages = {"", "pkg", "pkg.sub", "a.b.c.d"};
  tpkg::fuzz::InputCursor in(data, size);
  const std::string_view package = kPackages[in.Byte() % kPackages.size()];
  const std::string_view source = in.Rest();
  try {
    (void)tpkg::ScanImports(source, package);
  } catch (const tpkg::Error&) {
  }
  (void)tpkg::FindCompileError(source);
  return 0;
}

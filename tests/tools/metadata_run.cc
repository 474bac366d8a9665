// metadata_run: test-only driver for tests/python/test_policy_differential.py.
//
//   metadata_run ARCHIVE
// opens ARCHIVE with ZipReader (strict), regenerates its metadata from the
// records alone and prints {"extern_modules", "dot", "problems", "interned",
// "mocked"} as JSON.
#include <iostream>
#include <string>
#include <vector>

#include "json_text.h"
#include "tpkg/error.h"
#include "tpkg/metadata.h"
#include "tpkg/zip_reader.h"

using tpkg::test::JsonList;
using tpkg::test::JsonString;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: metadata_run ARCHIVE\n";
    return 2;
  }
  try {
    const tpkg::ZipReader zip = tpkg::ZipReader::Open(argv[1]);
    const tpkg::Metadata m = tpkg::RegenerateMetadata(tpkg::ZipRecordSource(zip));
    std::cout << "{\"extern_modules\": " << JsonString(m.extern_modules_text)
              << ", \"dot\": " << JsonString(m.deps_dot)
              << ", \"problems\": " << JsonString(m.problems)
              << ", \"interned\": " << JsonList(m.interned)
              << ", \"mocked\": " << JsonList(m.mocked) << "}\n";
  } catch (const tpkg::Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}

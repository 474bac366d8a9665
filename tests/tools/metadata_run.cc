// metadata_run: test-only driver for tests/python/test_policy_differential.py.
//
//   metadata_run ARCHIVE
// opens ARCHIVE with ZipReader (strict), regenerates its metadata from the
// records alone and prints {"extern_modules", "dot", "problems", "interned",
// "mocked"} as JSON.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "tpkg/error.h"
#include "tpkg/metadata.h"
#include "tpkg/zip_reader.h"

namespace {

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string List(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + Quote(items[i]);
  return out + "]";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: metadata_run ARCHIVE\n";
    return 2;
  }
  try {
    const tpkg::ZipReader zip = tpkg::ZipReader::Open(argv[1]);
    const tpkg::Metadata m = tpkg::RegenerateMetadata(tpkg::ZipRecordSource(zip));
    std::cout << "{\"extern_modules\": " << Quote(m.extern_modules_text)
              << ", \"dot\": " << Quote(m.deps_dot) << ", \"problems\": " << Quote(m.problems)
              << ", \"interned\": " << List(m.interned) << ", \"mocked\": " << List(m.mocked)
              << "}\n";
  } catch (const tpkg::Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}

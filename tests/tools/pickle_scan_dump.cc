// pickle_scan_dump: test-only CLI printing ScanPickle() of each file as one JSON line.
//
//   pickle_scan_dump a.pkl b.pkl
//   {"file": "a.pkl", "protocol": 3, "globals": [["torch", "FloatStorage"]], "modules": [...],
//    "storages": [["torch", "FloatStorage", "0", true, "cpu", 6]],
//    "reduce_packages": [["mod", "func", true]],
//    "mock_check": {"globals": [["torch", "FloatStorage"]], "last_module": "torch"},
//    "modules_torch2": [...]}   (torch 2.x's save_pickle loop)
//   {"file": "b.pkl", "error": "invalid opcode 0xff at byte 7"}
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

#include "json_text.h"
#include "tpkg/error.h"
#include "tpkg/pickle_scan.h"

namespace {

using tpkg::test::JsonString;

std::string GlobalJson(const tpkg::PickleGlobal& g) {
  return JsonString(g.module) + ", " + JsonString(g.name);
}

std::string ScanJson(const tpkg::PickleScan& s) {
  std::ostringstream out;
  out << "\"protocol\": " << s.protocol << ", \"globals\": [";
  for (size_t i = 0; i < s.globals.size(); ++i)
    out << (i ? ", " : "") << "[" << GlobalJson(s.globals[i]) << "]";
  out << "], \"modules\": [";
  for (size_t i = 0; i < s.modules.size(); ++i) out << (i ? ", " : "") << JsonString(s.modules[i]);
  out << "], \"storages\": [";
  for (size_t i = 0; i < s.storages.size(); ++i) {
    const auto& r = s.storages[i];
    out << (i ? ", " : "") << "[" << GlobalJson(r.storage_type) << ", " << JsonString(r.key) << ", "
        << (r.key_is_int ? "true" : "false") << ", " << JsonString(r.location) << ", " << r.numel
        << "]";
  }
  out << "], \"reduce_packages\": [";
  for (size_t i = 0; i < s.reduce_packages.size(); ++i) {
    const auto& r = s.reduce_packages[i];
    out << (i ? ", " : "") << "[" << GlobalJson(r.func) << ", " << (r.has_id ? "true" : "false")
        << "]";
  }
  out << "], \"mock_check\": {\"globals\": [";
  const tpkg::MockCheckInputs& m = s.mock_check;
  for (size_t i = 0; i < m.globals.size(); ++i) {
    out << (i ? ", " : "") << "[" << JsonString(m.names[m.globals[i].first]) << ", "
        << JsonString(m.names[m.globals[i].second]) << "]";
  }
  out << "], \"last_module\": " << JsonString(m.last_module) << "}, \"modules_torch2\": [";
  for (size_t i = 0; i < s.modules_torch2.size(); ++i)
    out << (i ? ", " : "") << JsonString(s.modules_torch2[i]);
  out << "]";
  return out.str();
}

std::string DumpFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "\"error\": " + JsonString("cannot open " + path);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    return ScanJson(tpkg::ScanPickle(bytes));
  } catch (const tpkg::Error& e) {
    return "\"error\": " + JsonString(e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    std::cout << "{\"file\": " << JsonString(argv[i]) << ", " << DumpFile(argv[i]) << "}\n";
  return 0;
}

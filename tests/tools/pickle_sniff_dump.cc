// pickle_sniff_dump: test-only CLI printing, for each file, the pickle sniff's
// verdict (scan/pickle_sniff.h) and every call the symbolic machine saw before
// the stream ended or broke (Observer::OnCall), as one JSON line:
//
//   pickle_sniff_dump a.txt b.bin
//   {"file": "a.txt", "sniff": "no", "calls": [], "error": "invalid opcode 0x23 at byte 0"}
//   {"file": "b.bin", "sniff": "headerless-calls-before-break",
//    "calls": [["os", "system", 18]], "error": "truncated pickle: no STOP opcode at byte 19"}
//
// tests/python/test_pickle_sniff_cpython.py compares it with CPython's unpicklers.
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "json_text.h"
#include "scan/pickle_observer.h"
#include "scan/pickle_sniff.h"
#include "tpkg/error.h"

namespace {

using tpkg::test::JsonString;

class CallLog : public tpkg::pickle::Observer {
 public:
  void OnGlobal(size_t, uint8_t, std::string_view, std::string_view) override {}
  void OnDynamicGlobal(size_t) override {}
  void OnExtension(size_t, uint8_t, uint64_t) override {}
  void OnFrameAnomaly(size_t, std::string_view) override {}
  void OnData(size_t, std::string_view) override {}
  void OnCall(size_t offset, uint8_t, std::string_view module, std::string_view name) override {
    calls.push_back("[" + JsonString(module) + ", " + JsonString(name) + ", " +
                    std::to_string(offset) + "]");
  }
  std::vector<std::string> calls;
};

const char* SniffName(tpkg::pickle::Sniff sniff) {
  switch (sniff) {
    case tpkg::pickle::Sniff::kNo: return "no";
    case tpkg::pickle::Sniff::kProtocolHeader: return "protocol-header";
    case tpkg::pickle::Sniff::kHeaderless: return "headerless";
    case tpkg::pickle::Sniff::kHeaderlessCallsBeforeBreak: return "headerless-calls-before-break";
  }
  return "?";
}

std::string DumpFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "\"error\": " + JsonString("cannot open " + path);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string out = "\"sniff\": " + JsonString(SniffName(tpkg::pickle::SniffPickle(bytes)));
  CallLog log;
  std::string error;
  try {
    tpkg::pickle::ScanPickleObserved(std::span<const char>(bytes.data(), bytes.size()),
                                     tpkg::PickleScanLimits{}, log);
  } catch (const tpkg::Error& e) {
    error = e.what();
  }
  out += ", \"calls\": [";
  for (size_t i = 0; i < log.calls.size(); ++i) out += (i ? ", " : "") + log.calls[i];
  out += "], \"error\": " + (error.empty() ? std::string("null") : JsonString(error));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    std::cout << "{\"file\": " << JsonString(argv[i]) << ", " << DumpFile(argv[i]) << "}\n";
  return 0;
}

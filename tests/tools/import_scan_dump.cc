// import_scan_dump: test-only CLI running ScanImports() over many files in one process.
//
// Reads "path<TAB>package" lines on stdin.
//   import_scan_dump          one JSON line per file:
//                             {"path": "a.py", "refs": [["os", null], ["pkg", "sub"]]}
//                             {"path": "b.py", "error": "line 3: invalid syntax"}
//   import_scan_dump --time   reads every file first, then times only the scans
//                             (steady_clock) and prints one JSON summary line:
//                             {"files": N, "bytes": B, "errors": E, "seconds": S}
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "json_text.h"
#include "tpkg/error.h"
#include "tpkg/import_scan.h"

namespace {

using tpkg::test::JsonString;

struct Job {
  std::string path;
  std::string package;
  std::string source;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<Job> ReadJobs(bool with_sources) {
  std::vector<Job> jobs;
  std::string line;
  while (std::getline(std::cin, line)) {
    size_t tab = line.find('\t');
    if (tab == std::string::npos) continue;
    Job job{line.substr(0, tab), line.substr(tab + 1), {}};
    if (with_sources) job.source = ReadFile(job.path);
    jobs.push_back(std::move(job));
  }
  return jobs;
}

std::string RefsJson(const std::vector<tpkg::ImportRef>& refs) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < refs.size(); ++i)
    out << (i ? ", " : "") << "[" << JsonString(refs[i].module) << ", "
        << (refs[i].name ? JsonString(*refs[i].name) : "null") << "]";
  out << "]";
  return out.str();
}

void DumpEach() {
  for (Job& job : ReadJobs(false)) {
    std::string source = ReadFile(job.path);
    std::string result;
    try {
      result = "\"refs\": " + RefsJson(tpkg::ScanImports(source, job.package));
    } catch (const tpkg::Error& e) {
      result = "\"error\": " + JsonString(e.what());
    }
    std::cout << "{\"path\": " << JsonString(job.path) << ", " << result << "}\n";
  }
}

void TimeAll() {
  std::vector<Job> jobs = ReadJobs(true);
  size_t bytes = 0, errors = 0, refs = 0;
  auto start = std::chrono::steady_clock::now();
  for (const Job& job : jobs) {
    bytes += job.source.size();
    try {
      refs += tpkg::ScanImports(job.source, job.package).size();
    } catch (const tpkg::Error&) {
      ++errors;
    }
  }
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  std::cout << "{\"files\": " << jobs.size() << ", \"bytes\": " << bytes
            << ", \"errors\": " << errors << ", \"refs\": " << refs
            << ", \"seconds\": " << elapsed.count() << "}\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--time")
    TimeAll();
  else
    DumpEach();
  return 0;
}

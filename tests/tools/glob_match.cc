// glob_match: test-only driver for tests/python/test_glob_differential.py.
//
// Reads one query per line from stdin:
//   <include>\t<exclude>\t<separator>\t<candidate>
// where <include> and <exclude> are `s:<pattern>` (a Python str),
// `l:<p1>\x1f<p2>...` (a list) or `t:...` (a tuple; `t:` alone is `()`).
// Prints one line per query: `<0|1>\t<ToString()>`, or `E\t<message>` when
// the GlobGroup cannot be built.
#include <iostream>
#include <string>
#include <vector>

#include "tpkg/error.h"
#include "tpkg/glob.h"

namespace {

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string::npos ? end : end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

tpkg::GlobPattern ParsePattern(const std::string& field) {
  const std::string body = field.substr(2);
  if (field[0] == 's') return tpkg::GlobPattern(body);
  std::vector<std::string> items = body.empty() ? std::vector<std::string>{} : Split(body, '\x1f');
  if (field[0] == 't') return tpkg::GlobPattern::Tuple(std::move(items));
  return tpkg::GlobPattern(std::move(items));
}

std::string Answer(const std::string& line) {
  const auto fields = Split(line, '\t');
  if (fields.size() != 4) return "E\tmalformed query";
  try {
    tpkg::GlobGroup group(ParsePattern(fields[0]), ParsePattern(fields[1]), fields[2]);
    return std::string(group.Matches(fields[3]) ? "1" : "0") + "\t" + group.ToString();
  } catch (const tpkg::Error& e) {
    return std::string("E\t") + e.what();
  }
}

}  // namespace

int main() {
  std::string line;
  while (std::getline(std::cin, line)) std::cout << Answer(line) << "\n";
  return 0;
}

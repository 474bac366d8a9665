// table.h: left-aligned text columns for the inspection commands, and the
// small formatters they share (private to src/tools).
//
//   Table t({"PATH", "DTYPE"});
//   t.Add({"l0.weight", "float32"});
//   t.Print(out);   // "PATH       DTYPE\nl0.weight  float32\n"
//
// Thread safety: single-threaded tool.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "output.h"

namespace tpkg::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

  void Print(Output& out) const {
    std::vector<size_t> width;
    for (const auto& row : rows_) {
      width.resize(std::max(width.size(), row.size()), 0);
      for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
    }
    for (const auto& row : rows_) {
      std::string line;
      for (size_t i = 0; i < row.size(); ++i) {
        line += row[i];
        if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
      }
      out.Line(line);
    }
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

// "[4, 3]"
std::string ShapeText(const std::vector<int64_t>& dims);

}  // namespace tpkg::cli

// edited_records.h: test-only RecordSources: records held in memory, and an
// overlay that simulates what a user changes through the mount (records
// replaced, added or removed).
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tpkg/error.h"
#include "tpkg/metadata.h"

namespace tpkg::testing {

// Records held in memory, in the given order.
class MemoryRecords : public RecordSource {
 public:
  explicit MemoryRecords(std::vector<std::pair<std::string, std::string>> records)
      : records_(std::move(records)) {}
  std::vector<std::string> RecordNames() const override {
    std::vector<std::string> out;
    for (const auto& [name, bytes] : records_) out.push_back(name);
    return out;
  }
  std::string ReadRecord(const std::string& name) const override {
    ++reads[name];
    for (const auto& [n, bytes] : records_)
      if (n == name) return bytes;
    throw Error(Errc::kNotFound, "no record " + name);
  }
  mutable std::map<std::string, int> reads;  // ReadRecord() calls per name

 private:
  std::vector<std::pair<std::string, std::string>> records_;
};

// Records of a base source with edits: replaced or added records (added
// ones go at the end, as a new file would) and removed records.
class EditedRecords : public RecordSource {
 public:
  explicit EditedRecords(const RecordSource& base) : base_(base) {}
  EditedRecords& Put(const std::string& name, std::string bytes) {
    const auto base = base_.RecordNames();
    if (std::find(base.begin(), base.end(), name) == base.end() &&
        std::find(added_.begin(), added_.end(), name) == added_.end()) {
      added_.push_back(name);
    }
    edits_[name] = std::move(bytes);
    return *this;
  }
  EditedRecords& Remove(const std::string& name) {
    edits_[name] = std::nullopt;
    return *this;
  }
  // Whether the record was put (MetadataOptions::edited).
  bool IsEdited(const std::string& name) const {
    const auto it = edits_.find(name);
    return it != edits_.end() && it->second;
  }
  std::vector<std::string> RecordNames() const override {
    std::vector<std::string> out;
    for (const auto& n : base_.RecordNames()) {
      const auto it = edits_.find(n);
      if (it == edits_.end() || it->second) out.push_back(n);
    }
    for (const auto& name : added_) out.push_back(name);
    return out;
  }
  std::string ReadRecord(const std::string& name) const override {
    const auto it = edits_.find(name);
    if (it == edits_.end()) return base_.ReadRecord(name);
    if (!it->second) throw std::runtime_error("removed " + name);
    return *it->second;
  }

 private:
  const RecordSource& base_;
  std::map<std::string, std::optional<std::string>> edits_;
  std::vector<std::string> added_;  // new records, in the order they were put
};

}  // namespace tpkg::testing

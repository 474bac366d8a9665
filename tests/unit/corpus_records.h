// corpus_records.h: test-only RecordSources: a corpus archive read with
// libzip (central-directory order, prefix folder stripped as torch does), and
// an editable overlay to simulate what a user changes through the mount.
#pragma once

#include <zip.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tpkg/metadata.h"

namespace tpkg::testing {

class LibzipRecords : public RecordSource {
 public:
  explicit LibzipRecords(const std::string& path) {
    int err = 0;
    zip_t* z = zip_open(path.c_str(), ZIP_RDONLY, &err);
    if (!z) throw std::runtime_error("cannot open " + path);
    zip_.reset(z);
    const zip_int64_t n = zip_get_num_entries(z, 0);
    for (zip_int64_t i = 0; i < n; ++i) full_.push_back(zip_get_name(z, i, ZIP_FL_ENC_RAW));
    prefix_ = full_.empty() ? "" : full_[0].substr(0, full_[0].find('/') + 1);
  }
  std::vector<std::string> RecordNames() const override {
    std::vector<std::string> out;
    for (const auto& f : full_) out.push_back(f.substr(prefix_.size()));
    return out;
  }
  std::string ReadRecord(const std::string& name) const override {
    zip_file_t* f = zip_fopen(zip_.get(), (prefix_ + name).c_str(), 0);
    if (!f) throw std::runtime_error("no record " + name);
    std::string out;
    char buf[65536];
    zip_int64_t got;
    while ((got = zip_fread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(got));
    zip_fclose(f);
    return out;
  }

 private:
  struct Closer { void operator()(zip_t* z) const { zip_discard(z); } };
  std::unique_ptr<zip_t, Closer> zip_;
  std::vector<std::string> full_;
  std::string prefix_;
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

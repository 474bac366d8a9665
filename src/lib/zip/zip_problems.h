// zip_problems.h: how the reader refuses an archive (private to libtpkg).
//
// Every refusal names the archive, the record when there is one, and the reason:
//
//   model.pt: record 'model/../x.py': '..' path component
//   model.pt: central directory out of range (offset 9000 + size 120 > 4000)
//
// In kThrowFirst mode (ZipReader::Open) the first problem is thrown; in
// kCollect mode (CheckArchive) problems are gathered and the caller goes on.
// Fatal() always throws: nothing after it could be read.
//
// Thread safety: none; used by one thread while an archive is opened.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "tpkg/error.h"
#include "zip/zip_names.h"

namespace tpkg {

inline std::string ArchiveMessage(std::string_view archive, std::string_view reason) {
  return std::string(archive) + ": " + std::string(reason);
}

inline std::string RecordMessage(std::string_view archive, std::string_view full_name,
                                 std::string_view reason) {
  return std::string(archive) + ": record " + QuoteName(full_name) + ": " + std::string(reason);
}

class Problems {
 public:
  enum class Mode { kThrowFirst, kCollect };

  Problems(std::string archive, Mode mode) : archive_(std::move(archive)), mode_(mode) {}

  const std::string& archive() const { return archive_; }

  // A problem of the archive as a whole.
  void Archive(Errc code, std::string_view reason) {
    Add(Error(code, ArchiveMessage(archive_, reason)));
  }
  // A problem of entry number `index` of the central directory.
  void Record(size_t index, std::string_view full_name, Errc code, std::string_view reason) {
    flagged_.insert(index);
    Add(Error(code, RecordMessage(archive_, full_name, reason)));
  }
  // The archive cannot be read any further.
  [[noreturn]] void Fatal(Errc code, std::string_view reason) const {
    throw Error(code, ArchiveMessage(archive_, reason));
  }

  void Add(Error error) {
    if (mode_ == Mode::kThrowFirst) throw error;
    found_.push_back(std::move(error));
  }
  bool flagged(size_t index) const { return flagged_.count(index) != 0; }
  bool any_flagged() const { return !flagged_.empty(); }
  std::vector<Error>& found() { return found_; }

 private:
  std::string archive_;
  Mode mode_;
  std::vector<Error> found_;
  std::unordered_set<size_t> flagged_;  // entries with a problem already reported
};

}  // namespace tpkg

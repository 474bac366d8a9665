// zip_names.h: the record-name helpers shared by the reader and the writer (private).
//
// Torch looks names up case-insensitively (miniz folds ASCII only) and a
// mount turns them into paths, so both sides refuse the same names: the
// form of one name is CheckRecordPath's (tpkg/record_path.h; full names
// with RecordPathRules{.dot_prefix_folder = true}); the clashes between
// names are NameRegistry's, below.
//
// Thread safety: free functions are pure; a NameRegistry is owned by one thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "tpkg/record_path.h"  // QuoteName

namespace tpkg {

// ASCII-only case folding, exactly as miniz's case-insensitive lookup does.
inline char FoldAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
std::string Folded(std::string_view name);

// The names a writer has produced so far, to refuse what the reader would:
// a name twice, names differing only in case, a name both file and folder.
//
//   | written before | new          | verdict                            |
//   | -------------- | ------------ | ---------------------------------- |
//   | `a/b.py`       | `a/b.py`     | written twice                      |
//   | `a/b.py`       | `A/B.py`     | differs only in case               |
//   | `a/b`          | `a/b/c.py`   | 'a/b' is a file                    |
//   | `a/b/c.py`     | `a/b`        | 'a/b' is a folder                  |
//   | `A/x.py`       | `a/y.py`     | ok (only whole names collide)      |
class NameRegistry {
 public:
  // Why `record` cannot be added, or "" when it can.
  std::string Problem(std::string_view record) const;
  // Registers `record` (call after Problem() returned "").
  void Add(std::string_view record);
  // Problem() and Add() at once: registers `record` and returns "", or
  // returns why it cannot be added and registers nothing. One fold and one
  // walk up its folders, which stops at the first one registered before
  // (a writer of thousands of records in a few folders).
  std::string Claim(std::string_view record);
  // Room for `more` names besides those registered (their folders share it).
  void Reserve(size_t more) { seen_.reserve(seen_.size() + more); }
  // The same for a folder entry ("a/b" for `a/b/`): refused when the name or
  // an ancestor is a file, or the folder's entry was written already.
  std::string FolderProblem(std::string_view folder) const;
  void AddFolder(std::string_view folder);

 private:
  // Problem() of `record` folded as `folded`; `*known` is set to the length
  // of the deepest ancestor folder registered already (0: none), every one
  // above it being registered too.
  std::string ProblemOf(std::string_view record, std::string_view folded, size_t* known) const;
  struct Seen {
    bool is_folder;
    std::string spelling;  // as first written, for messages
    bool has_entry = false;  // folders: their own entry was written
  };
  // Looked up by string_view too: a record's folders are found without a
  // string made for each (a save checks thousands of names).
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, Seen, Hash, std::equal_to<>> seen_;  // keyed by the folded name
};

}  // namespace tpkg

// record_attributes.h: the facts a mount shows as extended attributes
// (`getfattr -d`), in the user.tpkg.* namespace, per record of a model file:
//
//   record                  attribute             value
//   source (a/b.py)         user.tpkg.module      a.b
//                           user.tpkg.action      intern | mock
//   pickle                  user.tpkg.protocol    3
//                           user.tpkg.globals     one module.name per line
//   storage (.data/0.storage, data/0)
//                           user.tpkg.dtype       float32
//                           user.tpkg.numel       24
//                           user.tpkg.shape       [4, 6]  (of the first tensor on it)
//                           user.tpkg.tensors     one "pickle path dtype[shape]" per line
//
//   tpkg::RecordXattrs a = tpkg::RecordXattrs::Compute(records);
//   for (const auto& [name, value] : a.Of(".data/0.storage")) ...
//
// Computed once over all records (every pickle is decoded, never executed);
// a pickle that cannot be decoded contributes nothing, so one bad record does
// not hide the others' facts.
//
// Thread safety: immutable after Compute(); Of() may be called from any thread.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tpkg/metadata.h"

namespace tpkg {

inline constexpr std::string_view kAttributePrefix = "user.tpkg.";

class RecordXattrs {
 public:
  using List = std::vector<std::pair<std::string, std::string>>;

  // Throws Error only when a record cannot be read.
  static RecordXattrs Compute(const RecordSource& records);

  // The attributes of `record` (name without the prefix folder), in the
  // order of the table above; empty when it has none.
  const List& Of(std::string_view record) const;

 private:
  std::unordered_map<std::string, List> by_record_;
};

}  // namespace tpkg

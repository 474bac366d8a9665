#include "record_xattrs.h"

#include <cerrno>

#include "tpkg/record_attributes.h"

namespace tpkg::fs {

void ListRecordXattrs(const VirtualFiles& files, std::string_view record, std::string* out) {
  out->clear();
  for (const auto& [name, value] : files.Attributes()->Of(record)) {
    *out += name;
    out->push_back('\0');
  }
}

int GetRecordXattr(const VirtualFiles& files, std::string_view record, std::string_view name,
                   std::string* out) {
  if (!name.starts_with(kAttributePrefix)) return -ENODATA;
  for (const auto& [attribute, value] : files.Attributes()->Of(record)) {
    if (attribute == name) {
      *out = value;
      return 0;
    }
  }
  return -ENODATA;
}

}  // namespace tpkg::fs

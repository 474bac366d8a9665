// record_xattrs.h: the user.tpkg.* extended attributes of a mounted record
// (tpkg/record_attributes.h), as both views answer listxattr and getxattr.
//
//   std::string names;
//   ListRecordXattrs(virtual_files, ".data/0.storage", &names);  // "user.tpkg.dtype\0..."
//
// Only names in user.tpkg.* are looked up: any other (the kernel asks for
// security.capability before writes) is answered -ENODATA at once, without
// running the analysis. Every other name is -ENODATA too: the mount stores
// no attributes of its own.
//
// Thread safety: as VirtualFiles::Attributes() (any thread).
#pragma once

#include <string>
#include <string_view>

#include "virtual_files.h"

namespace tpkg::fs {

// The names of `record`'s attributes, each followed by a NUL (listxattr's
// format); "" for a record without any.
void ListRecordXattrs(const VirtualFiles& files, std::string_view record, std::string* out);

// The value of attribute `name` of `record`, or -ENODATA.
int GetRecordXattr(const VirtualFiles& files, std::string_view record, std::string_view name,
                   std::string* out);

}  // namespace tpkg::fs

// fuse_dir_reply.h: one READDIR / READDIRPLUS reply, shared by the
// read-only bridge (fuse_bridge.cc) and the read/write one (journal_bridge.cc).
//
//   ReplyDir<true>(req, ino, size, off,
//       [&](int64_t off, bool plus, const DirFiller& f) { return ops.ReadDir(ino, off, plus, f); },
//       [](const struct stat& st) { return EntryFor(st); });
//
// Thread safety: stateless; called from any FUSE worker thread.
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <memory>
#include <string>

#include "fs_ops.h"  // DirEntry, DirFiller

namespace tpkg::fs {

// `list(offset, plus, fill)` is the ops' ReadDir; `entry_for(attr)` makes
// the fuse_entry_param (timeouts) of a complete entry.
template <bool kPlus, class List, class EntryFor>
void ReplyDir(fuse_req_t req, size_t size, off_t off, List&& list, EntryFor&& entry_for) {
  auto buffer = std::make_unique<char[]>(size);
  size_t used = 0;
  auto fill = [&](const DirEntry& entry) {
    const std::string name(entry.name);  // libfuse wants a C string
    char* at = buffer.get() + used;
    size_t need;
    if constexpr (kPlus) {
      fuse_entry_param e = entry_for(entry.attr);
      // Node id 0 tells the kernel "no attributes for this one": it will
      // look the name up when someone asks, instead of caching a guess.
      if (!entry.attr_complete) e.ino = 0;
      need = fuse_add_direntry_plus(req, at, size - used, name.c_str(), &e, entry.next_offset);
    } else {
      need = fuse_add_direntry(req, at, size - used, name.c_str(), &entry.attr, entry.next_offset);
    }
    if (need > size - used) return false;
    used += need;
    return true;
  };
  const int rc = list(static_cast<int64_t>(off), kPlus, DirFiller(fill));
  if (rc < 0) {
    fuse_reply_err(req, -rc);
  } else {
    fuse_reply_buf(req, buffer.get(), used);
  }
}

}  // namespace tpkg::fs

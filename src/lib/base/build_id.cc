#include "base/build_id.h"

#include <elf.h>
#include <link.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace tpkg {
namespace {

struct Search {
  uintptr_t address;  // an address inside the object we want
  std::string id;
};

// The NT_GNU_BUILD_ID note in one PT_NOTE segment, or "".
std::string BuildIdIn(const char* notes, size_t size) {
  size_t at = 0;
  while (at + sizeof(ElfW(Nhdr)) <= size) {
    ElfW(Nhdr) header;
    std::memcpy(&header, notes + at, sizeof header);
    const size_t name_at = at + sizeof header;
    const size_t desc_at = name_at + ((header.n_namesz + 3) & ~size_t{3});
    const size_t next = desc_at + ((header.n_descsz + 3) & ~size_t{3});
    if (next > size || desc_at > size) return {};
    if (header.n_type == NT_GNU_BUILD_ID && header.n_namesz == 4 &&
        std::memcmp(notes + name_at, "GNU", 4) == 0)
      return std::string(notes + desc_at, header.n_descsz);
    at = next;
  }
  return {};
}

int FindObject(dl_phdr_info* info, size_t, void* data) {
  auto* search = static_cast<Search*>(data);
  bool holds = false;
  for (int i = 0; i < info->dlpi_phnum && !holds; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    holds = ph.p_type == PT_LOAD && search->address >= start &&
            search->address < start + ph.p_memsz;
  }
  if (!holds) return 0;
  for (int i = 0; i < info->dlpi_phnum && search->id.empty(); ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_NOTE)
      search->id = BuildIdIn(reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr),
                             ph.p_memsz);
  }
  return 1;  // found the object: stop
}

}  // namespace

std::string_view OwnBuildId() {
  static const std::string id = [] {
    Search search{reinterpret_cast<uintptr_t>(&OwnBuildId), {}};
    dl_iterate_phdr(FindObject, &search);
    return search.id;
  }();
  return id;
}

}  // namespace tpkg

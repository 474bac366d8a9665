#include "journal_records.h"

#include <algorithm>
#include <cerrno>
#include <set>

#include "tpkg/error.h"
#include "tpkg/file_io.h"

namespace tpkg::fs {
namespace {

constexpr std::string_view kExternModules = ".data/extern_modules";
constexpr std::string_view kVersion = ".data/version";

size_t InsertionPoint(const std::vector<ZipEntry>& entries) {
  for (std::string_view anchor : {kExternModules, kVersion}) {
    for (size_t i = 0; i < entries.size(); ++i)
      if (entries[i].name == anchor) return i;
  }
  return entries.size();
}

// Reads up to `limit` bytes of `fd` from offset 0.
std::string ReadFd(int fd, uint64_t size, size_t limit, const std::string& name) {
  std::string out(static_cast<size_t>(std::min<uint64_t>(size, limit)), '\0');
  out.resize(PreadFull(fd, out, 0, name));
  return out;
}

}  // namespace

std::vector<std::string> OriginalRecordNames(const ZipReader& zip) {
  std::vector<std::string> names;
  for (const ZipEntry& e : zip.entries())
    if (!e.is_directory()) names.push_back(e.name);
  return names;
}

std::vector<std::string> JournalRecords::RecordNames() const {
  std::set<std::string> current;
  for (auto& [path, node] : journal_.Files()) current.insert(path);
  const ZipReader& zip = journal_.original();
  const std::vector<ZipEntry>& entries = zip.entries();
  std::vector<std::string> names;
  auto emit_new = [&] {
    for (const std::string& path : current)
      if (!zip.Find(path) && path != kVersion) names.push_back(path);
  };
  const size_t insert_at = InsertionPoint(entries);
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i == insert_at) emit_new();
    const std::string& name = entries[i].name;
    if (!entries[i].is_directory() && name != kVersion && current.count(name)) names.push_back(name);
  }
  if (insert_at == entries.size()) emit_new();
  if (current.count(std::string(kVersion))) names.emplace_back(kVersion);
  return names;
}

std::string JournalRecords::Read(const std::string& name, size_t limit) const {
  const std::optional<JournalNode> node = journal_.Stat(name);
  if (!node || node->is_dir) throw Error(Errc::kNotFound, "No record '" + name + "'", ENOENT);
  if (node->original) {
    const ZipReader& zip = journal_.original();
    if (limit >= node->original->size) return zip.ReadAll(*node->original);
    std::string out(limit, '\0');
    out.resize(zip.ReadAt(*node->original, 0, std::span<char>(out.data(), out.size())));
    return out;
  }
  const ScopedFd fd = journal_.OpenForRead(name);
  return ReadFd(fd.get(), node->size, limit, name);
}

std::string JournalRecords::ReadRecord(const std::string& name) const {
  return Read(name, SIZE_MAX);
}

std::string JournalRecords::ReadPrefix(const std::string& name, size_t n) const {
  return Read(name, n);
}

}  // namespace tpkg::fs

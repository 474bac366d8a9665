// ZipRecordSource: metadata's RecordSource over a ZipReader.
#include "tpkg/error.h"
#include "tpkg/metadata.h"

namespace tpkg {

std::vector<std::string> ZipRecordSource::RecordNames() const {
  std::vector<std::string> names;
  names.reserve(zip_.entries().size());
  for (const ZipEntry& e : zip_.entries()) {
    if (!e.shadowed) names.push_back(e.name);
  }
  return names;
}

const ZipEntry& ZipRecordSource::Entry(const std::string& name) const {
  const ZipEntry* entry = zip_.Find(name);
  if (!entry) throw Error(Errc::kNotFound, "No record '" + name + "' in " + zip_.path());
  return *entry;
}

std::string ZipRecordSource::ReadRecord(const std::string& name) const {
  return zip_.ReadAll(Entry(name));
}

// Reads only what is asked for: resources can be large.
std::string ZipRecordSource::ReadPrefix(const std::string& name, size_t n) const {
  const ZipEntry& entry = Entry(name);
  std::string out(static_cast<size_t>(std::min<uint64_t>(n, entry.size)), '\0');
  out.resize(zip_.ReadAt(entry, 0, std::span<char>(out.data(), out.size())));
  return out;
}

void ZipRecordSource::PrepareReads(std::span<const std::string> names) const {
  std::vector<const ZipEntry*> entries;
  entries.reserve(names.size());
  for (const std::string& name : names) {
    if (const ZipEntry* entry = zip_.Find(name)) entries.push_back(entry);
  }
  zip_.CheckRecords(entries);
}

std::vector<std::optional<std::string>> ZipRecordSource::ReadSmallRecords(
    std::span<const std::string> names) const {
  // A name the archive lacks stays nullopt: its ReadRecord says so.
  std::vector<const ZipEntry*> entries;
  std::vector<size_t> at;
  for (size_t i = 0; i < names.size(); ++i) {
    if (const ZipEntry* entry = zip_.Find(names[i])) {
      entries.push_back(entry);
      at.push_back(i);
    }
  }
  std::vector<std::optional<std::string>> out(names.size());
  std::vector<std::optional<std::string>> read = zip_.ReadSmallRecords(entries);
  for (size_t k = 0; k < read.size(); ++k) out[at[k]] = std::move(read[k]);
  return out;
}

uint64_t ZipRecordSource::RecordSize(const std::string& name) const { return Entry(name).size; }

std::optional<RecordContentId> ZipRecordSource::ContentOf(const std::string& name) const {
  const ZipEntry* entry = zip_.Find(name);
  if (!entry) return std::nullopt;
  return RecordContentId::Of(*entry);
}

}  // namespace tpkg

// AnalysisStore's digests by position: the SHA-256 of the home archive
// file's sources by their place in it (rules in analysis_store.h and
// archive_digests.h).
#include <utility>

#include "package/analysis_store.h"
#include "package/cache_file_format.h"
#include "tpkg/error.h"

namespace tpkg {
namespace {

constexpr std::string_view kDigestsSuffix = ".digests";

}  // namespace

std::string AnalysisStore::DigestsFileName(const FileStamp& stamp) {
  std::string key;
  PutStamp(key, stamp);
  return HexOf(Sha256(key)) + std::string(kDigestsSuffix);
}

void AnalysisStore::SetHomeFile(int fd, size_t records) {
  if (!enabled_) return;
  const std::optional<FileStamp> stamp = TrustedStampOf(fd);
  if (!stamp) return;
  home_fd_ = fd;
  std::lock_guard lock(digests_mu_);
  home_digests_.emplace(*stamp);
  home_records_ = records;
}

void AnalysisStore::LoadHomeDigests() {
  std::optional<FileStamp> stamp;
  {
    std::lock_guard lock(digests_mu_);
    if (!home_digests_) return;
    home_digests_->Settle();  // what the last analysis noted, found by this one
    stamp = home_digests_->stamp();
  }
  // Checked at every analysis that reads anything: a file changed since it
  // was opened (another program writing into it) is read and hashed from
  // then on.
  if (TrustedStampOf(home_fd_) != stamp) {
    std::lock_guard lock(digests_mu_);
    home_digests_.reset();
    return;
  }
  {
    std::lock_guard lock(digests_mu_);
    if (std::exchange(home_digests_read_, true)) return;  // by an earlier Load
  }
  if (!UsableFolder(/*create=*/false)) return;
  const std::string path = dir_ + "/" + DigestsFileName(*stamp);
  std::string bytes;
  if (!ReadCacheFile(path, &bytes)) return;
  std::string why;
  std::optional<ArchiveDigests> read = DecodeArchiveDigests(bytes, &why);
  if (!read) {
    Note("ignoring " + path + ": " + why);
    return;
  }
  if (read->stamp() != *stamp) return;  // another version's (names are hashes of stamps)
  std::lock_guard lock(digests_mu_);
  if (!home_digests_) return;
  if (home_digests_->size() == 0) {
    *home_digests_ = std::move(*read);
    return;
  }
  home_digests_->Reserve(home_digests_->size() + read->size());
  for (const ArchiveDigests::Entry& e : read->entries()) home_digests_->Add(e.content, e.digest);
  home_digests_->Settle();
}

std::shared_ptr<const StoredSource> AnalysisStore::FindByPlace(
    const std::string& record, const RecordContentId& content) const {
  Sha256Digest digest;
  {
    std::lock_guard lock(digests_mu_);
    if (!home_digests_) return nullptr;
    const Sha256Digest* known = home_digests_->Find(content);
    if (!known) return nullptr;
    digest = *known;
  }
  std::shared_ptr<const StoredSource> found = Find(record, digest);
  if (found) digests_known_.fetch_add(1, std::memory_order_relaxed);
  return found;
}

bool AnalysisStore::KnowsPlace(const RecordContentId& content) const {
  std::lock_guard lock(digests_mu_);
  return home_digests_ && home_digests_->Find(content);
}

void AnalysisStore::NoteDigest(const RecordContentId& content, const Sha256Digest& digest) {
  std::lock_guard lock(digests_mu_);
  if (!home_digests_ || home_digests_->Find(content)) return;
  // Room for every record at once: the vector never grows by copying itself.
  if (home_digests_->entries().capacity() < home_records_) home_digests_->Reserve(home_records_);
  home_digests_->Add(content, digest);
  home_digests_dirty_ = true;
}

void AnalysisStore::WriteDigestsFile(const FileStamp& stamp, const std::string& bytes) noexcept {
  try {
    if (!UsableFolder(/*create=*/true)) return;
    WriteCacheFile(DigestsFileName(stamp), bytes);
    Evict(kDigestsSuffix, kMaxDigestsFiles);
  } catch (const std::exception& e) {  // the file system's refusal, or out of memory
    try {
      Note(e.what());
    } catch (const std::exception&) {  // no memory for the note either
    }
  }
}

void AnalysisStore::WriteHomeDigests() noexcept {
  std::string bytes;
  FileStamp stamp;
  {
    std::lock_guard lock(digests_mu_);
    if (!home_digests_ || !home_digests_dirty_ || home_replaced_) return;
    try {
      home_digests_->Settle();
      bytes = EncodeArchiveDigests(*home_digests_);  // encoded here: no copy of the entries
    } catch (const std::exception&) {  // out of memory: not written, no harm
      return;
    }
    stamp = home_digests_->stamp();
    home_digests_dirty_ = false;
  }
  // Not for a file changed or removed since: no later process opens it.
  if (TrustedStampOf(home_fd_) == stamp) WriteDigestsFile(stamp, bytes);
}

void AnalysisStore::CarryDigests(const FileStamp& replaced, const FileStamp& saved,
                                 std::span<const CarriedRecord> carried) noexcept {
  try {
    ArchiveDigests out(saved);
    {
      std::lock_guard lock(digests_mu_);
      if (!home_digests_) return;
      home_replaced_ = true;
      // The digests were taken from the file as opened: only if the file the
      // save copied from was still that one when it was replaced.
      if (replaced != home_digests_->stamp()) return;
      home_digests_->Settle();
      out.Reserve(carried.size());
      for (const CarriedRecord& c : carried) {
        if (const Sha256Digest* digest = home_digests_->Find(c.before)) out.Add(c.after, *digest);
      }
    }
    if (out.size() != 0) WriteDigestsFile(saved, EncodeArchiveDigests(out));
  } catch (const std::exception&) {  // out of memory: nothing carried, the next mount hashes
  }
}

}  // namespace tpkg

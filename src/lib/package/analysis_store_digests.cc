// AnalysisStore's digests by position: the SHA-256 of the home archive
// file's sources by their place in it (rules in analysis_store.h and
// archive_digests.h).
#include <algorithm>
#include <utility>

#include "package/analysis_store.h"
#include "tpkg/error.h"

namespace tpkg {
namespace {

constexpr std::string_view kDigestsSuffix = ".digests";

}  // namespace

std::string AnalysisStore::DigestsFileName(const FileStamp& stamp) const {
  return HexOf(Sha256(stamp.Bytes())) + std::string(kDigestsSuffix);
}

void AnalysisStore::SetHomeFile(int fd) {
  if (!enabled_) return;
  const std::optional<FileStamp> stamp = TrustedStampOf(fd);
  if (!stamp) return;
  home_fd_ = fd;
  std::lock_guard lock(digests_mu_);
  home_digests_ = ArchiveDigests{*stamp, {}};
}

void AnalysisStore::LoadHomeDigests() {
  std::optional<FileStamp> stamp;
  {
    std::lock_guard lock(digests_mu_);
    if (!home_digests_) return;
    stamp = home_digests_->stamp;
  }
  // Checked at every analysis: a file changed in place since it was opened
  // (another program writing into it) is read and hashed from then on.
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
  if (read->stamp != *stamp) return;  // a file of another version (a hash collision of names)
  std::lock_guard lock(digests_mu_);
  if (!home_digests_) return;
  for (auto& [offset, e] : read->by_offset) home_digests_->by_offset.try_emplace(offset, e);
}

std::optional<Sha256Digest> AnalysisStore::KnownDigest(const RecordContentId& content) const {
  std::lock_guard lock(digests_mu_);
  if (!home_digests_) return std::nullopt;
  const Sha256Digest* digest = home_digests_->Find(content);
  if (!digest) return std::nullopt;
  digests_known_.fetch_add(1, std::memory_order_relaxed);
  return *digest;
}

void AnalysisStore::NoteDigest(const RecordContentId& content, const Sha256Digest& digest) {
  std::lock_guard lock(digests_mu_);
  if (!home_digests_ || home_digests_->Find(content)) return;
  home_digests_->Add(content, digest);
  home_digests_dirty_ = true;
}

void AnalysisStore::WriteHomeDigests() {
  std::string bytes, name;
  {
    std::lock_guard lock(digests_mu_);
    if (!home_digests_ || !home_digests_dirty_ || home_replaced_) return;
    // Not for a file changed or removed since: no later process opens it.
    if (TrustedStampOf(home_fd_) != home_digests_->stamp) return;
    bytes = EncodeArchiveDigests(*home_digests_);
    name = DigestsFileName(home_digests_->stamp);
    home_digests_dirty_ = false;
  }
  try {
    if (!UsableFolder(/*create=*/true)) return;
    WriteCacheFile(name, bytes);
    Evict(kDigestsSuffix, kMaxPacks);
  } catch (const std::exception& e) {  // the file system's refusal, or out of memory
    Note(e.what());
  }
}

void AnalysisStore::CarryDigests(const FileStamp& saved, std::span<const CarriedRecord> carried) {
  ArchiveDigests out{saved, {}};
  {
    std::lock_guard lock(digests_mu_);
    if (!home_digests_) return;
    home_replaced_ = true;
    out.by_offset.reserve(carried.size());
    for (const CarriedRecord& c : carried) {
      if (const Sha256Digest* digest = home_digests_->Find(c.before)) out.Add(c.after, *digest);
    }
  }
  if (out.by_offset.empty()) return;
  try {
    if (!UsableFolder(/*create=*/true)) return;
    WriteCacheFile(DigestsFileName(saved), EncodeArchiveDigests(out));
    Evict(kDigestsSuffix, kMaxPacks);
  } catch (const std::exception& e) {
    Note(e.what());
  }
}

}  // namespace tpkg

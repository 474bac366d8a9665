#include "journal/archive_identity.h"

#include <sys/stat.h>

#include <cstdio>
#include <ctime>

#include "base/file_util.h"

namespace tpkg {
namespace {

// FNV-1a, 64 bit: a few lines, no dependency, and plenty to tell two
// archives apart (this is an identity check, not a defence against forgery).
class Fnv1a {
 public:
  void Add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) hash_ = (hash_ ^ p[i]) * 0x100000001b3ULL;
  }
  void AddU64(uint64_t v) {
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(v >> (8 * i));
    Add(le, sizeof le);
  }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ULL;
};

}  // namespace

ArchiveIdentity ArchiveIdentity::Of(const ZipReader& zip) {
  ArchiveIdentity identity = OfFile(zip);
  identity.digest = DigestOf(zip);
  return identity;
}

ArchiveIdentity ArchiveIdentity::OfFile(const ZipReader& zip) {
  const struct stat st = FstatOrThrow(zip.fd(), zip.path());
  return ArchiveIdentity{static_cast<uint64_t>(st.st_size), 0, st.st_mtim.tv_sec,
                         st.st_mtim.tv_nsec};
}

uint64_t ArchiveIdentity::DigestOf(const ZipReader& zip) {
  Fnv1a h;
  h.AddU64(zip.entries().size());
  for (const ZipEntry& e : zip.entries()) {
    h.AddU64(e.full_name.size());
    h.Add(e.full_name.data(), e.full_name.size());
    for (uint64_t v :
         {uint64_t{e.method}, uint64_t{e.crc32}, e.compressed_size, e.size, e.local_header_offset})
      h.AddU64(v);
  }
  return h.value();
}

std::string ArchiveIdentity::Describe(bool with_digest) const {
  char when[64] = "?";
  const time_t t = static_cast<time_t>(mtime_sec);
  struct tm tm;
  // To the nanosecond: a change within the same second (a copy over the
  // archive) must not read "modified X; now: modified X".
  if (gmtime_r(&t, &tm)) {
    char seconds[32];
    strftime(seconds, sizeof seconds, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(when, sizeof when, "%s.%09lld UTC", seconds, static_cast<long long>(mtime_nsec));
  }
  char digest_text[64] = "";
  if (with_digest)
    snprintf(digest_text, sizeof digest_text, ", central directory digest %016llx",
             static_cast<unsigned long long>(digest));
  char text[192];
  snprintf(text, sizeof text, "%llu bytes%s, modified %s", static_cast<unsigned long long>(size),
           digest_text, when);
  return text;
}

JournalFate FateOfJournal(const ArchiveIdentity& made_for,
                          const std::optional<ArchiveIdentity>& last_commit,
                          bool has_archive_changes, const ArchiveIdentity& now) {
  if (made_for.SameArchive(now)) return JournalFate::kTakeEdits;
  if (last_commit && last_commit->SameArchive(now)) return JournalFate::kSaveCompleted;
  if (!has_archive_changes) return JournalFate::kDropEmpty;
  return JournalFate::kAnotherArchive;
}

}  // namespace tpkg

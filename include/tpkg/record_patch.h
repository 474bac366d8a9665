// record_patch.h: a record written in place without being copied: the
// archive's stored bytes overlaid with the chunks written since
// (Journal::OpenPatch, tpkg/journal.h).
//
// A small write into a large record costs O(write): the record's journal
// data file is a sparse file of the record's size that holds only the
// chunks (kChunkSize bytes, aligned) written so far; the manifest logs which
// chunks those are. Reads merge: a chunk written so far comes from the data
// file, any other byte below the base length from the archive, anything at
// or past the base length from the data file (zeros unless written).
//
//   std::shared_ptr<RecordPatch> patch = journal.OpenPatch(".data/0.storage");
//   if (!patch) ... deflated, or already a whole journal file: OpenForWrite
//   patch->Write(4096, bytes);           // copies at most two 64 KiB chunks
//   patch->Read(0, buffer);              // archive bytes and written chunks
//   patch->Resize(100);                  // truncate(2) / extend
//
// Durability (the journal's rules, tpkg/journal.h): the first write into a
// chunk copies the chunk's archive bytes into the data file and fdatasyncs
// them *before* the manifest entry that maps the chunk is written, so a
// machine crash can never show zeros where the archive had bytes: a mapped
// chunk holds the archive's bytes overlaid with some of the writes, as a
// local file whose unsynced writes were lost. Written bytes are durable
// after Fsync (Journal::Fsync, or fdatasync(fd()) then Journal::Commit).
// A shrink below the base length is fdatasync'd before it is logged.
//
// Integrity: Read() does not check the archive's CRC-32 (a range cannot be
// checked without the whole record): callers check it once first (the
// mount's RecordVerifier on base(); VerifyBase() for a save, which
// WriteBack does), so corrupt archive bytes are never served or saved.
//
// Thread safety: Read, Write, Resize and size may be called from any thread;
// the chunk map is guarded by the journal's mutex (held only to look up or
// extend the map, never during the data I/O of a write into mapped chunks).
// A RecordPatch keeps working after its file loses its name (unlink, rename
// over it); its writes are then no longer logged, as the file is gone from
// the namespace. The Journal must outlive every RecordPatch.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "tpkg/scoped_fd.h"
#include "tpkg/zip_reader.h"

namespace tpkg {

struct JournalState;  // private (src/lib/journal/journal_impl.h)
struct PatchState;    // private (src/lib/journal/journal_impl.h)

class RecordPatch {
 public:
  static constexpr uint64_t kChunkSize = 64 * 1024;
  // A patch holding this much is better as a whole journal file: every new
  // chunk costs a sync of its own (see Durability), a whole copy one sync.
  // The mount then turns it into one (Journal::OpenForWrite, which copies
  // the merged record once) and writes through that.
  static constexpr uint64_t kWholeCopyBytes = 16 * 1024 * 1024;

  // Made by Journal::OpenPatch / FindPatch.
  RecordPatch(JournalState& journal, uint64_t id, std::shared_ptr<PatchState> state,
              ScopedFd data_fd);
  ~RecordPatch();
  RecordPatch(const RecordPatch&) = delete;
  RecordPatch& operator=(const RecordPatch&) = delete;

  // The current size (the data file's).
  uint64_t size() const;
  // Copies up to out.size() bytes from `offset`; short only at the end.
  // kCorrupt when the archive ends inside the record.
  size_t Read(uint64_t offset, std::span<char> out) const;
  // pwrite(2) semantics (a write past the end extends with zeros), a short
  // count included: when the disk fills after some bytes were written it
  // returns their count (a retry of the rest then throws the reason), so
  // that a caller never reports bytes as unwritten that are in the file.
  size_t Write(uint64_t offset, std::span<const char> data);
  // truncate(2) semantics: bytes past `size` are gone; extending adds zeros.
  void Resize(uint64_t size);
  // Throws Error(kCorrupt) unless the whole original record matches its
  // CRC-32 (one sequential read of it).
  void VerifyBase() const;

  const ZipEntry& base() const;
  // Bytes of the chunks written so far (whole chunks).
  uint64_t mapped_bytes() const;
  // The data file (read/write): fdatasync it to make written bytes durable.
  int fd() const;
  uint64_t data_id() const { return id_; }

 private:
  JournalState& journal_;
  const uint64_t id_;
  const std::shared_ptr<PatchState> state_;
  const ScopedFd fd_;
};

}  // namespace tpkg

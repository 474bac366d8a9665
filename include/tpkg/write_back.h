// write_back.h: save the edits of a Journal into the archive, atomically.
//
//   tpkg::RegeneratedRecords metadata = {{".data/extern_modules", "numpy\n"}};
//   tpkg::WriteBackResult r = tpkg::WriteBack(journal, metadata);
//   log(r.summary);   // "saved /x/model.pt: 1 record from the journal, 57 copied raw, ..."
//   // on any failure: Error "Cannot save /x/model.pt: <reason>[; <reason>...]"
//
// What happens:
// 1. Plan (PlanWriteBack). The new archive holds the current files, in this
//    order:
//      a. the original records still present under their original name, in
//         their original order, except the trailer (c). ZIP directory
//         entries (`dir/`, made by zip tools, never by torch) are dropped:
//         torch needs none, and ZipWriter writes records only;
//      b. at the position of the original `.data/extern_modules` (else of
//         the first trailer record, else at the end), the records whose name
//         is new (created, or renamed from another name), sorted by name,
//         then regenerated records the original did not have: this is where
//         PackageExporter writes sources and stubs, just before its metadata;
//      c. the trailer, the records torch's writer adds when it finishes
//         (zip/torch_trailer.h), last and in its order: `.data/version` for
//         archives of torch 1.13; for torch 2.x archives (those with
//         `.data/serialization_id`) the version record, `byteorder` when
//         torch's finish step wrote it, and `.data/serialization_id`, which
//         is recomputed from the records before it exactly as torch does
//         (serialization_id.h; Source::kSerializationId).
//    A record is copied raw (ZipWriter::CopyRawRecord: bytes, compression
//    and CRC unchanged, no decoding) when its content is an original record,
//    including an edited file whose bytes ended up identical (compared byte
//    for byte: a matching CRC-32 proves nothing); edited files are streamed from their journal data
//    file; a regenerated record (`metadata`, e.g. `.data/extern_modules`) replaces the record of
//    that name, and is copied raw if its bytes are unchanged. Every record's data is 64-byte
//    aligned, as torch writes it.
// 2. Nothing changed (every current file holds the original record of its
//    name, no record added or removed; the layout changes of step 1 alone
//    do not count):
//    the archive is not touched at all (bytes and mtime identical) and the
//    journal is dropped. Regenerated metadata alone never causes a rewrite.
// 3. Otherwise: check that the journal's file system has room for the new
//    archive beside the old one (an upper bound of its size; the bytes of
//    raw copies are not counted on btrfs and XFS, where a reflink may share
//    them); if not, fail with ENOSPC naming the space needed and available,
//    before writing anything. Then write `<journal>/save.tmp` (created O_EXCL), give it the
//    original's owner, group and permission bits (what the saver may not
//    give, another user or a group they are not in, is left as it comes
//    and named in WriteBackResult::warnings; the group bits then grant no
//    more than the other bits), fsync it, read it back with the
//    strict ZipReader, run options.validate on it, record the commit in the
//    journal, rename it over the archive, fsync the directory, and drop the
//    journal.
//
// What blocks a write-back (the archive stays intact, the edits stay in the
// journal, the temp file is removed, and the Error names the archive and
// every reason): the archive was replaced or rewritten by another program
// since it was opened (ESTALE; saving would destroy that change); any OS
// error while writing, syncing or renaming (ENOSPC,
// EDQUOT, EROFS, EACCES, EPERM on an immutable directory, EIO); a new
// archive the strict reader refuses (e.g. two names differing only in case,
// which torch's case-insensitive lookup could confuse); an Error thrown by
// options.validate (e.g. the package would not load, metadata analysis
// failed).
//
// Crash safety: a SIGKILL or power loss at any point leaves the archive
// either old or new, never partial (the rename is the only change to it).
// The next Journal::OpenOrCreate removes save.tmp; if the rename had
// happened it recognises the committed archive and removes the journal, else
// it recovers the edits as usual.
//
// Thread safety: call when no other thread uses the journal (after the FUSE
// loop has returned).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tpkg/journal.h"
#include "tpkg/zip_reader.h"

namespace tpkg {

// Regenerated metadata records, by record name (".data/extern_modules").
using RegeneratedRecords = std::map<std::string, std::string>;

enum class WriteBackStage {
  kTempWritten,  // save.tmp complete and fsync'd
  kCommitted,    // the commit entry is durable in the journal
  kRenamed,      // save.tmp has replaced the archive
};

struct WriteBackOptions {
  // Runs on the finished temp archive before it replaces the original;
  // throw Error to refuse the save (its message becomes one of the reasons).
  std::function<void(const std::string& temp_path)> validate;
  // Refuse the save before writing anything when the journal's file system
  // has less free space than the new archive needs (rule 3 above); false
  // only to exercise an ENOSPC in the middle of the write.
  bool check_free_space = true;
  // For tests: called after each stage (crash injection).
  std::function<void(WriteBackStage)> on_stage;
};

struct PlannedRecord {
  // kSerializationId: torch 2.x's id of the records written before it.
  enum class Source { kRaw, kJournal, kRegenerated, kSerializationId };
  std::string name;  // record name in the new archive
  Source source = Source::kRaw;
  const ZipEntry* entry = nullptr;     // kRaw: the original entry to copy
  const std::string* bytes = nullptr;  // kRegenerated: points into the metadata map
};

struct WritePlan {
  std::vector<PlannedRecord> records;  // in write order
  bool changed = false;                // false: the user changed no record (see above)
};

// The names of the records a write-back writes, in write order (rules a-c
// above): the journal's current files plus the records of `metadata`. The
// daemon lists a mount's records in this order (tpkgfs's JournalRecords), so
// that the metadata it regenerates is what the saved archive will hold.
std::vector<std::string> WriteBackOrder(const Journal& journal,
                                        const RegeneratedRecords& metadata = {});

// The records a write-back would write, in order (see the rules above).
// The archive is journal.original(): the journal's namespace refers to its
// entries, so no other reader could stand in for it.
WritePlan PlanWriteBack(const Journal& journal, const RegeneratedRecords& metadata);

struct WriteBackResult {
  bool written = false;  // false: nothing changed; the archive was not touched
  uint64_t size = 0;     // size of the new archive
  int raw_copied = 0;
  int from_journal = 0;
  int regenerated = 0;  // the serialization id included
  // What the save could not keep but did not refuse for: the archive's
  // owner or group (a non-root saver, or one outside the archive's group).
  std::vector<std::string> warnings;
  std::string summary;  // one line for the daemon's log, warnings included
};

// Saves the journal's edits into journal.archive_path() (see above).
WriteBackResult WriteBack(Journal& journal, const RegeneratedRecords& metadata,
                          const WriteBackOptions& options = {});

// Saves the journal's edits to another path: the archive WriteBack would
// write (same plan, same free-space check, in `out`'s folder; the strict
// reader and options.validate on the result), written to a temp file beside
// `out` and then linked to `out`, which must not exist (never overwritten:
// EEXIST). The new file gets the archive's permission bits and the caller's
// owner. The archive and its journal are left exactly as they were: the
// edits stay pending, so nothing is lost if `out` is not what the user
// wanted (drop them with Journal::Drop, `tpkg edits --discard`, once `out`
// is right). Written even when no record changed (`out` is then the
// archive's records in the layout rules above).
// Throws Error "Cannot save the edits of <archive> to <out>: <reason>".
WriteBackResult WriteBackTo(const Journal& journal, const std::string& out,
                            const RegeneratedRecords& metadata,
                            const WriteBackOptions& options = {});

}  // namespace tpkg

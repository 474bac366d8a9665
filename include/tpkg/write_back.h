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
//         their original order, except the trailer (c); likewise the
//         archive's folder entries (`dir/`, made by zip tools, never by
//         torch) whose folder still exists under that name (the entry of the
//         prefix folder itself is dropped);
//      b. at the position of the original `.data/extern_modules` (else of
//         the first trailer record, else at the end), the records whose name
//         is new (created, or renamed from another name) and the new folder
//         entries (below), sorted by name, then regenerated records the
//         original did not have: this is where PackageExporter writes
//         sources and stubs, just before its metadata;
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
//    Attributes (zip_writer.h RecordAttributes) of records and folder
//    entries: the permission bits when they differ from the mount's default
//    (kDefaultFileMode, kDefaultFolderMode) or the archive had some for that
//    record; the mtime (whole seconds) set through the mount (utimens, e.g.
//    `touch -d`) while it is still the current one, else the archive's own
//    while the content is unchanged, else none: the incidental time of a
//    write or of a folder's listing change is not stored, and such a file
//    shows the archive file's time (the save's) afterwards. So the records
//    nobody touched keep their headers (torch's: none), and an edit made
//    with an editor or `sed -i` saves what torch itself would write. A
//    folder gets an entry `dir/` when mkdir made it and it is empty, it has
//    attributes to keep, or the archive had one for it (a folder the
//    archive's records implied goes with its last file, as in the
//    archive). torch's reader lists such entries as records and
//    PackageImporter ignores them (doc/format.md §2.5). The root (the
//    prefix folder) gets none: its times are the archive file's.
// 2. Nothing changed (every current file holds the original record of its
//    name with the original's attributes, no record added or removed, the
//    same folder entries with the same attributes; the layout changes of
//    step 1 alone do not count):
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
//    more than the other bits), read it back with the strict ZipReader
//    (while the disk writes it), fsync it, run options.validate on it,
//    record the commit in the journal, rename it over the archive, fsync the
//    directory, and drop the journal.
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
// loop has returned); PendingMetadata::regenerate may read the journal and
// its archive meanwhile (both guard their own reads).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tpkg/analysis_cache.h"  // SavedArchive
#include "tpkg/journal.h"
#include "tpkg/zip_reader.h"
#include "tpkg/zip_writer.h"  // RecordAttributes

namespace tpkg {

// Regenerated metadata records, by record name (".data/extern_modules").
using RegeneratedRecords = std::map<std::string, std::string>;

enum class WriteBackStage {
  kTempWritten,  // save.tmp complete and fsync'd
  kCommitted,    // the commit entry is durable in the journal
  kExchanged,  // save.tmp and the archive swapped names; the file taken off the path not judged yet
  kRenamed,    // save.tmp has replaced the archive
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
  // For tests: the system call of the early fsync of a save's records
  // (fsync(2) when empty), to make it fail as a disk can.
  std::function<int(int fd)> early_fsync;
};

struct PlannedRecord {
  // kSerializationId: torch 2.x's id of the records written before it.
  // kFolder: a folder entry (`name` ends with '/').
  enum class Source { kRaw, kJournal, kRegenerated, kSerializationId, kFolder };
  std::string name;  // record name in the new archive
  Source source = Source::kRaw;
  const ZipEntry* entry = nullptr;     // kRaw: the original entry to copy; kFolder: the
                                       // archive's entry for that folder, if any
  const std::string* bytes = nullptr;  // kRegenerated: points into the metadata map
  RecordAttributes attrs;              // what the headers say besides the bytes
};

struct WritePlan {
  std::vector<PlannedRecord> records;  // in write order
  bool changed = false;                // false: the user changed no record (see above)
  // How many records at the start no metadata can change: those before the
  // first record that the metadata names, regenerates, or that belongs to
  // torch's trailer (where the metadata goes, rules 1b and 1c).
  size_t before_metadata = 0;
};

// The names of the records a write-back writes, in write order (rules a-c
// above), folder entries as "dir/": the journal's current files plus the records of `metadata`. The
// daemon lists a mount's records in this order (tpkgfs's JournalRecords), so
// that the metadata it regenerates is what the saved archive will hold. One
// record more may be written, last: a torch 2.x archive's
// `.data/serialization_id` deleted through the mount, which the write-back
// computes from the records before it (no metadata depends on it).
std::vector<std::string> WriteBackOrder(const Journal& journal,
                                        const RegeneratedRecords& metadata = {});

// The entries of `original` a write-back leaves out, said for a warning, or
// "" when there are none: those torch never reads (ZipEntry::shadowed: a
// second entry of one name, or one outside the prefix folder), which only a
// non-strict reader lists. Leaving them out keeps what torch loads and makes
// the archive pass the strict reader.
std::string LeftOutEntries(const ZipReader& original);

// The emptied folders a write-back leaves out, said for a warning, or ""
// when there are none: folders the archive's records implied (no entry, not
// made by mkdir, no attributes to keep) whose files were all deleted or moved
// away. The mount still shows them, the saved archive has no such folder, as
// torch's exporter would write it (an entry `dir/` would make PackageImporter
// import `dir` as an empty package): said, so that nothing goes silently.
std::string LeftOutEmptiedFolders(const Journal& journal);

// The mode or time given to the mount's top folder, said for a warning, or
// "": they are not saved (an archive has no entry for its prefix folder, and
// an entry `prefix/` would be read as a package), and are said so that a
// chmod or touch of it does not go silently.
std::string LeftOutRootAttributes(const Journal& journal);

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
  int folders = 0;      // folder entries (write_back.h rule 1)
  // The stamps of the archive replaced and of the one written, and the
  // records copied unchanged (nullopt when nothing was written or a file's
  // stamp vouches for nothing: tpkg/file_stamp.h): what lets the analysis
  // cache know the saved file's sources without reading them
  // (RecordAnalysisCache::RememberSavedArchive).
  std::optional<SavedArchive> saved_archive;
  // What the save could not keep but did not refuse for: the archive's
  // owner or group (a non-root saver, or one outside the archive's group).
  std::vector<std::string> warnings;
  std::string summary;  // one line for the daemon's log, warnings included
};

// Saves the journal's edits into journal.archive_path() (see above).
WriteBackResult WriteBack(Journal& journal, const RegeneratedRecords& metadata,
                          const WriteBackOptions& options = {});

// Metadata still to be computed when the save starts. `regenerate` runs on a
// thread of WriteBack's own while it plans with `expected` and writes the
// records no metadata can change (WritePlan::before_metadata). Then the plan
// is made again with what `regenerate` returned (unless that is `expected`),
// and the records written so far are kept only if the new plan starts with
// the same ones; else the temp file is written again from the start. When
// the plan with `expected` changes nothing, nothing is written ahead and the
// plan with the computed metadata decides (an edit of the very record the
// metadata replaces shows only there). So the archive, and whether there is
// one, are always what WriteBack(journal, regenerate()) gives, and a save
// waits for the longer of the analysis and the copy instead of their sum.
// The free-space check (rule 3) counts the plan with `expected`: a
// regenerated record longer than the archive's own is not in it.
// An Error from `regenerate` comes first: it is the one thrown, as it is,
// even when the write failed too (as if the analysis had run before the
// write). Without a thread (none could be started) `regenerate` runs first,
// on the caller's.
struct PendingMetadata {
  RegeneratedRecords expected;  // the likely result; no record it names is written ahead
  std::function<RegeneratedRecords()> regenerate;
};
WriteBackResult WriteBackPending(Journal& journal, const PendingMetadata& metadata,
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

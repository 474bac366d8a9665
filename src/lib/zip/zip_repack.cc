#include "tpkg/zip_repack.h"

#include <fcntl.h>

#include <vector>

#include "base/atomic_file.h"
#include "tpkg/zip_writer.h"
#include "zip/fd_sink.h"

namespace tpkg {
namespace {

// Reads `entry` through RecordStream, which throws kCorrupt naming the record
// when its bytes do not match its CRC-32 (or do not inflate): a raw copy would
// carry the damage into a new file that looks freshly written. The copy that
// follows reads the same bytes again from the page cache. (One record at a
// time, beside its copy; VerifyRecordData, zip_reader.h, checks a whole
// archive first.)
void CheckOneRecordData(const ZipReader& src, const ZipEntry& entry, std::vector<char>& buffer) {
  RecordStream in(src, entry);
  while (in.Read(buffer) != 0) {
  }
}

}  // namespace

uint64_t RepackArchive(const ZipReader& src, const std::string& out_path,
                       const std::string& prefix, const ProgressCallback& progress) {
  AtomicFile out(out_path);
  // The source is read once from start to end, as cp does: ask for deep
  // readahead (doubles the kernel's window; on a cold cache this halves the
  // time).
  ::posix_fadvise(src.fd(), 0, 0, POSIX_FADV_SEQUENTIAL);
  uint64_t total = 0;
  for (const ZipEntry& e : src.entries())
    if (!e.is_directory()) total += e.compressed_size;
  uint64_t done = 0;
  uint64_t size = 0;
  std::vector<char> buffer(256 * 1024);
  {
    // The sink borrows out's descriptor, which Commit() closes.
    ZipWriter writer = ZipWriter::ToSink(std::make_unique<FdSink>(out.fd(), out_path), prefix);
    for (const ZipEntry& e : src.entries()) {
      if (e.is_directory()) continue;
      CheckOneRecordData(src, e, buffer);
      writer.CopyRawRecord(src, e);
      done += e.compressed_size;
      ReportProgress(progress, done, total);
    }
    size = writer.Finish();
  }
  out.Commit();
  return size;
}

}  // namespace tpkg

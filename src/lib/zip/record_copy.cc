#include "zip/record_copy.h"

#include <algorithm>
#include <vector>

#include "base/file_util.h"

namespace tpkg {

void CopyRecordToFd(const ZipReader& zip, const ZipEntry& entry, int dst_fd, uint64_t limit,
                    const std::string& what) {
  if (entry.method == kMethodStored) {
    CopyRange(zip.fd(), zip.DataOffset(entry), dst_fd, 0, std::min(limit, entry.size), what);
    return;
  }
  // Inflated through the whole record even past `limit`, so that the size
  // and CRC-32 RecordStream checks at the end vouch for the bytes kept.
  RecordStream in(zip, entry);
  std::vector<char> buf(256 * 1024);
  uint64_t produced = 0;
  while (const size_t n = in.Read(buf)) {
    if (produced < limit) {
      const size_t keep = static_cast<size_t>(std::min<uint64_t>(n, limit - produced));
      PwriteAll(dst_fd, std::span<const char>(buf.data(), keep), produced, what);
    }
    produced += n;
  }
}

}  // namespace tpkg

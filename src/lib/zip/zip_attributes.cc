#include "zip/zip_attributes.h"

#include <sys/stat.h>
#include <time.h>

#include <algorithm>

#include "zip/zip_format.h"

namespace tpkg {
namespace {

using namespace zipfmt;

constexpr uint16_t kSpecVersion = 20;  // the low byte of "version made by": ZIP 2.0

}  // namespace

DosDateTime ToDosDateTime(int64_t mtime) {
  const time_t t = static_cast<time_t>(mtime);
  struct tm tm {};
  if (localtime_r(&t, &tm) == nullptr) return {};
  const int year = std::clamp(tm.tm_year + 1900, 1980, 2107);
  DosDateTime dos;
  dos.date = static_cast<uint16_t>(((year - 1980) << 9) | ((tm.tm_mon + 1) << 5) | tm.tm_mday);
  dos.time = static_cast<uint16_t>((tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec / 2));
  return dos;
}

std::optional<int64_t> FromDosDateTime(DosDateTime dos) {
  if (dos.date == 0) return std::nullopt;
  struct tm tm {};
  tm.tm_year = 80 + (dos.date >> 9);
  tm.tm_mon = ((dos.date >> 5) & 0x0f) - 1;
  tm.tm_mday = dos.date & 0x1f;
  tm.tm_hour = dos.time >> 11;
  tm.tm_min = (dos.time >> 5) & 0x3f;
  tm.tm_sec = (dos.time & 0x1f) * 2;
  tm.tm_isdst = -1;
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday == 0 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 59)
    return std::nullopt;
  const time_t t = mktime(&tm);
  if (t == static_cast<time_t>(-1)) return std::nullopt;
  return static_cast<int64_t>(t);
}

std::string TimestampBlock(int64_t mtime) {
  std::string block;
  Append16(block, kTimestampExtraId);
  Append16(block, 5);
  block.push_back(static_cast<char>(kTimestampHasMtime));
  Append32(block, static_cast<uint64_t>(mtime) & 0xffffffff);
  return block;
}

uint16_t VersionMadeBy(const RecordAttributes& attrs) {
  return attrs.mode ? static_cast<uint16_t>((kHostUnix << 8) | kSpecVersion) : 0;
}

uint32_t ExternalAttributes(const RecordAttributes& attrs, bool directory) {
  const uint32_t dos = directory ? kDosDirectoryAttribute : 0;
  if (!attrs.mode) return dos;
  const uint32_t type = directory ? S_IFDIR : S_IFREG;
  return ((type | (*attrs.mode & 07777)) << 16) | dos;
}

void ReadAttributes(const char* header, std::string_view extra, ZipEntry* entry) {
  const uint32_t external = Load32(header + central::kExternalAttributes);
  if ((Load16(header + central::kVersionMadeBy) >> 8) == kHostUnix && (external >> 16) != 0)
    entry->mode = (external >> 16) & 07777;
  bool well_formed = true;  // a malformed extra field is the ZIP64 parser's to report
  if (auto ut = FindExtraBlock(extra, kTimestampExtraId, well_formed);
      ut && ut->size() >= 5 && (static_cast<uint8_t>((*ut)[0]) & kTimestampHasMtime)) {
    entry->mtime = static_cast<int64_t>(Load32(ut->data() + 1));
    return;
  }
  entry->mtime =
      FromDosDateTime({Load16(header + central::kDosTime), Load16(header + central::kDosDate)});
}

}  // namespace tpkg

// TorchTrailer() and the public TorchWriterTrailer(): which records torch's
// finish step wrote (rules in zip/torch_trailer.h).
#include "zip/torch_trailer.h"

#include <algorithm>
#include <string_view>

#include "tpkg/serialization_id.h"
#include "tpkg/torch_writer_trailer.h"

namespace tpkg {
namespace {

constexpr std::string_view kPackageVersion = ".data/version";
constexpr std::string_view kSaveVersion = "version";
constexpr std::string_view kByteorder = "byteorder";

}  // namespace

std::vector<std::string> TorchTrailer(const std::vector<ZipEntry>& entries) {
  const auto find = [&](std::string_view name) {
    return std::find_if(entries.begin(), entries.end(),
                        [&](const ZipEntry& e) { return e.name == name; });
  };
  if (find(kSerializationIdRecord) == entries.end()) return {std::string(kPackageVersion)};

  std::vector<std::string> trailer;
  if (find(kPackageVersion) != entries.end()) {
    trailer.emplace_back(kPackageVersion);
  } else if (find(kSaveVersion) != entries.end()) {
    trailer.emplace_back(kSaveVersion);
  }
  const auto is_trailer_record = [&](const ZipEntry& e) {
    return e.is_directory() || e.name == kSerializationIdRecord ||
           (!trailer.empty() && e.name == trailer.front());
  };
  if (const auto byteorder = find(kByteorder);
      byteorder != entries.end() && std::all_of(byteorder + 1, entries.end(), is_trailer_record)) {
    trailer.emplace_back(kByteorder);
  }
  trailer.emplace_back(kSerializationIdRecord);
  return trailer;
}

std::vector<std::string> TorchWriterTrailer(const ZipReader& zip) {
  return TorchTrailer(zip.entries());
}

}  // namespace tpkg

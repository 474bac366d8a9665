// The analysis cache's file framing (rules in cache_file_format.h).
#include "package/cache_file_format.h"

#include <cstring>
#include <string>

namespace tpkg {

std::optional<std::string_view> Unseal(std::string_view bytes, std::string_view magic,
                                       uint32_t version, std::string_view what, std::string* why) {
  const size_t sum_size = Sha256Digest().size();
  if (bytes.size() < magic.size() + sum_size || !bytes.starts_with(magic)) {
    *why = "not " + std::string(what);
    return std::nullopt;
  }
  const std::string_view body = bytes.substr(0, bytes.size() - sum_size);
  const Sha256Digest sum = Sha256(body);
  if (std::memcmp(sum.data(), bytes.data() + body.size(), sum_size) != 0) {
    *why = "its checksum does not match (damaged or cut short)";
    return std::nullopt;
  }
  try {
    CacheFileReader in(body.substr(magic.size()));
    if (const uint32_t found = in.U32(); found != version) {
      *why = "format version " + std::to_string(found) + ", not " + std::to_string(version);
      return std::nullopt;
    }
  } catch (const std::out_of_range& e) {
    *why = e.what();
    return std::nullopt;
  }
  return body.substr(magic.size() + 4);
}

}  // namespace tpkg

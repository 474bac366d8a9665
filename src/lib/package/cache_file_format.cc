// The analysis cache's file framing (rules in cache_file_format.h).
#include "package/cache_file_format.h"

#include <cstring>

namespace tpkg {

std::optional<std::string_view> Unseal(std::string_view bytes, std::string_view magic,
                                       std::string_view what, std::string* why) {
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
  return body.substr(magic.size());
}

}  // namespace tpkg

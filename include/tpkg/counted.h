// counted.h: a count and its noun for the messages people read ("1 record",
// "2 records"), so that every message agrees in number.
//
//   summary += tpkg::Counted(n, "record", "records") + " from the journal";
//
// Thread safety: a pure function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tpkg {

inline std::string Counted(uint64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

}  // namespace tpkg

#include "mount_table.h"

#include <charconv>
#include <fstream>
#include <sstream>

namespace tpkg::fs {
namespace {

// mountinfo writes space, tab, newline and backslash as \ooo.
std::string Unescape(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      const std::string_view digits = field.substr(i + 1, 3);
      unsigned value = 0;
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + 3, value, 8);
      if (ec == std::errc() && end == digits.data() + 3) {
        out += static_cast<char>(value);
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

bool HasOption(std::string_view list, std::string_view option) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    if (list.substr(0, comma) == option) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

bool MountInfo::read_only() const {
  return HasOption(mount_options, "ro") || HasOption(super_options, "ro");
}

std::optional<uid_t> MountInfo::fuse_owner() const {
  std::string_view list = super_options;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view option = list.substr(0, comma);
    if (option.starts_with("user_id=")) {
      uid_t uid = 0;
      const std::string_view digits = option.substr(8);
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), uid);
      if (ec == std::errc() && end == digits.data() + digits.size()) return uid;
    }
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return std::nullopt;
}

std::string ReadMountInfo() {
  std::ifstream in("/proc/self/mountinfo");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<MountInfo> ParseMountInfo(std::string_view text) {
  // 36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
  std::vector<MountInfo> mounts;
  std::istringstream lines{std::string(text)};
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> f;
    std::istringstream words(line);
    for (std::string w; words >> w;) f.push_back(w);
    size_t sep = 6;
    while (sep < f.size() && f[sep] != "-") ++sep;
    if (sep + 2 >= f.size()) continue;  // no separator, or no fstype and source
    MountInfo m;
    const size_t colon = f[2].find(':');
    if (colon == std::string::npos) continue;
    auto [e1, ec1] = std::from_chars(f[2].data(), f[2].data() + colon, m.major);
    auto [e2, ec2] = std::from_chars(f[2].data() + colon + 1, f[2].data() + f[2].size(), m.minor);
    if (ec1 != std::errc() || ec2 != std::errc()) continue;
    m.mount_point = Unescape(f[4]);
    m.mount_options = f[5];
    m.fstype = Unescape(f[sep + 1]);
    m.source = Unescape(f[sep + 2]);
    if (sep + 3 < f.size()) m.super_options = f[sep + 3];
    mounts.push_back(std::move(m));
  }
  return mounts;
}

const MountInfo* TopMountAt(const std::vector<MountInfo>& mounts, std::string_view path) {
  for (auto it = mounts.rbegin(); it != mounts.rend(); ++it)
    if (it->mount_point == path) return &*it;
  return nullptr;
}

const MountInfo* MountWithDevice(const std::vector<MountInfo>& mounts, unsigned major,
                                 unsigned minor) {
  for (const MountInfo& m : mounts)
    if (m.major == major && m.minor == minor && m.fstype.starts_with("fuse")) return &m;
  return nullptr;
}

}  // namespace tpkg::fs

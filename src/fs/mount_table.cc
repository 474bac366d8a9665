#include "mount_table.h"

#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>
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

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The mount namespace of `proc` ("/proc/self", "/proc/123") as "mnt:[4026531841]", "" when
// unknown.
std::string MountNamespaceOf(const std::string& proc) {
  char target[64];
  const ssize_t n = ::readlink((proc + "/ns/mnt").c_str(), target, sizeof target);
  return n > 0 ? std::string(target, static_cast<size_t>(n)) : std::string();
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

std::string ReadMountInfo() { return ReadFile("/proc/self/mountinfo"); }

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

std::vector<pid_t> OtherNamespacesWithDevice(unsigned major, unsigned minor) {
  std::set<std::string> seen{MountNamespaceOf("/proc/self")};
  std::vector<pid_t> holders;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    pid_t pid = 0;
    auto [end, err] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (err != std::errc() || end != name.data() + name.size()) continue;
    const std::string proc = entry.path();
    const std::string ns = MountNamespaceOf(proc);
    if (ns.empty() || seen.contains(ns)) continue;
    const std::string text = ReadFile(proc + "/mountinfo");
    if (text.empty()) continue;  // gone meanwhile: another process may tell for its namespace
    seen.insert(ns);
    if (MountWithDevice(ParseMountInfo(text), major, minor)) holders.push_back(pid);
  }
  return holders;
}

}  // namespace tpkg::fs

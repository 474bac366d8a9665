#include "mount_registry.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <utility>

#include "log.h"
#include "process_info.h"
#include "tpkg/line_escape.h"
#include "tpkg/scoped_fd.h"

namespace tpkg::fs {
namespace {

constexpr MountState kStates[] = {MountState::kStarting, MountState::kServing, MountState::kSaving};

template <typename T>
bool ParseInto(std::string_view text, T* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

// A registry folder we may trust: a real folder of `owner`, private to it.
bool TrustedFolder(const std::string& dir, uid_t owner) {
  struct stat st;
  return ::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == owner &&
         (st.st_mode & 077) == 0;
}

// The ended record's file name for `mountpoint`: FNV-1a, written out here
// so that every build names a mountpoint's file alike.
std::string EndedName(const std::string& mountpoint) {
  uint64_t hash = 14695981039346656037ull;
  for (const unsigned char c : mountpoint) hash = (hash ^ c) * 1099511628211ull;
  char name[32];
  std::snprintf(name, sizeof name, "ended-%016llx", static_cast<unsigned long long>(hash));
  return name;
}

std::optional<MountRecord> ReadRecord(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return ParseMountRecord(text.str());
}

// Removes the ended records older than kEndedRecordSeconds, which nobody
// reports any more: every daemon does so when it registers and when it
// leaves its own, so that they do not pile up in the registry.
void RemoveExpiredEndedRecords(const std::string& dir, int64_t now) {
  const ScopedDir d(::opendir(dir.c_str()));
  if (!d) return;
  while (const dirent* e = ::readdir(d.get())) {
    const std::string name = e->d_name;
    if (!name.starts_with("ended-")) continue;
    const std::optional<MountRecord> r = ReadRecord(dir + "/" + name);
    if (!r || now - r->ended > kEndedRecordSeconds) ::unlink((dir + "/" + name).c_str());
  }
}

}  // namespace

std::string_view MountStateName(MountState state) {
  switch (state) {
    case MountState::kStarting: return "starting";
    case MountState::kServing: return "serving";
    case MountState::kSaving: return "saving";
  }
  return "starting";
}

std::string FormatMountRecord(const MountRecord& r) {
  std::ostringstream out;
  out << "pid " << r.pid << "\nstart_time " << r.start_time << "\nstarted " << r.started
      << "\nstate " << MountStateName(r.state) << "\nwritable " << (r.writable ? 1 : 0)
      << "\narchive " << EscapeLine(r.archive) << "\narchive_dev " << r.archive_dev
      << "\narchive_ino " << r.archive_ino << "\nmountpoint " << EscapeLine(r.mountpoint)
      << "\nfuse_device " << r.fuse_major << ":" << r.fuse_minor << "\njournal "
      << EscapeLine(r.journal) << "\nlog " << EscapeLine(r.log) << "\n";
  if (r.ended != 0) out << "ended " << r.ended << "\n";
  if (!r.unlogged_outcome.empty())
    out << "unlogged_outcome " << EscapeLine(r.unlogged_outcome) << "\n";
  return out.str();
}

std::optional<MountRecord> ParseMountRecord(std::string_view text) {
  MountRecord r;
  bool has_pid = false, has_start = false, has_state = false, has_archive = false,
       has_mountpoint = false;
  std::istringstream lines{std::string(text)};
  for (std::string line; std::getline(lines, line);) {
    const size_t space = line.find(' ');
    const std::string key = line.substr(0, space);
    const std::string_view value =
        space == std::string::npos ? std::string_view() : std::string_view(line).substr(space + 1);
    if (key == "pid") {
      has_pid = ParseInto(value, &r.pid);
    } else if (key == "start_time") {
      has_start = ParseInto(value, &r.start_time);
    } else if (key == "started") {
      ParseInto(value, &r.started);
    } else if (key == "state") {
      for (MountState s : kStates)
        if (MountStateName(s) == value) r.state = s, has_state = true;
    } else if (key == "writable") {
      r.writable = value == "1";
    } else if (key == "archive") {
      r.archive = UnescapeLine(value), has_archive = true;
    } else if (key == "archive_dev") {
      ParseInto(value, &r.archive_dev);
    } else if (key == "archive_ino") {
      ParseInto(value, &r.archive_ino);
    } else if (key == "mountpoint") {
      r.mountpoint = UnescapeLine(value), has_mountpoint = true;
    } else if (key == "fuse_device") {
      const size_t colon = value.find(':');
      if (colon != std::string_view::npos) {
        ParseInto(value.substr(0, colon), &r.fuse_major);
        ParseInto(value.substr(colon + 1), &r.fuse_minor);
      }
    } else if (key == "journal") {
      r.journal = UnescapeLine(value);
    } else if (key == "log") {
      r.log = UnescapeLine(value);
    } else if (key == "ended") {
      ParseInto(value, &r.ended);
    } else if (key == "unlogged_outcome") {
      r.unlogged_outcome = UnescapeLine(value);
    }
  }
  if (!has_pid || !has_start || !has_state || !has_archive || !has_mountpoint) return std::nullopt;
  return r;
}

std::string RegistryDirFor(uid_t uid) {
  if (uid == 0) return "/run/tpkgfs";
  const std::string run_user = "/run/user/" + std::to_string(uid);
  struct stat st;
  if (::stat(run_user.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid)
    return run_user + "/tpkgfs";
  return "/tmp/tpkgfs-" + std::to_string(uid);
}

std::vector<MountRecord> LiveRecords(const std::string& dir, uid_t owner,
                                     std::vector<MountRecord>* gone) {
  std::vector<MountRecord> records;
  if (!TrustedFolder(dir, owner)) return records;
  const ScopedDir d(::opendir(dir.c_str()));
  if (!d) return records;
  while (const dirent* e = ::readdir(d.get())) {
    const std::string name = e->d_name;
    pid_t pid = 0;
    if (!ParseInto(std::string_view(name), &pid)) continue;  // ".", "..", temp files
    const std::string path = dir + "/" + name;
    std::optional<MountRecord> r = ReadRecord(path);
    if (r && r->pid == pid && ProcessAlive(r->pid, r->start_time)) {
      records.push_back(std::move(*r));
    } else if (!ProcessStartTime(pid) || r) {
      ::unlink(path.c_str());  // stale (permission errors leave it: harmless)
      if (r && r->pid == pid && gone) gone->push_back(std::move(*r));
    }
  }
  return records;
}

std::optional<MountRecord> RecordOfProcess(pid_t pid) {
  std::vector<uid_t> owners{::geteuid()};
  if (const std::optional<uid_t> uid = ProcessUid(pid); uid && *uid != owners[0])
    owners.insert(owners.begin(), *uid);
  for (uid_t owner : owners) {
    for (MountRecord& r : LiveRecords(RegistryDirFor(owner), owner))
      if (r.pid == pid) return std::move(r);
  }
  return std::nullopt;
}

std::optional<MountRecord> EndedRecordAt(const std::string& dir, uid_t owner,
                                         const std::string& mountpoint) {
  if (!TrustedFolder(dir, owner)) return std::nullopt;
  std::optional<MountRecord> r = ReadRecord(dir + "/" + EndedName(mountpoint));
  if (!r || r->ended == 0 || r->mountpoint != mountpoint) return std::nullopt;
  if (static_cast<int64_t>(::time(nullptr)) - r->ended > kEndedRecordSeconds) return std::nullopt;
  return r;
}

MountRegistration MountRegistration::Register(const std::string& dir, MountRecord record) noexcept {
  MountRegistration reg;
  const uid_t me = ::geteuid();
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    const int err = errno;
    TPKG_LOG(kDebug) << "no mount record: cannot create " << dir << ": " << std::strerror(err);
    return reg;
  }
  if (!TrustedFolder(dir, me)) {
    TPKG_LOG(kDebug) << "no mount record: " << dir << " is not a private folder of this user";
    return reg;
  }
  record.pid = ::getpid();
  record.start_time = ProcessStartTime(record.pid).value_or(0);
  record.started = static_cast<int64_t>(::time(nullptr));
  // A new daemon serves the mountpoint now: its ended record is no longer the one to report.
  ::unlink((dir + "/" + EndedName(record.mountpoint)).c_str());
  RemoveExpiredEndedRecords(dir, record.started);
  reg.dir_ = dir;
  reg.record_ = std::move(record);
  reg.Write(std::to_string(reg.record_.pid));
  return reg;
}

MountRegistration::MountRegistration(MountRegistration&& other) noexcept
    : dir_(std::exchange(other.dir_, std::string())), record_(std::move(other.record_)) {}

MountRegistration& MountRegistration::operator=(MountRegistration&& other) noexcept {
  if (this != &other) {
    if (!dir_.empty()) ::unlink((dir_ + "/" + std::to_string(record_.pid)).c_str());
    dir_ = std::exchange(other.dir_, std::string());
    record_ = std::move(other.record_);
  }
  return *this;
}

MountRegistration::~MountRegistration() {
  if (dir_.empty()) return;
  // Written before the live record goes, so that a `tpkgfs -u` always finds one of them.
  if (record_.state == MountState::kSaving) {
    record_.ended = static_cast<int64_t>(::time(nullptr));
    RemoveExpiredEndedRecords(dir_, record_.ended);
    Write(EndedName(record_.mountpoint));
  }
  ::unlink((dir_ + "/" + std::to_string(record_.pid)).c_str());
}

void MountRegistration::SetServing(unsigned fuse_major, unsigned fuse_minor,
                                   bool writable) noexcept {
  record_.state = MountState::kServing;
  record_.writable = writable;
  record_.fuse_major = fuse_major;
  record_.fuse_minor = fuse_minor;
  Write(std::to_string(record_.pid));
}

void MountRegistration::SetSaving() noexcept {
  record_.state = MountState::kSaving;
  Write(std::to_string(record_.pid));
}

void MountRegistration::SetUnloggedOutcome(std::string save_log_entry) noexcept {
  record_.unlogged_outcome = std::move(save_log_entry);
}

void MountRegistration::Write(const std::string& name) noexcept {
  if (dir_.empty()) return;
  const std::string temp = dir_ + "/." + name + ".tmp";
  const std::string text = FormatMountRecord(record_);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (fd >= 0) ok = ::close(fd) == 0 && ok;
  ok = ok && ::rename(temp.c_str(), (dir_ + "/" + name).c_str()) == 0;
  if (!ok) {
    const int err = errno;
    ::unlink(temp.c_str());
    TPKG_LOG(kDebug) << "cannot write the mount record in " << dir_ << ": " << std::strerror(err);
  }
}

}  // namespace tpkg::fs

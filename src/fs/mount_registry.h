// mount_registry.h: one record per running tpkgfs daemon, so that
// `tpkgfs -u`, a remount and a second mount of the same archive can find
// the daemon serving (or still saving) a mount, and tell a serving daemon
// from one that is finishing its save.
//
//   MountRegistration reg = MountRegistration::Register(RegistryDirFor(geteuid()), record);
//   reg.SetServing(fuse_major, fuse_minor, writable);   // once mounted
//   reg.SetSaving();                          // unmounted: the save runs now
//   // ~MountRegistration removes the record when the daemon exits, and
//   // keeps it as the mountpoint's ended record when it had unmounted
//
//   for (const MountRecord& r : LiveRecords(RegistryDirFor(uid))) ...
//   std::optional<MountRecord> last = EndedRecordAt(dir, uid, mountpoint);
//
// Where: `/run/tpkgfs/` for root; for other users
// `/run/user/<uid>/tpkgfs/` when that runtime folder exists, else
// `/tmp/tpkgfs-<uid>/`. The folder is created 0700 and used only when it is
// a real folder owned by that user with no group or other access, so a
// record can be trusted as far as its owner can. Only the owner and root can
// read it, which is exactly who may unmount a FUSE mount. A record is the
// file `<pid>` ("key value" lines), replaced atomically; a record whose
// process is gone (its pid now runs another process, told by the start
// time) is stale and ignored, and removed by whoever may. A daemon that
// exits after its unmount leaves its record as `ended-<hash of the
// mountpoint>` (`ended` set) for kEndedRecordSeconds: a `tpkgfs -u` that
// comes just after the save ended (`fusermount3 -u m; tpkgfs -u m`, or
// SIGTERM) still finds which archive it saved and reports the outcome (kept
// in the ended record itself when the save log's disk had no room). The
// next daemon registered at that mountpoint removes it (its own outcome is
// the one to report); every registration and every daemon that leaves an
// ended record removes those past their time, so they do not pile up.
//
// Registration is best effort: a daemon that cannot write its record still
// serves (tpkgfs -u then finds it through /proc/locks, see archive_lock.h).
//
// Thread safety: a MountRegistration is owned by main's thread; the
// functions are stateless.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tpkg::fs {

enum class MountState {
  kStarting,  // checks, journal recovery; not mounted yet
  kServing,   // mounted
  kSaving,    // unmounted; saving the edits (or just exiting)
};

struct MountRecord {
  pid_t pid = 0;
  uint64_t start_time = 0;  // process_info.h: tells a reused pid apart
  int64_t started = 0;      // seconds since the epoch
  MountState state = MountState::kStarting;
  bool writable = false;
  std::string archive;  // resolved path
  uint64_t archive_dev = 0;
  uint64_t archive_ino = 0;
  std::string mountpoint;   // canonical
  unsigned fuse_major = 0;  // the FUSE connection (0:0 until mounted)
  unsigned fuse_minor = 0;
  std::string journal;  // read/write mounts: the journal folder and the save log
  std::string log;
  int64_t ended = 0;  // an ended record's exit time (seconds since the epoch); else 0
  // An ended record's: the outcome of its save (a save log entry,
  // FormatSaveLogEntry) when the save log had no room for it; else "".
  std::string unlogged_outcome;
};

// How long an ended record is reported: what a script runs right after an
// unmount, not a mount of long ago.
inline constexpr int64_t kEndedRecordSeconds = 60;

std::string_view MountStateName(MountState state);
std::string FormatMountRecord(const MountRecord& record);
// nullopt when a required key (pid, start_time, state, archive, mountpoint) is missing.
std::optional<MountRecord> ParseMountRecord(std::string_view text);

// The registry folder of `uid` (no filesystem access but a stat of /run/user/<uid>).
std::string RegistryDirFor(uid_t uid);
// The live records in `dir` whose folder belongs to `owner`; stale records
// are removed when we may, and those that still parsed (a daemon killed
// before it could remove its own) added to `gone` when given. An unreadable
// or untrusted folder has none.
std::vector<MountRecord> LiveRecords(const std::string& dir, uid_t owner,
                                     std::vector<MountRecord>* gone = nullptr);
// The live record of the daemon `pid`, looked up in its owner's registry.
std::optional<MountRecord> RecordOfProcess(pid_t pid);
// The ended record of the last daemon that served `mountpoint` (canonical)
// and exited after its unmount, at most kEndedRecordSeconds ago, from `dir`
// when it belongs to `owner`; nullopt when there is none.
std::optional<MountRecord> EndedRecordAt(const std::string& dir, uid_t owner,
                                         const std::string& mountpoint);

class MountRegistration {
 public:
  MountRegistration() = default;  // registers nothing
  // Writes `record` (pid, start time and start filled in here) into `dir`;
  // a registry that cannot be used leaves the registration empty (logged
  // at debug level).
  static MountRegistration Register(const std::string& dir, MountRecord record) noexcept;
  MountRegistration(MountRegistration&& other) noexcept;
  MountRegistration& operator=(MountRegistration&& other) noexcept;
  MountRegistration(const MountRegistration&) = delete;
  MountRegistration& operator=(const MountRegistration&) = delete;
  ~MountRegistration();  // removes the record (kept as the ended record after SetSaving)

  // Mounted on the FUSE connection major:minor; `writable` once known.
  void SetServing(unsigned fuse_major, unsigned fuse_minor, bool writable) noexcept;
  void SetSaving() noexcept;
  // The outcome the save log could not take (a full disk): kept in the ended
  // record, where `tpkgfs -u` finds it (the registry is on another disk).
  void SetUnloggedOutcome(std::string save_log_entry) noexcept;
  bool active() const { return !dir_.empty(); }
  const MountRecord& record() const { return record_; }

 private:
  void Write(const std::string& name) noexcept;
  std::string dir_;  // empty: nothing registered
  MountRecord record_;
};

}  // namespace tpkg::fs

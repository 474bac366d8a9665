// command_line.h: parse `tpkgfs [options] ARCHIVE MOUNTPOINT` (libfuse conventions).
//
//   tpkgfs model.pt /mnt/model                  mount in the background
//   tpkgfs -f -o allow_other model.pt /mnt/m    foreground, other users may read
//   mount -t fuse.tpkgfs model.pt /mnt/m        mount.fuse3 runs
//                                               `tpkgfs model.pt /mnt/m -o rw,...`
//   tpkgfs -u /mnt/model                        unmount, wait for the save, report it
//                                               (unmount.h); takes no other option
//
// `-o` takes a comma-separated list (a `\,` is a literal comma). Our own
// options are consumed here; everything else goes to libfuse unchanged,
// which accepts its mount options and refuses unknown ones:
//
//   option             meaning
//   strict (default)   refuse archives torch's reader and ours could disagree about
//   nostrict           mount anything the reader can read at all
//   ro                 read-only view (no journal; the archive is never written)
//   rw                 read/write (the default; see daemon.h for when it falls back)
//   debug              same as -d
//   close_wait=SECONDS after SIGINT, SIGTERM or SIGHUP, how long a read/write
//                      mount waits for files open for writing to be closed
//                      before it saves (default 30; 0: at once; graceful_stop.h)
//   anything else      passed to libfuse (allow_other, default_permissions,
//                      fsname=, subtype=, nosuid, nodev, noatime, ...)
//
// Thread safety: plain functions and values.
#pragma once

#include <chrono>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "graceful_stop.h"

namespace tpkg::fs {

struct Options {
  std::string archive;     // as given
  std::string mountpoint;  // as given (the only field set for -u)
  bool foreground = false;
  bool debug = false;  // implies foreground, as in libfuse
  bool single_threaded = false;
  bool strict = true;
  bool read_only = false;                 // -o ro
  std::chrono::milliseconds close_wait = kDefaultCloseWait;  // -o close_wait=SECONDS
  std::vector<std::string> fuse_options;  // for libfuse's -o, in order, unescaped
};

enum class Action { kMount, kUnmount, kHelp, kVersion };

struct CommandLine {
  Action action = Action::kMount;
  Options options;
};

// `args[0]` is the program name. Throws Error(kInvalidArgument) with a
// one-line reason for any usage error.
CommandLine ParseCommandLine(std::span<const char* const> args);

// The --help text.
std::string UsageText(std::string_view program);

// Splits "a,b\,c" into {"a", "b,c"}; empty items are dropped.
std::vector<std::string> SplitOptionList(std::string_view list);

}  // namespace tpkg::fs

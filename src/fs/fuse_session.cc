#include "fuse_session.h"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "log.h"
#include "signal_waker.h"
#include "tpkg/error.h"

namespace tpkg::fs {
namespace {

// While this thread makes a FUSE session or mounts it, what libfuse
// complains of (an unknown -o option, a mount the kernel refused) goes into
// the one-line error instead of a line of its own; logged as usual when the
// call succeeds all the same.
struct Complaint {
  enum fuse_log_level level;
  std::string line;
};
thread_local std::vector<Complaint>* tl_session_complaints = nullptr;

void EmitFuseLine(enum fuse_log_level level, const std::string& line);

class ComplaintCapture {
 public:
  ComplaintCapture() { tl_session_complaints = &complaints_; }
  ~ComplaintCapture() { tl_session_complaints = nullptr; }
  ComplaintCapture(const ComplaintCapture&) = delete;
  ComplaintCapture& operator=(const ComplaintCapture&) = delete;
  // The call succeeded: its complaints are logged as they came.
  void Emit() {
    tl_session_complaints = nullptr;
    for (const Complaint& c : complaints_) EmitFuseLine(c.level, c.line);
  }
  // The call failed: its complaints, joined, for its one-line error.
  std::string Why() {
    tl_session_complaints = nullptr;
    std::string why;
    for (const Complaint& c : complaints_) {
      std::string_view text = c.line;
      if (text.starts_with("fuse: ")) text.remove_prefix(6);
      why += (why.empty() ? "" : "; ") + std::string(text);
    }
    return why;
  }

 private:
  std::vector<Complaint> complaints_;
};

}  // namespace

FuseArgs::FuseArgs(const std::vector<std::string>& argv) {
  for (const std::string& a : argv) {
    if (fuse_opt_add_arg(&args_, a.c_str()) != 0) {
      fuse_opt_free_args(&args_);
      throw Error(Errc::kIo, "out of memory building FUSE arguments", ENOMEM);
    }
  }
}

FuseArgs::~FuseArgs() { fuse_opt_free_args(&args_); }

FuseSession::FuseSession(FuseArgs& args, const fuse_lowlevel_ops& ops, void* userdata) {
  ComplaintCapture capture;
  session_ = fuse_session_new(args.get(), &ops, sizeof ops, userdata);
  if (session_) {
    capture.Emit();
    return;
  }
  const std::string why = capture.Why();
  throw Error(Errc::kInvalidArgument, "cannot start a FUSE session: " +
                                          (why.empty() ? std::string("bad -o option?") : why));
}

FuseSession::~FuseSession() { fuse_session_destroy(session_); }

namespace {

ssize_t ReadDevice(int fd, void* buf, size_t len, void* /*userdata*/) {
  const ssize_t n = ::read(fd, buf, len);
  if (n < 0 && errno == ECONNABORTED) errno = ENODEV;  // the teardown race (fuse_session.h)
  return n;
}

ssize_t WriteDevice(int fd, struct iovec* iov, int count, void* /*userdata*/) {
  return ::writev(fd, iov, count);
}

}  // namespace

FuseMount::FuseMount(FuseSession& session, const std::string& mountpoint) : session_(session) {
  {
    ComplaintCapture capture;
    if (fuse_session_mount(session_.get(), mountpoint.c_str()) != 0) {
      std::string why = capture.Why();
      // The kernel's EINVAL: a value it does not take (`-o fsname=`).
      if (why.ends_with("Invalid argument")) why += " (a -o option the kernel refused?)";
      throw Error(Errc::kIo,
                  "cannot mount on '" + mountpoint + "'" + (why.empty() ? "" : ": " + why));
    }
    capture.Emit();
  }
  // The same descriptor, read and written through ReadDevice/WriteDevice.
  // Splice is never asked for (the bridges' init), so every request comes
  // through ReadDevice. Should libfuse refuse (no memory), the mount still
  // works; only the teardown race would be reported as an error.
  fuse_custom_io io{};
  io.read = ReadDevice;
  io.writev = WriteDevice;
  if (const int err = fuse_session_custom_io(session_.get(), &io, fuse_session_fd(session_.get()));
      err != 0)
    TPKG_LOG(kDebug) << "reading /dev/fuse without the teardown race's fix: "
                     << std::strerror(-err);
}

FuseMount::~FuseMount() {
  // Detached: fuse_session_destroy() closes the device, which ends the
  // connection; fuse_session_unmount() would unmount whatever the path holds.
  if (!detached_) fuse_session_unmount(session_.get());
}

FuseSignalHandlers::FuseSignalHandlers(FuseSession& session) : session_(session) {
  if (fuse_set_signal_handlers(session_.get()) != 0) {
    throw Error(Errc::kIo, "cannot install signal handlers");
  }
}

FuseSignalHandlers::~FuseSignalHandlers() { fuse_remove_signal_handlers(session_.get()); }

int RunSessionLoop(FuseSession& session, bool single_threaded, GracefulStop* stop) {
  // Over libfuse's handlers (FuseSignalHandlers): a signal the loop's thread
  // handles just before it blocks still ends the loop (signal_waker.h).
  SignalLoopWaker waker(stop);
  int result;
  if (single_threaded) {
    result = fuse_session_loop(session.get());
  } else {
    std::unique_ptr<fuse_loop_config, decltype(&fuse_loop_cfg_destroy)> config(
        fuse_loop_cfg_create(), &fuse_loop_cfg_destroy);
    if (!config) throw Error(Errc::kIo, "out of memory configuring the FUSE loop", ENOMEM);
    result = fuse_session_loop_mt(session.get(), config.get());
  }
  waker.Stop();  // at once: no resend reaches the save
  return result;
}

namespace {

void EmitFuseLine(enum fuse_log_level level, const std::string& line) {
  if (tl_session_complaints && level <= FUSE_LOG_WARNING) {
    tl_session_complaints->push_back({level, line});
    return;
  }
  if (level >= FUSE_LOG_DEBUG) {
    TPKG_LOG(kDebug) << line;
  } else if (level >= FUSE_LOG_INFO) {
    TPKG_LOG(kInfo) << line;
  } else if (level >= FUSE_LOG_WARNING) {
    TPKG_LOG(kWarning) << line;
  } else {
    TPKG_LOG(kError) << line;
  }
}

// libfuse sometimes builds one line from several fuse_log() calls, so text
// is collected per thread until its newline.
void FuseLogHandler(enum fuse_log_level level, const char* fmt, va_list ap) {
  thread_local std::string pending;
  char piece[1024];
  std::vsnprintf(piece, sizeof piece, fmt, ap);
  pending += piece;
  size_t newline;
  while ((newline = pending.find('\n')) != std::string::npos) {
    if (newline > 0) EmitFuseLine(level, pending.substr(0, newline));
    pending.erase(0, newline + 1);
  }
}

}  // namespace

void RouteFuseLogToOurLog() { fuse_set_log_func(FuseLogHandler); }

}  // namespace tpkg::fs

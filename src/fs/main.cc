// tpkgfs: mount a torch.package archive as a directory (daemon.h), or
// unmount one and report its save (`tpkgfs -u`, unmount.h).
#include <iostream>
#include <span>

#include "command_line.h"
#include "daemon.h"
#include "fuse_bridge.h"
#include "log.h"
#include "tpkg/error.h"
#include "unmount.h"

namespace {

void PrintVersion() {
  std::cout << "tpkgfs " << TPKGFS_VERSION << "\nlibfuse " << fuse_pkgversion() << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tpkg::fs;
  try {
    const CommandLine cl = ParseCommandLine(std::span<const char* const>(argv, argc));
    switch (cl.action) {
      case Action::kHelp: std::cout << UsageText("tpkgfs"); return 0;
      case Action::kVersion: PrintVersion(); return 0;
      case Action::kMount: return RunDaemon(cl.options);
      case Action::kUnmount: return RunUnmount(cl.options.mountpoint);
    }
  } catch (const tpkg::Error& e) {
    TPKG_LOG(kError) << e.what();
    return e.code() == tpkg::Errc::kInvalidArgument ? 2 : 1;
  } catch (const std::exception& e) {
    TPKG_LOG(kError) << e.what();
  }
  return 1;
}

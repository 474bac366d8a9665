// torch_release.cc: the torch release a version string names.
#include "tpkg/torch_release.h"

namespace tpkg {

TorchRelease TorchReleaseOf(std::string_view version) {
  int major = 0;
  size_t i = 0;
  for (; i < version.size() && version[i] >= '0' && version[i] <= '9'; ++i) {
    if (major < 1000) major = major * 10 + (version[i] - '0');
  }
  return i > 0 && major >= 2 ? TorchRelease::kTorch2 : TorchRelease::kTorch1_13;
}

std::string_view TorchReleaseName(TorchRelease release) {
  return release == TorchRelease::kTorch2 ? "2" : "1.13";
}

}  // namespace tpkg

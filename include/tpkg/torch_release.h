// torch_release.h: which PyTorch's torch.package behaviour to reproduce.
//
// The export rules that changed between the releases we support
// (doc/python_module.md lists them): torch 1.13 (Debian 12) and torch 2.x
// (measured with 2.6, Debian 13). The archive writer, the pickle loop of
// save_pickle, PackagingError's text and the mock support file depend on it;
// the `tpkg` Python module picks the release of the torch it runs beside.
//
//   tpkg::TorchRelease r = tpkg::TorchReleaseOf("2.6.0+debian");  // kTorch2
//
// Thread safety: pure values and functions.
#pragma once

#include <string_view>

namespace tpkg {

enum class TorchRelease {
  kTorch1_13,  // torch 1.x (1.13 is the reference)
  kTorch2,     // torch 2.x (2.6 is the reference)
};

// The release of a torch version string ("1.13.0a0+gitunknown", "2.6.0+debian");
// a major version of 2 or more is kTorch2, anything else kTorch1_13.
TorchRelease TorchReleaseOf(std::string_view version);

// "1.13" or "2" (names in messages and the Python module's `torch_release`).
std::string_view TorchReleaseName(TorchRelease release);

}  // namespace tpkg

// torch2_archives.h: the archives real PyTorch 2.6 wrote into tests/data/torch2
// (made by its make_archives.py in a Debian 13 root; see GENERATED_BY).
//
//   for (const auto& name : kTorch2Archives) ZipReader::Open(Torch2Path(name));
//   Torch2Path("edited/package.pt");   // what torch writes after the edit of m.py
//
// Thread safety: constants and pure functions.
#pragma once

#include <string>
#include <vector>

namespace tpkg::testing {

inline const std::string kTorch2Dir = std::string(TPKG_SOURCE_DIR) + "/tests/data/torch2";

inline std::string Torch2Path(const std::string& name) { return kTorch2Dir + "/" + name; }

// Every archive of the folder. `X` and `edited/X` (`added/X`) are the same
// objects written by torch before and after a change of one record.
inline const std::vector<std::string> kTorch2Archives = {
    "save.pt",
    "save_nobyteorder.pt",
    "save_many.pt",
    "package.pt",
    "package_many.pt",
    "edited/save.pt",
    "edited/package.pt",
    "edited/save_nobyteorder.pt",
    "added/package.pt",
    // Written by torch's PyTorchFileWriter: records and a prefix folder that
    // start like a ZIP data descriptor, and a 0-byte record.
    "lookalike_data.pt",
    "lookalike_prefix.pt",
};

}  // namespace tpkg::testing

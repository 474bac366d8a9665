// pickle_compat.h (private): Python 2 module names Python's unpickler maps
// to Python 3's (Lib/_compat_pickle.py): a subset of its IMPORT_MAPPING, the
// modules checkpoints and attacks name (`__builtin__` first among them);
// NAME_MAPPING's per-name moves (`__builtin__.reduce` is functools.reduce)
// are not in it.
// Python applies the map only to pickles of protocol < 3 (fix_imports, on
// by default and in torch.load); `tpkg scan` applies it to all, since a
// module name a loader might map must be judged as what it maps to.
//
//   Python3Module("__builtin__")  -> "builtins"
//   Python3Module("collections")  -> "collections"
//   DemanglePackageModule("<torch_package_0>.builtins") -> "builtins", true
//
// Thread safety: a pure function.
#pragma once

#include <string_view>

namespace tpkg {

// The module Python 3 imports for `module`; `module` itself when unmapped.
std::string_view Python3Module(std::string_view module);

// torch.package's importer demangles "<torch_package_N>.mod" to "mod" when N
// is its own, and the first importer of a process has N = 0: a pickle can
// name any module so, and every N counts. Strips the prefix from `module`;
// returns whether there was one.
bool DemanglePackageModule(std::string_view& module);

}  // namespace tpkg

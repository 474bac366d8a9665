// pickle_compat.h (private): the Python 2 module names Python's unpickler
// maps to Python 3's (Lib/_compat_pickle.py, IMPORT_MAPPING: the modules a
// torch checkpoint of protocol 2 names, `__builtin__` first among them).
// Python applies the map only to pickles of protocol < 3 (fix_imports, on
// by default and in torch.load); `tpkg scan` applies it to all, since a
// module name a loader might map must be judged as what it maps to.
//
//   Python3Module("__builtin__")  -> "builtins"
//   Python3Module("collections")  -> "collections"
//
// Thread safety: a pure function.
#pragma once

#include <string_view>

namespace tpkg {

// The module Python 3 imports for `module`; `module` itself when unmapped.
std::string_view Python3Module(std::string_view module);

}  // namespace tpkg

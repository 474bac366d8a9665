// command_globals.h (private): the globals that run code, a command or a
// system call on their own, whatever they are given: os.system,
// subprocess.Popen, builtins.eval, builtins.open, pickle.loads, ... A save
// refuses an edited pickle that newly loads one (package/load_checks.h
// CheckNewDangerousGlobals).
//
// Narrower than what `tpkg scan` calls malicious (safety/default_policy.json,
// "dangerous"): the scan flags whatever could help an attack (getattr,
// functools.partial, whole modules such as builtins or operator), which
// ordinary objects pickle too; a save must refuse only what certainly runs
// something, or it would refuse packages torch saves and loads.
//
//   RunsCommands("posix", "system")                     -> true
//   RunsCommands("torch.serialization", "os.system")    -> true (an attribute path)
//   RunsCommands("builtins", "getattr")                 -> false
//
// Thread safety: a pure function.
#pragma once

#include <string_view>

namespace tpkg {

// Whether the global (module, name) is one of them. A dotted name (an
// attribute path the unpickler walks from the module) counts when a tail of
// it does: torch.serialization + os.system is os.system.
bool RunsCommands(std::string_view module, std::string_view name);

}  // namespace tpkg

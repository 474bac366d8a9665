// command_globals.cc: RunsCommands() and its list (rules in command_globals.h).
#include "scan/command_globals.h"

#include <array>
#include <string>

#include "base/name_pattern.h"

namespace tpkg {
namespace {

// module.name patterns ('*' matches any run of characters). Python 2 names
// (__builtin__, commands) too: pickle maps them to Python 3's when loading.
constexpr std::array<std::string_view, 44> kCommandGlobals = {"os.*",
                                                              "posix.*",
                                                              "nt.*",
                                                              "subprocess.*",
                                                              "commands.*",
                                                              "pty.*",
                                                              "runpy.*",
                                                              "shutil.*",
                                                              "socket.*",
                                                              "ctypes.*",
                                                              "webbrowser.*",
                                                              "code.*",
                                                              "codeop.*",
                                                              "importlib.*",
                                                              "multiprocessing.*",
                                                              "signal.*",
                                                              "pdb.*",
                                                              "timeit.*",
                                                              "builtins.eval",
                                                              "builtins.exec",
                                                              "builtins.compile",
                                                              "builtins.__import__",
                                                              "builtins.open",
                                                              "builtins.breakpoint",
                                                              "builtins.input",
                                                              "__builtin__.eval",
                                                              "__builtin__.exec",
                                                              "__builtin__.execfile",
                                                              "__builtin__.compile",
                                                              "__builtin__.__import__",
                                                              "__builtin__.open",
                                                              "__builtin__.file",
                                                              "__builtin__.input",
                                                              "io.open",
                                                              "_io.open",
                                                              "marshal.load*",
                                                              "pickle.load*",
                                                              "_pickle.load*",
                                                              "cPickle.load*",
                                                              "torch.load",
                                                              "torch.serialization.load",
                                                              "torch.hub.*",
                                                              "numpy.load",
                                                              "dill.load*"};

bool Listed(std::string_view full) {
  for (std::string_view pattern : kCommandGlobals)
    if (MatchNamePattern(pattern, full)) return true;
  return false;
}

}  // namespace

bool RunsCommands(std::string_view module, std::string_view name) {
  const std::string full = std::string(module) + "." + std::string(name);
  if (Listed(full)) return true;
  if (name.find('.') == std::string_view::npos) return false;
  // Every tail of the attribute path: from the name's start, then after each of its dots.
  for (size_t at = module.size(); at != std::string::npos; at = full.find('.', at + 1)) {
    if (Listed(std::string_view(full).substr(at + 1))) return true;
  }
  return false;
}

}  // namespace tpkg

// `tpkg help [COMMAND]`: the command list, or what `tpkg COMMAND --help` prints.
#include <iostream>

#include "cli.h"

namespace tpkg::cli {

int RunHelp(const Command& self, const Args& args) {
  if (args.size() == 1 && !args[0].starts_with("-")) {
    const Command& command = FindCommand(args[0]);
    return command.run(command, {"--help"});
  }
  const ParsedCommand cmd = ParseCommand(self, args, po::options_description("Options"), {});
  if (cmd.help_shown) return kExitOk;
  PrintGlobalHelp(std::cout);
  return kExitOk;
}

}  // namespace tpkg::cli

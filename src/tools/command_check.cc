// `tpkg check ARCHIVE`: strict validation, one line per problem.
#include "cli.h"
#include "output.h"
#include "tpkg/zip_reader.h"

namespace tpkg::cli {

int RunCheck(const Command& self, const Args& args) {
  const ParsedCommand cmd =
      ParseCommand(self, args, po::options_description("Options"), {"ARCHIVE"});
  if (cmd.help_shown) return kExitOk;
  const std::string& path = cmd.operands[0];
  const std::vector<Error> problems = CheckArchive(path);
  Output out;
  for (const Error& e : problems) out.Line(e.what());
  if (problems.empty()) out.Line(path + ": ok");
  out.Flush();
  return problems.empty() ? kExitOk : kExitFailure;
}

}  // namespace tpkg::cli

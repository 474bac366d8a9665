// `tpkg check ARCHIVE`: strict validation, one line per problem. A failed
// tpkgfs save whose edits are pending is a problem too: the archive is not
// what its user last saw through the mount.
#include "cli.h"
#include "output.h"
#include "tpkg/zip_reader.h"

namespace tpkg::cli {

int RunCheck(const Command& self, const Args& args) {
  const ParsedCommand cmd =
      ParseCommand(self, args, po::options_description("Options"), {"ARCHIVE"});
  if (cmd.help_shown) return kExitOk;
  const std::string& path = cmd.operands[0];
  const std::string failed_save = WarnIfLastSaveFailed(path);
  const std::vector<Error> problems = CheckArchive(path);
  Output out;
  for (const Error& e : problems) out.Line(e.what());
  if (!failed_save.empty()) out.Line(path + ": " + failed_save);
  const bool ok = problems.empty() && failed_save.empty();
  if (ok) out.Line(path + ": ok");
  out.Flush();
  return ok ? kExitOk : kExitFailure;
}

}  // namespace tpkg::cli

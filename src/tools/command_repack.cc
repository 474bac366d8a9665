// `tpkg repack [--prefix NAME] IN OUT`: rewrite through the writer, records
// copied raw (tpkg/zip_repack.h).
#include "cli.h"
#include "tpkg/zip_reader.h"
#include "tpkg/zip_repack.h"

namespace tpkg::cli {

int RunRepack(const Command& self, const Args& args) {
  po::options_description options("Options");
  options.add_options()("prefix", po::value<std::string>(),
                        "prefix folder of OUT (default: the prefix folder of IN)");
  const ParsedCommand cmd = ParseCommand(self, args, options, {"IN", "OUT"});
  if (cmd.help_shown) return kExitOk;
  const ZipReader src = ZipReader::Open(cmd.operands[0]);
  const std::string prefix =
      cmd.options.count("prefix") ? cmd.options["prefix"].as<std::string>() : src.prefix();
  RepackArchive(src, cmd.operands[1], prefix);
  return kExitOk;
}

}  // namespace tpkg::cli

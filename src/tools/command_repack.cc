// `tpkg repack [--prefix NAME] [--json] IN OUT`: rewrite through the writer,
// records copied raw (tpkg/zip_repack.h).
#include <algorithm>

#include "cli.h"
#include "model_input.h"
#include "output.h"
#include "progress_line.h"
#include "tpkg/record_path.h"
#include "tpkg/zip_reader.h"
#include "tpkg/zip_repack.h"
#include "tpkg/zip_writer.h"

namespace tpkg::cli {

int RunRepack(const Command& self, const Args& args) {
  po::options_description options("Options");
  options.add_options()("prefix", po::value<std::string>(),
                        "prefix folder of OUT (default: the prefix folder of IN)");
  AddJsonOption(options);
  const ParsedCommand cmd = ParseCommand(self, args, options, {"IN", "OUT"});
  if (cmd.help_shown) return kExitOk;
  if (cmd.options.count("prefix") &&
      !IsValidPrefixFolder(cmd.options["prefix"].as<std::string>())) {
    throw UsageError("invalid --prefix " + QuoteName(cmd.options["prefix"].as<std::string>()) +
                         ": one folder name (no '/', not empty, '.' or '..')",
                     self.synopsis);
  }
  const ZipReader src = ZipReader::Open(cmd.operands[0]);
  const std::string prefix =
      cmd.options.count("prefix") ? cmd.options["prefix"].as<std::string>() : src.prefix();
  ProgressLine progress("repack", cmd.operands[0]);
  const uint64_t size = RepackArchive(src, cmd.operands[1], prefix, progress.callback());
  progress.Clear();
  // Success is silent in text, as cp is.
  if (!WantsJson(cmd)) return kExitOk;
  const auto directories = static_cast<uint64_t>(std::count_if(
      src.entries().begin(), src.entries().end(), [](const ZipEntry& e) { return e.is_directory(); }));
  Output out;
  WriteJson(out, Json{{"in", cmd.operands[0]},
                      {"out", cmd.operands[1]},
                      {"prefix", TextOrNull(prefix)},
                      {"records", src.entries().size() - directories},
                      {"dropped_directories", directories},
                      {"size", size}});
  out.Flush();
  return kExitOk;
}

}  // namespace tpkg::cli

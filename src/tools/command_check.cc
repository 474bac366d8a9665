// `tpkg check ARCHIVE`: strict validation, one line per problem. A failed
// tpkgfs save whose edits are pending is a problem too: the archive is not
// what its user last saw through the mount.
#include "cli.h"
#include "model_input.h"
#include "output.h"
#include "progress_line.h"
#include "tpkg/metadata.h"
#include "tpkg/torch_records.h"
#include "tpkg/zip_reader.h"

namespace tpkg::cli {
namespace {

// A torch.package's declared extern modules against what it needs; "" when
// they agree or `path` is no torch.package.
std::string PackageExternsMismatch(const std::string& path) {
  const auto zip = ZipReader::Open(path);
  if (!zip.Find(".data/extern_modules") && !zip.Find(".data/version")) return "";
  const ZipRecordSource records(zip);
  return ExternModulesMismatch(records, RegenerateMetadata(records));
}

}  // namespace

int RunCheck(const Command& self, const Args& args) {
  po::options_description options("Options");
  AddJsonOption(options);
  const ParsedCommand cmd = ParseCommand(self, args, options, {"ARCHIVE"});
  if (cmd.help_shown) return kExitOk;
  const std::string& path = cmd.operands[0];
  const std::string failed_save = WarnIfLastSaveFailed(path);
  ProgressLine progress("check", path);
  std::vector<Error> problems = CheckArchive(path, progress.callback());
  progress.Clear();
  if (problems.empty()) problems = CheckTorchRecords(ZipReader::Open(path));
  if (problems.empty()) {
    if (std::string mismatch = PackageExternsMismatch(path); !mismatch.empty()) {
      problems.emplace_back(Errc::kPolicy, path + ": " + mismatch);
    }
  }
  Output out;
  const bool ok = problems.empty() && failed_save.empty();
  if (WantsJson(cmd)) {
    Json lines = Json::array();
    for (const Error& e : problems) lines.push_back(e.what());
    if (!failed_save.empty()) lines.push_back(path + ": " + failed_save);
    WriteJson(out, Json{{"path", path}, {"ok", ok}, {"problems", lines}});
    out.Flush();
    return ok ? kExitOk : kExitFailure;
  }
  for (const Error& e : problems) out.Line(e.what());
  if (!failed_save.empty()) out.Line(path + ": " + failed_save);
  // A format check only: say so, so that "ok" is not read as "safe to load".
  if (ok) out.Line(path + ": ok (format; whether it is safe to load is tpkg scan's job)");
  out.Flush();
  return ok ? kExitOk : kExitFailure;
}

}  // namespace tpkg::cli

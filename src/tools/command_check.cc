// `tpkg check ARCHIVE`: strict validation, one line per problem: the ZIP
// container, torch's records, then what the loader of the archive's kind
// needs (a `.pt2` as Python's zipfile and torch.export.load read it). A failed
// tpkgfs save whose edits are pending is a problem too: the archive is not
// what its user last saw through the mount.
#include "cli.h"
#include "model_input.h"
#include "output.h"
#include "progress_line.h"
#include "tpkg/export_program.h"
#include "tpkg/metadata.h"
#include "tpkg/model_file.h"
#include "tpkg/model_tensors.h"
#include "tpkg/policy.h"
#include "tpkg/torch_records.h"
#include "tpkg/zip_reader.h"

namespace tpkg::cli {
namespace {

// What torch's loader of the archive's kind fails on whatever the code that
// uses it does (StopsTheLoad: a storage a pickle loads that is missing or
// short, code a TorchScript class needs, a layout the importer refuses; a
// pickle that does not unpickle), one
// problem per line, and a torch.package's declared extern modules against
// what it needs.
std::vector<Error> LoadProblems(const std::string& path) {
  const auto zip = ZipReader::Open(path);
  const ZipRecordSource records(zip);
  const FileKind kind = DetectFileKind(zip);
  std::vector<Error> problems;
  const auto add = [&](Errc code, const std::string& line) {
    problems.emplace_back(code, path + ": " + line);
  };
  if (kind == FileKind::kTorchPackage) {
    const Metadata m = RegenerateMetadata(records, CachedAnalysis());
    for (const std::string& line : PackagingErrorLines(m.problems, StopsTheLoad))
      add(Errc::kCorrupt, line);
    // A pickle whose bytes pass their CRC but do not unpickle (cut short):
    // loading it fails, as `tpkg info` says. (Bytes that fail their CRC were
    // named by the container check already.)
    for (size_t i = 0; i < m.unreadable.size(); ++i)
      add(Errc::kCorrupt,
          "damaged, cannot be read: " + m.unreadable[i] + " (" + m.unreadable_why[i] + ")");
    if (std::string mismatch = ExternModulesMismatch(records, m); !mismatch.empty())
      add(Errc::kPolicy, mismatch);
  } else if (kind == FileKind::kTorchSave || kind == FileKind::kTorchScript) {
    for (const std::string& line :
         PackagingErrorLines(SerializedArchiveProblems(records, kind), StopsTheLoad))
      add(Errc::kCorrupt, line);
  }
  return problems;
}

// torch 2.6 writes a `.pt2` through Python's zipfile and torch.export.load
// reads it so: judged by zipfile's names and that loader's needs
// (tpkg/export_program.h), not by the prefix folder torch's C++ reader needs.
// A newer .pt2 (an `archive_format` record) is written by torch's own writer.
bool IsZipfileExport(const std::string& path) {
  try {
    const ZipReader zip = ZipReader::Open(path, ZipReaderOptions{.strict = false});
    return DetectFileKind(zip) == FileKind::kTorchExport && zip.Find("archive_format") == nullptr;
  } catch (const Error&) {
    return false;  // the strict check says why
  }
}

std::vector<Error> ExportProblems(const std::string& path) {
  std::vector<Error> problems;
  const ZipReader zip = ZipReader::Open(path, ZipReaderOptions{.prefix_folder = false});
  for (const std::string& line : ExportLoadProblems(zip))
    problems.emplace_back(Errc::kUnsupported, path + ": " + line);
  return problems;
}

}  // namespace

int RunCheck(const Command& self, const Args& args) {
  po::options_description options("Options");
  AddJsonOption(options);
  const ParsedCommand cmd = ParseCommand(self, args, options, {"ARCHIVE"});
  if (cmd.help_shown) return kExitOk;
  const std::string& path = cmd.operands[0];
  const std::string failed_save = WarnIfLastSaveFailed(path);
  const bool zipfile_export = IsZipfileExport(path);
  ProgressLine progress("check", path);
  std::vector<Error> problems =
      CheckArchive(path, ZipReaderOptions{.prefix_folder = !zipfile_export}, progress.callback());
  progress.Clear();
  if (problems.empty())
    problems = zipfile_export ? ExportProblems(path) : CheckTorchRecords(ZipReader::Open(path));
  if (problems.empty() && !zipfile_export) problems = LoadProblems(path);
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

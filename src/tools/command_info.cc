// `tpkg info [--json] FILE`: what kind of model file FILE is and what it
// holds, in a few lines (counts; `modules`, `deps` and `tree` give the lists).

#include "cli.h"
#include "model_input.h"
#include "progress_line.h"
#include "tpkg/file_io.h"
#include "tpkg/journal.h"
#include "tpkg/model_report.h"

namespace tpkg::cli {
namespace {

struct SaveState {
  std::string journal;       // the journal folder of unsaved edits, "" when none
  std::string journal_note;  // what is special about them, "" when nothing
  std::string last_failed;   // why the last save of a mount failed, "" when it did not
};

// Whether edits wait, judged as the next mount judges them (tpkg/journal.h
// Journal::Inspect), without the journal's lock: a mount may be using it.
SaveState ReadSaveState(const std::string& path, const ZipReader& zip, std::string last_failed) {
  SaveState state;
  state.last_failed = std::move(last_failed);
  const std::optional<std::string> resolved = RealPath(path);
  if (!resolved) return state;
  const std::string journal = Journal::DirectoryFor(*resolved);
  try {
    switch (Journal::Inspect(*resolved, zip)) {
      case Journal::Holds::kNoEdits: return state;
      case Journal::Holds::kEdits: break;
      case Journal::Holds::kEditsOfAnotherArchive:
        state.journal_note = "made for another version of this file";
        break;
    }
  } catch (const Error& e) {
    state.journal_note = std::string("unreadable: ") + e.what();
  }
  state.journal = journal;
  return state;
}

Json InfoJson(const ModelReport& r, const SaveState& save) {
  return Json{
      {"path", r.path},
      {"kind", FileKindName(r.kind)},
      {"file_size", r.file_size},
      {"prefix", TextOrNull(r.prefix)},
      {"records", r.records},
      {"record_bytes", r.record_bytes},
      {"format_version", TextOrNull(r.format_version)},
      {"python_version", TextOrNull(r.python_version)},
      {"serialization_id", TextOrNull(r.serialization_id)},
      {"modules", Json{{"interned", r.interned.size()},
                       {"extern", r.externed.size()},
                       {"mocked", r.mocked.size()},
                       {"denied", r.denied.size()}}},
      {"pickles", r.pickles.size()},
      {"storages", r.storages},
      {"storage_bytes", r.storage_bytes},
      {"pending_edits", TextOrNull(save.journal)},
      {"last_save_failed", TextOrNull(save.last_failed)},
      {"problems", r.problems},
      {"unreadable", r.unreadable},
  };
}

void PrintInfo(Output& out, const ModelReport& r, const SaveState& save) {
  const auto row = [&out](std::string_view key, const std::string& value) {
    std::string line = "  " + std::string(key);
    line.resize(20, ' ');
    out.Line(line + value);
  };
  out.Line(r.path + ": " + std::string(FileKindName(r.kind)));
  const char* version_record = r.kind == FileKind::kTorchPackage ? ".data/version" : "version";
  if (!r.format_version.empty())
    row("format version", r.format_version + " (" + version_record + ")");
  if (!r.python_version.empty()) row("python version", r.python_version);
  row("records", Grouped(r.records) + " (" + Grouped(r.record_bytes) + " bytes" +
                     (r.prefix.empty() ? std::string(", no prefix folder")
                                       : ", prefix folder '" + r.prefix + "/'") +
                     ")");
  row("file size", Grouped(r.file_size) + " bytes");
  if (r.kind == FileKind::kTorchPackage) {
    row("modules",
        std::to_string(r.interned.size()) + " interned, " + std::to_string(r.externed.size()) +
            " extern, " + std::to_string(r.mocked.size()) + " mocked" +
            (r.denied.empty() ? "" : ", " + std::to_string(r.denied.size()) + " denied"));
  } else if (r.kind != FileKind::kTorchExport && r.kind != FileKind::kZip) {
    row("modules", std::to_string(r.modules.size()) + " named by the pickles (" +
                       std::to_string(r.externed.size()) + " imported from the environment)");
  }
  row("pickles", std::to_string(r.pickles.size()));
  row("storages", Grouped(r.storages) + " (" + Grouped(r.storage_bytes) + " bytes)");
  if (!r.serialization_id.empty()) row("serialization id", r.serialization_id);
  row("pending edits", save.journal.empty()
                           ? "none"
                           : "in " + save.journal +
                                 (save.journal_note.empty() ? "" : ", " + save.journal_note) +
                                 " (tpkg edits)");
  if (!save.last_failed.empty()) row("last save", save.last_failed);
  if (r.problems.empty()) {
    // info reads the sources and pickles, not the storages' bytes: say so
    // rather than vouch for a storage whose CRC-32 it never checked.
    row("problems", "none found (tpkg check also verifies every storage's bytes)");
  } else {
    row("problems", std::to_string(r.problems.size()));
    for (const std::string& p : r.problems) out.Line("    " + p);
  }
}

}  // namespace

int RunInfo(const Command& self, const Args& args) {
  po::options_description options("Options");
  AddJsonOption(options);
  const ParsedCommand cmd = ParseCommand(self, args, options, {"FILE"});
  if (cmd.help_shown) return kExitOk;
  const std::string& path = cmd.operands[0];
  std::string failed = WarnIfLastSaveFailed(path);
  const ModelFile file = OpenModelFile(path);
  ProgressLine progress("info", path);
  const ModelReport report =
      InspectModel(*file.zip, file.kind, progress.callback(), CachedAnalysis());
  progress.Clear();
  const SaveState save = ReadSaveState(path, *file.zip, std::move(failed));
  Output out;
  if (WantsJson(cmd)) {
    WriteJson(out, InfoJson(report, save));
  } else {
    PrintInfo(out, report, save);
  }
  out.Flush();
  ThrowIfUnreadable(path, report.unreadable);
  return kExitOk;
}

}  // namespace tpkg::cli

// `tpkg edits [--discard | --save-to OUT] ARCHIVE`: the edits a read/write
// mount left in the archive's journal and not yet saved (tpkg/journal.h),
// their removal, or the edited package saved to another path
// (tpkg/write_back.h WriteBackTo, after the checks of tpkg/journal_records.h).
#include <cerrno>

#include "cli.h"
#include "model_input.h"
#include "output.h"
#include "tpkg/journal.h"
#include "tpkg/journal_records.h"
#include "tpkg/write_back.h"
#include "tpkg/zip_reader.h"

namespace tpkg::cli {
namespace {

const char* KindName(Journal::PendingEdit::Kind kind) {
  switch (kind) {
    case Journal::PendingEdit::Kind::kWritten: return "written ";
    case Journal::PendingEdit::Kind::kAdded: return "added   ";
    case Journal::PendingEdit::Kind::kRenamed: return "renamed ";
    case Journal::PendingEdit::Kind::kDeleted: return "deleted ";
  }
  return "?       ";
}

// Writes the edited package to `out`; the journal stays.
int SaveTo(const Journal& journal, const std::string& out_path, Output& out) {
  std::vector<std::string> notes;
  const RegeneratedRecords metadata = SaveMetadata(journal, notes, nullptr, out_path);
  const WriteBackResult result = WriteBackTo(journal, out_path, metadata);
  out.Line(result.summary);
  for (const std::string& note : notes) out.Line(note);
  out.Flush();
  return kExitOk;
}

std::string_view KindKey(Journal::PendingEdit::Kind kind) {
  switch (kind) {
    case Journal::PendingEdit::Kind::kWritten: return "written";
    case Journal::PendingEdit::Kind::kAdded: return "added";
    case Journal::PendingEdit::Kind::kRenamed: return "renamed";
    case Journal::PendingEdit::Kind::kDeleted: return "deleted";
  }
  return "?";
}

// {"path", "journal": folder or null, "edits": [{"kind", "path", "from"}], "discarded"}
int PrintEditsJson(Output& out, const std::string& path, std::optional<Journal>& journal,
                   bool discard) {
  Json edits = Json::array();
  Json folder;
  if (journal) {
    folder = journal->directory();
    for (const Journal::PendingEdit& e : journal->PendingEdits()) {
      edits.push_back(Json{{"kind", KindKey(e.kind)},
                           {"path", e.path},
                           {"from", e.from.empty() ? Json() : Json(e.from)}});
    }
    if (discard) journal->Drop();
  }
  WriteJson(out, Json{{"path", path},
                      {"journal", folder},
                      {"edits", edits},
                      {"discarded", discard && journal.has_value()}});
  out.Flush();
  return kExitOk;
}

}  // namespace

int RunEdits(const Command& self, const Args& args) {
  po::options_description options("Options");
  options.add_options()("discard", "remove the journal and every edit in it")(
      "save-to", po::value<std::string>()->value_name("OUT"),
      "write the edited package to the new file OUT; the journal stays");
  AddJsonOption(options);
  const ParsedCommand cmd = ParseCommand(self, args, options, {"ARCHIVE"});
  if (cmd.help_shown) return kExitOk;
  const std::string& path = cmd.operands[0];
  if (cmd.options.count("discard") && cmd.options.count("save-to")) {
    throw UsageError("--discard and --save-to exclude each other", self.synopsis);
  }
  const ZipReader zip = ZipReader::Open(path);
  std::optional<Journal> journal = Journal::OpenExisting(path, zip);
  Output out;
  // --save-to prints its save summary as text, with or without --json.
  if (WantsJson(cmd) && !cmd.options.count("save-to"))
    return PrintEditsJson(out, path, journal, cmd.options.count("discard") > 0);
  if (!journal) {
    if (cmd.options.count("save-to")) {
      throw Error(Errc::kNotFound, path + ": no pending edits, nothing to save", ENOENT);
    }
    out.Line(path + ": no pending edits");
    out.Flush();
    return kExitOk;
  }
  if (cmd.options.count("save-to")) {
    return SaveTo(*journal, cmd.options["save-to"].as<std::string>(), out);
  }
  const std::vector<Journal::PendingEdit> edits = journal->PendingEdits();
  const std::string count = std::to_string(edits.size()) + " pending edits";
  if (cmd.options.count("discard")) {
    const std::string dir = journal->directory();
    journal->Drop();
    out.Line(path + ": discarded " + count + " (removed " + dir + ")");
    out.Flush();
    return kExitOk;
  }
  out.Line(path + ": " + count + " in " + journal->directory());
  for (const Journal::PendingEdit& e : edits)
    out.Line(KindName(e.kind) + (" " + e.path) + (e.from.empty() ? "" : " (from " + e.from + ")"));
  out.Flush();
  return kExitOk;
}

}  // namespace tpkg::cli

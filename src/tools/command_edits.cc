// `tpkg edits [--discard | --save-to OUT] ARCHIVE`: the edits a read/write
// mount left in the archive's journal and not yet saved (tpkg/journal.h),
// their removal, or the edited package saved to another path
// (tpkg/write_back.h WriteBackTo, after the checks of tpkg/journal_records.h).
#include <cerrno>

#include "cli.h"
#include "model_input.h"
#include "output.h"
#include "tpkg/counted.h"
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

// {"path", "journal": folder or null, "edits": [{"kind", "path", "from"}], "discarded",
//  "unreadable": null}
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
                      {"discarded", discard && journal.has_value()},
                      {"unreadable", nullptr}});
  out.Flush();
  return kExitOk;
}

// The same for a journal --discard removed unread: its edits unknown, why it
// could not be read in "unreadable".
int WriteUnreadDiscard(Output& out, const std::string& path, const std::string& dir,
                       const std::string& why) {
  WriteJson(out, Json{{"path", path},
                      {"journal", dir},
                      {"edits", Json::array()},
                      {"discarded", true},
                      {"unreadable", why}});
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
  // As a mount opens it: each record's local header is checked when it is
  // read, so a damaged record fails only a --save-to that copies it.
  const ZipReader zip = ZipReader::Open(path, ZipReaderOptions{.defer_record_checks = true});
  const bool discard = cmd.options.count("discard") > 0;
  std::optional<Journal> journal;
  Output out;
  try {
    journal = Journal::OpenExisting(path, zip);
  } catch (const Error& e) {
    // A journal whose contents cannot be read (a damaged manifest) is what
    // --discard is for: removed unread (still not under a mount). Any other
    // failure (permissions, another archive's edits, an I/O error) stands:
    // readable edits are never removed unseen.
    if (!discard || e.code() != Errc::kCorrupt) throw;
    const std::optional<std::string> dir = Journal::DiscardExisting(path, zip);
    if (!dir) throw;
    if (WantsJson(cmd)) return WriteUnreadDiscard(out, path, *dir, e.what());
    out.Line(path + ": discarded the journal " + *dir + ", which could not be read (" + e.what() +
             ")");
    out.Flush();
    return kExitOk;
  }
  // --save-to prints its save summary as text, with or without --json.
  if (WantsJson(cmd) && !cmd.options.count("save-to"))
    return PrintEditsJson(out, path, journal, discard);
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
  const std::string count = Counted(edits.size(), "pending edit", "pending edits");
  if (discard) {
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

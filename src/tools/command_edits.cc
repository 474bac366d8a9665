// `tpkg edits [--discard] ARCHIVE`: the edits a read/write mount left in the
// archive's journal and not yet saved (tpkg/journal.h), or their removal.
#include "cli.h"
#include "output.h"
#include "tpkg/journal.h"
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

}  // namespace

int RunEdits(const Command& self, const Args& args) {
  po::options_description options("Options");
  options.add_options()("discard", "remove the journal and every edit in it");
  const ParsedCommand cmd = ParseCommand(self, args, options, {"ARCHIVE"});
  if (cmd.help_shown) return kExitOk;
  const std::string& path = cmd.operands[0];
  const ZipReader zip = ZipReader::Open(path);
  std::optional<Journal> journal = Journal::OpenExisting(path, zip);
  Output out;
  if (!journal) {
    out.Line(path + ": no pending edits");
    out.Flush();
    return kExitOk;
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

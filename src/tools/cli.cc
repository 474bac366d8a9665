// The `tpkg` front door: global options, the command table, and the one
// place where failures become messages and exit codes.
#include "cli.h"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <new>

#include "tpkg/error.h"
#include "tpkg/file_io.h"
#include "tpkg/save_log.h"
#include "tpkg/temp_file_cleanup.h"

#ifndef TPKG_VERSION
#define TPKG_VERSION "unknown"
#endif

namespace tpkg::cli {
namespace {

constexpr std::string_view kGlobalSynopsis = "[--help] [--version] COMMAND [ARGS...]";

}  // namespace

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      {"ls", "ls [-l] [--json] ARCHIVE",
       "List the records of ARCHIVE in archive order, one per line, with the prefix folder "
       "stripped (what torch's get_all_records() returns). A torch.export .pt2 has no prefix "
       "folder; a legacy torch.save file is named as such.",
       RunLs},
      {"cat", "cat [--json] ARCHIVE RECORD",
       "Write the bytes of RECORD (named without the prefix folder) to standard output, "
       "inflated if needed; the CRC-32 is checked at the end. For a torch.package, RECORD may "
       "also be a file a mount generates (.data/deps.dot, .data/extern_modules): the same bytes "
       "as the mount shows. With --json, one object holding the bytes as text (UTF-8) or "
       "base64, with their size and CRC-32.",
       RunCat},
      {"check", "check [--json] ARCHIVE",
       "Validate ARCHIVE strictly (everything torch's reader and ours could disagree about) "
       "and every record's CRC-32; a failed tpkgfs save whose edits are still pending counts as a "
       "problem. Prints one line per problem and exits 1, or 'ok' and exits 0; a file that "
       "cannot be opened or is no regular file is an error on standard error (exit 1). A format "
       "check only: whether the archive is safe to load is `tpkg scan`'s job.",
       RunCheck},
      {"repack", "repack [--prefix NAME] [--json] IN OUT",
       "Rewrite IN as OUT through the torch-compatible writer, copying every record raw "
       "(never re-encoded) once its bytes match its CRC-32: a damaged record fails the repack. "
       "Directory entries are dropped, since torch never writes them. OUT is "
       "replaced atomically, and only a regular file is (never a device, FIFO, folder or "
       "symbolic link): a failure leaves it as it was. Prints nothing on success, or with "
       "--json what was written.",
       RunRepack},
      {"edits", "edits [--discard | --save-to OUT] [--json] ARCHIVE",
       "List the edits a read/write mount of ARCHIVE keeps in its journal and has not saved "
       "yet (written, added, renamed, deleted), or with --discard remove them and the journal. "
       "With --save-to, write the edited package to the new file OUT instead, with every check "
       "of a save (it must still load; OUT is never overwritten); ARCHIVE and its pending edits "
       "stay as they are. Fails (EBUSY) while a tpkgfs mount of ARCHIVE is running.",
       RunEdits},
      // Inspection: what a model file (torch.package, torch.save, TorchScript, torch.export
      // .pt2) holds, without executing anything.
      {"info", "info [--json] FILE",
       "Say what kind of model file FILE is (torch.package, torch.save, torchscript, "
       "torch.export, zip) and what it holds: format and Python versions, records and bytes, "
       "modules by action, pickles, storages and their bytes, edits a mount left unsaved, a "
       "failed save, and problems. A legacy (pre-1.6, non-ZIP) torch.save file is named as such.",
       RunInfo},
      {"modules", "modules [--json] FILE",
       "List every module FILE uses, one a line: its action (intern, extern, mock, deny, "
       "torchscript), the record that provides it, what needs it (<- pickles or modules), and "
       "problems (a module the package does not declare extern, a pickle global with no module). "
       "For a torch.package, the exporter's dependency graph is rebuilt from the records.",
       RunModules},
      {"deps", "deps [--why MODULE] [--json] FILE",
       "Print a torch.package's dependency graph as DOT text, byte for byte what a mount's "
       ".data/deps.dot shows (torch's dependency_graph_string()); with --why, every path that "
       "pulls MODULE in, one a line, from a pickle or a source saved on its own.",
       RunDeps},
      {"tree", "tree [--include GLOB]... [--exclude GLOB]... [--json] FILE",
       "Print the tree of FILE's records as PackageImporter.file_structure() prints it, with "
       "the same glob semantics ('**' any folders, '*' within one; separator '/').",
       RunTree},
      {"help", "help [COMMAND]",
       "Show the list of commands, or the help of COMMAND (the same as tpkg COMMAND --help).",
       RunHelp},
      // Inspection of tensors and pickles (doc/cli.md has the --json schemas).
      {"pickles", "pickles [--json] [--dis] FILE [RECORD]",
       "For each pickle of FILE (or RECORD only): the globals it references, the modules "
       "torch.package's exporter derives from it and its persistent ids (storages, "
       "reduce_package); with --dis its disassembly exactly as Python's pickletools.dis prints "
       "it. Nothing is executed.",
       RunPickles},
      {"tensors", "tensors [--json] FILE",
       "List every tensor the pickles of FILE rebuild (torch.package, torch.save, TorchScript): "
       "the pickle, its place in the object (the state_dict key where there is one), dtype, "
       "shape, stride, storage offset, the storage record and its bytes. Nothing is executed.",
       RunTensors},
      {"diff", "diff [--json] A B",
       "Compare two model files: records added, removed or changed, modules whose action "
       "(intern, extern, mock) changed, and tensors added, removed or changed (dtype, shape, "
       "stride, offset, bytes). Every record's data is verified against its CRC-32 first; a "
       "damaged record fails the diff (exit 1). Exits 0 whether or not they differ.",
       RunDiff},
      // Safety: is it safe to load?
      {"scan",
       "scan [--format text|json|sarif | --json] [--policy FILE]... [--print-policy] PATH... "
       "| --print-default-policy",
       "Is it safe to load? Scan model files (raw pickles, torch.save ZIP and legacy files, "
       "torch.package, TorchScript, .pt2, archives and pickles inside them) or folders (a "
       "folder with .data/extern_modules, such as a mounted package, is one torch.package) "
       "without running a pickle or importing a module. Globals outside the allowlist of the "
       "file kind, computed or extension-code globals, interned sources that call os.system, "
       "subprocess, eval, exec, importlib... and container tricks (duplicate, case-differing "
       "or local-vs-central names) are findings, each with its record, byte offset, opcode "
       "and severity (malicious, suspicious, info). Exits 0 when nothing was found, 1 on "
       "findings (info findings alone do not count), 2 when a file could not be read "
       "completely (never clean) or on bad arguments. --policy adds allowlists (the JSON "
       "shape --print-policy and the default policy use); --print-policy prints the minimal "
       "allowlist the files need instead of the findings; --print-default-policy prints the "
       "built-in policy.",
       RunScan},
  };
  return commands;
}

void PrintGlobalHelp(std::ostream& out) {
  out << "usage: tpkg " << kGlobalSynopsis << "\n\n"
      << "Inspect and rewrite model files (torch.package, torch.save, TorchScript, torch.export)\n"
      << "without mounting them.\n\nCommands:\n";
  for (const auto& c : Commands()) out << "  tpkg " << c.synopsis << "\n";
  out << "\nOptions:\n  -h, --help     show this help (or `tpkg COMMAND --help`)\n"
      << "  --version      print the version\n\n"
      << "`tpkg help COMMAND` shows a command's help; man tpkg(1) has every command and the\n"
      << "JSON schemas of --json. On a terminal, work that takes more than a second shows its\n"
      << "progress on standard error.\n";
}

const Command& FindCommand(const std::string& name) {
  for (const auto& c : Commands()) {
    if (c.name == name) return c;
  }
  throw UsageError("unknown command '" + name + "'", kGlobalSynopsis);
}

namespace {

// Options before the command are tpkg's own; everything after it is the command's.
int Dispatch(const Args& args) {
  size_t i = 0;
  while (i < args.size() && args[i].starts_with("-")) ++i;
  const Args global(args.begin(), args.begin() + static_cast<std::ptrdiff_t>(i));
  for (const auto& option : global) {
    if (option == "-h" || option == "--help") {
      PrintGlobalHelp(std::cout);
      return kExitOk;
    }
    if (option == "--version") {
      // Alone: a command or operand beside it would be dropped unread.
      for (const std::string& other : args) {
        if (other != option)
          throw UsageError("unexpected argument '" + other + "' with --version", kGlobalSynopsis);
      }
      std::cout << "tpkg " TPKG_VERSION "\n";
      return kExitOk;
    }
    throw UsageError("unknown option '" + option + "'", kGlobalSynopsis);
  }
  if (i == args.size()) throw UsageError("missing COMMAND", kGlobalSynopsis);
  const Command& command = FindCommand(args[i]);
  return command.run(command, Args(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end()));
}

void PrintCommandHelp(const Command& command, const po::options_description& options) {
  std::cout << "usage: tpkg " << command.synopsis << "\n\n"
            << command.description << "\n\n"
            << options;
}

}  // namespace

ParsedCommand ParseCommand(const Command& command, const Args& args,
                           po::options_description options,
                           const std::vector<std::string_view>& operand_names,
                           bool more_operands) {
  options.add_options()("help,h", "show this help");
  po::options_description all;
  all.add(options).add_options()("operand", po::value<std::vector<std::string>>(), "");
  po::positional_options_description positional;
  positional.add("operand", -1);
  ParsedCommand parsed;
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(),
              parsed.options);
    po::notify(parsed.options);
  } catch (const po::error& e) {
    throw UsageError(e.what(), command.synopsis);
  }
  if (parsed.options.count("help")) {
    PrintCommandHelp(command, options);
    parsed.help_shown = true;
    return parsed;
  }
  if (parsed.options.count("operand"))
    parsed.operands = parsed.options["operand"].as<std::vector<std::string>>();
  // Names in brackets ("[RECORD]") are optional and come last.
  const auto required = static_cast<size_t>(std::count_if(
      operand_names.begin(), operand_names.end(), [](auto n) { return !n.starts_with("["); }));
  if (parsed.operands.size() < required) {
    throw UsageError("missing " + std::string(operand_names[parsed.operands.size()]),
                     command.synopsis);
  }
  if (parsed.operands.size() > operand_names.size() && !more_operands) {
    throw UsageError("unexpected argument '" + parsed.operands[operand_names.size()] + "'",
                     command.synopsis);
  }
  return parsed;
}

std::string WarnIfLastSaveFailed(const std::string& archive) {
  // The log sits beside the file the name resolves to, as the daemon's does.
  const std::optional<std::string> resolved = RealPath(archive);
  if (!resolved) return "";
  const std::optional<SaveLogEntry> failure = PendingSaveFailure(*resolved);
  if (!failure) return "";
  const std::string line = DescribeSaveFailure(*failure);
  std::cerr << "tpkg: warning: " << line << std::endl;
  return line;
}

int Main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a closed pipe becomes EPIPE, handled as BrokenPipe
  std::signal(SIGXFSZ, SIG_IGN);  // a file-size limit becomes EFBIG, an error like ENOSPC
  RemoveTempFilesOnSignals();     // Ctrl-C during a repack leaves no partial copy
  try {
    return Dispatch(Args(argv + 1, argv + argc));
  } catch (const UsageError& e) {
    std::cerr << "tpkg: " << e.what() << "\nusage: tpkg " << e.synopsis() << "\n";
    return kExitUsage;
  } catch (const BrokenPipe&) {
    return kExitOk;
  } catch (const Error& e) {
    std::cerr << "tpkg: " << e.what() << "\n";
    return kExitFailure;
  } catch (const std::bad_alloc&) {
    std::cerr << "tpkg: out of memory\n";
    return kExitFailure;
  }
}

}  // namespace tpkg::cli

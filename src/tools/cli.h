// cli.h: the skeleton shared by the `tpkg` subcommands (private to src/tools).
//
// Each subcommand is a `Command` row (name, synopsis, summary, run function)
// in cli.cc's table and a `RunX()` in its own command_x.cc, which parses its
// arguments with ParseCommand() and throws to report failure:
//
//   | thrown          | main() prints                         | exit |
//   | --------------- | ------------------------------------- | ---- |
//   | UsageError      | `tpkg: <why>` + `usage: tpkg <synopsis>` | 2 |
//   | tpkg::Error     | `tpkg: <message>`                     | 1    |
//   | BrokenPipe      | nothing (the reader of stdout left)   | 0    |
//
// Thread safety: single-threaded tool.
#pragma once

#include <boost/program_options.hpp>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tpkg::cli {

namespace po = boost::program_options;

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

using Args = std::vector<std::string>;

struct Command {
  std::string_view name;
  std::string_view synopsis;     // after "tpkg ", e.g. "ls [-l] ARCHIVE"
  std::string_view description;  // a paragraph for --help
  int (*run)(const Command& self, const Args& args);
};

class UsageError : public std::runtime_error {
 public:
  UsageError(const std::string& why, std::string_view synopsis)
      : std::runtime_error(why), synopsis_(synopsis) {}
  const std::string& synopsis() const { return synopsis_; }

 private:
  std::string synopsis_;
};

// Thrown when writing to stdout fails with EPIPE.
struct BrokenPipe {};

struct ParsedCommand {
  bool help_shown = false;  // --help was given and printed: return kExitOk
  po::variables_map options;
  std::vector<std::string> operands;  // exactly the names given to ParseCommand
};

// Parses `args` against `options` (plus -h/--help) and exactly
// `operand_names.size()` operands (names in brackets, last, are optional; at
// least that many when `more_operands`, as in `scan PATH...`); throws
// UsageError otherwise.
ParsedCommand ParseCommand(const Command& command, const Args& args,
                           po::options_description options,
                           const std::vector<std::string_view>& operand_names,
                           bool more_operands = false);

int Main(int argc, char** argv);

// The command table (cli.cc), and what `tpkg --help` prints.
const std::vector<Command>& Commands();
// Throws UsageError for an unknown name.
const Command& FindCommand(const std::string& name);
void PrintGlobalHelp(std::ostream& out);

// When the last save of `archive` through tpkgfs failed and its edits are
// still pending (tpkg/save_log.h): prints one warning line on stderr and
// returns it; "" otherwise. The commands that read an archive call it.
std::string WarnIfLastSaveFailed(const std::string& archive);

int RunLs(const Command& self, const Args& args);
int RunCat(const Command& self, const Args& args);
int RunCheck(const Command& self, const Args& args);
int RunRepack(const Command& self, const Args& args);
int RunEdits(const Command& self, const Args& args);
// Inspection (info, modules, deps, tree) and help.
int RunInfo(const Command& self, const Args& args);
int RunModules(const Command& self, const Args& args);
int RunDeps(const Command& self, const Args& args);
int RunTree(const Command& self, const Args& args);
int RunHelp(const Command& self, const Args& args);
// Inspection of pickles and tensors, and the diff of two model files.
int RunPickles(const Command& self, const Args& args);
int RunTensors(const Command& self, const Args& args);
int RunDiff(const Command& self, const Args& args);
// Safety.
int RunScan(const Command& self, const Args& args);

}  // namespace tpkg::cli

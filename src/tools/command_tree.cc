// `tpkg tree [--include GLOB]... [--exclude GLOB]... [--json] FILE`: the
// tree PackageImporter(FILE).file_structure(include=..., exclude=...) prints
// (tpkg/file_structure.h), for any ZIP model file.
#include "cli.h"
#include "model_input.h"
#include "tpkg/error.h"
#include "tpkg/file_structure.h"
#include "tpkg/glob.h"

namespace tpkg::cli {
namespace {

// torch's argument: one pattern is a str, several a list (only the repr,
// which the tree never shows, differs).
GlobPattern PatternOf(const std::vector<std::string>& globs) {
  if (globs.size() == 1) return GlobPattern(globs[0]);
  return GlobPattern(globs);
}

}  // namespace

int RunTree(const Command& self, const Args& args) {
  po::options_description options("Options");
  options.add_options()(
      "include", po::value<std::vector<std::string>>()->value_name("GLOB")->composing(),
      "show only records matching GLOB (torch's glob, separator '/'; repeatable; default **)")(
      "exclude", po::value<std::vector<std::string>>()->value_name("GLOB")->composing(),
      "leave out records matching GLOB (repeatable), e.g. --exclude '.data/**'");
  AddJsonOption(options);
  const ParsedCommand cmd = ParseCommand(self, args, options, {"FILE"});
  if (cmd.help_shown) return kExitOk;
  const std::string& path = cmd.operands[0];
  const auto globs = [&cmd](const char* name) {
    return cmd.options.count(name) ? cmd.options[name].as<std::vector<std::string>>()
                                   : std::vector<std::string>{};
  };
  const std::vector<std::string> include = globs("include"), exclude = globs("exclude");
  // A bad pattern is a bad argument (torch raises ValueError for it).
  const GlobGroup filter = [&] {
    try {
      return GlobGroup(include.empty() ? GlobPattern("**") : PatternOf(include),
                       exclude.empty() ? GlobPattern::Tuple({}) : PatternOf(exclude), "/");
    } catch (const Error& e) {
      throw UsageError(std::string("bad GLOB: ") + e.what(), self.synopsis);
    }
  }();
  const ModelFile file = OpenForInspection(path);
  std::vector<std::string> records;
  for (const ZipEntry& e : file.zip->entries()) records.push_back(e.name);
  const std::string tree = FileStructureText(path, records, filter);
  Output out;
  if (WantsJson(cmd)) {
    WriteJson(out, Json{{"path", path}, {"tree", tree}});
  } else {
    out.Write(tree);
  }
  out.Flush();
  return kExitOk;
}

}  // namespace tpkg::cli

// `tpkg cat ARCHIVE RECORD`: the record's bytes on standard output; for a
// torch.package also the files a mount generates (.data/deps.dot, ...), from
// the same code the mount uses (tpkg/package_files.h).
#include <algorithm>
#include <vector>

#include "cli.h"
#include "output.h"
#include "tpkg/error.h"
#include "tpkg/package_files.h"
#include "tpkg/zip_reader.h"

namespace tpkg::cli {
namespace {

constexpr size_t kChunk = 256 * 1024;

const ZipEntry& FindRecord(const ZipReader& zip, const std::string& record) {
  const ZipEntry* e = zip.Find(record);
  if (!e) {
    std::string hint;
    if (record.starts_with(zip.prefix() + "/")) {
      hint = " (record names do not include the prefix folder '" + zip.prefix() + "/')";
    }
    throw Error(Errc::kNotFound, zip.path() + ": no record '" + record + "'" + hint);
  }
  if (e->is_directory())
    throw Error(Errc::kIsDir, zip.path() + ": '" + record + "' is a directory");
  return *e;
}

}  // namespace

int RunCat(const Command& self, const Args& args) {
  const ParsedCommand cmd =
      ParseCommand(self, args, po::options_description("Options"), {"ARCHIVE", "RECORD"});
  if (cmd.help_shown) return kExitOk;
  WarnIfLastSaveFailed(cmd.operands[0]);
  const ZipReader zip = ZipReader::Open(cmd.operands[0]);
  const std::string& record = cmd.operands[1];
  Output out;
  const std::vector<std::string> generated = GeneratedFilePaths(zip);
  if (std::find(generated.begin(), generated.end(), record) != generated.end()) {
    const ZipRecordSource records(zip);
    out.Write(*GeneratePackageFiles(zip, records).Content(record));
    out.Flush();
    return kExitOk;
  }
  RecordStream in(zip, FindRecord(zip, record));
  std::vector<char> buffer(kChunk);
  while (const size_t n = in.Read(buffer)) out.Write(std::span(buffer).first(n));
  out.Flush();
  return kExitOk;
}

}  // namespace tpkg::cli

// `tpkg cat [--json] ARCHIVE RECORD`: the record's bytes on standard output;
// for a torch.package also the files a mount generates (.data/deps.dot, ...),
// from the same code the mount uses (tpkg/package_files.h).
#include <algorithm>
#include <vector>

#include "cli.h"
#include "model_input.h"
#include "output.h"
#include "progress_line.h"
#include "tpkg/crc32.h"
#include "tpkg/error.h"
#include "tpkg/model_file.h"
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

std::string Base64(std::string_view bytes) {
  static constexpr char kDigits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16 |
                       static_cast<uint8_t>(bytes[i + 1]) << 8 | static_cast<uint8_t>(bytes[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) text += kDigits[(v >> shift) & 63];
  }
  if (const size_t rest = bytes.size() - i; rest != 0) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    text += kDigits[(v >> 18) & 63];
    text += kDigits[(v >> 12) & 63];
    text += rest == 2 ? kDigits[(v >> 6) & 63] : '=';
    text += '=';
  }
  return text;
}

bool IsUtf8(const std::string& bytes) {
  try {
    (void)Json(bytes).dump();  // the strict error handler refuses invalid UTF-8
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

// {"path", "record", "generated", "size", "crc32", "encoding", "content"}
void PrintJson(Output& out, const std::string& path, const std::string& record, bool generated,
               const std::string& content) {
  const bool text = IsUtf8(content);
  WriteJson(out, Json{{"path", path},
                      {"record", record},
                      {"generated", generated},
                      {"size", content.size()},
                      {"crc32", Crc32(0, content)},
                      {"encoding", text ? "utf-8" : "base64"},
                      {"content", text ? content : Base64(content)}});
  out.Flush();
}

}  // namespace

int RunCat(const Command& self, const Args& args) {
  po::options_description options("Options");
  AddJsonOption(options);
  const ParsedCommand cmd = ParseCommand(self, args, options, {"ARCHIVE", "RECORD"});
  if (cmd.help_shown) return kExitOk;
  WarnIfLastSaveFailed(cmd.operands[0]);
  // As the inspection commands open it: a .pt2 has no prefix folder.
  const ModelFile file = OpenModelFile(cmd.operands[0]);
  const ZipReader& zip = *file.zip;
  const std::string& record = cmd.operands[1];
  Output out;
  const std::vector<std::string> generated = GeneratedFilePaths(zip);
  if (std::find(generated.begin(), generated.end(), record) != generated.end()) {
    const ZipRecordSource records(zip);
    const auto content = GeneratePackageFiles(zip, records, CachedAnalysis()).Content(record);
    if (WantsJson(cmd)) {
      PrintJson(out, zip.path(), record, true, *content);
      return kExitOk;
    }
    out.Write(*content);
    out.Flush();
    return kExitOk;
  }
  const ZipEntry& entry = FindRecord(zip, record);
  if (WantsJson(cmd)) {
    PrintJson(out, zip.path(), record, false, zip.ReadAll(entry));
    return kExitOk;
  }
  ProgressLine progress("cat", record);
  RecordStream in(zip, entry);
  std::vector<char> buffer(kChunk);
  while (const size_t n = in.Read(buffer)) {
    progress.Update(in.position(), entry.size);
    out.Write(std::span(buffer).first(n));
  }
  progress.Clear();
  out.Flush();
  return kExitOk;
}

}  // namespace tpkg::cli

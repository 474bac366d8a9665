// `tpkg cat [--json] ARCHIVE RECORD`: the record's bytes on standard output;
// for a torch.package also the files a mount generates (.data/deps.dot, ...),
// from the same code the mount uses (tpkg/package_files.h).
#include <algorithm>
#include <optional>
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

// Where the last whole UTF-8 sequence of `bytes` ends: what follows (at most
// three bytes) may be completed by the next chunk.
size_t WholeSequencesEnd(std::string_view bytes) {
  for (size_t back = 1; back <= 3 && back <= bytes.size(); ++back) {
    const auto c = static_cast<unsigned char>(bytes[bytes.size() - back]);
    if (c < 0x80) return bytes.size();
    if (c < 0xC0) continue;  // a continuation byte: look further back
    const size_t length = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    return length > back ? bytes.size() - back : bytes.size();
  }
  return bytes.size();
}

// The JSON string body (no quotes) of `text`, as the one-shot output
// escaped it; throws nlohmann's type_error when `text` is not valid UTF-8.
std::string EscapedJson(std::string_view text) {
  const std::string quoted = Json(std::string(text)).dump();
  return quoted.substr(1, quoted.size() - 2);
}

// Feeds `record` to `chunk` in pieces of whole UTF-8 sequences (when
// `utf8`) or of whole base64 groups; the last piece may be cut anywhere.
template <typename Chunk>
void ForEachPiece(const ZipReader& zip, const ZipEntry& entry, bool utf8, Chunk chunk) {
  RecordStream in(zip, entry);
  std::vector<char> buffer(kChunk);
  std::string pending;
  while (const size_t n = in.Read(buffer)) {
    pending.append(buffer.data(), n);
    const size_t end = utf8 ? WholeSequencesEnd(pending) : pending.size() / 3 * 3;
    chunk(std::string_view(pending).substr(0, end));
    pending.erase(0, end);
  }
  chunk(pending);
}

bool RecordIsUtf8(const ZipReader& zip, const ZipEntry& entry) {
  try {
    ForEachPiece(zip, entry, true, [](std::string_view piece) { (void)EscapedJson(piece); });
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

// The object's members but "content", and the text that opens it:
// {"path", "record", "generated", "size", "crc32", "encoding", "content"}.
std::string JsonHead(const std::string& path, const std::string& record, bool generated,
                     uint64_t size, uint32_t crc, bool text) {
  std::string head =
      Json{{"path", path}, {"record", record}, {"generated", generated},
           {"size", size}, {"crc32", crc},     {"encoding", text ? "utf-8" : "base64"}}
          .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  head.pop_back();  // the closing brace
  return head + ",\"content\":\"";
}

void PrintJson(Output& out, const std::string& path, const std::string& record, bool generated,
               const std::string& content) {
  std::optional<std::string> escaped;
  try {
    escaped = EscapedJson(content);  // the strict error handler refuses invalid UTF-8
  } catch (const nlohmann::json::type_error&) {
  }
  out.Write(
      JsonHead(path, record, generated, content.size(), Crc32(0, content), escaped.has_value()));
  out.Write(escaped ? *escaped : Base64(content));
  out.Line("\"}");
  out.Flush();
}

// The same for a record of any size, read twice (is it text? then its
// content) in chunks: memory stays one chunk, not the record's bytes three
// or six times over.
void StreamJson(Output& out, const ZipReader& zip, const ZipEntry& entry,
                const std::string& record) {
  const bool text = RecordIsUtf8(zip, entry);  // reads it all: its CRC-32 is checked
  out.Write(JsonHead(zip.path(), record, false, entry.size, entry.crc32, text));
  ForEachPiece(zip, entry, text, [&](std::string_view piece) {
    out.Write(text ? EscapedJson(piece) : Base64(piece));
  });
  out.Line("\"}");
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
    StreamJson(out, zip, entry, record);
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

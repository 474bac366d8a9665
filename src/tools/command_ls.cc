// `tpkg ls [-l] ARCHIVE`: the record names, one per line, in archive order.
#include <cstdio>

#include "cli.h"
#include "model_input.h"
#include "output.h"
#include "tpkg/model_file.h"
#include "tpkg/zip_reader.h"

namespace tpkg::cli {
namespace {

// "stored      12345      12345 1a2b3c4d        128 name"
std::string LongLine(const ZipEntry& e) {
  char fields[96];
  std::snprintf(fields, sizeof(fields), "%-7s %12llu %12llu %08x %12llu ",
                e.method == kMethodDeflate ? "deflate" : "stored",
                static_cast<unsigned long long>(e.size),
                static_cast<unsigned long long>(e.compressed_size), e.crc32,
                static_cast<unsigned long long>(e.data_offset));
  return fields + e.name;
}

}  // namespace

int RunLs(const Command& self, const Args& args) {
  po::options_description options("Options");
  options.add_options()("long,l",
                        "also print method, size, compressed size, CRC-32 and data offset");
  AddJsonOption(options);
  const ParsedCommand cmd = ParseCommand(self, args, options, {"ARCHIVE"});
  if (cmd.help_shown) return kExitOk;
  WarnIfLastSaveFailed(cmd.operands[0]);
  // As the inspection commands open it: a .pt2 has no prefix folder, a legacy
  // torch.save file is named as such.
  const ModelFile file = OpenModelFile(cmd.operands[0]);
  const ZipReader& zip = *file.zip;
  const bool long_format = cmd.options.count("long") != 0;
  Output out;
  if (WantsJson(cmd)) {
    Json records = Json::array();
    for (const ZipEntry& e : zip.entries()) {
      records.push_back(Json{{"name", e.name},
                             {"method", e.method == kMethodDeflate ? "deflate" : "stored"},
                             {"size", e.size},
                             {"compressed_size", e.compressed_size},
                             {"crc32", e.crc32},
                             {"data_offset", e.data_offset}});
    }
    WriteJson(
        out,
        Json{{"path", zip.path()}, {"prefix", TextOrNull(zip.prefix())}, {"records", records}});
    out.Flush();
    return kExitOk;
  }
  for (const ZipEntry& e : zip.entries()) out.Line(long_format ? LongLine(e) : e.name);
  out.Flush();
  return kExitOk;
}

}  // namespace tpkg::cli

// archive_scan.cc: ZIP containers as torch reads them (safety/scan_context.h).
// Every place where readers could disagree (duplicates, names differing in
// case, local header vs central directory, overlaps, records outside the
// prefix folder, ...) is a finding of its own, from the strict reader's
// CheckArchive; then every record is checked by position, not by name, so
// the copy torch loads and the copies other tools look at are all seen.
#include <sys/mman.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <unordered_set>

#include "base/scoped_fd.h"
#include "safety/scan_context.h"
#include "scan/pickle_sniff.h"
#include "tpkg/error.h"
#include "tpkg/metadata.h"
#include "tpkg/model_file.h"
#include "tpkg/zip_reader.h"

namespace tpkg::safety {
namespace {

// The one rule for file kinds (tpkg/model_file.h), by its stable names.
std::string KindOf(const ZipReader& zip) { return std::string(FileKindName(DetectFileKind(zip))); }

// torch.export.save (torch 2.x) writes its `.pt2` through Python's zipfile,
// and torch.export.load reads it the same way: no prefix folder is torch's
// own layout there, not a place where readers disagree. Its weights are
// torch.save archives nested as records, read with torch's reader (and
// checked as such).
bool WrittenWithoutPrefix(const std::string& kind, const ZipReader& zip) {
  return kind == "torch.export" && zip.prefix().empty();
}
bool IsNoPrefixProblem(const std::string& message) {
  return message.find("first record is not in a prefix folder") != std::string::npos;
}

class ZipRecords : public RecordSource {
 public:
  explicit ZipRecords(const ZipReader& zip) : zip_(zip) {
    for (const ZipEntry& e : zip.entries())
      if (!e.is_directory())
        records_.push_back({e.name, static_cast<int64_t>(e.data_offset)});
  }
  const std::vector<PackageRecord>& records() const override { return records_; }
  std::string Read(const PackageRecord& record) const override {
    for (const ZipEntry& e : zip_.entries())
      if (static_cast<int64_t>(e.data_offset) == record.offset && e.name == record.name)
        return ReadForAnalysis(zip_, e);
    throw Error(Errc::kNotFound, "record '" + record.name + "' vanished");
  }

 private:
  const ZipReader& zip_;
  std::vector<PackageRecord> records_;
};

// Records of torch.save / TorchScript / .pt2 / plain ZIPs.
void ScanModelRecords(const ZipReader& zip, const std::string& kind, const std::string& where,
                      ScanContext& ctx) {
  std::string policy_kind = kind == "torchscript" ? "torchscript" : "torch.save";
  // A .pt2's weights are archives by design: no note that one was found.
  const bool nested_by_design = kind == "torch.export";
  for (const ZipEntry& e : zip.entries()) {
    if (e.is_directory()) continue;
    std::string rec = where + "!" + e.name;
    try {
      bool main_pickle = (kind == "torch.save" && e.name == "data.pkl") ||
                         (kind == "torchscript" && (e.name == "data.pkl" ||
                                                    e.name == "constants.pkl"));
      if (main_pickle || e.name.ends_with(".pkl")) {
        std::string bytes = ReadForAnalysis(zip, e);
        CheckPickles(bytes, rec, policy_kind, nullptr, StreamShape::kRecord, true, ctx);
        continue;
      }
      // Tensor data torch reads as raw bytes, and TorchScript code, never run as pickles.
      if (kind != "zip" && (e.name.starts_with("data/") || e.name.starts_with("code/") ||
                            e.name.starts_with(".data/") || e.name == "version" ||
                            e.name == "byteorder"))
        continue;
      char head[4];
      const std::string_view start(head, zip.ReadAt(e, 0, head));
      const bool archive = start == std::string_view("PK\x03\x04", 4);
      const pickle::Sniff sniff = archive ? pickle::Sniff::kNo : pickle::SniffPickleHead(start);
      if (archive || sniff != pickle::Sniff::kNo) {
        std::string bytes = ReadForAnalysis(zip, e);
        // A headerless (protocol 0/1) pickle only shows as one when read to its STOP.
        if (sniff == pickle::Sniff::kHeaderless &&
            pickle::SniffPickle(bytes) == pickle::Sniff::kNo)
          continue;
        ++ctx.depth;
        ScanNestedBytes(bytes, rec, ctx, !(archive && nested_by_design));
        --ctx.depth;
      }
    } catch (const Error& err) {
      ctx.Unreadable(rec, err.what());
    }
  }
}

}  // namespace

void ScanArchive(const std::string& path, const std::string& where, ScanContext& ctx) {
  // Reading every record to its CRC-32 is most of the work on a big file.
  std::vector<Error> problems;
  try {
    problems = CheckArchive(path, ctx.depth == 0 ? ctx.progress : ProgressCallback());
  } catch (const Error&) {
    // Not opened or no regular file: ZipReader::Open below says so as unreadable.
  }
  std::optional<ZipReader> zip;
  try {
    zip.emplace(ZipReader::Open(path, ZipReaderOptions{.strict = false}));
  } catch (const Error& err) {
    std::string msg = err.what();
    if (msg.starts_with(path + ": ")) msg = msg.substr(path.size() + 2);
    ctx.Unreadable(where, msg);
    zip.reset();
  }
  const std::string kind = zip ? KindOf(*zip) : "zip";
  for (const Error& problem : problems) {
    std::string msg = problem.what();
    if (msg.starts_with(path + ": ")) msg = msg.substr(path.size() + 2);
    if (zip && WrittenWithoutPrefix(kind, *zip) && IsNoPrefixProblem(msg)) continue;
    ctx.Add(Severity::kSuspicious, "zip.container", where, -1, "",
            msg + " (readers of the archive may see different content)");
  }
  if (!zip) return;
  if (ctx.depth == 0) ctx.result.kind = kind;
  if (kind == "torch.package") {
    ZipRecords records(*zip);
    ScanPackageRecords(records, where, ctx);
  } else {
    ScanModelRecords(*zip, kind, where, ctx);
  }
}

void ScanNestedBytes(std::string_view bytes, const std::string& where, ScanContext& ctx,
                     bool note_archive) {
  if (ctx.depth > kMaxNesting) {
    ctx.Unreadable(where, "nested more than " + std::to_string(kMaxNesting) + " levels deep");
    return;
  }
  if (bytes.starts_with("PK\x03\x04")) {
    if (note_archive)
      ctx.Add(Severity::kInfo, "zip.nested-archive", where, -1, "",
              "an archive inside the file: scanned as well");
    // The ZIP reader works on files: give it an anonymous one.
    ScopedFd fd(memfd_create("tpkg-scan-nested", MFD_CLOEXEC));
    if (!fd.valid()) {
      ctx.Unreadable(where, "cannot make a memory file for a nested archive");
      return;
    }
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = write(fd.get(), bytes.data() + done, bytes.size() - done);
      if (n <= 0) {
        ctx.Unreadable(where, "cannot copy a nested archive into memory");
        return;
      }
      done += static_cast<size_t>(n);
    }
    ScanArchive("/proc/self/fd/" + std::to_string(fd.get()), where, ctx);
    return;
  }
  CheckPickles(std::span<const char>(bytes.data(), bytes.size()), where, "torch.save", nullptr,
               StreamShape::kRaw, false, ctx);
}

}  // namespace tpkg::safety

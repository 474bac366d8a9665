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
#include "tpkg/zip_reader.h"

namespace tpkg::safety {
namespace {

std::string KindOf(const ZipReader& zip) {
  bool data_pkl = false, constants = false, code = false, pt2 = false;
  for (const ZipEntry& e : zip.entries()) {
    if (e.name == ".data/extern_modules") return "torch.package";
    data_pkl |= e.name == "data.pkl";
    constants |= e.name == "constants.pkl";
    code |= e.name.starts_with("code/");
    pt2 |= e.name == "archive_format" || e.name.ends_with("/archive_format");
  }
  if (data_pkl && constants && code) return "torchscript";
  if (pt2) return "pt2";
  if (data_pkl) return "torch.save";
  return "zip";
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
        ScanNestedBytes(bytes, rec, ctx);
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
  for (const Error& problem :
       CheckArchive(path, ctx.depth == 0 ? ctx.progress : ProgressCallback())) {
    std::string msg = problem.what();
    if (msg.starts_with(path + ": ")) msg = msg.substr(path.size() + 2);
    ctx.Add(Severity::kSuspicious, "zip.container", where, -1, "",
            msg + " (readers of the archive may see different content)");
  }
  std::optional<ZipReader> zip;
  try {
    zip.emplace(ZipReader::Open(path, ZipReaderOptions{.strict = false}));
  } catch (const Error& err) {
    std::string msg = err.what();
    if (msg.starts_with(path + ": ")) msg = msg.substr(path.size() + 2);
    ctx.Unreadable(where, msg);
    return;
  }
  std::string kind = KindOf(*zip);
  if (ctx.depth == 0) ctx.result.kind = kind;
  if (kind == "torch.package") {
    ZipRecords records(*zip);
    ScanPackageRecords(records, where, ctx);
  } else {
    ScanModelRecords(*zip, kind, where, ctx);
  }
}

void ScanNestedBytes(std::string_view bytes, const std::string& where, ScanContext& ctx) {
  if (ctx.depth > kMaxNesting) {
    ctx.Unreadable(where, "nested more than " + std::to_string(kMaxNesting) + " levels deep");
    return;
  }
  if (bytes.starts_with("PK\x03\x04")) {
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

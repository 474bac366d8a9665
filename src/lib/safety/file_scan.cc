// file_scan.cc: files and folders as `tpkg scan` sees them (tpkg/scan.h):
// the kind of a file by its content, the legacy torch.save stream, raw
// pickles, folders walked or read as one torch.package.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unistd.h>

#include <filesystem>
#include <system_error>
#include <variant>

#include "zip/zip_format.h"

#include "base/file_util.h"
#include "safety/mapped_file.h"
#include "safety/scan_context.h"
#include "scan/pickle_sniff.h"
#include "tpkg/error.h"
#include "tpkg/scan.h"

namespace tpkg {
namespace safety {

MappedFile::MappedFile(const std::string& path) {
  // O_NONBLOCK: a FIFO would block open() until a writer came (refused below).
  ScopedFd fd = OpenOrThrow(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  struct stat st = FstatOrThrow(fd.get(), path);
  if (!S_ISREG(st.st_mode))
    throw Error(Errc::kInvalidArgument,
                path + ": not a regular file (" + std::string(FileTypeName(st.st_mode)) + ")");
  size_ = static_cast<size_t>(st.st_size);
  if (size_ == 0) {
    data_ = empty_.data();
    return;
  }
  void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (p == MAP_FAILED) {
    int err = errno;
    throw Error(Errc::kIo, path + ": cannot map the file: " + std::strerror(err), err);
  }
  data_ = static_cast<const char*>(p);
}

MappedFile::~MappedFile() {
  if (size_ != 0) munmap(const_cast<char*>(data_), size_);
}

namespace {

// torch.save's legacy stream starts with a pickle of this magic number
// (protocol 2: PROTO 2, LONG1 of 10 bytes 0x1950a86a20f9469cfc6c).
constexpr std::string_view kLegacyMagic("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19",
                                        14);

// An end-of-central-directory signature within the window torch's reader
// searches (zip_format.h; a superset of what its block walk finds: this only
// picks the file's kind, the reader then decides): a ZIP may carry anything
// before it (self-extracting, prepended data) and, for torch, some bytes after.
bool HasZipEnd(std::string_view bytes) {
  size_t window = std::min<size_t>(bytes.size(), zipfmt::kTorchEocdSearchWindow);
  std::string_view tail = bytes.substr(bytes.size() - window);
  return tail.rfind(std::string_view("PK\x05\x06", 4)) != std::string_view::npos;
}

bool LooksLikeModelFile(const std::string& path, std::string_view head) {
  if (head.starts_with("PK\x03\x04")) return true;
  // A headerless (protocol 0/1) pickle would have to be read whole to tell;
  // in a folder walk it is found by its extension.
  if (pickle::SniffPickleHead(head) == pickle::Sniff::kProtocolHeader) return true;
  static const char* kExtensions[] = {".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt",
                                      ".pt2", ".ptl",    ".mar", ".joblib"};
  for (const char* ext : kExtensions)
    if (path.ends_with(ext)) return true;
  return false;
}

void ScanRegularFile(const std::string& path, ScanContext& ctx) {
  MappedFile file(path);
  std::string_view bytes = file.bytes();
  if (bytes.starts_with("PK\x03\x04")) {
    ScanArchive(path, "", ctx);
    return;
  }
  std::span<const char> span(bytes.data(), bytes.size());
  if (bytes.size() >= 22 && HasZipEnd(bytes)) {
    // torch.load decides by the first bytes (a ZIP starts with a local
    // header) and unpickles anything else; ZIP tools read from the end. A
    // file that is both is read differently: scan it both ways.
    ctx.Add(Severity::kSuspicious, "zip.data-before-archive", "", 0, "",
            "the file ends like a ZIP archive but does not start like one: torch.load "
            "unpickles its first bytes, ZIP readers see the archive");
    ScanArchive(path, "", ctx);
    ctx.result.kind = "pickle + zip";
    CheckPickles(span, "", "torch.save", nullptr, StreamShape::kRaw, false, ctx);
    return;
  }
  if (bytes.starts_with(kLegacyMagic)) {
    ctx.result.kind = "torch.save (legacy)";
    CheckPickles(span, "", "torch.save", nullptr, StreamShape::kLegacy, true, ctx);
    return;
  }
  ctx.result.kind = "pickle";
  CheckPickles(span, "", "torch.save", nullptr, StreamShape::kRaw, true, ctx);
}

}  // namespace
}  // namespace safety

bool ScanFileResult::HasFindings() const {
  return std::any_of(findings.begin(), findings.end(),
                     [](const ScanFinding& f) { return f.severity != Severity::kInfo; });
}

ScanFileResult ScanFile(const std::string& path, const ScanPolicy& policy,
                        const ProgressCallback& progress) {
  ScanFileResult result;
  result.path = path;
  safety::ScanContext ctx{policy, result, 0, progress};
  try {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      if (std::filesystem::exists(path + "/.data/extern_modules", ec))
        safety::ScanPackageFolder(path, ctx);
      else
        ctx.Unreadable("", "a folder that is not a torch.package (give it to ScanPaths)");
    } else {
      safety::ScanRegularFile(path, ctx);
    }
  } catch (const Error& e) {
    ctx.Unreadable("", e.what());
  }
  if (result.kind.empty()) result.kind = "unknown";
  return result;
}

std::vector<ScanFileResult> ScanPaths(const std::vector<std::string>& paths,
                                      const ScanPolicy& policy,
                                      const ProgressCallback& progress) {
  namespace fs = std::filesystem;
  // What to scan first (folders walked), so that progress knows the total;
  // a folder that cannot be walked is a result of its own, in its place.
  std::vector<std::variant<std::string, ScanFileResult>> work;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (!fs::is_directory(path, ec) || fs::exists(path + "/.data/extern_modules", ec)) {
      work.emplace_back(path);
      continue;
    }
    std::vector<std::string> files;
    const auto cannot_walk = [&work](const std::string& folder, const std::error_code& why) {
      ScanFileResult failed;
      failed.path = folder;
      failed.kind = "directory";
      failed.unreadable.push_back(folder + ": cannot walk the folder: " + why.message());
      work.emplace_back(std::move(failed));
    };
    auto it = fs::recursive_directory_iterator(path, fs::directory_options::none, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::error_code entry_ec;  // about this entry only: the walk goes on
      if (it->is_directory(entry_ec)) {
        if (fs::exists(it->path() / ".data/extern_modules", entry_ec)) {
          files.push_back(it->path().string());  // a package folder inside: one result
          it.disable_recursion_pending();
          continue;
        }
        // A subfolder that cannot be read is named and skipped, not the end
        // of the walk (whose iterator would stop at it).
        std::error_code open_ec;
        const fs::directory_iterator probe(it->path(), open_ec);
        if (open_ec) {
          cannot_walk(it->path().string(), open_ec);
          it.disable_recursion_pending();
        }
        continue;
      }
      if (!it->is_regular_file(entry_ec)) continue;
      char head[4] = {0, 0, 0, 0};
      {
        ScopedFd fd(open(it->path().c_str(), O_RDONLY | O_CLOEXEC));
        if (fd.valid() && read(fd.get(), head, 4) < 0) head[0] = 0;
      }
      if (safety::LooksLikeModelFile(it->path().string(), std::string_view(head, 4)))
        files.push_back(it->path().string());
    }
    if (ec) cannot_walk(path, ec);
    std::sort(files.begin(), files.end());
    for (std::string& f : files) work.emplace_back(std::move(f));
  }
  // Folders (a package folder) count as nothing: their files are small.
  std::vector<uint64_t> sizes(work.size(), 0);
  uint64_t total = 0;
  for (size_t i = 0; i < work.size(); ++i) {
    std::error_code ec;
    const auto* path = std::get_if<std::string>(&work[i]);
    if (path && fs::is_regular_file(*path, ec)) sizes[i] = fs::file_size(*path, ec);
    if (ec) sizes[i] = 0;
    total += sizes[i];
  }
  std::vector<ScanFileResult> results;
  uint64_t base = 0;
  for (size_t i = 0; i < work.size(); ++i) {
    if (auto* failed = std::get_if<ScanFileResult>(&work[i])) {
      results.push_back(std::move(*failed));
      continue;
    }
    ProgressCallback file_progress;
    if (progress && sizes[i] != 0) {
      file_progress = [&, size = sizes[i]](uint64_t done, uint64_t of) {
        if (of == 0) return;
        const double part = static_cast<double>(done) / static_cast<double>(of);
        progress(base + std::min(size, static_cast<uint64_t>(part * static_cast<double>(size))),
                 total);
      };
    }
    results.push_back(ScanFile(std::get<std::string>(work[i]), policy, file_progress));
    base += sizes[i];
    ReportProgress(progress, base, total);
  }
  return results;
}

int ScanExitStatus(const std::vector<ScanFileResult>& results) {
  bool findings = false;
  for (const ScanFileResult& r : results) {
    if (!r.unreadable.empty()) return 2;
    findings |= r.HasFindings();
  }
  return findings ? 1 : 0;
}

}  // namespace tpkg

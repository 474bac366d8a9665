// Fuzz target: a sequence of file-system operations on the read/write
// mount's operations layer (JournalFsOps, as the FUSE bridge calls it),
// checked step by step against an in-memory model of POSIX semantics: every
// operation must succeed exactly when the model says it can, reads must
// return the model's bytes, and at the end a walk of the whole tree must
// find exactly the model's files and folders. The input is the operation
// script; names come from a small table so that operations collide.
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "fuzz_archive.h"
#include "fuzz_support.h"
#include "inode_table.h"
#include "journal_fs_ops.h"
#include "log.h"
#include "tpkg/journal.h"
#include "tpkg/zip_reader.h"

namespace {

using tpkg::fuzz::Fail;
using tpkg::fuzz::InputCursor;
using tpkg::fs::InodeId;

constexpr std::array<const char*, 5> kFolders = {"", "pkg", "pkg/sub", "d", "d/e"};
constexpr std::array<const char*, 8> kNames = {"a.py", "b",    "model.py", "util.py",
                                               "sub",  "d",    "e",        "weights.bin"};

// An offset or size that reaches the first chunks of a record patched in
// place (64 KiB, tpkg/record_patch.h), across their boundaries.
uint64_t OffsetFrom(InputCursor& in) { return in.U16() % 1024 + (in.Byte() % 4) * 65000; }

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}
std::string ParentOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}
bool Below(const std::string& path, const std::string& dir) {  // strictly inside dir
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

// What the package holds, as POSIX says the operations change it. `.data`
// holds generated files and is left out of every operation and comparison.
struct Model {
  std::map<std::string, std::string> files;
  std::set<std::string> dirs{""};

  bool IsFile(const std::string& p) const { return files.count(p) != 0; }
  bool IsDir(const std::string& p) const { return dirs.count(p) != 0; }
  bool Exists(const std::string& p) const { return IsFile(p) || IsDir(p); }
  bool EmptyDir(const std::string& p) const {
    for (const auto& [f, _] : files)
      if (Below(f, p)) return false;
    for (const std::string& d : dirs)
      if (Below(d, p)) return false;
    return true;
  }
  // rename(2)'s rules for the cases the layer supports.
  bool CanRename(const std::string& from, const std::string& to) const {
    if (!Exists(from) || !IsDir(ParentOf(to)) || from.empty() || to.empty()) return false;
    if (from == to) return true;
    if (IsDir(from)) {
      if (Below(to, from)) return false;               // EINVAL: into itself
      if (IsFile(to)) return false;                    // ENOTDIR
      if (IsDir(to) && !EmptyDir(to)) return false;    // ENOTEMPTY
      return true;
    }
    return !IsDir(to);                                 // EISDIR
  }
  void Rename(const std::string& from, const std::string& to) {
    if (from == to) return;
    if (IsFile(from)) {
      files[to] = files[from];
      files.erase(from);
      return;
    }
    dirs.erase(to);
    std::map<std::string, std::string> moved_files;
    for (auto it = files.begin(); it != files.end();) {
      if (Below(it->first, from)) {
        moved_files[to + it->first.substr(from.size())] = it->second;
        it = files.erase(it);
      } else {
        ++it;
      }
    }
    std::set<std::string> moved_dirs{to};
    for (auto it = dirs.begin(); it != dirs.end();) {
      if (*it == from || Below(*it, from)) {
        if (*it != from) moved_dirs.insert(to + it->substr(from.size()));
        it = dirs.erase(it);
      } else {
        ++it;
      }
    }
    files.insert(moved_files.begin(), moved_files.end());
    dirs.insert(moved_dirs.begin(), moved_dirs.end());
  }
};

struct Sample {
  std::string archive;
  std::shared_ptr<const tpkg::ZipReader> zip;
};

const Sample& SampleArchive() {
  static const Sample sample = [] {
    // Log lines of refused operations would drown the fuzzer's output.
    tpkg::fs::ConfigureLogging(tpkg::fs::LogSink::kSyslog, false);
    std::string path = tpkg::fuzz::ScratchFolder() + "/sample.pt";
    tpkg::fuzz::WriteSampleArchive(path);
    return Sample{path, std::make_shared<const tpkg::ZipReader>(tpkg::ZipReader::Open(path))};
  }();
  return sample;
}

class Harness {
 public:
  Harness(const Sample& sample, const std::string& journal_dir)
      : journal_(tpkg::Journal::OpenOrCreate(sample.archive, *sample.zip,
                                             {.directory = journal_dir})),
        ops_(sample.zip, journal_, tpkg::fs::FsOptions{getuid(), getgid()}) {
    for (const std::string& name : tpkg::fuzz::SampleRecordNames()) {
      if (name.starts_with(".data/")) continue;
      model_.files[name] = tpkg::fuzz::SampleRecordBytes(name);
      for (std::string d = ParentOf(name); !d.empty(); d = ParentOf(d)) model_.dirs.insert(d);
    }
  }

  void Step(InputCursor& in) {
    const uint8_t op = in.Byte() % 8;
    const std::string dir = kFolders[in.Byte() % kFolders.size()];
    const std::string path = Join(dir, kNames[in.Byte() % kNames.size()]);
    switch (op) {
      case 0: CreateAndWrite(path, in.Bytes(in.Byte())); break;
      case 1: WriteAt(path, OffsetFrom(in), in.Bytes(in.Byte())); break;
      case 2: Truncate(path, OffsetFrom(in)); break;
      case 3: {
        const bool ok = model_.IsFile(path);  // before the call changes the model
        Expect("unlink " + path, Unlink(path), ok);
        break;
      }
      case 4: Mkdir(path); break;
      case 5: Rmdir(path); break;
      case 6: {
        const std::string to =
            Join(kFolders[in.Byte() % kFolders.size()], kNames[in.Byte() % kNames.size()]);
        Rename(path, to);
        break;
      }
      default: CheckRead(path); break;
    }
  }

  // The whole tree, walked through the layer, equals the model.
  void CheckTree() {
    Model seen;
    Walk(tpkg::fs::kRootInode, "", seen);
    if (seen.dirs != model_.dirs) Fail("the folders differ from the model");
    if (seen.files != model_.files) Fail("the files differ from the model");
  }

 private:
  static void Expect(const std::string& what, int rc, bool model_ok) {
    // TPKG_FUZZ_TRACE=1: every operation, to read a finding's script.
    static const bool trace = std::getenv("TPKG_FUZZ_TRACE") != nullptr;
    if (trace) std::fprintf(stderr, "%s -> %d (model: %s)\n", what.c_str(), rc, model_ok ? "ok" : "error");
    if ((rc >= 0) != model_ok)
      Fail(what + ": returned " + std::to_string(rc) + ", the model " +
           (model_ok ? "expected success" : "expected an error"));
  }

  // The inode of `path`, or nullopt (like the kernel's path walk).
  std::optional<InodeId> Resolve(const std::string& path) {
    InodeId ino = tpkg::fs::kRootInode;
    size_t start = 0;
    while (start < path.size()) {
      const size_t slash = std::min(path.find('/', start), path.size());
      struct stat st;
      if (ops_.Lookup(ino, std::string_view(path).substr(start, slash - start), &st) != 0)
        return std::nullopt;
      ino = st.st_ino;
      start = slash + 1;
    }
    return ino;
  }

  void CreateAndWrite(const std::string& path, std::string_view bytes) {
    const bool ok = model_.IsDir(ParentOf(path)) && !model_.Exists(path);
    const std::optional<InodeId> parent = Resolve(ParentOf(path));
    if (!parent) return Expect("create " + path + " (parent)", -ENOENT, ok);
    struct stat st;
    uint64_t fh = 0;
    if (model_.Exists(path)) return;  // the kernel answers EEXIST itself
    const int rc = ops_.Create(*parent, LastName(path), 0644, O_WRONLY, &st, &fh);
    Expect("create " + path, rc, ok);
    if (rc != 0) return;
    const ssize_t n = ops_.Write(fh, 0, bytes);
    if (n != static_cast<ssize_t>(bytes.size())) Fail("short write to " + path);
    ops_.Release(fh);
    model_.files[path] = std::string(bytes);
  }

  void WriteAt(const std::string& path, uint64_t offset, std::string_view bytes) {
    const std::optional<InodeId> ino = Resolve(path);
    if (!ino) return Expect("open " + path, -ENOENT, model_.IsFile(path));
    uint64_t fh = 0;
    const int rc = ops_.Open(*ino, O_RDWR, &fh);
    Expect("open for writing " + path, rc, model_.IsFile(path));
    if (rc != 0) return;
    const ssize_t n = ops_.Write(fh, offset, bytes);
    if (n != static_cast<ssize_t>(bytes.size())) Fail("short write to " + path);
    ops_.Release(fh);
    std::string& content = model_.files[path];
    if (!bytes.empty()) {
      if (content.size() < offset + bytes.size()) content.resize(offset + bytes.size(), '\0');
      content.replace(offset, bytes.size(), bytes);
    }
  }

  void Truncate(const std::string& path, uint64_t size) {
    const std::optional<InodeId> ino = Resolve(path);
    if (!ino) return Expect("truncate " + path, -ENOENT, model_.IsFile(path));
    struct stat attr = {}, out;
    attr.st_size = static_cast<off_t>(size);
    const int rc = ops_.SetAttr(*ino, attr, tpkg::fs::kSetSize, std::nullopt, &out);
    Expect("truncate " + path, rc, model_.IsFile(path));
    if (rc == 0) model_.files[path].resize(size, '\0');
  }

  int Unlink(const std::string& path) {
    const std::optional<InodeId> parent = Resolve(ParentOf(path));
    if (!parent) return -ENOENT;
    const int rc = ops_.Unlink(*parent, LastName(path));
    if (rc == 0) model_.files.erase(path);
    return rc;
  }

  void Mkdir(const std::string& path) {
    const bool ok = model_.IsDir(ParentOf(path)) && !model_.Exists(path);
    const std::optional<InodeId> parent = Resolve(ParentOf(path));
    if (!parent) return Expect("mkdir " + path + " (parent)", -ENOENT, ok);
    if (model_.Exists(path)) return;  // the kernel answers EEXIST itself
    struct stat st;
    const int rc = ops_.Mkdir(*parent, LastName(path), 0755, &st);
    Expect("mkdir " + path, rc, ok);
    if (rc == 0) model_.dirs.insert(path);
  }

  void Rmdir(const std::string& path) {
    const bool ok = model_.IsDir(path) && model_.EmptyDir(path);
    const std::optional<InodeId> parent = Resolve(ParentOf(path));
    if (!parent) return Expect("rmdir " + path + " (parent)", -ENOENT, ok);
    const int rc = ops_.Rmdir(*parent, LastName(path));
    Expect("rmdir " + path, rc, ok);
    if (rc == 0) model_.dirs.erase(path);
  }

  void Rename(const std::string& from, const std::string& to) {
    const bool ok = model_.CanRename(from, to);
    const std::optional<InodeId> from_parent = Resolve(ParentOf(from));
    const std::optional<InodeId> to_parent = Resolve(ParentOf(to));
    if (!from_parent || !to_parent || !model_.Exists(from))
      return Expect("rename " + from + " " + to, -ENOENT, ok);
    const int rc = ops_.Rename(*from_parent, LastName(from), *to_parent, LastName(to),
                               /*no_replace=*/false, /*exchange=*/false);
    Expect("rename " + from + " -> " + to, rc, ok);
    if (rc == 0) model_.Rename(from, to);
  }

  void CheckRead(const std::string& path) {
    const std::optional<InodeId> ino = Resolve(path);
    if (!ino) return Expect("lookup " + path, -ENOENT, model_.Exists(path));
    if (!model_.IsFile(path)) return;
    if (ReadAll(*ino) != model_.files[path]) Fail("read " + path + ": bytes differ from the model");
  }

  std::string ReadAll(InodeId ino) {
    uint64_t fh = 0;
    if (ops_.Open(ino, O_RDONLY, &fh) != 0) Fail("cannot open a file that exists");
    std::string out;
    // Odd sizes: several reads per file, the first a small one.
    std::vector<char> buffer(65537);
    size_t want = 97;
    for (ssize_t n; (n = ops_.Read(fh, out.size(), std::span(buffer.data(), want))) > 0;) {
      out.append(buffer.data(), n);
      want = buffer.size();
    }
    ops_.Release(fh);
    return out;
  }

  void Walk(InodeId ino, const std::string& dir, Model& seen) {
    std::vector<std::pair<std::string, bool>> children;
    if (ops_.OpenDir(ino) != 0) Fail("cannot open folder '" + dir + "'");
    ops_.ReadDir(ino, 0, false, [&](const tpkg::fs::DirEntry& e) {
      if (e.name != "." && e.name != "..") children.emplace_back(e.name, S_ISDIR(e.attr.st_mode));
      return true;
    });
    for (const auto& [name, is_dir] : children) {
      const std::string path = Join(dir, name);
      if (path == ".data") continue;  // generated files
      struct stat st;
      if (ops_.Lookup(ino, name, &st) != 0) Fail("listed but not found: " + path);
      if (is_dir) {
        seen.dirs.insert(path);
        Walk(st.st_ino, path, seen);
      } else {
        seen.files[path] = ReadAll(st.st_ino);
      }
    }
  }

  static std::string LastName(const std::string& path) {
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
  }

  tpkg::Journal journal_;
  tpkg::fs::JournalFsOps ops_;
  Model model_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Sample& sample = SampleArchive();
  const std::string journal_dir = tpkg::fuzz::ScratchFolder() + "/journal";
  tpkg::fuzz::RemoveTree(journal_dir);
  {
    Harness harness(sample, journal_dir);
    InputCursor in(data, size);
    for (int steps = 0; !in.empty() && steps < 64; ++steps) harness.Step(in);
    harness.CheckTree();
  }
  return 0;
}

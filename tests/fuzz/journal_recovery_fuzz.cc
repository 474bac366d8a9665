// Fuzz target: journal recovery from a mangled journal folder. The input is
// a script that builds the folder: manifest entries (encoded with valid
// checksums by the harness, so that they reach the replay instead of being
// dropped as a torn tail), raw garbage appended to the manifest, data files
// with arbitrary content, stray files. Journal::OpenOrCreate must then either
// refuse with a tpkg::Error or recover a namespace that every read-side
// call can walk; a crash, a sanitizer report or a hang is a finding.
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "fuzz_archive.h"
#include "fuzz_support.h"
#include "journal/archive_identity.h"
#include "journal/manifest_log.h"
#include "tpkg/journal.h"
#include "tpkg/record_patch.h"
#include "tpkg/zip_reader.h"

namespace {

using tpkg::fuzz::InputCursor;

constexpr std::array<const char*, 14> kPaths = {
    "pkg/model.py", "pkg/util.py", "pkg",     "pkg/sub",        "pkg/sub/x.py", "new.py",
    "data.pkl",     "model.pkl",   "",        ".data/version", "a/../b",       "__pycache__/m.pyc",
    "pkg/sub/__init__.py", "deep/er/still"};
constexpr int kDataIds = 6;

std::string PathFrom(InputCursor& in) {
  const uint8_t pick = in.Byte();
  if (pick < 224) return kPaths[pick % kPaths.size()];
  return std::string(in.Bytes(pick & 31));
}

tpkg::LogEntry EntryFrom(InputCursor& in, uint8_t op) {
  tpkg::LogEntry e;
  e.op = static_cast<tpkg::LogOp>(op);
  e.flags = in.Byte() & 3;
  e.path = PathFrom(in);
  e.path2 = PathFrom(in);
  e.id = in.Byte() % (kDataIds + 2);  // a few ids with no data file
  e.mode = in.U16();
  e.sec = static_cast<int16_t>(in.U16());
  e.nsec = in.U16() * 20000;
  return e;
}

struct Fixture {
  std::string archive;
  tpkg::ZipReader zip;
  tpkg::ArchiveIdentity identity;
};

const Fixture& SampleArchive() {
  static const Fixture fixture = [] {
    std::string path = tpkg::fuzz::ScratchFolder() + "/sample.pt";
    tpkg::fuzz::WriteSampleArchive(path);
    tpkg::ZipReader zip = tpkg::ZipReader::Open(path);
    tpkg::ArchiveIdentity identity = tpkg::ArchiveIdentity::Of(zip);
    return Fixture{path, std::move(zip), identity};
  }();
  return fixture;
}

void WriteFile(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) tpkg::fuzz::Fail("cannot write " + path);
  if (::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()))
    tpkg::fuzz::Fail("short write to " + path);
  ::close(fd);
}

// Walks everything the recovered namespace says it holds, as a mount would.
void WalkRecovered(tpkg::Journal& journal) {
  std::function<void(const std::string&)> walk = [&](const std::string& dir) {
    for (const tpkg::JournalChild& child : journal.List(dir)) {
      const std::string path = dir.empty() ? child.name : dir + "/" + child.name;
      if (!journal.Stat(path)) tpkg::fuzz::Fail("listed but not found: " + path);
      if (child.is_dir) walk(path);
    }
  };
  walk("");
  for (const auto& [path, node] : journal.Files()) {
    if (node.patch_base) {
      // A patch (tpkg/record_patch.h): merged reads, a write, a cut.
      std::shared_ptr<tpkg::RecordPatch> patch = journal.FindPatch(path);
      if (!patch) tpkg::fuzz::Fail("a patched file without its patch: " + path);
      char buffer[300];
      (void)patch->Read(0, buffer);
      (void)patch->Read(node.size > 7 ? node.size - 7 : 0, buffer);
      patch->Write(node.size / 2, std::span<const char>("fuzz", 4));
      patch->Resize(node.size / 3);
      (void)patch->Read(0, buffer);
      continue;
    }
    tpkg::ScopedFd fd = journal.OpenForRead(path);
    if (fd.get() >= 0) {
      char buffer[256];
      (void)::pread(fd.get(), buffer, sizeof buffer, 0);
    } else if (node.edited()) {
      tpkg::fuzz::Fail("an edited file without data: " + path);
    }
  }
  (void)journal.PendingEdits();
  (void)journal.dirty();
  // The recovered journal must take a new edit.
  try {
    journal.Create("fuzz_new_file.py");
  } catch (const tpkg::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& sample = SampleArchive();
  const std::string dir = tpkg::fuzz::ScratchFolder() + "/journal";
  tpkg::fuzz::RemoveTree(dir);
  std::filesystem::create_directories(dir + "/data");

  InputCursor in(data, size);
  std::string manifest = "TPKGJNL1";
  tpkg::ArchiveIdentity identity = sample.identity;
  if (in.Byte() == 0xff) identity.digest ^= in.U16() + 1;  // a journal of another archive
  manifest += tpkg::EncodeLogEntry(
      {.op = tpkg::LogOp::kHeader, .path = sample.archive, .identity = identity});
  while (!in.empty()) {
    const uint8_t kind = in.Byte() % 18;
    if (kind < 14) {  // every LogOp, the patch entries included
      tpkg::LogEntry e = EntryFrom(in, kind + 1);
      if (e.op == tpkg::LogOp::kCommit) e.identity = sample.identity;
      if (e.op == tpkg::LogOp::kSetPatch && (e.flags & 1)) e.mode = 64 * 1024;  // a valid size
      if (e.op == tpkg::LogOp::kPatchChunks && (e.flags & 1)) e.sec = e.nsec = 1;  // in range
      manifest += tpkg::EncodeLogEntry(e);
    } else if (kind == 14) {
      const int id = in.Byte() % kDataIds;
      WriteFile(dir + "/data/" + std::to_string(id), in.Bytes(in.U16() % 4096));
    } else if (kind == 15) {
      manifest += in.Bytes(in.Byte());  // a torn or garbage tail
    } else if (kind == 16) {
      static constexpr std::array<const char*, 4> kStray = {"save.tmp", "manifest.tmp",
                                                            "data/x", "data/007"};
      WriteFile(dir + "/" + kStray[in.Byte() % kStray.size()], in.Bytes(16));
    } else {
      // Cut the manifest short somewhere in the middle of an entry.
      manifest.resize(manifest.size() - std::min<size_t>(manifest.size() - 8, in.Byte()));
    }
  }
  WriteFile(dir + "/manifest", manifest);
  try {
    tpkg::Journal journal =
        tpkg::Journal::OpenOrCreate(sample.archive, sample.zip, {.directory = dir});
    WalkRecovered(journal);
  } catch (const tpkg::Error&) {
  }
  return 0;
}

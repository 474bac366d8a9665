// Write-back, what a save writes: record order and sources, the bytes of
// the new archive, raw copies, saves that change nothing, and the original's
// mode and owner. (Failures and crashes: write_back_failure_test.cc.)
#include "tpkg/write_back.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "tpkg/error.h"
#include "write_back_fixture.h"
#include "zip/zip_names.h"

namespace tpkg {
namespace {

using testing::MakeArchive;
using testing::PathExists;
using testing::ReadFile;
using testing::Records;
using testing::SamplePackage;
using testing::ScratchDir;
using testing::WriteBackTest;
using testing::WriteFd;
using testing::WriteFile;

// The raw (possibly compressed) bytes of an entry as stored in the file.
std::string RawBytes(const ZipReader& zip, const ZipEntry& e) {
  std::string out(e.compressed_size, '\0');
  EXPECT_EQ(pread(zip.fd(), out.data(), out.size(), static_cast<off_t>(e.data_offset)),
            static_cast<ssize_t>(out.size()));
  return out;
}

struct timespec MtimeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0);
  return st.st_mtim;
}

// A different string of the same length and CRC-32. CRC-32 is affine over
// GF(2), so among 33 single-bit flips some subset's changes cancel out;
// Gaussian elimination on the CRC changes finds it.
std::string CrcTwin(const std::string& x) {
  auto crc = [](const std::string& s) {
    return static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size())));
  };
  struct Row {
    uint32_t change = 0;  // CRC-32 xor of the flips
    uint64_t flips = 0;   // bit i: bit i of x flipped
  };
  Row basis[32];
  for (int bit = 0; bit < 33; ++bit) {
    std::string y = x;
    y[bit / 8] = static_cast<char>(y[bit / 8] ^ (1 << (bit % 8)));
    Row r{crc(y) ^ crc(x), uint64_t{1} << bit};
    for (int k = 31; k >= 0 && r.change != 0; --k) {
      if (!((r.change >> k) & 1)) continue;
      if (basis[k].flips == 0) {
        basis[k] = r;
        r.flips = 0;
        break;
      }
      r.change ^= basis[k].change;
      r.flips ^= basis[k].flips;
    }
    if (r.flips == 0) continue;
    std::string twin = x;
    for (int i = 0; i < 64; ++i)
      if ((r.flips >> i) & 1) twin[i / 8] = static_cast<char>(twin[i / 8] ^ (1 << (i % 8)));
    return twin;
  }
  ADD_FAILURE() << "no CRC-32 twin found";
  return x;
}

TEST_F(WriteBackTest, PlanKeepsOriginalOrderAndPutsNewRecordsBeforeTheMetadata) {
  Journal j = Open();
  EditSession(j);
  const RegeneratedRecords metadata = {{".data/extern_modules", "numpy\n"}};
  const WritePlan plan = PlanWriteBack(j, metadata);
  using S = PlannedRecord::Source;
  const std::vector<std::pair<std::string, S>> expected = {
      {".data/0.storage", S::kRaw},
      {"pkg/__init__.py", S::kRaw},
      {"pkg/code.py", S::kJournal},
      {"pkg/sub/deep.py", S::kRaw},
      {"model/renamed.pkl", S::kRaw},
      {"pkg/new.py", S::kJournal},
      {".data/extern_modules", S::kRegenerated},
      {".data/python_version", S::kRaw},
      {".data/version", S::kRaw},
  };
  ASSERT_EQ(plan.records.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(plan.records[i].name, expected[i].first) << i;
    EXPECT_EQ(plan.records[i].source, expected[i].second) << expected[i].first;
  }
  EXPECT_TRUE(plan.changed);
}

TEST_F(WriteBackTest, WriteBackOrderIsThePlansOrder) {
  Journal j = Open();
  EditSession(j);
  const RegeneratedRecords metadata = {{".data/extern_modules", "numpy\n"},
                                       {".data/new_metadata", "1\n"}};
  std::vector<std::string> planned;
  for (const PlannedRecord& r : PlanWriteBack(j, metadata).records) planned.push_back(r.name);
  EXPECT_EQ(WriteBackOrder(j, metadata), planned);
  // Without metadata: the journal's files alone, as the daemon lists them.
  EXPECT_EQ(WriteBackOrder(j), (std::vector<std::string>{
                                   ".data/0.storage",
                                   "pkg/__init__.py",
                                   "pkg/code.py",
                                   "pkg/sub/deep.py",
                                   "model/renamed.pkl",
                                   "pkg/new.py",
                                   ".data/extern_modules",
                                   ".data/python_version",
                                   ".data/version",
                               }));
  // A regenerated record the original lacks comes after the new files.
  EXPECT_EQ(planned[6], ".data/new_metadata");
}

TEST_F(WriteBackTest, WriteBackOrderPutsNewNamesLastWithoutTheMetadataRecords) {
  UseArchive(dir_.path(), {{"b.txt", "b"}, {"a.txt", "a"}});
  Journal j = Open();
  WriteFd(j.Create("c.txt").get(), "c");
  WriteFd(j.Create("0.txt").get(), "0");
  j.Mkdir(".data");
  WriteFd(j.Create(".data/version").get(), "6\n");
  EXPECT_EQ(WriteBackOrder(j),
            (std::vector<std::string>{"b.txt", "a.txt", "0.txt", "c.txt", ".data/version"}));
}

TEST_F(WriteBackTest, EditedArchiveIsWhatTheExporterWouldHaveWritten) {
  Journal j = Open();
  EditSession(j);
  const WriteBackResult r = WriteBack(j, {{".data/extern_modules", "numpy\n"}});
  EXPECT_TRUE(r.written);
  EXPECT_EQ(r.from_journal, 2);
  EXPECT_EQ(r.regenerated, 1);
  EXPECT_EQ(r.raw_copied, 6);
  EXPECT_FALSE(PathExists(journal_dir())) << "the journal is dropped after a save";
  // Byte for byte the archive ZipWriter makes from the expected records.
  ASSERT_EQ(mkdir((dir_ / "expected").c_str(), 0755), 0);
  const std::string expected_path = dir_ / "expected/model.pt";  // same prefix folder
  MakeArchive(expected_path, ExpectedAfterEditSession());
  EXPECT_EQ(ReadFile(archive_), ReadFile(expected_path));
}

// Files in `directory` other than the given ones (temp files left behind).
std::vector<std::string> OtherFiles(const std::string& directory,
                                    const std::vector<std::string>& expected) {
  std::vector<std::string> others;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    const std::string name = entry.path().filename().string();
    if (std::find(expected.begin(), expected.end(), name) == expected.end())
      others.push_back(name);
  }
  return others;
}

TEST_F(WriteBackTest, SaveToWritesWhatASaveWouldAndLeavesTheArchiveAndItsEdits) {
  const std::string before = ReadFile(archive_);
  Journal j = Open();
  EditSession(j);
  ASSERT_EQ(mkdir((dir_ / "out").c_str(), 0755), 0);
  const std::string out = dir_ / "out/model.pt";
  const WriteBackResult r = WriteBackTo(j, out, {{".data/extern_modules", "numpy\n"}});
  EXPECT_TRUE(r.written);
  EXPECT_EQ(r.summary.rfind("saved the edits of " + j.archive_path() + " to " + out + ": 2 "
                            "records from the journal, 1 regenerated, 6 copied raw, ", 0), 0u)
      << r.summary;
  ExpectArchiveUnchanged(before);
  EXPECT_EQ(j.PendingEdits().size(), 4u);  // written, added, renamed, deleted
  EXPECT_TRUE(PathExists(journal_dir()));
  ASSERT_EQ(mkdir((dir_ / "expected").c_str(), 0755), 0);
  MakeArchive(dir_ / "expected/model.pt", ExpectedAfterEditSession());
  EXPECT_EQ(ReadFile(out), ReadFile(dir_ / "expected/model.pt"));
  EXPECT_TRUE(OtherFiles(dir_ / "out", {"model.pt"}).empty());
}

TEST_F(WriteBackTest, SaveToNeverOverwritesAndLeavesNoTempFileWhenRefused) {
  Journal j = Open();
  EditSession(j);
  const std::string out = dir_ / "taken.pt";
  WriteFile(out, "mine");
  try {
    WriteBackTo(j, out, {});
    FAIL() << "overwrote";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kExists);
    EXPECT_NE(std::string(e.what()).find("'" + out + "' exists (never overwritten)"),
              std::string::npos) << e.what();
  }
  EXPECT_EQ(ReadFile(out), "mine");
  WriteBackOptions refuse;
  refuse.validate = [](const std::string&) { throw Error(Errc::kPolicy, "would not load"); };
  const std::string other = dir_ / "other.pt";
  EXPECT_THROW(WriteBackTo(j, other, {}, refuse), Error);
  EXPECT_FALSE(PathExists(other));
  EXPECT_TRUE(OtherFiles(dir_.path(), {"model.pt", "taken.pt", ".model.pt.tpkgfs"}).empty())
      << OtherFiles(dir_.path(), {"model.pt", "taken.pt", ".model.pt.tpkgfs"}).front();
}

TEST_F(WriteBackTest, RecordsAreAlignedRawCopiesIdenticalAndCrcsRight) {
  Journal j = Open();
  EditSession(j);
  WriteBack(j, {});
  const ZipReader saved = ZipReader::Open(archive_);
  for (const ZipEntry& e : saved.entries()) {
    EXPECT_EQ(e.data_offset % 64, 0u) << e.name;
    EXPECT_NO_THROW(saved.ReadAll(e)) << e.name;  // verifies the CRC
  }
  for (const char* name : {".data/0.storage", "pkg/sub/deep.py", ".data/python_version"}) {
    const ZipEntry* before = zip_->Find(name);
    const ZipEntry* after = saved.Find(name);
    ASSERT_TRUE(before && after) << name;
    EXPECT_EQ(after->crc32, before->crc32) << name;
    EXPECT_EQ(after->method, before->method) << name;
    EXPECT_EQ(RawBytes(saved, *after), RawBytes(*zip_, *before)) << name;
  }
  EXPECT_EQ(saved.ReadAll(*saved.Find("pkg/code.py")), "x = 2\n");
  EXPECT_EQ(saved.entries().back().name, ".data/version");
}

TEST_F(WriteBackTest, UnchangedDeflatedRecordsStayDeflated) {
  WriteFile(dir_ / "ts.pt", ReadFile(TPKG_CORPUS_DIR "/pkg_torchscript.pt"));
  archive_ = dir_ / "ts.pt";
  zip_.emplace(ZipReader::Open(archive_));
  Journal j = Open();
  j.Mkdir("extra");
  WriteFd(j.Create("extra/notes.txt").get(), "added\n");
  WriteBack(j, {});
  const ZipReader saved = ZipReader::Open(archive_);
  int deflated = 0;
  for (const ZipEntry& before : zip_->entries()) {
    const ZipEntry* after = saved.Find(before.name);
    ASSERT_TRUE(after) << before.name;
    // torch 2.x archives: derived from every record's name and CRC, so a save that adds a
    // record writes it anew (serialization_id_test and write_back_torch2_test check its value).
    if (before.name == ".data/serialization_id") continue;
    EXPECT_EQ(after->method, before.method) << before.name;
    EXPECT_EQ(RawBytes(saved, *after), RawBytes(*zip_, before)) << before.name;
    deflated += before.method == kMethodDeflate;
  }
  EXPECT_GT(deflated, 0);
  EXPECT_EQ(saved.ReadAll(*saved.Find("extra/notes.txt")), "added\n");
}

TEST_F(WriteBackTest, NoChangeLeavesTheArchiveUntouched) {
  const std::string before = ReadFile(archive_);
  const struct timespec old_times[2] = {{0, UTIME_OMIT}, {1000000, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, archive_.c_str(), old_times, 0), 0);
  Journal j = Open();
  // Touches that end where they started.
  j.OpenForWrite("pkg/code.py", false);                                // opened, not changed
  WriteFd(j.OpenForWrite("notes/readme.txt", true).get(), "hello\n");  // rewritten identically
  j.Create("scratch.tmp");
  j.Unlink("scratch.tmp");
  j.Mkdir("emptydir");  // an empty folder is saved (keep_attributes_test.cc) unless removed
  j.Rmdir("emptydir");
  ASSERT_TRUE(j.dirty());
  const WriteBackResult r = WriteBack(j, {{".data/extern_modules", "something else\n"}});
  EXPECT_FALSE(r.written);
  ExpectArchiveUnchanged(before);
  EXPECT_EQ(MtimeOf(archive_).tv_sec, 1000000);
  EXPECT_FALSE(PathExists(journal_dir()));
}

// A non-strict reader serves what torch loads: of two entries of one name
// (ASCII case aside), the one torch's lookup finds, wherever the pair sits
// (zip/torch_lookup.h; the other is `shadowed`, never read). A save over it,
// in place or to a copy, writes that one, leaves the other out and says so:
// the saved archive loads as before and passes the strict reader.
TEST_F(WriteBackTest, ASaveOverANonStrictReaderKeepsTheTwinTorchReads) {
  for (const std::string twin : {"pkg/dupA.py", "pkg/DUPA.py"}) {
    for (size_t at = 0; at <= SamplePackage().size(); ++at) {
      SCOPED_TRACE(twin + " at " + std::to_string(at));
      const ScratchDir dir;
      archive_ = dir / "model.pt";
      Records records = SamplePackage();
      records.insert(records.begin() + static_cast<std::ptrdiff_t>(at),
                     {{"pkg/dupA.py", "a = 1\n"}, {"pkg/dupB.py", "b = 2\n"}});
      MakeArchive(archive_, records);
      std::string bytes = ReadFile(archive_);
      for (size_t pos = bytes.find("pkg/dupB.py"); pos != std::string::npos;
           pos = bytes.find("pkg/dupB.py", pos))
        bytes.replace(pos, twin.size(), twin);  // in the local and the central header
      WriteFile(archive_, bytes);
      EXPECT_THROW(ZipReader::Open(archive_), Error) << "the strict reader refuses twins";
      zip_.emplace(ZipReader::Open(archive_, ZipReaderOptions{.strict = false}));
      const ZipEntry* read = nullptr;  // the twin torch reads: the one not shadowed
      for (const ZipEntry& e : zip_->entries())
        if (Folded(e.name) == "pkg/dupa.py" && !e.shadowed) read = &e;
      ASSERT_NE(read, nullptr);
      const std::string torch_reads = zip_->ReadAll(*read);
      const ZipEntry* other = nullptr;
      for (const ZipEntry& e : zip_->entries())
        if (Folded(e.name) == "pkg/dupa.py" && &e != read) other = &e;
      ASSERT_NE(other, nullptr);
      EXPECT_TRUE(other->shadowed);
      const std::string left_out = "left out 1 entry torch never reads: '" + other->full_name +
                                   "' at offset " + std::to_string(other->local_header_offset) +
                                   " (torch reads another entry of that name";

      Journal j = Open();
      EXPECT_TRUE(j.PendingEdits().empty()) << "a shadowed entry is no deleted file";
      WriteFd(j.OpenForWrite("pkg/code.py", /*truncate=*/true).get(), "x = 3\n");
      const auto expect_saved = [&](const std::string& path) {
        const ZipReader saved = ZipReader::Open(path);  // strict
        EXPECT_EQ(std::count_if(saved.entries().begin(), saved.entries().end(),
                                [](const ZipEntry& e) { return Folded(e.name) == "pkg/dupa.py"; }),
                  1)
            << path;
        EXPECT_EQ(saved.ReadAll(*saved.Find(read->name)), torch_reads) << path;
        EXPECT_EQ(saved.ReadAll(*saved.Find("pkg/code.py")), "x = 3\n") << path;
      };
      const WriteBackResult to_copy =
          WriteBackTo(j, dir / "copy.pt", {{".data/extern_modules", "\n"}});
      EXPECT_NE(to_copy.summary.find(left_out), std::string::npos) << to_copy.summary;
      expect_saved(dir / "copy.pt");
      const WriteBackResult r = WriteBack(j, {{".data/extern_modules", "\n"}});
      ASSERT_TRUE(r.written);
      EXPECT_NE(r.summary.find(left_out), std::string::npos) << r.summary;
      expect_saved(archive_);
    }
  }
}

// Renames `record` (a full name starting "model/") to "other/..." in its local
// and central headers; returns the archive's new bytes.
std::string MoveOutsideThePrefixIn(const std::string& archive, const std::string& record) {
  std::string bytes = ReadFile(archive);
  for (size_t pos = bytes.find(record); pos != std::string::npos; pos = bytes.find(record, pos))
    bytes.replace(pos, 5, "other");
  WriteFile(archive, bytes);
  return bytes;
}

// An entry outside the prefix folder of an archive torch opens is never read
// by torch (nor served by a non-strict mount): a save leaves it out rather
// than moving it into the package.
TEST_F(WriteBackTest, ASaveOverANonStrictReaderLeavesOutWhatLiesOutsideThePrefix) {
  MoveOutsideThePrefixIn(archive_, "model/notes/readme.txt");
  zip_.emplace(ZipReader::Open(archive_, ZipReaderOptions{.strict = false}));
  Journal j = Open();
  EXPECT_TRUE(j.PendingEdits().empty());
  WriteFd(j.OpenForWrite("pkg/code.py", /*truncate=*/true).get(), "x = 3\n");
  const WriteBackResult r = WriteBack(j, {{".data/extern_modules", "\n"}});
  ASSERT_TRUE(r.written);
  EXPECT_NE(r.summary.find("left out 1 entry torch never reads: 'other/notes/readme.txt' at "
                           "offset "),
            std::string::npos)
      << r.summary;
  EXPECT_NE(r.summary.find("(outside the prefix folder)"), std::string::npos) << r.summary;
  const ZipReader saved = ZipReader::Open(archive_);  // strict
  for (const ZipEntry& e : saved.entries())
    EXPECT_EQ(e.full_name.find("readme"), std::string::npos) << e.full_name;
  EXPECT_EQ(saved.ReadAll(*saved.Find("pkg/code.py")), "x = 3\n");
}

// In a ZIP torch cannot open (no version record), a non-strict reader lists
// an entry outside the prefix folder under its full name: a save would move
// it into the folder, so it is refused, and the archive stays as it was.
TEST_F(WriteBackTest, ASaveRefusesWhatLiesOutsideThePrefixOfAZipTorchCannotOpen) {
  Records records = SamplePackage();
  std::erase_if(records, [](const auto& r) { return r.first == ".data/version"; });
  MakeArchive(archive_, records);
  const std::string bytes = MoveOutsideThePrefixIn(archive_, "model/notes/readme.txt");
  zip_.emplace(ZipReader::Open(archive_, ZipReaderOptions{.strict = false}));
  Journal j = Open();
  WriteFd(j.OpenForWrite("pkg/code.py", /*truncate=*/true).get(), "x = 3\n");
  try {
    WriteBack(j, {});
    ADD_FAILURE() << "saved";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("'other/notes/readme.txt': it is outside the prefix "
                                         "folder 'model'"),
              std::string::npos)
        << e.what();
  }
  ExpectArchiveUnchanged(bytes);
}

TEST_F(WriteBackTest, AnEditKeepingTheSizeAndCrcIsStillSaved) {
  // Same size and CRC-32 is no proof of same bytes: taking it for one would
  // drop the edit (and the journal holding it) as "nothing changed".
  const std::string original(200, '\x01');
  const std::string twin = CrcTwin(original);
  ASSERT_NE(twin, original);
  Journal j = Open();
  WriteFd(j.OpenForWrite(".data/0.storage", /*truncate=*/true).get(), twin);
  EXPECT_TRUE(PlanWriteBack(j, {}).changed);
  const WriteBackResult r = WriteBack(j, {});
  EXPECT_TRUE(r.written);
  const ZipReader saved = ZipReader::Open(archive_);
  EXPECT_EQ(saved.ReadAll(*saved.Find(".data/0.storage")), twin);
}

TEST_F(WriteBackTest, DirectoryEntriesAloneAreNoChange) {
  // Info-ZIP wrote directory entries, deflate and no alignment: a write-back
  // would drop the entries, but with no edit it must not happen at all.
  archive_ = dir_ / "zipped.pt";
  WriteFile(archive_, ReadFile(TPKG_CORPUS_DIR "/pkg_deflated_by_zip_tool.pt"));
  zip_.emplace(ZipReader::Open(archive_));
  const std::string before = ReadFile(archive_);
  Journal j = Open();
  j.OpenForWrite("corpus_models/util.py", false);
  EXPECT_FALSE(WriteBack(j, {}).written);
  ExpectArchiveUnchanged(before);
}

TEST_F(WriteBackTest, ModeAndOwnerOfTheOriginalAreKept) {
  ASSERT_EQ(chmod(archive_.c_str(), 0640), 0);
  const bool root = geteuid() == 0;
  if (root) {
    ASSERT_EQ(chown(archive_.c_str(), 1234, 5678), 0);
  }
  Journal j = Open();
  EditSession(j);
  WriteBack(j, {});
  struct stat st;
  ASSERT_EQ(stat(archive_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  if (root) {
    EXPECT_EQ(st.st_uid, 1234u);
    EXPECT_EQ(st.st_gid, 5678u);
  }
}

TEST_F(WriteBackTest, AnOwnerOrGroupTheSaverCannotGiveIsWarnedAboutNotFatal) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to set up another user's archive";
  constexpr uid_t kUser = 65534;  // nobody: not in group 0
  constexpr gid_t kUserGroup = 65534;
  ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);
  const std::string folder = dir_.path() + "/user";
  ASSERT_EQ(mkdir(folder.c_str(), 0755), 0);
  ASSERT_EQ(chown(folder.c_str(), kUser, kUserGroup), 0);
  UseArchive(folder, testing::SamplePackage());
  ASSERT_EQ(chown(archive_.c_str(), kUser, 0), 0);
  ASSERT_EQ(chmod(archive_.c_str(), 0664), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // the non-root saver; reports through its exit status
    if (setgroups(0, nullptr) != 0 || setgid(kUserGroup) != 0 || setuid(kUser) != 0) _exit(2);
    try {
      Journal j = Open();
      EditSession(j);
      const WriteBackResult r = WriteBack(j, {});
      // The group, then the folder EditSession emptied (`notes`).
      const bool warned =
          r.warnings.size() == 2 &&
          r.warnings[0].find("now belongs to group 65534 instead of 0") != std::string::npos &&
          r.warnings[1].find("emptied folder") != std::string::npos &&
          r.summary.find("; warning: ") != std::string::npos;
      _exit(r.written && warned ? 0 : 3);
    } catch (...) {
      _exit(4);
    }
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  struct stat st;
  ASSERT_EQ(stat(archive_.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kUser);
  EXPECT_EQ(st.st_gid, kUserGroup);
  EXPECT_EQ(st.st_mode & 07777, 0644u);  // group bits no more than the others'
  EXPECT_EQ(ZipReader::Open(archive_).entries().size(), testing::SamplePackage().size());
  EXPECT_FALSE(PathExists(journal_dir()));
}

}  // namespace
}  // namespace tpkg

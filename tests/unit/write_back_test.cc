// Write-back: record order and bytes, no-op saves, failures that must leave
// the archive and the journal intact, and crashes at every stage.
#include "tpkg/write_back.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdlib>
#include <functional>

#include "scratch_dir.h"
#include "tpkg/error.h"

namespace tpkg {
namespace {

using testing::MakeArchive;
using testing::PathExists;
using testing::ReadFile;
using testing::Records;
using testing::SamplePackage;
using testing::ScratchDir;
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

uint32_t FileCrc(const std::string& path) {
  const std::string bytes = ReadFile(path);
  return static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
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

class WriteBackTest : public ::testing::Test {
 protected:
  void SetUp() override { UseArchive(dir_.path(), SamplePackage()); }

  void UseArchive(const std::string& directory, const Records& records) {
    archive_ = directory + "/model.pt";
    MakeArchive(archive_, records);
    zip_.emplace(ZipReader::Open(archive_));
  }

  Journal Open() { return Journal::OpenOrCreate(archive_, *zip_); }
  std::string journal_dir() const { return Journal::DirectoryFor(archive_); }

  // The edits of a typical session: edit, create, delete, rename.
  static void EditSession(Journal& j) {
    ScopedFd code = j.OpenForWrite("pkg/code.py", /*truncate=*/true);
    WriteFd(code.get(), "x = 2\n");
    WriteFd(j.Create("pkg/new.py").get(), "import numpy\n");
    j.Unlink("notes/readme.txt");
    j.Rename("model/model.pkl", "model/renamed.pkl");
  }

  // What EditSession + {extern_modules = "numpy\n"} must produce, in order.
  static Records ExpectedAfterEditSession() {
    return {
        {".data/0.storage", std::string(200, '\x01')},
        {"pkg/__init__.py", ""},
        {"pkg/code.py", "x = 2\n"},
        {"pkg/sub/deep.py", "import pkg.code\n"},
        {"model/renamed.pkl", "\x80\x03pickle-bytes."},
        {"pkg/new.py", "import numpy\n"},
        {".data/extern_modules", "numpy\n"},
        {".data/python_version", "3.11"},
        {".data/version", "6\n"},
    };
  }

  // Asserts the archive still has exactly the bytes it had.
  void ExpectArchiveUnchanged(const std::string& before) {
    const std::string now = ReadFile(archive_);
    EXPECT_TRUE(now == before) << archive_ << " changed: " << before.size() << " -> " << now.size()
                               << " bytes";
  }

  ScratchDir dir_;
  std::string archive_;
  std::optional<ZipReader> zip_;
};

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
  j.Mkdir("emptydir");
  ASSERT_TRUE(j.dirty());
  const WriteBackResult r = WriteBack(j, {{".data/extern_modules", "something else\n"}});
  EXPECT_FALSE(r.written);
  ExpectArchiveUnchanged(before);
  EXPECT_EQ(MtimeOf(archive_).tv_sec, 1000000);
  EXPECT_FALSE(PathExists(journal_dir()));
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

TEST_F(WriteBackTest, ValidationFailureKeepsArchiveAndJournal) {
  const std::string before = ReadFile(archive_);
  Journal j = Open();
  EditSession(j);
  WriteBackOptions options;
  options.validate = [](const std::string& temp) {
    EXPECT_TRUE(PathExists(temp));
    throw Error(Errc::kPolicy, "the package would not load: boom");
  };
  try {
    WriteBack(j, {}, options);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "Cannot save " + archive_ + ": the package would not load: boom");
    EXPECT_EQ(e.code(), Errc::kPolicy);
  }
  ExpectArchiveUnchanged(before);
  EXPECT_FALSE(PathExists(journal_dir() + "/save.tmp"));
  EXPECT_TRUE(j.dirty());
  EXPECT_TRUE(j.Stat("pkg/new.py"));
  // A later attempt (e.g. after fixing the problem) still works.
  EXPECT_TRUE(WriteBack(j, {}).written);
}

TEST_F(WriteBackTest, ArchiveChangedByAnotherProgramIsNotOverwritten) {
  struct Row {
    const char* what;
    std::function<void(const std::string&)> change;
  };
  const Row rows[] = {
      {"replaced by rename",
       [this](const std::string& other) { ASSERT_EQ(rename(other.c_str(), archive_.c_str()), 0); }},
      {"rewritten in place",
       [this](const std::string& other) { WriteFile(archive_, ReadFile(other)); }},
  };
  for (const Row& row : rows) {
    UseArchive(dir_.path(), SamplePackage());
    Journal j = Open();
    EditSession(j);
    const std::string other = dir_ / "other.pt";
    MakeArchive(other, {{"theirs.txt", "someone else's change"}});
    row.change(other);
    const std::string theirs = ReadFile(archive_);
    try {
      WriteBack(j, {});
      ADD_FAILURE() << row.what << ": saved over another program's change";
    } catch (const Error& e) {
      EXPECT_EQ(ToErrno(e), ESTALE) << row.what;
      EXPECT_NE(std::string(e.what()).find("was changed by another program"), std::string::npos)
          << e.what();
    }
    EXPECT_TRUE(ReadFile(archive_) == theirs) << row.what;
    EXPECT_FALSE(PathExists(journal_dir() + "/save.tmp")) << row.what;
    EXPECT_TRUE(j.Stat("pkg/new.py")) << row.what;
    j.Drop();
  }
}

TEST_F(WriteBackTest, NamesDifferingOnlyInCaseBlockTheSave) {
  const std::string before = ReadFile(archive_);
  Journal j = Open();
  WriteFd(j.Create("pkg/CODE.py").get(), "y = 1\n");
  try {
    WriteBack(j, {});
    FAIL() << "torch's case-insensitive lookup could not tell the two apart";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("Cannot save " + archive_ + ": ", 0), 0u) << e.what();
  }
  ExpectArchiveUnchanged(before);
  EXPECT_TRUE(j.Stat("pkg/CODE.py"));
}

// A tmpfs mounted on a scratch directory; unmounted (lazily, so that a
// failing test cannot leave it behind) at destruction.
class ScopedTmpfs {
 public:
  ScopedTmpfs(const std::string& dir, const std::string& options) : dir_(dir) {
    mkdir(dir.c_str(), 0755);
    if (mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = strerror(errno);
    }
  }
  ~ScopedTmpfs() {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  int Remount(unsigned long flags) {
    return mount(nullptr, dir_.c_str(), nullptr, MS_REMOUNT | flags, nullptr);
  }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

TEST_F(WriteBackTest, NoSpaceLeftKeepsArchiveAndJournal) {
  ScopedTmpfs fs(dir_ / "small", "size=1536k");
  if (!fs.mounted())
    GTEST_SKIP() << "cannot mount a tmpfs here (" << fs.error() << "); ENOSPC path not exercised";
  UseArchive(dir_ / "small",
             {{".data/0.storage", std::string(1 << 20, 's')}, {".data/version", "6\n"}});
  const std::string before = ReadFile(archive_);
  Journal j = Open();
  WriteFd(j.Create("edit.py").get(), "print('kept')\n");
  try {
    WriteBack(j, {});
    FAIL() << "the save fit in a full filesystem";
  } catch (const Error& e) {
    EXPECT_EQ(ToErrno(e), ENOSPC) << e.what();
    EXPECT_NE(std::string(e.what()).find("Cannot save " + archive_ + ": "), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("No space left on device"), std::string::npos) << e.what();
  }
  ExpectArchiveUnchanged(before);
  EXPECT_FALSE(PathExists(journal_dir() + "/save.tmp"));
  EXPECT_EQ(testing::ReadFd(j.OpenForRead("edit.py").get()), "print('kept')\n");
}

// The kernel refuses to make a filesystem read-only while files on it are
// open for writing (the journal's), so EROFS is met when opening: the
// daemon then mounts read-only, and no write is accepted that would be lost.
TEST_F(WriteBackTest, ReadOnlyFilesystemRefusesAJournal) {
  ScopedTmpfs fs(dir_ / "ro", "size=8m");
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (" << fs.error() << ")";
  UseArchive(dir_ / "ro", SamplePackage());
  ASSERT_EQ(fs.Remount(MS_RDONLY), 0) << strerror(errno);
  try {
    Open();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(ToErrno(e), EROFS) << e.what();
    EXPECT_EQ(std::string(e.what()), "Cannot keep edits of '" + archive_ +
                                         "': the archive is not writable: Read-only file system");
  }
  EXPECT_FALSE(PathExists(journal_dir()));
}

TEST_F(WriteBackTest, ImmutableDirectoryKeepsArchiveAndJournal) {
  const std::string before = ReadFile(archive_);
  Journal j = Open();
  EditSession(j);
  std::string message;
  {
    testing::ScopedImmutable immutable(dir_.path());
    if (!immutable.set()) GTEST_SKIP() << immutable.error();
    try {
      WriteBack(j, {});
    } catch (const Error& e) {
      message = e.what();
    }
  }
  EXPECT_EQ(message.rfind("Cannot save " + archive_ + ": Cannot rename", 0), 0u) << message;
  ExpectArchiveUnchanged(before);
  EXPECT_FALSE(PathExists(journal_dir() + "/save.tmp"));
  EXPECT_TRUE(j.Stat("pkg/new.py"));
}

TEST_F(WriteBackTest, ImmutableDirectoryRefusesAJournalEvenWhenOneExists) {
  // The journal directory was made while the directory was writable; the
  // rename into place would now fail, so no new edit may be accepted.
  { WriteFd(Open().Create("pkg/new.py").get(), "import numpy\n"); }
  int err = 0;
  std::string message;
  {
    testing::ScopedImmutable immutable(dir_.path());
    if (!immutable.set()) GTEST_SKIP() << immutable.error();
    try {
      Open();
    } catch (const Error& e) {
      err = ToErrno(e);
      message = e.what();
    }
  }
  EXPECT_EQ(err, EPERM) << message;
  EXPECT_EQ(message.rfind("Cannot keep edits of '" + archive_ + "': its directory", 0), 0u)
      << message;
  EXPECT_TRUE(Open().Stat("pkg/new.py")) << "the pending edit is still in the journal";
}

// Runs a write-back in a child that SIGKILLs itself at `stage`.
void WriteBackKilledAt(const std::string& archive, WriteBackStage stage) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    try {
      const ZipReader zip = ZipReader::Open(archive);
      Journal j = Journal::OpenOrCreate(archive, zip);
      WriteBackOptions options;
      options.on_stage = [stage](WriteBackStage s) {
        if (s == stage) raise(SIGKILL);
      };
      WriteBack(j, {}, options);
    } catch (...) {
    }
    _exit(3);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
}

TEST_F(WriteBackTest, CrashBeforeTheRenameKeepsTheOldArchiveAndTheEdits) {
  const std::string before = ReadFile(archive_);
  for (WriteBackStage stage : {WriteBackStage::kTempWritten, WriteBackStage::kCommitted}) {
    {
      Journal j = Open();
      if (!j.dirty()) EditSession(j);
    }
    WriteBackKilledAt(archive_, stage);
    ExpectArchiveUnchanged(before);
    Journal j = Open();
    EXPECT_TRUE(j.recovered());
    EXPECT_FALSE(PathExists(journal_dir() + "/save.tmp"));
    EXPECT_NE(j.recovery_summary().find("removed 1 unfinished temp files"), std::string::npos)
        << j.recovery_summary();
    EXPECT_TRUE(j.Stat("pkg/new.py"));
  }
}

TEST_F(WriteBackTest, CrashAfterTheRenameFinishesTheSaveAtNextOpen) {
  {
    Journal j = Open();
    EditSession(j);
  }
  WriteBackKilledAt(archive_, WriteBackStage::kRenamed);
  const ZipReader saved = ZipReader::Open(archive_);
  EXPECT_EQ(saved.ReadAll(*saved.Find("pkg/code.py")), "x = 2\n");
  Journal j = Journal::OpenOrCreate(archive_, saved);
  EXPECT_FALSE(j.recovered());
  EXPECT_FALSE(j.dirty());
  EXPECT_NE(j.recovery_summary().find("removed the journal of a save of " + archive_ +
                                      " that had completed"),
            std::string::npos)
      << j.recovery_summary();
  EXPECT_FALSE(j.Stat("pkg/code.py")->edited());  // read from the new archive
}

// An archive of `mib` MiB (one storage record, from a sparse file so that
// building it costs no RAM) plus a small source.
void MakeBigArchive(const std::string& path, const std::string& scratch, uint64_t mib) {
  const std::string sparse = scratch + "/sparse.bin";
  ScopedFd fd(open(sparse.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ASSERT_EQ(ftruncate(fd.get(), static_cast<off_t>(mib << 20)), 0);
  WriteFd(fd.get(), "tensor bytes", 4096);
  ZipWriter w = ZipWriter::Create(path, PrefixForPath(path), true);
  w.AddRecordFromFd(".data/0.storage", fd.get(), 0, mib << 20);
  w.AddRecord("pkg/code.py", std::string_view("x = 1\n"));
  w.AddRecord(".data/version", std::string_view("6\n"));
  w.Finish();
  unlink(sparse.c_str());
}

TEST_F(WriteBackTest, KillDuringALargeWriteBackLeavesOldOrNewNeverCorrupt) {
  const uint64_t mib = getenv("TPKG_SLOW") ? 2048 : 200;
  archive_ = dir_ / "big.pt";
  MakeBigArchive(archive_, dir_.path(), mib);
  zip_.emplace(ZipReader::Open(archive_));
  const uint32_t old_crc = FileCrc(archive_);
  {
    Journal j = Open();
    WriteFd(j.OpenForWrite("pkg/code.py", true).get(), "x = 2\n");
  }
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    try {
      const ZipReader zip = ZipReader::Open(archive_);
      Journal j = Journal::OpenOrCreate(archive_, zip);
      WriteBack(j, {});
    } catch (...) {
    }
    _exit(0);
  }
  // Kill once the temp archive is well under way (or the child is done).
  const std::string temp = journal_dir() + "/save.tmp";
  struct stat st {};
  while (waitpid(pid, nullptr, WNOHANG) == 0 &&
         !(stat(temp.c_str(), &st) == 0 && st.st_size > (16 << 20)))
    usleep(500);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);

  const ZipReader after = ZipReader::Open(archive_);  // never corrupt
  if (FileCrc(archive_) != old_crc) {
    EXPECT_EQ(after.ReadAll(*after.Find("pkg/code.py")), "x = 2\n");  // the new one, complete
  }
  Journal j = Journal::OpenOrCreate(archive_, after);
  EXPECT_FALSE(PathExists(temp)) << "no leftover temp file after the next open";
  if (j.dirty()) {
    EXPECT_TRUE(WriteBack(j, {}).written);
    const ZipReader saved = ZipReader::Open(archive_);
    EXPECT_EQ(saved.ReadAll(*saved.Find("pkg/code.py")), "x = 2\n");
    EXPECT_EQ(saved.Find(".data/0.storage")->size, mib << 20);
  }
}

}  // namespace
}  // namespace tpkg

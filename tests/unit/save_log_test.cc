// The save log beside an archive: format and parse, appends from threads
// and processes, the size bound, and the "last save failed" query.
#include "tpkg/save_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ctime>
#include <thread>

#include "scratch_dir.h"
#include "tpkg/error.h"
#include "tpkg/journal.h"

namespace tpkg {
namespace {

using testing::PathExists;
using testing::ReadFile;
using testing::ScratchDir;
using testing::WriteFile;

constexpr int64_t kTime = 1738324800;  // 2025-01-31T12:00:00Z

SaveLogEntry Entry(SaveLogKind kind, std::vector<std::string> details, int64_t pid = 42,
                   std::string archive = "/srv/model.pt") {
  return SaveLogEntry{kTime, pid, kind, std::move(archive), std::move(details)};
}

TEST(SaveLogTest, PathIsBesideTheArchiveAndOutsideTheJournal) {
  EXPECT_EQ(SaveLogPathFor("/srv/model.pt"), "/srv/.model.pt.tpkgfs.log");
  EXPECT_EQ(Journal::DirectoryFor("/srv/model.pt"), "/srv/.model.pt.tpkgfs");
}

TEST(SaveLogTest, FormatIsReadableText) {
  const SaveLogEntry e =
      Entry(SaveLogKind::kFailed, {"Cannot save /srv/model.pt: the package would no longer load:\n"
                                   "  * corpus_models.layers: invalid syntax",
                                   "the edits are kept in /srv/.model.pt.tpkgfs"});
  EXPECT_EQ(FormatSaveLogEntry(e),
            "2025-01-31T12:00:00Z tpkgfs[42] failed /srv/model.pt\n"
            "  Cannot save /srv/model.pt: the package would no longer load:\n"
            "    * corpus_models.layers: invalid syntax\n"
            "  the edits are kept in /srv/.model.pt.tpkgfs\n");
}

TEST(SaveLogTest, EntriesRoundTripIncludingOddPaths) {
  const std::vector<SaveLogEntry> written = {
      Entry(SaveLogKind::kSaved, {"saved /srv/model.pt: 1 record from the journal"}),
      Entry(SaveLogKind::kUnchanged, {}, 7, "/odd\\dir/new\nline.pt"),
      Entry(SaveLogKind::kFailed, {"reason", "", "  indented"}, 9),
      Entry(SaveLogKind::kError, {"Cannot read 'x': Input/output error"}),
      Entry(SaveLogKind::kWarning, {"recovered 1 edited record"}),
  };
  std::string text;
  for (const SaveLogEntry& e : written) text += FormatSaveLogEntry(e);
  const std::vector<SaveLogEntry> read = ParseSaveLog(text);
  ASSERT_EQ(read.size(), written.size());
  for (size_t i = 0; i < read.size(); ++i) {
    EXPECT_EQ(read[i].time, kTime);
    EXPECT_EQ(read[i].pid, written[i].pid);
    EXPECT_EQ(read[i].kind, written[i].kind);
    EXPECT_EQ(read[i].archive, written[i].archive);
    EXPECT_EQ(read[i].details, written[i].details);
  }
}

// The entry's time is read back by arithmetic, not timegm(): every day from
// 1970 to 2400 (leap days, 2000 and 2100 included) against gmtime_r's view,
// and a day past the month's end counts on into the next month as timegm's.
TEST(SaveLogTest, TimesReadBackAsWrittenOnEveryDay) {
  for (int64_t t = 0; t < int64_t{430} * 365 * 86400; t += 86400 + 3661) {
    const std::string text = FormatUtcTime(t) + " tpkgfs[1] saved /a\n";
    const std::vector<SaveLogEntry> read = ParseSaveLog(text);
    ASSERT_EQ(read.size(), 1u) << text;
    ASSERT_EQ(read[0].time, t) << text;
  }
  const std::vector<SaveLogEntry> read = ParseSaveLog(
      "2025-02-31T00:00:00Z tpkgfs[1] saved /a\n"
      "2024-02-30T23:59:60Z tpkgfs[1] saved /a\n");
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(FormatUtcTime(read[0].time), "2025-03-03T00:00:00Z");
  EXPECT_EQ(FormatUtcTime(read[1].time), "2024-03-02T00:00:00Z");
}

// The room the daemon reserves at mount: blocks up to max_bytes, size unchanged,
// so that an append needs no new block on a full disk; entries already there stay.
TEST(SaveLogTest, ReservedRoomKeepsTheSizeAndTheEntries) {
  ScratchDir dir;
  const std::string log = dir / ".m.pt.tpkgfs.log";
  const SaveLogEntry entry{
      .time = 1, .pid = 2, .kind = SaveLogKind::kSaved, .archive = "/m.pt", .details = {"fine"}};
  AppendToSaveLog(log, entry);
  const std::string before = ReadFile(log);
  ReserveSaveLog(log, {.mode = 0600});
  struct stat st;
  ASSERT_EQ(::stat(log.c_str(), &st), 0);
  EXPECT_EQ(ReadFile(log), before);
  EXPECT_GE(static_cast<uint64_t>(st.st_blocks) * 512, SaveLogOptions{}.max_bytes);
  // A missing log is created (empty), with the mode asked for.
  const std::string fresh = dir / ".n.pt.tpkgfs.log";
  ReserveSaveLog(fresh, {.mode = 0600});
  ASSERT_EQ(::stat(fresh.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(ReadSaveLog(fresh).empty());
}

TEST(SaveLogTest, DamagedLinesAreSkippedWithoutHidingLaterEntries) {
  const std::string text =
      "garbage line\n"
      "  detail of garbage\n"
      "2025-01-31T12:00:00Z tpkgfs[x] saved /a\n"
      "  detail of a bad pid\n"
      "2025-13-31T12:00:00Z tpkgfs[1] saved /a\n"
      "2025-01-31T12:00:00Z tpkgfs[1] exploded /a\n"
      "\n"
      "2025-01-31T12:00:00Z tpkgfs[3] failed /srv/model.pt\n"
      "  why\n"
      "\n"
      "  still why\n"
      "2025-01-31T12:00:01Z tpkgfs[3] saved /srv/model.pt";  // no final newline
  const std::vector<SaveLogEntry> read = ParseSaveLog(text);
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[0].kind, SaveLogKind::kFailed);
  EXPECT_EQ(read[0].details, (std::vector<std::string>{"why", "still why"}));
  EXPECT_EQ(read[1].kind, SaveLogKind::kSaved);
  EXPECT_EQ(read[1].time, kTime + 1);
}

TEST(SaveLogTest, AppendCreatesWithTheGivenModeAndReadsBack) {
  ScratchDir dir;
  const std::string log = dir / ".model.pt.tpkgfs.log";
  EXPECT_TRUE(ReadSaveLog(log).empty());  // no log yet: nothing to say
  const mode_t old_umask = ::umask(0);
  AppendToSaveLog(log, Entry(SaveLogKind::kFailed, {"first"}), {.mode = 0640});
  ::umask(old_umask);
  AppendToSaveLog(log, Entry(SaveLogKind::kSaved, {"second"}), {.sync = true});
  struct stat st;
  ASSERT_EQ(::stat(log.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  const std::vector<SaveLogEntry> read = ReadSaveLog(log);
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[0].details, std::vector<std::string>{"first"});
  EXPECT_EQ(read[1].details, std::vector<std::string>{"second"});
  EXPECT_EQ(LastSave(read)->kind, SaveLogKind::kSaved);
}

TEST(SaveLogTest, LastSaveIgnoresErrorsAndWarnings) {
  const std::vector<SaveLogEntry> entries = {Entry(SaveLogKind::kFailed, {"why"}, 1),
                                             Entry(SaveLogKind::kError, {"EIO"}, 2),
                                             Entry(SaveLogKind::kWarning, {"w"}, 2)};
  ASSERT_TRUE(LastSave(entries));
  EXPECT_EQ(LastSave(entries)->pid, 1);
  EXPECT_FALSE(LastSave({Entry(SaveLogKind::kError, {"EIO"})}));
}

TEST(SaveLogTest, TheLogStaysBoundedAndKeepsTheNewestEntries) {
  ScratchDir dir;
  const std::string log = dir / "log";
  const SaveLogOptions options{.max_bytes = 4096};
  for (int i = 0; i < 500; ++i) {
    AppendToSaveLog(log, Entry(SaveLogKind::kError, {"error number " + std::to_string(i)}, i),
                    options);
    struct stat st;
    ASSERT_EQ(::stat(log.c_str(), &st), 0);
    ASSERT_LE(static_cast<size_t>(st.st_size), options.max_bytes);
  }
  const std::vector<SaveLogEntry> read = ReadSaveLog(log);
  ASSERT_FALSE(read.empty());
  EXPECT_EQ(read.back().pid, 499);
  for (size_t i = 1; i < read.size(); ++i) EXPECT_EQ(read[i].pid, read[i - 1].pid + 1);
  EXPECT_FALSE(PathExists(log + ".tmp." + std::to_string(::getpid())));
}

TEST(SaveLogTest, OneHugeEntryIsCutAndSaysSo) {
  ScratchDir dir;
  const std::string log = dir / "log";
  std::vector<std::string> reasons;
  for (int i = 0; i < 1000; ++i) reasons.push_back("problem " + std::to_string(i));
  AppendToSaveLog(log, Entry(SaveLogKind::kFailed, reasons), {.max_bytes = 8192});
  EXPECT_LE(ReadFile(log).size(), 8192u / 4);
  const std::vector<SaveLogEntry> read = ReadSaveLog(log);
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(read[0].details.front(), "problem 0");
  EXPECT_NE(read[0].details.back().find("more lines left out"), std::string::npos);
}

TEST(SaveLogTest, ConcurrentAppendsFromThreadsAndProcessesLoseNothing) {
  ScratchDir dir;
  const std::string log = dir / "log";
  const SaveLogOptions options{.max_bytes = 1 << 20};
  auto append_many = [&](int base) {
    for (int i = 0; i < 50; ++i)
      AppendToSaveLog(log, Entry(SaveLogKind::kError, {"x"}, base + i), options);
  };
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    append_many(1000);
    _exit(0);
  }
  std::thread a(append_many, 0), b(append_many, 100);
  a.join();
  b.join();
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(ReadSaveLog(log).size(), 150u);
}

TEST(SaveLogTest, ASymlinkOrAFolderIsNeverUsedAsTheLog) {
  ScratchDir dir;
  WriteFile(dir / "target", "precious\n");
  ASSERT_EQ(::symlink((dir / "target").c_str(), (dir / "link").c_str()), 0);
  EXPECT_THROW(AppendToSaveLog(dir / "link", Entry(SaveLogKind::kSaved, {})), Error);
  EXPECT_EQ(ReadFile(dir / "target"), "precious\n");
  ASSERT_EQ(::mkdir((dir / "folder").c_str(), 0700), 0);
  EXPECT_THROW(AppendToSaveLog(dir / "folder", Entry(SaveLogKind::kSaved, {})), Error);
  EXPECT_THROW(ReadSaveLog(dir / "folder"), Error);
}

TEST(SaveLogTest, APendingFailureNeedsTheJournalStillThere) {
  ScratchDir dir;
  const std::string archive = dir / "model.pt";
  const std::string log = SaveLogPathFor(archive);
  EXPECT_FALSE(PendingSaveFailure(archive));  // no log
  AppendToSaveLog(log, Entry(SaveLogKind::kFailed,
                             {"Cannot save " + archive + ": the package would no longer load:", "",
                              "* Dependency resolution failed.", "    corpus_models.model",
                              "      Context: invalid syntax", "advice"},
                             42, archive));
  EXPECT_FALSE(PendingSaveFailure(archive));  // the journal was removed by hand: nothing pending
  ASSERT_EQ(::mkdir(Journal::DirectoryFor(archive).c_str(), 0700), 0);
  const std::optional<SaveLogEntry> failure = PendingSaveFailure(archive);
  ASSERT_TRUE(failure);
  EXPECT_EQ(
      DescribeSaveFailure(*failure),
      "the last save of " + archive +
          " failed (2025-01-31T12:00:00Z, tpkgfs pid 42): the package would no longer "
          "load: * Dependency resolution failed. corpus_models.model Context: invalid syntax; "
          "the edits are kept in " +
          Journal::DirectoryFor(archive) + " (every reason: " + log + ")");
  AppendToSaveLog(log, Entry(SaveLogKind::kError, {"EIO while serving"}, 43, archive));
  EXPECT_TRUE(PendingSaveFailure(archive));  // errors do not change the last save's outcome
  AppendToSaveLog(log, Entry(SaveLogKind::kSaved, {"saved"}, 44, archive));
  EXPECT_FALSE(PendingSaveFailure(archive));
}

// `tpkg edits --discard` (or removing the folder) drops the failed save's
// edits; a later mount's first change makes a new journal. Its edits are not
// the ones that failed: the old failure is not reported against them.
TEST(SaveLogTest, AJournalMadeAfterTheFailureIsNotTheOneThatKeepsItsEdits) {
  ScratchDir dir;
  const std::string archive = dir / "model.pt";
  const std::string journal = Journal::DirectoryFor(archive);
  ASSERT_EQ(::mkdir(journal.c_str(), 0700), 0);
  WriteFile(journal + "/manifest", "made now");
  struct statx stx {};
  if (::statx(AT_FDCWD, (journal + "/manifest").c_str(), 0, STATX_BTIME, &stx) != 0 ||
      (stx.stx_mask & STATX_BTIME) == 0)
    GTEST_SKIP() << "the scratch folder's file system keeps no creation time";
  SaveLogEntry failure = Entry(SaveLogKind::kFailed, {"why", "advice"}, 42, archive);
  failure.time = std::time(nullptr) - 60;  // the save failed a minute before
  AppendToSaveLog(SaveLogPathFor(archive), failure);
  EXPECT_FALSE(PendingSaveFailure(archive));
  failure.time = std::time(nullptr) + 60;  // the journal was made before the failure
  AppendToSaveLog(SaveLogPathFor(archive), failure);
  EXPECT_TRUE(PendingSaveFailure(archive));
}

TEST(SaveLogTest, ALongReasonIsCutAfterAWholeWord) {
  std::string reason;
  while (reason.size() < 400) reason += "modulename" + std::to_string(reason.size()) + " ";
  const SaveLogEntry failure = Entry(SaveLogKind::kFailed, {reason, "advice"});
  const std::string line = DescribeSaveFailure(failure);
  const size_t cut = line.find("...;");
  ASSERT_NE(cut, std::string::npos) << line;
  const size_t word = line.rfind(' ', cut);
  const std::string last_word = line.substr(word + 1, cut - word - 1);
  EXPECT_NE(reason.find(" " + last_word + " "), std::string::npos) << last_word;  // whole
  EXPECT_LE(cut - line.find("): ") - 3, 240u);
}

TEST(SaveLogTest, AnUnreadableLogSaysNothing) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads anything";
  ScratchDir dir;
  const std::string archive = dir / "model.pt";
  AppendToSaveLog(SaveLogPathFor(archive), Entry(SaveLogKind::kFailed, {"why"}, 1, archive));
  ASSERT_EQ(::mkdir(Journal::DirectoryFor(archive).c_str(), 0700), 0);
  ASSERT_EQ(::chmod(SaveLogPathFor(archive).c_str(), 0), 0);
  EXPECT_FALSE(PendingSaveFailure(archive));
  EXPECT_THROW(ReadSaveLog(SaveLogPathFor(archive)), Error);
}

}  // namespace
}  // namespace tpkg

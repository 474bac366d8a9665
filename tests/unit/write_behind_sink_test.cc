// zip/write_behind_sink.h and zip/writeback_starter.h: what goes through the
// sink lands intact whatever its chunk boundaries; writeback is started for
// every whole chunk, on a thread or, without one, inline; the copy waits for
// what is far behind it and a failed wait is an error naming the file. The
// system calls are recorded (WritebackCalls) where the test needs to see them.
#include "zip/write_behind_sink.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "scratch_dir.h"
#include "tpkg/background_thread.h"
#include "tpkg/error.h"
#include "tpkg/scoped_fd.h"

namespace tpkg {
namespace {

using testing::ReadFile;
using testing::ScratchDir;
using testing::WriteFile;

constexpr uint64_t kChunk = WriteBehindSink::kChunk;
constexpr uint64_t kMiB = 1 << 20;

// `size` bytes that differ from one offset to the next (a shifted copy shows).
std::string Pattern(size_t size, unsigned seed) {
  std::string s(size, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (char& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

ScopedFd CreateFile(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) throw std::runtime_error("cannot create " + path);
  return fd;
}

uint64_t FileSize(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

struct Range {
  uint64_t from, length;
  uint64_t file_size;  // when the call was made: what the owner had written
  bool operator==(const Range&) const = default;
};

// The calls the sink makes, recorded (from any thread); waits succeed
// unless `wait_errno` is set, and nothing is really synced.
struct Recorder {
  std::mutex mu;
  std::vector<Range> starts, waits;
  std::vector<std::thread::id> start_threads;  // beside `starts`
  int threads_started = 0;
  int wait_errno = 0;
  bool refuse_threads = false;

  WritebackCalls Calls() {
    return {
        .start =
            [this](int fd, uint64_t from, uint64_t length) {
              std::lock_guard lock(mu);
              starts.push_back({from, length, FileSize(fd)});
              start_threads.push_back(std::this_thread::get_id());
            },
        .wait =
            [this](int fd, uint64_t from, uint64_t length) {
              std::lock_guard lock(mu);
              waits.push_back({from, length, FileSize(fd)});
              if (wait_errno == 0) return 0;
              errno = wait_errno;
              return -1;
            },
        .start_thread =
            [this](std::function<void()> body) {
              if (refuse_threads) throw std::system_error(EAGAIN, std::generic_category());
              ++threads_started;
              return StartBackgroundThread(std::move(body));
            },
    };
  }
  uint64_t StartedUpTo() {
    std::lock_guard lock(mu);
    uint64_t end = 0;
    for (const Range& r : starts) end = std::max(end, r.from + r.length);
    return end;
  }
};

// The ranges, in order, cover [0, end) exactly once.
void ExpectContiguous(const std::vector<Range>& ranges, uint64_t end) {
  uint64_t at = 0;
  for (const Range& r : ranges) {
    EXPECT_EQ(r.from, at);
    EXPECT_GT(r.length, 0u);
    at = r.from + r.length;
  }
  EXPECT_EQ(at, end);
}

TEST(WriteBehindSinkTest, WritesAndCopiesAcrossChunksLandIntact) {
  ScratchDir dir;
  const std::string source = Pattern(WriteBehindSink::kSharedExtentsPiece + kChunk, 1);
  WriteFile(dir / "source", source);
  ScopedFd src(::open((dir / "source").c_str(), O_RDONLY | O_CLOEXEC));
  const std::string head = Pattern(kChunk / 2 + 3, 2);
  const std::string tail = Pattern(kChunk + 7, 3);
  ScopedFd out = CreateFile(dir / "out");
  {
    WriteBehindSink sink(out.get(), dir / "out");  // the real system calls
    sink.Write(head);
    // From an odd offset, over boundaries of the copy's pieces whatever
    // their size here, and many of the file's chunks.
    sink.CopyFrom(src.get(), 5, WriteBehindSink::kSharedExtentsPiece + 11);
    sink.Write(tail);
  }
  EXPECT_EQ(ReadFile(dir / "out"),
            head + source.substr(5, WriteBehindSink::kSharedExtentsPiece + 11) + tail);
}

TEST(WriteBehindSinkTest, WritebackIsStartedOnAThreadForEachWholeChunk) {
  ScratchDir dir;
  ScopedFd out = CreateFile(dir / "out");
  Recorder calls;
  {
    WriteBehindSink sink(out.get(), dir / "out", calls.Calls());
    const std::string piece = Pattern(kChunk / 4, 4);
    for (int i = 0; i < 13; ++i) sink.Write(piece);  // 3 whole chunks and a quarter
    // The thread's work is asynchronous: wait for it (a liveness bound, not a timing).
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (calls.StartedUpTo() < 3 * kChunk && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  EXPECT_EQ(calls.threads_started, 1);
  // Whole chunks only, each after it was written: the quarter after them is
  // left to the owner's fsync.
  ExpectContiguous(calls.starts, 3 * kChunk);
  for (const Range& r : calls.starts) EXPECT_GE(r.file_size, r.from + r.length);
  // Off the owner's thread.
  for (const std::thread::id& id : calls.start_threads) EXPECT_NE(id, std::this_thread::get_id());
  EXPECT_TRUE(calls.waits.empty());
}

TEST(WriteBehindSinkTest, LessThanAChunkStartsNoThreadAndNoWriteback) {
  ScratchDir dir;
  ScopedFd out = CreateFile(dir / "out");
  Recorder calls;
  {
    WriteBehindSink sink(out.get(), dir / "out", calls.Calls());
    sink.Write(Pattern(kChunk - 1, 5));
  }
  EXPECT_EQ(calls.threads_started, 0);
  EXPECT_TRUE(calls.starts.empty());
  EXPECT_EQ(ReadFile(dir / "out").size(), kChunk - 1);
}

TEST(WriteBehindSinkTest, WithoutAThreadTheOwnerStartsWritebackItself) {
  ScratchDir dir;
  ScopedFd out = CreateFile(dir / "out");
  Recorder calls;
  calls.refuse_threads = true;
  WriteBehindSink sink(out.get(), dir / "out", calls.Calls());
  sink.Write(Pattern(2 * kChunk + kChunk / 2, 6));
  // Synchronously, in the owner's Write: no waiting needed.
  EXPECT_EQ(calls.starts, (std::vector<Range>{{0, kChunk, kChunk}, {kChunk, kChunk, 2 * kChunk}}));
}

TEST(WriteBehindSinkTest, TheCopyWaitsForWhatIsFarBehindIt) {
  ScratchDir dir;
  ScopedFd out = CreateFile(dir / "out");
  Recorder calls;
  constexpr uint64_t kBound = WriteBehindSink::kDirtyLimit + WriteBehindSink::kWaitStep + kChunk;
  const uint64_t total = 100 * kMiB;
  {
    WriteBehindSink sink(out.get(), dir / "out", calls.Calls());
    const std::string piece = Pattern(kMiB, 7);
    for (uint64_t done = 0; done < 60 * kMiB; done += piece.size()) sink.Write(piece);
    sink.Write(Pattern(40 * kMiB, 8));  // one big write is waited for piece by piece too
  }
  ASSERT_FALSE(calls.waits.empty());
  uint64_t waited = 0;
  for (const Range& w : calls.waits) {
    EXPECT_EQ(w.from, waited);
    EXPECT_GE(w.length, WriteBehindSink::kWaitStep);
    // Up to kDirtyLimit behind what was written when it was called, which
    // was never more than the bound ahead of what was waited for.
    EXPECT_EQ(w.file_size - (w.from + w.length), WriteBehindSink::kDirtyLimit);
    EXPECT_LE(w.file_size - w.from, kBound);
    waited = w.from + w.length;
  }
  EXPECT_LE(total - waited, kBound);
}

TEST(WriteBehindSinkTest, AWaitTheKernelRefusesLeavesItAllToTheFsync) {
  ScratchDir dir;
  ScopedFd out = CreateFile(dir / "out");
  Recorder calls;
  calls.wait_errno = ENOSYS;  // no sync_file_range here (an emulator, a seccomp filter)
  {
    WriteBehindSink sink(out.get(), dir / "out", calls.Calls());
    const std::string piece = Pattern(kMiB, 9);
    for (int i = 0; i < 100; ++i) sink.Write(piece);
  }
  EXPECT_EQ(calls.waits.size(), 1u);  // tried once, then left alone
  EXPECT_EQ(ReadFile(dir / "out").size(), 100 * kMiB);
}

TEST(WriteBehindSinkTest, ACopyStartsWritebackAfterEachPiece) {
  ScratchDir dir;
  struct statfs fs;
  ASSERT_EQ(::statfs(dir.path().c_str(), &fs), 0);
  // The source on the same device: pieces as this file system gets them.
  const uint64_t piece = WriteBehindSink::CopyPieceFor(static_cast<long>(fs.f_type), true);
  WriteFile(dir / "source", Pattern(3 * piece + 5, 10));
  ScopedFd src(::open((dir / "source").c_str(), O_RDONLY | O_CLOEXEC));
  ScopedFd out = CreateFile(dir / "out");
  Recorder calls;
  calls.refuse_threads = true;  // inline: each start is made as the copy goes
  {
    WriteBehindSink sink(out.get(), dir / "out", calls.Calls());
    sink.CopyFrom(src.get(), 0, 3 * piece + 5);
  }
  EXPECT_EQ(calls.starts,
            (std::vector<Range>{
                {0, piece, piece}, {piece, piece, 2 * piece}, {2 * piece, piece, 3 * piece}}));
}

TEST(WriteBehindSinkTest, AFailedWaitIsAnErrorNamingTheFile) {
  ScratchDir dir;
  const std::string path = dir / "out";
  ScopedFd out = CreateFile(path);
  Recorder calls;
  calls.wait_errno = EIO;
  WriteBehindSink sink(out.get(), path, calls.Calls());
  const std::string piece = Pattern(kMiB, 8);
  try {
    for (int i = 0; i < 100; ++i) sink.Write(piece);
    FAIL() << "no error after 100 MiB";
  } catch (const Error& e) {
    EXPECT_EQ(e.sys_errno(), EIO);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_EQ(calls.waits.size(), 1u);
}

TEST(WriteBehindSinkTest, BigPiecesOnlyWhereACopyMayShareExtents) {
  constexpr uint64_t kShared = WriteBehindSink::kSharedExtentsPiece;
  EXPECT_EQ(WriteBehindSink::CopyPieceFor(XFS_SUPER_MAGIC, true), kShared);
  EXPECT_EQ(WriteBehindSink::CopyPieceFor(BTRFS_SUPER_MAGIC, true), kShared);
  EXPECT_EQ(WriteBehindSink::CopyPieceFor(XFS_SUPER_MAGIC, false), kChunk);  // another device
  EXPECT_EQ(WriteBehindSink::CopyPieceFor(EXT4_SUPER_MAGIC, true), kChunk);
  EXPECT_EQ(WriteBehindSink::CopyPieceFor(0, true), kChunk);  // unknown
}

}  // namespace
}  // namespace tpkg

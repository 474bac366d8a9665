// zip/write_behind_sink.h: what goes through the sink lands intact, whatever
// its chunk boundaries, and writeback is started by the sink's thread for
// every whole chunk while the owner goes on writing.
#include "zip/write_behind_sink.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "scratch_dir.h"
#include "tpkg/scoped_fd.h"

namespace tpkg {
namespace {

using testing::ReadFile;
using testing::ScratchDir;
using testing::WriteFile;

constexpr uint64_t kChunk = WriteBehindSink::kChunk;

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

TEST(WriteBehindSinkTest, WritesAndCopiesAcrossChunksLandIntact) {
  ScratchDir dir;
  const std::string source = Pattern(WriteBehindSink::kSharedExtentsPiece + kChunk, 1);
  WriteFile(dir / "source", source);
  ScopedFd src(::open((dir / "source").c_str(), O_RDONLY | O_CLOEXEC));
  const std::string head = Pattern(kChunk / 2 + 3, 2);
  const std::string tail = Pattern(kChunk + 7, 3);
  ScopedFd out = CreateFile(dir / "out");
  {
    WriteBehindSink sink(out.get(), dir / "out");
    sink.Write(head);
    // From an odd offset, over boundaries of the copy's pieces whatever
    // their size here, and many of the file's chunks.
    sink.CopyFrom(src.get(), 5, WriteBehindSink::kSharedExtentsPiece + 11);
    sink.Write(tail);
  }
  EXPECT_EQ(ReadFile(dir / "out"),
            head + source.substr(5, WriteBehindSink::kSharedExtentsPiece + 11) + tail);
}

TEST(WriteBehindSinkTest, WritebackIsStartedForEachWholeChunkWhileTheOwnerWrites) {
  ScratchDir dir;
  ScopedFd out = CreateFile(dir / "out");
  WriteBehindSink sink(out.get(), dir / "out");
  const std::string piece = Pattern(kChunk / 4, 4);
  for (int i = 0; i < 13; ++i) sink.Write(piece);  // 3 whole chunks and a quarter
  // The thread's work is asynchronous: wait for it (a liveness bound, not a timing).
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (sink.writeback_started() < 3 * kChunk && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // Whole chunks only: the quarter after them is left to the owner's fsync.
  EXPECT_EQ(sink.writeback_started(), 3 * kChunk);
}

TEST(WriteBehindSinkTest, ASinkWithNothingWholeStartsNoWriteback) {
  ScratchDir dir;
  ScopedFd out = CreateFile(dir / "out");
  {
    WriteBehindSink sink(out.get(), dir / "out");
    sink.Write(Pattern(kChunk - 1, 5));
    EXPECT_EQ(sink.writeback_started(), 0u);
  }
  EXPECT_EQ(ReadFile(dir / "out").size(), kChunk - 1);
}

}  // namespace
}  // namespace tpkg

// edit_archive: a test-only driver of Journal + WriteBack, so that Python
// tests can edit a package the way a mount would and load the result with
// real torch.
//
//   edit_archive ARCHIVE [--no-save] [--time] COMMAND...
//     put RECORD TEXT      replace RECORD's bytes (created, with its parent
//                          directories, if missing)
//     append RECORD TEXT   append to RECORD
//     put-file RECORD PATH replace RECORD's bytes by a copy of file PATH
//     rm RECORD            unlink
//     mv FROM TO           rename (files or directories)
//     mkdir DIR | rmdir DIR
//     regen RECORD TEXT    regenerated metadata handed to WriteBack
//   --no-save leaves the edits in the journal (a later run recovers them).
//   --time prints "write-back: <seconds> s" (the WriteBack() call alone) on
//   stderr, for scripts/bench_write_back.sh.
//
// Prints the journal's recovery summary (if any) and the write-back summary;
// on error prints "edit_archive: <reason>" and exits 1.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "tpkg/error.h"
#include "tpkg/journal.h"
#include "tpkg/write_back.h"
#include "tpkg/zip_reader.h"

namespace {

struct Command {
  std::string verb;
  std::vector<std::string> args;
};

struct Options {
  std::string archive;
  bool save = true;
  bool time = false;
  std::vector<Command> commands;
};

int Arity(const std::string& verb) {
  if (verb == "put" || verb == "put-file" || verb == "append" || verb == "mv" || verb == "regen")
    return 2;
  if (verb == "rm" || verb == "mkdir" || verb == "rmdir") return 1;
  throw tpkg::Error(tpkg::Errc::kInvalidArgument, "unknown command '" + verb + "'");
}

Options ParseCommandLine(int argc, char** argv) {
  Options o;
  std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty())
    throw tpkg::Error(tpkg::Errc::kInvalidArgument,
                      "usage: edit_archive ARCHIVE [--no-save] [--time] COMMAND...");
  o.archive = words[0];
  for (size_t i = 1; i < words.size();) {
    if (words[i] == "--time") {
      o.time = true;
      ++i;
      continue;
    }
    if (words[i] == "--no-save") {
      o.save = false;
      ++i;
      continue;
    }
    Command c{words[i], {}};
    const size_t n = static_cast<size_t>(Arity(c.verb));
    if (i + n >= words.size())
      throw tpkg::Error(tpkg::Errc::kInvalidArgument,
                        "'" + c.verb + "' needs " + std::to_string(n) + " arguments");
    c.args.assign(words.begin() + static_cast<long>(i) + 1,
                  words.begin() + static_cast<long>(i + 1 + n));
    o.commands.push_back(std::move(c));
    i += 1 + n;
  }
  return o;
}

void WriteAll(int fd, const std::string& text, off_t offset) {
  if (::pwrite(fd, text.data(), text.size(), offset) != static_cast<ssize_t>(text.size())) {
    const int err = errno;
    tpkg::ThrowSystemError("Cannot write", err);
  }
}

void MakeParents(tpkg::Journal& j, const std::string& record) {
  for (size_t slash = record.find('/'); slash != std::string::npos;
       slash = record.find('/', slash + 1)) {
    const std::string dir = record.substr(0, slash);
    if (!j.Stat(dir)) j.Mkdir(dir);
  }
}

void Put(tpkg::Journal& j, const std::string& record, const std::string& text, bool append) {
  MakeParents(j, record);
  tpkg::ScopedFd fd = j.Stat(record) ? j.OpenForWrite(record, !append) : j.Create(record);
  const off_t end = append ? ::lseek(fd.get(), 0, SEEK_END) : 0;
  WriteAll(fd.get(), text, end);
}

// Copies a whole file in the kernel (copy_file_range), so that benchmarks can
// build big packages without holding them in memory.
void PutFile(tpkg::Journal& j, const std::string& record, const std::string& path) {
  tpkg::ScopedFd src(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!src.valid()) {
    const int err = errno;
    tpkg::ThrowSystemError("Cannot open '" + path + "'", err);
  }
  MakeParents(j, record);
  tpkg::ScopedFd dst = j.Stat(record) ? j.OpenForWrite(record, true) : j.Create(record);
  while (true) {
    const ssize_t n = ::copy_file_range(src.get(), nullptr, dst.get(), nullptr, 1 << 30, 0);
    if (n == 0) return;
    if (n < 0) {
      const int err = errno;
      tpkg::ThrowSystemError("Cannot copy '" + path + "'", err);
    }
  }
}

void Apply(tpkg::Journal& j, const Command& c, tpkg::RegeneratedRecords* metadata) {
  const auto& a = c.args;
  if (c.verb == "put") return Put(j, a[0], a[1], false);
  if (c.verb == "append") return Put(j, a[0], a[1], true);
  if (c.verb == "put-file") return PutFile(j, a[0], a[1]);
  if (c.verb == "rm") return j.Unlink(a[0]);
  if (c.verb == "mv") return j.Rename(a[0], a[1]);
  if (c.verb == "mkdir") return j.Mkdir(a[0]);
  if (c.verb == "rmdir") return j.Rmdir(a[0]);
  (*metadata)[a[0]] = a[1];  // regen
}

int Run(const Options& o) {
  const tpkg::ZipReader zip = tpkg::ZipReader::Open(o.archive);
  tpkg::Journal journal = tpkg::Journal::OpenOrCreate(o.archive, zip);
  if (!journal.recovery_summary().empty()) std::cout << journal.recovery_summary() << "\n";
  tpkg::RegeneratedRecords metadata;
  for (const Command& c : o.commands) Apply(journal, c, &metadata);
  if (!o.save) return 0;
  const auto start = std::chrono::steady_clock::now();
  const tpkg::WriteBackResult result = tpkg::WriteBack(journal, metadata);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  std::cout << result.summary << "\n";
  if (o.time) std::cerr << "write-back: " << took.count() << " s\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(ParseCommandLine(argc, argv));
  } catch (const tpkg::Error& e) {
    std::cerr << "edit_archive: " << e.what() << "\n";
    return 1;
  }
}

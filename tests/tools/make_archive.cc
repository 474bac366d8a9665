// make_archive: a test and benchmark helper (not installed, not part of `tpkg`)
// that writes archives through libtpkg's ZipWriter.
//
//   make_archive OUT --from SRC [--zeros RECORD=SIZE]... [--add RECORD=FILE]...
//       first records of SIZE zero bytes written as holes (a sparse file:
//       a ZIP64 archive past 4 GiB costs no disk and no time), then every
//       record of SRC copied raw (directory entries dropped, .data/version
//       kept last), then new records read from files;
//   make_archive OUT --records N --record-size BYTES [--prefix NAME]
//       a synthetic package: N source-like records of pseudo-random bytes,
//       then .data/extern_modules and .data/version.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "tpkg/error.h"
#include "tpkg/file_io.h"
#include "tpkg/zip_reader.h"
#include "tpkg/zip_writer.h"

namespace po = boost::program_options;

namespace {

constexpr std::string_view kVersionRecord = ".data/version";

// Writes to a file; a raw copy flagged as zeros becomes a hole (lseek).
class SparseFileSink : public tpkg::ZipSink {
 public:
  explicit SparseFileSink(int fd) : fd_(fd) {}
  ~SparseFileSink() override { ::close(fd_); }
  void Write(std::span<const char> bytes) override { tpkg::WriteAll(fd_, bytes, "the archive"); }
  void CopyFrom(int src_fd, uint64_t offset, uint64_t size) override {
    if (!next_copy_is_zeros_) return ZipSink::CopyFrom(src_fd, offset, size);
    next_copy_is_zeros_ = false;
    ::lseek(fd_, static_cast<off_t>(size), SEEK_CUR);
  }
  void ExpectZeros() { next_copy_is_zeros_ = true; }

 private:
  int fd_;
  bool next_copy_is_zeros_ = false;
};

// CRC-32 of `n` zero bytes without reading them (zlib's crc32_combine).
uint32_t CrcOfZeros(uint64_t n) {
  uLong crc = 0, block = crc32(0, reinterpret_cast<const Bytef*>("\0"), 1);
  for (uint64_t len = 1; n; n >>= 1, block = crc32_combine(block, block, len), len *= 2) {
    if (n & 1) crc = crc32_combine(crc, block, len);
  }
  return static_cast<uint32_t>(crc);
}

void AddZerosRecord(tpkg::ZipWriter& w, SparseFileSink& sink, const tpkg::ZipReader& any,
                    const std::string& spec) {
  const size_t eq = spec.find('=');
  if (eq == std::string::npos)
    throw tpkg::Error(tpkg::Errc::kInvalidArgument, "--zeros wants RECORD=SIZE");
  tpkg::ZipEntry zeros;
  zeros.size = zeros.compressed_size = std::stoull(spec.substr(eq + 1));
  zeros.crc32 = CrcOfZeros(zeros.size);
  sink.ExpectZeros();
  w.CopyRawRecord(any, zeros, spec.substr(0, eq));
}

void AddFileRecord(tpkg::ZipWriter& w, const std::string& spec) {
  const size_t eq = spec.find('=');
  if (eq == std::string::npos)
    throw tpkg::Error(tpkg::Errc::kInvalidArgument, "--add wants RECORD=FILE");
  const std::string file = spec.substr(eq + 1);
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    const int err = errno;
    tpkg::ThrowSystemError("cannot open " + file, err);
  }
  w.AddRecordFromFd(spec.substr(0, eq), fd, 0, static_cast<uint64_t>(st.st_size));
  ::close(fd);
}

void CopyWithAdditions(const std::string& out, const std::string& from,
                       const std::vector<std::string>& zeros,
                       const std::vector<std::string>& adds) {
  const tpkg::ZipReader src = tpkg::ZipReader::Open(from);
  const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    tpkg::ThrowSystemError("cannot create " + out, err);
  }
  auto sink = std::make_unique<SparseFileSink>(fd);
  SparseFileSink& sparse = *sink;
  tpkg::ZipWriter w = tpkg::ZipWriter::ToSink(std::move(sink), src.prefix());
  for (const auto& spec : zeros) AddZerosRecord(w, sparse, src, spec);
  for (const auto& e : src.entries()) {
    if (!e.is_directory() && e.name != kVersionRecord) w.CopyRawRecord(src, e);
  }
  for (const auto& spec : adds) AddFileRecord(w, spec);
  if (const tpkg::ZipEntry* version = src.Find(kVersionRecord)) w.CopyRawRecord(src, *version);
  w.Finish();
}

// xorshift64: cheap, deterministic bytes that do not compress to nothing.
void Fill(std::vector<char>& buffer, uint64_t seed) {
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (size_t i = 0; i + 8 <= buffer.size(); i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::memcpy(buffer.data() + i, &x, 8);
  }
}

void WriteSynthetic(const std::string& out, uint64_t records, uint64_t record_size,
                    const std::string& prefix) {
  tpkg::ZipWriter w = tpkg::ZipWriter::Create(out, prefix, /*overwrite=*/true);
  std::vector<char> buffer(record_size);
  for (uint64_t i = 0; i < records; ++i) {
    Fill(buffer, i);
    w.AddRecord("pkg" + std::to_string(i / 100) + "/module_" + std::to_string(i) + ".py", buffer);
  }
  w.AddRecord(".data/extern_modules", "\n");
  w.AddRecord(kVersionRecord, "6\n");
  w.Finish();
}

int Run(int argc, char** argv) {
  po::options_description options(
      "make_archive OUT (--from SRC [--add R=F]... | --records N --record-size B)");
  options.add_options()("out", po::value<std::string>()->required(), "output archive")(
      "from", po::value<std::string>(), "archive whose records are copied raw")(
      "add", po::value<std::vector<std::string>>()->default_value({}, ""), "RECORD=FILE to add")(
      "zeros", po::value<std::vector<std::string>>()->default_value({}, ""),
      "RECORD=SIZE of zeros, sparse")("records", po::value<uint64_t>(),
                                      "synthetic: number of records")(
      "record-size", po::value<uint64_t>()->default_value(200), "synthetic: bytes per record")(
      "prefix", po::value<std::string>()->default_value("synthetic"), "synthetic: prefix folder");
  po::positional_options_description positional;
  positional.add("out", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(argc, argv).options(options).positional(positional).run(), vm);
  po::notify(vm);
  const std::string out = vm["out"].as<std::string>();
  if (vm.count("from")) {
    CopyWithAdditions(out, vm["from"].as<std::string>(), vm["zeros"].as<std::vector<std::string>>(),
                      vm["add"].as<std::vector<std::string>>());
  } else if (vm.count("records")) {
    WriteSynthetic(out, vm["records"].as<uint64_t>(), vm["record-size"].as<uint64_t>(),
                   vm["prefix"].as<std::string>());
  } else {
    std::cerr << options << "\n";
    return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const po::error& e) {
    std::cerr << "make_archive: " << e.what() << "\n";
    return 2;
  } catch (const tpkg::Error& e) {
    std::cerr << "make_archive: " << e.what() << "\n";
    return 1;
  }
}

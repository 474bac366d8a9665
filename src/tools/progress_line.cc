#include "progress_line.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace tpkg::cli {
namespace {

constexpr auto kRedrawEvery = std::chrono::milliseconds(100);

std::chrono::milliseconds DelayFromEnvironment() {
  const char* text = std::getenv("TPKG_PROGRESS_DELAY_MS");
  if (text != nullptr && *text != '\0') {
    char* end = nullptr;
    errno = 0;
    const long long ms = std::strtoll(text, &end, 10);
    if (errno == 0 && *end == '\0' && ms >= 0) return std::chrono::milliseconds(ms);
  }
  return std::chrono::milliseconds(1000);
}

// The line is a courtesy: a failed write to the terminal is ignored.
void WriteToStderr(const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

}  // namespace

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) value /= 1024, ++unit;
  char text[32];
  if (unit == 0)
    std::snprintf(text, sizeof(text), "%llu B", static_cast<unsigned long long>(bytes));
  else
    std::snprintf(text, sizeof(text), "%.1f %s", value, kUnits[unit]);
  return text;
}

ProgressLine::ProgressLine(std::string_view verb, std::string subject)
    : enabled_(::isatty(STDERR_FILENO) == 1),
      start_(Clock::now()),
      delay_(DelayFromEnvironment()) {
  // One line of a narrow terminal (a line that wraps cannot be erased with
  // \r): a long path keeps its end, where the file name is.
  constexpr size_t kMaxSubject = 40;
  if (subject.size() > kMaxSubject) {
    size_t from = subject.size() - (kMaxSubject - 3);
    while (from < subject.size() && (static_cast<uint8_t>(subject[from]) & 0xC0) == 0x80) ++from;
    subject = "..." + subject.substr(from);  // not starting inside a UTF-8 sequence
  }
  label_ = std::string(verb) + (subject.empty() ? "" : " " + subject);
}

ProgressLine::~ProgressLine() { Clear(); }

ProgressCallback ProgressLine::callback() {
  if (!enabled_) return {};
  return [this](uint64_t done, uint64_t total) { Update(done, total); };
}

void ProgressLine::Update(uint64_t done, uint64_t total) {
  if (!enabled_) return;
  const Clock::time_point now = Clock::now();
  if (now - start_ < delay_) return;
  if (drawn_ && now - last_draw_ < kRedrawEvery && done < total) return;
  last_draw_ = now;
  const int percent = total == 0 ? 100 : static_cast<int>(done * 100.0 / static_cast<double>(total));
  // \r and "erase to the end of the line": the next draw or Clear() overwrites it.
  WriteToStderr("\rtpkg: " + label_ + ": " + std::to_string(percent) + "% (" + HumanBytes(done) +
                " of " + HumanBytes(total) + ")\x1b[K");
  drawn_ = true;
}

void ProgressLine::Clear() {
  if (!drawn_) return;
  WriteToStderr("\r\x1b[K");
  drawn_ = false;
}

}  // namespace tpkg::cli

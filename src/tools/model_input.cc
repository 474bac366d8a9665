#include "model_input.h"

#include "tpkg/analysis_cache.h"
#include "tpkg/error.h"

namespace tpkg::cli {

ModelFile OpenForInspection(const std::string& path) {
  WarnIfLastSaveFailed(path);
  return OpenModelFile(path);
}

void AddJsonOption(po::options_description& options) {
  options.add_options()("json", "print JSON instead of text (the schema is in tpkg(1))");
}

bool WantsJson(const ParsedCommand& command) { return command.options.count("json") > 0; }

void WriteJson(Output& out, const Json& value) {
  out.Line(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void ThrowIfUnreadable(const std::string& path, const std::vector<std::string>& unreadable) {
  if (unreadable.empty()) return;
  std::string list;
  for (const std::string& what : unreadable) list += (list.empty() ? "" : ", ") + what;
  throw Error(Errc::kCorrupt, path + ": damaged, cannot be read: " + list +
                                  " (the report above misses what it holds)");
}

MetadataOptions CachedAnalysis() {
  MetadataOptions options;
  options.cache = std::make_shared<RecordAnalysisCache>();
  options.cache->KeepOnDisk(DefaultAnalysisCacheDir());
  return options;
}

std::string Grouped(uint64_t number) {
  std::string digits = std::to_string(number);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3)
    digits.insert(static_cast<size_t>(i), ",");
  return digits;
}

}  // namespace tpkg::cli

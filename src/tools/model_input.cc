#include "model_input.h"

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

std::string Grouped(uint64_t number) {
  std::string digits = std::to_string(number);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3)
    digits.insert(static_cast<size_t>(i), ",");
  return digits;
}

}  // namespace tpkg::cli

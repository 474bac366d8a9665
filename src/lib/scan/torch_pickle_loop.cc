// torch_pickle_loop.cc: torch 1.13's save_pickle opcode loop, step by step.
#include "scan/torch_pickle_loop.h"

namespace tpkg::pickle {

void TorchPickleLoop::OnGlobalOpcode(uint32_t module_id, uint32_t name_id) {
  by_global_.modules.Add(module_id);
  by_global_.globals.emplace_back(module_id, name_id);
  last_global_module_ = module_id;
}

void TorchPickleLoop::OnTrackedString(const Value& str) {
  module_ = field_;
  field_ = str;
  memo_[memo_count_] = str;
}

void TorchPickleLoop::OnGet(uint64_t index) {
  module_ = field_;
  auto it = memo_.find(index);
  field_ = it == memo_.end() ? Value::None() : it->second;
}

void TorchPickleLoop::OnStackGlobal(uint32_t real_module_id) {
  const uint32_t module = IdOf(module_);
  by_strings_.modules.Add(module != kNoString ? module : real_module_id);
  const uint32_t field = IdOf(field_);
  // torch asserts both are str before checking; a pair that is not is no
  // object it could flag.
  if (module != kNoString && field != kNoString) by_strings_.globals.emplace_back(module, field);
}

std::vector<std::string> TorchPickleLoop::Modules(int protocol) const {
  std::vector<std::string> modules;
  for (uint32_t id : RuleFor(protocol).modules.order()) modules.emplace_back(strings_.Text(id));
  return modules;
}

MockCheckInputs TorchPickleLoop::MockCheck(int protocol) const {
  MockCheckInputs out;
  std::unordered_map<uint32_t, uint32_t> index;  // interned id -> position in out.names
  auto name = [&](uint32_t id) {
    auto [it, inserted] = index.emplace(id, static_cast<uint32_t>(out.names.size()));
    if (inserted) out.names.emplace_back(strings_.Text(id));
    return it->second;
  };
  for (const auto& [module, field] : RuleFor(protocol).globals)
    out.globals.emplace_back(name(module), name(field));
  if (protocol >= 4) {
    if (module_.kind == Kind::kStr) out.last_module = std::string(module_.text);
  } else if (last_global_module_ != kNoString) {
    out.last_module = std::string(strings_.Text(last_global_module_));
  }
  return out;
}

}  // namespace tpkg::pickle

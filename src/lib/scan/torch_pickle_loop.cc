// torch_pickle_loop.cc: the save_pickle opcode loop of torch 1.13 and 2.x, step by step.
#include "scan/torch_pickle_loop.h"

#include <algorithm>

namespace tpkg::pickle {

void TorchPickleLoop::OnGlobalOpcode(uint32_t module_id, uint32_t name_id) {
  by_global_.modules.Add(module_id);
  by_global_.globals.emplace_back(module_id, name_id);
  last_global_module_ = module_id;
}

void TorchPickleLoop::Strings::OnString(const Value& str) {
  module = field;
  field = str;
  // memo_count never decreases: the list stays sorted by appending.
  if (!memo.empty() && memo.back().first == memo_count)
    memo.back().second = str.text();
  else
    memo.emplace_back(memo_count, str.text());
}

void TorchPickleLoop::Strings::OnGet(uint64_t index) {
  module = field;
  auto it = std::lower_bound(memo.begin(), memo.end(), index,
                             [](const auto& slot, uint64_t i) { return slot.first < i; });
  field = it != memo.end() && it->first == index ? Value::Str(it->second) : Value::None();
}

void TorchPickleLoop::OnTrackedString(const Value& str, bool by_torch1_13) {
  if (by_torch1_13) torch1_13_.OnString(str);
  torch2_.OnString(str);
}

void TorchPickleLoop::OnGet(uint64_t index, bool by_torch1_13) {
  if (by_torch1_13) torch1_13_.OnGet(index);
  torch2_.OnGet(index);
}

void TorchPickleLoop::OnStackGlobal(uint32_t real_module_id) {
  const uint32_t module = IdOf(torch1_13_.module);
  by_strings1_13_.modules.Add(module != kNoString ? module : real_module_id);
  const uint32_t field = IdOf(torch1_13_.field);
  // torch asserts both are str before checking; a pair that is not is no
  // object it could flag.
  if (module != kNoString && field != kNoString) {
    by_strings1_13_.globals.emplace_back(module, field);
  }

  // torch 2.x: `if module is None: continue` (its memo only holds strs).
  const uint32_t module2 = IdOf(torch2_.module);
  if (module2 == kNoString) return;
  by_strings2_.modules.Add(module2);
  const uint32_t field2 = IdOf(torch2_.field);
  if (field2 != kNoString) by_strings2_.globals.emplace_back(module2, field2);
}

std::vector<std::string> TorchPickleLoop::Modules(int protocol, TorchRelease release) const {
  std::vector<std::string> modules;
  for (uint32_t id : RuleFor(protocol, release).modules.order()) modules.emplace_back(strings_.Text(id));
  return modules;
}

MockCheckInputs TorchPickleLoop::MockCheck(int protocol, TorchRelease release) const {
  MockCheckInputs out;
  std::unordered_map<uint32_t, uint32_t> index;  // interned id -> position in out.names
  auto name = [&](uint32_t id) {
    auto [it, inserted] = index.emplace(id, static_cast<uint32_t>(out.names.size()));
    if (inserted) out.names.emplace_back(strings_.Text(id));
    return it->second;
  };
  for (const auto& [module, field] : RuleFor(protocol, release).globals)
    out.globals.emplace_back(name(module), name(field));
  // torch 2.x checks each module on its own: no last module.
  if (release == TorchRelease::kTorch2) return out;
  if (protocol >= 4) {
    const Value& module = torch1_13_.module;
    if (module.kind == Kind::kStr) out.last_module = std::string(module.text());
  } else if (last_global_module_ != kNoString) {
    out.last_module = std::string(strings_.Text(last_global_module_));
  }
  return out;
}

}  // namespace tpkg::pickle

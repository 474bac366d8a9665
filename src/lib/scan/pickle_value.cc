// pickle_value.cc: shared values, string interning and the memo of the pickle scanner.
#include "scan/pickle_value.h"

#include <algorithm>
#include <utility>

namespace tpkg::pickle {

Value Value::OwnedStr(std::string s) {
  auto owned = std::make_shared<const std::string>(std::move(s));
  Value v = Value::Str(*owned);
  if (v.kind == Kind::kStr) v.shared = std::move(owned);
  return v;
}

Value Value::Tuple(std::span<Value> items) {
  int64_t depth = 1;
  for (const Value& item : items)
    if (item.kind == Kind::kTuple) depth = std::max(depth, item.int_value + 1);
  Value v = Value::Make(Kind::kTuple, depth);
  v.tuple_size = static_cast<uint8_t>(items.size());
  if (!items.empty()) {
    // One allocation: the control block and the elements.
    std::shared_ptr<Value[]> elements = std::make_shared<Value[]>(items.size());
    std::move(items.begin(), items.end(), elements.get());
    v.shared = std::move(elements);
  }
  return v;
}

uint32_t StringInterner::Intern(const Value& str) {
  Address address{str.text().data(), str.text().size()};
  if (auto it = by_address_.find(address); it != by_address_.end()) return it->second;
  uint32_t id = Intern(str.text());
  by_address_.emplace(address, id);
  // The address is only a valid key while the buffer lives: keep it.
  if (str.shared) keep_alive_.push_back(str.shared);
  return id;
}

uint32_t StringInterner::Intern(std::string_view stable_text) {
  auto [it, inserted] = by_content_.emplace(stable_text, static_cast<uint32_t>(texts_.size()));
  if (inserted) texts_.push_back(stable_text);
  return it->second;
}

void Memo::Put(uint64_t index, Value v) {
  if (index < dense_size_) {
    if (!dense_set_[index]) ++count_;
    Dense(index) = std::move(v);
    dense_set_[index] = true;
    return;
  }
  if (index == dense_size_) {
    // An earlier out-of-order PUT may have stored this index sparsely.
    if (sparse_.erase(index) == 0) ++count_;
    if (dense_size_ % kChunk == 0) chunks_.push_back(std::make_unique<Value[]>(kChunk));
    Dense(index) = std::move(v);
    ++dense_size_;
    dense_set_.push_back(true);
    return;
  }
  auto [it, inserted] = sparse_.insert_or_assign(index, std::move(v));
  if (inserted) ++count_;
}

const Value* Memo::Get(uint64_t index) const {
  if (index < dense_size_) return dense_set_[index] ? &Dense(index) : nullptr;
  auto it = sparse_.find(index);
  return it == sparse_.end() ? nullptr : &it->second;
}

}  // namespace tpkg::pickle

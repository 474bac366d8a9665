// pickle_value.cc: shared values, string interning and the memo of the pickle scanner.
#include "scan/pickle_value.h"

#include <algorithm>
#include <memory>
#include <new>
#include <utility>

namespace tpkg::pickle {

namespace {

// The heap blocks of Values: a reference count, then the payload. One
// scanner thread owns all copies, so the count needs no atomics.
struct TupleBlock {
  uint64_t refs = 1;
  Value* items() { return reinterpret_cast<Value*>(this + 1); }  // tuple_size of them
};
static_assert(sizeof(TupleBlock) % alignof(Value) == 0);

struct TextBlock {
  uint64_t refs = 1;
  std::string text;
};

}  // namespace

std::string_view Value::text() const {
  if (kind != Kind::kStr) return {};
  if (owned) return static_cast<const TextBlock*>(heap)->text;
  return {text_data, text_size};
}

std::span<const Value> Value::items() const {
  if (kind != Kind::kTuple || tuple_size == 0) return {};
  return {static_cast<TupleBlock*>(heap)->items(), tuple_size};
}

void Value::Retain() noexcept {
  if (!HasHeap()) return;
  if (kind == Kind::kTuple)
    ++static_cast<TupleBlock*>(heap)->refs;
  else
    ++static_cast<TextBlock*>(heap)->refs;
}

void Value::Release() noexcept {
  if (!HasHeap()) return;
  if (kind == Kind::kTuple) {
    auto* block = static_cast<TupleBlock*>(heap);
    if (--block->refs == 0) {
      // Nested tuples recurse at most kMaxTrackedTupleDepth deep (deeper ones are untracked).
      std::destroy_n(block->items(), tuple_size);
      ::operator delete(block);
    }
  } else {
    auto* block = static_cast<TextBlock*>(heap);
    if (--block->refs == 0) delete block;
  }
  Forget();
}

Value Value::OwnedStr(std::string s) {
  Value v = Make(Kind::kStr);
  v.heap = new TextBlock{1, std::move(s)};
  v.owned = true;
  return v;
}

Value Value::Tuple(std::span<Value> items) {
  int depth = 1;
  for (const Value& item : items)
    if (item.kind == Kind::kTuple) depth = std::max(depth, item.tuple_depth + 1);
  Value v = Value::Make(Kind::kTuple);
  v.tuple_depth = static_cast<uint8_t>(std::min(depth, 255));
  v.tuple_size = static_cast<uint8_t>(items.size());
  if (!items.empty()) {
    // One allocation: the count and the elements.
    void* memory = ::operator new(sizeof(TupleBlock) + items.size() * sizeof(Value));
    auto* block = new (memory) TupleBlock;
    std::uninitialized_move(items.begin(), items.end(), block->items());
    v.heap = block;
  }
  return v;
}

uint32_t StringInterner::Intern(const Value& str) {
  Address address{str.text().data(), str.text().size()};
  if (auto it = by_address_.find(address); it != by_address_.end()) return it->second;
  uint32_t id = Intern(str.text());
  by_address_.emplace(address, id);
  // The address is only a valid key while the buffer lives: keep it.
  if (str.owned) keep_alive_.push_back(str);
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

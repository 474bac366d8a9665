// pickle_value.h: the symbolic values of the pickle scanner.
//
// The scanner tracks only what it needs to decode persistent ids and
// STACK_GLOBAL operands: strings, ints, bools, None, globals and small
// tuples of those; every other object is kOpaque. Values are small and
// cheap to copy: strings are views into the pickle (or into a shared decoded
// buffer), tuples share their elements, so a memo GET never copies data and
// time and memory stay linear in the input.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tpkg::pickle {

enum class Kind : uint8_t {
  kOpaque,  // anything not tracked (lists, dicts, bytes, floats, objects)
  kNone,
  kBool,    // int_value 0 or 1
  kInt,     // int_value
  kBigInt,  // an int outside int64
  kStr,     // text
  kGlobal,  // int_value packs the interned (module, name) ids
  kTuple,   // shared->items; int_value is the nesting depth (1 = no tuple inside)
  kStorage,  // what a storage persistent id loads; int_value indexes PickleScan::storages
};

struct Value;

// Heap part shared between copies of a Value.
struct Shared {
  std::vector<Value> items;  // tuple elements
  std::string owned;         // decoded text (protocol 0 strings)
};

struct Value {
  Kind kind = Kind::kOpaque;
  int64_t int_value = 0;
  std::string_view text;  // kStr: into the input or into shared->owned
  std::shared_ptr<const Shared> shared;

  static Value Make(Kind kind, int64_t int_value = 0) {
    Value v;
    v.kind = kind;
    v.int_value = int_value;
    return v;
  }
  static Value Opaque() { return {}; }
  static Value None() { return Make(Kind::kNone); }
  static Value Bool(bool b) { return Make(Kind::kBool, b ? 1 : 0); }
  static Value Int(int64_t v) { return Make(Kind::kInt, v); }
  static Value BigInt() { return Make(Kind::kBigInt); }
  static Value Str(std::string_view view) {
    Value v = Make(Kind::kStr);
    v.text = view;
    return v;
  }
  static Value OwnedStr(std::string s);
  static Value Global(uint32_t module_id, uint32_t name_id) {
    return Make(Kind::kGlobal, static_cast<int64_t>((uint64_t{module_id} << 32) | name_id));
  }
  static Value Tuple(std::vector<Value> items);

  uint32_t global_module() const {
    return static_cast<uint32_t>(static_cast<uint64_t>(int_value) >> 32);
  }
  uint32_t global_name() const { return static_cast<uint32_t>(int_value); }
  const std::vector<Value>& items() const { return shared->items; }
};

// Gives every distinct string a small id. Each string *object* (a view into
// the input, or a decoded buffer) is hashed by content only the first time
// it is seen, so a string reused a million times through the memo costs one
// hash, not a million.
class StringInterner {
 public:
  uint32_t Intern(const Value& str);
  uint32_t Intern(std::string_view stable_text);  // text must outlive the interner
  std::string_view Text(uint32_t id) const { return texts_[id]; }

 private:
  struct Address {
    const char* data;
    size_t size;
    bool operator==(const Address&) const = default;
  };
  struct AddressHash {
    size_t operator()(const Address& a) const {
      return std::hash<const void*>()(a.data) ^ (a.size * 0x9e3779b97f4a7c15ull);
    }
  };
  std::unordered_map<Address, uint32_t, AddressHash> by_address_;
  std::unordered_map<std::string_view, uint32_t> by_content_;
  std::vector<std::string_view> texts_;
  std::vector<std::shared_ptr<const Shared>> keep_alive_;  // decoded buffers named by texts_
};

// The unpickler's memo: dense while indices grow one by one (what picklers
// write), a hash map for anything else, so a huge index never allocates.
class Memo {
 public:
  void Put(uint64_t index, Value v);
  const Value* Get(uint64_t index) const;
  size_t size() const { return count_; }  // len(memo), what MEMOIZE uses

 private:
  std::vector<Value> dense_;
  std::vector<bool> dense_set_;
  std::unordered_map<uint64_t, Value> sparse_;
  size_t count_ = 0;
};

}  // namespace tpkg::pickle

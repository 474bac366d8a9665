// pickle_value.h: the symbolic values of the pickle scanner.
//
// The scanner tracks only what it needs to decode persistent ids and
// STACK_GLOBAL operands: strings, ints, bools, None, globals and small
// tuples of those; every other object is kOpaque. Values are small and
// cheap to copy: strings are views into the pickle (or into a shared decoded
// buffer), tuples share their elements, so a memo GET never copies data and
// time and memory stay linear in the input. A tuple is one allocation (its
// elements and their reference count together): state dicts build and
// memoize several tuples per tensor, and allocation was the scanner's
// largest cost.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
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
  kTuple,   // items(); tuple_depth is the nesting depth (1 = no tuple inside)
  kStorage,  // what a storage persistent id loads; int_value indexes PickleScan::storages
};

// 16 bytes, with a plain (single-thread) reference count in the heap block
// of a tuple or a decoded string: the memo and every tuple hold Values, and
// on a state dict the scanner's time went to fresh memory (page faults and
// first writes) more than to opcodes.
struct Value {
  Kind kind = Kind::kOpaque;
  uint8_t tuple_size = 0;   // kTuple: elements (at most kMaxTrackedTupleSize)
  uint8_t tuple_depth = 0;  // kTuple: nesting depth (1 = no tuple inside)
  bool owned = false;       // kStr: the text is a decoded copy in a heap block
  uint32_t text_size = 0;   // kStr, not owned
  union {
    int64_t int_value = 0;  // kBool, kInt, kGlobal, kStorage
    const char* text_data;  // kStr, not owned: into the input
    void* heap;             // kTuple with elements (TupleBlock), owned kStr (TextBlock)
  };

  Value() = default;
  Value(const Value& other) noexcept {
    CopyBits(other);
    Retain();
  }
  Value(Value&& other) noexcept {
    CopyBits(other);
    other.Forget();
  }
  Value& operator=(const Value& other) noexcept {
    if (this != &other) {
      Value copy(other);
      *this = std::move(copy);
    }
    return *this;
  }
  Value& operator=(Value&& other) noexcept {
    if (this != &other) {
      Release();
      CopyBits(other);
      other.Forget();
    }
    return *this;
  }
  ~Value() { Release(); }

  std::string_view text() const;

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
  // No name, key or location is 4 GiB long: a longer string is not tracked.
  static Value Str(std::string_view view) {
    if (view.size() > UINT32_MAX) return Opaque();
    Value v = Make(Kind::kStr);
    v.text_data = view.data();
    v.text_size = static_cast<uint32_t>(view.size());
    return v;
  }
  static Value OwnedStr(std::string s);
  static Value Global(uint32_t module_id, uint32_t name_id) {
    return Make(Kind::kGlobal, static_cast<int64_t>((uint64_t{module_id} << 32) | name_id));
  }
  // The elements are moved from `items` (at most 255).
  static Value Tuple(std::span<Value> items);

  uint32_t global_module() const {
    return static_cast<uint32_t>(static_cast<uint64_t>(int_value) >> 32);
  }
  uint32_t global_name() const { return static_cast<uint32_t>(int_value); }
  std::span<const Value> items() const;

 private:
  // A bitwise copy: the caller retains or takes over the reference.
  void CopyBits(const Value& other) noexcept {
    kind = other.kind;
    tuple_size = other.tuple_size;
    tuple_depth = other.tuple_depth;
    owned = other.owned;
    text_size = other.text_size;
    int_value = other.int_value;
  }
  bool HasHeap() const {
    return (kind == Kind::kTuple && tuple_size != 0) || (kind == Kind::kStr && owned);
  }
  void Forget() noexcept {  // after a move: no reference left to release
    kind = Kind::kOpaque;
    owned = false;
    int_value = 0;
  }
  void Retain() noexcept;
  void Release() noexcept;
};

static_assert(sizeof(Value) == 16, "the memo and tuples hold many Values: keep them small");

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
  std::vector<Value> keep_alive_;  // decoded strings named by texts_
};

// The unpickler's memo: dense while indices grow one by one (what picklers
// write), a hash map for anything else, so a huge index never allocates.
// The dense part grows in fixed chunks rather than by doubling a vector,
// which would copy every Value and touch twice the memory on the way.
class Memo {
 public:
  void Put(uint64_t index, Value v);
  const Value* Get(uint64_t index) const;
  size_t size() const { return count_; }  // len(memo), what MEMOIZE uses

 private:
  static constexpr size_t kChunk = 4096;
  Value& Dense(uint64_t index) { return chunks_[index / kChunk][index % kChunk]; }
  const Value& Dense(uint64_t index) const { return chunks_[index / kChunk][index % kChunk]; }

  std::vector<std::unique_ptr<Value[]>> chunks_;
  uint64_t dense_size_ = 0;
  std::vector<bool> dense_set_;
  std::unordered_map<uint64_t, Value> sparse_;
  size_t count_ = 0;
};

}  // namespace tpkg::pickle

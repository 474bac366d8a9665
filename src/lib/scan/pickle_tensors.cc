// pickle_tensors.cc: FindPickleTensors(), a depth-first walk of the inert
// object tree (scan/pickle_tree.h) that recognizes torch's tensor rebuild
// calls (doc/format.md §4.2) and names the place of each.
#include "tpkg/pickle_tensors.h"

#include <algorithm>
#include <array>
#include <string_view>
#include <utility>

#include "scan/pickle_tree.h"

namespace tpkg {
namespace {

using pickle::kNoNode;
using pickle::Node;
using pickle::NodeKind;
using pickle::PickleTree;

struct DtypeRow {
  std::string_view storage_class;
  std::string_view dtype;
  uint32_t element_size;
};

// torch/storage.py's legacy classes and the dtypes torch.load maps them to.
constexpr std::array<DtypeRow, 17> kDtypes = {{
    {"DoubleStorage", "float64", 8},
    {"FloatStorage", "float32", 4},
    {"HalfStorage", "float16", 2},
    {"BFloat16Storage", "bfloat16", 2},
    {"LongStorage", "int64", 8},
    {"IntStorage", "int32", 4},
    {"ShortStorage", "int16", 2},
    {"CharStorage", "int8", 1},
    {"ByteStorage", "uint8", 1},
    {"BoolStorage", "bool", 1},
    {"ComplexDoubleStorage", "complex128", 16},
    {"ComplexFloatStorage", "complex64", 8},
    {"QInt8Storage", "qint8", 1},
    {"QUInt8Storage", "quint8", 1},
    {"QInt32Storage", "qint32", 4},
    {"QUInt4x2Storage", "quint4x2", 1},
    {"QUInt2x4Storage", "quint2x4", 1},
}};

// torch/storage.py's _new_dtypes(): the dtypes torch 2.x pickles with
// `_rebuild_tensor_v3` on an untyped storage, naming the dtype itself
// (they have no legacy storage class); the last two came with torch 2.7/2.8.
constexpr std::array<std::pair<std::string_view, uint32_t>, 15> kUntypedStorageDtypes = {{
    {"float8_e5m2", 1},
    {"float8_e4m3fn", 1},
    {"float8_e5m2fnuz", 1},
    {"float8_e4m3fnuz", 1},
    {"float8_e8m0fnu", 1},
    {"float4_e2m1fn_x2", 1},
    {"bits8", 1},
    {"bits16", 2},
    {"bits1x8", 1},
    {"bits2x4", 1},
    {"bits4x2", 1},
    {"complex32", 4},
    {"uint16", 2},
    {"uint32", 4},
    {"uint64", 8},
}};

// Paths are built only for the tensors found, from parent links, and end
// after this many bytes ("..." marks the cut): a hostile pickle nesting a
// million lists must not cost a million ever-longer strings.
constexpr size_t kMaxPathBytes = 4096;

// The attributes through which an nn.Module holds what its state_dict names.
bool IsModuleContainer(std::string_view attribute) {
  return attribute == "_parameters" || attribute == "_buffers" || attribute == "_modules";
}

class TensorWalk {
 public:
  explicit TensorWalk(const PickleTree& tree) : tree_(tree), seen_(tree.nodes.size(), false) {}

  std::vector<PickleTensor> Run() {
    if (tree_.root != kNoNode) pending_.push_back({tree_.root, kRootPath});
    while (!pending_.empty()) {
      const Place place = pending_.back();
      pending_.pop_back();
      Visit(place.node, place.path);
    }
    return std::move(found_);
  }

 private:
  // One component of a place: a dict key or attribute name (a node of the
  // tree, never copied) or a list/tuple index, below its parent.
  struct PathLink {
    uint32_t parent;
    uint32_t key_node;  // kNoNode: `name`, or else `index`, is the component
    uint64_t index;
    const char* name = nullptr;  // a part's role (`values` of a sparse tensor): a literal
  };
  static constexpr uint32_t kRootPath = UINT32_MAX;
  struct Place {
    uint32_t node;
    uint32_t path;  // index into links_, or kRootPath
  };

  uint32_t Child(uint32_t parent, uint32_t key_node, uint64_t index) {
    links_.push_back({parent, key_node, index});
    return static_cast<uint32_t>(links_.size() - 1);
  }
  uint32_t NamedChild(uint32_t parent, const char* name) {
    links_.push_back({parent, kNoNode, 0, name});
    return static_cast<uint32_t>(links_.size() - 1);
  }

  std::string PathText(uint32_t path) const {
    std::vector<std::string> parts;
    size_t bytes = 0;
    bool cut = false;
    for (uint32_t at = path; at != kRootPath; at = links_[at].parent) {
      const PathLink& link = links_[at];
      parts.push_back(link.key_node != kNoNode ? KeyText(link.key_node)
                      : link.name != nullptr   ? std::string(link.name)
                                               : std::to_string(link.index));
      bytes += parts.back().size() + 1;
      if (bytes > kMaxPathBytes) {
        cut = links_[at].parent != kRootPath;
        break;
      }
    }
    std::string out = cut ? "..." : "";
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
      if (!out.empty()) out += '.';
      out += *it;
    }
    return out;
  }

  bool IsCallOf(const Node& n, std::string_view module, std::string_view name) const {
    return n.kind == NodeKind::kCall && tree_.IsGlobal(n.callable, module, name);
  }
  bool IsTensorRebuild(uint32_t callable) const {
    return tree_.IsGlobal(callable, "torch._utils", "_rebuild_tensor_v2") ||
           tree_.IsGlobal(callable, "torch._utils", "_rebuild_tensor") ||
           IsDtypeTensorRebuild(callable);
  }
  bool IsDtypeTensorRebuild(uint32_t callable) const {
    return tree_.IsGlobal(callable, "torch._utils", "_rebuild_tensor_v3");
  }
  // The tensor of a rebuild call's arguments (IsTensorRebuild(callable)).
  std::optional<PickleTensor> TensorOfCall(uint32_t callable, uint32_t args_node) const {
    return TensorOf(args_node, IsDtypeTensorRebuild(callable));
  }
  const std::vector<uint32_t>* ArgsOf(uint32_t tuple) const {
    if (tuple == kNoNode || tree_.at(tuple).kind != NodeKind::kTuple) return nullptr;
    return &tree_.at(tuple).items;
  }
  std::optional<int64_t> IntOf(uint32_t node) const {
    if (node == kNoNode) return std::nullopt;
    const Node& n = tree_.at(node);
    if (n.kind != NodeKind::kInt && n.kind != NodeKind::kBool) return std::nullopt;
    return n.int_value;
  }
  std::optional<std::vector<int64_t>> IntsOf(uint32_t node) const {
    const std::vector<uint32_t>* items = ArgsOf(node);
    if (items == nullptr) return std::nullopt;
    std::vector<int64_t> out;
    for (uint32_t item : *items) {
      std::optional<int64_t> v = IntOf(item);
      if (!v) return std::nullopt;
      out.push_back(*v);
    }
    return out;
  }

  // ('storage', storage_class, key, location, numel) behind a persistent id.
  std::optional<StorageRef> StorageOf(uint32_t node) const {
    if (node == kNoNode || tree_.at(node).kind != NodeKind::kPersId) return std::nullopt;
    const std::vector<uint32_t>* id = ArgsOf(tree_.at(node).items.at(0));
    if (id == nullptr || id->size() != 5) return std::nullopt;
    const Node& type = tree_.at((*id)[0]);
    const Node& cls = tree_.at((*id)[1]);
    const Node& key = tree_.at((*id)[2]);
    const Node& location = tree_.at((*id)[3]);
    std::optional<int64_t> numel = IntOf((*id)[4]);
    if (type.kind != NodeKind::kStr || type.text != "storage" || cls.kind != NodeKind::kGlobal ||
        location.kind != NodeKind::kStr || !numel || *numel < 0)
      return std::nullopt;
    StorageRef ref;
    ref.storage_type = {cls.text, cls.name};
    if (key.kind == NodeKind::kInt) {
      ref.key = std::to_string(key.int_value);
      ref.key_is_int = true;
    } else if (key.kind == NodeKind::kStr) {
      ref.key = key.text;
    } else {
      return std::nullopt;
    }
    ref.location = location.text;
    ref.numel = static_cast<uint64_t>(*numel);
    return ref;
  }

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks, ...),
  // or with `dtype_argument` _rebuild_tensor_v3(..., hooks, dtype, ...), whose
  // storage is untyped (its numel counts bytes) and whose dtype is `torch.<name>`.
  std::optional<PickleTensor> TensorOf(uint32_t args_node, bool dtype_argument = false) const {
    const std::vector<uint32_t>* args = ArgsOf(args_node);
    if (args == nullptr || args->size() < (dtype_argument ? 7u : 4u)) return std::nullopt;
    std::optional<StorageRef> storage = StorageOf((*args)[0]);
    std::optional<int64_t> offset = IntOf((*args)[1]);
    std::optional<std::vector<int64_t>> shape = IntsOf((*args)[2]);
    std::optional<std::vector<int64_t>> stride = IntsOf((*args)[3]);
    if (!storage || !offset || !shape || !stride) return std::nullopt;
    PickleTensor t;
    std::optional<StorageDtype> dtype = DtypeOfStorageClass(storage->storage_type);
    t.dtype = dtype ? dtype->name : "unknown:" + storage->storage_type.name;
    t.storage_bytes = StorageBytes(storage->numel, dtype ? dtype->element_size : 1);
    if (dtype_argument) {
      const Node& named = tree_.at((*args)[6]);
      if (named.kind != NodeKind::kGlobal || named.text != "torch") return std::nullopt;
      t.dtype = ElementSizeOfDtype(named.name) ? named.name : "unknown:" + named.name;
    }
    t.storage = std::move(*storage);
    t.storage_offset = *offset;
    t.shape = std::move(*shape);
    t.stride = std::move(*stride);
    if (args->size() > 4) t.requires_grad = IntOf((*args)[4]).value_or(0) != 0;
    return t;
  }

  // _rebuild_qtensor(storage, storage_offset, size, stride, quantizer_params,
  // requires_grad, hooks): the quantized tensor (its dtype is its storage's,
  // qint8 and the like), then, for a per-channel scheme, the scales and zero
  // points (tensors of their own, with storages of their own) as its parts.
  std::optional<PickleTensor> QuantizedTensorOf(uint32_t args_node, uint32_t path) {
    std::optional<PickleTensor> t = TensorOf(args_node);
    const std::vector<uint32_t>* args = ArgsOf(args_node);
    if (!t) return t;
    t->requires_grad = args->size() > 5 && IntOf((*args)[5]).value_or(0) != 0;
    const std::vector<uint32_t>* params = args->size() > 4 ? ArgsOf((*args)[4]) : nullptr;
    // (qscheme, scale, zero_point) or (qscheme, scales, zero_points, axis)
    if (params != nullptr && params->size() >= 3) {
      // The stack is last-in first-out: the scales come out first.
      pending_.push_back({(*params)[2], NamedChild(path, "q_per_channel_zero_points")});
      pending_.push_back({(*params)[1], NamedChild(path, "q_per_channel_scales")});
    }
    return t;
  }

  // A torch.layout as a pickle holds it: `torch.serialization._get_layout(
  // "torch.sparse_coo")`, or the global `torch.sparse_coo`; "" for another node.
  std::string LayoutName(uint32_t node) const {
    const Node& n = tree_.at(node);
    if (n.kind == NodeKind::kGlobal) return n.text == "torch" ? n.name : "";
    if (!IsCallOf(n, "torch.serialization", "_get_layout")) return "";
    const std::vector<uint32_t>* args = ArgsOf(n.args);
    if (args == nullptr || args->size() != 1) return "";
    const Node& name = tree_.at((*args)[0]);
    if (name.kind != NodeKind::kStr || !name.text.starts_with("torch.")) return "";
    return name.text.substr(6);
  }

  // _rebuild_sparse_tensor(layout, data) (and 1.13's _rebuild_sparse_csr_tensor):
  // no storage of its own, its parts are dense tensors, named as torch's
  // accessors name them: (indices, values, size[, is_coalesced]) for
  // sparse_coo, (compressed indices, plain indices, values, size) for the
  // compressed layouts.
  bool TrySparseTensor(const Node& n, uint32_t path) {
    if (!IsCallOf(n, "torch._utils", "_rebuild_sparse_tensor") &&
        !IsCallOf(n, "torch._utils", "_rebuild_sparse_csr_tensor"))
      return false;
    const std::vector<uint32_t>* args = ArgsOf(n.args);
    if (args == nullptr || args->size() < 2) return true;
    const std::vector<uint32_t>* data = ArgsOf((*args)[1]);
    const std::string layout = LayoutName((*args)[0]);
    if (data == nullptr) return false;  // walked as any call: its parts by index
    static constexpr std::array<const char*, 3> kCoo = {"indices", "values", nullptr};
    static constexpr std::array<const char*, 3> kRows = {"crow_indices", "col_indices", "values"};
    static constexpr std::array<const char*, 3> kColumns = {"ccol_indices", "row_indices",
                                                            "values"};
    const std::array<const char*, 3>* names = nullptr;
    if (layout == "sparse_coo") names = &kCoo;
    if (layout == "sparse_csr" || layout == "sparse_bsr") names = &kRows;
    if (layout == "sparse_csc" || layout == "sparse_bsc") names = &kColumns;
    if (names == nullptr) return false;  // a layout of a later torch: its parts by index
    for (size_t i = std::min(data->size(), names->size()); i-- > 0;) {
      if ((*names)[i] != nullptr) pending_.push_back({(*data)[i], NamedChild(path, (*names)[i])});
    }
    return true;
  }

  // A tensor rebuild call, a Parameter around one, or a subclass rebuild.
  bool TryTensor(const Node& n, uint32_t path) {
    std::optional<PickleTensor> t;
    const std::vector<uint32_t>* args = ArgsOf(n.args);
    if (IsTensorRebuild(n.callable)) {
      t = TensorOfCall(n.callable, n.args);
    } else if (IsCallOf(n, "torch._utils", "_rebuild_qtensor")) {
      t = QuantizedTensorOf(n.args, path);
    } else if (TrySparseTensor(n, path)) {
      return true;
    } else if (args != nullptr && !args->empty() &&
               (IsCallOf(n, "torch._utils", "_rebuild_parameter") ||
                IsCallOf(n, "torch._utils", "_rebuild_parameter_with_state"))) {
      const uint32_t inner = (*args)[0];
      const Node& wrapped = tree_.at(inner);
      if (wrapped.kind == NodeKind::kCall && IsTensorRebuild(wrapped.callable)) {
        t = TensorOfCall(wrapped.callable, wrapped.args);
        seen_[inner] = true;
      } else if (IsCallOf(wrapped, "torch._utils", "_rebuild_qtensor")) {
        t = QuantizedTensorOf(wrapped.args, path);
        seen_[inner] = true;
      } else {
        // A sparse tensor (its parts are no parameters), or what a later
        // torch wraps: walked at the parameter's place.
        pending_.push_back({inner, path});
        return true;
      }
      if (t) {
        t->is_parameter = true;
        t->requires_grad = args->size() > 1 && IntOf((*args)[1]).value_or(0) != 0;
      }
    } else if (args != nullptr && args->size() >= 3 &&
               IsCallOf(n, "torch._tensor", "_rebuild_from_type_v2") &&
               IsTensorRebuild((*args)[0])) {
      t = TensorOfCall((*args)[0], (*args)[2]);
    } else {
      return false;
    }
    if (t) {
      t->path = PathText(path);
      found_.push_back(std::move(*t));
    }
    return true;  // a tensor whose arguments are not understood is not walked into either
  }

  std::string KeyText(uint32_t key) const {
    const Node& k = tree_.at(key);
    switch (k.kind) {
      case NodeKind::kStr: return k.text;
      case NodeKind::kInt: return std::to_string(k.int_value);
      case NodeKind::kBool: return k.int_value ? "True" : "False";
      case NodeKind::kNone: return "None";
      default: return "?";
    }
  }

  void AddPairs(const std::vector<uint32_t>& pairs, uint32_t path, bool attributes,
                std::vector<Place>& out) {
    for (size_t i = 0; i + 1 < pairs.size(); i += 2) {
      const Node& key = tree_.at(pairs[i]);
      const bool transparent =
          attributes && key.kind == NodeKind::kStr && IsModuleContainer(key.text);
      out.push_back({pairs[i + 1], transparent ? path : Child(path, pairs[i], 0)});
    }
  }
  void AddItems(const std::vector<uint32_t>& items, uint32_t path, std::vector<Place>& out) {
    for (size_t i = 0; i < items.size(); ++i) out.push_back({items[i], Child(path, kNoNode, i)});
  }

  // An object's BUILD state: its __dict__, or (__dict__, slots).
  void AddState(uint32_t state, uint32_t path, std::vector<Place>& out) {
    const Node& s = tree_.at(state);
    if (s.kind == NodeKind::kDict) {
      AddPairs(s.items, path, true, out);
    } else if (s.kind == NodeKind::kTuple && s.items.size() == 2) {
      for (uint32_t part : s.items) {
        if (tree_.at(part).kind == NodeKind::kDict) AddPairs(tree_.at(part).items, path, true, out);
      }
    } else {
      out.push_back({state, path});
    }
  }

  // ('reduce_package', id, func, args): torch's loader returns func(importer,
  // *args), an object made of its arguments; a dict among them is that
  // object's __dict__ (torch.fx's GraphModule, for one).
  void AddReducePackageArgs(const Node& pid, uint32_t path, std::vector<Place>& out) {
    const std::vector<uint32_t>* id = ArgsOf(pid.items.at(0));
    if (id == nullptr || id->size() < 3 || tree_.at((*id)[0]).kind != NodeKind::kStr ||
        tree_.at((*id)[0]).text != "reduce_package")
      return;
    const std::vector<uint32_t>* args = ArgsOf(id->back());
    if (args == nullptr) return;
    for (uint32_t a : *args) {
      if (tree_.at(a).kind == NodeKind::kDict)
        AddPairs(tree_.at(a).items, path, true, out);
      else
        out.push_back({a, path});
    }
  }

  void Visit(uint32_t index, uint32_t path) {
    if (seen_[index]) return;
    seen_[index] = true;
    const Node& n = tree_.at(index);
    std::vector<Place> children;
    switch (n.kind) {
      case NodeKind::kCall:
        if (TryTensor(n, path)) return;
        // Arguments first (what the object is made from), then its state and items.
        if (n.args != kNoNode) {
          if (const std::vector<uint32_t>* args = ArgsOf(n.args)) {
            for (uint32_t a : *args) children.push_back({a, path});
          }
        }
        if (n.state != kNoNode) AddState(n.state, path, children);
        AddPairs(n.dict_items, path, false, children);
        AddItems(n.items, path, children);
        break;
      case NodeKind::kDict: AddPairs(n.items, path, false, children); break;
      case NodeKind::kList:
      case NodeKind::kTuple:
      case NodeKind::kSet: AddItems(n.items, path, children); break;
      case NodeKind::kPersId: AddReducePackageArgs(n, path, children); break;
      default: return;
    }
    for (auto it = children.rbegin(); it != children.rend(); ++it) pending_.push_back(*it);
  }

  const PickleTree& tree_;
  std::vector<bool> seen_;
  std::vector<Place> pending_;
  std::vector<PathLink> links_;
  std::vector<PickleTensor> found_;
};

}  // namespace

std::optional<StorageDtype> DtypeOfStorageClass(const PickleGlobal& storage_class) {
  if (storage_class.name == "UntypedStorage" &&
      (storage_class.module == "torch" || storage_class.module == "torch.storage"))
    return StorageDtype{"uint8", 1};
  if (storage_class.module != "torch") return std::nullopt;
  for (const DtypeRow& row : kDtypes) {
    if (row.storage_class == storage_class.name)
      return StorageDtype{std::string(row.dtype), row.element_size};
  }
  return std::nullopt;
}

std::optional<uint64_t> StorageBytes(uint64_t count, uint64_t element_size) {
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(count, element_size, &bytes)) return std::nullopt;
  return bytes;
}

std::optional<uint32_t> ElementSizeOfDtype(std::string_view dtype) {
  for (const DtypeRow& row : kDtypes) {
    if (row.dtype == dtype) return row.element_size;
  }
  for (const auto& [name, size] : kUntypedStorageDtypes) {
    if (name == dtype) return size;
  }
  return std::nullopt;
}

std::vector<PickleTensor> FindPickleTensors(std::span<const char> bytes,
                                            const PickleScanLimits& limits) {
  const pickle::PickleTree tree = pickle::BuildPickleTree(bytes, limits);
  return TensorWalk(tree).Run();
}

}  // namespace tpkg

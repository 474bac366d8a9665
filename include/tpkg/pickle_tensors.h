// pickle_tensors.h: the tensors a pickle rebuilds, found without executing it.
//
// FindPickleTensors() decodes the pickle into an inert object tree and walks
// it from the root, so each tensor gets the place where torch's loader puts
// it: `path` joins the dict keys, list/tuple indexes and object attributes on
// the way, leaving out an nn.Module's `_parameters`, `_buffers` and
// `_modules`, so a pickled module or a state_dict gives the state_dict key
// (`l0.weight`), a checkpoint dict `model.l0.weight`, a tuple `0`.
//
//   for (const tpkg::PickleTensor& t : tpkg::FindPickleTensors(bytes))
//     std::cout << t.path << " " << t.dtype << " .data/" << t.storage.key << ".storage\n";
//
// A tensor is what `torch._utils._rebuild_tensor_v2` (or the older
// `_rebuild_tensor`, or torch 2.x's `_rebuild_tensor_v3` for float8, uint16
// and the other dtypes without a legacy storage class, which names the dtype
// and an untyped storage) makes from a storage persistent id, also inside
// `_rebuild_parameter` (nn.Parameter) and `torch._tensor._rebuild_from_type_v2`
// (tensor subclasses), and `_rebuild_qtensor` (a quantized tensor, then a
// per-channel one's scales and zero points, at `<path>.q_per_channel_scales`
// and `<path>.q_per_channel_zero_points`). A sparse tensor
// (`_rebuild_sparse_tensor`, 1.13's `_rebuild_sparse_csr_tensor`) has no
// storage: its parts are reported at `<path>.indices`, `<path>.values`
// (sparse_coo) or `<path>.crow_indices`, `<path>.col_indices`,
// `<path>.values` (csr, bsr; ccol_indices and row_indices for csc, bsc).
// Each is reported once, at the first place a
// depth-first walk in pickle order reaches it (torch's memo shares one object
// between all its places); a storage shared by views is reported per view.
//
// Thread safety: pure functions; results are plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tpkg/pickle_scan.h"

namespace tpkg {

struct PickleTensor {
  std::string path;   // place in the unpickled object ("" for the root itself)
  std::string dtype;  // torch's name without "torch.": "float32", "int64", "bool", ...
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;
  int64_t storage_offset = 0;  // in elements
  StorageRef storage;          // the persistent id (key, storage class, location, numel)
  // numel x element size: the bytes torch reads from the record; nullopt
  // when that overflows 64 bits (StorageBytes).
  std::optional<uint64_t> storage_bytes;
  bool requires_grad = false;
  bool is_parameter = false;  // an nn.Parameter
};

// Throws Error(kCorrupt, "<reason> at byte <offset>") on a malformed pickle
// (the limits are ScanPickle's).
std::vector<PickleTensor> FindPickleTensors(std::span<const char> bytes,
                                            const PickleScanLimits& limits = {});

// The dtype of a legacy storage class (torch.FloatStorage -> "float32",
// torch.storage.UntypedStorage -> "uint8") and its element size in bytes;
// nullopt for a class torch does not map to a dtype.
struct StorageDtype {
  std::string name;
  uint32_t element_size = 1;
};
std::optional<StorageDtype> DtypeOfStorageClass(const PickleGlobal& storage_class);

// `count` elements of `element_size` bytes: the one place a byte size is
// made from numbers a pickle gives (a storage's numel, a tensor's extent).
// nullopt when it overflows 64 bits: no record holds that many bytes, and
// torch's loader cannot read it, so the size is a problem, never a number
// that wrapped around.
std::optional<uint64_t> StorageBytes(uint64_t count, uint64_t element_size);

// The element size in bytes of a dtype torch pickles ("float32" -> 4,
// "float8_e4m3fn" -> 1), by torch's name without "torch."; nullopt for one
// torch's loaders do not name.
std::optional<uint32_t> ElementSizeOfDtype(std::string_view dtype);

}  // namespace tpkg

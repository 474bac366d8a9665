// What loading a torch.export archive needs (tpkg/export_program.h).
#include "tpkg/export_program.h"

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "tpkg/error.h"
#include "tpkg/file_io.h"
#include "tpkg/metadata.h"
#include "tpkg/scoped_fd.h"

namespace tpkg {
namespace {

// The operator namespaces torch 2.6 has registered once `import torch` is
// done (torch._C._jit_get_all_schemas(), Debian 13's python3-torch 2.6.0),
// its Python higher-order operators, and the torch module itself.
constexpr std::array<std::string_view, 31> kTorchNamespaces = {
    "_c10d_functional", "_c10d_functional_autograd", "_dtensor", "_inductor_test", "_quantized",
    "_test", "aten", "c10d", "c10d_functional", "debugprims", "flex_lib", "fsdp", "higher_order",
    "inductor", "mkldnn", "mkldnn_prepacked", "onednn", "onnx", "prepacked", "prim", "prims",
    "profiler", "quantization", "quantized", "rngprims", "sparse", "static_runtime", "symm_mem",
    "torch", "vulkan_prepack", "vulkan_quantized"};

// Libraries whose operator namespace is their package name: importing the
// package loads the C++ extension that registers it.
constexpr std::array<std::string_view, 2> kLibraryNamespaces = {"torchaudio", "torchvision"};

constexpr std::string_view kTorchOps = "torch.ops.";

struct ParsedTarget {
  std::string ns;
  std::string problem;
};

ParsedTarget ParseTarget(std::string_view target) {
  if (target.starts_with(kTorchOps)) {
    std::string_view rest = target.substr(kTorchOps.size());
    const size_t dot = rest.find('.');
    if (dot == 0 || dot == std::string_view::npos || dot + 1 == rest.size())
      return {"torch", "not an operator name torch.ops can resolve"};
    return {std::string(rest.substr(0, dot)), ""};
  }
  if (target.starts_with("torch.")) return {"torch", ""};
  if (target.starts_with("_operator.")) return {"_operator", ""};
  if (target.starts_with("#")) {
    const size_t colon = target.find(':');
    if (colon == std::string_view::npos) return {"", "an extension target without ':'"};
    return {std::string(target.substr(1, colon - 1)), ""};
  }
  const size_t dot = target.find('.');
  return {std::string(target.substr(0, dot)),
          "torch 2.6's loader resolves only torch.*, _operator.* and #extension targets"};
}

// Depth-first walk of the program in document order with an explicit stack
// (a hostile file may nest deeply); `visit` sees every target and operator.
template <typename Visit>
void WalkTargets(const nlohmann::json& root, Visit visit) {
  std::vector<const nlohmann::json*> stack = {&root};
  while (!stack.empty()) {
    const nlohmann::json* value = stack.back();
    stack.pop_back();
    if (value->is_object()) {
      if (const auto nodes = value->find("nodes"); nodes != value->end() && nodes->is_array()) {
        for (const nlohmann::json& node : *nodes) {
          if (!node.is_object()) continue;
          const auto target = node.find("target");
          if (target != node.end() && target->is_string()) visit(target->get<std::string>());
        }
      }
      if (const auto op = value->find("as_operator"); op != value->end() && op->is_string())
        visit(op->get<std::string>());
    }
    if (value->is_structured()) {
      std::vector<const nlohmann::json*> children;
      for (const nlohmann::json& child : *value) {
        if (child.is_structured()) children.push_back(&child);
      }
      stack.insert(stack.end(), children.rbegin(), children.rend());
    }
  }
}

// torch.export.load looks records up by their full names (Python's zipfile).
const ZipEntry* FindFull(const ZipReader& zip, std::string_view name) {
  for (const ZipEntry& e : zip.entries()) {
    if (!e.shadowed && e.full_name == name) return &e;
  }
  return nullptr;
}

}  // namespace

std::string_view OperatorNamespaceRegistrar(std::string_view ns) {
  if (std::find(kTorchNamespaces.begin(), kTorchNamespaces.end(), ns) != kTorchNamespaces.end())
    return "torch";
  if (ns == "_operator") return "python";
  for (std::string_view library : kLibraryNamespaces)
    if (ns == library) return library;
  return "";
}

std::vector<ExportOperator> ExportOperatorsOf(std::string_view program_json) {
  const nlohmann::json program = nlohmann::json::parse(program_json, nullptr, false);
  if (program.is_discarded()) throw Error(Errc::kCorrupt, "not JSON");
  std::vector<ExportOperator> out;
  std::unordered_map<std::string, size_t> index;
  WalkTargets(program, [&](std::string target) {
    auto [it, added] = index.emplace(target, out.size());
    if (added) {
      ParsedTarget parsed = ParseTarget(target);
      ExportOperator op;
      op.target = std::move(target);
      op.registered_by = std::string(OperatorNamespaceRegistrar(parsed.ns));
      op.ns = std::move(parsed.ns);
      op.problem = std::move(parsed.problem);
      out.push_back(std::move(op));
    }
    ++out[it->second].calls;
  });
  return out;
}

std::vector<ExportOperator> ExportOperators(const ZipReader& zip) {
  const ZipEntry* entry = FindFull(zip, kExportProgramRecord);
  if (entry == nullptr) return {};
  try {
    return ExportOperatorsOf(ReadForAnalysis(zip, *entry));
  } catch (const Error& e) {
    throw Error(e.code(), zip.path() + ": " + entry->full_name + ": " + e.what());
  }
}

std::vector<std::string> ExportNestedArchives(const ZipReader& zip) {
  std::vector<std::string> out;
  for (std::string_view name :
       {"serialized_state_dict.pt", "serialized_constants.pt", "serialized_example_inputs.pt"}) {
    if (FindFull(zip, name) != nullptr) out.emplace_back(name);
  }
  return out;
}

ZipReader OpenNestedZip(const ZipReader& zip, std::string_view record) {
  const ZipEntry* entry = FindFull(zip, record);
  if (entry == nullptr)
    throw Error(Errc::kNotFound, zip.path() + ": no record " + std::string(record));
  const std::string bytes = zip.ReadAll(*entry);
  // Read from memory (a memfd), never from a temporary file; the reader
  // opens its own descriptor of it, which keeps the memory alive.
  ScopedFd fd(::memfd_create("tpkg-nested", MFD_CLOEXEC));
  if (!fd) ThrowSystemError("cannot hold " + std::string(record) + " in memory", errno);
  WriteAll(fd.get(), std::span<const char>(bytes.data(), bytes.size()), record);
  try {
    return ZipReader::Open("/proc/self/fd/" + std::to_string(fd.get()));
  } catch (const Error& e) {
    std::string reason = e.what();
    const std::string self = "/proc/self/fd/" + std::to_string(fd.get()) + ": ";
    if (reason.starts_with(self)) reason.erase(0, self.size());
    throw Error(e.code(),
                zip.path() + ": " + std::string(record) + " is no torch.save file: " + reason);
  }
}

std::vector<std::string> ExportLoadProblems(const ZipReader& zip) {
  std::vector<std::string> problems;
  if (FindFull(zip, "archive_format") != nullptr || zip.Find("archive_format") != nullptr) {
    problems.push_back(
        "archive_format: a newer torch.export archive (torch >= 2.7); torch 2.6's "
        "torch.export.load reads only serialized_exported_program.json archives");
    return problems;
  }
  // torch 2.6 reads `version` first and asserts "MAJOR.MINOR" with MAJOR 8.
  if (const ZipEntry* version = FindFull(zip, "version")) {
    const std::string text = ReadForAnalysis(zip, *version);
    const size_t dot = text.find('.');
    if (dot == std::string::npos || text.find('.', dot + 1) != std::string::npos) {
      problems.push_back("version: not MAJOR.MINOR, torch 2.6's loader asserts two numbers");
    } else if (text.substr(0, dot) != "8") {
      problems.push_back("version: schema " + text + ", and torch 2.6 loads schema 8.x");
    }
  } else {
    problems.push_back("version: missing, torch 2.6's loader reads it first");
  }
  const auto either = [&](std::string_view pt, std::string_view json) {
    return FindFull(zip, pt) != nullptr || FindFull(zip, json) != nullptr;
  };
  for (std::string_view name : {"serialized_exported_program.json", "serialized_example_inputs.pt"})
    if (FindFull(zip, name) == nullptr)
      problems.push_back(std::string(name) + ": missing, torch 2.6's loader requires it");
  if (!either("serialized_state_dict.pt", "serialized_state_dict.json"))
    problems.push_back("serialized_state_dict.pt: missing, torch 2.6's loader requires it");
  if (!either("serialized_constants.pt", "serialized_constants.json"))
    problems.push_back("serialized_constants.pt: missing, torch 2.6's loader requires it");
  for (const ZipEntry& e : zip.entries()) {
    if (e.shadowed) continue;
    // torch takes "extra_files/NAME" apart at its first '/': a name without one raises.
    if (e.full_name.starts_with("extra_files") && e.full_name.find('/') == std::string::npos)
      problems.push_back(e.full_name + ": torch 2.6's loader fails on an extra_files record "
                                       "without '/'");
  }
  for (const std::string& nested : ExportNestedArchives(zip)) {
    try {
      OpenNestedZip(zip, nested);
    } catch (const Error& e) {
      if (e.code() != Errc::kCorrupt && e.code() != Errc::kUnsupported) throw;
      std::string reason = e.what();
      if (reason.starts_with(zip.path() + ": ")) reason.erase(0, zip.path().size() + 2);
      problems.push_back(reason + " (torch.load refuses it)");
    }
  }
  return problems;
}

std::string UnreadExportWeights(const ZipReader& zip) {
  if (FindFull(zip, "serialized_state_dict.pt") != nullptr) return "";
  for (const ZipEntry& e : zip.entries()) {
    if (!e.shadowed && e.name.ends_with("weights_config.json"))
      return e.name + ": a torch.export weights config of a newer format (torch >= 2.7), "
                      "which tpkg does not read";
  }
  if (FindFull(zip, "serialized_state_dict.json") != nullptr)
    return "serialized_state_dict.json: a JSON state dict (an early torch.export format), "
           "which tpkg does not read";
  if (zip.Find("archive_format") != nullptr)
    return "archive_format: a torch.export archive of a newer format (torch >= 2.7) whose "
           "weights tpkg does not read";
  return "serialized_state_dict.pt: missing, the archive has no weights tpkg reads";
}

}  // namespace tpkg

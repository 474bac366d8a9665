// package_scan.cc: a torch.package as its importer loads it (safety/scan_context.h),
// from an archive or from a folder (a mount, an unpacked package).
//
// Pickle globals resolve against the interned modules first (whose sources
// run when imported, so every source is checked), then `.data/extern_modules`
// (checked against the "torch.package" allowlist); anything else the
// importer refuses. `__reduce_package__` persistent ids call a global the
// pickle names, so that global is checked like any other. TorchScript
// pickles under `.data/ts_code/` use the "torchscript" allowlist.
#include <filesystem>
#include <string>

#include "safety/mapped_file.h"
#include "safety/scan_context.h"
#include "scan/pickle_sniff.h"
#include "tpkg/error.h"

namespace tpkg::safety {
namespace {

std::string ModuleOfSource(std::string name) {
  name.resize(name.size() - 3);  // ".py"
  for (char& c : name)
    if (c == '/') c = '.';
  if (name == "__init__") return "";
  if (name.ends_with(".__init__")) name.resize(name.size() - 9);
  return name;
}

bool IsTorchScriptPickle(const std::string& name) {
  return name.starts_with(".data/ts_code/") &&
         (name.ends_with("/data.pkl") || name.ends_with("/constants.pkl"));
}

bool IsPackageMetadata(const std::string& name) {
  return name.starts_with(".data/") &&
         (name.ends_with(".storage") || name.starts_with(".data/ts_code/") ||
          name == ".data/version" || name == ".data/extern_modules" ||
          name == ".data/serialization_id" || name == ".data/python_version" ||
          name == ".data/deps.dot" || name.ends_with("/"));
}

class FolderRecords : public RecordSource {
 public:
  explicit FolderRecords(const std::string& root) : root_(root) {
    namespace fs = std::filesystem;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec))
        records_.push_back({fs::relative(it->path(), root, ec).string(), -1});
    }
    if (ec) throw Error(Errc::kIo, root + ": cannot list the folder: " + ec.message());
  }
  const std::vector<PackageRecord>& records() const override { return records_; }
  std::string Read(const PackageRecord& record) const override {
    MappedFile file(root_ + "/" + record.name);
    return std::string(file.bytes());
  }

 private:
  std::string root_;
  std::vector<PackageRecord> records_;
};

}  // namespace

void ScanPackageRecords(const RecordSource& source, const std::string& where, ScanContext& ctx) {
  PackageModules modules;
  for (const PackageRecord& r : source.records())
    if (r.name.ends_with(".py") && !r.name.starts_with(".data/"))
      modules.interned.insert(ModuleOfSource(r.name));
  for (const PackageRecord& r : source.records()) {
    if (r.name != ".data/extern_modules") continue;
    try {
      std::string text = source.Read(r);
      size_t start = 0;
      while (start < text.size()) {
        size_t nl = text.find('\n', start);
        if (nl == std::string::npos) nl = text.size();
        if (nl > start) modules.extern_modules.push_back(text.substr(start, nl - start));
        start = nl + 1;
      }
    } catch (const Error& e) {
      ctx.Unreadable(where + "!" + r.name, e.what());
    }
    break;
  }
  for (const std::string& m : modules.interned)
    if (ctx.policy.IsDangerousModule(m))
      ctx.Add(Severity::kSuspicious, "package.shadowing-module", where, -1, "",
              "the package interns its own '" + m +
                  "': globals and imports of that name load the package's code, not the "
                  "standard one");
  for (const std::string& e : modules.extern_modules)
    if (ctx.policy.IsDangerousImport(e))
      ctx.Add(Severity::kSuspicious, "package.dangerous-extern", where + "!.data/extern_modules",
              -1, "", "the package lets its code import " + e + " from the environment");

  for (const PackageRecord& r : source.records()) {
    std::string rec = where + "!" + r.name;
    try {
      if (IsTorchScriptPickle(r.name)) {
        std::string bytes = source.Read(r);
        CheckPickles(bytes, rec, "torchscript", nullptr, StreamShape::kRecord, true, ctx);
      } else if (IsPackageMetadata(r.name)) {
        continue;
      } else if (r.name.ends_with(".py")) {
        CheckPythonSource(source.Read(r), rec, ctx);
      } else if (r.name.ends_with(".pkl")) {
        std::string bytes = source.Read(r);
        CheckPickles(bytes, rec, "torch.package", &modules, StreamShape::kRecord, true, ctx);
      } else {
        // Any resource may be loaded with load_pickle(): sniff it (any protocol).
        std::string bytes = source.Read(r);
        // A ZIP's local header starts with 'P', which PERSID is: archives first.
        if (bytes.starts_with("PK\x03\x04")) {
          ++ctx.depth;
          ScanNestedBytes(bytes, rec, ctx);
          --ctx.depth;
        } else if (pickle::SniffPickle(bytes) != pickle::Sniff::kNo) {
          CheckPickles(bytes, rec, "torch.package", &modules, StreamShape::kRecord, false, ctx);
        }
      }
    } catch (const Error& e) {
      ctx.Unreadable(rec, e.what());
    }
  }
}

void ScanPackageFolder(const std::string& path, ScanContext& ctx) {
  ctx.result.kind = "directory (torch.package)";
  try {
    FolderRecords records(path);
    // Records named as in an archive (the result's path names the folder).
    ScanPackageRecords(records, "", ctx);
  } catch (const Error& e) {
    ctx.Unreadable(path, e.what());
  }
}

}  // namespace tpkg::safety

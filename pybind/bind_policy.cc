// bind_policy.cc: ExportPolicy (tpkg/policy.h), the exporter's module
// decisions, over a ModuleEnvironment implemented in Python.
//
// The environment is any Python object with `find(name) -> ModuleSource`
// (raising what the exporter's importer raises), `importable(name) ->
// bool` and `parse_error(source) -> str | None` (the interpreter's parser);
// PackageExporter passes one that imports through its importer.
// Python exceptions raised there cross the C++ policy unchanged (as
// pybind11::error_already_set) and reach the caller as themselves, e.g.
// torch's ModuleNotFoundError for a module that cannot be interned.
//
// The policy calls back into Python for every candidate module, so its
// methods keep the GIL (releasing it per call would cost more than it saves);
// only save_pickle's scan runs without it. Hooks are Python callables held
// as std::function by pybind11/functional.h, which takes the GIL to call,
// copy and drop them (so a handle removed from any thread is safe).
//
// close(write) runs the C++ close(): hooks, and per record
// write(record, data), where data is the record's bytes, or None for
// _mock.py (torch's file, which ships with the Python package); it returns
// the text of .data/extern_modules.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bind.h"
#include "tpkg/policy.h"

namespace py = pybind11;

namespace tpkg::python {
namespace {

class PyModuleEnvironment : public ModuleEnvironment {
 public:
  explicit PyModuleEnvironment(const py::object& env)
      : find_(env.attr("find")),
        importable_(env.attr("importable")),
        parse_error_(env.attr("parse_error")) {}

  std::optional<ModuleSource> Find(std::string_view module) override {
    py::object found = find_(module);
    if (found.is_none()) return std::nullopt;
    return found.cast<ModuleSource>();
  }

  bool Importable(std::string_view module) override { return importable_(module).cast<bool>(); }

  std::optional<std::string> ParseError(std::string_view source) override {
    return parse_error_(source).cast<std::optional<std::string>>();
  }

 private:
  py::object find_;
  py::object importable_;
  py::object parse_error_;
};

// The policy and the environment it refers to, owned together.
struct PyExportPolicy {
  PyExportPolicy(const py::object& env, TorchRelease release, bool debug)
      : environment(env), policy(environment, release, debug) {}
  PyModuleEnvironment environment;
  ExportPolicy policy;
};

// save_pickle(): the dependencies come from a scan of the bytes just pickled.
void SavePickle(PyExportPolicy& p, std::string_view package, std::string_view resource,
                const py::bytes& data, bool dependencies) {
  PickleDependencies deps;
  if (dependencies) deps = TorchPickleDependencies(ScanPickleBytes(data), p.policy.release());
  p.policy.SavePickle(package, resource, deps, dependencies);
}

std::string Close(PyExportPolicy& p, const py::function& write) {
  const ClosePlan plan = p.policy.Close([&write](const WriteStep& step) {
    if (step.kind == WriteStep::Kind::kMockFile) {
      // The caller writes this header, then the _mock.py it ships.
      write(step.record, py::none(), py::bytes(step.text.data(), step.text.size()));
    } else {
      write(step.record, py::bytes(step.text.data(), step.text.size()));
    }
  });
  return plan.extern_modules_text;
}

}  // namespace

void BindPolicy(py::module_& m) {
  py::enum_<ModuleSource::Kind>(m, "ModuleKind", "What importing a module revealed.")
      .value("SOURCE", ModuleSource::Kind::kSource)
      .value("NO_FILE", ModuleSource::Kind::kNoFile)
      .value("EXTENSION", ModuleSource::Kind::kExtension)
      .value("FILE_NOT_FOUND", ModuleSource::Kind::kFileNotFound)
      .value("IMPLICIT_PACKAGE", ModuleSource::Kind::kImplicitPackage);

  py::class_<ModuleSource>(m, "ModuleSource", "A module as the exporter's importer sees it.")
      .def(py::init([](ModuleSource::Kind kind, std::string source, bool is_package,
                       std::string file, bool compiled) {
             ModuleSource found{kind, std::move(source), is_package, std::move(file)};
             found.compiled = compiled;
             return found;
           }),
           py::arg("kind"), py::arg("source") = "", py::arg("is_package") = false,
           py::arg("file") = "", py::arg("compiled") = false)
      .def_readonly("kind", &ModuleSource::kind)
      .def_readonly("source", &ModuleSource::source)
      .def_readonly("is_package", &ModuleSource::is_package)
      .def_readonly("file", &ModuleSource::file)
      .def_readonly("compiled", &ModuleSource::compiled);

  py::class_<HookHandle>(m, "HookHandle", "torch's RemovableHandle for an exporter hook.")
      .def("remove", &HookHandle::Remove)
      .def_property_readonly("id", &HookHandle::id)
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](HookHandle& h, const py::args&) { h.Remove(); });

  py::class_<RuleState>(m, "RuleState", "A user rule of the policy and whether it matched.")
      .def_readonly("action", &RuleState::action)
      .def_readonly("description", &RuleState::description)
      .def_readonly("allow_empty", &RuleState::allow_empty)
      .def_readonly("was_matched", &RuleState::was_matched);

  using P = PyExportPolicy;
  py::class_<P>(m, "ExportPolicy", "PackageExporter's module decisions (tpkg/policy.h).")
      .def(py::init([](const py::object& env, TorchRelease release, bool debug) {
             return std::make_unique<P>(env, release, debug);
           }),
           py::arg("env"), py::arg("release") = TorchRelease::kTorch1_13, py::arg("debug") = false)
      .def(
          "intern",
          [](P& p, GlobGroup g, bool allow_empty) { p.policy.Intern(std::move(g), allow_empty); },
          py::arg("include"), py::arg("allow_empty") = true)
      .def(
          "extern",
          [](P& p, GlobGroup g, bool allow_empty) { p.policy.Extern(std::move(g), allow_empty); },
          py::arg("include"), py::arg("allow_empty") = true)
      .def(
          "mock",
          [](P& p, GlobGroup g, bool allow_empty) { p.policy.Mock(std::move(g), allow_empty); },
          py::arg("include"), py::arg("allow_empty") = true)
      .def(
          "deny", [](P& p, GlobGroup g) { p.policy.Deny(std::move(g)); }, py::arg("include"))
      .def(
          "save_source_string",
          [](P& p, std::string_view module, std::string source, bool is_package,
             bool dependencies) {
            p.policy.SaveSourceString(module, std::move(source), is_package, dependencies);
          },
          py::arg("module"), py::arg("source"), py::arg("is_package"), py::arg("dependencies"))
      .def(
          "save_module",
          [](P& p, std::string_view module, bool dependencies) {
            p.policy.SaveModule(module, dependencies);
          },
          py::arg("module"), py::arg("dependencies"))
      .def(
          "add_dependency",
          [](P& p, std::string_view module, bool dependencies) {
            p.policy.AddDependency(module, dependencies);
          },
          py::arg("module"), py::arg("dependencies"))
      .def("save_pickle", &SavePickle, py::arg("package"), py::arg("resource"), py::arg("data"),
           py::arg("dependencies"))
      .def(
          "register_intern_hook",
          [](P& p, ActionHook hook) { return p.policy.RegisterInternHook(std::move(hook)); },
          py::arg("hook"))
      .def(
          "register_extern_hook",
          [](P& p, ActionHook hook) { return p.policy.RegisterExternHook(std::move(hook)); },
          py::arg("hook"))
      .def(
          "register_mock_hook",
          [](P& p, ActionHook hook) { return p.policy.RegisterMockHook(std::move(hook)); },
          py::arg("hook"))
      .def("validate", [](const P& p) { p.policy.Validate(); })
      .def("close", &Close, py::arg("write"))
      .def("rules", [](const P& p) { return p.policy.Rules(); })
      .def_property_readonly(
          "graph", [](P& p) -> DepGraph& { return p.policy.mutable_graph(); },
          py::return_value_policy::reference_internal);

  m.attr("MOCK_STUB_SOURCE") = std::string(kMockStubSource);
  m.def(
      "mock_file_header",
      [](TorchRelease release) { return py::bytes(std::string(MockFileHeader(release))); },
      py::arg("release"));
  m.def("format_packaging_error", &FormatPackagingError, py::arg("graph"),
        py::arg("release") = TorchRelease::kTorch1_13, py::arg("debug") = false);
  m.def(
      "can_implicitly_extern", [](std::string_view module) { return CanImplicitlyExtern(module); },
      py::arg("module"));
}

}  // namespace tpkg::python

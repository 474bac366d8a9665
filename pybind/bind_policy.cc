// bind_policy.cc: ExportPolicy (tpkg/policy.h), the exporter's module
// decisions, over a ModuleEnvironment implemented in Python.
//
// The environment is any Python object with `find(name) -> ModuleSource`
// (raising what the exporter's importer raises) and `importable(name) ->
// bool`; PackageExporter passes one that imports through its importer.
// Python exceptions raised there cross the C++ policy unchanged (as
// pybind11::error_already_set) and reach the caller as themselves, e.g.
// torch's ModuleNotFoundError for a module that cannot be interned.
//
// The policy calls back into Python for every candidate module, so its
// methods keep the GIL (releasing it per call would cost more than it saves).
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
      : find_(env.attr("find")), importable_(env.attr("importable")) {}

  std::optional<ModuleSource> Find(std::string_view module) override {
    py::object found = find_(module);
    if (found.is_none()) return std::nullopt;
    return found.cast<ModuleSource>();
  }

  bool Importable(std::string_view module) override { return importable_(module).cast<bool>(); }

 private:
  py::object find_;
  py::object importable_;
};

// The policy and the environment it refers to, owned together.
struct PyExportPolicy {
  explicit PyExportPolicy(const py::object& env) : environment(env), policy(environment) {}
  PyModuleEnvironment environment;
  ExportPolicy policy;
};

void SavePickle(PyExportPolicy& p, std::string_view package, std::string_view resource,
                std::vector<std::string> modules,
                std::vector<std::pair<std::string, std::string>> globals,
                std::optional<std::string> torch_last_module, bool dependencies) {
  PickleDependencies deps{std::move(modules), std::move(globals), std::move(torch_last_module)};
  p.policy.SavePickle(package, resource, deps, dependencies);
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
      .def(py::init(
               [](ModuleSource::Kind kind, std::string source, bool is_package, std::string file) {
                 return ModuleSource{kind, std::move(source), is_package, std::move(file)};
               }),
           py::arg("kind"), py::arg("source") = "", py::arg("is_package") = false,
           py::arg("file") = "")
      .def_readonly("kind", &ModuleSource::kind)
      .def_readonly("source", &ModuleSource::source)
      .def_readonly("is_package", &ModuleSource::is_package)
      .def_readonly("file", &ModuleSource::file);

  using P = PyExportPolicy;
  py::class_<P>(m, "ExportPolicy", "PackageExporter's module decisions (tpkg/policy.h).")
      .def(py::init([](const py::object& env) { return std::make_unique<P>(env); }), py::arg("env"))
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
      .def("save_pickle", &SavePickle, py::arg("package"), py::arg("resource"), py::arg("modules"),
           py::arg("globals"), py::arg("torch_last_module"), py::arg("dependencies"))
      .def("validate", [](const P& p) { p.policy.Validate(); })
      .def_property_readonly(
          "graph", [](P& p) -> DepGraph& { return p.policy.mutable_graph(); },
          py::return_value_policy::reference_internal);

  m.attr("MOCK_STUB_SOURCE") = std::string(kMockStubSource);
  m.def("format_packaging_error", &FormatPackagingError, py::arg("graph"));
  m.def(
      "can_implicitly_extern",
      [](std::string_view module) { return CanImplicitlyExtern(module); }, py::arg("module"));
}

}  // namespace tpkg::python

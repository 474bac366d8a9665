// bind_scan.cc: the import and pickle scanners (tpkg/import_scan.h,
// tpkg/pickle_scan.h). Both release the GIL while they scan.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <span>
#include <string>
#include <string_view>

#include "bind.h"
#include "tpkg/import_scan.h"
#include "tpkg/pickle_scan.h"

namespace py = pybind11;

namespace tpkg::python {
namespace {

std::span<const char> BytesSpan(const py::bytes& data) {
  char* buffer = nullptr;
  Py_ssize_t size = 0;
  if (PyBytes_AsStringAndSize(data.ptr(), &buffer, &size) != 0) throw py::error_already_set();
  return {buffer, static_cast<size_t>(size)};
}

// torch's find_files_source_depends_on(): [(module, name or None)].
py::list ScanImportsToList(std::string_view source, std::string_view package) {
  std::vector<ImportRef> refs;
  {
    py::gil_scoped_release nogil;
    refs = ScanImports(source, package);
  }
  py::list out;
  for (const ImportRef& ref : refs) out.append(py::make_tuple(ref.module, ref.name));
  return out;
}

std::vector<std::string> ScanPickleModules(const py::bytes& data) {
  return ScanPickleBytes(data).modules;
}

}  // namespace

PickleScan ScanPickleBytes(const py::bytes& data) {
  std::span<const char> bytes = BytesSpan(data);  // `data` stays referenced by the caller
  py::gil_scoped_release nogil;
  return ScanPickle(bytes);
}

void BindScan(py::module_& m) {
  py::class_<PickleGlobal>(m, "PickleGlobal")
      .def_readonly("module", &PickleGlobal::module)
      .def_readonly("name", &PickleGlobal::name)
      .def("__repr__",
           [](const PickleGlobal& g) { return "PickleGlobal(" + g.module + "." + g.name + ")"; });

  py::class_<StorageRef>(m, "StorageRef")
      .def_readonly("storage_type", &StorageRef::storage_type)
      .def_readonly("key", &StorageRef::key)
      .def_readonly("key_is_int", &StorageRef::key_is_int)
      .def_readonly("location", &StorageRef::location)
      .def_readonly("numel", &StorageRef::numel);

  py::class_<ReducePackageRef>(m, "ReducePackageRef")
      .def_readonly("func", &ReducePackageRef::func)
      .def_readonly("has_id", &ReducePackageRef::has_id);

  py::class_<PickleScan>(m, "PickleScan", "What a pickle references (tpkg/pickle_scan.h).")
      .def_readonly("protocol", &PickleScan::protocol)
      .def_readonly("globals", &PickleScan::globals)
      .def_readonly("modules", &PickleScan::modules)
      .def_readonly("storages", &PickleScan::storages)
      .def_readonly("reduce_packages", &PickleScan::reduce_packages);

  m.def("scan_pickle", &ScanPickleBytes, py::arg("data"),
        "Globals, dependency modules and persistent ids of a pickle, never executing it.");
  m.def("scan_pickle_modules", &ScanPickleModules, py::arg("data"),
        "The modules torch.package's save_pickle derives from a pickle.");
  m.def("scan_imports", &ScanImportsToList, py::arg("source"), py::arg("package"),
        "torch.package's find_files_source_depends_on(source, package).");
  m.def(
      "find_compile_error",
      [](std::string_view source) {
        py::gil_scoped_release nogil;
        return FindCompileError(source);
      },
      py::arg("source"),
      "What Python's compile() refuses in a source that scan_imports accepts: \"line N: "
      "reason\", or None.");
  m.def("package_of", &PackageOf, py::arg("module_name"), py::arg("is_package"));
}

}  // namespace tpkg::python

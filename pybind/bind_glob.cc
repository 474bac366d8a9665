// bind_glob.cc: GlobGroup (tpkg/glob.h). The Python wrapper passes str() of
// the original arguments so that messages quote them exactly as torch does.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bind.h"
#include "tpkg/glob.h"

namespace py = pybind11;

namespace tpkg::python {

void BindGlob(py::module_& m) {
  py::class_<GlobGroup>(m, "GlobGroup", "include/exclude patterns with torch's * and ** rules.")
      .def(py::init([](std::vector<std::string> include, std::string include_repr,
                       std::vector<std::string> exclude, std::string exclude_repr,
                       std::string separator) {
             return GlobGroup(GlobPattern::WithRepr(std::move(include), std::move(include_repr)),
                              GlobPattern::WithRepr(std::move(exclude), std::move(exclude_repr)),
                              std::move(separator));
           }),
           py::arg("include"), py::arg("include_repr"), py::arg("exclude"), py::arg("exclude_repr"),
           py::arg("separator") = ".")
      .def("matches", &GlobGroup::Matches, py::arg("candidate"))
      .def_property_readonly("separator", &GlobGroup::separator)
      .def("__str__", &GlobGroup::ToString)
      .def("__repr__", &GlobGroup::ToString);
}

}  // namespace tpkg::python

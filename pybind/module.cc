// module.cc: the `tpkg._core` extension module: one Bind*() call per area.
//
// Everything here is a thin shell over libtpkg (include/tpkg/): the
// torch.package-compatible surface lives in the pure-Python package `tpkg`
// and calls into these bindings for archive I/O, scanning, patterns and the
// dependency graph.
#include <pybind11/pybind11.h>

#include "bind.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "libtpkg bindings (archive I/O, dependency analysis) for the tpkg package";
  tpkg::python::BindErrors(m);
  tpkg::python::BindZip(m);
  tpkg::python::BindScan(m);
  tpkg::python::BindGlob(m);
  tpkg::python::BindGraph(m);
  tpkg::python::BindPolicy(m);
}

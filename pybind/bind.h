// bind.h: the per-area binding entry points called from module.cc.
//
// Each Bind*() adds one libtpkg area to the `_core` module. They run once,
// at import, with the GIL held.
// Every binding touches Python objects only with the GIL held; those that
// release it around libtpkg work say so where they do.
#pragma once

#include <pybind11/pybind11.h>

#include "tpkg/pickle_scan.h"

namespace tpkg::python {

void BindErrors(pybind11::module_& m);  // tpkg::Error -> Python exceptions
void BindZip(pybind11::module_& m);     // ZipReader, ZipWriter, PrefixForPath
void BindScan(pybind11::module_& m);    // ScanImports, ScanPickle
void BindGlob(pybind11::module_& m);    // GlobGroup
void BindGraph(pybind11::module_& m);   // DepGraph, Action, PackagingErrorReason
void BindPolicy(pybind11::module_& m);  // ExportPolicy over a Python ModuleEnvironment

// ScanPickle() of a bytes object, with the GIL released while it scans
// (bind_scan.cc). The caller keeps `data` alive.
PickleScan ScanPickleBytes(const pybind11::bytes& data);

}  // namespace tpkg::python

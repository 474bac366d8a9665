// bind_errors.cc: the one translator from tpkg::Error to Python exceptions.
//
// It switches on Error::code() (and one error type), never on message text:
//
//   Errc                          Python exception
//   ----------------------------  ------------------------------------------
//   any error with sys_errno()    OSError(errno, msg): Python picks the
//                                 subclass (ENOENT -> FileNotFoundError, ...)
//   kCorrupt                      tpkg.CorruptArchiveError (a RuntimeError,
//                                 as torch's reader raises RuntimeError)
//   kUnsupported                  tpkg.UnsupportedArchiveError (RuntimeError)
//   kPolicy                       tpkg.PolicyError (RuntimeError)
//   GraphInvariantError           AssertionError (torch's type for a graph
//                                 close() cannot handle, policy.h)
//   kInvalidArgument              ValueError
//   every other Errc              OSError(ToErrno(e), msg)
//
// Every raised instance carries `code` (a tpkg._core.Errc) for callers that
// need the category.
#include <pybind11/pybind11.h>

#include "bind.h"
#include "tpkg/error.h"
#include "tpkg/policy.h"

namespace py = pybind11;

namespace tpkg::python {
namespace {

// Owned by the module for the life of the process (never destroyed, so no
// Python call happens during static destruction).
PyObject* g_corrupt = nullptr;
PyObject* g_unsupported = nullptr;
PyObject* g_policy = nullptr;

PyObject* ExceptionTypeFor(const Error& e) {
  if (e.sys_errno() != 0) return PyExc_OSError;
  if (dynamic_cast<const GraphInvariantError*>(&e) != nullptr) return PyExc_AssertionError;
  switch (e.code()) {
    case Errc::kCorrupt: return g_corrupt;
    case Errc::kUnsupported: return g_unsupported;
    case Errc::kPolicy: return g_policy;
    case Errc::kInvalidArgument: return PyExc_ValueError;
    default: return PyExc_OSError;
  }
}

py::object MakeException(const Error& e) {
  auto type = py::reinterpret_borrow<py::object>(ExceptionTypeFor(e));
  if (type.ptr() == PyExc_OSError) return type(ToErrno(e), e.what());
  return type(e.what());
}

void RaiseTranslated(const Error& e) {
  py::object exc = MakeException(e);
  exc.attr("code") = py::cast(e.code());
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
}

PyObject* NewException(py::module_& m, const char* name, PyObject* base, const char* doc) {
  std::string qualified = std::string("tpkg._core.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, base, nullptr);
  if (type == nullptr) throw py::error_already_set();
  m.add_object(name, py::reinterpret_borrow<py::object>(type));
  return type;  // the new reference is kept for the life of the process
}

}  // namespace

void BindErrors(py::module_& m) {
  py::enum_<Errc>(m, "Errc", "The category of a libtpkg error (tpkg/error.h).")
      .value("NOT_FOUND", Errc::kNotFound)
      .value("EXISTS", Errc::kExists)
      .value("NOT_DIR", Errc::kNotDir)
      .value("IS_DIR", Errc::kIsDir)
      .value("NOT_EMPTY", Errc::kNotEmpty)
      .value("INVALID_ARGUMENT", Errc::kInvalidArgument)
      .value("NAME_TOO_LONG", Errc::kNameTooLong)
      .value("PERMISSION", Errc::kPermission)
      .value("NO_SPACE", Errc::kNoSpace)
      .value("READ_ONLY", Errc::kReadOnly)
      .value("CORRUPT", Errc::kCorrupt)
      .value("UNSUPPORTED", Errc::kUnsupported)
      .value("POLICY", Errc::kPolicy)
      .value("IO", Errc::kIo);

  PyObject* base =
      NewException(m, "TpkgError", PyExc_RuntimeError, "A libtpkg error that is not an OS error.");
  g_corrupt = NewException(m, "CorruptArchiveError", base,
                           "The archive's bytes are not what they claim to be.");
  g_unsupported = NewException(m, "UnsupportedArchiveError", base,
                               "A valid ZIP feature that torch cannot read.");
  g_policy = NewException(m, "PolicyError", base, "A packaging rule refused the content.");

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      RaiseTranslated(e);
    }
  });
  // Lets tests exercise the table without a failing archive at hand.
  m.def(
      "_raise_error",
      [](Errc code, const std::string& message, int sys_errno) {
        throw Error(code, message, sys_errno);
      },
      py::arg("code"), py::arg("message"), py::arg("sys_errno") = 0);
}

}  // namespace tpkg::python

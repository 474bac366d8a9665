// bind_graph.cc: DepGraph and its node attributes (tpkg/dep_graph.h).
//
// NodeAttrs objects handed to Python are references into the graph (valid
// for the graph's lifetime; nodes never move), so `g.add_node(n).action = x`
// updates the node in place, as torch's `add_node(n, action=x)` does.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bind.h"
#include "tpkg/dep_graph.h"
#include "tpkg/error.h"

namespace py = pybind11;

namespace tpkg::python {
namespace {

NodeAttrs& RequireNode(DepGraph& g, std::string_view name) {
  NodeAttrs* attrs = g.Find(name);
  if (attrs == nullptr) {
    throw Error(Errc::kNotFound, "The node " + std::string(name) + " is not in the digraph.");
  }
  return *attrs;
}

std::vector<std::string> Names(const DepGraph& g) {
  std::vector<std::string> names;
  names.reserve(g.size());
  for (DepGraph::NodeId id = 0; id < g.size(); ++id) names.push_back(g.name(id));
  return names;
}

py::list NodeRefs(py::object self) {
  auto& g = self.cast<DepGraph&>();
  py::list out;
  for (DepGraph::NodeId id = 0; id < g.size(); ++id) {
    out.append(py::cast(&g.attrs(id), py::return_value_policy::reference_internal, self));
  }
  return out;
}

std::vector<std::string> ClosureNames(const DepGraph& g, const std::vector<DepGraph::NodeId>& ids) {
  std::vector<std::string> names;
  for (DepGraph::NodeId id : ids) names.push_back(g.name(id));
  return names;
}

}  // namespace

void BindGraph(py::module_& m) {
  py::enum_<Action>(m, "Action", "torch's _ModuleProviderAction.")
      .value("INTERN", Action::kIntern)
      .value("EXTERN", Action::kExtern)
      .value("MOCK", Action::kMock)
      .value("DENY", Action::kDeny)
      .value("REPACKAGED_MOCK_MODULE", Action::kRepackagedMockModule)
      .value("SKIP", Action::kSkip);

  py::enum_<PackagingErrorReason>(m, "Reason", "torch's PackagingErrorReason (plus tpkg's own).")
      .value("IS_EXTENSION_MODULE", PackagingErrorReason::kIsExtensionModule)
      .value("NO_DUNDER_FILE", PackagingErrorReason::kNoDunderFile)
      .value("SOURCE_FILE_NOT_FOUND", PackagingErrorReason::kSourceFileNotFound)
      .value("DEPENDENCY_RESOLUTION_FAILED", PackagingErrorReason::kDependencyResolutionFailed)
      .value("NO_ACTION", PackagingErrorReason::kNoAction)
      .value("DENIED", PackagingErrorReason::kDenied)
      .value("MOCKED_BUT_STILL_USED", PackagingErrorReason::kMockedButStillUsed)
      .value("MISSING_MODULE", PackagingErrorReason::kMissingModule)
      .value("INCONSISTENT_STRUCTURE", PackagingErrorReason::kInconsistentStructure)
      .value("UNREADABLE_PICKLE", PackagingErrorReason::kUnreadablePickle)
      .value("UNREADABLE_SOURCE", PackagingErrorReason::kUnreadableSource)
      .value("MISSING_STORAGE", PackagingErrorReason::kMissingStorage)
      .value("UNSUPPORTED_VERSION", PackagingErrorReason::kUnsupportedVersion)
      .value("MISSING_GLOBAL", PackagingErrorReason::kMissingGlobal)
      .value("MISSING_NAME", PackagingErrorReason::kMissingName)
      .value("DANGEROUS_GLOBAL", PackagingErrorReason::kDangerousGlobal)
      .value("MISSING_SCRIPT_CODE", PackagingErrorReason::kMissingScriptCode)
      .value("MISSING_RECORD", PackagingErrorReason::kMissingRecord)
      .value("SCRIPT_CODE_SYNTAX", PackagingErrorReason::kScriptCodeSyntax)
      .value("SOURCE_COMPILE_ERROR", PackagingErrorReason::kSourceCompileError)
      .value("RECORD_NAME_NOT_UTF8", PackagingErrorReason::kRecordNameNotUtf8);
  m.def("reason_text", &ReasonText, py::arg("reason"));

  py::class_<NodeAttrs>(m, "NodeAttrs", "A node's attributes; None = not set.")
      .def_readwrite("action", &NodeAttrs::action)
      .def_readwrite("provided", &NodeAttrs::provided)
      .def_readwrite("is_package", &NodeAttrs::is_package)
      .def_readwrite("is_pickle", &NodeAttrs::is_pickle)
      .def_readwrite("source", &NodeAttrs::source)
      .def_readwrite("error", &NodeAttrs::error)
      .def_readwrite("error_context", &NodeAttrs::error_context);

  using R = py::return_value_policy;
  py::class_<DepGraph>(m, "DepGraph", "Insertion-ordered dependency graph (tpkg/dep_graph.h).")
      .def(py::init<>())
      .def("add_node", &DepGraph::AddNode, R::reference_internal, py::arg("name"))
      .def("add_edge", &DepGraph::AddEdge, py::arg("u"), py::arg("v"))
      .def("contains", &DepGraph::Contains, py::arg("name"))
      .def("find", py::overload_cast<std::string_view>(&DepGraph::Find), R::reference_internal,
           py::arg("name"))
      .def("node", &RequireNode, R::reference_internal, py::arg("name"))
      .def("names", &Names, "Node names in insertion order.")
      .def("nodes", &NodeRefs, "Node attributes in insertion order.")
      .def("__len__", &DepGraph::size)
      .def("successors", &DepGraph::Successors, py::arg("name"))
      .def("predecessors", &DepGraph::Predecessors, py::arg("name"))
      .def("rdeps", &DepGraph::Rdeps, py::arg("name"))
      .def("edges", &DepGraph::Edges)
      .def(
          "forward_closure",
          [](const DepGraph& g, std::string_view n) {
            return ClosureNames(g, g.ForwardClosure(n));
          },
          py::arg("name"))
      .def(
          "backward_closure",
          [](const DepGraph& g, std::string_view n) {
            return ClosureNames(g, g.BackwardClosure(n));
          },
          py::arg("name"))
      .def("all_paths_dot", &DepGraph::AllPathsDot, py::arg("src"), py::arg("dst"))
      .def("first_path", &DepGraph::FirstPath, py::arg("dst"))
      .def("to_dot", &DepGraph::ToDot)
      .def("has_errors", &DepGraph::HasErrors)
      .def("names_with_action", &DepGraph::NamesWithAction, py::arg("action"));
}

}  // namespace tpkg::python

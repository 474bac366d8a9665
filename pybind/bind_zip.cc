// bind_zip.cc: ZipReader / ZipWriter (tpkg/zip_reader.h, tpkg/zip_writer.h).
//
// Reads and writes release the GIL. A writer may target a path, or any
// Python object with a binary write() method (PyFileSink re-acquires the GIL
// for each chunk).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>

#include "bind.h"
#include "tpkg/error.h"
#include "tpkg/torch_records.h"
#include "tpkg/torch_release.h"
#include "tpkg/torch_writer_trailer.h"
#include "tpkg/zip_reader.h"
#include "tpkg/zip_writer.h"

namespace py = pybind11;

namespace tpkg::python {
namespace {

// A ZipSink over a Python file-like object (io.BytesIO, an open file, ...).
class PyFileSink : public ZipSink {
 public:
  explicit PyFileSink(py::object file) : file_(std::move(file)) {}
  ~PyFileSink() override {
    py::gil_scoped_acquire gil;
    file_ = py::object();
  }

  void Write(std::span<const char> bytes) override {
    py::gil_scoped_acquire gil;
    file_.attr("write")(py::memoryview::from_memory(bytes.data(), bytes.size()));
  }

 private:
  py::object file_;
};

const ZipEntry& FindOrThrow(const ZipReader& reader, std::string_view record) {
  const ZipEntry* entry = reader.Find(record);
  if (entry == nullptr) {
    throw Error(Errc::kNotFound, reader.path() + ": no record '" + std::string(record) + "'");
  }
  return *entry;
}

// The record's bytes as a Python bytes object. Stored records are read
// straight into the bytes buffer (one pread, no intermediate copy).
py::bytes ReadRecord(const ZipReader& reader, std::string_view record) {
  const ZipEntry& entry = FindOrThrow(reader, record);
  if (entry.method != kMethodStored) {
    std::string data;
    {
      py::gil_scoped_release nogil;
      data = reader.ReadAll(entry);
    }
    return py::bytes(data);
  }
  PyObject* raw = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(entry.size));
  if (raw == nullptr) throw py::error_already_set();
  auto result = py::reinterpret_steal<py::bytes>(raw);
  std::span<char> out(PyBytes_AS_STRING(raw), entry.size);
  size_t got = 0;
  {
    py::gil_scoped_release nogil;
    got = reader.ReadAt(entry, 0, out);
  }
  if (got != entry.size) {
    throw Error(Errc::kCorrupt, reader.path() + ": record '" + entry.name + "' is truncated");
  }
  return result;
}

std::vector<std::string> RecordNames(const ZipReader& reader) {
  std::vector<std::string> names;
  names.reserve(reader.entries().size());
  for (const ZipEntry& e : reader.entries()) names.push_back(e.name);
  return names;
}

void AddBuffer(ZipWriter& writer, std::string_view record, const py::buffer& data) {
  py::buffer_info info = data.request();
  std::span<const char> bytes(static_cast<const char*>(info.ptr),
                              static_cast<size_t>(info.size * info.itemsize));
  py::gil_scoped_release nogil;
  writer.AddRecord(record, bytes);
}

// Mirrors torch's PyTorchFileWriter.write_record(name, data_ptr, size): the
// caller (tensor storage code) vouches that [address, address+size) is live.
void AddMemory(ZipWriter& writer, std::string_view record, uintptr_t address, size_t size) {
  std::span<const char> bytes(reinterpret_cast<const char*>(address), size);
  py::gil_scoped_release nogil;
  writer.AddRecord(record, bytes);
}

}  // namespace

void BindZip(py::module_& m) {
  m.attr("METHOD_STORED") = kMethodStored;
  m.attr("METHOD_DEFLATE") = kMethodDeflate;

  py::class_<ZipEntry>(m, "ZipEntry", "One central-directory entry (prefix stripped).")
      .def_readonly("name", &ZipEntry::name)
      .def_readonly("full_name", &ZipEntry::full_name)
      .def_readonly("method", &ZipEntry::method)
      .def_readonly("flags", &ZipEntry::flags)
      .def_readonly("crc32", &ZipEntry::crc32)
      .def_readonly("compressed_size", &ZipEntry::compressed_size)
      .def_readonly("size", &ZipEntry::size)
      .def_readonly("local_header_offset", &ZipEntry::local_header_offset)
      .def_readonly("data_offset", &ZipEntry::data_offset)
      .def_property_readonly("is_directory", &ZipEntry::is_directory);

  py::class_<ZipReader>(m, "ZipReader", "A read-only archive (tpkg/zip_reader.h).")
      .def(py::init([](const std::string& path, bool strict) {
             return ZipReader::Open(path, ZipReaderOptions{.strict = strict});
           }),
           py::arg("path"), py::arg("strict") = true, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("path", &ZipReader::path)
      .def_property_readonly("prefix", &ZipReader::prefix)
      .def_property_readonly("fd", &ZipReader::fd)
      .def_property_readonly("file_size", &ZipReader::file_size)
      .def("records", &RecordNames, "Record names in central-directory order.")
      .def("entries", &ZipReader::entries, py::return_value_policy::reference_internal)
      .def(
          "entry", [](const ZipReader& r, std::string_view record) { return r.Find(record); },
          py::return_value_policy::reference_internal, py::arg("record"))
      .def(
          "has_record",
          [](const ZipReader& r, std::string_view record) { return r.Find(record) != nullptr; },
          py::arg("record"))
      .def("get_record", &ReadRecord, py::arg("record"))
      .def("torch_writer_trailer", &TorchWriterTrailer,
           "The records torch's writer added when it finished the archive, in its order.");

  py::enum_<TorchRelease>(m, "TorchRelease", "Whose torch.package to reproduce (tpkg/torch_release.h).")
      .value("TORCH_1_13", TorchRelease::kTorch1_13)
      .value("TORCH_2", TorchRelease::kTorch2);
  m.def("torch_release_of", &TorchReleaseOf, py::arg("version"));
  m.def(
      "parse_torch_version",
      [](const py::bytes& text) { return ParseTorchVersion(std::string(text)); }, py::arg("text"),
      "A version record's value as torch's reader parses it; None without digits.");

  py::class_<ZipWriter>(m, "ZipWriter", "A torch-identical archive writer (tpkg/zip_writer.h).")
      .def_static("create", &ZipWriter::Create, py::arg("path"), py::arg("prefix"),
                  py::arg("overwrite") = false, py::call_guard<py::gil_scoped_release>())
      .def_static(
          "to_file",
          [](py::object file, std::string prefix) {
            return ZipWriter::ToSink(std::make_unique<PyFileSink>(std::move(file)),
                                     std::move(prefix));
          },
          py::arg("file"), py::arg("prefix"))
      .def("add_record", &AddBuffer, py::arg("record"), py::arg("data"))
      .def("add_record_from_memory", &AddMemory, py::arg("record"), py::arg("address"),
           py::arg("size"))
      .def(
          "copy_raw_record",
          [](ZipWriter& w, const ZipReader& src, std::string_view name, std::string_view record) {
            const ZipEntry& entry = FindOrThrow(src, name);
            py::gil_scoped_release nogil;
            w.CopyRawRecord(src, entry, record);
          },
          py::arg("source"), py::arg("name"), py::arg("record") = "")
      .def("add_torch_package_trailer", &ZipWriter::AddTorchPackageTrailer, py::arg("release"))
      .def_property_readonly("offset", &ZipWriter::offset)
      .def("finish", &ZipWriter::Finish, py::call_guard<py::gil_scoped_release>());

  m.def("prefix_for_path", &PrefixForPath, py::arg("path"));
}

}  // namespace tpkg::python

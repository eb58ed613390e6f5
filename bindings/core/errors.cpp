// The one place where C++ errors become Python exceptions.
#include "common.h"

#include "culturespa/core/error.h"

namespace culturespa::bindings {

void register_errors(py::module_& m) {
  static py::exception<CancelledError> cancelled(m, "Cancelled", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const FileError& e) {
      if (e.kind() == FileError::Kind::not_found) {
        PyErr_SetString(PyExc_FileNotFoundError, e.what());
      } else {
        PyErr_SetString(PyExc_OSError, e.what());
      }
    } catch (const FormatError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const ConfigError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const CancelledError& e) {
      cancelled(e.what());
    } catch (const Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });

  m.def(
      "file_write_atomic",
      [](const std::filesystem::path& path, const std::string& contents) {
        py::gil_scoped_release release;
        file_write_atomic(path.string(), contents);
      },
      py::arg("path"), py::arg("contents"), R"pbdoc(
Writes ``contents`` to ``path`` atomically: a reader sees the old file or the new one, never a part.

Raises:
    OSError: naming the file when it cannot be written.
)pbdoc");

  // Lets the Python tests check the mapping of each C++ type.
  m.def("_raise_error", [](const std::string& kind, const std::string& message) {
    if (kind == "file_not_found") throw FileError(FileError::Kind::not_found, "f", message);
    if (kind == "file_io") throw FileError(FileError::Kind::io, "f", message);
    if (kind == "format") throw FormatError(message);
    if (kind == "config") throw ConfigError(message);
    if (kind == "value") throw ValueError(message);
    if (kind == "cancelled") throw CancelledError(message);
    if (kind == "error") throw Error(message);
    throw ValueError("unknown error kind '" + kind + "'");
  });
}

}  // namespace culturespa::bindings

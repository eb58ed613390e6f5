#include "common.h"

#include "culturespa/core/logging.h"

namespace culturespa::bindings {

void register_logging(py::module_& m) {
  py::enum_<LogLevel>(m, "LogLevel")
      .value("debug", LogLevel::debug)
      .value("info", LogLevel::info)
      .value("warning", LogLevel::warning)
      .value("error", LogLevel::error)
      .value("off", LogLevel::off);

  m.def("log_set_level", &log_set_level, py::arg("level"));
  m.def("log_level", &log_level);
  m.def("log_message", &log_message, py::arg("level"), py::arg("message"));

  // The sink holds a Python callable; it is called from any C++ thread and
  // takes the GIL itself. Deleting the Python object also needs the GIL, so
  // the callable lives in a shared_ptr whose deleter acquires it.
  m.def(
      "log_set_sink",
      [](py::object sink) {
        if (sink.is_none()) {
          log_set_sink(nullptr);
          return;
        }
        auto held = std::shared_ptr<py::object>(new py::object(std::move(sink)), [](py::object* o) {
          if (!Py_IsInitialized()) return;  // interpreter gone: leak rather than crash
          py::gil_scoped_acquire gil;
          delete o;
        });
        log_set_sink([held](LogLevel level, std::string_view message) {
          if (!Py_IsInitialized()) return;
          py::gil_scoped_acquire gil;
          try {
            (*held)(level, py::str(message.data(), message.size()));
          } catch (py::error_already_set& e) {
            e.discard_as_unraisable("culturespa log sink");
          }
        });
      },
      py::arg("sink"),
      "Routes the library's messages to sink(level, message); None restores stderr.");
}

}  // namespace culturespa::bindings

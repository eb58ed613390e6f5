#include "common.h"

#include <chrono>
#include <thread>

#include "culturespa/core/progress.h"

namespace culturespa::bindings {

ProgressCallback progress_callback(py::object progress) {
  if (py::isinstance<py::bool_>(progress))
    progress = progress.cast<bool>() ? py::module_::import("culturespa._progress").attr("progress_bar")() : py::none();
  else if (!progress.is_none() && !PyCallable_Check(progress.ptr()))
    throw py::type_error("progress must be None, a bool or a callable, not " +
                         py::str(py::type::of(progress).attr("__name__")).cast<std::string>());
  auto held = std::shared_ptr<py::object>(new py::object(std::move(progress)), [](py::object* o) {
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    delete o;
  });
  return [held](const Progress& p) -> bool {
    py::gil_scoped_acquire gil;
    // Ctrl-C: the pending KeyboardInterrupt propagates as error_already_set
    // through the C++ call and is restored in Python when the call returns.
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (held->is_none()) return true;
    py::object keep_going = (*held)(p);
    return keep_going.is_none() || keep_going.cast<bool>();
  };
}

void register_progress(py::module_& m) {
  py::class_<Progress>(m, "Progress", "Where a long call stands: stage, done, total.")
      .def(py::init([](std::string stage, std::size_t done, std::size_t total) {
             return Progress{std::move(stage), done, total};
           }),
           py::arg("stage") = "", py::arg("done") = 0, py::arg("total") = 0)
      .def_readonly("stage", &Progress::stage)
      .def_readonly("done", &Progress::done)
      .def_readonly("total", &Progress::total)
      .def("__repr__", [](const Progress& p) {
        return "Progress(stage='" + p.stage + "', done=" + std::to_string(p.done) +
               ", total=" + std::to_string(p.total) + ")";
      });

  // A cancellable unit of work for the tests of the progress machinery: counts
  // to `units`, sleeping `sleep_ms` per unit, without the GIL.
  m.def(
      "_count_with_progress",
      [](std::size_t units, double sleep_ms, py::object progress) {
        auto callback = progress_callback(std::move(progress));
        py::gil_scoped_release release;
        ProgressReporter reporter(callback, "count", units);
        for (std::size_t i = 0; i < units; ++i) {
          std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(sleep_ms));
          reporter.advance();
        }
        return reporter.done();
      },
      py::arg("units"), py::arg("sleep_ms") = 0.0, py::arg("progress") = py::none());
}

}  // namespace culturespa::bindings

#include "common.h"

#include "culturespa/model/runtime.h"

namespace culturespa::bindings {

void register_runtime(py::module_& m) {
  m.def("runtime_init", &runtime_init);
  m.def("runtime_info", [] {
    const RuntimeInfo info = culturespa::runtime_info();
    py::dict d;
    d["torch_version"] = info.torch_version;
    d["blas"] = info.blas;
    d["blas_library"] = info.blas_library;
    d["blas_is_reference"] = info.blas_is_reference;
    d["parallel"] = info.parallel;
    d["num_threads"] = info.num_threads;
    d["hardware_threads"] = info.hardware_threads;
    d["mkl"] = info.mkl;
    d["onednn"] = info.onednn;
    d["blas_core"] = info.blas_core;
    d["blas_core_outdated"] = info.blas_core_outdated;
    d["devices"] = info.devices;
    return d;
  }, "The LibTorch runtime in this process (BLAS, threads, devices), as a dict.");
  m.def("set_num_threads", &runtime_set_num_threads, py::arg("n"));
  m.def("num_threads", &runtime_num_threads);
}

}  // namespace culturespa::bindings

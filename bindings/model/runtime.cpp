#include "common.h"

#include "culturespa/model/runtime.h"

namespace culturespa::bindings {

void register_runtime(py::module_& m) {
  m.def("runtime_init", &runtime_init,
        "Sets LibTorch's intra-op threads to every core (unless CULTURESPA_NUM_THREADS or OMP_NUM_THREADS says "
        "otherwise) and checks the BLAS; once per process. Model() calls it; importing culturespa does not.");
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
  m.def("runtime_set_num_threads", &runtime_set_num_threads, py::arg("n"),
        "Sets LibTorch's (and so OpenMP BLAS's) intra-op thread count; ValueError unless n >= 1.");
  m.def("runtime_num_threads", &runtime_num_threads, "LibTorch's intra-op thread count.");
}

}  // namespace culturespa::bindings

// culturespa/model/runtime.h: the LibTorch runtime the library computes on.
//
// runtime_init() runs once per process (the Model constructor calls it;
// importing the Python package does not): it sets LibTorch's intra-op thread count to every core
// (LibTorch halves it by default on x86-64) unless CULTURESPA_NUM_THREADS or
// OMP_NUM_THREADS says otherwise, and warns when the BLAS behind LibTorch is
// the netlib reference BLAS (20x slower than OpenBLAS here).
#pragma once

#include <string>
#include <vector>
#include "culturespa/core/export.h"

namespace culturespa {

struct CULTURESPA_API RuntimeInfo {
  std::string torch_version;       // LibTorch the process runs
  std::string blas;                // e.g. "OpenBLAS 0.3.21 (openmp)", "reference BLAS (netlib)"
  std::string blas_library;        // resolved path of the loaded BLAS, when one is loaded
  bool blas_is_reference = false;  // true: slow netlib BLAS
  std::string parallel;            // LibTorch's parallel backend (OpenMP, ...)
  int num_threads = 0;             // LibTorch intra-op threads in use
  int hardware_threads = 0;        // cores the OS reports
  bool mkl = false;
  bool onednn = false;             // LibTorch carries oneDNN (MKL-DNN)
  // OpenBLAS's kernel set for this CPU (openblas_get_corename(), e.g.
  // "Haswell", "SkylakeX"); "" for other BLAS libraries.
  std::string blas_core;
  // True when OpenBLAS runs kernels older than the CPU supports, e.g.
  // "Prescott" on an AVX-512 CPU whose model a virtual machine hides:
  // several times slower matrix products. Setting OPENBLAS_CORETYPE (e.g.
  // SkylakeX, Haswell) before the process starts fixes it for every library;
  // culturespa's own CPU matrix products switch to oneDNN (ModelOptions::cpu_matmul).
  bool blas_core_outdated = false;
  std::vector<std::string> devices;  // "cpu", then "cuda:0", ...
};

// Idempotent; safe to call from several threads.
CULTURESPA_API void runtime_init();

CULTURESPA_API RuntimeInfo runtime_info();

// Sets LibTorch's (and so OpenMP BLAS's) intra-op thread count; n >= 1,
// otherwise ValueError.
CULTURESPA_API void runtime_set_num_threads(int n);
CULTURESPA_API int runtime_num_threads();

}  // namespace culturespa

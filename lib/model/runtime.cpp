#include "culturespa/model/runtime.h"

#include <ATen/Parallel.h>
#include <ATen/Context.h>
#include <ATen/core/Tensor.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <dlfcn.h>
#include <link.h>

#include <cctype>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "culturespa/core/error.h"
#include "culturespa/core/logging.h"

namespace culturespa {
namespace {

// Finds the loaded libblas.so* (the interface LibTorch calls; on Debian an
// alternatives symlink, which realpath() resolves to the implementation).
// Other BLAS copies in the process (numpy's bundled OpenBLAS, say) are not
// LibTorch's and are ignored.
int find_blas_interface(struct dl_phdr_info* info, size_t, void* data) {
  const char* name = info->dlpi_name;
  if (name && *name && std::strstr(name, "/libblas.so")) {
    auto* out = static_cast<std::string*>(data);
    char resolved[PATH_MAX];
    *out = ::realpath(name, resolved) ? resolved : name;
    return 1;
  }
  return 0;
}

// OpenBLAS falls back to its generic kernels (Prescott: SSE3) when it does
// not recognise the CPU model, which virtual machines often hide; those are
// several times slower than its Haswell (AVX2/FMA) or SkylakeX (AVX-512)
// kernels on CPUs that have the instructions.
bool openblas_core_outdated(const std::string& core) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return false;
  std::string name;
  for (const char ch : core) name += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (const char* modern : {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"})
    if (name == modern) return false;
  return true;
#else
  (void)core;
  return false;
#endif
}

void describe_blas(RuntimeInfo& info) {
  if (info.mkl) {
    // LibTorch built with MKL (pip wheels) calls MKL for its BLAS work.
    info.blas = "MKL (inside LibTorch)";
    return;
  }
  std::string path;
  dl_iterate_phdr(find_blas_interface, &path);
  info.blas_library = path;
  using config_fn = char* (*)();
  auto openblas_config = reinterpret_cast<config_fn>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  if (path.find("openblas") != std::string::npos) {
    info.blas = openblas_config ? openblas_config() : "OpenBLAS";  // "OpenBLAS 0.3.21 DYNAMIC_ARCH ..."
    auto openblas_core = reinterpret_cast<config_fn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
    if (openblas_core) {
      info.blas_core = openblas_core();
      info.blas_core_outdated = openblas_core_outdated(info.blas_core);
    }
    if (path.find("openmp") != std::string::npos) info.blas += " (openmp build)";
    else if (path.find("pthread") != std::string::npos) info.blas += " (pthread build)";
  } else if (path.find("blis") != std::string::npos) {
    info.blas = "BLIS";
  } else if (!path.empty()) {
    info.blas = "reference BLAS (netlib)";
    info.blas_is_reference = true;
  } else {
    info.blas = "none loaded (LibTorch's own kernels)";
  }
}

int threads_from_environment() {
  for (const char* name : {"CULTURESPA_NUM_THREADS", "OMP_NUM_THREADS"}) {
    if (const char* value = std::getenv(name)) {
      char* end = nullptr;
      const long n = std::strtol(value, &end, 10);
      if (end != value && *end == '\0' && n >= 1 && n <= 4096) return static_cast<int>(n);
      log_warning("ignoring ", name, "='", value, "': not a positive thread count");
    }
  }
  return 0;
}

}  // namespace

void runtime_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    int threads = threads_from_environment();
    if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(threads);
    const RuntimeInfo info = runtime_info();
    if (info.blas_core_outdated) {
      log_warning("OpenBLAS runs its ", info.blas_core,
                  " kernels on a CPU with AVX2/AVX-512 (its model is hidden, as in many virtual machines): ",
                  "matrix products are several times slower than they could be. culturespa's own use oneDNN ",
                  "instead; set OPENBLAS_CORETYPE=Haswell (or SkylakeX with AVX-512) before the process starts ",
                  "to speed up every library");
    }
    if (info.blas_is_reference) {
      log_warning("LibTorch is using the netlib reference BLAS (", info.blas_library,
                  "), about 20x slower than OpenBLAS: install libopenblas0-openmp");
    }
    log_info("culturespa runtime: LibTorch ", info.torch_version, ", ", info.blas, ", ",
             info.num_threads, " threads");
  });
}

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  info.torch_version = TORCH_VERSION;
  info.mkl = at::hasMKL();
  info.onednn = at::hasMKLDNN();
  describe_blas(info);
  // get_parallel_info() is a multi-line report; keep the backend's name.
  const std::string report = at::get_parallel_info();
  const std::string key = "ATen parallel backend: ";
  const auto at = report.find(key);
  info.parallel = at == std::string::npos
                      ? "unknown"
                      : report.substr(at + key.size(), report.find('\n', at) - at - key.size());
  info.num_threads = at::get_num_threads();
  info.hardware_threads = static_cast<int>(std::thread::hardware_concurrency());
  info.devices.push_back("cpu");
  // device_count() is size_t in LibTorch 1.13 and int8_t in 2.x.
  const auto cuda_devices = static_cast<int>(torch::cuda::device_count());
  for (int i = 0; i < cuda_devices; ++i) info.devices.push_back("cuda:" + std::to_string(i));
  return info;
}

void runtime_set_num_threads(int n) {
  if (n < 1) throw ValueError("thread count must be at least 1, got " + std::to_string(n));
  at::set_num_threads(n);
}

int runtime_num_threads() { return at::get_num_threads(); }

}  // namespace culturespa

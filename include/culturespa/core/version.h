// culturespa/core/version.h: version and build information.
#pragma once

#include <string>
#include "culturespa/core/export.h"

namespace culturespa {

// The library's version, "MAJOR.MINOR.PATCH".
CULTURESPA_API const char* version();

// How this copy of the library was built. Runtime facts that need LibTorch
// (BLAS, threads, devices) are in culturespa/model/runtime.h.
struct CULTURESPA_API BuildInfo {
  std::string version;
  std::string compiler;       // e.g. "GCC 12.2.0"
  std::string build_type;     // CMake build type
  std::string torch_version;  // LibTorch the library was compiled against
  std::string sentencepiece;  // "debian-source", "system" or "off"
  bool cuda = false;          // compiled against a LibTorch with CUDA
};

CULTURESPA_API BuildInfo build_info();

}  // namespace culturespa

#include "culturespa/core/version.h"

// CULTURESPA_VERSION_STRING, CULTURESPA_BUILD_TYPE, CULTURESPA_TORCH_VERSION,
// CULTURESPA_SENTENCEPIECE_SOURCE and CULTURESPA_WITH_CUDA come from CMake.

namespace culturespa {

const char* version() { return CULTURESPA_VERSION_STRING; }

BuildInfo build_info() {
  BuildInfo info;
  info.version = CULTURESPA_VERSION_STRING;
#if defined(__clang__)
  info.compiler = "Clang " __clang_version__;
#elif defined(__GNUC__)
  info.compiler = "GCC " __VERSION__;
#else
  info.compiler = "unknown";
#endif
  info.build_type = CULTURESPA_BUILD_TYPE;
  info.torch_version = CULTURESPA_TORCH_VERSION;
  info.sentencepiece = CULTURESPA_SENTENCEPIECE_SOURCE;
  info.cuda = CULTURESPA_WITH_CUDA != 0;
  return info;
}

}  // namespace culturespa

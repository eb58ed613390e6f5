// libFuzzer target for the safetensors header parser: any byte string must
// either parse into a header whose every range lies inside the input, or
// raise FormatError; never crash, hang or read out of bounds.
// Built only with -DCULTURESPA_BUILD_FUZZERS=ON and clang (see tests/CMakeLists.txt):
//   ./build/tests/culturespa_fuzz_safetensors -max_total_time=60
#include "culturespa/core/error.h"
#include "culturespa/model/safetensors.h"

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  try {
    const auto header = culturespa::safetensors_header_parse(reinterpret_cast<const char*>(data), size, "fuzz");
    for (const auto& entry : header.tensors) {
      if (entry.end < entry.begin || header.data_offset + entry.end > size) std::abort();
    }
  } catch (const culturespa::FormatError&) {
  }
  return 0;
}

// libFuzzer target for GGUF files (header, metadata, tensor directory), the
// model configuration read from their metadata and the tokenizer they carry
// (Tokenizer::from_gguf): parse, or raise a culturespa::Error; every tensor
// range of a parsed file lies in the file.
#include "culturespa/core/error.h"
#include "culturespa/model/gguf.h"
#include "culturespa/text/tokenizer.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  // GgufFile reads a path: the input goes to a per-process scratch file.
  static const std::string path = "/tmp/culturespa-fuzz-gguf-" + std::to_string(::getpid()) + ".gguf";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    const culturespa::GgufFile file(path, /*map=*/false);
    for (const auto& info : file.tensors())
      if (info.offset > size) std::abort();
    culturespa::gguf_model_config(file);
  } catch (const culturespa::Error&) {
  }
  try {
    const culturespa::Tokenizer tokenizer = culturespa::Tokenizer::from_gguf(path);
    tokenizer.encode("Hello, world! 123");
  } catch (const culturespa::Error&) {
  }
  return 0;
}

// libFuzzer target for the tokenizer.json reader (BpeEngine): any bytes must
// load into an engine whose ids all lie in its vocabulary, or raise a
// culturespa::Error; never crash, read out of bounds or allocate by an
// unchecked id. A loaded engine also encodes and decodes a fixed text.
//   build/fuzz/tests/culturespa_fuzz_tokenizer_json -max_total_time=60 corpus/
#include "culturespa/core/error.h"
#include "text/bpe.h"

#include <cstdint>
#include <cstdlib>
#include <string>

using culturespa::text_detail::BpeEngine;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto engine = BpeEngine::from_tokenizer_json(text, "fuzz/tokenizer.json");
    const int vocab = engine->vocab_size();
    for (const auto& token : engine->added_tokens)
      if (token.id < 0 || token.id >= vocab) std::abort();
    for (const int id : engine->prefix_ids)
      if (id < 0 || id >= vocab + static_cast<int>(engine->added_tokens.size()) + 1) std::abort();
    std::vector<int> ids;
    engine->encode_plain("Hello world, 12 caf\xC3\xA9s \xE2\x96\x81!", ids);
    std::vector<std::string> tokens;
    for (const int id : ids) {
      if (id < 0 || id >= vocab) std::abort();
      tokens.push_back(engine->id_to_token(id));
    }
    engine->decode_tokens(tokens);
  } catch (const culturespa::Error&) {
  }
  return 0;
}

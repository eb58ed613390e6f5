// libFuzzer target for config.json: model_config_parse gives a configuration
// whose sizes a model can be built from, or raises a culturespa::Error.
#include "culturespa/core/error.h"
#include "culturespa/model/config.h"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  try {
    const auto c = culturespa::model_config_parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz/config.json");
    if (c.hidden_size <= 0 || c.num_hidden_layers <= 0 || c.vocab_size <= 0 || c.num_attention_heads <= 0 ||
        c.num_key_value_heads <= 0 || c.head_dim <= 0)
      std::abort();
  } catch (const culturespa::Error&) {
  }
  return 0;
}

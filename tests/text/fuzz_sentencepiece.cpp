// libFuzzer target for sentencepiece .model files (a serialized ModelProto):
// load, or raise a culturespa::Error; a loaded model encodes and decodes.
#include "culturespa/core/error.h"
#include "culturespa/text/sentencepiece.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  try {
    const auto model =
        culturespa::SentencePieceModel::from_serialized(std::string_view(reinterpret_cast<const char*>(data), size));
    const auto ids = model.encode("Hello world, caf\xC3\xA9 12!");
    for (const int id : ids)
      if (id < 0 || id >= model.piece_count()) std::abort();
    model.decode(ids);
  } catch (const culturespa::Error&) {
  }
  return 0;
}

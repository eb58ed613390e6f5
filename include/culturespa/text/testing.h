// culturespa/text/testing.h: a small tokenizer for tests, examples and
// benchmarks, so that nothing needs downloading. It lives in the text layer
// (it writes the byte-level alphabet the BPE reader uses).
#pragma once

#include <string>
#include "culturespa/core/export.h"

namespace culturespa {

// Writes tokenizer.json (byte-level BPE: the 256 byte symbols, a few English
// merges, digits kept apart so "10" is two tokens) and tokenizer_config.json
// (BOS "<s>" added, EOS "</s>", ChatML's "<|im_start|>"/"<|im_end|>" as
// special tokens; use chat format "chatml") into `dir` (created when
// missing). Its ids are below 272.
CULTURESPA_API void testing_tokenizer_write(const std::string& dir);

}  // namespace culturespa

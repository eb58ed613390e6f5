// culturespa/generator/testing.h: a small tokenizer for tests, examples and
// benchmarks of the generator, so that nothing needs downloading.
#pragma once

#include <string>

namespace culturespa {

// Writes tokenizer.json (byte-level BPE: the 256 byte symbols, a few English
// merges, digits kept apart so "10" is two tokens) and tokenizer_config.json
// (BOS "<s>" added, EOS "</s>", ChatML's "<|im_start|>"/"<|im_end|>" as
// special tokens; use chat format "chatml") into `dir` (created when
// missing). Its ids are below 272.
void testing_tokenizer_write(const std::string& dir);

}  // namespace culturespa

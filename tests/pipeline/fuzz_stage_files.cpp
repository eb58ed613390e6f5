// libFuzzer target for answer files and contrast-pair files (JSON lists or
// JSONL): both readers get every input; each parses or raises a culturespa::Error.
#include "culturespa/core/error.h"
#include "culturespa/pipeline/stage_files.h"
#include "culturespa/survey/answers.h"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    culturespa::answer_file_parse(text, "fuzz/answers.json");
  } catch (const culturespa::Error&) {
  }
  try {
    culturespa::contrast_pairs_parse(text, "fuzz/pairs.jsonl");
  } catch (const culturespa::Error&) {
  }
  return 0;
}

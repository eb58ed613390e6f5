// libFuzzer target for the survey-side files: the culturespa survey format,
// question banks and prompt templates: every reader gets every input; each
// parses (and what it wrote reads back) or raises a culturespa::Error.
#include "culturespa/core/error.h"
#include "culturespa/survey/prompts.h"
#include "culturespa/survey/survey.h"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto survey = culturespa::survey_from_json(text, "fuzz/survey.json");
    culturespa::survey_from_json(culturespa::survey_to_json(survey), "round trip");
  } catch (const culturespa::Error&) {
  }
  try {
    const auto bank = culturespa::question_bank_from_json(text, "fuzz/bank.json");
    culturespa::question_bank_from_json(culturespa::question_bank_to_json(bank), "round trip");
  } catch (const culturespa::Error&) {
  }
  try {
    culturespa::PromptTemplates::from_json(text, "fuzz/prompts.json");
  } catch (const culturespa::Error&) {
  }
  return 0;
}

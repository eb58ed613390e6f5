// libFuzzer target for the answer parser: any reply text gives a parse
// result (an option id of the question, or a failure), never a crash.
#include "culturespa/core/error.h"
#include "culturespa/survey/answer_parser.h"
#include "culturespa/survey/survey.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string_view reply(reinterpret_cast<const char*>(data), size);
  culturespa::answer_parse_reference(reply);
  culturespa::Question question;
  question.id = "Q1";
  question.text = "How important is family in your life?";
  question.options = {"Very important", "Rather important", "Not very important", "Not at all important"};
  for (const bool zero_based : {false, true}) {
    question.zero_based = zero_based;
    for (const auto mode : {culturespa::ParseMode::reference, culturespa::ParseMode::robust}) {
      culturespa::AnswerParseOptions options;
      options.mode = mode;
      const auto parsed = culturespa::answer_parse(reply, question, options);
      if (parsed.ok() != (parsed.failure == culturespa::ParseFailure::none)) std::abort();
      if (parsed.option && !question.is_option_id(*parsed.option) && mode == culturespa::ParseMode::robust)
        std::abort();
    }
  }
  return 0;
}

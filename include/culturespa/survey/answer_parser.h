// culturespa/survey/answer_parser.h: turning a model's reply into an option id.
#pragma once

#include <optional>
#include <string_view>

namespace culturespa {

// The reference release's rule: the first run of ASCII digits in the reply,
// as an integer (nullopt when the reply has no digit). The caller applies the
// range check of its use: 0..10 for scoring, 0..15 for contrast detection.
std::optional<int> answer_parse_reference(std::string_view reply);

}  // namespace culturespa

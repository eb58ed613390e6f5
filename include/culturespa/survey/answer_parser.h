// culturespa/survey/answer_parser.h: turning a model's reply into an option id.
//
// Two modes (docs/scoring.md):
//   reference  the reference release's rule, byte for byte: the first run of
//              digits, kept when 0 <= value <= max (10 for scoring, 15 for
//              contrast detection). It does not check that the value is an
//              option id of the question: the reference scores it anyway.
//   robust     reads labels with punctuation ("(3)", "**3**", "Option 3",
//              "Answer: 3", "2.Agree"), JSON ({"answer": 3}), option text
//              instead of the number, numbers after a cue ("I'd pick 3") with
//              scale descriptions ("on a scale of 1 to 4") ignored, and
//              recognises refusals. The result is always a valid option id of
//              the question or a failure with its reason.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include "culturespa/core/export.h"

namespace culturespa {

struct Question;

// The reference release's rule: the first run of ASCII digits in the reply,
// as an integer (nullopt when the reply has no digit). The caller applies the
// range check of its use: 0..10 for scoring, 0..15 for contrast detection.
CULTURESPA_API std::optional<int> answer_parse_reference(std::string_view reply);

// The reference's range checks.
inline constexpr int kReferenceScoringMax = 10;
inline constexpr int kReferenceContrastMax = 15;

enum class ParseMode { reference, robust };

// Why a reply gave no option id.
enum class ParseFailure {
  none,           // parsed
  empty,          // the reply is empty or whitespace
  no_answer,      // no number and no option text in the reply
  refusal,        // the model declined to answer ("I cannot answer ...")
  ambiguous,      // several different options named, none singled out
  not_an_option,  // robust: a number that is not an option id of the question
  out_of_range,   // reference: the first number is outside 0..max
};

struct CULTURESPA_API AnswerParseOptions {
  ParseMode mode = ParseMode::reference;   // which rule (see the top of this file)
  int reference_max = kReferenceScoringMax;  // reference mode keeps 0..reference_max
};

struct CULTURESPA_API ParsedAnswer {
  std::optional<int> option;                 // the option id (reference: maybe not an option id)
  ParseFailure failure = ParseFailure::none;  // none exactly when `option` is set
  std::string message;                        // why it failed, naming the question; empty when parsed

  bool ok() const { return option.has_value(); }
};

// Parses one reply to `question` in the given mode. Never throws on any reply.
CULTURESPA_API ParsedAnswer answer_parse(std::string_view reply, const Question& question,
                                         const AnswerParseOptions& options = {});

// "reference" / "robust"; ValueError naming the value otherwise.
CULTURESPA_API ParseMode parse_mode_from_name(std::string_view name);
CULTURESPA_API const char* parse_mode_name(ParseMode mode);
// "none", "empty", "no_answer", "refusal", "ambiguous", "not_an_option", "out_of_range".
CULTURESPA_API const char* parse_failure_name(ParseFailure failure);

}  // namespace culturespa

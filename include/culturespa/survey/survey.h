// culturespa/survey/survey.h: survey questions, cultures and human answers.
//
// Needs no model. Loads the reference release's WVS files (see docs/survey.md)
// and culturespa's own survey format, and the reference's generated-question
// banks into the same Question type.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace culturespa {

// A culture a model is asked to speak for: "KEN", "Kenyan", "a".
struct Culture {
  std::string code;       // ISO 3166 alpha-3, e.g. "KEN"
  std::string adjective;  // as the prompts use it, e.g. "Kenyan", "New Zealand"
  std::string article;    // "a" or "an", as in "with a Kenyan cultural background"
};

// The 18 cultures of the paper, in its order (USA, CAN, BOL, ...).
const std::vector<Culture>& cultures_builtin();
// A built-in culture by code; ValueError naming the code when unknown.
const Culture& culture_from_code(std::string_view code);

struct Question {
  std::string id;                    // "Q1", "Q234A", or a generated "Q0".."Q12999"
  std::string text;
  std::vector<std::string> options;  // option texts in id order
  std::string topic;                 // one of the survey's topics, or empty
  bool zero_based = false;           // option ids 0..n-1 (else 1..n)

  int first_option_id() const { return zero_based ? 0 : 1; }
  int last_option_id() const { return first_option_id() + static_cast<int>(options.size()) - 1; }
  bool is_option_id(int id) const { return id >= first_option_id() && id <= last_option_id(); }
  // The text of option `id`; ValueError naming the question when out of range.
  const std::string& option_text(int id) const;
  // The answer labels, "1".."n" or "0".."n-1".
  std::vector<std::string> labels() const;
};

// The human answers of one culture to one question: option id -> share, in
// the stored order. The first entry is the gold (majority) answer, also on
// ties (the stored order decides, never a recomputed maximum).
struct HumanAnswers {
  std::vector<std::pair<int, double>> shares;
  bool has_gold() const { return !shares.empty(); }
  int gold() const { return shares.front().first; }
};

}  // namespace culturespa

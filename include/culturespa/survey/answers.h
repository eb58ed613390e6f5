// culturespa/survey/answers.h: a model's answers to a survey, as files hold them.
//
// One reader for the reference's wvs_result_*.json runs and culturespa's
// answer files, used by the scorer (survey layer) and the pipeline's
// contrast stage; and the culture a file's name names. Formats in
// docs/scoring.md ("Run files").
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "culturespa/survey/survey.h"
#include "culturespa/core/export.h"

namespace culturespa {

// One model answer to one question: a sampled reply (the reference's way)
// and/or a distribution over the question's options in option-id order
// (option scoring, culturespa's way).
struct CULTURESPA_API ModelAnswer {
  std::string question_id;
  std::string reply;                 // empty when the file has none (or null)
  std::vector<double> distribution;  // empty when the answer has none
};

// A model's answers in the file's order, with the questions the items carry.
struct CULTURESPA_API AnswerFile {
  std::vector<ModelAnswer> answers;
  std::vector<Question> questions;  // from items with "question" (id = the answer's id)
};

// Reads an answer file: a JSON list (the reference's wvs_result_*.json) or
// JSONL (one object a line, blank lines skipped). Each item:
//   "Q_id" | "question_id"   string, required, unique in the file
//   "answer" | "reply"       string, or an integer taken as its digits; null:
//                            no reply (the scorer counts an "empty" parse failure)
//   "distribution"           list of numbers; an item needs it or a reply field
//   "question"               string: the item also gives a Question, with
//   "option_lst" | "options" list of strings, "class" | "topic" string and
//   "zero_based"             bool (all optional)
// Other fields are ignored. FileError when the file is missing; FormatError
// naming the file and the item ("item 3", or "line 4" for JSONL) for
// malformed JSON, a missing or mistyped field or a repeated id.
CULTURESPA_API AnswerFile answer_file_load(const std::string& path);
// The same from text; `source` names it in messages.
CULTURESPA_API AnswerFile answer_file_parse(const std::string& text, const std::string& source = "<string>");

// The culture an answer file's name names: a `_<CODE>_` or `_<Adjective>_`
// part of the file name's stem ("wvs_result_culture_aware_KEN_0.json",
// "..._self_alignment_American_0.json") naming one of `cultures`; nullopt
// when none does, ValueError naming the file when parts name two different
// cultures.
CULTURESPA_API std::optional<std::string> culture_from_file_name(const std::string& path,
                                                  const std::vector<Culture>& cultures = cultures_builtin());

}  // namespace culturespa

// Conversions between the pipeline's C++ records and Python dicts, shared by
// the pipeline's binding files. Questions go out as culturespa.Question and
// come in as Question objects or dicts {"id", "text", "options", "topic",
// "zero_based"} (the reference's "Q_id", "question", "option_lst", "class"
// are accepted too). Answers are dicts; pairs come in as ContrastPair
// objects or dicts and go out as dicts (the pairs file's records).
#pragma once

#include <string>
#include <vector>

#include "common.h"
#include "culturespa/pipeline/contrast.h"
#include "culturespa/survey/survey.h"

namespace culturespa::bindings {

Question question_from_py(const py::handle& record);
py::object question_to_py(const Question& question);
std::vector<Question> questions_from_py(const py::iterable& records);
py::list questions_to_py(const std::vector<Question>& questions);

// Answer records as model_answers_from_py takes them (bindings/survey/answers.h);
// the set gets `culture`.
AnswerSet answer_set_from_py(const py::iterable& records, const std::string& culture);

py::dict contrast_pair_to_py(const ContrastPair& pair);
ContrastPair contrast_pair_from_py(const py::handle& record);
std::vector<ContrastPair> contrast_pairs_from_py(const py::iterable& records);
py::list contrast_pairs_to_py(const std::vector<ContrastPair>& pairs);

}  // namespace culturespa::bindings

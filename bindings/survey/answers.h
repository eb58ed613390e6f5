// Conversions between model answers and Python records, shared by the
// scorer's and the pipeline's binding files.
#pragma once

#include <string>
#include <vector>

#include "common.h"
#include "culturespa/survey/answers.h"
#include "culturespa/survey/survey.h"

namespace culturespa::bindings {

// Answers from Python: dicts {"question_id" | "Q_id", "reply" | "answer",
// "distribution"} (as answer_file_load gives them; a reply is a str, an int
// taken as its digits, or None for none; a distribution any sequence of
// numbers, numpy arrays and torch tensors included) or (question_id, reply)
// pairs. FormatError naming `source` and the item otherwise.
std::vector<ModelAnswer> model_answers_from_py(const py::iterable& records, const std::string& source);
// Dicts {"question_id", "reply"} plus "distribution" where the answer has one.
py::list model_answers_to_py(const std::vector<ModelAnswer>& answers);
// A Survey, or the path of one (str or os.PathLike) loaded; ValueError otherwise.
Survey survey_from_python(const py::object& survey);

}  // namespace culturespa::bindings

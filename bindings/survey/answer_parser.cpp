// Answer parsing from Python: answer_parse(reply, question or options, mode=...).
#include "common.h"

#include "culturespa/core/error.h"
#include "culturespa/survey/answer_parser.h"
#include "culturespa/survey/survey.h"

namespace culturespa::bindings {

namespace {

py::dict parsed_to_dict(const ParsedAnswer& parsed) {
  py::dict d;
  d["option"] = parsed.option ? py::object(py::int_(*parsed.option)) : py::object(py::none());
  d["failure"] = parse_failure_name(parsed.failure);
  d["message"] = parsed.message;
  return d;
}

}  // namespace

void register_answer_parser(py::module_& m) {
  m.def("answer_parse_reference", &answer_parse_reference, py::arg("reply"),
        "The reference rule: the first run of digits as an int, or None.");
  m.def(
      "answer_parse",
      [](const std::string& reply, py::object question, std::optional<std::vector<std::string>> options,
         bool zero_based, const std::string& question_id, const std::string& mode, int reference_max) {
        Question q;
        if (!question.is_none()) {
          q = question.cast<Question>();  // the survey module's Question
        } else if (options) {
          q.id = question_id;
          q.options = *options;
          q.zero_based = zero_based;
        } else {
          throw ValueError("answer_parse needs a question or options=");
        }
        return parsed_to_dict(answer_parse(reply, q, {parse_mode_from_name(mode), reference_max}));
      },
      py::arg("reply"), py::arg("question") = py::none(), py::kw_only(), py::arg("options") = py::none(),
      py::arg("zero_based") = false, py::arg("question_id") = "", py::arg("mode") = "reference",
      py::arg("reference_max") = kReferenceScoringMax,
      "Parses a reply to a question (a Question, or options= with zero_based=). Returns "
      "{'option': int or None, 'failure': reason name ('none' when parsed), 'message': str}.");
}

}  // namespace culturespa::bindings

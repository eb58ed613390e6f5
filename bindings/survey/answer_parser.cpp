// Answer parsing from Python: answer_parse(reply, question or options, mode=...).
#include "common.h"
#include "core/deprecated_items.h"
#include "core/result_class.h"

#include "culturespa/core/error.h"
#include "culturespa/survey/answer_parser.h"
#include "culturespa/survey/survey.h"

namespace culturespa::bindings {


void register_answer_parser(py::module_& m) {
  auto parsed = ResultClass<ParsedAnswer>(m, "ParsedAnswer", "A parsed reply: the option id, or why there is none.")
                    .field("option", &ParsedAnswer::option, "The option id (None when the reply gave none).")
                    .property("failure", [](const ParsedAnswer& a) { return std::string(parse_failure_name(a.failure)); },
                              "Why there is no option (\"none\" when there is one).")
                    .field("message", &ParsedAnswer::message, "Why it failed, naming the question; empty when parsed.")
                    .done();
  def_deprecated_items(parsed);
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
        return answer_parse(reply, q, {parse_mode_from_name(mode), reference_max});
      },
      py::arg("reply"), py::arg("question") = py::none(), py::kw_only(), py::arg("options") = py::none(),
      py::arg("zero_based") = false, py::arg("question_id") = "", py::arg("mode") = "reference",
      py::arg("reference_max") = kReferenceScoringMax,
      "Parses a reply to a question (a Question, or options= with zero_based=). Returns a ParsedAnswer: "
      "option (int or None), failure (reason name, 'none' when parsed), message.");
}

}  // namespace culturespa::bindings

#include "culturespa/pipeline/answering.h"

#include <optional>

#include "../survey/answers.h"
#include "common.h"
#include "culturespa/core/error.h"
#include "records.h"
#include "reply_source.h"

namespace culturespa::bindings {
namespace {

struct PyQuestionAnswerer {
  std::shared_ptr<PyReplySource> source;
  std::unique_ptr<QuestionAnswerer> answerer;
};

std::vector<Culture> cultures_from_py(const py::object& cultures) {
  if (cultures.is_none()) return cultures_builtin();
  std::vector<Culture> out;
  for (const auto& item : cultures) {
    if (py::isinstance<py::str>(item)) out.push_back(culture_from_code(item.cast<std::string>()));
    else out.push_back(item.cast<Culture>());
  }
  return out;
}

}  // namespace

void register_answering(py::module_& m) {
  py::class_<PyQuestionAnswerer>(m, "QuestionAnswerer",
                                 "Answers a question set culture-unaware and as each culture (docs/pipeline.md).")
      .def(py::init([](py::object generator, py::object replies, py::object scores, const std::string& mode,
                       py::object cultures, bool unaware, double temperature, double top_p,
                       std::int64_t max_new_tokens, std::uint64_t seed, const std::string& name,
                       const std::optional<PromptTemplates>& templates, bool overwrite) {
             auto out = std::make_unique<PyQuestionAnswerer>();
             out->source = reply_source_from_py(std::move(generator), std::move(replies), std::move(scores));
             AnswerOptions o;
             o.mode = answer_mode_from_name(mode);
             o.cultures = cultures_from_py(cultures);
             o.unaware = unaware;
             o.temperature = temperature;
             o.top_p = top_p;
             o.max_new_tokens = max_new_tokens;
             o.seed = seed;
             o.name = name;
             if (templates) o.templates = *templates;
             o.overwrite = overwrite;
             out->answerer = std::make_unique<QuestionAnswerer>(*out->source->source, o);
             return out;
           }),
           py::arg("generator") = py::none(), py::kw_only(), py::arg("replies") = py::none(),
           py::arg("scores") = py::none(), py::arg("mode") = "scored", py::arg("cultures") = py::none(),
           py::arg("unaware") = true, py::arg("temperature") = 0.6, py::arg("top_p") = 0.9,
           py::arg("max_new_tokens") = 32, py::arg("seed") = 0, py::arg("name") = "answers",
           py::arg("templates") = py::none(), py::arg("overwrite") = AnswerOptions{}.overwrite)
      .def_property_readonly("mode", [](const PyQuestionAnswerer& a) { return answer_mode_name(a.answerer->options().mode); })
      .def_property_readonly("cultures",
                             [](const PyQuestionAnswerer& a) {
                               std::vector<std::string> codes;
                               for (const auto& c : a.answerer->options().cultures) codes.push_back(c.code);
                               return codes;
                             })
      .def(
          "path",
          [](const PyQuestionAnswerer& a, const std::string& dir, const std::string& culture) {
            return answer_file_path(dir, culture, a.answerer->options());
          },
          py::arg("dir"), py::arg("culture") = "", "The answer file of a run ('' = culture-unaware) in dir.")
      .def(
          "_answer",
          [](const PyQuestionAnswerer& a, py::iterable questions, const std::string& dir, py::object progress) {
            const auto question_list = questions_from_py(questions);
            auto callback = progress_callback(std::move(progress));
            AnswerResult result;
            {
              py::gil_scoped_release release;
              result = a.answerer->answer(question_list, dir, callback);
            }
            py::list runs;
            for (const auto& r : result.runs) {
              py::dict d;
              d["culture"] = r.culture;
              d["path"] = r.path;
              d["resumed"] = r.resumed;
              d["questions"] = r.questions;
              d["parsed"] = r.parsed;
              runs.append(d);
            }
            py::dict aware;
            for (const auto& set : result.aware) aware[py::str(set.culture)] = model_answers_to_py(set.answers);
            return py::make_tuple(model_answers_to_py(result.unaware.answers), aware, runs);
          },
          py::arg("questions"), py::arg("dir"), py::arg("progress") = py::none());

  m.def(
      "answer_file_save",
      [](const std::string& path, py::iterable questions, py::iterable answers) {
        answer_file_save(path, questions_from_py(questions), model_answers_from_py(answers, path));
      },
      py::arg("path"), py::arg("questions"), py::arg("answers"),
      "Writes answers as the reference's answer-file JSON list (atomically).");
}

}  // namespace culturespa::bindings

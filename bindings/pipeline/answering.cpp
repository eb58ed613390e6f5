#include "culturespa/pipeline/answering.h"

#include <optional>

#include "../survey/answers.h"
#include "common.h"
#include "core/deprecated_items.h"
#include "core/result_class.h"
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
  ResultClass<AnswerOptions>(m, "AnswerOptions", "QuestionAnswerer's settings; AnswerOptions() holds the defaults.")
      .property("mode", [](const AnswerOptions& o) { return std::string(answer_mode_name(o.mode)); },
                "\"scored\" or \"sampled\".")
      .field("cultures", &AnswerOptions::cultures, "The culture-aware runs.")
      .field("unaware", &AnswerOptions::unaware, "Also the culture-unaware run (first).")
      .field("temperature", &AnswerOptions::temperature, "Sampled mode.")
      .field("top_p", &AnswerOptions::top_p, "Sampled mode.")
      .field("max_new_tokens", &AnswerOptions::max_new_tokens, "Sampled mode.")
      .field("seed", &AnswerOptions::seed)
      .field("name", &AnswerOptions::name, "Answer-file stem.")
      .field("templates", &AnswerOptions::templates)
      .field("overwrite", &AnswerOptions::overwrite, "Start over when the answer files hold other settings.")
      .done()
      .def(py::init<>());

  auto run_report = ResultClass<AnswerRunReport>(m, "AnswerRunReport", "What one answering run did.")
      .field("culture", &AnswerRunReport::culture, "\"\" for the culture-unaware run.")
      .field("path", &AnswerRunReport::path, "Its answer file.")
      .field("resumed", &AnswerRunReport::resumed, "The file existed and was kept.")
      .field("questions", &AnswerRunReport::questions)
      .field("parsed", &AnswerRunReport::parsed, "Replies the reference contrast rule reads; scored: all.")
      .field("rank", &AnswerRunReport::rank, "The rank that answered or kept the run (distributed runs; 0 otherwise).")
      .done();
  def_deprecated_items(run_report);

  const auto aware_to_py = [](const AnswerResult& r) {
    py::dict aware;
    for (const auto& set : r.aware) aware[py::str(set.culture)] = model_answers_to_py(set.answers);
    return aware;
  };
  py::class_<AnswerResult>(m, "AnswerResult", R"pbdoc(
Answer records per run: ``unaware`` (a list) and ``aware`` ({culture: list}),
each record {"question_id", "reply", "distribution"}; ``runs`` holds an
AnswerRunReport per run. ``ContrastDetector().detect(questions, result.unaware,
result.aware)`` takes them.
)pbdoc")
      .def_property_readonly("unaware", [](const AnswerResult& r) { return model_answers_to_py(r.unaware.answers); })
      .def_property_readonly("aware", aware_to_py)
      .def_readonly("runs", &AnswerResult::runs)
      .def("to_dict",
           [aware_to_py](const AnswerResult& r) {
             py::dict out;
             out["unaware"] = model_answers_to_py(r.unaware.answers);
             out["aware"] = aware_to_py(r);
             out["runs"] = plain_python(py::cast(r.runs));
             return out;
           })
      .def("__repr__", [](const AnswerResult& r) {
        return "AnswerResult(" + std::to_string(r.runs.size()) + " runs)";
      });

  const AnswerOptions defaults;
  py::class_<PyQuestionAnswerer>(m, "QuestionAnswerer", R"pbdoc(
Answers questions culture-unaware and as each culture (docs/pipeline.md, "answer").

One answer file per run in a folder; a run whose file exists is kept
(resume) when it records the same settings (a ValueError names the first
that differs; ``overwrite=True`` recomputes every run). ``mode="scored"``: option distributions from option scoring
(culturespa's way; ``answer`` is the argmax label); ``mode="sampled"``:
sampled replies (the reference's way), parsed later by the contrast rule.

Args:
    generator: a ``culturespa.Generator``; or give ``replies`` (and ``scores``).
    replies: ``f(prompts, seeds, sampling) -> [str]``.
    scores: ``f(prompts, labels) -> [[p, ...]]``.
    cultures: culture codes or Culture objects; None = the 18 built in.
    unaware: also the culture-unaware run (first).
    name: answer-file stem.
    templates: PromptTemplates (None = the reference's).
    overwrite: start every run over instead of resuming.
)pbdoc")
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
           py::arg("scores") = py::none(), py::arg("mode") = std::string(answer_mode_name(defaults.mode)),
           py::arg("cultures") = py::none(), py::arg("unaware") = defaults.unaware,
           py::arg("temperature") = defaults.temperature, py::arg("top_p") = defaults.top_p,
           py::arg("max_new_tokens") = defaults.max_new_tokens, py::arg("seed") = defaults.seed,
           py::arg("name") = defaults.name, py::arg("templates") = py::none(),
           py::arg("overwrite") = defaults.overwrite)
      .def_property_readonly("options", [](const PyQuestionAnswerer& a) { return a.answerer->options(); },
                             "The AnswerOptions.")
      .def_property_readonly("mode", [](const PyQuestionAnswerer& a) { return answer_mode_name(a.answerer->options().mode); })
      .def_property_readonly("cultures",
                             [](const PyQuestionAnswerer& a) {
                               std::vector<std::string> codes;
                               for (const auto& c : a.answerer->options().cultures) codes.push_back(c.code);
                               return codes;
                             })
      .def(
          "path",
          [](const PyQuestionAnswerer& a, const std::filesystem::path& dir, const std::string& culture) {
            return answer_file_path(dir.string(), culture, a.answerer->options());
          },
          py::arg("dir"), py::arg("culture") = "", "The answer file of a run ('' = culture-unaware) in dir.")
      .def(
          "answer",
          [](const PyQuestionAnswerer& a, py::iterable questions, const std::filesystem::path& dir,
             py::object progress) {
            const auto question_list = questions_from_py(questions);
            auto callback = progress_callback(std::move(progress));
            py::gil_scoped_release release;
            return a.answerer->answer(question_list, dir.string(), callback);
          },
          py::arg("questions"), py::arg("dir"), py::kw_only(), py::arg("progress") = py::none(), R"pbdoc(
Answers every run into ``dir`` (created when missing); an AnswerResult.

Raises:
    ValueError: a question with fewer than 2 options, a repeated id, or an
        existing answer file holding other question ids.
)pbdoc");

  m.def(
      "answer_file_save",
      [](const std::filesystem::path& path, py::iterable questions, py::iterable answers) {
        answer_file_save(path.string(), questions_from_py(questions), model_answers_from_py(answers, path.string()));
      },
      py::arg("path"), py::arg("questions"), py::arg("answers"),
      "Writes answers as the reference's answer-file JSON list (atomically).");
}

}  // namespace culturespa::bindings

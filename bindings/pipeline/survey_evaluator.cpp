// SurveyEvaluator and its reports (culturespa/pipeline/survey_evaluator.h).
#include "culturespa/pipeline/survey_evaluator.h"

#include <filesystem>

#include "common.h"
#include "core/result_class.h"
#include "culturespa/core/error.h"
#include "culturespa/survey/survey_data.h"
#include "reply_source.h"
#include "survey/answers.h"

namespace culturespa::bindings {
namespace {

// The evaluator keeps the Python objects its reply source calls alive.
struct PySurveyEvaluator {
  std::shared_ptr<PyReplySource> source;
  std::unique_ptr<SurveyEvaluator> evaluator;
};

py::object json_loads(const std::string& text) { return py::module_::import("json").attr("loads")(text); }

Survey survey_argument(const py::object& survey) {
  if (survey.is_none()) return survey_default();  // $CULTURESPA_SURVEY, else the fetched WVS-7 data
  return survey_from_python(survey);
}

// A method from Python: an EvaluationMethod, a paper method's name or label,
// or the path of a prompt-template file (a user method).
EvaluationMethod method_argument(const py::handle& item) {
  if (py::isinstance<EvaluationMethod>(item)) return item.cast<EvaluationMethod>();
  const std::string text = py::str(py::module_::import("os").attr("fspath")(item));
  if (text.size() > 5 && text.substr(text.size() - 5) == ".json") return evaluation_method_load(text);
  return evaluation_method(text);
}

std::vector<EvaluationMethod> methods_argument(const py::object& methods) {
  std::vector<EvaluationMethod> out;
  if (py::isinstance<py::str>(methods) || py::isinstance<EvaluationMethod>(methods)) {
    out.push_back(method_argument(methods));
    return out;
  }
  for (const auto& item : methods) out.push_back(method_argument(item));
  return out;
}

}  // namespace

void register_survey_evaluator(py::module_& m) {
  const SurveyEvaluatorOptions defaults;

  py::class_<EvaluationMethod>(m, "EvaluationMethod", R"pbdoc(One way of asking the survey: a name (the
result files' method part), the prompt structure (a PromptMethod) and the
prompt templates. ``EvaluationMethod.paper("P1")`` gives a paper method,
``EvaluationMethod.load(path)`` a user method from a prompts.json-shaped file.)pbdoc")
      .def_static("paper", &evaluation_method, py::arg("name"),
                  "A paper method by name (culture_aware, ...) or label (P0, P1, P2, P3, P1+P3, P2+P3); "
                  "ValueError listing the valid ones otherwise.")
      .def_static("load", &evaluation_method_load, py::arg("path"), py::arg("name") = "",
                  R"pbdoc(A user method from a prompt-template file (prompts.json shape). Its optional
"_method" key names the paper method whose structure it follows (default
culture_aware); its name is `name`, else "_name", else the file's stem.)pbdoc")
      .def_static("names", &evaluation_method_names, "The paper's six method names, in its order.")
      .def_readonly("name", &EvaluationMethod::name)
      .def_property_readonly("prompt", [](const EvaluationMethod& e) { return prompt_method_name(e.prompt); })
      .def_readonly("templates", &EvaluationMethod::templates)
      .def_property_readonly("per_culture", &EvaluationMethod::per_culture,
                             "True when the method is asked once per culture (all but culture_unaware).")
      .def("__repr__", [](const EvaluationMethod& e) {
        return "EvaluationMethod(" + e.name + ", " + prompt_method_name(e.prompt) + ")";
      });

  ResultClass<EvaluationCell>(m, "EvaluationCell", "One method x culture cell of an evaluation table (x100 scores).")
      .field("culture", &EvaluationCell::culture)
      .field("alignment", &EvaluationCell::alignment, "The paper's alignment score x100 (mean over runs).")
      .field("ci_low", &EvaluationCell::ci_low, "95% bootstrap interval, low end.")
      .field("ci_high", &EvaluationCell::ci_high)
      .field("random_baseline", &EvaluationCell::random_baseline)
      .field("runs", &EvaluationCell::runs)
      .field("answered", &EvaluationCell::answered)
      .field("counted", &EvaluationCell::counted)
      .field("parse_failures", &EvaluationCell::parse_failures)
      .field("failures", &EvaluationCell::failures, "Parse failures by reason.")
      .field("topics", &EvaluationCell::topics, "Topic -> alignment x100.")
      .field("js_similarity", &EvaluationCell::js_similarity,
             "Scored protocol: mean 1 - Jensen-Shannon distance to the human shares, x100.")
      .field("wasserstein_similarity", &EvaluationCell::wasserstein_similarity,
             "Scored protocol: mean 1 - W1 / (n - 1) to the human shares, x100.")
      .done();

  ResultClass<EvaluationRow>(m, "EvaluationRow", "One method's row: its cells, their average, its culture similarity.")
      .field("method", &EvaluationRow::method)
      .field("cells", &EvaluationRow::cells)
      .field("average", &EvaluationRow::average)
      .field("similarity", &EvaluationRow::similarity,
             "The model's culture x culture SimilarityMatrix (empty for culture_unaware).")
      .field("similarity_rank_correlation", &EvaluationRow::similarity_rank_correlation,
             "Spearman correlation of the model's culture matrix with the human one (NaN if none).")
      .field("same_option_share", &EvaluationRow::same_option_share,
             "Permuted-order rows: share of moved answers that kept their option (content followed).")
      .field("same_position_share", &EvaluationRow::same_position_share,
             "Permuted-order rows: share of moved answers that kept their position.")
      .field("moved_answers", &EvaluationRow::moved_answers)
      .field("average_spread", &EvaluationRow::average_spread,
             "A method's first row: max - min of its average over the option orders asked.")
      .done()
      .def("cell", [](const EvaluationRow& r, const std::string& culture) {
        for (const auto& c : r.cells)
          if (c.culture == culture) return c;
        throw ValueError("row " + r.method + " has no culture " + culture);
      }, py::arg("culture"));

  ResultClass<EvaluationRun>(m, "EvaluationRun", "One result file of an evaluation.")
      .field("method", &EvaluationRun::method)
      .field("culture", &EvaluationRun::culture)
      .field("run", &EvaluationRun::run)
      .field("path", &EvaluationRun::path)
      .field("resumed", &EvaluationRun::resumed)
      .field("questions", &EvaluationRun::questions)
      .done();

  py::class_<EvaluationReport>(m, "EvaluationReport", R"pbdoc(The results table of an evaluation: methods as
rows, cultures and their average as columns, with intervals, counts and
per-topic scores. ``to_markdown()``, ``to_csv()``, ``to_json()``, ``to_dict()``.)pbdoc")
      .def_readonly("model", &EvaluationReport::model)
      .def_readonly("protocol", &EvaluationReport::protocol)
      .def_readonly("option_order", &EvaluationReport::option_order)
      .def_readonly("runs", &EvaluationReport::runs)
      .def_readonly("survey", &EvaluationReport::survey)
      .def_readonly("cultures", &EvaluationReport::cultures)
      .def_readonly("topics", &EvaluationReport::topics)
      .def_readonly("evaluated_questions", &EvaluationReport::evaluated_questions)
      .def_readonly("skipped_ids", &EvaluationReport::skipped_ids, "Survey questions not evaluated (not asked).")
      .def_readonly("rows", &EvaluationReport::rows)
      .def_readonly("human_similarity", &EvaluationReport::human_similarity,
                    "The gold answers' SimilarityMatrix over `cultures`.")
      .def_readonly("files", &EvaluationReport::files)
      .def("row", [](const EvaluationReport& r, const std::string& method) {
        for (const auto& row : r.rows)
          if (row.method == method) return row;
        throw ValueError("the report has no method " + method);
      }, py::arg("method"))
      .def("to_json", &evaluation_report_to_json)
      .def("to_csv", &evaluation_report_to_csv)
      .def("to_markdown", &evaluation_report_to_markdown)
      .def("to_dict", [](const EvaluationReport& r) { return json_loads(evaluation_report_to_json(r)); });

  ResultClass<EvaluationManifest>(m, "EvaluationManifest", "What a result folder's evaluation.json records.")
      .field("model", &EvaluationManifest::model)
      .field("protocol", &EvaluationManifest::protocol)
      .field("option_order", &EvaluationManifest::option_order)
      .field("runs", &EvaluationManifest::runs)
      .field("shuffles", &EvaluationManifest::shuffles)
      .field("survey", &EvaluationManifest::survey)
      .field("prefix", &EvaluationManifest::prefix)
      .field("methods", &EvaluationManifest::methods)
      .field("cultures", &EvaluationManifest::cultures)
      .done()
      .def_static("load", &evaluation_manifest_load, py::arg("dir"));

  py::class_<ComparisonReport>(m, "ComparisonReport", R"pbdoc(Several result folders of one model in one
table, with each row's paired difference to the first row (per culture and
for the average, 95% bootstrap intervals).)pbdoc")
      .def_readonly("model", &ComparisonReport::model)
      .def_readonly("cultures", &ComparisonReport::cultures)
      .def_property_readonly("labels", [](const ComparisonReport& r) {
        std::vector<std::string> out;
        for (const auto& row : r.rows) out.push_back(row.label);
        return out;
      })
      .def_property_readonly("rows", [](const ComparisonReport& r) {
        std::vector<EvaluationRow> out;
        for (const auto& row : r.rows) out.push_back(row.row);
        return out;
      })
      .def("to_json", &comparison_report_to_json)
      .def("to_csv", &comparison_report_to_csv)
      .def("to_markdown", &comparison_report_to_markdown)
      .def("to_dict", [](const ComparisonReport& r) { return json_loads(comparison_report_to_json(r)); });

  m.def(
      "evaluation_compare",
      [](const std::vector<std::string>& dirs, const py::object& survey, std::size_t bootstrap_samples,
         std::uint64_t seed) {
        const Survey s = survey_argument(survey);
        ScorerOptions o;
        o.bootstrap_samples = bootstrap_samples;
        o.seed = seed;
        py::gil_scoped_release release;
        return evaluation_compare(dirs, s, o);
      },
      py::arg("dirs"), py::arg("survey"), py::kw_only(),
      py::arg("bootstrap_samples") = ScorerOptions{}.bootstrap_samples, py::arg("seed") = ScorerOptions{}.seed,
      R"pbdoc(Several result folders of the same model in one table with paired differences
to the first row. ValueError naming both models when the folders hold
evaluations of different models.)pbdoc");
  m.def("evaluation_result_path", &evaluation_result_path, py::arg("dir"), py::arg("method"),
        py::arg("culture") = "", py::arg("run") = 0, py::arg("prefix") = defaults.prefix,
        "<dir>/<prefix>_<method>[_<CULTURE>]_<run>.json");

  py::class_<PySurveyEvaluator>(m, "SurveyEvaluator", R"pbdoc(Evaluates a live model on a survey with the
paper's prompting methods (docs/evaluation.md).

``SurveyEvaluator(generator, survey, *, protocol="scored", cultures=None, ...)``:
``generator`` is a culturespa Generator (whatever model, adapters included,
it runs); tests may give ``replies=``/``scores=`` callables instead.
``survey``: a Survey or the path of one. ``evaluate(methods, dir)`` asks and
writes one result file per (method, culture, run) in the reference's format,
resumable, and returns the EvaluationReport; ``score(methods, dir)`` scores a
finished folder without asking. ``adapters``: {culture code: name} of LoRA
adapters loaded into the generator's model (``"*"``: every other prompt);
with per-culture adapters the cultures are asked together in mixed batches.)pbdoc")
      .def(py::init([](py::object generator, const py::object& survey, py::object replies, py::object scores,
                       const std::string& protocol, std::optional<std::vector<std::string>> cultures,
                       std::size_t runs, double temperature, double top_p, std::int64_t max_new_tokens,
                       std::int64_t seed, const std::string& option_order, std::size_t shuffles,
                       std::uint64_t shuffle_seed, std::size_t examples, const std::string& model,
                       const std::string& prefix, std::size_t bootstrap_samples, std::uint64_t bootstrap_seed,
                       double confidence, std::map<std::string, std::string> adapters) {
             auto out = std::make_unique<PySurveyEvaluator>();
             out->source = reply_source_from_py(std::move(generator), std::move(replies), std::move(scores));
             SurveyEvaluatorOptions o;
             o.protocol = evaluation_protocol_from_name(protocol);
             if (cultures) o.cultures = *cultures;
             o.runs = runs;
             o.temperature = temperature;
             o.top_p = top_p;
             o.max_new_tokens = max_new_tokens;
             o.seed = seed;
             o.option_order = option_order_from_name(option_order);
             o.shuffles = shuffles;
             o.shuffle_seed = shuffle_seed;
             o.examples = examples;
             o.model = model;
             o.prefix = prefix;
             o.bootstrap_samples = bootstrap_samples;
             o.bootstrap_seed = bootstrap_seed;
             o.confidence = confidence;
             o.adapters = std::move(adapters);
             out->evaluator = std::make_unique<SurveyEvaluator>(*out->source->source, survey_argument(survey), o);
             return out;
           }),
           py::arg("generator") = py::none(), py::arg("survey") = py::none(), py::kw_only(),
           py::arg("replies") = py::none(), py::arg("scores") = py::none(),
           py::arg("protocol") = evaluation_protocol_name(defaults.protocol), py::arg("cultures") = py::none(),
           py::arg("runs") = defaults.runs, py::arg("temperature") = defaults.temperature,
           py::arg("top_p") = defaults.top_p, py::arg("max_new_tokens") = defaults.max_new_tokens,
           py::arg("seed") = defaults.seed, py::arg("option_order") = option_order_name(defaults.option_order),
           py::arg("shuffles") = defaults.shuffles, py::arg("shuffle_seed") = defaults.shuffle_seed,
           py::arg("examples") = defaults.examples, py::arg("model") = defaults.model,
           py::arg("prefix") = defaults.prefix, py::arg("bootstrap_samples") = defaults.bootstrap_samples,
           py::arg("bootstrap_seed") = defaults.bootstrap_seed, py::arg("confidence") = defaults.confidence,
           py::arg("adapters") = defaults.adapters)
      .def_property_readonly("cultures", [](const PySurveyEvaluator& e) { return e.evaluator->cultures(); })
      .def_property_readonly("protocol",
                             [](const PySurveyEvaluator& e) {
                               return evaluation_protocol_name(e.evaluator->options().protocol);
                             })
      .def_property_readonly("model", [](const PySurveyEvaluator& e) { return e.evaluator->options().model; })
      .def_property_readonly("survey", [](const PySurveyEvaluator& e) { return e.evaluator->survey(); })
      .def(
          "prompts",
          [](const PySurveyEvaluator& e, const py::object& method, const std::string& culture, std::size_t shuffle) {
            return e.evaluator->prompts(method_argument(method), culture, shuffle);
          },
          py::arg("method"), py::arg("culture") = "", py::arg("shuffle") = 0,
          "The prompts evaluate() asks for one method and culture (SurveyPrompt list, survey order).")
      .def(
          "evaluate",
          [](const PySurveyEvaluator& e, const py::object& methods, const py::object& dir, py::object progress) {
            const auto list = methods_argument(methods);
            const std::string folder = py::str(py::module_::import("os").attr("fspath")(dir));
            auto callback = progress_callback(std::move(progress));
            py::gil_scoped_release release;
            return e.evaluator->evaluate(list, folder, callback);
          },
          py::arg("methods"), py::arg("dir"), py::arg("progress") = py::none(),
          R"pbdoc(Asks every method into `dir` (resuming finished files) and returns the report.
`methods`: names or labels (\"P0\", \"culture_aware\"), prompt-template file
paths (user methods) or EvaluationMethod objects. `progress`: True for a bar,
or a callable taking a Progress and returning False to cancel. Ctrl-C keeps
finished files.)pbdoc")
      .def(
          "score",
          [](const PySurveyEvaluator& e, const py::object& methods, const py::object& dir) {
            const auto list = methods_argument(methods);
            const std::string folder = py::str(py::module_::import("os").attr("fspath")(dir));
            py::gil_scoped_release release;
            return e.evaluator->score(list, folder);
          },
          py::arg("methods"), py::arg("dir"), "Scores the finished files of `methods` in `dir` (no model calls).");
}

}  // namespace culturespa::bindings

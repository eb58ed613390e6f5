#include "culturespa/pipeline/question_filter.h"

#include "common.h"
#include "core/deprecated_items.h"
#include "core/result_class.h"
#include "culturespa/pipeline/stage_files.h"
#include "records.h"

namespace culturespa::bindings {

void register_question_filter(py::module_& m) {
  ResultClass<FilterStep>(m, "FilterStep", "What one filter step did.")
      .field("name", &FilterStep::name, "\"exact_duplicate\", \"bare_number_options\", ...")
      .field("removed", &FilterStep::removed)
      .field("rewritten", &FilterStep::rewritten)
      .field("remaining", &FilterStep::remaining, "Questions left after this step.")
      .field("removed_per_topic", &FilterStep::removed_per_topic)
      .field("rewritten_per_topic", &FilterStep::rewritten_per_topic)
      .field("removed_ids", &FilterStep::removed_ids)
      .field("rewritten_ids", &FilterStep::rewritten_ids)
      .done();

  ResultClass<QuestionFilterReport>(m, "QuestionFilterReport", "What the filter steps did, in the order they ran.")
      .field("input", &QuestionFilterReport::input, "Questions in.")
      .field("kept", &QuestionFilterReport::kept, "Questions out.")
      .field("steps", &QuestionFilterReport::steps, "FilterStep list.")
      .field("duplicate_option_ids", &QuestionFilterReport::duplicate_option_ids,
             "Kept questions listing an option text twice.")
      .done()
      .def("step", &QuestionFilterReport::step, py::arg("name"), py::return_value_policy::reference_internal,
           "The FilterStep called ``name`` (ValueError when absent).")
      .def("to_json", &question_filter_report_to_json, "The report as the JSON document of docs/pipeline.md.");
  def_deprecated_items(py::class_<QuestionFilterReport>(m.attr("QuestionFilterReport")));

  py::class_<QuestionFilterResult>(m, "QuestionFilterResult", "The kept questions and the QuestionFilterReport.")
      .def_readonly("questions", &QuestionFilterResult::questions, "Kept questions, in input order.")
      .def_readonly("report", &QuestionFilterResult::report)
      .def("__len__", [](const QuestionFilterResult& r) { return r.questions.size(); })
      .def(
          "__iter__",
          [](const QuestionFilterResult& r) { return py::make_iterator(r.questions.begin(), r.questions.end()); },
          py::keep_alive<0, 1>())
      .def(
          "counts",
          [](const QuestionFilterResult& r) {
            py::dict out;
            out["input"] = r.report.input;
            for (const auto& step : r.report.steps) out[py::str(step.name)] = step.remaining;
            return out;
          },
          "Questions left after each step, e.g. {\"input\": 13000, \"exact_duplicate\": 12891, ...}.")
      .def("to_dict",
           [](const QuestionFilterResult& r) {
             py::dict out;
             out["questions"] = questions_to_py(r.questions);
             out["report"] = py::cast(r.report).attr("to_dict")();
             return out;
           })
      .def("__repr__", [](const QuestionFilterResult& r) {
        return "QuestionFilterResult(" + std::to_string(r.report.input) + " -> " + std::to_string(r.questions.size()) +
               " questions)";
      });

  ResultClass<QuestionFilterOptions>(m, "QuestionFilterOptions",
                                     "QuestionFilter's settings; QuestionFilterOptions() holds the defaults.")
      .field("reference", &QuestionFilterOptions::reference)
      .field("near_duplicate_threshold", &QuestionFilterOptions::near_duplicate_threshold)
      .field("near_duplicate_ngram", &QuestionFilterOptions::near_duplicate_ngram)
      .field("min_options", &QuestionFilterOptions::min_options)
      .field("max_options", &QuestionFilterOptions::max_options)
      .field("drop_duplicate_options", &QuestionFilterOptions::drop_duplicate_options)
      .done()
      .def(py::init<>());

  const QuestionFilterOptions defaults;
  py::class_<QuestionFilter>(m, "QuestionFilter", R"pbdoc(
Cleans generated questions (docs/pipeline.md, "filter").

The reference's filters (exact duplicates over seeds + generated,
bare-number options without a scale, numbered options rewritten) and
optional ones: near-duplicates by word n-gram Jaccard similarity,
option-count bounds, duplicate options.

Args:
    reference: run the reference's three rules.
    near_duplicate_threshold: Jaccard similarity at which a question is a
        near-duplicate (0 = off).
    near_duplicate_ngram: word n-gram size.
    min_options, max_options: option-count bounds (0 = none).
    drop_duplicate_options: drop questions listing an option twice.
)pbdoc")
      .def(py::init([](bool reference, double near_duplicate_threshold, std::size_t near_duplicate_ngram,
                       std::size_t min_options, std::size_t max_options, bool drop_duplicate_options) {
             QuestionFilterOptions o;
             o.reference = reference;
             o.near_duplicate_threshold = near_duplicate_threshold;
             o.near_duplicate_ngram = near_duplicate_ngram;
             o.min_options = min_options;
             o.max_options = max_options;
             o.drop_duplicate_options = drop_duplicate_options;
             return QuestionFilter(o);
           }),
           py::kw_only(), py::arg("reference") = defaults.reference,
           py::arg("near_duplicate_threshold") = defaults.near_duplicate_threshold,
           py::arg("near_duplicate_ngram") = defaults.near_duplicate_ngram,
           py::arg("min_options") = defaults.min_options, py::arg("max_options") = defaults.max_options,
           py::arg("drop_duplicate_options") = defaults.drop_duplicate_options)
      .def_property_readonly("options", &QuestionFilter::options, "The QuestionFilterOptions.")
      .def(
          "apply",
          [](const QuestionFilter& f, py::iterable generated, py::iterable seeds, py::object progress) {
            const auto questions = questions_from_py(generated);
            const auto seed_questions = questions_from_py(seeds);
            auto callback = progress_callback(std::move(progress));
            py::gil_scoped_release release;
            return f.apply(questions, seed_questions, callback);
          },
          py::arg("generated"), py::arg("seeds") = py::tuple(), py::kw_only(), py::arg("progress") = py::none(),
          R"pbdoc(
Filters ``generated`` (a QuestionFilterResult); ``seeds`` only take part in duplicate detection.

Raises:
    ValueError: a question id repeated in ``generated``.
)pbdoc");

  m.def(
      "questions_merge_renumber",
      [](py::iterable topics) {
        std::vector<std::vector<Question>> lists;
        for (const auto& t : topics) lists.push_back(questions_from_py(py::reinterpret_borrow<py::iterable>(t)));
        return questions_to_py(questions_merge_renumber(lists));
      },
      py::arg("topics"),
      "Concatenates per-topic question lists in order and renumbers them Q0..Q<n-1>.");
}

}  // namespace culturespa::bindings

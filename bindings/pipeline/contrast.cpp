#include "culturespa/pipeline/contrast.h"

#include <cmath>

#include "common.h"
#include "core/deprecated_items.h"
#include "core/result_class.h"
#include "culturespa/pipeline/stage_files.h"
#include "records.h"

namespace culturespa::bindings {

void register_contrast(py::module_& m) {
  auto counts = ResultClass<ContrastCounts>(m, "ContrastCounts",
                              "The reference's tallies of one culture, topic or all together.")
      .field("compared", &ContrastCounts::compared, "Question ids present on both sides.")
      .field("valid", &ContrastCounts::valid, "Both answers usable.")
      .field("same", &ContrastCounts::same, "Valid and not kept.")
      .field("different", &ContrastCounts::different, "Valid and kept (the pairs).")
      .field("invalid", &ContrastCounts::invalid, "Compared but not valid (unparseable, out of range, ...).")
      .done();
  def_deprecated_items(counts);

  auto culture_report = ResultClass<ContrastCultureReport>(m, "ContrastCultureReport", "What the contrast found for one culture.")
      .field("culture", &ContrastCultureReport::culture, "The culture code.")
      .field("counts", &ContrastCultureReport::counts, "ContrastCounts of the culture.")
      .field("per_topic", &ContrastCultureReport::per_topic, "Topic (\"\" when unknown) -> ContrastCounts.")
      .field("missing_ids", &ContrastCultureReport::missing_ids,
             "Ids in the unaware set absent from this culture's set.")
      .field("extra_ids", &ContrastCultureReport::extra_ids, "Ids in this culture's set absent from the unaware set.")
      .done();
  def_deprecated_items(culture_report);

  ResultClass<ContrastReport>(m, "ContrastReport", "The contrast's tallies per culture, per topic and in total.")
      .property("rule", [](const ContrastReport& r) { return std::string(contrast_rule_name(r.rule)); },
                "\"reference\" or \"distributional\".")
      .field("cultures", &ContrastReport::cultures, "ContrastCultureReport per culture, in the order given.")
      .field("total", &ContrastReport::total, "ContrastCounts of all cultures together.")
      .field("per_topic", &ContrastReport::per_topic, "Topic -> ContrastCounts, all cultures together.")
      .done()
      .def("culture", &ContrastReport::culture, py::arg("code"), py::return_value_policy::reference_internal,
           "The ContrastCultureReport of a culture (ValueError when absent).")
      .def("to_json", &contrast_report_to_json, "The report as the JSON document of docs/pipeline.md.");
  def_deprecated_items(py::class_<ContrastReport>(m.attr("ContrastReport")));

  ResultClass<ContrastPair>(m, "ContrastPair", R"pbdoc(
A culture-related (question, culture) pair: the culture-aware answer differs from the unaware one.

``to_dict()`` gives the record shape that ``contrast_pairs_save`` writes and
``export_dataset`` reads (question_id, topic, question, options, ...).
)pbdoc")
      .field("question", &ContrastPair::question, "The Question.")
      .property("question_id", [](const ContrastPair& p) { return p.question.id; })
      .property("topic", [](const ContrastPair& p) { return p.question.topic; })
      .property("text", [](const ContrastPair& p) { return p.question.text; }, "The question's text.")
      .property("options", [](const ContrastPair& p) { return p.question.options; })
      .property("zero_based", [](const ContrastPair& p) { return p.question.zero_based; })
      .field("culture", &ContrastPair::culture, "The culture code.")
      .field("aware_answer", &ContrastPair::aware_answer, "The kept culture-aware option id.")
      .field("unaware_answer", &ContrastPair::unaware_answer)
      .field("aware_reply", &ContrastPair::aware_reply, "Raw reply (reference rule; \"\" for distributions).")
      .field("unaware_reply", &ContrastPair::unaware_reply)
      .property("rule", [](const ContrastPair& p) { return std::string(contrast_rule_name(p.rule)); })
      .field("score", &ContrastPair::score, "reference: 1; distributional: the JSD in bits.")
      .property(
          "probability",
          [](const ContrastPair& p) { return std::isnan(p.probability) ? std::optional<double>() : p.probability; },
          "distributional: the culture-aware probability of aware_answer; None for the reference rule.")
      .done(&contrast_pair_to_py);

  py::class_<ContrastResult>(m, "ContrastResult", "The culture-related pairs and the tallies (``report``).")
      .def_readonly("pairs", &ContrastResult::pairs, "ContrastPair list, culture by culture, in unaware-set order.")
      .def_readonly("report", &ContrastResult::report, "The ContrastReport.")
      .def("__len__", [](const ContrastResult& r) { return r.pairs.size(); })
      .def(
          "__iter__", [](const ContrastResult& r) { return py::make_iterator(r.pairs.begin(), r.pairs.end()); },
          py::keep_alive<0, 1>())
      .def("to_dict",
           [](const ContrastResult& r) {
             py::dict out;
             out["pairs"] = contrast_pairs_to_py(r.pairs);
             out["report"] = py::cast(r.report).attr("to_dict")();
             return out;
           })
      .def(
          "save", [](const ContrastResult& r, const std::filesystem::path& path) { contrast_pairs_save(path.string(), r.pairs); },
          py::arg("path"), "Writes the pairs as the JSONL stage file (atomically).")
      .def("__repr__", [](const ContrastResult& r) {
        return "ContrastResult(" + std::to_string(r.pairs.size()) + " pairs; valid " +
               std::to_string(r.report.total.valid) + ", same " + std::to_string(r.report.total.same) +
               ", different " + std::to_string(r.report.total.different) + ")";
      });

  ResultClass<ContrastOptions>(m, "ContrastOptions", "ContrastDetector's settings; ContrastOptions() holds the defaults.")
      .property("rule", [](const ContrastOptions& o) { return std::string(contrast_rule_name(o.rule)); })
      .field("min_answer", &ContrastOptions::min_answer)
      .field("max_answer", &ContrastOptions::max_answer)
      .field("jsd_threshold", &ContrastOptions::jsd_threshold)
      .field("require_argmax_change", &ContrastOptions::require_argmax_change)
      .done()
      .def(py::init<>());

  const ContrastOptions defaults;
  py::class_<ContrastDetector>(m, "ContrastDetector", R"pbdoc(
Decides culture-relatedness per (question, culture) (docs/pipeline.md, "contrast").

Args:
    rule: "reference": both replies parse (first run of digits, within
        ``min_answer..max_answer``) and the culture-aware answer differs.
        "distributional": the Jensen-Shannon divergence (bits) between the
        culture-aware and unaware option distributions reaches
        ``jsd_threshold`` (and, with ``require_argmax_change``, the argmax
        differs).

Example:
    >>> result = culturespa.ContrastDetector().detect(questions, unaware, {"KEN": ken})
    >>> result.report.total.different
)pbdoc")
      .def(py::init([](const std::string& rule, int min_answer, int max_answer, double jsd_threshold,
                       bool require_argmax_change) {
             ContrastOptions o;
             o.rule = contrast_rule_from_name(rule);
             o.min_answer = min_answer;
             o.max_answer = max_answer;
             o.jsd_threshold = jsd_threshold;
             o.require_argmax_change = require_argmax_change;
             return ContrastDetector(o);
           }),
           py::kw_only(), py::arg("rule") = std::string(contrast_rule_name(defaults.rule)),
           py::arg("min_answer") = defaults.min_answer, py::arg("max_answer") = defaults.max_answer,
           py::arg("jsd_threshold") = defaults.jsd_threshold,
           py::arg("require_argmax_change") = defaults.require_argmax_change)
      .def_property_readonly("rule", [](const ContrastDetector& d) { return contrast_rule_name(d.options().rule); })
      .def_property_readonly("options", &ContrastDetector::options, "The ContrastOptions.")
      .def(
          "detect",
          [](const ContrastDetector& d, py::iterable questions, py::iterable unaware, py::object aware,
             py::object progress) {
            const auto question_list = questions_from_py(questions);
            const AnswerSet unaware_set = answer_set_from_py(unaware, "");
            if (!py::isinstance<py::dict>(aware)) aware = py::dict(aware);
            std::vector<AnswerSet> aware_sets;
            for (const auto& [culture, records] : py::reinterpret_borrow<py::dict>(aware))
              aware_sets.push_back(answer_set_from_py(py::reinterpret_borrow<py::iterable>(records),
                                                      py::cast<std::string>(culture)));
            auto callback = progress_callback(std::move(progress));
            py::gil_scoped_release release;
            return d.detect(question_list, unaware_set, aware_sets, callback);
          },
          py::arg("questions"), py::arg("unaware"), py::arg("aware"), py::kw_only(), py::arg("progress") = py::none(),
          R"pbdoc(
Compares each culture-aware answer set with the unaware one (a ContrastResult).

Args:
    questions: Question objects or question dicts for every id in ``unaware``.
    unaware: answer records ``{"question_id", "reply"}`` and/or ``"distribution"``.
    aware: ``{culture code: answer records}`` (or (code, records) pairs).
    progress: None, True (a bar) or a callable returning False to cancel.

Raises:
    ValueError: no cultures, a question id repeated within a set, or an id
        of ``unaware`` that ``questions`` lacks.
)pbdoc");

  m.def(
      "jensen_shannon_divergence",
      [](const std::vector<double>& p, const std::vector<double>& q) { return jensen_shannon_divergence(p, q); },
      py::arg("p"), py::arg("q"), "Jensen-Shannon divergence in bits of two distributions (normalised first).");
}

}  // namespace culturespa::bindings

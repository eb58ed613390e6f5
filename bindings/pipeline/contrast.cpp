#include "culturespa/pipeline/contrast.h"

#include "common.h"
#include "culturespa/pipeline/stage_files.h"
#include "records.h"

namespace culturespa::bindings {

void register_contrast(py::module_& m) {
  py::class_<ContrastDetector>(m, "ContrastDetector",
                               "Finds culture-related (question, culture) pairs by comparing culture-aware "
                               "with culture-unaware answers (docs/pipeline.md).")
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
           py::kw_only(), py::arg("rule") = "reference", py::arg("min_answer") = 0, py::arg("max_answer") = 15,
           py::arg("jsd_threshold") = 0.1, py::arg("require_argmax_change") = false)
      .def_property_readonly("rule", [](const ContrastDetector& d) { return contrast_rule_name(d.options().rule); })
      .def(
          "_detect",
          [](const ContrastDetector& d, py::iterable questions, py::iterable unaware, py::dict aware,
             py::object progress) {
            const auto question_list = questions_from_py(questions);
            const AnswerSet unaware_set = answer_set_from_py(unaware, "");
            std::vector<AnswerSet> aware_sets;
            for (const auto& [culture, records] : aware)
              aware_sets.push_back(answer_set_from_py(py::reinterpret_borrow<py::iterable>(records),
                                                      py::cast<std::string>(culture)));
            auto callback = progress_callback(std::move(progress));
            ContrastResult result;
            {
              py::gil_scoped_release release;
              result = d.detect(question_list, unaware_set, aware_sets, callback);
            }
            py::object report =
                py::module_::import("json").attr("loads")(contrast_report_to_json(result.report));
            return py::make_tuple(contrast_pairs_to_py(result.pairs), report);
          },
          py::arg("questions"), py::arg("unaware"), py::arg("aware"), py::arg("progress") = py::none());

  m.def(
      "jensen_shannon_divergence",
      [](const std::vector<double>& p, const std::vector<double>& q) { return jensen_shannon_divergence(p, q); },
      py::arg("p"), py::arg("q"), "Jensen-Shannon divergence in bits of two distributions (normalised first).");
}

}  // namespace culturespa::bindings

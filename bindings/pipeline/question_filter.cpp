#include "culturespa/pipeline/question_filter.h"

#include "common.h"
#include "culturespa/pipeline/stage_files.h"
#include "records.h"

namespace culturespa::bindings {

void register_question_filter(py::module_& m) {
  py::class_<QuestionFilter>(m, "QuestionFilter",
                             "Cleans generated questions: the reference's filters and optional ones "
                             "(docs/pipeline.md).")
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
           py::kw_only(), py::arg("reference") = true, py::arg("near_duplicate_threshold") = 0.0,
           py::arg("near_duplicate_ngram") = 3, py::arg("min_options") = 0, py::arg("max_options") = 0,
           py::arg("drop_duplicate_options") = false)
      .def_property_readonly("options",
                             [](const QuestionFilter& f) {
                               const auto& o = f.options();
                               py::dict d;
                               d["reference"] = o.reference;
                               d["near_duplicate_threshold"] = o.near_duplicate_threshold;
                               d["near_duplicate_ngram"] = o.near_duplicate_ngram;
                               d["min_options"] = o.min_options;
                               d["max_options"] = o.max_options;
                               d["drop_duplicate_options"] = o.drop_duplicate_options;
                               return d;
                             })
      .def(
          "_apply",
          [](const QuestionFilter& f, py::iterable generated, py::iterable seeds, py::object progress) {
            const auto questions = questions_from_py(generated);
            const auto seed_questions = questions_from_py(seeds);
            auto callback = progress_callback(std::move(progress));
            QuestionFilterResult result;
            {
              py::gil_scoped_release release;
              result = f.apply(questions, seed_questions, callback);
            }
            py::object report = py::module_::import("json").attr("loads")(
                question_filter_report_to_json(result.report));
            return py::make_tuple(questions_to_py(result.questions), report);
          },
          py::arg("generated"), py::arg("seeds") = py::list(), py::arg("progress") = py::none());

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

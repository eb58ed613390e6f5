// The survey scorer and its metrics from Python.
#include "common.h"
#include "core/deprecated_items.h"
#include "core/result_class.h"
#include "answers.h"

#include <pybind11/numpy.h>

#include <cmath>

#include "culturespa/core/error.h"
#include "culturespa/survey/scorer.h"

namespace culturespa::bindings {

namespace {

bool is_path(const py::object& o) {
  return py::isinstance<py::str>(o) || py::hasattr(o, "__fspath__");
}

std::string path_string(const py::object& o) { return py::str(py::module_::import("os").attr("fspath")(o)); }

// A run from Python: a path to an answer file, or an iterable of answer
// records (answers.h). `source` names the run in messages and reports: the
// caller's label, else the path, else "<run>".
std::vector<ModelAnswer> run_from_python(const py::object& run, std::string& source) {
  if (is_path(run)) {
    const std::string path = path_string(run);
    if (source.empty()) source = path;
    py::gil_scoped_release release;
    return answer_file_load(path).answers;
  }
  if (source.empty()) source = "<run>";
  return model_answers_from_py(run, source);
}


std::vector<AlignmentItem> alignment_items(const py::array_t<double>& model, const py::array_t<int>& gold,
                                           const py::array_t<int>& option_counts, const py::object& first_ids) {
  const auto n = static_cast<std::size_t>(model.size());
  if (static_cast<std::size_t>(gold.size()) != n || static_cast<std::size_t>(option_counts.size()) != n) {
    throw ValueError("model, gold and option_counts differ in length (" + std::to_string(model.size()) + ", " +
                     std::to_string(gold.size()) + ", " + std::to_string(option_counts.size()) + ")");
  }
  std::vector<int> first(n, 1);
  if (!first_ids.is_none()) {
    const auto f = first_ids.cast<py::array_t<int>>();
    if (static_cast<std::size_t>(f.size()) != n) throw ValueError("first_option_ids differs in length");
    for (std::size_t i = 0; i < n; ++i) first[i] = f.data()[i];
  }
  std::vector<AlignmentItem> items(n);
  for (std::size_t i = 0; i < n; ++i) {
    items[i] = {model.data()[i], gold.data()[i], option_counts.data()[i], first[i]};
  }
  return items;
}

py::dict counts_dict(const ScoreCounts& c) {
  py::dict d;
  d["answered"] = c.answered;
  d["counted"] = c.counted;
  d["no_gold"] = c.no_gold;
  d["parse_failures"] = c.parse_failures;
  d["failures"] = c.failures;
  return d;
}

py::dict topics_dict(const CultureScore& c) {
  py::dict topics;
  for (const auto& t : c.topics) {
    py::dict td = counts_dict(t.counts);
    td["alignment"] = t.alignment;
    topics[py::str(t.topic)] = td;
  }
  return topics;
}

py::dict culture_dict(const CultureScore& c) {
  py::dict d = counts_dict(c.counts);
  d["culture"] = c.culture;
  d["alignment"] = c.alignment;
  d["ci_low"] = c.ci_low;
  d["ci_high"] = c.ci_high;
  d["random_baseline"] = c.random_baseline;
  d["survey_questions"] = c.survey_questions;
  d["topics"] = topics_dict(c);
  return d;
}

// The matrix's values as an n x n numpy array.
py::array_t<double> matrix_values(const SimilarityMatrix& matrix) {
  const std::size_t n = matrix.cultures.size();
  py::array_t<double> values({n, n});
  auto v = values.mutable_unchecked<2>();
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) v(i, j) = matrix.values[i][j];
  }
  return values;
}

// A SimilarityMatrix, or a mapping {"cultures", "values"} (e.g. a human table built by hand).
SimilarityMatrix matrix_from_python(const py::object& o) {
  if (py::isinstance<SimilarityMatrix>(o)) return o.cast<SimilarityMatrix>();
  SimilarityMatrix matrix;
  matrix.cultures = o["cultures"].cast<std::vector<std::string>>();
  const auto values = py::array_t<double, py::array::c_style | py::array::forcecast>(o["values"]);
  const std::size_t n = matrix.cultures.size();
  if (values.ndim() != 2 || static_cast<std::size_t>(values.shape(0)) != n ||
      static_cast<std::size_t>(values.shape(1)) != n) {
    throw ValueError("similarity matrix values must be " + std::to_string(n) + " x " + std::to_string(n));
  }
  const auto v = values.unchecked<2>();
  matrix.values.assign(n, std::vector<double>(n));
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) matrix.values[i][j] = v(i, j);
  }
  return matrix;
}

}  // namespace

Survey survey_from_python(const py::object& survey) {
  if (is_path(survey)) return survey_load(path_string(survey));
  try {
    return survey.cast<Survey>();
  } catch (const py::cast_error&) {
    throw ValueError("survey must be a culturespa Survey or the path of a survey");
  }
}

void register_scorer(py::module_& m) {
  // --- metrics on numbers ---
  m.def(
      "alignment_score",
      [](py::array_t<double> model, py::array_t<int> gold, py::array_t<int> option_counts) {
        return alignment_score(alignment_items(model, gold, option_counts, py::none()));
      },
      py::arg("model"), py::arg("gold"), py::arg("option_counts"),
      "The paper's score as a fraction: 1 - ||m - g|| / ||n - 1||.");
  m.def(
      "alignment_random_baseline",
      [](py::array_t<int> gold, py::array_t<int> option_counts, py::object first_option_ids) {
        py::array_t<double> zeros(gold.size());
        std::fill(zeros.mutable_data(), zeros.mutable_data() + zeros.size(), 0.0);
        return alignment_random_baseline(alignment_items(zeros, gold, option_counts, first_option_ids));
      },
      py::arg("gold"), py::arg("option_counts"), py::arg("first_option_ids") = py::none(),
      "Exact expected score (fraction) under uniformly random answers.");
  m.def("js_similarity", &js_similarity, py::arg("p"), py::arg("q"));
  m.def("wasserstein_similarity", &wasserstein_similarity, py::arg("p"), py::arg("q"));
  m.def("expected_option_id", &expected_option_id, py::arg("p"), py::arg("first_option_id") = 1);
  m.def("spearman_correlation", &spearman_correlation, py::arg("x"), py::arg("y"));

  // --- reports ---
  auto paired = ResultClass<PairedDifference>(m, "PairedDifference", "Run b's score minus run a's (x100), bootstrapped.")
      .property("difference", [](const PairedDifference& p) { return p.difference.estimate; },
                "alignment(b) - alignment(a) on the questions counted in both.")
      .property("ci_low", [](const PairedDifference& p) { return p.difference.low; }, "95% bootstrap interval, low end.")
      .property("ci_high", [](const PairedDifference& p) { return p.difference.high; })
      .field("share_b_better", &PairedDifference::share_b_better, "Share of resamples in which b scores higher.")
      .field("questions", &PairedDifference::questions, "Questions in the comparison.")
      .done();
  def_deprecated_items(paired);
  auto counts = ResultClass<ScoreCounts>(m, "ScoreCounts", "Counts shared by a culture's and a topic's score.")
      .field("answered", &ScoreCounts::answered, "Replies in the run.")
      .field("counted", &ScoreCounts::counted, "Replies parsed, with a gold answer: in the score.")
      .field("no_gold", &ScoreCounts::no_gold, "Parsed, but the culture has no gold answer.")
      .field("parse_failures", &ScoreCounts::parse_failures, "Replies that gave no option id.")
      .field("failures", &ScoreCounts::failures, "parse_failures by reason name.")
      .done();
  def_deprecated_items(counts);
  ResultClass<QuestionResult>(m, "QuestionResult", "How one reply was scored.")
      .field("question_id", &QuestionResult::question_id)
      .field("topic", &QuestionResult::topic)
      .field("answer", &QuestionResult::answer, "The parsed option id (None when there is none).")
      .property("failure", [](const QuestionResult& q) { return std::string(parse_failure_name(q.failure)); },
                "Why there is no answer (\"none\" when there is one).")
      .field("message", &QuestionResult::message, "The parser's message on failure.")
      .field("gold", &QuestionResult::gold, "The culture's gold option id (None when there is none).")
      .field("option_count", &QuestionResult::option_count)
      .field("counted", &QuestionResult::counted, "Answer and gold present: part of the score.")
      .done();

  auto topic_score = ResultClass<TopicScore>(m, "TopicScore", "One topic's score within a culture's.")
                         .field("topic", &TopicScore::topic)
                         .field("alignment", &TopicScore::alignment, "x100; NaN when nothing counted.")
                         .field("counts", &TopicScore::counts, "ScoreCounts of the topic.")
                         .done();

  auto similarity_matrix = ResultClass<SimilarityMatrix>(m, "SimilarityMatrix", R"pbdoc(A culture x culture matrix of
alignment scores x100, in ``cultures`` order; NaN where two cultures share no
question. ``values`` is an n x n numpy array; ``to_dict()`` gives
{"cultures", "values"}.)pbdoc")
                    .field("cultures", &SimilarityMatrix::cultures)
                    .property("values", &matrix_values, "The n x n matrix (numpy, x100).")
                    .done();
  def_deprecated_items(similarity_matrix);

  py::class_<CultureScore>(m, "CultureScore", "One culture's score (alignment x100, counts, topics).")
      .def_readonly("culture", &CultureScore::culture)
      .def_readonly("alignment", &CultureScore::alignment)
      .def_readonly("ci_low", &CultureScore::ci_low)
      .def_readonly("ci_high", &CultureScore::ci_high)
      .def_readonly("random_baseline", &CultureScore::random_baseline)
      .def_readonly("survey_questions", &CultureScore::survey_questions)
      .def_readonly("counts", &CultureScore::counts, "ScoreCounts of the culture.")
      .def_readonly("topics", &CultureScore::topics,
                    "TopicScore per topic with replies, in the survey's topic order.")
      .def_readonly("questions", &CultureScore::questions, "QuestionResult per reply, in the run's order.")
      .def("to_dict", &culture_dict)
      .def("__repr__", [](const CultureScore& c) {
        return "CultureScore(culture='" + c.culture + "', alignment=" + std::to_string(c.alignment) +
               ", counted=" + std::to_string(c.counts.counted) + "/" + std::to_string(c.counts.answered) + ")";
      });

  py::class_<ScoreReport>(m, "ScoreReport", "Scores of several cultures with their average.")
      .def(py::init([](std::vector<CultureScore> cultures, std::string source, const std::string& parse) {
             return score_report(std::move(cultures), std::move(source), parse_mode_from_name(parse));
           }),
           py::arg("cultures"), py::arg("source") = "", py::arg("parse") = "reference")
      .def_readonly("source", &ScoreReport::source)
      .def_readonly("parse", &ScoreReport::parse)
      .def_readonly("cultures", &ScoreReport::cultures)
      .def_readonly("average", &ScoreReport::average)
      .def("to_json", &report_to_json)
      .def("to_csv", &report_to_csv)
      .def("to_markdown", &report_to_markdown)
      .def("__repr__", [](const ScoreReport& r) {
        return "ScoreReport(source='" + r.source + "', cultures=" + std::to_string(r.cultures.size()) +
               ", average=" + std::to_string(r.average) + ")";
      });

  m.def(
      "similarity_rank_correlation",
      [](const py::object& a, const py::object& b) {
        return similarity_rank_correlation(matrix_from_python(a), matrix_from_python(b));
      },
      py::arg("a"), py::arg("b"),
      "Spearman correlation of two SimilarityMatrix (or {'cultures', 'values'} mappings) over culture pairs.");

  // --- the scorer ---
  py::class_<SurveyScorer>(m, "SurveyScorer",
                           "Scores runs against a survey's human answers (docs/scoring.md).")
      .def(py::init([](const py::object& survey, const std::string& parse, std::size_t bootstrap_samples,
                       std::uint64_t seed, double confidence) {
             return SurveyScorer(survey_from_python(survey),
                                 {parse_mode_from_name(parse), bootstrap_samples, seed, confidence});
           }),
           py::arg("survey"), py::kw_only(), py::arg("parse") = "reference", py::arg("bootstrap_samples") = 1000,
           py::arg("seed") = 0, py::arg("confidence") = 0.95)
      .def_property_readonly("parse", [](const SurveyScorer& s) { return parse_mode_name(s.options().parse); })
      .def_property_readonly("cultures",
                             [](const SurveyScorer& s) {
                               std::vector<std::string> codes;
                               for (const auto& c : s.survey().cultures()) codes.push_back(c.code);
                               return codes;
                             })
      .def(
          "culture_from_path",
          [](const SurveyScorer& s, const py::object& path) {
            return culture_from_file_name(path_string(path), s.survey().cultures());
          },
          py::arg("path"), "The culture a run file's name names (`_<ISO>_`), or None.")
      .def(
          "score",
          [](const SurveyScorer& s, const py::object& run, const std::string& culture, std::string source) {
            const auto answers = run_from_python(run, source);
            py::gil_scoped_release release;
            return s.score(answers, culture, source);
          },
          py::arg("run"), py::arg("culture"), py::kw_only(), py::arg("source") = "")
      .def(
          "score_cultures",
          [](const SurveyScorer& s, const py::object& run, std::optional<std::vector<std::string>> cultures,
             std::string source, py::object progress) {
            const auto answers = run_from_python(run, source);
            std::vector<std::string> codes;
            if (cultures) {
              codes = *cultures;
            } else {
              for (const auto& c : s.survey().cultures()) codes.push_back(c.code);
            }
            auto callback = progress_callback(std::move(progress));
            py::gil_scoped_release release;
            return s.score_cultures(answers, codes, source, callback);
          },
          py::arg("run"), py::arg("cultures") = py::none(), py::kw_only(), py::arg("source") = "",
          py::arg("progress") = py::none(), "One run against several cultures (all when cultures is None).")
      .def(
          "score_distributions",
          [](const SurveyScorer& s, const std::map<std::string, std::vector<double>>& answers,
             const std::string& culture) {
            const DistributionScore d = s.score_distributions(answers, culture);
            py::dict out;
            out["culture"] = d.culture;
            out["js_similarity"] = d.js_similarity;
            out["wasserstein_similarity"] = d.wasserstein_similarity;
            out["expected_alignment"] = d.expected_alignment;
            out["counted"] = d.counted;
            return out;
          },
          py::arg("answers"), py::arg("culture"),
          "answers: {question id: shares over its options}. Scores x100.")
      .def(
          "compare",
          [](const SurveyScorer& s, const py::object& a, const py::object& b, const std::string& culture) {
            std::string source_a = "<run a>", source_b = "<run b>";
            const auto run_a = run_from_python(a, source_a);
            const auto run_b = run_from_python(b, source_b);
            PairedDifference d;
            {
              py::gil_scoped_release release;
              d = s.compare(run_a, run_b, culture, source_a, source_b);
            }
            return d;
          },
          py::arg("a"), py::arg("b"), py::arg("culture"),
          "Paired difference b - a (x100) with its bootstrap interval: a PairedDifference.")
      .def(
          "culture_similarity",
          [](const SurveyScorer& s, const py::dict& runs, py::object progress) {
            std::map<std::string, std::vector<ModelAnswer>> converted;
            for (const auto& [code, run] : runs) {
              std::string source = "run of " + py::str(code).cast<std::string>();
              converted[py::str(code)] = run_from_python(py::reinterpret_borrow<py::object>(run), source);
            }
            auto callback = progress_callback(std::move(progress));
            SimilarityMatrix matrix;
            {
              py::gil_scoped_release release;
              matrix = s.culture_similarity(converted, callback);
            }
            return matrix;
          },
          py::arg("runs"), py::kw_only(), py::arg("progress") = py::none(),
          "runs: {culture: run}. Returns the model's SimilarityMatrix (x100).")
      .def(
          "gold_similarity",
          [](const SurveyScorer& s, std::optional<std::vector<std::string>> cultures) {
            return s.gold_similarity(cultures.value_or(std::vector<std::string>{}));
          },
          py::arg("cultures") = py::none(), "The human answers' SimilarityMatrix (x100) over `cultures` (all: None).");
}

}  // namespace culturespa::bindings

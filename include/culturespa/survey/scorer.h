// culturespa/survey/scorer.h: how close a model's answers come to people's.
//
// Scores runs (a model's replies to a survey's questions) against a Survey's
// human answers: the paper's alignment score per culture, per topic and
// averaged, exactly as the reference computes it; distribution-level
// measures; a random-answer baseline; bootstrap intervals; paired
// differences of two runs; culture x culture similarity of a model's answers
// and its rank correlation with the human one. Reports as JSON, CSV and a
// Markdown table. Formulas in docs/scoring.md. A run is the answers of an
// answer file (culturespa/survey/answers.h); the scorer uses their replies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "culturespa/core/progress.h"
#include "culturespa/survey/answer_parser.h"
#include "culturespa/survey/answers.h"
#include "culturespa/survey/metrics.h"
#include "culturespa/survey/survey.h"
#include "culturespa/core/export.h"

namespace culturespa {

struct CULTURESPA_API ScorerOptions {
  ParseMode parse = ParseMode::reference;  // how replies become option ids
  std::size_t bootstrap_samples = 1000;    // resamples for confidence intervals; 0: none
  std::uint64_t seed = 0;                  // bootstrap seed (std::mt19937_64)
  double confidence = 0.95;                // two-sided interval level
};

// One question of a culture's score.
struct CULTURESPA_API QuestionResult {
  std::string question_id;
  std::string topic;
  std::optional<int> answer;                  // the parsed option id
  ParseFailure failure = ParseFailure::none;  // why there is none
  std::string message;                        // the parser's message on failure
  std::optional<int> gold;                    // the culture's gold option id
  int option_count = 0;
  bool counted = false;  // answer and gold present: part of the score
};

// Counts shared by a culture's and a topic's score.
struct CULTURESPA_API ScoreCounts {
  std::size_t answered = 0;        // replies in the run
  std::size_t counted = 0;         // replies parsed, with a gold answer: in the score
  std::size_t no_gold = 0;         // parsed, but the culture has no gold answer
  std::size_t parse_failures = 0;  // replies that gave no option id
  std::map<std::string, std::size_t> failures;  // parse_failures by reason name
};

struct CULTURESPA_API TopicScore {
  std::string topic;
  double alignment = 0;  // x100; NaN when nothing counted
  ScoreCounts counts;
};

struct CULTURESPA_API CultureScore {
  std::string culture;
  double alignment = 0;        // x100; NaN when nothing counted
  double ci_low = 0;           // bootstrap interval x100; NaN without resamples
  double ci_high = 0;
  double random_baseline = 0;  // x100: exact expectation under uniform answers, same questions
  std::size_t survey_questions = 0;  // evaluated questions in the survey
  ScoreCounts counts;
  std::vector<TopicScore> topics;  // the survey's topic order; topics with replies only
  std::vector<QuestionResult> questions;  // the run's order
};

// Several cultures' scores: one run against several cultures, or one run per
// culture.
struct CULTURESPA_API ScoreReport {
  std::string source;  // the run file, or a label
  std::string parse;   // "reference" / "robust"
  std::vector<CultureScore> cultures;
  double average = 0;  // mean of the cultures' alignment x100 (NaN ones left out)
};

// Builds a report from culture scores (computes the average).
CULTURESPA_API ScoreReport score_report(std::vector<CultureScore> cultures, std::string source, ParseMode parse);

// Distribution-level scores of one culture (answers given as distributions).
struct CULTURESPA_API DistributionScore {
  std::string culture;
  double js_similarity = 0;           // x100: mean of 1 - JS distance (base 2) to the human distribution
  double wasserstein_similarity = 0;  // x100: mean of 1 - W1 / (n - 1) on the ordinal option scale
  double expected_alignment = 0;      // x100: the paper's score with m = the expected option id
  std::size_t counted = 0;            // questions with a distribution and human answers
};

// A culture x culture matrix of alignment scores x100, in `cultures` order;
// NaN where two cultures have no question in common.
struct CULTURESPA_API SimilarityMatrix {
  std::vector<std::string> cultures;
  std::vector<std::vector<double>> values;
};

// Spearman's rank correlation of the off-diagonal upper-triangle entries of
// two matrices over the cultures both hold (pairs with a NaN left out).
// ValueError when fewer than 2 pairs remain.
CULTURESPA_API double similarity_rank_correlation(const SimilarityMatrix& a, const SimilarityMatrix& b);

class CULTURESPA_API SurveyScorer {
 public:
  explicit SurveyScorer(Survey survey, ScorerOptions options = {});

  const Survey& survey() const { return survey_; }
  const ScorerOptions& options() const { return options_; }

  // Scores a run against one culture. Only the run's questions count, so a
  // run over part of the survey is scored on what it has (counts say how
  // many). FormatError naming `source` and the item for an unknown or
  // non-evaluated question id or a repeated one; ValueError for an unknown
  // culture.
  CultureScore score(const std::vector<ModelAnswer>& run, std::string_view culture,
                     const std::string& source = "<run>") const;

  // One run against several cultures (a culture-unaware run against each).
  ScoreReport score_cultures(const std::vector<ModelAnswer>& run, const std::vector<std::string>& cultures,
                             const std::string& source = "<run>", ProgressCallback progress = {}) const;

  // Answers as distributions over each question's options (index 0 = first
  // option): question id -> shares. ValueError naming the question for an
  // unknown id or a distribution of the wrong length or with negative values.
  DistributionScore score_distributions(const std::map<std::string, std::vector<double>>& answers,
                                        std::string_view culture) const;

  // Is run b better than run a on this culture? Over the questions counted in
  // both runs; the bootstrap resamples the same questions for both.
  PairedDifference compare(const std::vector<ModelAnswer>& a, const std::vector<ModelAnswer>& b,
                           std::string_view culture, const std::string& source_a = "<run a>",
                           const std::string& source_b = "<run b>") const;

  // The matrix of a model's culture-aware answers: entry (a, b) is the
  // alignment score with culture a's parsed answers as m and culture b's as g
  // over the questions both parsed, x100 (the formula of the survey's
  // similarity table, which uses gold answers). `runs`: culture code -> run.
  SimilarityMatrix culture_similarity(const std::map<std::string, std::vector<ModelAnswer>>& runs,
                                      ProgressCallback progress = {}) const;
  // The same matrix from the cultures' gold answers (all the survey's
  // cultures when `cultures` is empty).
  SimilarityMatrix gold_similarity(const std::vector<std::string>& cultures = {}) const;

 private:
  // The parsed replies of a run, checked against the survey.
  std::vector<std::pair<const Question*, ParsedAnswer>> parse_run(const std::vector<ModelAnswer>& run,
                                                                  const std::string& source) const;
  void require_culture(std::string_view culture) const;

  Survey survey_;
  ScorerOptions options_;
};

// Reports. JSON: one object (NaN as null). CSV: one row per culture and per
// culture x topic (topic empty for the culture's overall row). Markdown: a
// table of the cultures with score, interval, baseline and counts, and the
// average.
CULTURESPA_API std::string report_to_json(const ScoreReport& report);
CULTURESPA_API std::string report_to_csv(const ScoreReport& report);
CULTURESPA_API std::string report_to_markdown(const ScoreReport& report);

}  // namespace culturespa

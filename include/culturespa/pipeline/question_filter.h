// culturespa/pipeline/question_filter.h: cleaning a bank of generated questions.
//
// The reference release's filters (docs/pipeline.md, "filter"), reproduced
// exactly, plus optional ones of culturespa's own. Needs no model.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "culturespa/core/progress.h"
#include "culturespa/survey/survey.h"
#include "culturespa/core/export.h"

namespace culturespa {

// Concatenates per-topic question lists in the given order and renumbers the
// items "Q0".."Q<n-1>", as the reference merges its 13 topic files.
CULTURESPA_API std::vector<Question> questions_merge_renumber(const std::vector<std::vector<Question>>& topics);

struct CULTURESPA_API QuestionFilterOptions {
  // The reference's three rules: exact duplicates (over seeds + generated),
  // bare-number options without a scale, numbered options rewritten.
  bool reference = true;  // default: on
  // Near-duplicate removal (off when 0): a question whose word n-gram Jaccard
  // similarity to an earlier kept question (or a seed) reaches this value is
  // dropped. Texts are normalised first (lower case, punctuation removed,
  // whitespace collapsed).
  double near_duplicate_threshold = 0.0;  // default: off; e.g. 0.8
  std::size_t near_duplicate_ngram = 3;   // default: word trigrams (>= 1)
  // Option-count bounds (0 = no bound). Questions with fewer than 2 options
  // are always dropped (they cannot be answered), whatever these say.
  std::size_t min_options = 0;  // default: no lower bound beyond 2
  std::size_t max_options = 0;  // default: no upper bound
  // Drop questions listing the same option text twice (the reference keeps
  // them; they are counted in the report either way).
  bool drop_duplicate_options = false;  // default: keep
};

// What one filter did.
struct CULTURESPA_API FilterStep {
  std::string name;             // "exact_duplicate", "bare_number_options", ...
  std::size_t removed = 0;
  std::size_t rewritten = 0;
  std::size_t remaining = 0;    // questions left after this step
  std::map<std::string, std::size_t> removed_per_topic;
  std::map<std::string, std::size_t> rewritten_per_topic;
  std::vector<std::string> removed_ids;
  std::vector<std::string> rewritten_ids;
};

struct CULTURESPA_API QuestionFilterReport {
  std::size_t input = 0;
  std::size_t kept = 0;
  std::vector<FilterStep> steps;  // in the order they ran
  // Kept questions listing an option text twice (when they are not dropped).
  std::vector<std::string> duplicate_option_ids;
  const FilterStep& step(const std::string& name) const;  // ValueError when absent
};

struct CULTURESPA_API QuestionFilterResult {
  std::vector<Question> questions;  // kept, in input order, rewritten where a rule says so
  QuestionFilterReport report;
};

class CULTURESPA_API QuestionFilter {
 public:
  explicit QuestionFilter(QuestionFilterOptions options = {});
  const QuestionFilterOptions& options() const { return options_; }

  // Filters `generated`; `seeds` only take part in duplicate detection (the
  // reference walks its 291 WVS seeds first). ValueError for a repeated
  // question id in `generated`.
  QuestionFilterResult apply(const std::vector<Question>& generated,
                             const std::vector<Question>& seeds = {},
                             ProgressCallback progress = {}) const;

 private:
  QuestionFilterOptions options_;
};

// The filter steps' names, in the order they run.
namespace filter_step {
inline constexpr const char* too_few_options = "too_few_options";
inline constexpr const char* exact_duplicate = "exact_duplicate";
inline constexpr const char* bare_number_options = "bare_number_options";
inline constexpr const char* numbered_options = "numbered_options";
inline constexpr const char* near_duplicate = "near_duplicate";
inline constexpr const char* option_count = "option_count";
inline constexpr const char* duplicate_options = "duplicate_options";
}  // namespace filter_step

}  // namespace culturespa

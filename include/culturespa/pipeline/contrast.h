// culturespa/pipeline/contrast.h: finding the culture-related questions.
//
// A question is culture-related for a culture when the model answers it
// differently with the culture in its system prompt than without. The
// culture-aware answer of each such (question, culture) is a training pair
// (docs/pipeline.md, "contrast"). Needs no model: it reads answers.
#pragma once

#include <cstddef>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "culturespa/core/progress.h"
#include "culturespa/survey/answers.h"
#include "culturespa/survey/metrics.h"  // jensen_shannon_divergence, used by the distributional rule
#include "culturespa/survey/survey.h"
#include "culturespa/core/export.h"

namespace culturespa {

// The answers of one run: culture-unaware (culture empty) or culture-aware.
struct CULTURESPA_API AnswerSet {
  std::string culture;  // culture code ("KEN"), empty for the culture-unaware run
  std::vector<ModelAnswer> answers;
};

enum class ContrastRule {
  // Both replies parse (first run of digits, within min_answer..max_answer)
  // and the culture-aware answer differs from the unaware one.
  reference,
  // Jensen-Shannon divergence (base 2, in [0, 1]) between the culture-aware
  // and unaware option distributions reaches jsd_threshold (and, optionally,
  // the argmax differs).
  distributional,
};

CULTURESPA_API const char* contrast_rule_name(ContrastRule rule);
// "reference" or "distributional"; ValueError otherwise.
CULTURESPA_API ContrastRule contrast_rule_from_name(const std::string& name);

struct CULTURESPA_API ContrastOptions {
  ContrastRule rule = ContrastRule::reference;  // default: the reference's rule
  int min_answer = 0;                           // reference rule: valid range (default 0..15,
  int max_answer = 15;                          //   as the reference's contrast step)
  double jsd_threshold = 0.1;                   // distributional: JSD (bits) at or above which a pair is kept
  bool require_argmax_change = false;           // distributional: also require a different argmax
};

// A culture-related (question, culture) pair.
struct CULTURESPA_API ContrastPair {
  Question question;
  std::string culture;
  int aware_answer = 0;    // the kept answer: culture-aware option id (reference: as parsed)
  int unaware_answer = 0;
  std::string aware_reply;    // raw replies (reference rule; empty for distributions)
  std::string unaware_reply;
  ContrastRule rule = ContrastRule::reference;
  // reference: 1; distributional: the JSD in bits.
  double score = 1.0;
  // distributional: the culture-aware probability of aware_answer; NaN for the reference rule.
  double probability = std::numeric_limits<double>::quiet_NaN();
};

// The reference's tallies: questions compared, valid (both answers usable),
// same and different answers; plus what the reference does not print.
struct CULTURESPA_API ContrastCounts {
  std::size_t compared = 0;   // ids present on both sides
  std::size_t valid = 0;
  std::size_t same = 0;       // valid and not kept
  std::size_t different = 0;  // valid and kept
  std::size_t invalid = 0;    // compared but not valid (unparseable, out of range, bad distribution)
};

struct CULTURESPA_API ContrastCultureReport {
  std::string culture;
  ContrastCounts counts;
  std::map<std::string, ContrastCounts> per_topic;  // topic ("" when unknown) -> counts
  std::vector<std::string> missing_ids;  // in the unaware set, absent from this culture's set
  std::vector<std::string> extra_ids;    // in this culture's set, absent from the unaware set
};

struct CULTURESPA_API ContrastReport {
  ContrastRule rule = ContrastRule::reference;
  std::vector<ContrastCultureReport> cultures;             // in the order given
  ContrastCounts total;                              // all cultures together
  std::map<std::string, ContrastCounts> per_topic;   // all cultures together
  const ContrastCultureReport& culture(const std::string& code) const;  // ValueError when absent
};

struct CULTURESPA_API ContrastResult {
  std::vector<ContrastPair> pairs;  // culture by culture, in unaware-set order
  ContrastReport report;
};

class CULTURESPA_API ContrastDetector {
 public:
  explicit ContrastDetector(ContrastOptions options = {});
  const ContrastOptions& options() const { return options_; }

  // Compares each culture-aware set with the unaware one, matching answers by
  // question id (any order). `questions` gives text, options and topic of
  // every id in `unaware` (ValueError naming an id it lacks). ValueError for
  // an empty `aware`, a set without a culture code, a culture given twice or
  // a question id repeated within a set. Ids missing on one side are listed
  // in the report and logged, not fatal.
  ContrastResult detect(const std::vector<Question>& questions, const AnswerSet& unaware,
                        const std::vector<AnswerSet>& aware, ProgressCallback progress = {}) const;

 private:
  ContrastOptions options_;
};

}  // namespace culturespa

// culturespa/survey/metrics.h: the numbers behind the survey scorer.
//
// Plain functions on numbers, no survey needed. Every formula is written out
// in docs/scoring.md. Scores here are fractions in [0, 1] (at most 1; the
// alignment score can go below 0 only for answers outside the option range);
// the scorer and its reports multiply by 100 as the paper does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>
#include "culturespa/core/export.h"

namespace culturespa {

// One question's part in the paper's alignment score.
struct CULTURESPA_API AlignmentItem {
  double model = 0;          // the model's option id (or its expected id)
  int gold = 0;              // the gold (majority) option id
  int option_count = 0;      // n, the number of options
  int first_option_id = 1;   // 0 for zero-based questions (used by the random baseline)
};

// The paper's score: 1 - ||m - g||_2 / ||n - 1||_2, one Euclidean distance
// over the whole vector of questions. NaN when `items` is empty; ValueError
// when an option count is below 1 or all are 1 (no distance possible).
CULTURESPA_API double alignment_score(const std::vector<AlignmentItem>& items);

// The expected alignment score when each answer is drawn uniformly from the
// question's option ids, computed exactly: the squared distances are integers,
// so the distribution of their sum is the convolution of the per-question
// distributions, and E[1 - sqrt(S) / ||n - 1||] is summed over it.
// ValueError when a gold id is not an option id of its item.
CULTURESPA_API double alignment_random_baseline(const std::vector<AlignmentItem>& items);

struct CULTURESPA_API BootstrapOptions {
  std::size_t samples = 1000;  // resamples of the questions
  std::uint64_t seed = 0;      // seeds std::mt19937_64: same seed, same interval
  double level = 0.95;         // two-sided percentile interval
};

struct CULTURESPA_API ConfidenceInterval {
  double estimate = 0;  // the statistic on all questions
  double low = 0;       // percentile (1 - level) / 2 of the resampled statistics
  double high = 0;      // percentile (1 + level) / 2
};

// Percentile bootstrap of alignment_score over questions (resampled with
// replacement, the score recomputed on each resample).
CULTURESPA_API ConfidenceInterval alignment_bootstrap(const std::vector<AlignmentItem>& items,
                                                      const BootstrapOptions& options = {});

struct CULTURESPA_API PairedDifference {
  ConfidenceInterval difference;  // alignment(b) - alignment(a), with its interval
  double share_b_better = 0;      // share of resamples in which b scores higher
  std::size_t questions = 0;      // questions in the comparison
};

// Two runs on the same questions (a[i] and b[i] are the same question, same
// gold): the difference of their scores, bootstrapped with the same question
// indices for both runs. ValueError when the lists differ in length or gold.
CULTURESPA_API PairedDifference alignment_paired_difference(const std::vector<AlignmentItem>& a,
                                                            const std::vector<AlignmentItem>& b,
                                                            const BootstrapOptions& options = {});

// A percentile bootstrap of any statistic of n questions: each resample
// draws n question indices with replacement and calls `statistic` with how
// often each index was drawn (counts[i]); the estimate is the statistic with
// every count 1. NaN resampled values are left out. (Several runs or
// cultures resampled with the same questions, e.g. a mean over runs.)
CULTURESPA_API ConfidenceInterval bootstrap_counts(std::size_t n,
                                                   const std::function<double(const std::vector<std::size_t>& counts)>& statistic,
                                                   const BootstrapOptions& options = {});

// --- distributions over a question's options (index 0 = first option) ---------
// Both arguments are normalised to sum 1 first; ValueError when their sizes
// differ, a value is negative or not finite, or one sums to 0.

// `p` scaled to sum 1 (`name` labels it in the error).
CULTURESPA_API std::vector<double> distribution_normalise(const std::vector<double>& p, const char* name = "p");
// Jensen-Shannon divergence in bits (in [0, 1]).
CULTURESPA_API double jensen_shannon_divergence(const std::vector<double>& p, const std::vector<double>& q);
// 1 - Jensen-Shannon distance with base-2 logarithms (in [0, 1]).
CULTURESPA_API double js_similarity(const std::vector<double>& p, const std::vector<double>& q);
// 1 - W1(p, q) / (n - 1) on the ordinal scale 0..n-1 (in [0, 1]); 1 when n == 1.
CULTURESPA_API double wasserstein_similarity(const std::vector<double>& p, const std::vector<double>& q);
// sum_k p_k * (first_option_id + k): the expected option id.
CULTURESPA_API double expected_option_id(const std::vector<double>& p, int first_option_id);

// Spearman's rank correlation (Pearson's on average ranks; ties share a rank).
// NaN when a side is constant; ValueError when sizes differ or n < 2.
CULTURESPA_API double spearman_correlation(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace culturespa

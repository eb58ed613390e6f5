#include "culturespa/survey/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>

#include "culturespa/core/error.h"

namespace culturespa {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// sum (m - g)^2 and sum (n - 1)^2 over the items picked by `index`.
struct Sums {
  double distance = 0;
  double maximum = 0;
  void add(const AlignmentItem& item) {
    const double d = item.model - item.gold;
    const double span = item.option_count - 1;
    distance += d * d;
    maximum += span * span;
  }
  double score() const { return maximum > 0 ? 1.0 - std::sqrt(distance) / std::sqrt(maximum) : kNaN; }
};

void check_items(const std::vector<AlignmentItem>& items) {
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].option_count < 1) {
      throw ValueError("alignment item " + std::to_string(i) + ": option count " +
                       std::to_string(items[i].option_count) + " is below 1");
    }
  }
}

double percentile(std::vector<double> sorted_values, double q) {
  if (sorted_values.empty()) return kNaN;
  const double at = q * static_cast<double>(sorted_values.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(at));
  const std::size_t above = std::min(below + 1, sorted_values.size() - 1);
  return sorted_values[below] + (at - static_cast<double>(below)) * (sorted_values[above] - sorted_values[below]);
}

void check_bootstrap(const BootstrapOptions& options) {
  if (!(options.level > 0 && options.level < 1)) {
    throw ValueError("bootstrap level " + std::to_string(options.level) + " is not inside (0, 1)");
  }
}

ConfidenceInterval interval(double estimate, std::vector<double> resampled, double level) {
  resampled.erase(std::remove_if(resampled.begin(), resampled.end(), [](double v) { return std::isnan(v); }),
                  resampled.end());
  std::sort(resampled.begin(), resampled.end());
  return {estimate, percentile(resampled, (1 - level) / 2), percentile(resampled, (1 + level) / 2)};
}


void check_same_size(const std::vector<double>& p, const std::vector<double>& q) {
  if (p.size() != q.size() || p.empty()) {
    throw ValueError("distributions over " + std::to_string(p.size()) + " and " + std::to_string(q.size()) +
                     " options cannot be compared");
  }
}

std::vector<double> average_ranks(const std::vector<double>& x) {
  std::vector<std::size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
  std::vector<double> ranks(x.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
    const double rank = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (std::size_t k = i; k <= j; ++k) ranks[order[k]] = rank;
    i = j + 1;
  }
  return ranks;
}

}  // namespace

std::vector<double> distribution_normalise(const std::vector<double>& p, const char* name) {
  double total = 0;
  for (std::size_t k = 0; k < p.size(); ++k) {
    if (!std::isfinite(p[k]) || p[k] < 0) {
      throw ValueError(std::string("distribution ") + name + ": value " + std::to_string(p[k]) + " at option index " +
                       std::to_string(k) + " is negative or not finite");
    }
    total += p[k];
  }
  if (!(total > 0)) throw ValueError(std::string("distribution ") + name + " sums to 0");
  std::vector<double> out(p);
  for (double& v : out) v /= total;
  return out;
}

double alignment_score(const std::vector<AlignmentItem>& items) {
  if (items.empty()) return kNaN;
  check_items(items);
  Sums sums;
  for (const auto& item : items) sums.add(item);
  if (sums.maximum <= 0) throw ValueError("alignment score: every question has a single option");
  return sums.score();
}

double alignment_random_baseline(const std::vector<AlignmentItem>& items) {
  if (items.empty()) return kNaN;
  check_items(items);
  // probability[s]: P(sum of squared distances so far == s).
  std::vector<double> probability{1.0};
  double maximum = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const AlignmentItem& item = items[i];
    const int gold_index = item.gold - item.first_option_id;
    if (gold_index < 0 || gold_index >= item.option_count) {
      throw ValueError("alignment item " + std::to_string(i) + ": gold " + std::to_string(item.gold) +
                       " is not an option id (" + std::to_string(item.first_option_id) + ".." +
                       std::to_string(item.first_option_id + item.option_count - 1) + ")");
    }
    const int n = item.option_count;
    const int far = std::max(gold_index, n - 1 - gold_index);
    std::vector<double> next(probability.size() + static_cast<std::size_t>(far * far), 0.0);
    for (std::size_t s = 0; s < probability.size(); ++s) {
      if (probability[s] == 0) continue;
      const double share = probability[s] / n;
      for (int k = 0; k < n; ++k) next[s + static_cast<std::size_t>((k - gold_index) * (k - gold_index))] += share;
    }
    probability.swap(next);
    maximum += static_cast<double>(n - 1) * (n - 1);
  }
  if (maximum <= 0) throw ValueError("alignment score: every question has a single option");
  double expected = 0;
  for (std::size_t s = 0; s < probability.size(); ++s) {
    expected += probability[s] * (1.0 - std::sqrt(static_cast<double>(s)) / std::sqrt(maximum));
  }
  return expected;
}

ConfidenceInterval alignment_bootstrap(const std::vector<AlignmentItem>& items, const BootstrapOptions& options) {
  check_bootstrap(options);
  const double estimate = alignment_score(items);
  if (items.empty() || options.samples == 0) return {estimate, kNaN, kNaN};
  std::mt19937_64 random(options.seed);
  std::uniform_int_distribution<std::size_t> pick(0, items.size() - 1);
  std::vector<double> resampled(options.samples);
  for (double& value : resampled) {
    Sums sums;
    for (std::size_t i = 0; i < items.size(); ++i) sums.add(items[pick(random)]);
    value = sums.score();
  }
  return interval(estimate, std::move(resampled), options.level);
}

ConfidenceInterval bootstrap_counts(std::size_t n,
                                    const std::function<double(const std::vector<std::size_t>& counts)>& statistic,
                                    const BootstrapOptions& options) {
  check_bootstrap(options);
  const double estimate = statistic(std::vector<std::size_t>(n, 1));
  if (n == 0 || options.samples == 0) return {estimate, kNaN, kNaN};
  std::mt19937_64 random(options.seed);
  std::uniform_int_distribution<std::size_t> pick(0, n - 1);
  std::vector<double> resampled(options.samples);
  std::vector<std::size_t> counts(n);
  for (double& value : resampled) {
    std::fill(counts.begin(), counts.end(), 0);
    for (std::size_t i = 0; i < n; ++i) ++counts[pick(random)];
    value = statistic(counts);
  }
  return interval(estimate, std::move(resampled), options.level);
}

PairedDifference alignment_paired_difference(const std::vector<AlignmentItem>& a,
                                             const std::vector<AlignmentItem>& b,
                                             const BootstrapOptions& options) {
  check_bootstrap(options);
  if (a.size() != b.size()) {
    throw ValueError("paired difference: the runs have " + std::to_string(a.size()) + " and " +
                     std::to_string(b.size()) + " questions");
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].gold != b[i].gold || a[i].option_count != b[i].option_count) {
      throw ValueError("paired difference: question " + std::to_string(i) + " differs in gold or options");
    }
  }
  PairedDifference result;
  result.questions = a.size();
  const double estimate = alignment_score(b) - alignment_score(a);
  if (a.empty() || options.samples == 0) {
    result.difference = {estimate, kNaN, kNaN};
    result.share_b_better = kNaN;
    return result;
  }
  std::mt19937_64 random(options.seed);
  std::uniform_int_distribution<std::size_t> pick(0, a.size() - 1);
  std::vector<double> resampled(options.samples);
  std::size_t b_better = 0;
  for (double& value : resampled) {
    Sums sums_a, sums_b;
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::size_t k = pick(random);
      sums_a.add(a[k]);
      sums_b.add(b[k]);
    }
    value = sums_b.score() - sums_a.score();
    b_better += value > 0;
  }
  result.share_b_better = static_cast<double>(b_better) / static_cast<double>(options.samples);
  result.difference = interval(estimate, std::move(resampled), options.level);
  return result;
}

double jensen_shannon_divergence(const std::vector<double>& p_in, const std::vector<double>& q_in) {
  check_same_size(p_in, q_in);
  const auto p = distribution_normalise(p_in, "p");
  const auto q = distribution_normalise(q_in, "q");
  double divergence = 0;
  for (std::size_t k = 0; k < p.size(); ++k) {
    const double m = (p[k] + q[k]) / 2;
    if (p[k] > 0) divergence += 0.5 * p[k] * std::log2(p[k] / m);
    if (q[k] > 0) divergence += 0.5 * q[k] * std::log2(q[k] / m);
  }
  return std::max(0.0, divergence);  // rounding can leave a tiny negative value
}

double js_similarity(const std::vector<double>& p, const std::vector<double>& q) {
  return 1.0 - std::sqrt(jensen_shannon_divergence(p, q));
}

double wasserstein_similarity(const std::vector<double>& p_in, const std::vector<double>& q_in) {
  check_same_size(p_in, q_in);
  const auto p = distribution_normalise(p_in, "p");
  const auto q = distribution_normalise(q_in, "q");
  if (p.size() == 1) return 1.0;
  double cdf_p = 0, cdf_q = 0, distance = 0;
  for (std::size_t k = 0; k + 1 < p.size(); ++k) {
    cdf_p += p[k];
    cdf_q += q[k];
    distance += std::fabs(cdf_p - cdf_q);
  }
  return 1.0 - distance / static_cast<double>(p.size() - 1);
}

double expected_option_id(const std::vector<double>& p_in, int first_option_id) {
  const auto p = distribution_normalise(p_in, "p");
  double expected = 0;
  for (std::size_t k = 0; k < p.size(); ++k) expected += p[k] * (first_option_id + static_cast<double>(k));
  return expected;
}

double spearman_correlation(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size() || x.size() < 2) {
    throw ValueError("spearman correlation needs two lists of the same length >= 2 (got " +
                     std::to_string(x.size()) + " and " + std::to_string(y.size()) + ")");
  }
  const auto rx = average_ranks(x);
  const auto ry = average_ranks(y);
  const double n = static_cast<double>(x.size());
  const double mean = (n + 1) / 2;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < rx.size(); ++i) {
    sxy += (rx[i] - mean) * (ry[i] - mean);
    sxx += (rx[i] - mean) * (rx[i] - mean);
    syy += (ry[i] - mean) * (ry[i] - mean);
  }
  if (sxx == 0 || syy == 0) return kNaN;
  return sxy / std::sqrt(sxx * syy);
}

}  // namespace culturespa

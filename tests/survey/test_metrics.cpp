#include "culturespa/core/error.h"
#include "culturespa/survey/metrics.h"

#include "support.h"

#include <cmath>
#include <functional>

using namespace culturespa;

TEST_CASE("alignment score is one Euclidean distance over all questions") {
  // m = (1, 3), g = (2, 3), n = (4, 5): 1 - sqrt(1) / sqrt(9 + 16) = 0.8
  const std::vector<AlignmentItem> items = {{1, 2, 4}, {3, 3, 5}};
  CHECK(alignment_score(items) == Approx(0.8));
  // not the mean of per-question scores (that would be (1 - 1/3 + 1) / 2)
  CHECK(alignment_score(items) != Approx((2.0 / 3.0 + 1.0) / 2.0));
  CHECK(std::isnan(alignment_score({})));
  CHECK_THROWS_AS(alignment_score({{1, 1, 0}}), ValueError);
  CHECK_THROWS_AS(alignment_score({{1, 1, 1}}), ValueError);
}

TEST_CASE("the random baseline equals brute-force enumeration") {
  const std::vector<AlignmentItem> items = {{0, 1, 4, 1}, {0, 0, 3, 0}, {0, 2, 2, 1}, {0, 7, 10, 1}};
  double total = 0;
  std::size_t count = 0;
  std::vector<int> pick(items.size());
  std::function<void(std::size_t)> walk = [&](std::size_t i) {
    if (i == items.size()) {
      std::vector<AlignmentItem> drawn = items;
      for (std::size_t k = 0; k < items.size(); ++k) drawn[k].model = items[k].first_option_id + pick[k];
      total += alignment_score(drawn);
      ++count;
      return;
    }
    for (int k = 0; k < items[i].option_count; ++k) {
      pick[i] = k;
      walk(i + 1);
    }
  };
  walk(0);
  CHECK(alignment_random_baseline(items) == Approx(total / count).epsilon(1e-12));
  CHECK_THROWS_AS(alignment_random_baseline({{0, 5, 4, 1}}), ValueError);
}

TEST_CASE("bootstrap intervals are seeded and hold the estimate") {
  std::vector<AlignmentItem> items;
  for (int i = 0; i < 60; ++i) items.push_back({double(1 + i % 4), 1 + (i * 7) % 4, 4});
  const auto a = alignment_bootstrap(items, {500, 7});
  const auto b = alignment_bootstrap(items, {500, 7});
  const auto c = alignment_bootstrap(items, {500, 8});
  CHECK(a.estimate == Approx(alignment_score(items)));
  CHECK(a.low == b.low);
  CHECK(a.high == b.high);
  CHECK(a.low != c.low);
  CHECK(a.low < a.estimate);
  CHECK(a.estimate < a.high);
  const auto none = alignment_bootstrap(items, {0, 7});
  CHECK(std::isnan(none.low));
  CHECK_THROWS_AS(alignment_bootstrap(items, {10, 0, 1.5}), ValueError);
}

TEST_CASE("paired difference of two runs") {
  std::vector<AlignmentItem> a, b;
  for (int i = 0; i < 80; ++i) {
    const int gold = 1 + (i * 5) % 4;
    a.push_back({double(1 + (i * 3) % 4), gold, 4});  // mostly wrong
    b.push_back({double(i % 5 == 0 ? 1 + (gold % 4) : gold), gold, 4});  // mostly right
  }
  const auto d = alignment_paired_difference(a, b, {400, 1});
  CHECK(d.difference.estimate == Approx(alignment_score(b) - alignment_score(a)));
  CHECK(d.difference.low > 0);
  CHECK(d.share_b_better == Approx(1.0));
  CHECK(d.questions == 80);
  const auto same = alignment_paired_difference(a, a, {100, 1});
  CHECK(same.difference.estimate == 0);
  CHECK(same.share_b_better == 0);
  b.pop_back();
  CHECK_THROWS_AS(alignment_paired_difference(a, b), ValueError);
}

TEST_CASE("distribution measures") {
  CHECK(js_similarity({1, 0}, {0, 1}) == Approx(0.0));
  CHECK(js_similarity({0.2, 0.8}, {2, 8}) == Approx(1.0));
  // p = (1, 0), q = (1/2, 1/2): JSD = 1/2 (1 log2(1/0.75)) + 1/2 (1/2 log2(2/3) + 1/2 log2(2))
  const double jsd = 0.5 * std::log2(1 / 0.75) + 0.25 * std::log2(0.5 / 0.75) + 0.25 * std::log2(2.0);
  CHECK(js_similarity({1, 0}, {0.5, 0.5}) == Approx(1 - std::sqrt(jsd)));
  CHECK(wasserstein_similarity({1, 0, 0, 0}, {0, 0, 0, 1}) == Approx(0.0));
  CHECK(wasserstein_similarity({1, 0, 0}, {0, 1, 0}) == Approx(0.5));
  CHECK(wasserstein_similarity({0.5, 0.5, 0}, {0, 0.5, 0.5}) == Approx(0.5));
  CHECK(wasserstein_similarity({3}, {1}) == 1.0);
  CHECK(expected_option_id({1, 1, 2}, 1) == Approx(0.25 * 1 + 0.25 * 2 + 0.5 * 3));
  CHECK(expected_option_id({1, 1, 2}, 0) == Approx(0.25 * 0 + 0.25 * 1 + 0.5 * 2));
  CHECK_THROWS_AS(js_similarity({1, 0}, {1, 0, 0}), ValueError);
  CHECK_THROWS_AS(js_similarity({-1, 2}, {1, 1}), ValueError);
  CHECK_THROWS_AS(wasserstein_similarity({0, 0}, {1, 1}), ValueError);
}

TEST_CASE("spearman correlation with ties") {
  CHECK(spearman_correlation({1, 2, 3, 4}, {10, 20, 30, 40}) == Approx(1.0));
  CHECK(spearman_correlation({1, 2, 3, 4}, {4, 3, 2, 1}) == Approx(-1.0));
  // x ranks (1, 2.5, 2.5, 4), y ranks (1, 3, 2, 4): Pearson of ranks = 4.5 / sqrt(4.5 * 5)
  CHECK(spearman_correlation({1, 2, 2, 3}, {1, 3, 2, 4}) == Approx(4.5 / std::sqrt(4.5 * 5.0)));
  CHECK(std::isnan(spearman_correlation({1, 1, 1}, {1, 2, 3})));
  CHECK_THROWS_AS(spearman_correlation({1}, {1}), ValueError);
}

// Unit tests of the generator's pure parts (lib/generator/): option-scoring
// planning and prefix grouping, on token ids alone (no model).
#include "generator/option_scoring.h"
#include "generator/prefix_groups.h"

#include "support.h"  // after the headers: LibTorch's glog CHECK would replace Catch2's

#include <cmath>

using namespace culturespa;
using namespace culturespa::generator_detail;

namespace {

using Parts = std::vector<std::pair<std::size_t, std::size_t>>;

// A prompt {1, 2, 3} whose labels answer with the given tokens.
OptionPrompt prompt_with(const std::vector<std::string>& labels, const std::vector<std::vector<int>>& answers) {
  OptionPrompt prompt;
  prompt.ids = {1, 2, 3};
  prompt.labels = labels;
  for (const auto& answer : answers) {
    std::vector<int> answered = prompt.ids;
    answered.insert(answered.end(), answer.begin(), answer.end());
    prompt.answered.push_back(answered);
  }
  return prompt;
}

}  // namespace

TEST_CASE("one-token labels are read from one row at the answer position") {
  const OptionScorePlan plan = option_scores_plan({prompt_with({"1", "2"}, {{10}, {11}})}, 64);
  REQUIRE(plan.rows.size() == 1);
  CHECK((plan.rows[0].tokens == std::vector<int>{1, 2, 3}));
  CHECK((plan.rows[0].positions == std::vector<int64_t>{2}));
  CHECK((plan.rows[0].targets == std::vector<std::vector<int>>{{10, 11}}));
  CHECK((plan.main_rows == std::vector<std::size_t>{0}));
  CHECK((plan.parts[0][0] == Parts{{0, 0}}));
  CHECK((plan.parts[0][1] == Parts{{0, 1}}));
  CHECK((plan.label_tokens[0] == std::vector<std::vector<int>>{{10}, {11}}));
}

TEST_CASE("a label extending another is read along the main row's path") {
  // "1" = [10], "10" = [10, 20], "2" = [11]: the path [10] covers all three.
  const OptionScorePlan plan = option_scores_plan({prompt_with({"1", "10", "2"}, {{10}, {10, 20}, {11}})}, 64);
  REQUIRE(plan.rows.size() == 1);
  CHECK((plan.rows[0].tokens == std::vector<int>{1, 2, 3, 10}));
  CHECK((plan.rows[0].positions == std::vector<int64_t>{2, 3}));
  CHECK((plan.rows[0].targets == std::vector<std::vector<int>>{{10, 11}, {20}}));
  CHECK((plan.parts[0][0] == Parts{{0, 0}}));
  CHECK((plan.parts[0][1] == Parts{{0, 0}, {0, 2}}));  // offset 2: the first target of position 1
  CHECK((plan.parts[0][2] == Parts{{0, 1}}));
}

TEST_CASE("labels off the path get rows of their own, with the prompt's adapter") {
  OptionPrompt prompt = prompt_with({"a", "b"}, {{10, 20}, {11, 30}});
  prompt.adapter = "culture";
  const OptionScorePlan plan = option_scores_plan({prompt, prompt_with({"x"}, {{12}})}, 64);
  REQUIRE(plan.rows.size() == 3);
  CHECK((plan.rows[0].tokens == std::vector<int>{1, 2, 3, 10}));
  CHECK((plan.rows[1].tokens == std::vector<int>{1, 2, 3, 11}));
  CHECK((plan.rows[1].positions == std::vector<int64_t>{2, 3}));
  CHECK((plan.rows[1].targets == std::vector<std::vector<int>>{{11}, {30}}));
  CHECK(plan.rows[0].adapter == "culture");
  CHECK(plan.rows[1].adapter == "culture");
  CHECK(plan.rows[2].adapter.empty());
  CHECK((plan.parts[0][1] == Parts{{1, 0}, {1, 1}}));
  CHECK((plan.main_rows == std::vector<std::size_t>{0, 2}));
}

TEST_CASE("planning rejects labels that cannot be scored, naming the prompt and label") {
  CHECK_THROWS_WITH(option_scores_plan({prompt_with({}, {})}, 64),
                    Catch::Contains("prompt 0 has no labels"));
  CHECK_THROWS_WITH(option_scores_plan({prompt_with({"1", ""}, {{10}, {}})}, 64),
                    Catch::Contains("prompt 0 has an empty label"));
  CHECK_THROWS_WITH(option_scores_plan({prompt_with({"1", "one"}, {{10}, {10}})}, 64),
                    Catch::Contains("labels '1' and 'one' of prompt 0 encode to the same tokens"));
  CHECK_THROWS_WITH(option_scores_plan({prompt_with({"1"}, {{10, 11, 12}})}, 5),
                    Catch::Contains("beyond the model's context of 5"));
  OptionPrompt empty;
  empty.labels = {"1"};
  empty.answered = {{10}};
  CHECK_THROWS_WITH(option_scores_plan({empty}, 64), Catch::Contains("encodes to no tokens"));
}

TEST_CASE("combining sums each label's pieces and normalises over the labels") {
  const OptionScorePlan plan = option_scores_plan({prompt_with({"1", "10", "2"}, {{10}, {10, 20}, {11}})}, 64);
  // Row 0's values: P(10) = 0.5, P(11) = 0.2 at position 0; P(20 | 10) = 0.5.
  const OptionScores scores = option_scores_combine(plan, {{std::log(0.5), std::log(0.2), std::log(0.5)}}, {7});
  REQUIRE(scores.logprobs.size() == 1);
  CHECK(scores.logprobs[0][1] == Approx(std::log(0.25)));
  CHECK(scores.allowed_mass[0] == Approx(0.95));
  CHECK(scores.probs[0][0] == Approx(0.5 / 0.95));
  CHECK(scores.argmax[0] == 0);
  CHECK((scores.reused_tokens == std::vector<int64_t>{7}));
  CHECK(scores.label_tokens == plan.label_tokens);
}

TEST_CASE("prefix grouping shares the start rows have in common") {
  const std::vector<int> a{1, 2, 3, 4}, b{1, 2, 3, 5}, c{9, 9};
  const std::vector<const std::vector<int>*> rows{&a, &b, &c};
  const std::vector<int64_t> limit{3, 3, 1};
  const auto groups = rows_group(rows, limit, true, 2, {});
  REQUIRE(groups.size() == 2);
  CHECK((groups[0].members == std::vector<std::size_t>{0, 1}));
  CHECK(groups[0].prefix == 3);
  CHECK((groups[1].members == std::vector<std::size_t>{2}));
  CHECK(groups[1].prefix == 0);

  // Without reuse, or with different adapters, nothing is shared; rows by length.
  for (const auto& ungrouped : {rows_group(rows, limit, false, 2, {}), rows_group(rows, limit, true, 2, {"x", "y", ""})}) {
    REQUIRE(ungrouped.size() == 1);
    CHECK((ungrouped[0].members == std::vector<std::size_t>{2, 0, 1}));
    CHECK(ungrouped[0].prefix == 0);
  }
  CHECK(common_prefix(a, b) == 3);
}

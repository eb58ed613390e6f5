#include "culturespa/core/error.h"
#include "culturespa/pipeline/question_filter.h"

#include <algorithm>

#include "support.h"

using namespace culturespa;

namespace {

Question make(const std::string& id, const std::string& text, std::vector<std::string> options,
              const std::string& topic = "T") {
  Question q;
  q.id = id;
  q.text = text;
  q.options = std::move(options);
  q.topic = topic;
  return q;
}

std::vector<Question> read_bank(const std::filesystem::path& path) { return question_bank_load(path.string()); }

const Question& find(const std::vector<Question>& qs, const std::string& id) {
  for (const auto& q : qs)
    if (q.id == id) return q;
  FAIL("question " << id << " not kept");
  throw 0;
}

bool has(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

TEST_CASE("filter: reference rules on the reference's 13,000 generated questions give 12,847") {
  CULTURESPA_REQUIRE_SHARED(shared);
  std::vector<std::vector<Question>> topics;
  for (int k = 0; k < 13; ++k)
    topics.push_back(read_bank(shared / "reference-runs/llama3-8b-instruct/generated-questions" /
                               ("generated_questions_topic_" + std::to_string(k) + "_from_all_seed.json")));
  const auto generated = questions_merge_renumber(topics);
  REQUIRE(generated.size() == 13000);
  CHECK(generated[1000].id == "Q1000");
  const auto seeds = survey_load_wvs7((shared / "wvs").string()).questions();
  REQUIRE(seeds.size() == 291);

  const auto result = QuestionFilter().apply(generated, seeds);
  const auto& report = result.report;
  CHECK(report.input == 13000);
  CHECK(report.step(filter_step::too_few_options).removed == 0);
  CHECK(report.step(filter_step::exact_duplicate).remaining == 12891);
  CHECK(report.step(filter_step::bare_number_options).remaining == 12860);
  CHECK(report.step(filter_step::bare_number_options).removed == 31);
  const auto& numbered = report.step(filter_step::numbered_options);
  CHECK(numbered.remaining == 12847);
  CHECK(numbered.removed == 13);
  CHECK(numbered.rewritten == 2833 + 23);
  CHECK(result.questions.size() == 12847);
  CHECK(report.kept == 12847);
  CHECK(report.duplicate_option_ids.size() == 43);  // kept, as the reference keeps them

  // Per-topic counts add up.
  std::size_t per_topic = 0;
  for (const auto& [topic, n] : report.step(filter_step::exact_duplicate).removed_per_topic) per_topic += n;
  CHECK(per_topic == 109);

  // Individual decisions, checked against the data.
  CHECK(has(report.step(filter_step::exact_duplicate).removed_ids, "Q622"));
  CHECK(has(report.step(filter_step::bare_number_options).removed_ids, "Q3128"));
  CHECK(find(result.questions, "Q1072").options ==
        std::vector<std::string>{"Not at all", "Somewhat", "Moderately", "Quite a lot", "Almost completely"});
  CHECK(find(result.questions, "Q1036").options ==
        std::vector<std::string>{"Rarely or never", "Occasionally", "About half the time", "Often",
                                 "Almost always"});
  const auto& card = find(result.questions, "Q1616");
  CHECK(card.options == std::vector<std::string>{"1", "2", "3", "4", "5"});
  const std::string suffix =
      "? Using this card on which 1 means 'Not important at all' and 5 means 'Very important'";
  REQUIRE(card.text.size() > suffix.size());
  CHECK(card.text.substr(card.text.size() - suffix.size()) == suffix);
  // The number-range question is left as it is.
  CHECK(find(result.questions, "Q1879").options ==
        std::vector<std::string>{"1-3: Too slow", "4-6: Just right", "7-8: Too fast", "9-10: Extremely fast"});

  // Near-duplicate removal takes more away on top.
  QuestionFilterOptions options;
  options.near_duplicate_threshold = 0.8;
  const auto strict = QuestionFilter(options).apply(generated, seeds);
  CHECK(strict.report.step(filter_step::near_duplicate).removed > 0);
  CHECK(strict.questions.size() == 12847 - strict.report.step(filter_step::near_duplicate).removed);
}

TEST_CASE("filter: the reference rules one by one") {
  const std::vector<Question> seeds{make("Q1", "How important is family in your life?", {"Very", "Not"})};
  const std::vector<Question> gen{
      make("Q0", "How important is family in your life?", {"a", "b"}),            // repeats a seed
      make("Q1", "A new question?", {"a", "b"}),
      make("Q2", "A new question?", {"c", "d"}),                                 // repeats Q1
      make("Q3", "How much?", {"1", "2", "3"}),                                  // bare numbers, no scale
      make("Q4", "On a scale of 1 to 3, how much?", {"1", "2", "3"}),            // bare numbers with a scale
      make("Q5", "Numbered?", {"1. Yes", "2 - No", "3 (Maybe)"}),                // 3a
      make("Q6", "Card?", {"1 - Never", "2", "3", "4 - Always)"}),               // 3b
      make("Q7", "Refuse?", {"1 - Never", "2", "3 - I refuse"}),                 // 3b, refuse: dropped
      make("Q8", "Middle?", {"1 - Never", "2 - Sometimes", "3", "4 - Always"}),  // 3b, numbered middle: dropped
      make("Q9", "One option?", {"only"}),                                       // too few options
      make("Q10", "No options?", {}),
  };
  const auto result = QuestionFilter().apply(gen, seeds);
  std::vector<std::string> kept;
  for (const auto& q : result.questions) kept.push_back(q.id);
  CHECK(kept == std::vector<std::string>{"Q1", "Q4", "Q5", "Q6"});
  CHECK(result.report.step(filter_step::too_few_options).removed_ids == std::vector<std::string>{"Q9", "Q10"});
  CHECK(result.questions[2].options == std::vector<std::string>{"Yes", "No", "Maybe"});
  CHECK(result.questions[3].options == std::vector<std::string>{"1", "2", "3", "4"});
  CHECK(result.questions[3].text == "Card? Using this card on which 1 means 'Never' and 4 means 'Always'");
}

TEST_CASE("filter: options beyond the reference") {
  const std::vector<Question> gen{
      make("Q0", "How much do you trust your neighbours in daily life?", {"a", "b"}, "Trust"),
      make("Q1", "How much do you trust your neighbours in daily life today?", {"a", "b"}, "Trust"),
      make("Q2", "Is work important?", {"a", "b", "c", "d", "e", "f"}, "Work"),
      make("Q3", "Is play important?", {"x", "x"}, "Work"),
  };
  QuestionFilterOptions options;
  options.near_duplicate_threshold = 0.6;
  options.max_options = 5;
  options.drop_duplicate_options = true;
  const auto result = QuestionFilter(options).apply(gen);
  REQUIRE(result.questions.size() == 1);
  CHECK(result.questions[0].id == "Q0");
  CHECK(result.report.step(filter_step::near_duplicate).removed_per_topic.at("Trust") == 1);
  CHECK(result.report.step(filter_step::option_count).removed_ids == std::vector<std::string>{"Q2"});
  CHECK(result.report.step(filter_step::duplicate_options).removed_ids == std::vector<std::string>{"Q3"});
  CHECK_THROWS_AS(result.report.step("no such step"), ValueError);

  options = {};
  options.near_duplicate_threshold = 1.5;
  CHECK_THROWS_AS(QuestionFilter(options), ValueError);
  CHECK_THROWS_AS(QuestionFilter().apply({gen[0], gen[0]}), ValueError);  // repeated id
}

#include "culturespa/core/error.h"
#include "culturespa/pipeline/contrast.h"
#include "culturespa/pipeline/stage_files.h"

#include <algorithm>
#include <cmath>

#include "support.h"

using namespace culturespa;

namespace {

Question make(const std::string& id, std::size_t options, const std::string& topic = "T") {
  Question q;
  q.id = id;
  q.text = "Question " + id + "?";
  for (std::size_t i = 0; i < options; ++i) q.options.push_back("option " + std::to_string(i + 1));
  q.topic = topic;
  return q;
}

AnswerSet replies(const std::string& culture, std::vector<std::pair<std::string, std::string>> items) {
  AnswerSet set;
  set.culture = culture;
  for (auto& [id, reply] : items) set.answers.push_back(ModelAnswer{id, reply, {}});
  return set;
}

}  // namespace

TEST_CASE("contrast: reference rule on the real Llama-3-8B WVS runs") {
  CULTURESPA_REQUIRE_SHARED(shared);
  const auto dir = shared / "reference-runs/llama3-8b-instruct/wvs";
  const auto unaware_file = answer_file_load((dir / "wvs_result_culture_unaware_0.json").string());
  REQUIRE(unaware_file.answers.size() == 259);
  REQUIRE(unaware_file.questions.size() == 259);
  const AnswerSet unaware{"", unaware_file.answers};
  std::vector<AnswerSet> aware;
  for (const char* code : {"USA", "BOL", "KEN", "NZL"}) {
    const auto path = (dir / ("wvs_result_culture_aware_" + std::string(code) + "_0.json")).string();
    CHECK(culture_from_file_name(path) == code);
    aware.push_back(AnswerSet{code, answer_file_load(path).answers});
  }
  // Reversed order on one side must not matter: answers are matched by id.
  std::reverse(aware[2].answers.begin(), aware[2].answers.end());

  const auto result = ContrastDetector().detect(unaware_file.questions, unaware, aware);
  const auto& usa = result.report.culture("USA").counts;
  CHECK(usa.compared == 259);
  CHECK(usa.valid == 253);
  CHECK(usa.same == 203);
  CHECK(usa.different == 50);
  CHECK(result.report.culture("BOL").counts.different == 92);
  CHECK(result.report.culture("KEN").counts.valid == 254);
  CHECK(result.report.culture("KEN").counts.different == 86);
  CHECK(result.report.culture("NZL").counts.different == 69);
  CHECK(result.pairs.size() == 50 + 92 + 86 + 69);
  CHECK(result.report.total.different == result.pairs.size());
  for (const auto& p : result.pairs) {
    CHECK(p.aware_answer != p.unaware_answer);
    CHECK(p.rule == ContrastRule::reference);
  }
}

TEST_CASE("contrast: reference rule decisions, missing ids, bad input") {
  const std::vector<Question> questions{make("Q1", 4, "A"), make("Q2", 4, "A"), make("Q3", 4, "B"),
                                        make("Q4", 4, "B")};
  const auto unaware = replies("", {{"Q1", "1"}, {"Q2", "2. Rather"}, {"Q3", "I cannot say"}, {"Q4", "16"}});
  const auto ken = replies("KEN", {{"Q4", "3"}, {"Q3", "3"}, {"Q2", "I pick 3"}, {"Q1", "1"}});
  const auto usa = replies("USA", {{"Q2", "2"}, {"Q9", "1"}});
  const auto result = ContrastDetector().detect(questions, unaware, {ken, usa});
  REQUIRE(result.pairs.size() == 1);
  CHECK(result.pairs[0].question.id == "Q2");
  CHECK(result.pairs[0].culture == "KEN");
  CHECK(result.pairs[0].aware_answer == 3);
  CHECK(result.pairs[0].unaware_answer == 2);
  const auto& k = result.report.culture("KEN");
  CHECK(k.counts.compared == 4);
  CHECK(k.counts.valid == 2);
  CHECK(k.counts.same == 1);
  CHECK(k.counts.different == 1);
  CHECK(k.counts.invalid == 2);
  CHECK(k.per_topic.at("A").different == 1);
  CHECK(k.per_topic.at("B").invalid == 2);
  const auto& u = result.report.culture("USA");
  CHECK(u.missing_ids == std::vector<std::string>{"Q1", "Q3", "Q4"});
  CHECK(u.extra_ids == std::vector<std::string>{"Q9"});
  CHECK(u.counts.same == 1);

  CHECK_THROWS_AS(ContrastDetector().detect(questions, unaware, {}), ValueError);
  CHECK_THROWS_AS(ContrastDetector().detect(questions, unaware, {ken, ken}), ValueError);
  CHECK_THROWS_AS(ContrastDetector().detect(questions, unaware, {replies("", {})}), ValueError);
  CHECK_THROWS_AS(ContrastDetector().detect({questions[0]}, unaware, {ken}), ValueError);
  CHECK_THROWS_AS(ContrastDetector().detect(questions, replies("", {{"Q1", "1"}, {"Q1", "2"}}), {ken}),
                  ValueError);
}

TEST_CASE("contrast: distributional rule") {
  CHECK(jensen_shannon_divergence({1, 0}, {0, 1}) == Approx(1.0));
  CHECK(jensen_shannon_divergence({0.5, 0.5}, {1, 1}) == Approx(0.0).margin(1e-12));
  // 0.5*KL(p||m)+0.5*KL(q||m) for p=(0.9,0.1), q=(0.5,0.5), m=(0.7,0.3).
  const double expected = 0.5 * (0.9 * std::log2(0.9 / 0.7) + 0.1 * std::log2(0.1 / 0.3)) +
                          0.5 * (0.5 * std::log2(0.5 / 0.7) + 0.5 * std::log2(0.5 / 0.3));
  CHECK(jensen_shannon_divergence({0.9, 0.1}, {0.5, 0.5}) == Approx(expected));
  CHECK_THROWS_AS(jensen_shannon_divergence({1, 0}, {1, 0, 0}), ValueError);
  CHECK_THROWS_AS(jensen_shannon_divergence({-1, 2}, {1, 0}), ValueError);

  std::vector<Question> questions{make("Q1", 3), make("Q2", 3), make("Q3", 3)};
  questions[1].zero_based = true;
  AnswerSet unaware{"", {{"Q1", "", {0.6, 0.3, 0.1}}, {"Q2", "", {0.2, 0.7, 0.1}}, {"Q3", "", {1, 0}}}};
  AnswerSet aware{"CHN", {{"Q1", "", {0.5, 0.4, 0.1}}, {"Q2", "", {0.1, 0.2, 0.7}}, {"Q3", "", {0.5, 0.5, 0}}}};
  ContrastOptions options;
  options.rule = ContrastRule::distributional;
  options.jsd_threshold = 0.1;
  const auto result = ContrastDetector(options).detect(questions, unaware, {aware});
  REQUIRE(result.pairs.size() == 1);  // Q1 is too close; Q3's unaware distribution has 2 of 3 options
  const auto& p = result.pairs[0];
  CHECK(p.question.id == "Q2");
  CHECK(p.aware_answer == 2);  // zero-based: index 2
  CHECK(p.unaware_answer == 1);
  CHECK(p.probability == Approx(0.7));
  CHECK(p.score == Approx(jensen_shannon_divergence({0.1, 0.2, 0.7}, {0.2, 0.7, 0.1})));
  CHECK(result.report.culture("CHN").counts.invalid == 1);
  CHECK(result.report.culture("CHN").counts.same == 1);

  options.jsd_threshold = 0.0;
  options.require_argmax_change = true;
  CHECK(ContrastDetector(options).detect(questions, unaware, {aware}).pairs.size() == 1);  // Q1 argmax same
  options.require_argmax_change = false;
  CHECK(ContrastDetector(options).detect(questions, unaware, {aware}).pairs.size() == 2);
}

TEST_CASE("contrast: pairs and reports survive the stage files") {
  const std::vector<Question> questions{make("Q1", 4, "A"), make("Q2", 4, "B")};
  const auto result = ContrastDetector().detect(questions, replies("", {{"Q1", "1"}, {"Q2", "2"}}),
                                                {replies("BRA", {{"Q1", "4"}, {"Q2", "3"}})});
  const auto dir = culturespa::testing::scratch_dir("pipeline-pairs");
  const auto path = (dir / "pairs.jsonl").string();
  contrast_pairs_save(path, result.pairs);
  const auto back = contrast_pairs_load(path);
  REQUIRE(back.size() == 2);
  CHECK(back[1].question.id == "Q2");
  CHECK(back[1].question.topic == "B");
  CHECK(back[1].question.options == questions[1].options);
  CHECK(back[1].aware_answer == 3);
  CHECK(back[1].unaware_answer == 2);
  CHECK(back[1].culture == "BRA");
  CHECK(std::isnan(back[1].probability));
  CHECK(contrast_report_to_json(result.report).find("\"different\": 2") != std::string::npos);

  file_write_atomic(path, "{\"question_id\": \"Q1\"}\n");
  CHECK_THROWS_AS(contrast_pairs_load(path), FormatError);
  file_write_atomic(path, "[{\"answer\": \"1\"}]");
  CHECK_THROWS_AS(answer_file_load(path), FormatError);
  CHECK_THROWS_AS(answer_file_load((dir / "absent.json").string()), FileError);
}

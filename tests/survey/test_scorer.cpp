#include "culturespa/core/error.h"
#include "culturespa/survey/scorer.h"

#include "support.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

using namespace culturespa;
namespace fs = std::filesystem;

namespace {

template <typename E, typename Body>
void require_throws_naming(Body&& body, std::initializer_list<std::string> parts) {
  try {
    body();
  } catch (const E& e) {
    const std::string message = e.what();
    INFO(message);
    for (const auto& part : parts) CHECK(message.find(part) != std::string::npos);
    return;
  }
  FAIL("no exception of the expected type was thrown");
}

// Three questions in two topics, two cultures; AAA has no gold for Q3.
Survey tiny_survey() {
  Survey s;
  s.name = "tiny";
  s.add_culture({"AAA", "Aish", "an"});
  s.add_culture({"BBB", "Bish", "a"});
  s.add_question({"Q1", "One?", {"Very", "Rather", "Not very", "Not at all"}, "Values", false});
  s.add_question({"Q2", "Two?", {"Don't belong", "Inactive", "Active"}, "Values", true});
  s.add_question({"Q3", "Three?", {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}, "Economy", false});
  s.add_question({"Q4", "Year of birth?", {}, "", false}, false);
  s.set_human_answers("AAA", "Q1", {{{2, 0.6}, {1, 0.4}}});
  s.set_human_answers("AAA", "Q2", {{{0, 0.5}, {2, 0.5}}});  // tie: the stored order decides
  s.set_human_answers("AAA", "Q3", {});
  s.set_human_answers("BBB", "Q1", {{{4, 1.0}}});
  s.set_human_answers("BBB", "Q2", {{{1, 0.7}, {0, 0.3}}});
  s.set_human_answers("BBB", "Q3", {{{7, 0.5}, {8, 0.5}}});
  return s;
}

std::vector<RunAnswer> tiny_run() {
  return {{"Q1", "I would choose 1."}, {"Q2", "2.Active"}, {"Q3", "I cannot answer that."}};
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("a culture's score follows the reference formula") {
  const SurveyScorer scorer(tiny_survey(), {ParseMode::reference, 200, 3});
  const CultureScore aaa = scorer.score(tiny_run(), "AAA", "tiny.json");
  // Q1: m 1, g 2, n 4; Q2: m 2, g 0, n 3; Q3 unparsed (and no gold).
  CHECK(aaa.alignment == Approx(100 * (1 - std::sqrt(1.0 + 4.0) / std::sqrt(9.0 + 4.0))));
  CHECK(aaa.counts.answered == 3);
  CHECK(aaa.counts.counted == 2);
  CHECK(aaa.counts.parse_failures == 1);
  CHECK(aaa.counts.failures.at("no_answer") == 1);
  CHECK(aaa.survey_questions == 3);
  REQUIRE(aaa.topics.size() == 2);
  CHECK(aaa.topics[0].topic == "Values");
  CHECK(aaa.topics[0].alignment == Approx(aaa.alignment));
  CHECK(aaa.topics[1].topic == "Economy");
  CHECK(std::isnan(aaa.topics[1].alignment));
  CHECK(aaa.topics[1].counts.parse_failures == 1);
  CHECK(aaa.ci_low <= aaa.alignment);
  CHECK(aaa.alignment <= aaa.ci_high);
  CHECK(aaa.random_baseline ==
        Approx(100 * alignment_random_baseline({{0, 2, 4, 1}, {0, 0, 3, 0}})));
  REQUIRE(aaa.questions.size() == 3);
  CHECK(aaa.questions[2].failure == ParseFailure::no_answer);
  CHECK_FALSE(aaa.questions[2].counted);

  const CultureScore bbb = scorer.score(tiny_run(), "BBB");
  CHECK(bbb.alignment == Approx(100 * (1 - std::sqrt(9.0 + 1.0) / std::sqrt(9.0 + 4.0))));
}

TEST_CASE("robust parsing counts refusals per culture and per topic") {
  const SurveyScorer scorer(tiny_survey(), {ParseMode::robust, 0});
  const auto run = std::vector<RunAnswer>{{"Q1", "Rather"}, {"Q2", "7"}, {"Q3", "I cannot answer that. 1-800-273"}};
  const CultureScore s = scorer.score(run, "BBB");
  CHECK(s.counts.counted == 1);
  CHECK(s.counts.failures.at("not_an_option") == 1);
  CHECK(s.counts.failures.at("refusal") == 1);
  CHECK(s.topics[1].counts.failures.at("refusal") == 1);
  CHECK(s.alignment == Approx(100 * (1 - 2.0 / 3.0)));
  CHECK(std::isnan(s.ci_low));
  // reference mode reads the same replies differently: 7 and the phone number count
  const CultureScore r = SurveyScorer(tiny_survey(), {ParseMode::reference, 0}).score(run, "BBB");
  CHECK(r.counts.counted == 2);
}

TEST_CASE("a partial run is scored on what it has") {
  const SurveyScorer scorer(tiny_survey(), {ParseMode::reference, 0});
  const CultureScore s = scorer.score({{"Q1", "1"}}, "AAA");
  CHECK(s.counts.answered == 1);
  CHECK(s.counts.counted == 1);
  CHECK(s.survey_questions == 3);
  CHECK(s.alignment == Approx(100 * (1 - 1.0 / 3.0)));
  const CultureScore empty = scorer.score({}, "AAA");
  CHECK(std::isnan(empty.alignment));
  const ScoreReport report = score_report({s, empty}, "x", ParseMode::reference);
  CHECK(report.average == Approx(s.alignment));
}

TEST_CASE("bad runs and cultures are named") {
  const SurveyScorer scorer(tiny_survey());
  require_throws_naming<FormatError>([&] { scorer.score({{"Q9", "1"}}, "AAA", "run.json"); },
                                     {"run.json", "item 0", "Q9"});
  require_throws_naming<FormatError>([&] { scorer.score({{"Q1", "1"}, {"Q4", "1980"}}, "AAA", "run.json"); },
                                     {"run.json", "item 1", "Q4", "not an evaluated"});
  require_throws_naming<FormatError>([&] { scorer.score({{"Q1", "1"}, {"Q1", "2"}}, "AAA", "run.json"); },
                                     {"run.json", "item 1", "Q1"});
  require_throws_naming<ValueError>([&] { scorer.score(tiny_run(), "XYZ"); }, {"XYZ", "AAA"});
  require_throws_naming<FormatError>([] { run_from_json("[{\"Q_id\": \"Q1\", \"answer\": 1", "r.json"); },
                                     {"r.json", "malformed JSON"});
  require_throws_naming<FormatError>([] { run_from_json("{\"Q_id\": \"Q1\"}", "r.json"); }, {"r.json", "list"});
  require_throws_naming<FormatError>([] { run_from_json(R"([{"Q_id": "Q1", "answer": "1"}, {"answer": "2"}])", "r.json"); },
                                     {"r.json", "item 1", "Q_id"});
  require_throws_naming<FormatError>([] { run_from_json(R"([{"Q_id": "Q1"}])", "r.json"); },
                                     {"r.json", "item 0", "Q1", "answer"});
  require_throws_naming<FormatError>([] { run_from_json(R"([{"Q_id": "Q1", "answer": [1]}])", "r.json"); },
                                     {"r.json", "item 0", "answer"});
  require_throws_naming<FormatError>(
      [] { run_from_json(R"([{"Q_id": "Q1", "answer": "1"}, {"Q_id": "Q1", "answer": "2"}])", "r.json"); },
      {"r.json", "item 1", "repeats item 0"});
  require_throws_naming<FileError>([] { run_load("/nonexistent/run.json"); }, {"/nonexistent/run.json"});
  CHECK(run_from_json(R"([{"Q_id": "Q1", "answer": 3, "question": "x"}])").at(0).reply == "3");
}

TEST_CASE("the culture of a run file comes from its name") {
  const Survey s = tiny_survey();
  CHECK(run_culture_from_path("/x/wvs_result_culture_aware_AAA_0.json", s) == "AAA");
  CHECK(run_culture_from_path("run_Bish_1.json", s) == "BBB");
  CHECK_FALSE(run_culture_from_path("wvs_result_culture_unaware_0.json", s).has_value());
  CHECK_FALSE(run_culture_from_path("AAA_run.json", s).has_value());  // not between underscores
  require_throws_naming<ValueError>([&] { run_culture_from_path("x_AAA_BBB_0.json", s); }, {"AAA", "BBB"});
}

TEST_CASE("distribution-level scores") {
  const SurveyScorer scorer(tiny_survey());
  // BBB's people: Q1 all option 4; Q2 (0.3, 0.7, 0) by option index.
  const DistributionScore s = scorer.score_distributions({{"Q1", {0, 0, 0, 1}}, {"Q2", {1, 0, 0}}}, "BBB");
  CHECK(s.counted == 2);
  CHECK(s.js_similarity == Approx(100 * (1 + js_similarity({1, 0, 0}, {0.3, 0.7, 0})) / 2));
  CHECK(s.wasserstein_similarity == Approx(100 * (1 + (1 - 0.7 / 2)) / 2));
  // expected ids 4 and 0 against gold 4 and 1
  CHECK(s.expected_alignment == Approx(100 * (1 - 1.0 / std::sqrt(9.0 + 4.0))));
  require_throws_naming<ValueError>([&] { scorer.score_distributions({{"Q1", {1, 0}}}, "BBB"); }, {"Q1", "2 values"});
  require_throws_naming<ValueError>([&] { scorer.score_distributions({{"Q1", {1, -1, 0, 0}}}, "BBB"); }, {"Q1"});
}

TEST_CASE("paired comparison of two runs") {
  const SurveyScorer scorer(tiny_survey(), {ParseMode::reference, 100, 5});
  const std::vector<RunAnswer> worse = {{"Q1", "1"}, {"Q2", "2"}, {"Q3", "1"}};
  const std::vector<RunAnswer> better = {{"Q1", "4"}, {"Q2", "1"}, {"Q3", "7"}};
  const PairedDifference d = scorer.compare(worse, better, "BBB");
  CHECK(d.questions == 3);
  CHECK(d.difference.estimate == Approx(scorer.score(better, "BBB").alignment - scorer.score(worse, "BBB").alignment));
  CHECK(d.share_b_better > 0.9);
}

TEST_CASE("similarity matrices of gold and model answers") {
  const SurveyScorer scorer(tiny_survey());
  const SimilarityMatrix gold = scorer.gold_similarity();
  REQUIRE(gold.cultures == std::vector<std::string>{"AAA", "BBB"});
  // common gold questions Q1, Q2: (2 vs 4, 0 vs 1)
  CHECK(gold.values[0][1] == Approx(100 * (1 - std::sqrt(4.0 + 1.0) / std::sqrt(9.0 + 4.0))));
  CHECK(gold.values[1][0] == Approx(gold.values[0][1]));
  CHECK(gold.values[0][0] == Approx(100));
  const SimilarityMatrix model =
      scorer.culture_similarity({{"BBB", {{"Q1", "4"}, {"Q3", "2"}}}, {"AAA", {{"Q1", "1"}, {"Q3", "5"}}}});
  REQUIRE(model.cultures == std::vector<std::string>{"AAA", "BBB"});
  CHECK(model.values[0][1] == Approx(100 * (1 - std::sqrt(9.0 + 9.0) / std::sqrt(9.0 + 81.0))));
  SimilarityMatrix three{{"A", "B", "C"}, {{100, 50, 20}, {50, 100, 70}, {20, 70, 100}}};
  SimilarityMatrix same_order{{"C", "B", "A"}, {{100, 9, 1}, {9, 100, 5}, {1, 5, 100}}};
  CHECK(similarity_rank_correlation(three, same_order) == Approx(1.0));
  require_throws_naming<ValueError>([&] { similarity_rank_correlation(three, gold); }, {"pairs"});
}

TEST_CASE("reports as JSON, CSV and Markdown") {
  const SurveyScorer scorer(tiny_survey(), {ParseMode::reference, 0});
  const ScoreReport report = scorer.score_cultures(tiny_run(), {"AAA", "BBB"}, "tiny, run.json");
  const auto json = nlohmann::json::parse(report_to_json(report));
  CHECK(json["cultures"].size() == 2);
  CHECK(json["cultures"][0]["alignment"].get<double>() == Approx(report.cultures[0].alignment));
  CHECK(json["cultures"][0]["ci_low"].is_null());
  CHECK(json["cultures"][0]["counted"] == 2);
  CHECK(json["average"].get<double>() == Approx((report.cultures[0].alignment + report.cultures[1].alignment) / 2));
  const std::string csv = report_to_csv(report);
  CHECK(csv.rfind("source,parse,culture,topic,alignment", 0) == 0);
  CHECK(csv.find("\"tiny, run.json\",reference,AAA,,") != std::string::npos);
  CHECK(csv.find("AAA,Economy,,") != std::string::npos);  // no score: empty cell
  const std::string md = report_to_markdown(report);
  CHECK(md.find("| AAA | ") != std::string::npos);
  CHECK(md.find("**average**") != std::string::npos);
}

TEST_CASE("gold-vs-gold similarity reproduces the reference table") {
  CULTURESPA_REQUIRE_SHARED(shared);
  const SurveyScorer scorer(survey_load_wvs7((shared / "wvs").string()));
  const SimilarityMatrix gold = scorer.gold_similarity();
  REQUIRE(gold.cultures.size() == 18);
  const auto table = read_json(shared / "wvs" / "country_similarity.json");
  std::size_t compared = 0;
  for (std::size_t i = 0; i < 18; ++i) {
    for (std::size_t j = 0; j < 18; ++j) {
      if (i == j) continue;
      INFO(gold.cultures[i] << " vs " << gold.cultures[j]);
      CHECK(std::round(gold.values[i][j] * 10) / 10 == Approx(table.at(gold.cultures[i]).at(gold.cultures[j]).get<double>()));
      ++compared;
    }
  }
  CHECK(compared == 18 * 17);
  CHECK(similarity_rank_correlation(gold, gold) == Approx(1.0));
}

TEST_CASE("reference runs score as the reference computes them") {
  CULTURESPA_REQUIRE_SHARED(shared);
  const SurveyScorer scorer(survey_load_wvs7((shared / "wvs").string()), {ParseMode::reference, 0});
  const fs::path runs = shared / "reference-runs" / "llama3-8b-instruct" / "wvs";
  // From an independent re-implementation of the README's formula (the
  // Python test recomputes every file).
  const auto usa = scorer.score(run_load((runs / "wvs_result_culture_aware_USA_0.json").string()), "USA");
  CHECK(usa.alignment == Approx(71.12).margin(0.005));
  CHECK(usa.counts.counted == 254);
  const auto chn = scorer.score(run_load((runs / "wvs_result_culture_aware_CHN_0.json").string()), "CHN");
  CHECK(chn.alignment == Approx(66.54).margin(0.005));
  CHECK(chn.counts.counted == 221);
  CHECK(chn.counts.no_gold > 0);
}

#include "culturespa/core/error.h"
#include "culturespa/generator/testing.h"
#include "culturespa/model/testing.h"
#include "culturespa/pipeline/survey_evaluator.h"
#include "culturespa/survey/answers.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support.h"

using namespace culturespa;
namespace fs = std::filesystem;

namespace {

// Four questions (one zero-based) and a demographic one that is not
// evaluated; three cultures with gold answers and a similarity table.
Survey tiny_survey() {
  Survey s;
  s.name = "tiny";
  s.add_culture({"AAA", "Aish", "an"});
  s.add_culture({"BBB", "Bish", "a"});
  s.add_culture({"CCC", "Cish", "a"});
  s.add_question({"Q1", "Family important?", {"Very", "Rather", "Not very", "Not at all"}, "Values", false});
  s.add_question({"Q2", "Member?", {"Don't belong", "Inactive", "Active"}, "Values", true});
  s.add_question({"Q3", "Trust?", {"Yes", "No"}, "Trust", false});
  s.add_question({"Q4", "Scale?", {"1", "2", "3", "4", "5"}, "Trust", false});
  s.add_question({"Q9", "Year of birth?", {}, "", false}, false);
  const std::vector<std::vector<std::pair<int, double>>> gold_a = {
      {{1, 0.7}, {2, 0.3}}, {{0, 0.6}, {2, 0.4}}, {{1, 0.9}, {2, 0.1}}, {{1, 0.5}, {5, 0.5}}};
  const std::vector<std::vector<std::pair<int, double>>> gold_b = {
      {{4, 0.7}, {3, 0.3}}, {{2, 0.6}, {1, 0.4}}, {{2, 0.8}, {1, 0.2}}, {{1, 0.5}, {2, 0.5}}};
  const std::vector<std::vector<std::pair<int, double>>> gold_c = {
      {{2, 1.0}}, {{1, 1.0}}, {{1, 0.6}, {2, 0.4}}, {{3, 1.0}}};
  for (std::size_t i = 0; i < 4; ++i) {
    const std::string id = "Q" + std::to_string(i + 1);
    s.set_human_answers("AAA", id, {gold_a[i]});
    s.set_human_answers("BBB", id, {gold_b[i]});
    s.set_human_answers("CCC", id, {gold_c[i]});
  }
  return s;
}

// A canned model: distributions that prefer the first label for culture
// AAA's prompts and the last label otherwise; replies say "2". Records the
// prompts and seeds it was given.
struct Script {
  std::vector<Conversation> scored, sampled;
  std::vector<std::uint64_t> seeds;
  std::vector<std::string> replies_to_give;  // cycled; empty: "2"

  FunctionReplySource source() {
    return FunctionReplySource(
        [this](const std::vector<Conversation>& prompts, const GenerateOptions& o) {
          CHECK(o.temperature == 0.6);
          CHECK(o.top_p == 0.9);
          CHECK(o.max_new_tokens == 256);
          seeds.push_back(o.seed);
          std::vector<std::string> out;
          for (const auto& p : prompts) {
            sampled.push_back(p);
            out.push_back(replies_to_give.empty() ? "2" : replies_to_give[out.size() % replies_to_give.size()]);
          }
          return out;
        },
        [this](const std::vector<Conversation>& prompts, const std::vector<std::vector<std::string>>& labels) {
          std::vector<std::vector<double>> out;
          for (std::size_t i = 0; i < prompts.size(); ++i) {
            scored.push_back(prompts[i]);
            std::vector<double> p(labels[i].size(), 0.1);
            const bool aish = prompts[i][0].content.find("Aish") != std::string::npos;
            p[aish ? 0 : p.size() - 1] = 0.7;
            out.push_back(p);
          }
          return out;
        });
  }
};

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::vector<EvaluationMethod> p0_p1() { return {evaluation_method("P0"), evaluation_method("P1")}; }

}  // namespace

TEST_CASE("SurveyEvaluator: scored files in the reference's names and format, scored as the scorer scores them") {
  const auto dir = testing::scratch_dir("evaluator-scored").string();
  Script script;
  auto source = script.source();
  SurveyEvaluatorOptions o;
  o.model = "tiny-model";
  o.cultures = {"AAA", "BBB"};
  const SurveyEvaluator evaluator(source, tiny_survey(), o);
  const EvaluationReport report = evaluator.evaluate(p0_p1(), dir);

  // P0 once, P1 once per culture; only the 4 evaluated questions asked.
  CHECK(script.scored.size() == 4 * 3);
  for (const char* name : {"wvs_result_culture_unaware_0.json", "wvs_result_culture_aware_AAA_0.json",
                           "wvs_result_culture_aware_BBB_0.json", "evaluation.json"})
    CHECK(fs::exists(fs::path(dir) / name));
  CHECK_FALSE(fs::exists(fs::path(dir) / "wvs_result_culture_aware_CCC_0.json"));
  const auto items = read_json((fs::path(dir) / "wvs_result_culture_aware_AAA_0.json").string());
  REQUIRE(items.size() == 4);
  CHECK(items[0]["Q_id"] == "Q1");
  CHECK(items[0]["question"] == "Family important?");
  CHECK(items[0]["option_lst"].size() == 4);
  CHECK(items[0]["answer"] == "1");  // AAA prompts put 0.7 on the first label
  CHECK(items[1]["answer"] == "0");  // zero-based: the first label is 0
  CHECK(items[0]["distribution"].size() == 4);
  CHECK(std::abs(items[0]["distribution"][0].get<double>() - 0.7) < 1e-12);
  const auto bbb = read_json((fs::path(dir) / "wvs_result_culture_aware_BBB_0.json").string());
  CHECK(bbb[0]["answer"] == "4");

  CHECK(report.skipped_ids == std::vector<std::string>{"Q9"});
  CHECK(report.evaluated_questions == 4);
  REQUIRE(report.rows.size() == 2);
  CHECK(report.rows[0].method == "culture_unaware");
  CHECK(report.rows[1].method == "culture_aware");
  // Each cell equals the survey layer's scorer on the same file; P0's one file is
  // scored against every culture.
  const SurveyScorer scorer(tiny_survey());
  for (std::size_t c = 0; c < 2; ++c) {
    const std::string culture = c == 0 ? "AAA" : "BBB";
    const auto unaware = answer_file_load((fs::path(dir) / "wvs_result_culture_unaware_0.json").string()).answers;
    const auto aware =
        answer_file_load((fs::path(dir) / ("wvs_result_culture_aware_" + culture + "_0.json")).string()).answers;
    const auto s0 = scorer.score(unaware, culture);
    const auto s1 = scorer.score(aware, culture);
    CHECK(report.rows[0].cells[c].alignment == Approx(s0.alignment));
    CHECK(report.rows[1].cells[c].alignment == Approx(s1.alignment));
    CHECK(report.rows[1].cells[c].ci_low == Approx(s1.ci_low));
    CHECK(report.rows[1].cells[c].counted == 4);
    CHECK(report.rows[1].cells[c].parse_failures == 0);
    CHECK_FALSE(std::isnan(report.rows[1].cells[c].js_similarity));
  }
  // AAA's aware answers are its gold answers: a perfect score.
  CHECK(report.rows[1].cells[0].alignment == Approx(100.0));
  CHECK(report.rows[1].average == Approx((report.rows[1].cells[0].alignment + report.rows[1].cells[1].alignment) / 2));

  const std::string markdown = evaluation_report_to_markdown(report);
  CHECK(markdown.find("| culture_aware | 100.00 |") != std::string::npos);
  CHECK(markdown.find("1 not evaluated (skipped)") != std::string::npos);
  const auto json = nlohmann::json::parse(evaluation_report_to_json(report));
  CHECK(json["rows"][1]["cells"][0]["alignment"].get<double>() == Approx(100.0));
  CHECK(json["model"] == "tiny-model");
  CHECK(evaluation_report_to_csv(report).find("tiny-model,scored,culture_aware,AAA,,100.000000") != std::string::npos);

  // The manifest names the model; another model's evaluation into the folder is refused.
  CHECK(evaluation_manifest_load(dir).model == "tiny-model");
  o.model = "other-model";
  const SurveyEvaluator other(source, tiny_survey(), o);
  testing::require_throws_naming<ValueError>([&] { other.evaluate(p0_p1(), dir); },
                                             {"tiny-model", "other-model", dir});
}

TEST_CASE("SurveyEvaluator: an interrupted evaluation resumes and redoes only what is missing") {
  const auto dir = testing::scratch_dir("evaluator-resume").string();
  Script script;
  auto source = script.source();
  SurveyEvaluatorOptions o;
  o.cultures = {"AAA", "BBB", "CCC"};
  const SurveyEvaluator evaluator(source, tiny_survey(), o);
  // Cancel once two files are done (8 of the 16 prompts).
  const auto stop = [](const Progress& p) { return p.done < 8; };
  CHECK_THROWS_AS(evaluator.evaluate(p0_p1(), dir, stop), CancelledError);
  CHECK(fs::exists(fs::path(dir) / "wvs_result_culture_unaware_0.json"));
  CHECK(fs::exists(fs::path(dir) / "wvs_result_culture_aware_AAA_0.json"));
  CHECK_FALSE(fs::exists(fs::path(dir) / "wvs_result_culture_aware_CCC_0.json"));
  // Scoring an unfinished folder is refused, naming the missing file.
  testing::require_throws_naming<ValueError>([&] { evaluator.score(p0_p1(), dir); },
                                             {"wvs_result_culture_aware_", "not finished"});
  const std::size_t asked = script.scored.size();
  const auto report = evaluator.evaluate(p0_p1(), dir);
  CHECK(script.scored.size() - asked == 8);  // the two missing files' questions only
  std::size_t kept = 0;
  for (const auto& f : report.files) kept += f.resumed;
  CHECK(kept == 2);
  CHECK(report.rows[1].cells.size() == 3);
  // A file holding other questions is not silently reused.
  std::ofstream((fs::path(dir) / "wvs_result_culture_aware_BBB_0.json").string())
      << R"([{"Q_id": "Q1", "answer": "1"}])";
  testing::require_throws_naming<ValueError>([&] { evaluator.evaluate(p0_p1(), dir); },
                                             {"wvs_result_culture_aware_BBB_0.json", "other questions"});
}

TEST_CASE("SurveyEvaluator: sampled protocol, seeds 42 - run, runs averaged, parse failures by reason") {
  const auto dir = testing::scratch_dir("evaluator-sampled").string();
  Script script;
  script.replies_to_give = {"2", "I cannot answer that", "", "I choose 11"};
  auto source = script.source();
  SurveyEvaluatorOptions o;
  o.protocol = EvaluationProtocol::sampled;
  o.runs = 3;
  o.cultures = {"AAA", "BBB"};
  const SurveyEvaluator evaluator(source, tiny_survey(), o);
  const auto report = evaluator.evaluate({evaluation_method("culture_aware")}, dir);
  CHECK(script.seeds == std::vector<std::uint64_t>{42, 41, 40, 42, 41, 40});
  for (std::size_t run = 0; run < 3; ++run)
    CHECK(fs::exists(evaluation_result_path(dir, "culture_aware", "BBB", run)));
  const auto& cell = report.rows[0].cells[0];
  CHECK(cell.runs == 3);
  CHECK(cell.answered == 12);
  CHECK(cell.counted == 3);
  CHECK(cell.parse_failures == 9);
  CHECK(cell.failures.at("no_answer") == 3);
  CHECK(cell.failures.at("empty") == 3);
  CHECK(cell.failures.at("out_of_range") == 3);
  CHECK(std::isnan(cell.js_similarity));  // no distributions when sampled
  // The one counted question: Q1 answered 2 against AAA's gold 1 (n = 4), every run.
  CHECK(cell.alignment == Approx(100.0 * (1 - 1.0 / 3.0)));
  CHECK(cell.ci_low == Approx(cell.alignment));  // one counted question: no spread
  // The raw replies are kept in the file (the reference's format).
  const auto items = read_json(evaluation_result_path(dir, "culture_aware", "AAA", 1));
  CHECK(items[1]["answer"] == "I cannot answer that");
}

TEST_CASE("SurveyEvaluator: reversed options are asked with re-mapped labels") {
  const auto dir = testing::scratch_dir("evaluator-reversed").string();
  Script script;
  auto source = script.source();
  SurveyEvaluatorOptions o;
  o.cultures = {"AAA", "BBB"};
  o.option_order = OptionOrder::reversed;
  const SurveyEvaluator evaluator(source, tiny_survey(), o);
  const auto report = evaluator.evaluate({evaluation_method("P1")}, dir);
  REQUIRE(report.rows.size() == 2);
  CHECK(report.rows[1].method == "culture_aware_reversed");
  // The prompt shows the options last first, labelled 1..n.
  const auto prompts = evaluator.prompts(evaluation_method("P1"), "AAA", 0);
  CHECK(prompts[0].conversation[1].content.find("#Options: 1.Not at all 2.Not very 3.Rather 4.Very") !=
        std::string::npos);
  // AAA's canned model takes the first label: in reversed order that is the last option.
  const auto items = read_json(evaluation_result_path(dir, "culture_aware_reversed", "AAA", 0));
  CHECK(items[0]["answer"] == "4");
  CHECK(items[1]["answer"] == "2");  // zero-based 0..2 reversed
  CHECK(std::abs(items[0]["distribution"][3].get<double>() - 0.7) < 1e-12);
  const auto original = read_json(evaluation_result_path(dir, "culture_aware", "AAA", 0));
  CHECK(original[0]["answer"] == "1");
  // The canned model follows the position: every moved answer keeps its slot.
  CHECK(report.rows[1].moved_answers == 8);
  CHECK(report.rows[1].same_position_share == Approx(1.0));
  CHECK(report.rows[1].same_option_share == Approx(0.0));
  CHECK(std::isnan(report.rows[0].same_position_share));
  CHECK(report.rows[0].average_spread == Approx(std::abs(report.rows[0].average - report.rows[1].average)));
  CHECK(evaluation_report_to_markdown(report).find("| culture_aware_reversed | 8 | 0.0% | 100.0% |") !=
        std::string::npos);
}

TEST_CASE("SurveyEvaluator: bad input gives named errors") {
  testing::require_throws_naming<ValueError>([] { evaluation_method("P7"); },
                                             {"P7", "culture_unaware", "cross_culture_thinking_self_alignment",
                                              "P2+P3"});
  Script script;
  auto source = script.source();
  // A culture the survey has no gold for.
  Survey survey = tiny_survey();
  survey.add_culture({"DDD", "Dish", "a"});
  SurveyEvaluatorOptions o;
  testing::require_throws_naming<ValueError>([&] { SurveyEvaluator(source, survey, o); }, {"DDD", "no gold"});
  o.cultures = {"ZZZ"};
  testing::require_throws_naming<ValueError>([&] { SurveyEvaluator(source, tiny_survey(), o); }, {"ZZZ"});
  // A huge count would queue a job per run before asking anything (issue #16 probe).
  SurveyEvaluatorOptions counts;
  counts.protocol = EvaluationProtocol::sampled;
  counts.runs = 1000000000;
  testing::require_throws_naming<ValueError>([&] { SurveyEvaluator(source, tiny_survey(), counts); },
                                             {"runs", "1..1000", "1000000000"});
  counts.runs = 1000;
  CHECK_NOTHROW(SurveyEvaluator(source, tiny_survey(), counts));
  counts.shuffles = 0;
  testing::require_throws_naming<ValueError>([&] { SurveyEvaluator(source, tiny_survey(), counts); }, {"shuffles"});
  // A user method named like a paper method, and a malformed template file.
  const auto dir = testing::scratch_dir("evaluator-bad");
  std::ofstream((dir / "culture_aware.json").string()) << R"({"answer_user": "Q: {} O: {}"})";
  testing::require_throws_naming<ConfigError>([&] { evaluation_method_load((dir / "culture_aware.json").string()); },
                                              {"culture_aware", "paper"});
  std::ofstream((dir / "mine.json").string()) << R"({"answer_user": "Q: {}"})";
  testing::require_throws_naming<ConfigError>([&] { evaluation_method_load((dir / "mine.json").string()); },
                                              {"mine.json", "answer_user"});
  std::ofstream((dir / "terse.json").string()) << R"({"_method": "P3", "answer_user": "Q: {} O: {}"})";
  const auto terse = evaluation_method_load((dir / "terse.json").string());
  CHECK(terse.name == "terse");
  CHECK(terse.prompt == PromptMethod::self_alignment);
  testing::require_throws_naming<ConfigError>(
      [&] {
        std::ofstream((dir / "odd.json").string()) << R"({"_method": "P9"})";
        evaluation_method_load((dir / "odd.json").string());
      },
      {"odd.json", "P9"});
}

TEST_CASE("evaluation_compare: paired differences, and folders of different models refused") {
  const auto root = testing::scratch_dir("evaluator-compare");
  Script script;
  auto source = script.source();
  SurveyEvaluatorOptions o;
  o.model = "tiny-model";
  o.cultures = {"AAA", "BBB", "CCC"};
  SurveyEvaluator(source, tiny_survey(), o).evaluate({evaluation_method("P0")}, (root / "a").string());
  SurveyEvaluator(source, tiny_survey(), o).evaluate({evaluation_method("P1")}, (root / "b").string());
  const auto report = evaluation_compare({(root / "a").string(), (root / "b").string()}, tiny_survey());
  REQUIRE(report.rows.size() == 2);
  CHECK(report.rows[1].differences.size() == 3);
  CHECK(report.rows[1].differences[0].difference.estimate ==
        Approx(report.rows[1].row.cells[0].alignment - report.rows[0].row.cells[0].alignment));
  CHECK(report.rows[1].average_difference.estimate == Approx(report.rows[1].row.average - report.rows[0].row.average));
  CHECK(comparison_report_to_markdown(report).find("| difference |") != std::string::npos);
  o.model = "another-model";
  SurveyEvaluator(source, tiny_survey(), o).evaluate({evaluation_method("P1")}, (root / "c").string());
  testing::require_throws_naming<ValueError>(
      [&] { evaluation_compare({(root / "a").string(), (root / "c").string()}, tiny_survey()); },
      {"tiny-model", "another-model"});
}

TEST_CASE("SurveyEvaluator: every method's prompts are the survey layer's, byte for byte") {
  CULTURESPA_REQUIRE_SHARED(shared);
  Survey survey = survey_load_wvs7((shared / "wvs").string());
  // 12 questions keep the test short; the rest are not evaluated.
  const auto ids = survey.evaluated_ids();
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (i % 22 != 0) survey.set_evaluated(ids[i], false);
  REQUIRE(survey.evaluated_ids().size() == 12);
  const auto dir = testing::scratch_dir("evaluator-prompts").string();
  Script script;
  auto source = script.source();
  SurveyEvaluatorOptions o;
  o.cultures = {"KEN", "NZL"};
  const SurveyEvaluator evaluator(source, survey, o);
  std::vector<EvaluationMethod> methods;
  for (const auto& name : evaluation_method_names()) methods.push_back(evaluation_method(name));
  const auto report = evaluator.evaluate(methods, dir);
  CHECK(report.skipped_ids.size() == 291 - 12);
  std::vector<Conversation> expected;
  for (const auto& m : methods)
    for (const auto& c : m.per_culture() ? o.cultures : std::vector<std::string>{""})
      for (const auto& p : prompt_build_all(survey, m.prompt, c)) expected.push_back(p.conversation);
  REQUIRE(script.scored.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    REQUIRE(script.scored[i].size() == expected[i].size());
    for (std::size_t k = 0; k < expected[i].size(); ++k) CHECK(script.scored[i][k].content == expected[i][k].content);
  }
  // The result files carry the reference's method names.
  CHECK(fs::exists(fs::path(dir) / "wvs_result_cross_culture_thinking_self_alignment_NZL_0.json"));
  CHECK(fs::exists(fs::path(dir) / "wvs_result_self_alignment_KEN_0.json"));
}

TEST_CASE("SurveyEvaluator on a random tiny model: scored answers are the Generator's argmax") {
  const auto model_dir = testing::scratch_dir("evaluator-model");
  TestCheckpointOptions checkpoint;
  checkpoint.vocab_size = 272;
  checkpoint.hidden_size = 32;
  checkpoint.intermediate_size = 64;
  checkpoint.num_hidden_layers = 2;
  checkpoint.max_position_embeddings = 1024;
  checkpoint.seed = 3;
  testing_checkpoint_write(model_dir.string(), checkpoint);
  testing_tokenizer_write(model_dir.string());
  const Model model(model_dir.string());
  const Tokenizer tokenizer = Tokenizer::from_folder(model_dir.string());
  GeneratorOptions go;
  go.chat_format = "chatml";
  const Generator generator(model, tokenizer, go);
  SurveyEvaluatorOptions o;
  o.model = "random-tiny";
  o.cultures = {"AAA", "BBB"};
  const SurveyEvaluator evaluator(generator, tiny_survey(), o);
  const auto dir = testing::scratch_dir("evaluator-model-out").string();
  const auto report = evaluator.evaluate({evaluation_method("P1")}, dir);
  const auto prompts = evaluator.prompts(evaluation_method("P1"), "BBB");
  std::vector<Conversation> conversations;
  std::vector<std::vector<std::string>> labels;
  for (const auto& p : prompts) conversations.push_back(p.conversation), labels.push_back(p.labels);
  const auto scores = generator.score_options(conversations, labels);
  const auto items = read_json(evaluation_result_path(dir, "culture_aware", "BBB", 0));
  REQUIRE(items.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(items[i]["answer"] == labels[i][static_cast<std::size_t>(scores.argmax[i])]);
    for (std::size_t k = 0; k < labels[i].size(); ++k)
      CHECK(items[i]["distribution"][k].get<double>() == Approx(scores.probs[i][k]).epsilon(1e-5));
  }
  CHECK(report.rows[0].cells[1].counted == 4);
}

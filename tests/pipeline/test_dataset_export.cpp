#include "culturespa/core/error.h"
#include "culturespa/pipeline/dataset_export.h"
#include "culturespa/pipeline/stage_files.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "support.h"

using namespace culturespa;
using nlohmann::json;

namespace {

ContrastPair pair_of(const std::string& id, const std::string& culture, int aware, int unaware) {
  ContrastPair p;
  p.question.id = id;
  p.question.text = "How important is " + id + "?";
  p.question.options = {"Very important", "Rather important", "Not very important", "Not at all important"};
  p.question.topic = "Social Values";
  p.culture = culture;
  p.aware_answer = aware;
  p.unaware_answer = unaware;
  return p;
}

// A test builder: the exporter must carry whatever the builder says.
Conversation builder(const Question& q, const std::string& culture) {
  return {{"system", "You speak for " + culture + "."}, {"user", "#Question: " + q.text}};
}

std::vector<ContrastPair> some_pairs(std::size_t questions) {
  std::vector<ContrastPair> pairs;
  for (std::size_t i = 0; i < questions; ++i) {
    pairs.push_back(pair_of("Q" + std::to_string(i), "KEN", 2, 1));
    if (i % 2 == 0) pairs.push_back(pair_of("Q" + std::to_string(i), "USA", 3, 1));
  }
  return pairs;
}

}  // namespace

TEST_CASE("export: Alpaca joint set with dataset_info.json") {
  const auto dir = culturespa::testing::scratch_dir("pipeline-alpaca");
  const auto pairs = some_pairs(4);
  const auto summary = dataset_export(pairs, builder, dir.string());
  REQUIRE(summary.files.size() == 2);
  const auto list = json::parse(file_read_text((dir / "culturespa_train.json").string()));
  REQUIRE(list.size() == 6);
  CHECK(list[0]["instruction"] == "#Question: How important is Q0?");
  CHECK(list[0]["input"] == "");
  CHECK(list[0]["output"] == "2");
  CHECK(list[0]["system"] == "You speak for KEN.");
  CHECK(list[1]["system"] == "You speak for USA.");
  const auto info = json::parse(file_read_text((dir / "dataset_info.json").string()));
  CHECK(info["culturespa_train"]["file_name"] == "culturespa_train.json");
  CHECK(info["culturespa_train"]["columns"]["system"] == "system");
}

TEST_CASE("export: culture-specific messages JSONL with option text and a split") {
  const auto dir = culturespa::testing::scratch_dir("pipeline-sharegpt");
  DatasetExportOptions options;
  options.format = DatasetFormat::sharegpt;
  options.mode = DatasetMode::specific;
  options.answer_with_option_text = true;
  options.validation_fraction = 0.3;
  const auto pairs = some_pairs(40);
  const auto summary = dataset_export(pairs, builder, dir.string(), options);
  CHECK(summary.files.size() == 4);  // KEN and USA, train and validation
  std::size_t total = 0;
  for (const auto& [path, n] : summary.records) total += n;
  CHECK(total == pairs.size());
  const auto text = file_read_text((dir / "culturespa_USA_train.jsonl").string());
  const auto first = json::parse(text.substr(0, text.find('\n')));
  REQUIRE(first["messages"].size() == 3);
  CHECK(first["messages"][0]["role"] == "system");
  CHECK(first["messages"][2]["role"] == "assistant");
  CHECK(first["messages"][2]["content"] == "3.Not very important");
  // The split is by question id: every culture of a question falls on the same side.
  for (const auto& r : dataset_records(pairs, builder, options))
    CHECK(r.split == (dataset_is_validation(r.question_id, options) ? "validation" : "train"));
  CHECK(summary.records.at((dir / "culturespa_KEN_validation.jsonl").string()) > 0);
}

TEST_CASE("export: subsampling keeps nested subsets and the culturespa format carries both answers") {
  const auto pairs = some_pairs(200);
  DatasetExportOptions options;
  std::set<std::string> previous;
  for (double fraction : {0.1, 0.5, 0.9}) {
    options.subsample_fraction = fraction;
    std::set<std::string> ids;
    for (const auto& r : dataset_records(pairs, builder, options)) ids.insert(r.question_id);
    CHECK(std::includes(ids.begin(), ids.end(), previous.begin(), previous.end()));
    CHECK(static_cast<double>(ids.size()) == Approx(200 * fraction).margin(200 * 0.1));
    previous = ids;
  }
  const auto dir = culturespa::testing::scratch_dir("pipeline-own");
  options = {};
  options.format = DatasetFormat::culturespa;
  dataset_export(pairs, builder, dir.string(), options);
  const auto text = file_read_text((dir / "culturespa_train.jsonl").string());
  const auto first = json::parse(text.substr(0, text.find('\n')));
  CHECK(first["question_id"] == "Q0");
  CHECK(first["culture"] == "KEN");
  CHECK(first["aware_answer"] == 2);
  CHECK(first["unaware_answer"] == 1);
  CHECK(first["rule"] == "reference");
  CHECK(first["topic"] == "Social Values");

  options.subsample_fraction = 0.0;
  CHECK_THROWS_AS(dataset_records(pairs, builder, options), ValueError);
  CHECK_THROWS_AS(dataset_export({}, builder, dir.string()), ValueError);
  CHECK_THROWS_AS(dataset_records(pairs, PromptBuilder{}), ValueError);
}

TEST_CASE("export: the default prompt is the reference's culture-aware one") {
  const auto build = prompt_builder_culture_aware();
  const auto pair = pair_of("Q1", "ETH", 1, 2);
  const auto conversation = build(pair.question, "ETH");
  REQUIRE(conversation.size() == 2);
  CHECK(conversation[0].role == "system");
  CHECK(conversation[0].content.rfind("You are a real person with an Ethiopian cultural background.", 0) == 0);
  CHECK(conversation[1].content.find("#Options: 1.Very important 2.Rather important") != std::string::npos);
  CHECK_THROWS_AS(build(pair.question, "XXX"), ValueError);
}

// Hostile-input probe (issue #16): an answer in a pairs file is an integer
// that fits; nlohmann's get<int>() truncated 2.7 and wrapped 4294967298 to 2,
// a valid option that export then wrote as a training target.
TEST_CASE("pairs files: answers that are not 32-bit integers are refused, naming the line and field") {
  const std::string good =
      R"({"question_id": "Q1", "question": "How important?", "options": ["a", "b", "c", "d"], "culture": "KEN", )";
  CHECK(contrast_pairs_parse(good + R"("aware_answer": 2, "unaware_answer": 1})" "\n", "p.jsonl").at(0).aware_answer ==
        2);
  for (const char* answers : {R"("aware_answer": 4294967298, "unaware_answer": 1})",
                              R"("aware_answer": 2.7, "unaware_answer": 1})",
                              R"("aware_answer": 2, "unaware_answer": 1e300})",
                              R"("aware_answer": 2, "unaware_answer": 18446744073709551615})",
                              R"("aware_answer": -2147483649, "unaware_answer": 1})"}) {
    INFO(answers);
    testing::require_throws_naming<FormatError>(
        [&] { contrast_pairs_parse("\n" + good + answers + "\n", "p.jsonl"); }, {"p.jsonl", "line 2", "answer", "integer"});
  }
}

#include "culturespa/core/error.h"
#include "culturespa/survey/answers.h"
#include "culturespa/survey/survey.h"

#include "support.h"

#include <fstream>

using namespace culturespa;
namespace fs = std::filesystem;

namespace {

// A file under the build's temporary folder with `text`.
std::string write_temp(const std::string& name, const std::string& text) {
  const fs::path path = fs::temp_directory_path() / ("culturespa_test_answers_" + name);
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace

TEST_CASE("answer files: the reference's JSON list") {
  const AnswerFile file = answer_file_parse(R"([
    {"Q_id": "Q1", "question": "One?", "option_lst": ["Yes", "No"], "class": "Values", "answer": "1. Yes"},
    {"Q_id": "Q2", "answer": 3, "extra": [1, 2]},
    {"Q_id": "Q3", "answer": null}
  ])");
  REQUIRE(file.answers.size() == 3);
  CHECK(file.answers[0].question_id == "Q1");
  CHECK(file.answers[0].reply == "1. Yes");
  CHECK(file.answers[0].distribution.empty());
  CHECK(file.answers[1].reply == "3");  // a number as its digits
  CHECK(file.answers[2].reply.empty());  // null: no reply
  REQUIRE(file.questions.size() == 1);  // only Q1 carries its question
  CHECK(file.questions[0].id == "Q1");
  CHECK(file.questions[0].text == "One?");
  CHECK(file.questions[0].options == std::vector<std::string>{"Yes", "No"});
  CHECK(file.questions[0].topic == "Values");
  CHECK_FALSE(file.questions[0].zero_based);
  CHECK(answer_file_parse("[]").answers.empty());
}

TEST_CASE("answer files: JSONL with culturespa's field names and distributions") {
  const std::string path = write_temp("answers.jsonl",
                                      "{\"question_id\": \"Q7\", \"reply\": \"0\", \"distribution\": [0.5, 0.25, 0.25],"
                                      " \"question\": \"Seven?\", \"options\": [\"a\", \"b\", \"c\"], \"topic\": \"T\","
                                      " \"zero_based\": true}\n"
                                      "\n"
                                      "{\"question_id\": \"Q8\", \"distribution\": [1, 0]}\n");
  const AnswerFile file = answer_file_load(path);
  REQUIRE(file.answers.size() == 2);
  CHECK(file.answers[0].question_id == "Q7");
  CHECK(file.answers[0].reply == "0");
  CHECK(file.answers[0].distribution == std::vector<double>{0.5, 0.25, 0.25});
  CHECK(file.answers[1].question_id == "Q8");
  CHECK(file.answers[1].reply.empty());
  CHECK(file.answers[1].distribution == std::vector<double>{1.0, 0.0});
  REQUIRE(file.questions.size() == 1);
  CHECK(file.questions[0].id == "Q7");
  CHECK(file.questions[0].options == std::vector<std::string>{"a", "b", "c"});
  CHECK(file.questions[0].topic == "T");
  CHECK(file.questions[0].zero_based);
  // One object on one line is JSONL too.
  CHECK(answer_file_parse(R"({"Q_id": "Q1", "answer": "2"})").answers.at(0).reply == "2");
  fs::remove(path);
}

TEST_CASE("answer files: malformed files are named with the item at fault") {
  using testing::require_throws_naming;
  require_throws_naming<FileError>([] { answer_file_load("/nonexistent/run.json"); }, {"/nonexistent/run.json"});
  require_throws_naming<FormatError>([] { answer_file_parse("[{\"Q_id\": \"Q1\", \"answer\": 1", "r.json"); },
                                     {"r.json", "malformed JSON"});
  require_throws_naming<FormatError>([] { answer_file_parse("\"Q1\"", "r.json"); }, {"r.json", "list", "JSONL"});
  require_throws_naming<FormatError>([] { answer_file_parse(" \n", "r.json"); }, {"r.json", "empty"});
  require_throws_naming<FormatError>([] { answer_file_parse("[1]", "r.json"); }, {"r.json", "item 0", "object"});
  require_throws_naming<FormatError>(
      [] { answer_file_parse(R"([{"Q_id": "Q1", "answer": "1"}, {"answer": "2"}])", "r.json"); },
      {"r.json", "item 1", "Q_id"});
  require_throws_naming<FormatError>([] { answer_file_parse(R"([{"Q_id": 1, "answer": "1"}])", "r.json"); },
                                     {"r.json", "item 0", "Q_id", "string"});
  require_throws_naming<FormatError>([] { answer_file_parse(R"([{"Q_id": "Q1"}])", "r.json"); },
                                     {"r.json", "item 0", "Q1", "answer", "distribution"});
  require_throws_naming<FormatError>([] { answer_file_parse(R"([{"Q_id": "Q1", "answer": [1]}])", "r.json"); },
                                     {"r.json", "item 0", "answer"});
  require_throws_naming<FormatError>([] { answer_file_parse(R"([{"Q_id": "Q1", "answer": 1.5}])", "r.json"); },
                                     {"r.json", "item 0", "answer", "integer"});
  require_throws_naming<FormatError>(
      [] { answer_file_parse(R"([{"Q_id": "Q1", "answer": "1"}, {"Q_id": "Q1", "answer": "2"}])", "r.json"); },
      {"r.json", "item 1", "repeats item 0"});
  require_throws_naming<FormatError>(
      [] { answer_file_parse("{\"question_id\": \"Q1\", \"reply\": \"1\"}\n{\"question_id\": \"Q1\", \"reply\": \"2\"}\n",
                             "r.jsonl"); },
      {"r.jsonl", "line 2", "Q1", "repeats line 1"});
  require_throws_naming<FormatError>(
      [] { answer_file_parse("{\"question_id\": \"Q1\", \"reply\": \"1\"}\n{\"question_id\": \n", "r.jsonl"); },
      {"r.jsonl", "line 2", "malformed JSON"});
  require_throws_naming<FormatError>(
      [] { answer_file_parse(R"([{"Q_id": "Q1", "distribution": [0.5, "x"]}])", "r.json"); },
      {"r.json", "item 0", "distribution[1]", "number"});
  require_throws_naming<FormatError>([] { answer_file_parse(R"([{"Q_id": "Q1", "distribution": 1}])", "r.json"); },
                                     {"r.json", "item 0", "distribution", "list"});
  require_throws_naming<FormatError>(
      [] { answer_file_parse(R"([{"Q_id": "Q1", "answer": "1", "question": 5}])", "r.json"); },
      {"r.json", "item 0", "question", "string"});
  require_throws_naming<FormatError>(
      [] { answer_file_parse(R"([{"Q_id": "Q1", "answer": "1", "question": "x", "option_lst": ["a", 2]}])", "r.json"); },
      {"r.json", "item 0", "option_lst"});
  require_throws_naming<FormatError>(
      [] { answer_file_parse(R"([{"Q_id": "Q1", "answer": "1", "question": "x", "topic": 3}])", "r.json"); },
      {"r.json", "item 0", "topic", "string"});
  require_throws_naming<FormatError>(
      [] { answer_file_parse(R"([{"Q_id": "Q1", "answer": "1", "question": "x", "zero_based": "yes"}])", "r.json"); },
      {"r.json", "item 0", "zero_based"});
}

TEST_CASE("answer files: the culture a file name names") {
  Survey s;
  s.add_culture({"AAA", "Aish", "an"});
  s.add_culture({"BBB", "Bish", "a"});
  CHECK(culture_from_file_name("/x/wvs_result_culture_aware_AAA_0.json", s.cultures()) == "AAA");
  CHECK(culture_from_file_name("run_Bish_1.json", s.cultures()) == "BBB");
  CHECK_FALSE(culture_from_file_name("wvs_result_culture_unaware_0.json", s.cultures()).has_value());
  CHECK_FALSE(culture_from_file_name("AAA_run.json", s.cultures()).has_value());  // not between underscores
  CHECK_FALSE(culture_from_file_name("x_KEN_0.json", s.cultures()).has_value());  // not one of the survey's
  testing::require_throws_naming<ValueError>([&] { culture_from_file_name("x_AAA_BBB_0.json", s.cultures()); },
                                             {"x_AAA_BBB_0.json", "AAA", "BBB"});
  // The 18 built-in cultures by default.
  CHECK(culture_from_file_name("wvs_result_culture_aware_KEN_0.jsonl") == "KEN");
  CHECK(culture_from_file_name("wvs_result_self_alignment_American_0.json") == "USA");
  CHECK(culture_from_file_name("a_New Zealand_0.json") == "NZL");
  CHECK_FALSE(culture_from_file_name("wvs_result_culture_unaware_0.json").has_value());
  testing::require_throws_naming<ValueError>([] { culture_from_file_name("x_KEN_USA_0.json"); }, {"KEN", "USA"});
}

TEST_CASE("answer files: a reference run") {
  CULTURESPA_REQUIRE_SHARED(shared);
  const fs::path path = shared / "reference-runs/llama3-8b-instruct/wvs/wvs_result_culture_aware_KEN_0.json";
  const AnswerFile file = answer_file_load(path.string());
  CHECK(file.answers.size() == 259);
  CHECK(file.questions.size() == 259);
  CHECK(file.answers.front().question_id == file.questions.front().id);
  CHECK(culture_from_file_name(path.string()) == "KEN");
}

TEST_CASE("a number too large for a double is a FormatError in every JSON reader, not a crash") {
  // Found by fuzz_stage_files and fuzz_survey_files: nlohmann::json throws
  // out_of_range (not parse_error) for 1e388, and the readers caught only parse_error.
  testing::require_throws_naming<FormatError>([] { answer_file_parse("[1e388]", "answers.json"); },
                                              {"answers.json", "malformed JSON", "1e388"});
  testing::require_throws_naming<FormatError>(
      [] { survey_from_json("{\"questions\": [66666666e6666666]}", "survey.json"); },
      {"survey.json", "malformed JSON", "66666666e6666666"});
}

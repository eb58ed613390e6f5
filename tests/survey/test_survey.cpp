#include "culturespa/core/error.h"
#include "culturespa/survey/survey.h"

#include "support.h"

#include <fstream>

#include <nlohmann/json.hpp>

using namespace culturespa;
namespace fs = std::filesystem;

namespace {

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// REQUIREs that `body` throws E with every one of `parts` in its message.
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

// A two-question survey in the reference format, with `proportions` as its
// proportions file.
fs::path tiny_reference(const std::string& name, const std::string& proportions,
                        const std::string& questions =
                            R"([{"Q_id": "Q1", "question": "Q one?", "option_lst": ["Yes", "No"]},
                                {"Q_id": "Q94", "question": "Member?", "option_lst": ["No", "Inactive", "Active"]}])") {
  const fs::path dir = testing::scratch_dir(name);
  write_file(dir / "wvs_questions.json", questions);
  write_file(dir / "proportions_group_by_country.json", proportions);
  return dir;
}

}  // namespace

TEST_CASE("built-in cultures follow the paper") {
  REQUIRE(cultures_builtin().size() == 18);
  CHECK(cultures_builtin().front().code == "USA");
  CHECK(culture_from_code("NZL").adjective == "New Zealand");
  CHECK(culture_from_code("IND").article == "an");
  require_throws_naming<ValueError>([] { culture_from_code("XYZ"); }, {"XYZ"});
}

TEST_CASE("question option ids and labels") {
  Question q{"Q94", "Member?", {"No", "Inactive", "Active"}, "", true};
  CHECK(q.labels() == std::vector<std::string>{"0", "1", "2"});
  CHECK(q.option_text(0) == "No");
  require_throws_naming<ValueError>([&] { q.option_text(3); }, {"Q94", "3"});
  q.zero_based = false;
  CHECK(q.labels() == std::vector<std::string>{"1", "2", "3"});
  CHECK(q.option_text(3) == "Active");
}

TEST_CASE("wvs7 preset applies the reference conventions") {
  CULTURESPA_REQUIRE_SHARED(shared);
  const Survey s = survey_load_wvs7((shared / "wvs").string());
  CHECK(s.name == "wvs7");
  CHECK(s.questions().size() == 291);
  const auto evaluated = s.evaluated_ids();
  CHECK(evaluated.size() == 259);
  CHECK_FALSE(s.is_evaluated("Q223"));
  CHECK_FALSE(s.is_evaluated("Q260"));
  CHECK_FALSE(s.is_evaluated("Q290"));
  CHECK(s.is_evaluated("Q234A"));
  CHECK(s.topics().size() == 13);
  CHECK(s.question("Q234A").topic == "Political Interest & Political Participation");
  CHECK(s.question("Q45").topic == "Social Values, Attitudes & Stereotypes");
  CHECK(s.question("Q46").topic == "Happiness and Well-being");
  CHECK(s.question("Q259").topic == "Political Culture & Political Regimes");
  CHECK(s.question("Q260").topic.empty());
  int zero_based = 0;
  for (const auto& q : s.questions()) zero_based += q.zero_based;
  CHECK(zero_based == 12 + 1 + 8 + 9);
  CHECK(s.question("Q94").zero_based);
  CHECK_FALSE(s.question("Q93").zero_based);
  std::size_t in_topics = 0;
  for (const auto& t : s.topics()) in_topics += s.questions_of_topic(t).size();
  CHECK(in_topics == 260);  // Q1..Q259 and Q234A, Q223 included (not evaluated)
  CHECK(s.cultures().size() == 18);
  CHECK_FALSE(s.has_culture("MEX"));

  // Gold = first stored key, read independently from the file.
  const auto doc = nlohmann::ordered_json::parse(
      culturespa::file_read_text((shared / "wvs" / "proportions_group_by_country.json").string()));
  for (const auto& c : s.cultures()) {
    for (const auto& [qid, map] : doc[c.code].items()) {
      const auto gold = s.gold(c.code, qid);
      if (map.empty()) {
        CHECK_FALSE(gold.has_value());
      } else {
        REQUIRE(gold.has_value());
        CHECK(std::to_string(*gold) == map.begin().key());
        CHECK(s.human_answers(c.code, qid)->shares.size() == map.size());
      }
    }
  }
  CHECK(s.answered_ids("KEN").size() == 259);
  CHECK(s.similarity("KEN", "USA") == Approx(60.1));
  const auto ranking = s.similarity_ranking("KEN");
  REQUIRE(ranking.size() == 17);
  CHECK(ranking.front() == "UKR");  // 69.1
  CHECK(ranking.back() == "NZL");   // 48.5
  CHECK(s.self_alignment_examples("Q1").size() == 258);
  CHECK(s.self_alignment_examples("Q1").front() == "Q5");
  require_throws_naming<ValueError>([&] { s.question("Q999"); }, {"Q999"});
  require_throws_naming<ValueError>([&] { s.human_answers("XYZ", "Q1"); }, {"XYZ"});
  require_throws_naming<ValueError>([&] { s.questions_of_topic("Cooking"); }, {"Cooking"});
}

TEST_CASE("generated question banks load into Question") {
  CULTURESPA_REQUIRE_SHARED(shared);
  const auto path = shared / "reference-runs" / "llama3-8b-instruct" / "generated-questions" /
                    "generated_questions_topic_5_from_all_seed.json";
  const auto bank = question_bank_load(path.string());
  REQUIRE(bank.size() == 1000);
  CHECK(bank[0].id == "Q0");
  CHECK(bank[999].id == "Q999");
  CHECK(bank[0].topic == "Migration");
  CHECK_FALSE(bank[0].zero_based);
  CHECK_FALSE(bank[0].options.empty());

  // Topic from the file name's index when "class" is absent.
  const auto dir = testing::scratch_dir("bank-topic");
  write_file(dir / "generated_questions_topic_3_from_all_seed.json",
             R"([{"Q_id": "Q7", "question": "Spend?", "option_lst": ["a", "b"]}])");
  const auto plain = question_bank_load((dir / "generated_questions_topic_3_from_all_seed.json").string());
  REQUIRE(plain.size() == 1);
  CHECK(plain[0].id == "Q7");
  CHECK(plain[0].topic == "Economic Values");
}

TEST_CASE("bad question banks name the file and the item") {
  const auto dir = testing::scratch_dir("bank-bad");
  const auto path = (dir / "bank.json").string();
  write_file(path, R"([{"Q_id": "Q0", "question": "x", "option_lst": ["a"]},)");
  require_throws_naming<FormatError>([&] { question_bank_load(path); }, {path, "malformed JSON"});
  write_file(path, R"([{"Q_id": "Q0", "question": "x", "option_lst": ["a"]}, {"Q_id": "Q1", "question": "y"}])");
  require_throws_naming<FormatError>([&] { question_bank_load(path); }, {path, "item 1", "Q1", "option_lst"});
  write_file(path, R"([{"Q_id": "Q0", "question": "x", "option_lst": ["a"]}, {"Q_id": "Q0", "question": "y", "option_lst": ["a"]}])");
  require_throws_naming<FormatError>([&] { question_bank_load(path); }, {path, "Q0", "repeats"});
  write_file(path, R"([{"Q_id": "Q0", "question": "x", "option_lst": [1, 2]}])");
  require_throws_naming<FormatError>([&] { question_bank_load(path); }, {path, "Q0", "option_lst[0]"});
  require_throws_naming<FileError>([&] { question_bank_load((dir / "missing.json").string()); }, {"missing.json"});
}

TEST_CASE("bad reference files name the file and the item") {
  SurveyConventions conventions = survey_conventions_wvs7();

  auto dir = tiny_reference("ref-ok", R"({"KEN": {"Q1": {"2": 0.5, "1": 0.5}, "Q94": {"0": 1.0}}, "MEX": {"Q1": {"1": 1}}})");
  const Survey ok = survey_load_reference(dir.string(), conventions);
  CHECK(ok.gold("KEN", "Q1") == 2);  // a tie keeps the stored order
  CHECK(ok.gold("KEN", "Q94") == 0);
  CHECK_FALSE(ok.human_answers("USA", "Q1"));

  dir = tiny_reference("ref-json", R"({"KEN": {"Q1": {"1": 0.5,}}})");
  require_throws_naming<FormatError>([&] { survey_load_reference(dir.string(), conventions); },
                                     {"proportions_group_by_country.json", "malformed JSON"});
  dir = tiny_reference("ref-unknown-q", R"({"KEN": {"Q7": {"1": 1.0}}})");
  require_throws_naming<FormatError>([&] { survey_load_reference(dir.string(), conventions); },
                                     {"proportions_group_by_country.json", "KEN", "Q7"});
  dir = tiny_reference("ref-option", R"({"KEN": {"Q1": {"3": 1.0}}})");
  require_throws_naming<FormatError>([&] { survey_load_reference(dir.string(), conventions); },
                                     {"proportions_group_by_country.json", "KEN", "Q1", "option 3"});
  dir = tiny_reference("ref-culture", R"({"XYZ": {"Q1": {"1": 1.0}}})");
  require_throws_naming<FormatError>([&] { survey_load_reference(dir.string(), conventions); },
                                     {"proportions_group_by_country.json", "XYZ"});
  dir = tiny_reference("ref-options", R"({})", R"([{"Q_id": "Q1", "question": "Q one?"}])");
  require_throws_naming<FormatError>([&] { survey_load_reference(dir.string(), conventions); },
                                     {"wvs_questions.json", "Q1", "option_lst"});
  dir = tiny_reference("ref-sim", R"({})");
  write_file(dir / "country_similarity.json", R"({"KEN": {"ATL": 50}})");
  require_throws_naming<FormatError>([&] { survey_load_reference(dir.string(), conventions); },
                                     {"country_similarity.json", "ATL"});
  dir = tiny_reference("ref-examples", R"({})");
  write_file(dir / "self_alignment_examples.json", R"({"Q1": ["Q94", "Q5"]})");
  require_throws_naming<FormatError>([&] { survey_load_reference(dir.string(), conventions); },
                                     {"self_alignment_examples.json", "Q1", "Q5"});
  const auto empty = testing::scratch_dir("ref-empty");
  require_throws_naming<FileError>([&] { survey_load_reference(empty.string(), conventions); },
                                   {"wvs_questions.json"});
}

TEST_CASE("an evaluated question needs options") {
  Survey s;
  require_throws_naming<ValueError>([&] { s.add_question(Question{"Q9", "Born?", {}, "", false}); }, {"Q9", "no options"});
  s.add_question(Question{"Q9", "Born?", {}, "", false}, /*evaluated=*/false);
  CHECK(s.evaluated_ids().empty());
  require_throws_naming<ValueError>([&] { s.set_evaluated("Q9", true); }, {"Q9"});
  require_throws_naming<ValueError>([&] { s.add_question(Question{"Q9", "Again", {"a"}, "", false}); }, {"Q9", "already"});
}

TEST_CASE("culturespa format round trip keeps everything") {
  CULTURESPA_REQUIRE_SHARED(shared);
  const Survey s = survey_load_wvs7((shared / "wvs").string());
  const auto dir = testing::scratch_dir("roundtrip");
  const auto path = (dir / "wvs7.survey.json").string();
  survey_save(s, path);
  const Survey r = survey_load(path);
  CHECK(r.name == s.name);
  CHECK(r.topics() == s.topics());
  CHECK(r.evaluated_ids() == s.evaluated_ids());
  REQUIRE(r.questions().size() == s.questions().size());
  for (std::size_t i = 0; i < s.questions().size(); ++i) {
    const auto& a = s.questions()[i];
    const auto& b = r.questions()[i];
    CHECK(a.id == b.id);
    CHECK(a.text == b.text);
    CHECK(a.options == b.options);
    CHECK(a.topic == b.topic);
    CHECK(a.zero_based == b.zero_based);
    CHECK(s.self_alignment_examples(a.id) == r.self_alignment_examples(b.id));
  }
  REQUIRE(r.cultures().size() == 18);
  for (const auto& c : s.cultures()) {
    CHECK(r.culture(c.code).adjective == c.adjective);
    CHECK(r.answered_ids(c.code) == s.answered_ids(c.code));
    for (const auto& id : s.answered_ids(c.code)) {
      CHECK(r.human_answers(c.code, id)->shares == s.human_answers(c.code, id)->shares);
    }
    CHECK(r.similarity_row(c.code) == s.similarity_row(c.code));
  }
  // Saving the loaded copy gives the same bytes.
  CHECK(survey_to_json(r) == file_read_text(path));
  CHECK_FALSE(fs::exists(path + ".tmp"));
}

TEST_CASE("bad culturespa survey files name the file and the item") {
  const auto dir = testing::scratch_dir("csp-bad");
  const auto path = (dir / "s.json").string();
  auto load = [&](const std::string& text) {
    write_file(path, text);
    return survey_load(path);
  };
  const Survey ok = load(R"({"name": "mini", "cultures": ["KEN", {"code": "ATL", "adjective": "Atlantean", "article": "an"}],
    "questions": [{"id": "A", "text": "Tea?", "options": ["Yes", "No"], "topic": "Food"}],
    "human_answers": {"ATL": {"A": {"2": 0.6, "1": 0.4}}}})");
  CHECK(ok.culture("ATL").article == "an");
  CHECK(ok.gold("ATL", "A") == 2);
  CHECK(ok.topics() == std::vector<std::string>{"Food"});

  require_throws_naming<FormatError>([&] { load(R"({"questions": [)"); }, {path, "malformed JSON"});
  require_throws_naming<FormatError>([&] { load(R"({"questions": [{"id": "A", "text": "Tea?"}]})"); },
                                     {path, "questions[0]", "A", "options"});
  require_throws_naming<FormatError>(
      [&] { load(R"({"questions": [{"id": "A", "text": "Tea?", "options": ["Y"]}], "human_answers": {"KEN": {"B": {"1": 1}}}})"); },
      {path, "KEN", "B"});
  require_throws_naming<FormatError>(
      [&] { load(R"({"questions": [{"id": "A", "text": "Tea?", "options": ["Y"]}], "human_answers": {"KEN": {"A": {"2": 1}}}})"); },
      {path, "KEN", "A", "option 2"});
  require_throws_naming<FormatError>(
      [&] { load(R"({"questions": [{"id": "A", "text": "Tea?", "options": ["Y"]}], "human_answers": {"XYZ": {"A": {"1": 1}}}})"); },
      {path, "XYZ"});
  require_throws_naming<FormatError>([&] { load(R"({"cultures": ["XYZ"], "questions": []})"); }, {path, "XYZ"});
  require_throws_naming<FormatError>([&] { load(R"({"format": "other", "questions": []})"); }, {path, "format"});
}

TEST_CASE("question banks save and load back") {
  const auto dir = testing::scratch_dir("bank-save");
  const std::vector<Question> bank = {
      Question{"Q0", "Spend or save?", {"Spend", "Save", "Don't know"}, "Economic Values", false},
      Question{"Q1", "Rate 0-2", {"0", "1", "2"}, "", true},
  };
  const auto path = (dir / "bank.json").string();
  question_bank_save(bank, path);
  const auto again = question_bank_load(path);
  REQUIRE(again.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(again[i].id == bank[i].id);
    CHECK(again[i].text == bank[i].text);
    CHECK(again[i].options == bank[i].options);
    CHECK(again[i].topic == bank[i].topic);
    CHECK(again[i].zero_based == bank[i].zero_based);
  }
  const auto doc = nlohmann::ordered_json::parse(file_read_text(path));
  CHECK(doc[0]["class"] == "Economic Values");
  CHECK_FALSE(doc[1].contains("class"));
}

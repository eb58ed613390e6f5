#include "culturespa/core/error.h"
#include "culturespa/survey/prompts.h"
#include "culturespa/survey/survey.h"

#include "support.h"

#include <fstream>
#include <functional>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

using namespace culturespa;
namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

namespace {

Json json_file(const fs::path& path) { return Json::parse(file_read_text(path.string())); }

const std::string kAwareKenyan =
    "You are a real person with a Kenyan cultural background. Please fill out the World Values "
    "Survey and answer the questions honestly according to your own value system.";
const std::string kUnaware =
    "You are a real person with your own set of values. Please fill out the World Values Survey "
    "and answer the questions honestly according to your own value system.";
const std::string kQ1User =
    "Given a #Question and #Options, choose the option that best aligns with your own value system "
    "to answer the question.\n#Question: How important is family in your life?\n#Options: "
    "1.Very important 2.Rather important 3.Not very important 4.Not at all important\n"
    "Please return the number of the selected option only.";

}  // namespace

TEST_CASE("built-in templates equal the reference's prompts.json") {
  CULTURESPA_REQUIRE_SHARED(shared);
  const Json doc = json_file(shared / "wvs" / "prompts.json");
  const auto& t = PromptTemplates::reference();
  CHECK(t.answer_system_culture_unaware == doc["answer_system_culture_unaware"]);
  CHECK(t.answer_system_culture_aware == doc["answer_system_culture_aware"]);
  CHECK(t.answer_system_cross_culture_thinking == doc["answer_system_cross_culture_thinking"]);
  CHECK(t.answer_user == doc["answer_user"]);
  CHECK(t.answer_user_self_alignment == doc["answer_user_self_alignment"]);
  CHECK(t.self_alignment_example == doc["self_alignment_example"]);
  CHECK(t.generate_system == doc["generate_system"]);
  CHECK(t.generate_user_topic == doc["generate_user_topic"]);
  CHECK(t.generate_example_topic == doc["generate_example_topic"]);
  // prompts.json itself loads as a template file and gives the same templates.
  const auto loaded = PromptTemplates::load((shared / "wvs" / "prompts.json").string());
  CHECK(loaded.to_json() == t.to_json());
}

TEST_CASE("template_format follows str.format") {
  CHECK(template_format("a {} b {}", {"x", "y"}) == "a x b y");
  CHECK(template_format("{{\"Q\": {}}}", {"1"}) == "{\"Q\": 1}");
  CHECK(template_format("{{}}", {}) == "{}");
  CHECK_THROWS_AS(template_format("{} {}", {"x"}), ConfigError);
  CHECK_THROWS_AS(template_format("{0}", {"x"}), ConfigError);
  CHECK_THROWS_AS(template_format("a } b", {}), ConfigError);
  CHECK(python_repr_list({"Yes", "Don't know", "Say \"hi\"", "a'b\"c", "back\\slash"}) ==
        R"(['Yes', "Don't know", 'Say "hi"', 'a\'b"c', 'back\\slash'])");
  CHECK(python_repr_list({}) == "[]");
  CHECK(python_repr_list({"tab\there", "caf\xc3\xa9"}) == "['tab\\there', 'caf\xc3\xa9']");
}

TEST_CASE("answering prompts match the reference wording") {
  CULTURESPA_REQUIRE_SHARED(shared);
  const Survey s = survey_load_wvs7((shared / "wvs").string());

  const SurveyPrompt aware = prompt_build(s, "Q1", PromptMethod::culture_aware, "KEN");
  REQUIRE(aware.conversation.size() == 2);
  CHECK(aware.conversation[0].role == "system");
  CHECK(aware.conversation[0].content == kAwareKenyan);
  CHECK(aware.conversation[1].role == "user");
  CHECK(aware.conversation[1].content == kQ1User);
  CHECK(aware.labels == std::vector<std::string>{"1", "2", "3", "4"});
  CHECK(aware.culture == "KEN");

  const SurveyPrompt unaware = prompt_build(s, "Q1", PromptMethod::culture_unaware);
  CHECK(unaware.conversation[0].content == kUnaware);
  CHECK(unaware.conversation[1].content == kQ1User);
  CHECK(unaware.culture.empty());

  CHECK(prompt_build(s, "Q1", PromptMethod::culture_aware, "USA").conversation[0].content.rfind(
            "You are a real person with an American cultural background.", 0) == 0);

  const SurveyPrompt zero = prompt_build(s, "Q94", PromptMethod::culture_unaware);
  CHECK(zero.labels == std::vector<std::string>{"0", "1", "2"});
  CHECK(zero.conversation[1].content.find("#Options: 0.Don't belong 1.Inactive member 2.Active member\n") !=
        std::string::npos);

  // KEN's row: NGA and ETH tie at 67.6; the reference's ascending sort read
  // backwards puts ETH before NGA.
  const SurveyPrompt cross = prompt_build(s, "Q1", PromptMethod::cross_culture_thinking, "KEN");
  CHECK(cross.conversation[0].content ==
        kAwareKenyan +
            " Before you respond, take a moment to think about how Kenyan culture is similar to "
            "Ukrainian, Ethiopian, and Nigerian cultures, and how Kenyan culture is different from "
            "New Zealand, Dutch, and Australian cultures.");
  CHECK(cross.conversation[1].content == kQ1User);

  CHECK_THROWS_AS(prompt_build(s, "Q1", PromptMethod::culture_aware), ValueError);
  CHECK_THROWS_AS(prompt_build(s, "Q1", PromptMethod::culture_aware, "MEX"), ValueError);
  CHECK_THROWS_AS(prompt_build(s, "Q999", PromptMethod::culture_aware, "KEN"), ValueError);
  CHECK(prompt_method_from_name("cross_culture_thinking_self_alignment") ==
        PromptMethod::cross_culture_thinking_self_alignment);
  CHECK_THROWS_AS(prompt_method_from_name("shouting"), ValueError);

  const auto all = prompt_build_all(s, PromptMethod::culture_aware, "KEN");
  CHECK(all.size() == 259);
}

TEST_CASE("self-alignment prompts carry the target culture's gold answers") {
  CULTURESPA_REQUIRE_SHARED(shared);
  const Survey s = survey_load_wvs7((shared / "wvs").string());
  const Json questions = json_file(shared / "wvs" / "wvs_questions.json");
  const Json gold = json_file(shared / "wvs" / "proportions_group_by_country.json");
  const Json lists = json_file(shared / "wvs" / "self_alignment_examples.json");
  std::map<std::string, Json> by_id;
  for (const auto& q : questions) by_id[q["Q_id"].get<std::string>()] = q;
  const std::set<std::string> zero_based = {"Q94", "Q95", "Q96", "Q97", "Q98", "Q99", "Q100",
                                            "Q101", "Q102", "Q103", "Q104", "Q105", "Q119", "Q122",
                                            "Q123", "Q124", "Q125", "Q126", "Q127", "Q128", "Q129",
                                            "Q241", "Q242", "Q243", "Q244", "Q245", "Q246", "Q247",
                                            "Q248", "Q249"};
  // The options text and gold answer written out independently of the library.
  auto options = [&](const std::string& id) {
    const auto& list = by_id[id]["option_lst"];
    const int first = zero_based.count(id) ? 0 : 1;
    std::string out;
    for (std::size_t i = 0; i < list.size(); ++i) {
      out += (i ? " " : "") + std::to_string(first + static_cast<int>(i)) + "." + list[i].get<std::string>();
    }
    return out;
  };
  for (const std::string culture : {"USA", "KEN", "CHN"}) {
    for (const std::string qid : {"Q1", "Q94", "Q234A", "Q259"}) {
      std::vector<std::string> examples;
      for (const auto& example : lists[qid]) {
        const std::string eid = example.get<std::string>();
        const auto& map = gold[culture][eid];
        if (map.empty()) continue;
        const std::string key = map.begin().key();
        const int g = std::stoi(key);
        const int first = zero_based.count(eid) ? 0 : 1;
        examples.push_back("Question: " + by_id[eid]["question"].get<std::string>() + " Options: " +
                           options(eid) + " Answer: " + key + "." +
                           by_id[eid]["option_lst"][g - first].get<std::string>());
        if (examples.size() == 5) break;
      }
      std::string joined;
      for (const auto& e : examples) joined += (joined.empty() ? "" : "\n") + e;
      const std::string expected_user =
          "Given a #Question and #Options, choose the option that best aligns with your own value "
          "system to answer the question.\nHere are some answered questions, which can reflect your "
          "value system:\n" +
          joined + "\nBelow are the #Question and #Options. Please return the number of the selected "
                   "option only.\n#Question: " +
          by_id[qid]["question"].get<std::string>() + "\n#Options: " + options(qid) + "\n#Answer:";
      INFO(culture << " " << qid);
      const auto plain = prompt_build(s, qid, PromptMethod::self_alignment, culture);
      CHECK(plain.conversation[1].content == expected_user);
      CHECK(plain.conversation[0].content == kUnaware);
      const auto aware = prompt_build(s, qid, PromptMethod::culture_aware_self_alignment, culture);
      CHECK(aware.conversation[1].content == expected_user);
      CHECK(aware.conversation[0].content == prompt_system(s, PromptMethod::culture_aware, culture));
      const auto cross = prompt_build(s, qid, PromptMethod::cross_culture_thinking_self_alignment, culture);
      CHECK(cross.conversation[1].content == expected_user);
      CHECK(cross.conversation[0].content == prompt_system(s, PromptMethod::cross_culture_thinking, culture));
    }
  }
}

TEST_CASE("generation prompts match the reference's recorded prompts") {
  CULTURESPA_REQUIRE_SHARED(shared);
  const Survey s = survey_load_wvs7((shared / "wvs").string());
  const auto path = shared / "reference-runs" / "llama3-8b-instruct" / "generated-questions" /
                    "generated_questions_topic_5_from_all_seed.json";
  const Json items = json_file(path);
  const auto bank = question_bank_load(path.string());
  const std::string topic = "Migration";
  // Seed questions are the topic's evaluated questions; generated examples
  // are earlier items of the same file.
  std::map<std::string, std::vector<Question>> by_text;
  for (const auto& q : s.questions_of_topic(topic)) {
    if (s.is_evaluated(q.id)) by_text[q.text].push_back(q);
  }
  std::size_t checked = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string recorded = items[i]["prompt"];
    // Recover the examples' question texts from the recorded prompt.
    std::vector<std::vector<Question>> candidates;
    for (std::size_t at = recorded.find("#Example "); at != std::string::npos;
         at = recorded.find("#Example ", at + 1)) {
      const std::size_t start = recorded.find("\nQuestion: ", at) + 11;
      const std::size_t end = recorded.find("\nOptions: ", start);
      candidates.push_back(by_text[recorded.substr(start, end - start)]);
    }
    REQUIRE(candidates.size() == 5);
    // Try each combination of same-text candidates (almost always one).
    bool matched = false;
    std::function<void(std::size_t, std::vector<Question>&)> search = [&](std::size_t k, std::vector<Question>& chosen) {
      if (matched) return;
      if (k == candidates.size()) {
        matched = prompt_generate_user(topic, chosen) == recorded;
        return;
      }
      for (const auto& q : candidates[k]) {
        chosen.push_back(q);
        search(k + 1, chosen);
        chosen.pop_back();
      }
    };
    std::vector<Question> chosen;
    search(0, chosen);
    INFO("item " << i << "\n" << recorded);
    CHECK(matched);
    checked += matched;
    by_text[bank[i].text].push_back(bank[i]);
  }
  CHECK(checked == items.size());
  const Conversation conversation = prompt_generate(topic, {bank[0]});
  REQUIRE(conversation.size() == 2);
  CHECK(conversation[0].content == PromptTemplates::reference().generate_system);
}

TEST_CASE("user templates load from a file; bad ones name file and key") {
  const auto dir = testing::scratch_dir("templates");
  const auto path = (dir / "t.json").string();
  auto write = [&](const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  };
  write(R"({"answer_system_culture_aware": "Speak as {} {} person.", "notes": {"x": 1}, "answer_user_zh": "whatever"})");
  const auto t = PromptTemplates::load(path);
  CHECK(t.answer_system_culture_aware == "Speak as {} {} person.");
  CHECK(t.answer_user == PromptTemplates::reference().answer_user);
  Survey s;
  s.add_culture(culture_from_code("KEN"));
  s.add_question(Question{"A", "Tea?", {"Yes", "No"}, "", false});
  CHECK(prompt_build(s, "A", PromptMethod::culture_aware, "KEN", t).conversation[0].content ==
        "Speak as a Kenyan person.");

  write(R"({"answer_user": "Only {}"})");
  CHECK_THROWS_WITH(PromptTemplates::load(path),
                    Catch::Contains(path) && Catch::Contains("answer_user") && Catch::Contains("expected 2"));
  write(R"({"answer_usr": "{} {}"})");
  CHECK_THROWS_WITH(PromptTemplates::load(path), Catch::Contains(path) && Catch::Contains("answer_usr"));
  write(R"({"answer_user": 3})");
  CHECK_THROWS_WITH(PromptTemplates::load(path), Catch::Contains(path) && Catch::Contains("answer_user"));
  write(R"({"answer_user": "{} {}",)");
  CHECK_THROWS_AS(PromptTemplates::load(path), FormatError);
  CHECK_THROWS_AS(PromptTemplates::load((dir / "none.json").string()), FileError);
  // No example lists: a self-alignment prompt cannot be built.
  CHECK_THROWS_WITH(prompt_build(s, "A", PromptMethod::self_alignment, "KEN"), Catch::Contains("A"));
  // No similarity table: no cross-culture prompt.
  CHECK_THROWS_WITH(prompt_build(s, "A", PromptMethod::cross_culture_thinking, "KEN"), Catch::Contains("KEN"));
}

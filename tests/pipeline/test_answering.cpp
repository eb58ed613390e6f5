#include "culturespa/core/error.h"
#include "culturespa/pipeline/answering.h"
#include "culturespa/pipeline/contrast.h"

#include <filesystem>
#include <fstream>

#include "support.h"

using namespace culturespa;

namespace {

std::vector<Question> questions3() {
  std::vector<Question> out;
  for (int i = 0; i < 3; ++i) {
    Question q;
    q.id = "Q" + std::to_string(i);
    q.text = "How important is thing " + std::to_string(i) + "?";
    q.options = {"Very", "Rather", "Not very", "Not at all"};
    q.topic = i < 2 ? "Social Values" : "Migration";
    out.push_back(q);
  }
  return out;
}

std::vector<Culture> two_cultures() { return {culture_from_code("KEN"), culture_from_code("USA")}; }

// Replies and distributions that depend on the culture named in the system
// prompt: Kenyan prompts answer 2, others 1. Counts calls.
struct Script {
  std::size_t reply_calls = 0, score_calls = 0;
  std::vector<std::uint64_t> seeds;
  std::vector<std::string> systems;

  FunctionReplySource source() {
    return FunctionReplySource(
        [this](const std::vector<Conversation>& prompts, const GenerateOptions& o) {
          ++reply_calls;
          CHECK(o.temperature == 0.6);
          CHECK(o.top_p == 0.9);
          seeds.insert(seeds.end(), o.prompt_seeds.begin(), o.prompt_seeds.end());
          std::vector<std::string> out;
          for (const auto& p : prompts) {
            systems.push_back(p[0].content);
            out.push_back(p[0].content.find("Kenyan") != std::string::npos ? "2. Rather" : "I'd say 1");
          }
          return out;
        },
        [this](const std::vector<Conversation>& prompts, const std::vector<std::vector<std::string>>& labels) {
          ++score_calls;
          std::vector<std::vector<double>> out;
          for (std::size_t i = 0; i < prompts.size(); ++i) {
            CHECK(labels[i] == std::vector<std::string>{"1", "2", "3", "4"});
            const bool kenyan = prompts[i][0].content.find("Kenyan") != std::string::npos;
            out.push_back(kenyan ? std::vector<double>{0.1, 0.7, 0.1, 0.1} : std::vector<double>{0.6, 0.2, 0.1, 0.1});
          }
          return out;
        });
  }
};

}  // namespace

TEST_CASE("QuestionAnswerer: sampled replies per culture, files the contrast stage reads") {
  const auto dir = testing::scratch_dir("answering-sampled").string();
  Script script;
  auto source = script.source();
  AnswerOptions o;
  o.mode = AnswerMode::sampled;
  o.cultures = two_cultures();
  const auto result = QuestionAnswerer(source, o).answer(questions3(), dir);
  CHECK(script.reply_calls == 3);  // one call per run: a culture's prompts share their start
  REQUIRE(result.runs.size() == 3);
  CHECK(result.runs[0].culture.empty());
  CHECK(result.runs[1].culture == "KEN");
  CHECK(result.runs[1].parsed == 3);
  CHECK(script.systems[0] == PromptTemplates::reference().answer_system_culture_unaware);
  CHECK(script.systems[3].find("with a Kenyan cultural background") != std::string::npos);
  CHECK(script.seeds[4] == pipeline_seed(0, "KEN", 1));

  // The files: reference shape, culture from the name, read by answer_file_load.
  const auto ken_path = answer_file_path(dir, "KEN", o);
  CHECK(std::filesystem::path(ken_path).filename() == "answers_culture_aware_KEN_0.json");
  CHECK(culture_from_file_name(ken_path) == std::optional<std::string>("KEN"));
  const auto ken = answer_file_load(ken_path);
  REQUIRE(ken.answers.size() == 3);
  CHECK(ken.answers[2].reply == "2. Rather");
  CHECK(ken.questions[2].topic == "Migration");
  CHECK(ken.questions[2].options.size() == 4);

  // Contrast: Kenyan answers (2) differ from unaware (1); American ones do not.
  const auto contrast = ContrastDetector().detect(questions3(), result.unaware, result.aware);
  CHECK(contrast.report.culture("KEN").counts.different == 3);
  CHECK(contrast.report.culture("USA").counts.same == 3);
  CHECK(contrast.pairs.size() == 3);
  CHECK(contrast.pairs[0].aware_answer == 2);
}

TEST_CASE("QuestionAnswerer: scored distributions; finished runs are kept on resume") {
  const auto dir = testing::scratch_dir("answering-scored").string();
  Script script;
  auto source = script.source();
  AnswerOptions o;
  o.cultures = two_cultures();
  REQUIRE(o.mode == AnswerMode::scored);
  // A run that stops after the unaware file and one culture.
  const auto stop = [](const Progress& p) { return p.done < 6; };
  CHECK_THROWS_AS(QuestionAnswerer(source, o).answer(questions3(), dir, stop), CancelledError);
  CHECK(std::filesystem::exists(answer_file_path(dir, "", o)));
  CHECK(std::filesystem::exists(answer_file_path(dir, "KEN", o)));
  CHECK_FALSE(std::filesystem::exists(answer_file_path(dir, "USA", o)));
  CHECK(script.score_calls == 2);
  const auto result = QuestionAnswerer(source, o).answer(questions3(), dir);
  CHECK(script.score_calls == 3);  // only USA computed
  CHECK(result.runs[0].resumed);
  CHECK(result.runs[1].resumed);
  CHECK_FALSE(result.runs[2].resumed);
  REQUIRE(result.aware.size() == 2);
  CHECK(result.aware[0].answers[1].distribution == std::vector<double>{0.1, 0.7, 0.1, 0.1});
  CHECK(result.aware[0].answers[1].reply == "2");  // argmax label
  const auto usa = answer_file_load(answer_file_path(dir, "USA", o));
  CHECK(usa.answers[0].distribution == std::vector<double>{0.6, 0.2, 0.1, 0.1});

  ContrastOptions co;
  co.rule = ContrastRule::distributional;
  const auto contrast = ContrastDetector(co).detect(questions3(), result.unaware, result.aware);
  CHECK(contrast.report.culture("KEN").counts.different == 3);
  CHECK(contrast.report.culture("USA").counts.different == 0);
  CHECK(contrast.pairs[0].probability == Approx(0.7));

  // A file for other questions is not silently reused.
  auto other = questions3();
  other[1].id = "Q9";
  testing::require_throws_naming<ValueError>([&] { QuestionAnswerer(source, o).answer(other, dir); },
                                             {"answers_culture_unaware_0.json", "other questions"});
}

TEST_CASE("QuestionAnswerer: bad input is named") {
  Script script;
  auto source = script.source();
  AnswerOptions o;
  o.cultures = {};
  o.unaware = false;
  CHECK_THROWS_AS(QuestionAnswerer(source, o), ValueError);
  o.cultures = {culture_from_code("KEN"), culture_from_code("KEN")};
  testing::require_throws_naming<ValueError>([&] { QuestionAnswerer(source, o); }, {"KEN", "twice"});
  o.cultures = two_cultures();
  const auto dir = testing::scratch_dir("answering-bad").string();
  auto one_option = questions3();
  one_option[1].options = {"Only"};
  testing::require_throws_naming<ValueError>([&] { QuestionAnswerer(source, o).answer(one_option, dir); },
                                             {"Q1", "1 option"});
  auto repeated = questions3();
  repeated[2].id = "Q0";
  testing::require_throws_naming<ValueError>([&] { QuestionAnswerer(source, o).answer(repeated, dir); },
                                             {"Q0", "repeated"});
  FunctionReplySource cannot_score([](const std::vector<Conversation>& p, const GenerateOptions&) {
    return std::vector<std::string>(p.size(), "1");
  });
  CHECK_THROWS_AS(QuestionAnswerer(cannot_score, o).answer(questions3(), dir), ConfigError);
  CHECK(answer_mode_from_name("sampled") == AnswerMode::sampled);
  testing::require_throws_naming<ValueError>([&] { answer_mode_from_name("greedy"); }, {"greedy"});
}

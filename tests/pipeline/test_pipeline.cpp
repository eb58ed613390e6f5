#include "culturespa/pipeline/pipeline.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "culturespa/core/error.h"
#include "culturespa/core/version.h"
#include "culturespa/generator/testing.h"
#include "culturespa/model/testing.h"
#include "culturespa/pipeline/stage_files.h"
#include "culturespa/survey/answers.h"
#include "support.h"

using namespace culturespa;
namespace fs = std::filesystem;
using culturespa::testing::require_throws_naming;
using culturespa::testing::scratch_dir;

namespace {

// Two topics of three questions, three of the built-in cultures with gold answers.
std::string tiny_survey_file(const fs::path& dir) {
  Survey s;
  s.name = "tiny";
  for (const char* code : {"USA", "KEN", "DEU"}) s.add_culture(culture_from_code(code));
  const std::vector<std::string> topics = {"Family", "Trust"};
  for (int i = 0; i < 6; ++i)
    s.add_question({"Q" + std::to_string(i + 1), "Seed question " + std::to_string(i + 1) + "?",
                    {"Very", "Rather", "Not very", "Not at all"}, topics[i / 3], false});
  int k = 0;
  for (const char* code : {"USA", "KEN", "DEU"}) {
    for (int i = 0; i < 6; ++i)
      s.set_human_answers(code, "Q" + std::to_string(i + 1), {{{1 + (i + k) % 4, 0.6}, {1 + (i + k + 1) % 4, 0.4}}});
    ++k;
  }
  const fs::path path = dir / "survey.json";
  survey_save(s, path.string());
  return path.string();
}

// Canned replies: generation replies are questions named after their seed;
// scores prefer the first label culture-unaware and the last one as a
// culture, so every (question, culture) is a contrast pair.
FunctionReplySource canned_source(int* calls = nullptr) {
  return FunctionReplySource(
      [calls](const std::vector<Conversation>& prompts, const GenerateOptions& o) {
        if (calls) ++*calls;
        std::vector<std::string> out;
        for (std::size_t i = 0; i < prompts.size(); ++i)
          out.push_back("{\"Question\": \"How much do you value thing " + std::to_string(o.prompt_seeds[i] % 100003) +
                        "?\", \"Options\": [\"A lot\", \"Somewhat\", \"Not at all\"]}");
        return out;
      },
      [calls](const std::vector<Conversation>& prompts, const std::vector<std::vector<std::string>>& labels) {
        if (calls) ++*calls;
        std::vector<std::vector<double>> out;
        for (std::size_t i = 0; i < prompts.size(); ++i) {
          std::vector<double> p(labels[i].size(), 0.1);
          const bool aware = prompts[i][0].content.find("cultural background") != std::string::npos;
          p[aware ? p.size() - 1 : 0] = 0.8;
          out.push_back(p);
        }
        return out;
      });
}

struct Fixture {
  fs::path dir;
  PipelineConfig config;

  explicit Fixture(const std::string& name) : dir(scratch_dir("pipeline-" + name)) {
    const fs::path model = dir / "model";
    TestCheckpointOptions checkpoint;
    checkpoint.vocab_size = 272;
    checkpoint.max_position_embeddings = 4096;
    checkpoint.seed = 3;
    testing_checkpoint_write(model.string(), checkpoint);
    testing_tokenizer_write(model.string());
    config.model = model.string();
    config.survey = tiny_survey_file(dir);
    config.cultures = {"USA", "KEN", "DEU"};
    config.generator.chat_format = "chatml";
    config.generate.questions_per_topic = 3;
    config.generate.round_size = 4;
    config.tune_modes = {"joint", "specific"};
    for (auto* t : {&config.tune_joint, &config.tune_specific}) {
      t->max_steps = 2;
      t->batch_size = 4;
      t->effective_batch = 4;
      t->cutoff = 512;
      t->save_steps = 1;
    }
    config.evaluate.bootstrap_samples = 0;
  }
  fs::path run() const { return dir / "run"; }
};

nlohmann::ordered_json read_json(const fs::path& p) { return nlohmann::ordered_json::parse(file_read_text(p.string())); }

}  // namespace

TEST_CASE("pipeline config: presets, the JSON round trip and named errors") {
  for (const auto& name : pipeline_config_presets()) {
    const PipelineConfig c = pipeline_config_preset(name);
    CHECK(c.preset == name);
    const std::string text = pipeline_config_to_json(c);
    CHECK(pipeline_config_to_json(pipeline_config_from_json(text)) == text);
  }
  const PipelineConfig quick = pipeline_config_preset("quick");
  CHECK(quick.constrained);
  CHECK(quick.cultures.size() == 3);
  CHECK(quick.topics.size() == 2);
  CHECK(quick.answer.mode == AnswerMode::scored);
  const PipelineConfig paper = pipeline_config_preset("paper");
  CHECK_FALSE(paper.constrained);
  CHECK(paper.generate.questions_per_topic == 1000);
  CHECK(paper.answer.mode == AnswerMode::sampled);
  CHECK(paper.answer.temperature == 0.6);
  CHECK(paper.tune_specific.effective_batch == lora_trainer_preset("culturespa-specific").effective_batch);
  require_throws_naming<ValueError>([] { pipeline_config_preset("fast"); }, {"fast", "quick", "demo", "paper"});

  // A file starts from its preset; its keys replace the preset's.
  const PipelineConfig c = pipeline_config_from_json(
      R"({"preset": "quick", "answer": {"temperature": 0.5}, "tune": {"modes": ["specific"], "specific": {"rank": 4}}})",
      "cfg.json");
  CHECK(c.preset == "quick");
  CHECK(c.answer.temperature == 0.5);
  CHECK(c.cultures == quick.cultures);
  CHECK(c.tune_modes == std::vector<std::string>{"specific"});
  CHECK(c.tune_specific.lora.r == 4);

  // A number too large for a double (nlohmann's out_of_range, not parse_error).
  require_throws_naming<FormatError>([] { pipeline_config_from_json(R"({"answer": {"temperature": 1e999}})", "cfg.json"); },
                                     {"cfg.json", "1e999"});
  require_throws_naming<ConfigError>([] { pipeline_config_from_json(R"({"answer": {"temprature": 1}})", "cfg.json"); },
                                     {"cfg.json", "answer.temprature", "temperature", "max_new_tokens"});
  require_throws_naming<ConfigError>([] { pipeline_config_from_json(R"({"anwser": {}})", "cfg.json"); },
                                     {"cfg.json", "anwser", "answer", "evaluate"});
  require_throws_naming<ConfigError>([] { pipeline_config_from_json(R"({"answer": {"temperature": "hot"}})", "cfg.json"); },
                                     {"cfg.json", "answer.temperature", "a number", "string"});
  require_throws_naming<ConfigError>([] { pipeline_config_from_json(R"({"generate": {"round_size": -1}})", "c.json"); },
                                     {"c.json", "generate.round_size"});
  require_throws_naming<ConfigError>([] { pipeline_config_from_json(R"({"answer": {"mode": "guess"}})", "c.json"); },
                                     {"answer.mode", "guess"});
  require_throws_naming<ConfigError>([] { pipeline_config_from_json(R"({"tune": {"joint": {"rnk": 2}}})", "c.json"); },
                                     {"tune.joint.rnk", "rank"});
  require_throws_naming<ConfigError>([] { pipeline_config_from_json(R"({"preset": "fast"})", "c.json"); },
                                     {"c.json", "fast", "quick"});
}

TEST_CASE("pipeline config: TOML files name the file, the key and the line") {
  const fs::path dir = scratch_dir("pipeline-toml");
  const fs::path good = dir / "run.toml";
  std::ofstream(good) << "preset = \"quick\"\n\n[run]\ncultures = [\"USA\", \"DEU\"]\n\n[answer]\ntemperature = 1\n"
                         "\n[tune.joint]\nmax_steps = 3\n";
  PipelineConfig c;
  try {
    c = pipeline_config_load(good.string());
  } catch (const ConfigError& e) {
    if (std::string(e.what()).find("JSON configs only") != std::string::npos) {
      WARN("built without toml11: TOML configs are not read");
      return;
    }
    throw;
  }
  CHECK(c.preset == "quick");
  CHECK(c.cultures == std::vector<std::string>{"USA", "DEU"});
  CHECK(c.answer.temperature == 1.0);  // a TOML integer for a number
  CHECK(c.tune_joint.max_steps == 3);

  const fs::path bad = dir / "bad.toml";
  std::ofstream(bad) << "[run]\nmodel = \"m\"\n\n[answer]\nseed = \"zero\"\n";
  require_throws_naming<ConfigError>([&] { pipeline_config_load(bad.string()); },
                                     {"bad.toml", "answer.seed", "line 5"});
  const fs::path unknown = dir / "unknown.toml";
  std::ofstream(unknown) << "[filter]\nnear_dup = 0.8\n";
  require_throws_naming<ConfigError>([&] { pipeline_config_load(unknown.string()); },
                                     {"unknown.toml", "filter.near_dup", "near_duplicate_threshold"});
  const fs::path broken = dir / "broken.toml";
  std::ofstream(broken) << "[run\n";
  require_throws_naming<FormatError>([&] { pipeline_config_load(broken.string()); }, {"broken.toml"});
}

TEST_CASE("Pipeline: bad config values are refused at construction, naming the key") {
  PipelineConfig c;
  c.tune_modes = {"joint", "mixed"};
  require_throws_naming<ConfigError>([&] { Pipeline p(c); }, {"tune.modes", "mixed"});
  c = PipelineConfig{};
  c.generate.round_size = 0;
  require_throws_naming<ConfigError>([&] { Pipeline p(c); }, {"[generate]"});
  c = PipelineConfig{};
  c.base_methods = {"P9"};
  require_throws_naming<ConfigError>([&] { Pipeline p(c); }, {"evaluate.base_methods", "P9"});
  c = PipelineConfig{};
  c.answer.mode = AnswerMode::sampled;
  c.answer.top_p = 0.0;
  require_throws_naming<ConfigError>([&] { Pipeline p(c); }, {"[answer]"});
}

TEST_CASE("Pipeline: every stage into the run folder, then nothing to do, on a tiny model with canned replies") {
  Fixture f("e2e");
  int calls = 0;
  FunctionReplySource source = canned_source(&calls);
  PipelineRunOptions options;
  options.replies = &source;
  std::vector<std::string> reported;
  options.report = [&](const std::string& dir) {
    reported.push_back(dir);
    std::ofstream(fs::path(dir) / "report.md") << "# report\n";
  };
  std::set<std::string> stages_seen;
  const Pipeline pipeline(f.config);
  const PipelineResult result = pipeline.run(f.run().string(), options, [&](const Progress& p) {
    stages_seen.insert(p.stage);
    return true;
  });
  CHECK_FALSE(result.nothing_to_do);
  REQUIRE(result.stages.size() == 8);
  for (const auto& s : result.stages) CHECK(s.status == "ran");
  CHECK(stages_seen.count("generate"));
  CHECK(stages_seen.count("tune"));
  CHECK(stages_seen.count("evaluate"));
  REQUIRE(reported.size() == 1);

  const fs::path run = f.run();
  CHECK(generated_questions_load((run / "generate/questions.jsonl").string()).size() == 6);
  CHECK(question_bank_load((run / "filter/questions.json").string()).size() == 6);
  CHECK(read_json(run / "filter/report.json").contains("steps"));
  for (const char* file : {"answers_culture_unaware_0.json", "answers_culture_aware_USA_0.json",
                           "answers_culture_aware_KEN_0.json", "answers_culture_aware_DEU_0.json"})
    CHECK(answer_file_load((run / "answer" / file).string()).answers.size() == 6);
  CHECK(contrast_pairs_load((run / "contrast/pairs.jsonl").string()).size() == 18);
  CHECK(read_json(run / "contrast/report.json").contains("cultures"));
  CHECK(fs::exists(run / "export/culturespa_train.json"));
  CHECK(fs::exists(run / "export/culturespa_KEN_train.json"));
  const auto info = read_json(run / "export/dataset_info.json");
  CHECK(info.contains("culturespa_train"));  // both exports in one dataset_info.json
  CHECK(info.contains("culturespa_USA_train"));
  for (const char* adapter : {"tune/joint", "tune/specific/USA", "tune/specific/KEN", "tune/specific/DEU"}) {
    CHECK(fs::exists(run / adapter / "adapter_model.safetensors"));
    CHECK(read_json(run / adapter / "training_log.json")["steps"].size() == 2);
  }
  CHECK(fs::exists(run / "evaluate/base/wvs_result_culture_unaware_0.json"));
  CHECK(fs::exists(run / "evaluate/base/wvs_result_culture_aware_KEN_0.json"));
  CHECK(fs::exists(run / "evaluate/joint/wvs_result_culture_aware_KEN_0.json"));
  CHECK(fs::exists(run / "evaluate/specific/wvs_result_culture_aware_DEU_0.json"));
  // The tuned models answer differently from the base one (their adapters are trained, B != 0).
  const auto base = answer_file_load((run / "evaluate/base/wvs_result_culture_aware_KEN_0.json").string());
  const auto specific = answer_file_load((run / "evaluate/specific/wvs_result_culture_aware_KEN_0.json").string());
  REQUIRE(base.answers.size() == specific.answers.size());
  CHECK(base.answers[0].distribution != specific.answers[0].distribution);

  const auto manifest = read_json(run / "manifest.json");
  CHECK(manifest["culturespa_version"] == std::string(version()));
  CHECK(manifest["config_hash"].get<std::string>().size() == 64);
  CHECK(manifest["model"]["name"] == "model");
  CHECK(manifest["inputs"].size() >= 3);  // the survey file, the model's config and tokenizer
  std::vector<std::string> order;
  for (auto it = manifest["stages"].begin(); it != manifest["stages"].end(); ++it) {
    order.push_back(it.key());
    CHECK(it.value()["status"] == "done");
    CHECK(it.value()["seconds"].get<double>() >= 0);
  }
  CHECK(order == pipeline_stage_names());
  const auto config = read_json(run / "config.json");
  CHECK(config["run"]["cultures"].size() == 3);
  CHECK(config["tune"]["joint"]["max_steps"] == 2);

  // A second run does nothing: no model call, no file rewritten.
  const auto manifest_time = fs::last_write_time(run / "manifest.json");
  const int calls_before = calls;
  const PipelineResult again = pipeline.run(run.string(), options);
  CHECK(again.nothing_to_do);
  CHECK(calls == calls_before);
  CHECK(reported.size() == 1);
  CHECK(fs::last_write_time(run / "manifest.json") == manifest_time);
}

TEST_CASE("Pipeline: a stopped run resumes without redoing finished work") {
  Fixture f("resume");
  f.config.tune_modes = {"joint"};
  FunctionReplySource source = canned_source();
  PipelineRunOptions options;
  options.replies = &source;
  const Pipeline pipeline(f.config);
  // Stop in the middle of answering: after the unaware run and one culture.
  int answer_reports = 0;
  CHECK_THROWS_AS(pipeline.run(f.run().string(), options,
                               [&](const Progress& p) { return p.stage != "answer" || ++answer_reports < 3; }),
                  CancelledError);
  const auto manifest = read_json(f.run() / "manifest.json");
  CHECK(manifest["stages"]["generate"]["status"] == "done");
  CHECK(manifest["stages"]["answer"]["status"] == "running");
  const auto kept = fs::last_write_time(f.run() / "generate/questions.jsonl");
  std::vector<fs::path> answered;
  for (const auto& e : fs::directory_iterator(f.run() / "answer"))
    if (e.path().extension() == ".json") answered.push_back(e.path());
  REQUIRE_FALSE(answered.empty());
  std::map<fs::path, fs::file_time_type> times;
  for (const auto& p : answered) times[p] = fs::last_write_time(p);

  const PipelineResult result = pipeline.run(f.run().string(), options);
  CHECK(result.stages[0].status == "skipped");  // generate
  CHECK(result.stages[2].status == "ran");      // answer, resumed
  CHECK(fs::last_write_time(f.run() / "generate/questions.jsonl") == kept);
  for (const auto& [p, t] : times) CHECK(fs::last_write_time(p) == t);  // finished answer files kept
  CHECK(read_json(f.run() / "manifest.json")["stages"]["evaluate"]["status"] == "done");
}

TEST_CASE("Pipeline: --from needs the earlier stages' outputs; another config is refused by key") {
  Fixture f("from");
  f.config.tune_modes = {};
  FunctionReplySource source = canned_source();
  PipelineRunOptions options;
  options.replies = &source;
  options.from = "contrast";
  require_throws_naming<FileError>([&] { Pipeline(f.config).run(f.run().string(), options); },
                                   {"stage contrast needs", "generate/questions.jsonl", "--from generate"});
  CHECK_FALSE(fs::exists(f.run() / "manifest.json"));  // nothing started

  options.from.clear();
  options.until = "contrast";
  const PipelineResult first = Pipeline(f.config).run(f.run().string(), options);
  CHECK(first.stages[3].status == "ran");
  CHECK(first.stages[4].status == "not selected");
  CHECK_FALSE(fs::exists(f.run() / "export"));

  PipelineConfig changed = f.config;
  changed.contrast.rule = ContrastRule::distributional;
  require_throws_naming<ConfigError>([&] { Pipeline(changed).run(f.run().string(), options); },
                                     {"contrast.rule", "reference", "distributional", "--from contrast"});
  options.from = "contrast";
  const PipelineResult redone = Pipeline(changed).run(f.run().string(), options);
  CHECK(redone.stages[2].status == "not selected");
  CHECK(redone.stages[3].status == "ran");
  CHECK(read_json(f.run() / "config.json")["contrast"]["rule"] == "distributional");
  options.from = "";
  options.until = "nowhere";
  require_throws_naming<ValueError>([&] { Pipeline(changed).run(f.run().string(), options); }, {"nowhere", "evaluate"});
}

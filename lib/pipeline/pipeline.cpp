// Pipeline: the stages of this layer chained into a run folder with a
// manifest. The stages' own classes do the work and their own resume; this
// file decides what runs, in which folder, and records it.
#include "culturespa/pipeline/pipeline.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "culturespa/core/error.h"
#include "culturespa/core/logging.h"
#include "culturespa/core/sha256.h"
#include "culturespa/core/version.h"
#include "culturespa/generator/json_constraint.h"
#include "culturespa/model/distributed.h"
#include "culturespa/pipeline/stage_files.h"
#include "culturespa/survey/answers.h"
#include "culturespa/survey/survey.h"
#include "culturespa/survey/survey_data.h"
#include "culturespa/text/tokenizer.h"

namespace culturespa {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

constexpr const char* kConfig = "config.json";
constexpr const char* kManifest = "manifest.json";
constexpr const char* kModelName = "smollm2-135m-instruct";

// A JSON file of the run folder; FormatError naming it when it does not parse.
json run_file_load(const fs::path& path) {
  try {
    return json::parse(file_read_text(path.string()));
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
    throw FormatError(path.string() + ": not valid JSON (" + e.what() + "): move it away to start the run over");
  }
}

std::string now_iso8601() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::size_t stage_index(PipelineStage s) { return static_cast<std::size_t>(s); }
PipelineStage stage_at(std::size_t i) { return static_cast<PipelineStage>(i); }
constexpr std::size_t kStages = 8;

bool has_mode(const PipelineConfig& c, const std::string& mode) {
  return std::find(c.tune_modes.begin(), c.tune_modes.end(), mode) != c.tune_modes.end();
}

std::string export_ext(const PipelineConfig& c) { return c.dataset.format == DatasetFormat::alpaca ? ".json" : ".jsonl"; }

// The first key whose value differs between two config documents ("answer.temperature").
std::optional<std::string> first_difference(const json& a, const json& b, const std::string& path = "") {
  if (a.is_object() && b.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      const std::string key = path.empty() ? it.key() : path + "." + it.key();
      if (!b.contains(it.key())) return key;
      if (auto d = first_difference(it.value(), b[it.key()], key)) return d;
    }
    for (auto it = b.begin(); it != b.end(); ++it)
      if (!a.contains(it.key())) return path.empty() ? it.key() : path + "." + it.key();
    return std::nullopt;
  }
  if (a != b) return path;
  return std::nullopt;
}

// The first stage a config key changes: [run] keys change everything.
PipelineStage stage_of_key(const std::string& key) {
  const std::string section = key.substr(0, key.find('.'));
  if (section == "run") return PipelineStage::generate;
  return pipeline_stage_from_name(section == "export" ? "export" : section);
}

json value_at(const json& doc, const std::string& key) {
  const json* v = &doc;
  std::size_t start = 0;
  while (start <= key.size()) {
    const auto dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!v->is_object() || !v->contains(part)) return json();
    v = &(*v)[part];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return *v;
}

// What a run has loaded, on first need.
struct Loaded {
  std::optional<Survey> survey;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<Generator> generator;
};

struct Run {
  const PipelineConfig& c;  // resolved: model, survey and cultures filled in
  fs::path dir;
  const PipelineRunOptions& options;
  const ProgressCallback& progress;
  Loaded loaded;
  std::string model_name;

  fs::path path(const std::string& relative) const { return dir / relative; }
  std::string rel(const fs::path& p) const { return fs::relative(p, dir).generic_string(); }

  ProgressCallback stage_progress(PipelineStage stage) const {
    if (!progress) return {};
    const std::string name = pipeline_stage_name(stage);
    const ProgressCallback& outer = progress;
    return [name, &outer](const Progress& p) { return outer(Progress{name, p.done, p.total}); };
  }

  const Survey& survey() {
    if (!loaded.survey) loaded.survey = survey_load(c.survey);
    return *loaded.survey;
  }

  void model_load() {
    if (loaded.generator) return;
    log_info("pipeline: loading ", c.model);
    loaded.model = std::make_unique<Model>(c.model, c.model_options);
    loaded.tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_folder(c.tokenizer.empty() ? c.model : c.tokenizer));
    loaded.generator = std::make_unique<Generator>(*loaded.model, *loaded.tokenizer, c.generator);
  }

  // The replies of the model-driven stages: the caller's source (tests,
  // services), else the model's Generator, loaded on first need and held in `own`.
  ReplySource& reply_source(std::unique_ptr<ReplySource>& own) {
    if (options.replies) return *options.replies;
    model_load();
    own = std::make_unique<GeneratorReplySource>(*loaded.generator);
    return *own;
  }

  std::vector<Culture> cultures() {
    std::vector<Culture> out;
    for (const auto& code : c.cultures)
      out.push_back(survey().has_culture(code) ? survey().culture(code) : culture_from_code(code));
    return out;
  }

  std::vector<std::string> generate() {
    const auto all = generation_topics_from_survey(survey());
    std::vector<GenerationTopic> topics;
    if (c.topics.empty()) {
      topics = all;
    } else {
      for (const auto& name : c.topics) {
        const auto it = std::find_if(all.begin(), all.end(), [&](const GenerationTopic& t) { return t.name == name; });
        if (it == all.end()) {
          std::string valid;
          for (const auto& t : all) valid += (valid.empty() ? "" : "; ") + t.name;
          throw ConfigError("run.topics: '" + name + "' is not a topic of survey " + survey().name + " (" + valid + ")");
        }
        topics.push_back(*it);
      }
    }
    QuestionGeneratorOptions o = c.generate;
    std::unique_ptr<ReplySource> own;
    ReplySource& source = reply_source(own);
    if (own && c.constrained)
      o.constraint = std::make_shared<JsonConstraint>(JsonConstraint::question_schema(c.min_options, c.max_options),
                                                      *loaded.tokenizer);
    fs::create_directories(path("generate"));
    const fs::path file = path("generate/questions.jsonl");
    const auto result = QuestionGenerator(source, o).generate(topics, file.string(), stage_progress(PipelineStage::generate));
    for (const auto& t : result.topics)
      if (t.exhausted)
        log_warning("generate: topic ", t.topic, " stopped at ", t.accepted, " of ", t.target,
                    " questions (attempt limit reached)");
    if (result.questions.empty())
      throw Error("generate: no question was accepted (" + rel(file) +
                  " is empty): try [generate] constrained = true for a small model, or more attempts");
    return {rel(file)};
  }

  std::vector<std::string> filter() {
    const auto generated = generated_questions_merged(generated_questions_load(path("generate/questions.jsonl").string()));
    std::vector<Question> seeds;
    if (c.filter_seeds) seeds = survey().questions();
    const auto result = QuestionFilter(c.filter).apply(generated, seeds, stage_progress(PipelineStage::filter));
    if (result.questions.empty()) throw Error("filter: every generated question was dropped (see filter/report.json)");
    fs::create_directories(path("filter"));
    file_write_atomic(path("filter/report.json").string(), question_filter_report_to_json(result.report));
    question_bank_save(result.questions, path("filter/questions.json").string());
    return {"filter/questions.json", "filter/report.json"};
  }

  AnswerOptions answer_options() {
    AnswerOptions a = c.answer;
    a.cultures = cultures();
    return a;
  }

  std::vector<std::string> answer() {
    const auto questions = question_bank_load(path("filter/questions.json").string());
    std::unique_ptr<ReplySource> own;
    ReplySource& source = reply_source(own);
    const auto result = QuestionAnswerer(source, answer_options()).answer(questions, path("answer").string(),
                                                                         stage_progress(PipelineStage::answer));
    std::vector<std::string> out;
    for (const auto& run : result.runs) out.push_back(rel(run.path));
    return out;
  }

  std::vector<std::string> contrast() {
    const auto questions = question_bank_load(path("filter/questions.json").string());
    const AnswerOptions a = answer_options();
    AnswerSet unaware{"", answer_file_load(answer_file_path(path("answer").string(), "", a)).answers};
    std::vector<AnswerSet> aware;
    for (const auto& culture : a.cultures)
      aware.push_back({culture.code, answer_file_load(answer_file_path(path("answer").string(), culture.code, a)).answers});
    const auto result = ContrastDetector(c.contrast).detect(questions, unaware, aware, stage_progress(PipelineStage::contrast));
    fs::create_directories(path("contrast"));
    file_write_atomic(path("contrast/report.json").string(), contrast_report_to_json(result.report));
    contrast_pairs_save(path("contrast/pairs.jsonl").string(), result.pairs);
    log_info("contrast: ", result.pairs.size(), " culture-related pairs");
    return {"contrast/pairs.jsonl", "contrast/report.json"};
  }

  std::vector<std::string> export_data() {
    const auto pairs = contrast_pairs_load(path("contrast/pairs.jsonl").string());
    if (pairs.empty())
      throw Error("export: contrast found no culture-related pair (contrast/report.json), so there is nothing to "
                  "tune on: a looser [contrast] rule (distributional, lower jsd_threshold) or more questions");
    const PromptBuilder build = prompt_builder_culture_aware(c.answer.templates, cultures());
    const fs::path folder = path("export");
    fs::create_directories(folder);
    std::vector<std::string> out;
    json info = json::object();  // dataset_info.json of both exports together
    std::vector<DatasetMode> modes;
    if (c.tune_modes.empty() || has_mode(c, "joint")) modes.push_back(DatasetMode::joint);
    if (has_mode(c, "specific")) modes.push_back(DatasetMode::specific);
    const fs::path info_path = folder / "dataset_info.json";
    for (const auto mode : modes) {
      DatasetExportOptions o = c.dataset;
      o.mode = mode;
      const auto summary = dataset_export(pairs, build, folder.string(), o, stage_progress(PipelineStage::export_data));
      for (const auto& file : summary.files)
        if (fs::path(file).filename() != "dataset_info.json") out.push_back(rel(file));
      if (fs::exists(info_path)) info.update(run_file_load(info_path));
    }
    if (c.dataset.format == DatasetFormat::alpaca) {
      file_write_atomic(info_path.string(), info.dump(1) + "\n");
      out.push_back(rel(info_path));
    }
    return out;
  }

  // The training file of a set ("" = the joint set), or "" when the export wrote none.
  std::string training_file(const std::string& culture) const {
    const fs::path p = path("export/" + c.dataset.name + (culture.empty() ? "" : "_" + culture) + "_train" + export_ext(c));
    return fs::exists(p) ? p.string() : std::string();
  }

  static bool adapter_finished(const fs::path& dir) {
    return fs::exists(dir / "adapter_config.json") && fs::exists(dir / "training_log.json");
  }

  void train(const LoraTrainerOptions& base, const std::string& data, const fs::path& out, const std::string& label) {
    if (adapter_finished(out)) {
      log_info("tune: ", rel(out), " is finished, kept");
      return;
    }
    LoraTrainerOptions o = base;
    o.output_dir = out.string();
    if (o.chat_format.empty()) o.chat_format = c.generator.chat_format;
    LoraTrainer trainer(*loaded.model, *loaded.tokenizer, o);
    const auto conversations = tune_data_read(data);
    const ProgressCallback p = stage_progress(PipelineStage::tune);
    TrainCallback callback;
    if (p)
      callback = [&](const TrainProgress& t) {
        return p(Progress{label, static_cast<std::size_t>(t.step), static_cast<std::size_t>(t.total_steps)});
      };
    const auto result = trainer.train(conversations, callback);
    log_info("tune: ", rel(out), ": ", result.used, " examples, ", result.steps.size(), " steps, final loss ",
             result.steps.empty() ? 0.0 : result.steps.back().loss);
  }

  std::vector<std::string> tune() {
    std::vector<std::string> out;
    if (c.tune_modes.empty()) return out;
    model_load();
    if (has_mode(c, "joint")) {
      const std::string data = training_file("");
      if (data.empty()) throw FileError(FileError::Kind::not_found, path("export").string(), "tune: export/ has no joint training set");
      train(c.tune_joint, data, path("tune/joint"), "joint");
      out.push_back("tune/joint");
    }
    if (has_mode(c, "specific")) {
      for (const auto& code : c.cultures) {
        const std::string data = training_file(code);
        if (data.empty()) {
          log_warning("tune: no training pairs for culture ", code, ": no specific adapter (its evaluation uses the base model)");
          continue;
        }
        train(c.tune_specific, data, path("tune/specific/" + code), code);
        out.push_back("tune/specific/" + code);
      }
    }
    return out;
  }

  std::vector<EvaluationMethod> methods(const std::vector<std::string>& names) const {
    std::vector<EvaluationMethod> out;
    for (const auto& n : names)
      out.push_back(fs::path(n).extension() == ".json" ? evaluation_method_load(n) : evaluation_method(n));
    return out;
  }

  Survey evaluation_survey() {
    Survey s = survey();
    if (c.evaluate_questions_per_topic == 0) return s;
    std::map<std::string, std::size_t> taken;
    for (const auto& id : s.evaluated_ids()) {
      const std::string& topic = s.question(id).topic;
      if (taken[topic]++ >= c.evaluate_questions_per_topic) s.set_evaluated(id, false);
    }
    return s;
  }

  std::vector<std::string> evaluate() {
    model_load();
    const Survey s = evaluation_survey();
    SurveyEvaluatorOptions o = c.evaluate;
    o.cultures = c.cultures;
    o.model = model_name;
    // The survey as evaluated (its evaluated questions cut to
    // questions_per_topic): what SurveyEvaluator.score needs to read the
    // result folders again (the report).
    fs::create_directories(path("evaluate"));
    survey_save(s, path("evaluate/survey.json").string());
    std::vector<std::string> out = {"evaluate/survey.json"};
    const auto p = stage_progress(PipelineStage::evaluate);
    SurveyEvaluator(*loaded.generator, s, o).evaluate(methods(c.base_methods), path("evaluate/base").string(), p);
    out.push_back("evaluate/base");
    Model& model = *loaded.model;
    const auto load = [&](const std::string& name, const fs::path& dir) {
      const auto names = model.adapter_names();
      if (std::find(names.begin(), names.end(), name) == names.end()) model.adapter_load(name, dir.string());
    };
    if (has_mode(c, "joint")) {
      load("joint", path("tune/joint"));
      o.adapters = {{"*", "joint"}};
      SurveyEvaluator(*loaded.generator, s, o).evaluate(methods(c.tuned_methods), path("evaluate/joint").string(), p);
      out.push_back("evaluate/joint");
    }
    if (has_mode(c, "specific")) {
      o.adapters.clear();
      for (const auto& code : c.cultures) {
        const fs::path dir = path("tune/specific/" + code);
        if (!adapter_finished(dir)) continue;
        load("specific_" + code, dir);
        o.adapters[code] = "specific_" + code;
      }
      SurveyEvaluator(*loaded.generator, s, o).evaluate(methods(c.tuned_methods), path("evaluate/specific").string(), p);
      out.push_back("evaluate/specific");
    }
    return out;
  }

  std::vector<std::string> report() {
    options.report(dir.string());
    std::vector<std::string> out;
    for (const char* name : {"report.md", "report.html"})
      if (fs::exists(path(name))) out.push_back(name);
    return out;
  }

  std::vector<std::string> run_stage(PipelineStage stage) {
    switch (stage) {
      case PipelineStage::generate: return generate();
      case PipelineStage::filter: return filter();
      case PipelineStage::answer: return answer();
      case PipelineStage::contrast: return contrast();
      case PipelineStage::export_data: return export_data();
      case PipelineStage::tune: return tune();
      case PipelineStage::evaluate: return evaluate();
      case PipelineStage::report: return report();
    }
    throw Error("pipeline: unknown stage");
  }
};

// The files a run's result depends on besides the config: the survey's and
// the model's config and tokenizer.
json input_hashes(const PipelineConfig& c) {
  json out = json::object();
  const auto add = [&](const fs::path& p) {
    if (fs::is_regular_file(p)) out[p.string()] = sha256_file(p.string());
  };
  if (fs::is_directory(c.survey)) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(c.survey))
      if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) add(f);
  } else {
    add(c.survey);
  }
  const fs::path tokenizer = c.tokenizer.empty() ? fs::path(c.model) : fs::path(c.tokenizer);
  add(fs::path(c.model) / "config.json");
  add(tokenizer / "tokenizer.json");
  add(tokenizer / "tokenizer_config.json");
  return out;
}

json manifest_load(const fs::path& path) {
  if (!fs::exists(path)) return json::object();
  return run_file_load(path);
}

}  // namespace

Pipeline::Pipeline(PipelineConfig config) : config_(std::move(config)) {
  const PipelineConfig& c = config_;
  std::set<std::string> modes;
  for (const auto& m : c.tune_modes) {
    if (m != "joint" && m != "specific")
      throw ConfigError("tune.modes: unknown mode '" + m + "' (modes: joint, specific)");
    if (!modes.insert(m).second) throw ConfigError("tune.modes: " + m + " is given twice");
  }
  if (!c.tune_modes.empty() && c.dataset.format == DatasetFormat::culturespa)
    throw ConfigError("export.format: culturespa's JSONL is not a training format; tuning reads alpaca or sharegpt");
  std::set<std::string> seen;
  for (const auto& code : c.cultures)
    if (!seen.insert(code).second) throw ConfigError("run.cultures: " + code + " is given twice");
  if (c.min_options < 2 || c.max_options < c.min_options)
    throw ConfigError("generate.min_options/max_options: need 2 <= min_options <= max_options");
  for (const auto* list : {&c.base_methods, &c.tuned_methods})
    for (const auto& name : *list)
      if (fs::path(name).extension() != ".json") {
        try {
          evaluation_method(name);
        } catch (const ValueError& e) {
          throw ConfigError(std::string(list == &c.base_methods ? "evaluate.base_methods" : "evaluate.tuned_methods") +
                            ": " + e.what());
        }
      }
  // The stage classes check their own options: build them over a source
  // that is never asked, so bad values fail here, before any work.
  FunctionReplySource unused([](const std::vector<Conversation>&, const GenerateOptions&) -> std::vector<std::string> {
    throw Error("pipeline: the validation source was asked");
  });
  const auto section = [](const char* name, auto&& check) {
    try {
      check();
    } catch (const ValueError& e) {
      throw ConfigError(std::string("[") + name + "]: " + e.what());
    }
  };
  section("generate", [&] { QuestionGenerator(unused, c.generate); });
  section("answer", [&] {
    AnswerOptions a = c.answer;
    a.cultures = {cultures_builtin().front()};
    QuestionAnswerer(unused, a);
  });
  section("export", [&] {
    DatasetExportOptions o = c.dataset;
    if (!(o.validation_fraction >= 0.0 && o.validation_fraction < 1.0) ||
        !(o.subsample_fraction > 0.0 && o.subsample_fraction <= 1.0))
      throw ValueError("validation_fraction must be in [0, 1) and subsample_fraction in (0, 1]");
  });
}

std::vector<std::string> Pipeline::stage_outputs(PipelineStage stage) const {
  const PipelineConfig& c = config_;
  switch (stage) {
    case PipelineStage::generate: return {"generate/questions.jsonl"};
    case PipelineStage::filter: return {"filter/questions.json", "filter/report.json"};
    case PipelineStage::answer: {
      AnswerOptions a = c.answer;
      std::vector<std::string> out;
      if (a.unaware) out.push_back(fs::path(answer_file_path("answer", "", a)).generic_string());
      for (const auto& code : c.cultures) out.push_back(fs::path(answer_file_path("answer", code, a)).generic_string());
      return out;
    }
    case PipelineStage::contrast: return {"contrast/pairs.jsonl", "contrast/report.json"};
    case PipelineStage::export_data: {
      std::vector<std::string> out;
      if (c.tune_modes.empty() || has_mode(c, "joint")) out.push_back("export/" + c.dataset.name + "_train" + export_ext(c));
      if (has_mode(c, "specific")) out.push_back("export");
      return out;
    }
    case PipelineStage::tune: {
      std::vector<std::string> out;
      if (has_mode(c, "joint")) out.push_back("tune/joint/adapter_config.json");
      if (has_mode(c, "specific")) out.push_back("tune/specific");
      return out;
    }
    case PipelineStage::evaluate: {
      std::vector<std::string> out = {"evaluate/base/evaluation.json"};
      if (has_mode(c, "joint")) out.push_back("evaluate/joint/evaluation.json");
      if (has_mode(c, "specific")) out.push_back("evaluate/specific/evaluation.json");
      return out;
    }
    case PipelineStage::report: return {"report.md", "report.html"};
  }
  return {};
}

PipelineResult Pipeline::run(const std::string& run_dir, const PipelineRunOptions& options,
                             ProgressCallback progress) const {
  if (run_dir.empty()) throw ValueError("pipeline: no run folder given");
  const std::size_t from = options.from.empty() ? 0 : stage_index(pipeline_stage_from_name(options.from));
  const std::size_t until = options.until.empty() ? kStages - 1 : stage_index(pipeline_stage_from_name(options.until));
  if (from > until)
    throw ValueError("pipeline: --from " + options.from + " comes after --until " + options.until);

  // The resolved config: what "" means is written down, so the run folder
  // says what ran.
  PipelineConfig c = config_;
  if (c.model.empty()) {
    c.model = pipeline_default_model_path();
    if (!fs::exists(fs::path(c.model) / "config.json"))
      throw FileError(FileError::Kind::not_found, c.model,
                      "model " + std::string(kModelName) + " is not fetched (" + c.model +
                          "): run `culturespa model fetch " + kModelName + "`, or give [run] model");
  }
  if (!fs::exists(fs::path(c.model) / "config.json"))
    throw FileError(FileError::Kind::not_found, c.model, "run.model: " + c.model + " is not a checkpoint folder (no config.json)");
  c.model = fs::absolute(c.model).lexically_normal().string();
  if (c.survey.empty()) c.survey = survey_data_path("wvs7");
  if (!fs::exists(c.survey))
    throw FileError(FileError::Kind::not_found, c.survey,
                    "run.survey: " + c.survey + " is missing (`culturespa data fetch wvs7` fetches the default)");
  c.survey = fs::absolute(c.survey).lexically_normal().string();
  if (c.cultures.empty())
    for (const auto& culture : cultures_builtin()) c.cultures.push_back(culture.code);
  const Pipeline resolved(c);  // the cultures filled in are checked too

  const fs::path dir = fs::absolute(run_dir);
  fs::create_directories(dir);
  const std::string config_text = pipeline_config_to_json(c);
  const json config_doc = json::parse(config_text);
  json manifest = manifest_load(dir / kManifest);
  if (!manifest.contains("stages")) manifest["stages"] = json::object();
  // Several ranks (distributed_init, docs/distributed.md): generate, answer,
  // tune and evaluate split their work; rank 0 alone runs the other stages and writes
  // the run folder's files; every rank waits for each stage's end. The
  // check is also a barrier: every rank has read the folder before rank 0
  // changes it.
  const std::shared_ptr<Distributed> ranks = distributed_group();
  const bool lead = !ranks || ranks->rank() == 0;
  if (ranks) ranks->require_same("pipeline config", config_text);

  // A folder of another config: refused, or redone from --from.
  if (fs::exists(dir / kConfig)) {
    json old = run_file_load(dir / kConfig);
    old.erase("preset");
    json now = config_doc;
    now.erase("preset");
    if (const auto key = first_difference(old, now)) {
      const PipelineStage affected = stage_of_key(*key);
      const std::string change = *key + " was " + value_at(old, *key).dump() + ", now " + value_at(now, *key).dump();
      if (options.from.empty() || from > stage_index(affected))
        throw ConfigError(dir.string() + " holds a run made with another config (" + change + "): run with --from " +
                          pipeline_stage_name(affected) + " to redo it from there, or use another run folder");
      log_warning("pipeline: config changed (", change, "): redoing from ", pipeline_stage_name(stage_at(from)));
      for (std::size_t s = from; s < kStages; ++s) {
        const std::string name = pipeline_stage_name(stage_at(s));
        manifest["stages"].erase(name);
        if (!lead) continue;
        if (stage_at(s) == PipelineStage::report) {
          fs::remove(dir / "report.md");
          fs::remove(dir / "report.html");
          fs::remove_all(dir / "report");
        } else {
          fs::remove_all(dir / name);
        }
      }
    }
  }

  if (ranks) ranks->barrier("the start of the pipeline in " + dir.string());

  // Inputs of the first stage run: the outputs of every stage before it.
  for (std::size_t s = 0; s < from; ++s) {
    const PipelineStage stage = stage_at(s);
    if (stage == PipelineStage::report) continue;
    for (const auto& output : resolved.stage_outputs(stage))
      if (!fs::exists(dir / output))
        throw FileError(FileError::Kind::not_found, (dir / output).string(),
                        "stage " + std::string(pipeline_stage_name(stage_at(from))) + " needs " + output +
                            ", an output of stage " + pipeline_stage_name(stage) + ", which is missing in " +
                            dir.string() + ": run --from " + pipeline_stage_name(stage));
  }

  PipelineResult result;
  result.run_dir = dir.string();
  const auto stage_done = [&](std::size_t s) {
    const std::string name = pipeline_stage_name(stage_at(s));
    if (!manifest["stages"].contains(name)) return false;
    const json& entry = manifest["stages"][name];
    if (entry.value("status", "") != "done") return false;
    for (const auto& output : entry.value("outputs", json::array()))
      if (!fs::exists(dir / output.get<std::string>())) return false;
    return true;
  };
  bool work = false;
  for (std::size_t s = from; s <= until; ++s) {
    if (stage_at(s) == PipelineStage::report && !options.report) continue;
    if (!options.from.empty() || !stage_done(s)) work = true;
  }
  if (!work) {
    log_info("pipeline: ", dir.string(), " is finished (stages ", pipeline_stage_name(stage_at(from)), " to ",
             pipeline_stage_name(stage_at(until)), options.report ? "" : ", the report stage without a hook",
             "): nothing to do");
    result.nothing_to_do = true;
    for (std::size_t s = 0; s < kStages; ++s) {
      const bool selected = s >= from && s <= until;
      result.stages.push_back({pipeline_stage_name(stage_at(s)), selected ? "skipped" : "not selected", 0, {}});
    }
    return result;
  }

  if (lead && (!fs::exists(dir / kConfig) || file_read_text((dir / kConfig).string()) != config_text))
    file_write_atomic((dir / kConfig).string(), config_text);
  const BuildInfo build = build_info();
  manifest["culturespa_version"] = build.version;
  manifest["torch_version"] = build.torch_version;
  manifest["config_hash"] = sha256_hex(config_text);
  const std::string model_name =
      fs::path(c.model) == fs::path(pipeline_default_model_path()).lexically_normal() ? kModelName
                                                                                       : fs::path(c.model).filename().string();
  manifest["model"] = {{"path", c.model}, {"name", model_name}};
  manifest["inputs"] = input_hashes(c);
  json stages = json::object();  // in stage order, whatever the file had
  for (const auto& name : pipeline_stage_names())
    if (manifest["stages"].contains(name)) stages[name] = manifest["stages"][name];
  manifest["stages"] = stages;
  const auto manifest_save = [&] {
    if (lead) file_write_atomic((dir / kManifest).string(), manifest.dump(2) + "\n");
  };
  manifest_save();

  Run run{c, dir, options, progress, {}, model_name};
  for (std::size_t s = 0; s < kStages; ++s) {
    const PipelineStage stage = stage_at(s);
    const std::string name = pipeline_stage_name(stage);
    PipelineStageRun record{name, "", 0, {}};
    if (s < from || s > until) {
      record.status = "not selected";
    } else if (stage == PipelineStage::report && !options.report) {
      record.status = "no hook";
      log_info("pipeline: report skipped (no report hook: the Python package's `culturespa run` writes report.md "
               "and report.html)");
    } else if (options.from.empty() && stage_done(s)) {
      record.status = "skipped";
      log_info("pipeline: ", name, " is done, skipped");
    } else {
      log_info("pipeline: ", name, " ...");
      json entry = {{"status", "running"}, {"started", now_iso8601()}};
      manifest["stages"][name] = entry;
      // Keep stage order in the object.
      json ordered = json::object();
      for (const auto& n : pipeline_stage_names())
        if (manifest["stages"].contains(n)) ordered[n] = manifest["stages"][n];
      manifest["stages"] = ordered;
      manifest_save();
      const auto started = std::chrono::steady_clock::now();
      const bool split = stage == PipelineStage::generate || stage == PipelineStage::answer ||
                         stage == PipelineStage::tune || stage == PipelineStage::evaluate;
      if (lead || split) record.outputs = run.run_stage(stage);
      if (ranks) ranks->barrier("the end of pipeline stage " + name);
      record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      record.status = "ran";
      entry["status"] = "done";
      entry["finished"] = now_iso8601();
      entry["seconds"] = record.seconds;
      entry["outputs"] = record.outputs;
      manifest["stages"][name] = entry;
      manifest_save();
      log_info("pipeline: ", name, " done in ", record.seconds, " s");
    }
    result.stages.push_back(std::move(record));
  }
  return result;
}

}  // namespace culturespa

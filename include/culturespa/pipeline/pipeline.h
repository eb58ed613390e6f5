// culturespa/pipeline/pipeline.h: the whole CultureSPA loop as one call
// (docs/pipeline.md, "One command").
//
// Pipeline chains the stage classes of this layer into a run folder:
// generate (QuestionGenerator), filter (QuestionFilter), answer
// (QuestionAnswerer), contrast (ContrastDetector), export (dataset_export),
// tune (LoraTrainer: one culture-joint adapter and/or one adapter per
// culture), evaluate (SurveyEvaluator: the base model with the base methods,
// then the joint adapter and the per-culture adapters, these in mixed
// batches) and report (a caller-given hook; the Python package writes
// report.md and report.html). The run folder's layout is in docs/pipeline.md.
//
// Every stage resumes: each stage file is written atomically or appended
// line by line, and run() keeps what a stopped run finished (the stage
// classes' own resume rules). manifest.json records the resolved config's
// hash, the versions, the input files' SHA-256 and each stage's status,
// times and outputs; a stage marked done whose outputs exist is skipped, so
// a second run on a finished folder does nothing (and says so).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "culturespa/core/export.h"
#include "culturespa/core/progress.h"
#include "culturespa/generator/generator.h"
#include "culturespa/model/model.h"
#include "culturespa/pipeline/answering.h"
#include "culturespa/pipeline/contrast.h"
#include "culturespa/pipeline/dataset_export.h"
#include "culturespa/pipeline/question_filter.h"
#include "culturespa/pipeline/question_generator.h"
#include "culturespa/pipeline/reply_source.h"
#include "culturespa/pipeline/survey_evaluator.h"
#include "culturespa/tune/lora_trainer.h"

namespace culturespa {

enum class PipelineStage { generate, filter, answer, contrast, export_data, tune, evaluate, report };

// "generate", "filter", "answer", "contrast", "export", "tune", "evaluate", "report", in run order.
CULTURESPA_API const std::vector<std::string>& pipeline_stage_names();
CULTURESPA_API const char* pipeline_stage_name(PipelineStage stage);
// ValueError listing the stage names otherwise.
CULTURESPA_API PipelineStage pipeline_stage_from_name(std::string_view name);

// Everything a run depends on, one section per stage (the config file's
// sections, docs/pipeline.md). The stage sections hold the stage classes'
// own options structs, so their defaults (the reference's settings) apply
// to whatever a config file leaves out.
struct CULTURESPA_API PipelineConfig {
  std::string preset;  // the preset it started from ("" = none: the options structs' defaults)

  // [run]
  std::string model;      // checkpoint folder; "" = the cached smollm2-135m-instruct (pipeline_default_model_path)
  std::string tokenizer;  // tokenizer folder; "" = the model folder
  std::string survey;     // survey folder or file; "" = the cached wvs7 data (culturespa data fetch wvs7)
  std::vector<std::string> cultures;  // culture codes of every stage; empty = the paper's 18
  std::vector<std::string> topics;    // topic names to generate on; empty = all of the survey's
  ModelOptions model_options;         // device, dtype, weights, threads
  GeneratorOptions generator;         // chat_format, batch_size

  // [generate]
  QuestionGeneratorOptions generate;  // its `constraint` is built from the keys below
  bool constrained = false;           // sample under JsonConstraint::question_schema (small models)
  int min_options = 2;                // the schema's option count bounds
  int max_options = 11;

  // [filter]
  QuestionFilterOptions filter;
  bool filter_seeds = true;  // the survey's questions take part in duplicate detection (the reference)

  // [answer]
  AnswerOptions answer;  // its `cultures` come from [run]

  // [contrast]
  ContrastOptions contrast;

  // [export]
  DatasetExportOptions dataset;  // its `mode` follows [tune] modes (joint and/or specific sets)

  // [tune]
  std::vector<std::string> tune_modes = {"joint"};  // "joint" and/or "specific"; empty: no tuning
  LoraTrainerOptions tune_joint = lora_trainer_preset("culturespa-joint");        // [tune.joint]
  LoraTrainerOptions tune_specific = lora_trainer_preset("culturespa-specific");  // [tune.specific]

  // [evaluate]
  SurveyEvaluatorOptions evaluate;                            // its `cultures` come from [run]
  std::vector<std::string> base_methods = {"P0", "P1"};       // asked of the base model
  std::vector<std::string> tuned_methods = {"P1"};            // asked of each tuned model
  std::size_t evaluate_questions_per_topic = 0;               // the first N evaluated questions of each topic; 0 = all
};

// Built-in presets: "quick" (the embedded SmolLM2-135M-Instruct, 2 topics, a
// few dozen constrained questions, 3 cultures, scored answering, a short
// joint tune, evaluation on the 3 cultures; minutes on a laptop), "demo" (13
// topics, 18 cultures, under an hour on 2 cores) and "paper" (the
// reference's settings for an 8B model on a GPU). ValueError listing them
// for another name.
CULTURESPA_API PipelineConfig pipeline_config_preset(const std::string& name);
CULTURESPA_API std::vector<std::string> pipeline_config_presets();

// Reads a config file: TOML (.toml, when built with toml11) or JSON (any
// other name), the same schema. A top-level `preset = "NAME"` starts from
// that preset (`preset` given here overrides it); the sections then replace
// what they name. ConfigError naming the file and the key for an unknown
// section or key (listing the valid ones), a value of the wrong type (with
// its line in TOML) or an unknown enum name; FileError when unreadable.
CULTURESPA_API PipelineConfig pipeline_config_load(const std::string& path, const std::string& preset = "");
// The same from a JSON text; `source` names it in errors.
CULTURESPA_API PipelineConfig pipeline_config_from_json(const std::string& text, const std::string& source = "<string>",
                                         const std::string& preset = "");
// Every section with every key (defaults filled in), as JSON (what the run
// folder's config.json holds; pipeline_config_from_json reads it back).
CULTURESPA_API std::string pipeline_config_to_json(const PipelineConfig& config);

// <cache>/models/smollm2-135m-instruct (cache_dir(), as the Python side's
// `culturespa model path smollm2-135m-instruct`).
CULTURESPA_API std::string pipeline_default_model_path();

// What run() did with one stage.
struct CULTURESPA_API PipelineStageRun {
  std::string stage;
  std::string status;   // "ran", "skipped" (done before), "not selected" (outside from..until), "no hook" (report)
  double seconds = 0;   // this run's time in the stage
  std::vector<std::string> outputs;  // relative to the run folder
};

struct CULTURESPA_API PipelineResult {
  std::string run_dir;
  std::vector<PipelineStageRun> stages;  // every stage, in order
  bool nothing_to_do = false;            // every selected stage was already done
};

struct CULTURESPA_API PipelineRunOptions {
  std::string from;   // first stage to run ("" = the first); stages before it must have their outputs
  std::string until;  // last stage to run ("" = the last)
  // Called with the run folder as the report stage; "" outputs. Empty: the
  // report stage is skipped (logged) and does not keep a folder unfinished.
  std::function<void(const std::string& run_dir)> report;
  // Where generate and answer get their replies. nullptr = the model (a
  // Generator over it). Tune and evaluate always use the model. Tests give
  // canned replies here.
  ReplySource* replies = nullptr;
};

class CULTURESPA_API Pipeline {
 public:
  // Checks the config (every stage's options, methods, cultures, tune modes)
  // without loading anything: ValueError / ConfigError naming the section
  // and key.
  explicit Pipeline(PipelineConfig config);
  const PipelineConfig& config() const { return config_; }

  // Runs the stages from..until into `run_dir` (created when missing).
  // Before any work: ValueError for an unknown stage name or from after
  // until; ConfigError when `run_dir` holds a run made with another config
  // (naming the first differing key; `from` at or before the first stage it
  // affects reruns from there, dropping those stages' outputs); FileError
  // when a stage before `from` lacks an output (naming it and the stage that
  // writes it), or when the model or survey is missing. CancelledError from
  // `progress` (Progress::stage is the pipeline stage) keeps all finished
  // work: run again to resume.
  //
  // Under a process group (distributed_init(), docs/distributed.md) every
  // rank calls run() alike: generate, answer, tune and evaluate split their
  // work, rank 0 alone runs the other stages and writes the run folder's files (which
  // every rank must share), and every rank waits for each stage's end.
  // ConfigError when the ranks' configs differ.
  PipelineResult run(const std::string& run_dir, const PipelineRunOptions& options = {},
                     ProgressCallback progress = {}) const;

  // The outputs of `stage` with this config, relative to the run folder.
  std::vector<std::string> stage_outputs(PipelineStage stage) const;

 private:
  PipelineConfig config_;
};

}  // namespace culturespa

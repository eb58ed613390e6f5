// culturespa/pipeline/survey_evaluator.h: a live model on a survey, every
// prompting method of the paper, both protocols, the paper's results table
// (docs/evaluation.md).
//
// SurveyEvaluator asks a model the survey's evaluated questions with each
// method, for each culture (culture_unaware once, scored against every
// culture), and writes one result file per (method, culture, run) in the
// reference release's format and names
// (wvs_result_{method}_{CULTURE}_{run}.json; culture_unaware has no culture
// part), atomically: a file that exists and holds the same questions is
// kept, so an interrupted evaluation resumes where it stopped. It then
// scores the folder into an EvaluationReport (methods as rows, cultures and
// their average as columns) with the survey layer's scorer.
//
// The model comes as a ReplySource (a Generator through
// GeneratorReplySource, or canned replies in tests): whatever the Generator
// runs (a base model, a model with LoRA adapters) is what is evaluated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "culturespa/core/progress.h"
#include "culturespa/generator/generator.h"
#include "culturespa/pipeline/reply_source.h"
#include "culturespa/survey/prompts.h"
#include "culturespa/survey/scorer.h"
#include "culturespa/survey/survey.h"
#include "culturespa/core/export.h"

namespace culturespa {

enum class EvaluationProtocol {
  scored,   // option scoring: the answer is the most probable label, the distribution is kept
  sampled,  // the reference's protocol: sampled replies parsed by the reference rule
};
CULTURESPA_API const char* evaluation_protocol_name(EvaluationProtocol protocol);
// ValueError listing "scored", "sampled" otherwise.
CULTURESPA_API EvaluationProtocol evaluation_protocol_from_name(std::string_view name);

// How the options of the asked question are ordered in the prompt. The
// labels stay 1..n (0..n-1) in display order and each answer is mapped back
// to the original option id before it is written.
enum class OptionOrder {
  original,  // the survey's order (the paper)
  reversed,  // last option first
  shuffled,  // a seeded permutation per question and shuffle index
};
CULTURESPA_API const char* option_order_name(OptionOrder order);
CULTURESPA_API OptionOrder option_order_from_name(std::string_view name);  // ValueError listing the names

// One way of asking: how prompts are built and with which templates.
struct CULTURESPA_API EvaluationMethod {
  std::string name;  // the file-name part: "culture_aware", or a user method's name
  PromptMethod prompt = PromptMethod::culture_unaware;
  PromptTemplates templates = PromptTemplates::reference();

  // culture_unaware asks once; every other method once per culture.
  bool per_culture() const { return prompt_method_needs_culture(prompt); }
};

// The paper's methods, by their file-name names (culture_unaware,
// culture_aware, cross_culture_thinking, self_alignment,
// culture_aware_self_alignment, cross_culture_thinking_self_alignment) or
// the paper's labels (P0, P1, P2, P3, P1+P3, P2+P3). ValueError listing the
// valid names otherwise.
CULTURESPA_API EvaluationMethod evaluation_method(std::string_view name);
// The six names, in the paper's order (P0, P1, P2, P3, P1+P3, P2+P3).
CULTURESPA_API const std::vector<std::string>& evaluation_method_names();
// A user method from a prompt-template file of the prompts.json shape
// (PromptTemplates::load). Its optional "_method" key names the paper method
// whose prompt structure it follows (default culture_aware); its name is
// `name`, else its "_name" key, else the file's stem. ConfigError naming
// the file for a bad key, template or name (letters, digits and _ only, and
// not one of the paper's names).
CULTURESPA_API EvaluationMethod evaluation_method_load(const std::string& path, const std::string& name = "");

struct CULTURESPA_API SurveyEvaluatorOptions {
  EvaluationProtocol protocol = EvaluationProtocol::scored;  // scored (default) or sampled
  std::vector<std::string> cultures;  // culture codes; empty = every culture of the survey
  // Sampled protocol, the reference's settings.
  std::size_t runs = 1;               // runs 0..runs-1, averaged (scored always makes run 0 only)
  double temperature = 0.6;
  double top_p = 0.9;
  std::int64_t max_new_tokens = 256;
  std::int64_t seed = 42;             // run r samples with seed - r (the reference's 42 - run_id)
  // Option-order robustness (docs/evaluation.md).
  OptionOrder option_order = OptionOrder::original;
  std::size_t shuffles = 1;           // shuffled: permutations per question (files ..._shuffled<k>_...)
  std::uint64_t shuffle_seed = 0;     // seeds the permutations
  std::size_t examples = 5;           // self-alignment in-context examples
  std::string model;                  // the model's name in evaluation.json ("" = the generator's model path, else "unnamed")
  std::string prefix = "wvs_result";  // result-file prefix
  // LoRA adapters of the model that answer (the Generator's model has them
  // loaded): culture code -> adapter name for that culture's prompts, "*" ->
  // the adapter of every other prompt (culture_unaware included). Empty: the
  // base model. With per-culture adapters the cultures of one method and run
  // are asked in one call, so batches mix adapters. ConfigError for a source
  // without adapters, ValueError for a culture not evaluated.
  std::map<std::string, std::string> adapters;
  // Scoring (the survey layer's scorer).
  std::size_t bootstrap_samples = 1000;  // resamples for the 95% intervals; 0: none
  std::uint64_t bootstrap_seed = 0;
  double confidence = 0.95;
};

// One result file's run.
struct CULTURESPA_API EvaluationRun {
  std::string method;    // the method's name (with the option-order suffix, if any)
  std::string culture;   // "" for culture_unaware
  std::size_t run = 0;
  std::string path;
  bool resumed = false;  // evaluate(): the file existed and was kept
  std::size_t questions = 0;
};

// One method x culture cell of the table.
struct CULTURESPA_API EvaluationCell {
  std::string culture;
  double alignment = 0;      // x100: the paper's score, mean over runs; NaN when nothing counted
  double ci_low = 0;         // 95% bootstrap interval x100 (one run: the scorer's; several: see docs)
  double ci_high = 0;
  double random_baseline = 0;  // x100, exact, over run 0's counted questions
  std::size_t runs = 0;
  std::size_t answered = 0;        // replies, summed over runs
  std::size_t counted = 0;         // in the score, summed over runs
  std::size_t parse_failures = 0;  // summed over runs
  std::map<std::string, std::size_t> failures;  // by reason
  std::map<std::string, double> topics;         // topic -> alignment x100 (mean over runs)
  // Scored protocol: distribution-level similarity to the human shares x100
  // (scorer's score_distributions); NaN otherwise.
  double js_similarity = 0;
  double wasserstein_similarity = 0;
};

struct CULTURESPA_API EvaluationRow {
  std::string method;
  std::vector<EvaluationCell> cells;  // in the report's culture order
  double average = 0;                 // mean of the cells' alignment (NaN ones left out)
  // The model's culture x culture similarity (per-culture methods with two
  // or more cultures) and its Spearman correlation with the human matrix;
  // NaN / empty otherwise.
  SimilarityMatrix similarity;
  double similarity_rank_correlation = 0;
  // Rows asked with permuted options (option_order reversed / shuffled),
  // against the same method in the original order, run 0, over the questions
  // (x cultures) whose original answer the permutation moved: the share
  // answered with the same option (content followed) and with the option now
  // at the original answer's position (position followed). NaN otherwise.
  double same_option_share = 0;
  double same_position_share = 0;
  std::size_t moved_answers = 0;
  double average_spread = 0;  // max - min of the method's averages over its orders (first order row only); NaN otherwise
};

struct CULTURESPA_API EvaluationReport {
  std::string model;
  std::string protocol;
  std::string option_order;
  std::size_t runs = 0;
  std::string survey;                    // the survey's name
  std::vector<std::string> cultures;     // column order
  std::vector<std::string> topics;       // the survey's topic order
  std::size_t evaluated_questions = 0;   // asked per run
  std::vector<std::string> skipped_ids;  // survey questions not evaluated, not asked
  std::vector<EvaluationRow> rows;       // one per method, in the order asked
  SimilarityMatrix human_similarity;     // the gold answers' matrix over `cultures`
  std::vector<EvaluationRun> files;      // every result file of the report
};

// JSON (one object, NaN as null), CSV (one row per method x culture plus
// the average, and per method x culture x topic), Markdown (the paper's
// table: methods as rows, cultures and the average as columns; then counts
// and the per-topic table).
CULTURESPA_API std::string evaluation_report_to_json(const EvaluationReport& report);
CULTURESPA_API std::string evaluation_report_to_csv(const EvaluationReport& report);
CULTURESPA_API std::string evaluation_report_to_markdown(const EvaluationReport& report);

// The file of one (method, culture, run): <dir>/<prefix>_<method>[_<CULTURE>]_<run>.json.
CULTURESPA_API std::string evaluation_result_path(const std::string& dir, const std::string& method, const std::string& culture,
                                                  std::size_t run, const std::string& prefix = "wvs_result");

class CULTURESPA_API SurveyEvaluator {
 public:
  // The source (or generator) must outlive the evaluator. ValueError for an
  // unknown culture, a culture without any gold answer in the survey (the
  // table would hold a cell that cannot be scored), runs or shuffles outside
  // 1..1000.
  SurveyEvaluator(ReplySource& source, Survey survey, SurveyEvaluatorOptions options = {});
  // Asks through generator.score_options / generator.generate (whatever model,
  // adapters included, the generator runs); options.model "" records the
  // generator's model path.
  SurveyEvaluator(const Generator& generator, Survey survey, SurveyEvaluatorOptions options = {});
  ~SurveyEvaluator();
  SurveyEvaluator(SurveyEvaluator&&) noexcept;

  const Survey& survey() const { return survey_; }
  const SurveyEvaluatorOptions& options() const { return options_; }
  const std::vector<std::string>& cultures() const { return cultures_; }

  // The prompts of one method for one culture ("" for culture_unaware), one
  // per evaluated question in survey order, with the option order of `shuffle`
  // (0..shuffles-1; ignored for the original order): what evaluate() asks.
  std::vector<SurveyPrompt> prompts(const EvaluationMethod& method, std::string_view culture = {},
                                    std::size_t shuffle = 0) const;

  // Asks every method (each once per culture when per_culture(), and once per
  // run and shuffle) into `dir` (created when missing), then scores the
  // folder. A result file that exists with the same question ids in order is
  // kept; one with other ids is a ValueError naming it. `dir`'s
  // evaluation.json records the model and protocol: a folder holding
  // another model's or protocol's evaluation is a ValueError naming both.
  // CancelledError from `progress` keeps every finished file.
  //
  // Under a process group (distributed_init(), docs/distributed.md) every
  // rank calls evaluate() alike: the result files are split by the unit
  // asked in one call (one (method, culture, run) file; with adapters, one
  // method and run), unit g to rank g % world size; rank 0 writes
  // evaluation.json; after the last rank is done every rank scores the
  // folder, which must be shared by all ranks. The files equal one
  // process's byte for byte. ConfigError when the ranks' settings differ.
  EvaluationReport evaluate(const std::vector<EvaluationMethod>& methods, const std::string& dir,
                            ProgressCallback progress = {}) const;

  // Scores the finished files of `methods` in `dir` (no model calls). A
  // missing file is a ValueError naming it: a partial table is never
  // presented as complete.
  EvaluationReport score(const std::vector<EvaluationMethod>& methods, const std::string& dir) const;

 private:
  void validate();

  std::unique_ptr<ReplySource> owned_source_;  // the Generator's source, when given one
  ReplySource* source_;
  Survey survey_;
  SurveyEvaluatorOptions options_;
  std::vector<std::string> cultures_;
};

// --- folders of finished evaluations -----------------------------------------

// What evaluation.json of a result folder records.
struct CULTURESPA_API EvaluationManifest {
  std::string model;
  std::string protocol;
  std::string option_order;
  std::size_t runs = 1;
  std::size_t shuffles = 1;
  std::string survey;
  std::string prefix = "wvs_result";
  std::vector<std::string> methods;   // method names with results, in the order asked
  std::vector<std::string> cultures;  // culture codes
};
// Reads <dir>/evaluation.json; FileError when missing, FormatError naming the field.
CULTURESPA_API EvaluationManifest evaluation_manifest_load(const std::string& dir);

// Several result folders of the same model in one table (rows: folder x
// method), with the paired difference of every row against the first one
// per culture and for the average (the same questions resampled for both
// sides). ValueError naming both models when the folders hold evaluations
// of different models, or naming a folder that lacks a culture of the first.
struct CULTURESPA_API ComparisonRow {
  std::string label;  // "<folder>: <method>"
  EvaluationRow row;
  std::vector<PairedDifference> differences;  // per culture against the first row (empty for it)
  ConfidenceInterval average_difference;      // mean over cultures of the per-culture differences
};
struct CULTURESPA_API ComparisonReport {
  std::string model;
  std::vector<std::string> cultures;
  std::vector<ComparisonRow> rows;
};
CULTURESPA_API ComparisonReport evaluation_compare(const std::vector<std::string>& dirs, const Survey& survey,
                                                   const ScorerOptions& scoring = {});
CULTURESPA_API std::string comparison_report_to_json(const ComparisonReport& report);
CULTURESPA_API std::string comparison_report_to_csv(const ComparisonReport& report);
CULTURESPA_API std::string comparison_report_to_markdown(const ComparisonReport& report);

}  // namespace culturespa

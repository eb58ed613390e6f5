// culturespa/pipeline/dataset_export.h: culture-related pairs as SFT data.
//
// Turns contrast pairs into training sets that LLaMA-Factory (Alpaca), TRL
// (messages JSONL) or culturespa itself read (docs/pipeline.md, "export").
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "culturespa/core/progress.h"
#include "culturespa/pipeline/contrast.h"
#include "culturespa/survey/prompts.h"
#include "culturespa/text/conversation.h"
#include "culturespa/core/export.h"

namespace culturespa {

// Builds the (system, user) conversation that asks `question` of a model
// speaking for `culture` (a code such as "KEN"). The exporter holds no prompt
// text of its own: the caller's builder decides it.
using PromptBuilder = std::function<Conversation(const Question& question, const std::string& culture)>;

// The reference's culture-aware answering prompt (survey/prompts.h:
// PromptMethod::culture_aware with `templates`) for any of `cultures`; a
// culture code outside them is a ValueError naming it.
CULTURESPA_API PromptBuilder prompt_builder_culture_aware(const PromptTemplates& templates = PromptTemplates::reference(),
                                                          const std::vector<Culture>& cultures = cultures_builtin());

enum class DatasetFormat {
  alpaca,      // a JSON list of {instruction, input, output, system} + dataset_info.json
  sharegpt,    // JSONL of {"messages": [{"role", "content"}, ...]}
  culturespa,  // JSONL with question id, topic, culture, both answers, rule, score
};
enum class DatasetMode {
  joint,     // all cultures in one set, each item with its culture's prompt
  specific,  // one set per culture
};

CULTURESPA_API const char* dataset_format_name(DatasetFormat format);
CULTURESPA_API DatasetFormat dataset_format_from_name(const std::string& name);  // ValueError when unknown
CULTURESPA_API const char* dataset_mode_name(DatasetMode mode);
CULTURESPA_API DatasetMode dataset_mode_from_name(const std::string& name);  // ValueError when unknown

struct CULTURESPA_API DatasetExportOptions {
  DatasetFormat format = DatasetFormat::alpaca;  // default: LLaMA-Factory's Alpaca
  DatasetMode mode = DatasetMode::joint;         // default: one set for all cultures
  // Output text: the answer label ("3"), as the reference trains; with this
  // set, the label and the option text as the prompts list options ("3.Rather
  // important"), where the answer is one of the question's options.
  bool answer_with_option_text = false;  // default: label only
  // Share of question ids in the validation split (0: no validation file).
  double validation_fraction = 0.0;  // default: all train
  // Share of question ids kept (the reference's 10%..90% data-quantity
  // ablation); smaller fractions keep subsets of larger ones.
  double subsample_fraction = 1.0;  // default: all
  // Salt of the id hashes deciding split and subsample; change it for another draw.
  std::uint64_t seed = 0;
  std::string name = "culturespa";  // file names and dataset_info.json keys start with it
};

// One training example.
struct CULTURESPA_API DatasetRecord {
  std::string question_id;
  std::string culture;
  std::string split;  // "train" or "validation"
  Conversation prompt;  // what the builder made (system, user)
  std::string output;   // the assistant's answer
  const ContrastPair* pair = nullptr;  // the pair it came from (valid while the pairs live)
};

// Where a question id falls, from a 64-bit FNV-1a hash, followed by
// MurmurHash3's fmix64 finaliser, of "<seed>:<id>" (for the split) and
// "<seed>:subsample:<id>" (for subsampling), mapped to [0, 1) as
// (hash >> 11) / 2^53. Documented so that other tools can reproduce it.
CULTURESPA_API double dataset_hash_unit(const std::string& key);
CULTURESPA_API bool dataset_is_validation(const std::string& question_id, const DatasetExportOptions& options);
CULTURESPA_API bool dataset_is_sampled(const std::string& question_id, const DatasetExportOptions& options);

// The answer text of a pair as the options say.
CULTURESPA_API std::string dataset_output_text(const ContrastPair& pair, bool answer_with_option_text);

// Why a pair gives no training example: none (valid), an aware answer that
// is not one of its question's option ids (a parse of "99" or "-1" must not
// become the training target "99"), or a repeat of an earlier pair's
// (question id, culture) (the first one is kept).
enum class PairProblem { none, answer_not_an_option, duplicate };
// The problem of each pair, in pair order.
CULTURESPA_API std::vector<PairProblem> dataset_pair_problems(const std::vector<ContrastPair>& pairs);

// Records for `pairs` after dropping invalid and duplicate pairs
// (dataset_pair_problems) and subsampling, in pair order. ValueError for a
// fraction outside its range or an empty builder.
CULTURESPA_API std::vector<DatasetRecord> dataset_records(const std::vector<ContrastPair>& pairs, const PromptBuilder& build,
                                                          const DatasetExportOptions& options = {});

// What dataset_export wrote.
struct CULTURESPA_API DatasetExportSummary {
  std::vector<std::string> files;                 // paths written, in order
  std::map<std::string, std::size_t> records;     // file path -> records in it
  std::size_t pairs_in = 0;                       // pairs given
  std::size_t pairs_invalid = 0;                  // dropped: aware answer not an option id of the question
  std::size_t pairs_duplicate = 0;                // dropped: same question id and culture as an earlier pair
  std::size_t pairs_sampled = 0;                  // pairs left after dropping and subsampling
};

// Writes the datasets into `dir` (created when missing): per set
// "<name>[_<CULTURE>]_train.<ext>" and, when validation_fraction > 0,
// "..._validation.<ext>"; for Alpaca also dataset_info.json naming every file.
// Each file is written atomically. ValueError for no pairs, or none valid.
CULTURESPA_API DatasetExportSummary dataset_export(const std::vector<ContrastPair>& pairs, const PromptBuilder& build,
                                                   const std::string& dir, const DatasetExportOptions& options = {},
                                                   ProgressCallback progress = {});

}  // namespace culturespa

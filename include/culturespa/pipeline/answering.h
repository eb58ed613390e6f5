// culturespa/pipeline/answering.h: the model answers a question set,
// culture-unaware and as each culture.
//
// Two modes (docs/pipeline.md, "answer"): sampled replies, parsed later by
// the reference rule (the reference's way), or option distributions from
// option scoring (culturespa's way). One run per culture (plus the unaware
// run), each written atomically as an answer file that answer_file_load and
// the ContrastDetector read; a run whose file exists is not recomputed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "culturespa/core/progress.h"
#include "culturespa/pipeline/contrast.h"
#include "culturespa/pipeline/reply_source.h"
#include "culturespa/pipeline/stage_files.h"
#include "culturespa/survey/prompts.h"
#include "culturespa/survey/survey.h"
#include "culturespa/core/export.h"

namespace culturespa {

enum class AnswerMode {
  sampled,  // a sampled reply per question (the reference: temperature 0.6, top-p 0.9)
  scored,   // the option distribution from option scoring; "answer" is the argmax label
};
CULTURESPA_API const char* answer_mode_name(AnswerMode mode);
CULTURESPA_API AnswerMode answer_mode_from_name(const std::string& name);  // ValueError when unknown

struct CULTURESPA_API AnswerOptions {
  AnswerMode mode = AnswerMode::scored;  // default: culturespa's option scoring
  std::vector<Culture> cultures = cultures_builtin();  // the culture-aware runs (the 18 by default)
  bool unaware = true;                   // also the culture-unaware run (first)
  // Sampled mode, as the reference's answering runs.
  double temperature = 0.6;
  double top_p = 0.9;
  std::int64_t max_new_tokens = 32;      // the reply's first number is what counts (>= 1)
  std::uint64_t seed = 0;                // reply to question i of culture c depends only on (seed, c, i)
  std::string name = "answers";          // file stem: <name>_culture_unaware_0.json, <name>_culture_aware_<CODE>_0.json
  PromptTemplates templates = PromptTemplates::reference();
  // A run whose file exists is kept only when it was made with the same
  // settings (answer_settings; stage_files.h); true recomputes every run.
  bool overwrite = false;
};

// What one run did.
struct CULTURESPA_API AnswerRunReport {
  std::string culture;   // "" for the culture-unaware run
  std::string path;      // its answer file
  bool resumed = false;  // the file existed and was kept
  std::size_t questions = 0;
  std::size_t parsed = 0;  // replies the reference contrast rule reads (0..15); scored: all
  std::size_t rank = 0;    // the rank that answered (or kept) the run: k % world size (docs/distributed.md)
};

struct CULTURESPA_API AnswerResult {
  AnswerSet unaware;             // empty culture; empty answers when not run
  std::vector<AnswerSet> aware;  // in culture order
  std::vector<AnswerRunReport> runs;
};

// The settings a run's answers depend on, recorded beside its file: mode,
// the culture (code, adjective, article), the templates (hash), the reply
// source's settings (model, chat format) and, for sampled answers,
// temperature, top_p, max_new_tokens and seed.
CULTURESPA_API StageSettings answer_settings(const AnswerOptions& options, const std::string& culture, const ReplySource& source);

// The answer-file path of a run ("" culture = unaware) in `dir`.
CULTURESPA_API std::string answer_file_path(const std::string& dir, const std::string& culture, const AnswerOptions& options = {});

// Writes an answer file as a JSON list in the reference's shape: per
// question {"Q_id", "question", "option_lst", "class", "zero_based",
// "answer"} plus "distribution" (and "answer" = its argmax label) for
// scored answers. Atomic. ValueError when answers and questions differ in length.
CULTURESPA_API void answer_file_save(const std::string& path, const std::vector<Question>& questions,
                                     const std::vector<ModelAnswer>& answers);

class CULTURESPA_API QuestionAnswerer {
 public:
  // The source must outlive the answerer. ValueError for no runs (no
  // cultures and unaware false), a culture code given twice, or sampling
  // options out of range (max_new_tokens < 1, temperature < 0, top_p
  // outside (0, 1]).
  QuestionAnswerer(ReplySource& source, AnswerOptions options = {});
  const AnswerOptions& options() const { return options_; }

  // Answers `questions` (each with 2 or more options, ids unique: ValueError
  // naming the question otherwise) for every run into `dir` (created when
  // missing). A run whose file exists, holds the same question ids in the
  // same order and records the same settings (answer_settings) is read
  // instead of recomputed; one holding other ids or made with other
  // settings is a ValueError naming the file and the first differing
  // setting, unless options.overwrite. CancelledError from `progress` keeps
  // the finished runs' files.
  //
  // Under a process group (distributed_init(), docs/distributed.md) every
  // rank calls answer() alike: run k (the unaware run first, then the
  // cultures) is answered by rank k % world size, whole, then every rank
  // reads the other runs' files from `dir`, which must be shared by all
  // ranks. The files equal one process's byte for byte. ConfigError when
  // the ranks' settings or questions differ.
  AnswerResult answer(const std::vector<Question>& questions, const std::string& dir,
                      ProgressCallback progress = {}) const;

 private:
  ReplySource& source_;
  AnswerOptions options_;
};

}  // namespace culturespa

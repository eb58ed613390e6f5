// culturespa/pipeline/stage_files.h: the files between pipeline stages.
//
// Each stage (filter, contrast, export) reads and writes plain JSON/JSONL so
// that any stage can run alone (docs/pipeline.md, "Stage files"). Every write
// is atomic: an interrupted run leaves the previous file or the new one.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "culturespa/pipeline/contrast.h"
#include "culturespa/pipeline/question_filter.h"
#include "culturespa/survey/answers.h"
#include "culturespa/survey/survey.h"
#include "culturespa/core/export.h"

namespace culturespa {

// Answer files (the reference's wvs_result_*.json, or JSONL) are read with
// answer_file_load, their culture told by culture_from_file_name
// (culturespa/survey/answers.h).

// Contrast pairs as JSONL, one pair a line (docs/pipeline.md). The loader
// reads what the saver writes; FormatError naming the file and line otherwise.
CULTURESPA_API void contrast_pairs_save(const std::string& path, const std::vector<ContrastPair>& pairs);
CULTURESPA_API std::vector<ContrastPair> contrast_pairs_load(const std::string& path);
// The same from a text; `source` names it in errors.
CULTURESPA_API std::vector<ContrastPair> contrast_pairs_parse(const std::string& text, const std::string& source = "<string>");

// Stage settings: the options that change a stage's results (answer mode,
// sampling temperature and seed, prompt templates, model, ...), recorded
// beside each stage file so that a resumed run never keeps results made
// with other settings. Any stage that keeps finished files uses them:
//
//   StageSettings settings;
//   settings.set("mode", "sampled");
//   settings.set("temperature", "0.6");
//   if (exists(path)) stage_settings_require(path, settings);  // else ValueError
//   stage_settings_save(path, settings);  // first, so a record never lags its file
//   file_write_atomic(path, ...);
//
// The record is ".<stage file name>.settings" beside it (JSON: {"hash",
// "settings"}): a hidden file, so shell globs over the stage files
// (answers/*_culture_aware_*) miss it.
struct CULTURESPA_API StageSettings {
  std::vector<std::pair<std::string, std::string>> values;  // name -> value text, in set() order
  // Adds or replaces a setting. Numbers: give their shortest exact text
  // (stage_setting_number) so that equal values compare equal.
  void set(const std::string& name, const std::string& value);
  const std::string* find(const std::string& name) const;  // nullptr when not set
  // 16 hex digits: FNV-1a 64 of the "name=value" lines; equal settings give
  // equal hashes.
  std::string hash() const;
};
// A number's shortest text that reads back to the same double ("0.6", "1e-05").
CULTURESPA_API std::string stage_setting_number(double value);
// "<folder>/.<name>.settings" for "<folder>/<name>".
CULTURESPA_API std::string stage_settings_path(const std::string& stage_file);
// Writes the record atomically.
CULTURESPA_API void stage_settings_save(const std::string& stage_file, const StageSettings& settings);
// The recorded settings; nullopt when there is no record. FormatError naming
// the record when it is malformed.
CULTURESPA_API std::optional<StageSettings> stage_settings_load(const std::string& stage_file);
// Before a finished stage file is kept: ValueError when it has no record, or
// when a setting differs, naming the first such setting with both values
// ("answers_culture_unaware_0.json was made with temperature=0.6; this run
// has temperature=1") and `remedy` (e.g. "rerun with --overwrite to start
// over, or write into another folder").
CULTURESPA_API void stage_settings_require(const std::string& stage_file, const StageSettings& settings,
                            const std::string& remedy);

// The reports as JSON documents (docs/pipeline.md).
CULTURESPA_API std::string question_filter_report_to_json(const QuestionFilterReport& report);
CULTURESPA_API std::string contrast_report_to_json(const ContrastReport& report);

}  // namespace culturespa

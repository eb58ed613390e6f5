// culturespa/pipeline/stage_files.h: the files between pipeline stages.
//
// Each stage (filter, contrast, export) reads and writes plain JSON/JSONL so
// that any stage can run alone (docs/pipeline.md, "Stage files"). Every write
// is atomic: an interrupted run leaves the previous file or the new one.
#pragma once

#include <string>
#include <vector>

#include "culturespa/pipeline/contrast.h"
#include "culturespa/pipeline/question_filter.h"
#include "culturespa/survey/survey.h"

namespace culturespa {

// A model's answers as a stage file holds them, with the questions it names.
struct AnswerFile {
  AnswerSet answers;
  std::vector<Question> questions;  // from "question"/"option_lst" where the items carry them
};

// Reads an answer file: a JSON list (the reference's wvs_result_*.json) or
// JSONL, each item {"Q_id" | "question_id", "answer" | "reply", optional
// "distribution": [numbers], optional "question", "option_lst" | "options",
// "class" | "topic"}. The answer set gets `culture` (empty: culture-unaware).
// FormatError naming the file and the item for malformed items.
AnswerFile answer_file_load(const std::string& path, const std::string& culture = "");

// The culture code of a reference answer file name
// ("wvs_result_culture_aware_KEN_0.json" -> "KEN"), or empty.
std::string culture_from_answer_file_name(const std::string& path);

// Contrast pairs as JSONL, one pair a line (docs/pipeline.md). The loader
// reads what the saver writes; FormatError naming the file and line otherwise.
void contrast_pairs_save(const std::string& path, const std::vector<ContrastPair>& pairs);
std::vector<ContrastPair> contrast_pairs_load(const std::string& path);

// The reports as JSON documents (docs/pipeline.md).
std::string question_filter_report_to_json(const QuestionFilterReport& report);
std::string contrast_report_to_json(const ContrastReport& report);

}  // namespace culturespa

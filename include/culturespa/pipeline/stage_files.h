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
#include "culturespa/survey/answers.h"
#include "culturespa/survey/survey.h"

namespace culturespa {

// Answer files (the reference's wvs_result_*.json, or JSONL) are read with
// answer_file_load, their culture told by culture_from_file_name
// (culturespa/survey/answers.h).

// Contrast pairs as JSONL, one pair a line (docs/pipeline.md). The loader
// reads what the saver writes; FormatError naming the file and line otherwise.
void contrast_pairs_save(const std::string& path, const std::vector<ContrastPair>& pairs);
std::vector<ContrastPair> contrast_pairs_load(const std::string& path);

// The reports as JSON documents (docs/pipeline.md).
std::string question_filter_report_to_json(const QuestionFilterReport& report);
std::string contrast_report_to_json(const ContrastReport& report);

}  // namespace culturespa

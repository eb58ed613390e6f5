// The pipeline's model-free stages in C++ on a handful of made-up answers:
// filter a small question bank, detect culture-related pairs, and export them
// as a messages-JSONL training set.
//
//   ./culturespa_pipeline_contrast_example [output-dir]
#include <culturespa/core/error.h>
#include <culturespa/pipeline/contrast.h>
#include <culturespa/pipeline/dataset_export.h>
#include <culturespa/pipeline/question_filter.h>

#include <filesystem>
#include <iostream>

using namespace culturespa;

int main(int argc, char** argv) {
  const std::string out_dir =
      argc > 1 ? argv[1] : (std::filesystem::temp_directory_path() / "culturespa-pipeline-example").string();
  try {
    std::vector<Question> generated{
        {"Q0", "How important is tradition in your family?", {"1. Very", "2. Somewhat", "3. Not"}, "Values", false},
        {"Q1", "How important is tradition in your family?", {"Very", "Not"}, "Values", false},  // duplicate
        {"Q2", "How much do you trust strangers?", {"1", "2", "3"}, "Trust", false},  // bare numbers, no scale
        {"Q3", "Should elders decide for the family?", {"Agree", "Disagree"}, "Values", false},
    };
    const auto filtered = QuestionFilter().apply(generated);
    std::cout << "filter: " << filtered.report.input << " -> " << filtered.questions.size() << " questions\n";

    AnswerSet unaware{"", {{"Q0", "1", {}}, {"Q3", "2", {}}}};
    std::vector<AnswerSet> aware{{"KEN", {{"Q0", "1", {}}, {"Q3", "1. Agree", {}}}},
                                 {"NLD", {{"Q3", "2", {}}, {"Q0", "3", {}}}}};
    const auto contrast = ContrastDetector().detect(filtered.questions, unaware, aware);
    for (const auto& c : contrast.report.cultures)
      std::cout << c.culture << ": valid " << c.counts.valid << ", same " << c.counts.same << ", different "
                << c.counts.different << "\n";

    DatasetExportOptions options;
    options.format = DatasetFormat::sharegpt;
    const auto summary = dataset_export(contrast.pairs, prompt_builder_culture_aware(), out_dir, options);
    for (const auto& file : summary.files) std::cout << "wrote " << file << "\n";
  } catch (const Error& error) {
    std::cerr << "error: " << error.what() << "\n";
    return 1;
  }
  return 0;
}

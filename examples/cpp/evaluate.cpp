// Evaluates a model on the WVS with the paper's culture-unaware (P0) and
// culture-aware (P1) prompts, scored protocol, and prints the results table.
//
//   culturespa_evaluate_example MODEL_DIR OUTPUT_DIR [CULTURE...]
//
// MODEL_DIR is a Hugging Face checkpoint folder with its tokenizer (e.g.
// `culturespa model path smollm2-135m-instruct`); the survey is the fetched
// WVS-7 copy (`culturespa data fetch wvs7`). Without cultures it asks KEN
// and DEU. Rerunning resumes: finished result files are kept.
#include <iostream>
#include <string>
#include <vector>

#include "culturespa/core/error.h"
#include "culturespa/generator/generator.h"
#include "culturespa/pipeline/survey_evaluator.h"
#include "culturespa/survey/survey_data.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: " << argv[0] << " MODEL_DIR OUTPUT_DIR [CULTURE...]\n";
    return 2;
  }
  try {
    const culturespa::Model model(argv[1]);
    const culturespa::Tokenizer tokenizer = culturespa::Tokenizer::from_folder(argv[1]);
    const culturespa::Generator generator(model, tokenizer);

    culturespa::SurveyEvaluatorOptions options;
    options.model = argv[1];
    for (int i = 3; i < argc; ++i) options.cultures.push_back(argv[i]);
    if (options.cultures.empty()) options.cultures = {"KEN", "DEU"};

    const culturespa::SurveyEvaluator evaluator(generator, culturespa::survey_load_cached("wvs7"), options);
    const auto report = evaluator.evaluate(
        {culturespa::evaluation_method("P0"), culturespa::evaluation_method("P1")}, argv[2],
        [](const culturespa::Progress& p) {
          std::cerr << "\r" << p.stage << " " << p.done << "/" << p.total << std::flush;
          return true;
        });
    std::cerr << "\n";
    std::cout << culturespa::evaluation_report_to_markdown(report);
  } catch (const culturespa::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

// Asks SmolLM2-135M-Instruct (or any LLaMA checkpoint) one WVS question as a
// Kenyan and as a German respondent and prints both option distributions.
//
//   culturespa_smollm2_cultures_example MODEL [TOKENIZER_DIR] [QUESTION_ID]
//
// MODEL is a checkpoint folder (`culturespa model path smollm2-135m-instruct`
// prints the cached SmolLM2 one) or a .gguf file, weights and tokenizer
// loaded directly from it. TOKENIZER_DIR, a folder holding tokenizer.json,
// overrides the model's own tokenizer. The question comes from ../shared/wvs when present
// ($CULTURESPA_SHARED_DIR overrides ../shared), else WVS Q1 is built here.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include "culturespa/generator/generator.h"
#include "culturespa/core/gguf.h"
#include "culturespa/model/model.h"
#include "culturespa/survey/prompts.h"
#include "culturespa/survey/survey.h"
#include "culturespa/text/tokenizer.h"

namespace fs = std::filesystem;
using namespace culturespa;

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " MODEL_DIR_OR_GGUF [TOKENIZER_DIR] [QUESTION_ID]\n"
              << "  (the SmolLM2 folder: `culturespa model path smollm2-135m-instruct`)\n";
    return 2;
  }
  const std::string model_path = argv[1];
  const bool is_gguf = gguf_is_file(model_path);
  int next = 2;
  std::string tokenizer_path = model_path;  // a folder and a .gguf file both carry their tokenizer
  if (argc > 2 && fs::is_directory(argv[2])) tokenizer_path = argv[next++];
  const std::string question_id = argc > next ? argv[next] : "Q1";

  const Model model(model_path);
  const Tokenizer tokenizer = Tokenizer::from_folder(tokenizer_path);
  const Generator generator(model, tokenizer);

  const char* env = std::getenv("CULTURESPA_SHARED_DIR");
  const fs::path shared = env ? fs::path(env) : fs::path("../shared");
  Survey survey;
  if (fs::exists(shared / "wvs" / "wvs_questions.json")) {
    survey = survey_load_wvs7((shared / "wvs").string());
  } else {
    survey.name = "demo";
    survey.add_question({"Q1", "How important is family in your life?",
                         {"Very important", "Rather important", "Not very important", "Not at all important"},
                         "",
                         false});
    for (const char* code : {"KEN", "DEU"}) survey.add_culture(culture_from_code(code));
  }

  const Question& question = survey.question(question_id);
  std::cout << "model: " << model_path << (is_gguf ? " (GGUF: weights dequantised on load, tokenizer from its metadata)" : "") << "\n"
            << question_id << ": " << question.text << "\n";
  GenerateOptions greedy;
  greedy.max_new_tokens = 8;
  for (const char* culture : {"KEN", "DEU"}) {
    const SurveyPrompt prompt = prompt_build(survey, question_id, PromptMethod::culture_aware, culture);
    const OptionScores scores = generator.score_options({prompt.conversation}, {prompt.labels});
    const std::string reply = generator.generate({prompt.conversation}, greedy)[0].text;
    std::cout << "\nas a " << survey.culture(culture).adjective << " respondent (reply: \"" << reply << "\")\n";
    for (std::size_t l = 0; l < prompt.labels.size(); ++l) {
      char line[160];
      std::snprintf(line, sizeof line, "  %3s. %-40s %.4f\n", prompt.labels[l].c_str(),
                    question.options[l].substr(0, 40).c_str(), scores.probs[0][l]);
      std::cout << line;
    }
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}

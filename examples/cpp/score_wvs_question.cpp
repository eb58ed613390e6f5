// Scores one WVS question for three cultures (USA, CHN, KEN) with option
// scoring and prints the three answer distributions.
//
//   culturespa_score_wvs_question_example [QUESTION_ID]
//
// The model is a small random checkpoint written here, so the distributions
// are noise; with a real instruction-tuned checkpoint (Model("path") and
// Tokenizer::from_folder("path")) they are the model's culture-conditioned
// answers. The tokenizer is ../shared's LLaMA-2 one when present (else a
// small test tokenizer), the question comes from ../shared/wvs when present
// (else a copy of WVS Q1 made here). $CULTURESPA_SHARED_DIR overrides ../shared.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include "culturespa/core/error.h"
#include "culturespa/generator/generator.h"
#include "culturespa/generator/testing.h"
#include "culturespa/model/model.h"
#include "culturespa/model/testing.h"
#include "culturespa/survey/prompts.h"
#include "culturespa/survey/survey.h"
#include "culturespa/text/sentencepiece.h"
#include "culturespa/text/tokenizer.h"

namespace fs = std::filesystem;
using namespace culturespa;

int main(int argc, char** argv) try {
  const std::string question_id = argc > 1 ? argv[1] : "Q1";
  const char* env = std::getenv("CULTURESPA_SHARED_DIR");
  const fs::path shared = env ? fs::path(env) : fs::path("../shared");
  const fs::path work = fs::temp_directory_path() / "culturespa-score-wvs-example";
  fs::create_directories(work);

  std::string chat_format = "llama2";
  fs::path tokenizer_dir = shared / "fixtures" / "tokenizers" / "llama2";
  if (!fs::exists(tokenizer_dir / "tokenizer.model") || !sentencepiece_available()) {
    tokenizer_dir = work / "tokenizer";
    testing_tokenizer_write(tokenizer_dir.string());
    chat_format = "chatml";
  }
  const Tokenizer tokenizer = Tokenizer::from_folder(tokenizer_dir.string());
  TestCheckpointOptions checkpoint;
  checkpoint.vocab_size = tokenizer.vocab_size();
  checkpoint.hidden_size = 128;
  checkpoint.intermediate_size = 256;
  checkpoint.num_hidden_layers = 4;
  checkpoint.seed = 1;
  testing_checkpoint_write((work / "model").string(), checkpoint);
  const Model model((work / "model").string());

  Survey survey;
  if (fs::exists(shared / "wvs" / "wvs_questions.json")) {
    survey = survey_load_wvs7((shared / "wvs").string());
  } else {
    survey.name = "demo";
    survey.add_question({"Q1",
                         "For each of the following, indicate how important it is in your life. Would you say "
                         "it is: Family",
                         {"Very important", "Rather important", "Not very important", "Not at all important"}});
    for (const char* code : {"USA", "CHN", "KEN"}) survey.add_culture(culture_from_code(code));
  }

  GeneratorOptions options;
  options.chat_format = chat_format;
  const Generator generator(model, tokenizer, options);
  std::vector<Conversation> prompts;
  std::vector<std::string> labels;
  const std::vector<std::string> cultures = {"USA", "CHN", "KEN"};
  for (const auto& culture : cultures) {
    SurveyPrompt prompt = prompt_build(survey, question_id, PromptMethod::culture_aware, culture);
    prompts.push_back(prompt.conversation);
    labels = prompt.labels;
  }
  const OptionScores scores = generator.score_options(prompts, {labels});
  const Question& question = survey.question(question_id);
  std::cout << question_id << ": " << question.text << "\n";
  for (std::size_t c = 0; c < cultures.size(); ++c) {
    std::cout << cultures[c] << ":";
    for (std::size_t l = 0; l < labels.size(); ++l) {
      char cell[64];
      std::snprintf(cell, sizeof cell, "  %s:%.3f", labels[l].c_str(), scores.probs[c][l]);
      std::cout << cell;
    }
    const auto best = static_cast<std::size_t>(scores.argmax[c]);
    std::cout << "   (mass on labels " << scores.allowed_mass[c] << "; argmax " << labels[best] << " = "
              << question.options[best] << ")\n";
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}

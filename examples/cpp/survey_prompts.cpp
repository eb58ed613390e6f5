// Prints the culture-aware prompt that asks a Kenyan persona a WVS question,
// with the answer labels option scoring uses.
//
//   culturespa_survey_prompts_example [SURVEY] [QUESTION_ID]
//
// SURVEY is the reference release's folder (default ../shared/wvs, or
// $CULTURESPA_SHARED_DIR/wvs) or a culturespa survey file. When neither is
// there, the example writes a one-question survey of its own and uses that.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include "culturespa/core/error.h"
#include "culturespa/survey/prompts.h"
#include "culturespa/survey/survey.h"

namespace fs = std::filesystem;

namespace {

std::string default_survey_path() {
  if (const char* shared = std::getenv("CULTURESPA_SHARED_DIR")) return (fs::path(shared) / "wvs").string();
  return "../shared/wvs";
}

// A tiny survey in the culturespa format (docs/survey.md).
std::string write_tiny_survey() {
  const auto path = fs::temp_directory_path() / "culturespa-example-survey.json";
  culturespa::file_write_atomic(path.string(), R"({
  "format": "culturespa.survey",
  "name": "tiny",
  "cultures": ["KEN", "USA"],
  "questions": [
    {"id": "Q1", "text": "How important is family in your life?",
     "options": ["Very important", "Rather important", "Not very important", "Not at all important"],
     "topic": "Social Values, Attitudes & Stereotypes"}
  ],
  "human_answers": {"KEN": {"Q1": {"1": 0.97, "2": 0.02, "3": 0.01}}}
}
)");
  return path.string();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string path = argc > 1 ? argv[1] : default_survey_path();
    const std::string question_id = argc > 2 ? argv[2] : "Q1";
    if (!fs::exists(path)) {
      std::cerr << path << " not found: using a tiny survey written by this example\n";
      path = write_tiny_survey();
    }
    const culturespa::Survey survey = culturespa::survey_load(path);
    std::cout << "survey '" << survey.name << "': " << survey.questions().size() << " questions, "
              << survey.evaluated_ids().size() << " evaluated, " << survey.cultures().size()
              << " cultures\n\n";
    const culturespa::SurveyPrompt prompt = culturespa::prompt_build(
        survey, question_id, culturespa::PromptMethod::culture_aware, "KEN");
    for (const auto& message : prompt.conversation) {
      std::cout << "[" << message.role << "]\n" << message.content << "\n\n";
    }
    std::cout << "answer labels:";
    for (const auto& label : prompt.labels) std::cout << ' ' << label;
    if (const auto gold = survey.gold("KEN", question_id)) {
      std::cout << "\nKenyan gold answer: " << *gold << " ("
                << survey.question(question_id).option_text(*gold) << ")";
    }
    std::cout << "\n";
    return 0;
  } catch (const culturespa::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

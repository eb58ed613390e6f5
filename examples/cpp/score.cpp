// Scores a run file (the reference format: a JSON list of {"Q_id", "answer"})
// against a survey's human answers and prints the paper's alignment score with
// its bootstrap interval, the random-answer baseline and the per-topic scores.
//
//   culturespa_score_example [SURVEY RUN [CULTURE]]
//
// SURVEY is the reference release's folder (e.g. ../shared/wvs) or a
// culturespa survey file; CULTURE defaults to the `_<ISO>_` part of RUN's
// name. Without arguments the example scores a small run of its own against a
// two-question survey built in memory.
#include <iostream>
#include <string>

#include "culturespa/core/error.h"
#include "culturespa/survey/scorer.h"
#include "culturespa/survey/survey.h"

namespace {

culturespa::Survey tiny_survey() {
  culturespa::Survey survey;
  survey.name = "tiny";
  survey.add_culture(culturespa::culture_from_code("KEN"));
  survey.add_question({"Q1", "How important is family in your life?",
                       {"Very important", "Rather important", "Not very important", "Not at all important"},
                       "Social Values", false});
  survey.add_question({"Q2", "How much do you trust your neighborhood?",
                       {"Trust completely", "Trust somewhat", "Do not trust very much", "Do not trust at all"},
                       "Social Capital", false});
  survey.set_human_answers("KEN", "Q1", {{{1, 0.97}, {2, 0.02}, {3, 0.01}}});
  survey.set_human_answers("KEN", "Q2", {{{2, 0.45}, {3, 0.3}, {1, 0.15}, {4, 0.1}}});
  return survey;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const bool own_data = argc < 3;
    culturespa::Survey survey = own_data ? tiny_survey() : culturespa::survey_load(argv[1]);
    const std::vector<culturespa::RunAnswer> run =
        own_data ? std::vector<culturespa::RunAnswer>{{"Q1", "1. Very important"}, {"Q2", "I'd say 3."}}
                 : culturespa::run_load(argv[2]);
    std::string culture = "KEN";
    if (argc > 3) {
      culture = argv[3];
    } else if (!own_data) {
      const auto from_name = culturespa::run_culture_from_path(argv[2], survey);
      if (!from_name) {
        std::cerr << argv[2] << ": no culture in the file name; give it as the third argument\n";
        return 2;
      }
      culture = *from_name;
    }

    culturespa::ScorerOptions options;
    options.parse = culturespa::ParseMode::robust;
    const culturespa::SurveyScorer scorer(std::move(survey), options);
    const culturespa::CultureScore score = scorer.score(run, culture, own_data ? "<example run>" : argv[2]);

    std::cout << culture << ": alignment " << score.alignment << " (95% CI " << score.ci_low << " .. "
              << score.ci_high << "), random answers would score " << score.random_baseline << "\n"
              << score.counts.counted << " of " << score.counts.answered << " replies counted, "
              << score.counts.parse_failures << " unparsed\n";
    for (const auto& topic : score.topics) {
      std::cout << "  " << topic.topic << ": " << topic.alignment << " (" << topic.counts.counted << " counted)\n";
    }
    std::cout << "\n" << culturespa::report_to_markdown(culturespa::score_report({score}, "run", options.parse));
    return 0;
  } catch (const culturespa::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
}

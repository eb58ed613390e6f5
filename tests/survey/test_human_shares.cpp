// Human shares are proportions of respondents: a map summing to more than 1
// is refused, not normalised silently into another distribution (issue #16).
#include "culturespa/core/error.h"
#include "culturespa/survey/survey.h"

#include "support.h"

using namespace culturespa;

TEST_CASE("survey: human shares summing to more than 1 are refused naming culture and question") {
  Survey survey;
  survey.add_culture(culture_from_code("KEN"));
  Question q;
  q.id = "Q1";
  q.text = "How important is family?";
  q.options = {"Very", "Rather", "Not very", "Not at all"};
  survey.add_question(q);
  HumanAnswers fine;
  fine.shares = {{1, 0.5}, {2, 0.3}, {3, 0.1}};  // 0.9: "don't know" answers are missing
  CHECK_NOTHROW(survey.set_human_answers("KEN", "Q1", fine));
  HumanAnswers rounding;
  rounding.shares = {{1, 0.1 + 0.2}, {2, 0.7}};  // 1.0000000000000002
  CHECK_NOTHROW(survey.set_human_answers("KEN", "Q1", rounding));
  HumanAnswers over;
  over.shares = {{1, 0.9}, {2, 0.5}};
  testing::require_throws_naming<ValueError>([&] { survey.set_human_answers("KEN", "Q1", over); },
                                             {"KEN", "Q1", "sum to 1.4", "more than 1"});
}

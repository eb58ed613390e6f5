// Linked from the core, text and survey objects only, without LibTorch
// (CMakeLists.txt: culturespa_survey_link_check): when any of them needs
// LibTorch or a model-side layer, this executable fails to link. Run by ctest
// (survey_links_without_libtorch).
#include <iostream>

#include "culturespa/core/version.h"
#include "culturespa/pipeline/contrast.h"
#include "culturespa/survey/survey.h"

int main() {
  std::cout << "culturespa " << culturespa::version() << ": survey, scoring, contrast and export link without LibTorch ("
            << culturespa::contrast_rule_name(culturespa::ContrastRule{}) << ")\n";
  return 0;
}

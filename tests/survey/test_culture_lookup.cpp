// Cultures by the names people type, and the default survey's lookup.

#include <cstdlib>

#include "culturespa/core/error.h"
#include "culturespa/survey/culture_lookup.h"
#include "culturespa/survey/survey_data.h"

#include "support.h"

using namespace culturespa;

namespace {

Survey cultures_only() {
  Survey survey;
  survey.name = "cultures";
  for (const Culture& culture : cultures_builtin()) survey.add_culture(culture);
  survey.add_culture({"JPN", "Japanese", "a"});
  survey.add_culture({"XYZ", "Xyzian", "an"});
  return survey;
}

}  // namespace

TEST_CASE("a culture resolves by code, adjective or country, case-insensitively", "[culture_lookup]") {
  const Survey survey = cultures_only();
  CHECK(culture_resolve(survey, "kenya").code == "KEN");
  CHECK(culture_resolve(survey, " German ").code == "DEU");
  CHECK(culture_resolve(survey, "jpn").adjective == "Japanese");
  CHECK(culture_resolve(survey, "New Zealand").code == "NZL");
  CHECK(culture_resolve(survey, "united kingdom").code == "GBR");
  CHECK(culture_resolve(survey, "xyzian").code == "XYZ");
  CHECK(culture_country("ETH") == "Ethiopia");
  CHECK(culture_country("XYZ").empty());
  for (const Culture& culture : cultures_builtin()) CHECK_FALSE(culture_country(culture.code).empty());
  // Unknown: the error lists the survey's cultures by country (else adjective).
  testing::require_throws_naming<ValueError>([&] { culture_resolve(survey, "Atlantis"); },
                                             {"unknown culture 'Atlantis'", "KEN (Kenya)", "XYZ (Xyzian)"});
}

TEST_CASE("the default survey is the path given, else $CULTURESPA_SURVEY, else the cache", "[culture_lookup]") {
  const auto dir = testing::scratch_dir("survey-default");
  Survey written;
  written.name = "mine";
  written.add_culture(cultures_builtin()[0]);
  survey_save(written, (dir / "mine.json").string());
  CHECK(survey_default((dir / "mine.json").string()).name == "mine");

  ::setenv("CULTURESPA_CACHE", (dir / "cache").c_str(), 1);
  ::setenv("CULTURESPA_SURVEY", (dir / "mine.json").c_str(), 1);
  CHECK(survey_default().name == "mine");
  ::unsetenv("CULTURESPA_SURVEY");
  // Nothing cached: survey_load_cached's error, saying how to fetch it.
  testing::require_throws_naming<FileError>([] { survey_default(); }, {"culturespa data fetch wvs7"});
  ::unsetenv("CULTURESPA_CACHE");
}

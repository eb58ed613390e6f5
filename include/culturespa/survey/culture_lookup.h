// culturespa/survey/culture_lookup.h: a culture by the name a person types
// (code "KEN", adjective "Kenyan" or country "Kenya"), for command lines and
// applications that take a culture from a user.
#pragma once

#include <string>
#include <string_view>

#include "culturespa/core/export.h"
#include "culturespa/survey/survey.h"

namespace culturespa {

// The country of a culture code: "KEN" -> "Kenya", for the paper's 18
// cultures and JPN; "" for any other code.
CULTURESPA_API std::string culture_country(std::string_view code);

// The culture of `survey` named by its code (KEN), adjective (Kenyan) or
// country (Kenya), case-insensitive, surrounding spaces ignored. ValueError
// listing the survey's cultures ("KEN (Kenya), ...") otherwise.
CULTURESPA_API const Culture& culture_resolve(const Survey& survey, std::string_view name);

}  // namespace culturespa

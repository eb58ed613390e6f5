#include "culturespa/survey/culture_lookup.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "culturespa/core/error.h"

namespace culturespa {
namespace {

constexpr std::pair<const char*, const char*> kCountries[] = {
    {"USA", "United States"}, {"CAN", "Canada"},   {"BOL", "Bolivia"},      {"BRA", "Brazil"},
    {"GBR", "United Kingdom"}, {"NLD", "Netherlands"}, {"DEU", "Germany"},   {"UKR", "Ukraine"},
    {"CHN", "China"},          {"RUS", "Russia"},   {"IND", "India"},        {"THA", "Thailand"},
    {"KEN", "Kenya"},          {"NGA", "Nigeria"},  {"ETH", "Ethiopia"},     {"ZWE", "Zimbabwe"},
    {"AUS", "Australia"},      {"NZL", "New Zealand"}, {"JPN", "Japan"},
};

std::string lowered(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trimmed(std::string_view text) {
  const auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return text;
}

}  // namespace

std::string culture_country(std::string_view code) {
  for (const auto& [known, country] : kCountries)
    if (code == known) return country;
  return {};
}

const Culture& culture_resolve(const Survey& survey, std::string_view name) {
  const std::string wanted = lowered(trimmed(name));
  for (const Culture& culture : survey.cultures()) {
    const std::string country = culture_country(culture.code);
    if (wanted == lowered(culture.code) || wanted == lowered(culture.adjective) ||
        (!country.empty() && wanted == lowered(country)))
      return culture;
  }
  std::string known;
  for (const Culture& culture : survey.cultures()) {
    const std::string country = culture_country(culture.code);
    known += (known.empty() ? "" : ", ") + culture.code + " (" + (country.empty() ? culture.adjective : country) + ")";
  }
  throw ValueError("unknown culture '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace culturespa

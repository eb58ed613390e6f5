// Private helpers of the survey layer's JSON readers: every error names the
// file (or "<string>") and the item at fault.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "culturespa/core/error.h"

namespace culturespa::json_read {

using Json = nlohmann::ordered_json;

// The JSON document of `source` (a file name or "<string>"); key order kept.
inline Json json_parse(const std::string& text, const std::string& source) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    throw FormatError(source + ": malformed JSON: " + e.what());
  }
}

inline Json json_load(const std::string& path) { return json_parse(file_read_text(path), path); }

inline const char* json_type(const Json& j) { return j.type_name(); }

inline void json_expect(const Json& j, Json::value_t type, const std::string& where,
                 const char* expected) {
  const bool ok = type == Json::value_t::number_float
                      ? j.is_number()
                      : (j.type() == type ||
                         (type == Json::value_t::number_integer && j.is_number_integer()));
  if (!ok) {
    throw FormatError(where + ": expected " + expected + ", found " + json_type(j));
  }
}

inline const Json& json_field(const Json& object, const char* key, const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end()) throw FormatError(where + ": missing field \"" + key + "\"");
  return *it;
}

inline std::string json_string(const Json& object, const char* key, const std::string& where) {
  const Json& value = json_field(object, key, where);
  json_expect(value, Json::value_t::string, where + ": field \"" + key + "\"", "a string");
  return value.get<std::string>();
}

inline std::vector<std::string> json_string_list(const Json& value, const std::string& where) {
  json_expect(value, Json::value_t::array, where, "a list of strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    json_expect(value[i], Json::value_t::string, where + "[" + std::to_string(i) + "]", "a string");
    out.push_back(value[i].get<std::string>());
  }
  return out;
}

}  // namespace culturespa::json_read

// Private helpers of the survey layer's JSON readers: every error names the
// file (or "<string>") and the item at fault.
#pragma once

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "culturespa/core/error.h"

namespace culturespa::json_read {

using Json = nlohmann::ordered_json;

// The JSON document of `source` (a file name or "<string>"); key order kept.
inline Json json_parse(const std::string& text, const std::string& source) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
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

// An integer in lo..hi. nlohmann's get<int>() would truncate 2.7 to 2, wrap
// 4294967298 to 2 and make 1e300 undefined behaviour: each a silent wrong value.
inline long long json_integer(const Json& value, const std::string& where, long long lo, long long hi) {
  const bool fits = value.is_number_unsigned() ? value.get<unsigned long long>() <= static_cast<unsigned long long>(hi)
                                               : value.is_number_integer() && value.get<long long>() >= lo &&
                                                     value.get<long long>() <= hi;
  if (!fits)
    throw FormatError(where + ": expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi) +
                      ", found " + value.dump());
  return value.get<long long>();
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

// One item of a record file with its place for messages ("item 3", "line 4").
struct JsonRecord {
  std::string place;
  Json item;
};

// The items of a JSON list, or of JSONL (one JSON object a line, blank lines
// skipped); blank text has none. `what` names the items in the message for a
// file that is neither ("answer objects").
inline std::vector<JsonRecord> json_records(const std::string& text, const std::string& source, const char* what) {
  std::vector<JsonRecord> records;
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return records;
  if (text[first] == '[') {
    Json doc = json_parse(text, source);
    for (std::size_t i = 0; i < doc.size(); ++i) records.push_back({"item " + std::to_string(i), std::move(doc[i])});
    return records;
  }
  if (text[first] != '{') {
    throw FormatError(source + ": expected a JSON list of " + what + " or JSONL (one object a line), found '" +
                      text.substr(first, 20) + "'");
  }
  std::istringstream lines(text);
  std::string line;
  for (std::size_t n = 1; std::getline(lines, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string place = "line " + std::to_string(n);
    Json item = json_parse(line, source + ": " + place);
    records.push_back({std::move(place), std::move(item)});
  }
  return records;
}

}  // namespace culturespa::json_read

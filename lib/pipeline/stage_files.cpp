#include "culturespa/pipeline/stage_files.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "culturespa/core/error.h"
#include "json_read.h"

namespace culturespa {

using nlohmann::json;

namespace {

json counts_json(const ContrastCounts& c) {
  return json{{"compared", c.compared}, {"valid", c.valid}, {"same", c.same},
              {"different", c.different}, {"invalid", c.invalid}};
}

json per_topic_json(const std::map<std::string, ContrastCounts>& per_topic) {
  json out = json::object();
  for (const auto& [topic, counts] : per_topic) out[topic] = counts_json(counts);
  return out;
}

}  // namespace

void StageSettings::set(const std::string& name, const std::string& value) {
  for (auto& [key, text] : values)
    if (key == name) {
      text = value;
      return;
    }
  values.emplace_back(name, value);
}

const std::string* StageSettings::find(const std::string& name) const {
  for (const auto& [key, text] : values)
    if (key == name) return &text;
  return nullptr;
}

std::string StageSettings::hash() const {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64
  for (const auto& [key, text] : values)
    for (const std::string& part : {key, std::string("="), text, std::string("\n")})
      for (unsigned char c : part) h = (h ^ c) * 0x100000001b3ULL;
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

std::string stage_setting_number(double value) {
  char text[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

std::string stage_settings_path(const std::string& stage_file) {
  const std::filesystem::path path(stage_file);
  return (path.parent_path() / ("." + path.filename().string() + ".settings")).string();
}

void stage_settings_save(const std::string& stage_file, const StageSettings& settings) {
  nlohmann::ordered_json values = nlohmann::ordered_json::object();
  for (const auto& [key, text] : settings.values) values[key] = text;
  const nlohmann::ordered_json record{{"hash", settings.hash()}, {"settings", values}};
  file_write_atomic(stage_settings_path(stage_file), record.dump(1) + "\n");
}

std::optional<StageSettings> stage_settings_load(const std::string& stage_file) {
  const std::string path = stage_settings_path(stage_file);
  if (!std::filesystem::exists(path)) return std::nullopt;
  StageSettings settings;
  try {
    const nlohmann::ordered_json record = nlohmann::ordered_json::parse(file_read_text(path));
    for (const auto& [key, value] : record.at("settings").items()) settings.set(key, value.get<std::string>());
  } catch (const nlohmann::json::exception& error) {
    throw FormatError(path + ": not a stage settings record (" + error.what() + "); delete it to start over");
  }
  return settings;
}

void stage_settings_require(const std::string& stage_file, const StageSettings& settings,
                            const std::string& remedy) {
  const std::string name = std::filesystem::path(stage_file).filename().string();
  const auto recorded = stage_settings_load(stage_file);
  if (!recorded)
    throw ValueError(stage_file + " exists but records no settings (" + stage_settings_path(stage_file) +
                     " is missing: made by another tool or an older culturespa), so it cannot be kept safely: " +
                     remedy);
  if (recorded->hash() == settings.hash()) return;
  for (const auto& [key, text] : settings.values) {
    const std::string* was = recorded->find(key);
    if (!was || *was != text)
      throw ValueError(name + " was made with " + key + "=" + (was ? *was : "(not recorded)") +
                       "; this run has " + key + "=" + text + ": " + remedy);
  }
  for (const auto& [key, text] : recorded->values)
    if (!settings.find(key))
      throw ValueError(name + " was made with " + key + "=" + text + ", a setting this run does not have: " +
                       remedy);
}

void contrast_pairs_save(const std::string& path, const std::vector<ContrastPair>& pairs) {
  std::string out;
  for (const auto& p : pairs) {
    json line{{"question_id", p.question.id},
              {"topic", p.question.topic},
              {"question", p.question.text},
              {"options", p.question.options},
              {"zero_based", p.question.zero_based},
              {"culture", p.culture},
              {"aware_answer", p.aware_answer},
              {"unaware_answer", p.unaware_answer},
              {"aware_reply", p.aware_reply},
              {"unaware_reply", p.unaware_reply},
              {"rule", contrast_rule_name(p.rule)},
              {"score", p.score}};
    line["probability"] = std::isnan(p.probability) ? json(nullptr) : json(p.probability);
    out += line.dump() + "\n";
  }
  file_write_atomic(path, out);
}

std::vector<ContrastPair> contrast_pairs_load(const std::string& path) {
  return contrast_pairs_parse(file_read_text(path), path);
}

std::vector<ContrastPair> contrast_pairs_parse(const std::string& text, const std::string& path) {
  std::vector<ContrastPair> pairs;
  for (const auto& [place, item] : json_read::json_records(text, path, "contrast pairs")) {
    const std::string where = path + ": " + place;
    if (!item.is_object()) throw FormatError(where + ": not a JSON object");
    try {
      ContrastPair p;
      p.question.id = item.at("question_id").get<std::string>();
      p.question.topic = item.value("topic", "");
      p.question.text = item.at("question").get<std::string>();
      p.question.options = item.at("options").get<std::vector<std::string>>();
      p.question.zero_based = item.value("zero_based", false);
      p.culture = item.at("culture").get<std::string>();
      for (auto [key, answer] : {std::pair{"aware_answer", &p.aware_answer}, {"unaware_answer", &p.unaware_answer}})
        *answer = static_cast<int>(json_read::json_integer(item.at(key), where + ": field \"" + key + "\"",
                                                           std::numeric_limits<int>::min(),
                                                           std::numeric_limits<int>::max()));
      p.aware_reply = item.value("aware_reply", "");
      p.unaware_reply = item.value("unaware_reply", "");
      p.rule = contrast_rule_from_name(item.value("rule", "reference"));
      p.score = item.value("score", 1.0);
      if (item.contains("probability") && item["probability"].is_number())
        p.probability = item["probability"].get<double>();
      if (p.culture.empty()) throw FormatError(where + ": empty \"culture\"");
      pairs.push_back(std::move(p));
    } catch (const json::exception& error) {
      throw FormatError(where + ": not a contrast pair (" + error.what() + ")");
    } catch (const ValueError& error) {
      throw FormatError(where + ": " + error.what());
    }
  }
  return pairs;
}

std::string question_filter_report_to_json(const QuestionFilterReport& report) {
  json steps = json::array();
  for (const auto& s : report.steps)
    steps.push_back(json{{"name", s.name},
                         {"removed", s.removed},
                         {"rewritten", s.rewritten},
                         {"remaining", s.remaining},
                         {"removed_per_topic", s.removed_per_topic},
                         {"rewritten_per_topic", s.rewritten_per_topic},
                         {"removed_ids", s.removed_ids},
                         {"rewritten_ids", s.rewritten_ids}});
  return json{{"input", report.input},
              {"kept", report.kept},
              {"steps", steps},
              {"duplicate_option_ids", report.duplicate_option_ids}}
      .dump(1);
}

std::string contrast_report_to_json(const ContrastReport& report) {
  json cultures = json::array();
  for (const auto& c : report.cultures) {
    json entry = counts_json(c.counts);
    entry["culture"] = c.culture;
    entry["per_topic"] = per_topic_json(c.per_topic);
    entry["missing_ids"] = c.missing_ids;
    entry["extra_ids"] = c.extra_ids;
    cultures.push_back(std::move(entry));
  }
  return json{{"rule", contrast_rule_name(report.rule)},
              {"total", counts_json(report.total)},
              {"per_topic", per_topic_json(report.per_topic)},
              {"cultures", cultures}}
      .dump(1);
}

}  // namespace culturespa

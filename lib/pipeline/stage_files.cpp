#include "culturespa/pipeline/stage_files.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "culturespa/core/error.h"

namespace culturespa {

using nlohmann::json;

namespace {

std::string item_where(const std::string& path, std::size_t index, bool jsonl) {
  return path + (jsonl ? ", line " + std::to_string(index + 1) : ", item " + std::to_string(index));
}

// A JSON list, or JSONL (one object a line; blank lines skipped). Each entry
// carries its position for error messages.
std::vector<std::pair<std::size_t, json>> read_records(const std::string& path, bool& jsonl) {
  const std::string text = file_read_text(path);
  std::size_t first = text.find_first_not_of(" \t\r\n");
  std::vector<std::pair<std::size_t, json>> records;
  jsonl = first != std::string::npos && text[first] != '[';
  if (!jsonl) {
    json doc;
    try {
      doc = json::parse(text);
    } catch (const json::parse_error& error) {
      throw FormatError(path + ": not valid JSON (" + error.what() + ")");
    }
    for (std::size_t i = 0; i < doc.size(); ++i) records.emplace_back(i, std::move(doc[i]));
    return records;
  }
  std::istringstream lines(text);
  std::string line;
  for (std::size_t n = 0; std::getline(lines, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      records.emplace_back(n, json::parse(line));
    } catch (const json::parse_error& error) {
      throw FormatError(path + ", line " + std::to_string(n + 1) + ": not valid JSON (" + error.what() + ")");
    }
  }
  return records;
}

const json* field(const json& item, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    auto it = item.find(name);
    if (it != item.end() && !it->is_null()) return &*it;
  }
  return nullptr;
}

std::string string_field(const json& item, std::initializer_list<const char*> names, const std::string& where,
                         bool required) {
  const json* value = field(item, names);
  if (!value) {
    if (required) throw FormatError(where + ": missing field \"" + std::string(*names.begin()) + "\"");
    return {};
  }
  if (!value->is_string())
    throw FormatError(where + ": field \"" + std::string(*names.begin()) + "\" is not a string");
  return value->get<std::string>();
}

std::vector<std::string> string_list(const json& value, const std::string& where, const char* name) {
  if (!value.is_array()) throw FormatError(where + ": field \"" + name + "\" is not a list");
  std::vector<std::string> out;
  for (const auto& v : value) {
    if (!v.is_string()) throw FormatError(where + ": field \"" + name + "\" holds a non-string");
    out.push_back(v.get<std::string>());
  }
  return out;
}

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

AnswerFile answer_file_load(const std::string& path, const std::string& culture) {
  bool jsonl = false;
  AnswerFile file;
  file.answers.culture = culture;
  for (auto& [index, item] : read_records(path, jsonl)) {
    const std::string where = item_where(path, index, jsonl);
    if (!item.is_object()) throw FormatError(where + ": not a JSON object");
    ModelAnswer answer;
    answer.question_id = string_field(item, {"Q_id", "question_id"}, where, true);
    answer.reply = string_field(item, {"answer", "reply"}, where, false);
    if (const json* d = field(item, {"distribution"})) {
      if (!d->is_array()) throw FormatError(where + ": field \"distribution\" is not a list");
      for (const auto& v : *d) {
        if (!v.is_number()) throw FormatError(where + ": field \"distribution\" holds a non-number");
        answer.distribution.push_back(v.get<double>());
      }
    }
    if (!field(item, {"answer", "reply"}) && answer.distribution.empty())
      throw FormatError(where + ": neither \"answer\" nor \"distribution\"");
    if (const json* text = field(item, {"question"})) {
      Question q;
      q.id = answer.question_id;
      if (!text->is_string()) throw FormatError(where + ": field \"question\" is not a string");
      q.text = text->get<std::string>();
      if (const json* options = field(item, {"option_lst", "options"}))
        q.options = string_list(*options, where, "option_lst");
      q.topic = string_field(item, {"class", "topic"}, where, false);
      if (const json* zero = field(item, {"zero_based"})) q.zero_based = zero->is_boolean() && zero->get<bool>();
      file.questions.push_back(std::move(q));
    }
    file.answers.answers.push_back(std::move(answer));
  }
  return file;
}

std::string culture_from_answer_file_name(const std::string& path) {
  static const std::regex pattern("culture_aware_([A-Z]{3})_\\d+\\.jsonl?$");
  std::smatch match;
  if (std::regex_search(path, match, pattern)) return match[1];
  return {};
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
  bool jsonl = false;
  std::vector<ContrastPair> pairs;
  for (auto& [index, item] : read_records(path, jsonl)) {
    const std::string where = item_where(path, index, jsonl);
    if (!item.is_object()) throw FormatError(where + ": not a JSON object");
    try {
      ContrastPair p;
      p.question.id = item.at("question_id").get<std::string>();
      p.question.topic = item.value("topic", "");
      p.question.text = item.at("question").get<std::string>();
      p.question.options = item.at("options").get<std::vector<std::string>>();
      p.question.zero_based = item.value("zero_based", false);
      p.culture = item.at("culture").get<std::string>();
      p.aware_answer = item.at("aware_answer").get<int>();
      p.unaware_answer = item.at("unaware_answer").get<int>();
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

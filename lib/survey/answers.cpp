#include "culturespa/survey/answers.h"

#include <algorithm>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <utility>

#include "culturespa/core/error.h"
#include "json_read.h"

namespace culturespa {

namespace {

using namespace json_read;

// The first of `names` that `item` holds (a null value counts: callers
// decide what null means), or a null pointer; `name` gets the name found.
const Json* find_field(const Json& item, std::initializer_list<const char*> names, const char*& name) {
  for (const char* candidate : names) {
    const auto it = item.find(candidate);
    if (it != item.end()) {
      name = candidate;
      return &*it;
    }
  }
  name = *names.begin();
  return nullptr;
}

// An optional field: absent and null are both "not given".
const Json* optional_field(const Json& item, std::initializer_list<const char*> names, const char*& name) {
  const Json* value = find_field(item, names, name);
  return value && !value->is_null() ? value : nullptr;
}

std::string field_where(const std::string& where, const char* name) { return where + ": field \"" + name + "\""; }

std::string string_value(const Json& value, const std::string& where, const char* name) {
  json_expect(value, Json::value_t::string, field_where(where, name), "a string");
  return value.get<std::string>();
}

// The reply text: a string, an integer as its digits, null as no reply.
std::string reply_value(const Json& value, const std::string& where, const char* name) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) return std::to_string(value.get<long long>());
  if (value.is_null()) return {};
  throw FormatError(field_where(where, name) + " is " + json_type(value) + ", expected a string or an integer");
}

std::vector<double> distribution_value(const Json& value, const std::string& where) {
  json_expect(value, Json::value_t::array, field_where(where, "distribution"), "a list of numbers");
  std::vector<double> shares;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::string entry = "distribution[" + std::to_string(i) + "]";
    json_expect(value[i], Json::value_t::number_float, field_where(where, entry.c_str()), "a number");
    shares.push_back(value[i].get<double>());
    // A probability: scoring and contrast would otherwise compute with it silently.
    if (!(shares.back() >= 0 && shares.back() <= 1 + 1e-6))
      throw FormatError(field_where(where, entry.c_str()) + " is " + std::to_string(shares.back()) +
                        ", not a probability in [0, 1]");
  }
  return shares;
}

// The question an item carries ("question" present).
Question question_value(const Json& item, const Json& text, const std::string& id, const std::string& where) {
  Question q;
  q.id = id;
  q.text = string_value(text, where, "question");
  const char* name = nullptr;
  if (const Json* options = optional_field(item, {"option_lst", "options"}, name)) {
    q.options = json_string_list(*options, field_where(where, name));
  }
  if (const Json* topic = optional_field(item, {"class", "topic"}, name)) q.topic = string_value(*topic, where, name);
  if (const Json* zero = optional_field(item, {"zero_based"}, name)) {
    json_expect(*zero, Json::value_t::boolean, field_where(where, name), "true or false");
    q.zero_based = zero->get<bool>();
  }
  return q;
}

}  // namespace

AnswerFile answer_file_parse(const std::string& text, const std::string& source) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw FormatError(source + ": empty, expected a JSON list of answer objects or JSONL (one object a line)");
  }
  AnswerFile file;
  std::map<std::string, std::string> seen;  // id -> place of its first item
  for (const JsonRecord& record : json_records(text, source, "answer objects")) {
    const Json& item = record.item;
    std::string where = source + ": " + record.place;
    json_expect(item, Json::value_t::object, where, "an object");

    const char* name = nullptr;
    const Json* id = find_field(item, {"Q_id", "question_id"}, name);
    if (!id) throw FormatError(where + ": missing field \"Q_id\" (or \"question_id\")");
    ModelAnswer answer;
    answer.question_id = string_value(*id, where, name);
    where += " (" + answer.question_id + ")";
    if (const auto [first, fresh] = seen.emplace(answer.question_id, record.place); !fresh) {
      throw FormatError(where + ": " + name + " " + answer.question_id + " repeats " + first->second);
    }

    const Json* reply = find_field(item, {"answer", "reply"}, name);
    if (reply) answer.reply = reply_value(*reply, where, name);
    if (const Json* distribution = optional_field(item, {"distribution"}, name)) {
      answer.distribution = distribution_value(*distribution, where);
    }
    if (!reply && answer.distribution.empty()) {
      throw FormatError(where + ": missing field \"answer\" (or \"reply\"), and no \"distribution\"");
    }
    if (const Json* question = optional_field(item, {"question"}, name)) {
      file.questions.push_back(question_value(item, *question, answer.question_id, where));
    }
    file.answers.push_back(std::move(answer));
  }
  return file;
}

AnswerFile answer_file_load(const std::string& path) { return answer_file_parse(file_read_text(path), path); }

std::optional<std::string> culture_from_file_name(const std::string& path, const std::vector<Culture>& cultures) {
  const std::string stem = std::filesystem::path(path).stem().string();
  std::optional<std::string> found;
  std::size_t begin = 0;
  while (begin <= stem.size()) {
    const auto end = std::min(stem.find('_', begin), stem.size());
    const std::string part = stem.substr(begin, end - begin);
    // Only parts between two underscores count: `_<ISO>_`.
    const bool inner = begin > 0 && end < stem.size();
    for (const Culture& c : cultures) {
      if (!inner || (part != c.code && part != c.adjective)) continue;
      if (found && *found != c.code) {
        throw ValueError(path + ": the file name names two cultures, " + *found + " and " + c.code +
                         "; give the culture explicitly");
      }
      found = c.code;
    }
    begin = end + 1;
  }
  return found;
}

}  // namespace culturespa

// Survey loaders and the culturespa survey format (docs/survey.md).
#include <algorithm>
#include <filesystem>
#include <regex>

#include "culturespa/survey/survey.h"

#include "culturespa/core/error.h"
#include "culturespa/core/logging.h"
#include "json_read.h"

namespace culturespa {

namespace {

using namespace json_read;

// The field names of a question object in each format.
struct QuestionKeys {
  const char* id;
  const char* text;
  const char* options;
};
constexpr QuestionKeys kReferenceKeys{"Q_id", "question", "option_lst"};
constexpr QuestionKeys kCulturespaKeys{"id", "text", "options"};

// A question's id, text and options; `where` (e.g. "file: item 3") gets the
// id appended for the caller's later messages.
Question question_from_json(const Json& item, std::string& where, const QuestionKeys& keys) {
  json_expect(item, Json::value_t::object, where, "an object");
  Question q;
  q.id = json_string(item, keys.id, where);
  where += " (" + q.id + ")";
  q.text = json_string(item, keys.text, where);
  q.options = json_string_list(json_field(item, keys.options, where), where + ": " + keys.options);
  return q;
}

// Item `index` of a reference questions file or generated-question bank.
Question reference_question(const Json& item, std::size_t index, const std::string& source) {
  std::string where = source + ": item " + std::to_string(index);
  return question_from_json(item, where, kReferenceKeys);
}

int option_id_from_key(const std::string& key, const std::string& where) {
  std::size_t used = 0;
  int id = 0;
  try {
    id = std::stoi(key, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != key.size()) {
    throw FormatError(where + ": option id \"" + key + "\" is not an integer");
  }
  return id;
}

// {option_id: share} in stored order.
HumanAnswers human_answers_from_json(const Json& map, const std::string& where) {
  json_expect(map, Json::value_t::object, where, "an object {option_id: share}");
  HumanAnswers answers;
  for (const auto& [key, share] : map.items()) {
    json_expect(share, Json::value_t::number_float, where + ": option \"" + key + "\"", "a number");
    answers.shares.emplace_back(option_id_from_key(key, where), share.get<double>());
  }
  return answers;
}

// Runs `body`, turning the ValueError of a Survey setter into a FormatError
// that names the file.
template <typename Body>
void with_source(const std::string& source, Body&& body) {
  try {
    body();
  } catch (const ValueError& e) {
    throw FormatError(source + ": " + e.what());
  }
}

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

void human_answers_load(Survey& survey, const Json& doc, const std::string& source,
                        const std::vector<std::string>& ignored_cultures) {
  json_expect(doc, Json::value_t::object, source, "an object {culture: {question_id: {option_id: share}}}");
  for (const auto& [culture, by_question] : doc.items()) {
    if (!survey.has_culture(culture)) {
      if (contains(ignored_cultures, culture)) {
        log_info(source, ": skipping culture ", culture, " (not one of the survey's cultures)");
        continue;
      }
      throw FormatError(source + ": unknown culture '" + culture +
                        "' (not among the survey's cultures)");
    }
    const std::string where = source + ": culture " + culture;
    json_expect(by_question, Json::value_t::object, where, "an object {question_id: {option_id: share}}");
    for (const auto& [question_id, map] : by_question.items()) {
      if (!survey.has_question(question_id)) {
        throw FormatError(where + ": unknown question id '" + question_id + "'");
      }
      HumanAnswers answers = human_answers_from_json(map, where + ", question " + question_id);
      // Init-captures: lambdas cannot capture structured bindings before C++20 (clang).
      with_source(source, [&, &c = culture, &q = question_id] { survey.set_human_answers(c, q, std::move(answers)); });
    }
  }
}

void similarity_load(Survey& survey, const Json& doc, const std::string& source) {
  json_expect(doc, Json::value_t::object, source, "an object {culture: {culture: score}}");
  for (const auto& [culture, row] : doc.items()) {
    if (!survey.has_culture(culture)) {
      throw FormatError(source + ": unknown culture '" + culture + "'");
    }
    json_expect(row, Json::value_t::object, source + ": culture " + culture, "an object {culture: score}");
    for (const auto& [other, score] : row.items()) {
      const std::string where = source + ": similarity of " + culture + " to " + other;
      if (!survey.has_culture(other)) throw FormatError(where + ": unknown culture '" + other + "'");
      json_expect(score, Json::value_t::number_float, where, "a number");
      with_source(source, [&, &c = culture, &o = other, &v = score] { survey.set_similarity(c, o, v.get<double>()); });
    }
  }
}

void self_alignment_load(Survey& survey, const Json& doc, const std::string& source) {
  json_expect(doc, Json::value_t::object, source, "an object {question_id: [question_id, ...]}");
  for (const auto& [question_id, list] : doc.items()) {
    if (!survey.has_question(question_id)) {
      throw FormatError(source + ": unknown question id '" + question_id + "'");
    }
    auto ids = json_string_list(list, source + ": examples of " + question_id);
    with_source(source, [&, &q = question_id] { survey.set_self_alignment_examples(q, std::move(ids)); });
  }
}

std::string path_join(const std::string& dir, const char* name) {
  return (std::filesystem::path(dir) / name).string();
}

}  // namespace

// --- the reference release ------------------------------------------------------

const std::vector<std::string>& topics_wvs7() {
  static const std::vector<std::string> topics = {
      "Social Values, Attitudes & Stereotypes",
      "Happiness and Well-being",
      "Social Capital, Trust & Organizational Membership",
      "Economic Values",
      "Corruption",
      "Migration",
      "Security",
      "Postmaterialist Index",
      "Science & Technology",
      "Religious Values",
      "Ethical Values and Norms",
      "Political Interest & Political Participation",
      "Political Culture & Political Regimes",
  };
  return topics;
}

SurveyConventions survey_conventions_wvs7() {
  auto ids = [](int first, int last) {
    std::vector<std::string> out;
    for (int i = first; i <= last; ++i) out.push_back("Q" + std::to_string(i));
    return out;
  };
  auto append = [](std::vector<std::string>& to, const std::vector<std::string>& more) {
    to.insert(to.end(), more.begin(), more.end());
  };
  SurveyConventions c;
  c.name = "wvs7";
  append(c.zero_based, ids(94, 105));
  append(c.zero_based, ids(119, 119));
  append(c.zero_based, ids(122, 129));
  append(c.zero_based, ids(241, 249));
  append(c.excluded, ids(260, 290));
  c.excluded.push_back("Q223");
  // Last question number of each topic, in topics_wvs7() order.
  const int last_of_topic[] = {45, 56, 105, 111, 120, 130, 151, 157, 163, 175, 198, 234, 259};
  int first = 1;
  for (std::size_t t = 0; t < topics_wvs7().size(); ++t) {
    SurveyTopic topic{topics_wvs7()[t], ids(first, last_of_topic[t])};
    if (last_of_topic[t] == 234) topic.question_ids.push_back("Q234A");
    c.topics.push_back(std::move(topic));
    first = last_of_topic[t] + 1;
  }
  c.cultures = cultures_builtin();
  c.ignored_cultures = {"MEX"};
  return c;
}

Survey survey_load_reference(const std::string& dir, const SurveyConventions& conventions) {
  Survey survey;
  survey.name = conventions.name;
  for (const auto& culture : conventions.cultures) survey.add_culture(culture);
  for (const auto& topic : conventions.topics) survey.add_topic(topic.name);

  const std::string questions_path = path_join(dir, "wvs_questions.json");
  file_require_exists(questions_path, "survey questions (wvs_questions.json)");
  const Json questions = json_load(questions_path);
  json_expect(questions, Json::value_t::array, questions_path, "a list of questions");
  for (std::size_t i = 0; i < questions.size(); ++i) {
    Question q = reference_question(questions[i], i, questions_path);
    q.zero_based = contains(conventions.zero_based, q.id);
    for (const auto& topic : conventions.topics) {
      if (contains(topic.question_ids, q.id)) q.topic = topic.name;
    }
    const bool evaluated = !contains(conventions.excluded, q.id);
    with_source(questions_path, [&] { survey.add_question(std::move(q), evaluated); });
  }

  const std::string proportions_path = path_join(dir, "proportions_group_by_country.json");
  file_require_exists(proportions_path, "survey human answers (proportions_group_by_country.json)");
  human_answers_load(survey, json_load(proportions_path), proportions_path,
                     conventions.ignored_cultures);

  // The similarity table and example lists are needed only by some prompts.
  const std::string similarity_path = path_join(dir, "country_similarity.json");
  if (std::filesystem::exists(similarity_path)) {
    similarity_load(survey, json_load(similarity_path), similarity_path);
  }
  const std::string examples_path = path_join(dir, "self_alignment_examples.json");
  if (std::filesystem::exists(examples_path)) {
    self_alignment_load(survey, json_load(examples_path), examples_path);
  }
  return survey;
}

Survey survey_load_wvs7(const std::string& dir) {
  return survey_load_reference(dir, survey_conventions_wvs7());
}

Survey survey_load(const std::string& path) {
  file_require_exists(path, "survey");
  if (std::filesystem::is_directory(path)) {
    if (!std::filesystem::exists(path_join(path, "wvs_questions.json"))) {
      throw FileError(FileError::Kind::not_found, path,
                      "survey folder " + path +
                          " holds no wvs_questions.json (the reference release's format)");
    }
    return survey_load_wvs7(path);
  }
  return survey_from_json(file_read_text(path), path);
}

// --- the culturespa survey format ----------------------------------------------------

namespace {
constexpr const char* kFormatName = "culturespa.survey";
constexpr int kFormatVersion = 1;
}  // namespace

Survey survey_from_json(const std::string& text, const std::string& source) {
  const Json doc = json_parse(text, source);
  json_expect(doc, Json::value_t::object, source, "a survey object");
  if (const auto it = doc.find("format"); it != doc.end() && *it != kFormatName) {
    throw FormatError(source + ": field \"format\" is " + it->dump() + ", expected \"" +
                      kFormatName + "\"");
  }
  if (const auto it = doc.find("version"); it != doc.end()) {
    if (!it->is_number_integer() || it->get<int>() > kFormatVersion) {
      throw FormatError(source + ": unsupported survey format version " + it->dump() +
                        " (this culturespa reads version " + std::to_string(kFormatVersion) + ")");
    }
  }
  Survey survey;
  if (doc.contains("name")) survey.name = json_string(doc, "name", source);

  if (const auto it = doc.find("cultures"); it != doc.end()) {
    json_expect(*it, Json::value_t::array, source + ": cultures", "a list");
    for (std::size_t i = 0; i < it->size(); ++i) {
      const Json& item = (*it)[i];
      const std::string where = source + ": cultures[" + std::to_string(i) + "]";
      if (item.is_string()) {
        // A bare code names a built-in culture.
        with_source(source, [&] { survey.add_culture(culture_from_code(item.get<std::string>())); });
        continue;
      }
      json_expect(item, Json::value_t::object, where, "a code or {\"code\", \"adjective\", \"article\"}");
      Culture culture{json_string(item, "code", where), json_string(item, "adjective", where),
                      json_string(item, "article", where)};
      with_source(source, [&] { survey.add_culture(std::move(culture)); });
    }
  } else {
    for (const auto& culture : cultures_builtin()) survey.add_culture(culture);
  }

  if (const auto it = doc.find("topics"); it != doc.end()) {
    for (const auto& topic : json_string_list(*it, source + ": topics")) {
      with_source(source, [&] { survey.add_topic(topic); });
    }
  }

  const Json& questions = json_field(doc, "questions", source);
  json_expect(questions, Json::value_t::array, source + ": questions", "a list");
  for (std::size_t i = 0; i < questions.size(); ++i) {
    const Json& item = questions[i];
    std::string where = source + ": questions[" + std::to_string(i) + "]";
    Question q = question_from_json(item, where, kCulturespaKeys);
    if (item.contains("topic")) q.topic = json_string(item, "topic", where);
    bool evaluated = true;
    if (const auto z = item.find("zero_based"); z != item.end()) {
      json_expect(*z, Json::value_t::boolean, where + ": zero_based", "true or false");
      q.zero_based = z->get<bool>();
    }
    if (const auto e = item.find("evaluated"); e != item.end()) {
      json_expect(*e, Json::value_t::boolean, where + ": evaluated", "true or false");
      evaluated = e->get<bool>();
    }
    with_source(source, [&] { survey.add_question(std::move(q), evaluated); });
  }

  if (const auto it = doc.find("human_answers"); it != doc.end()) {
    human_answers_load(survey, *it, source + ": human_answers", {});
  }
  if (const auto it = doc.find("similarity"); it != doc.end()) {
    similarity_load(survey, *it, source + ": similarity");
  }
  if (const auto it = doc.find("self_alignment_examples"); it != doc.end()) {
    self_alignment_load(survey, *it, source + ": self_alignment_examples");
  }
  return survey;
}

std::string survey_to_json(const Survey& survey) {
  Json doc;
  doc["format"] = kFormatName;
  doc["version"] = kFormatVersion;
  doc["name"] = survey.name;
  Json cultures = Json::array();
  for (const auto& c : survey.cultures()) {
    cultures.push_back({{"code", c.code}, {"adjective", c.adjective}, {"article", c.article}});
  }
  doc["cultures"] = std::move(cultures);
  doc["topics"] = survey.topics();
  Json questions = Json::array();
  for (const auto& q : survey.questions()) {
    Json item;
    item["id"] = q.id;
    item["text"] = q.text;
    item["options"] = q.options;
    item["topic"] = q.topic;
    item["zero_based"] = q.zero_based;
    item["evaluated"] = survey.is_evaluated(q.id);
    questions.push_back(std::move(item));
  }
  doc["questions"] = std::move(questions);
  Json answers = Json::object();
  Json similarity = Json::object();
  for (const auto& c : survey.cultures()) {
    Json by_question = Json::object();
    for (const auto& id : survey.answered_ids(c.code)) {
      Json map = Json::object();
      for (const auto& [option, share] : survey.human_answers(c.code, id)->shares) {
        map[std::to_string(option)] = share;
      }
      by_question[id] = std::move(map);
    }
    if (!by_question.empty()) answers[c.code] = std::move(by_question);
    Json row = Json::object();
    for (const auto& [other, score] : survey.similarity_row(c.code)) row[other] = score;
    if (!row.empty()) similarity[c.code] = std::move(row);
  }
  doc["human_answers"] = std::move(answers);
  doc["similarity"] = std::move(similarity);
  Json examples = Json::object();
  for (const auto& q : survey.questions()) {
    const auto& ids = survey.self_alignment_examples(q.id);
    if (!ids.empty()) examples[q.id] = ids;
  }
  doc["self_alignment_examples"] = std::move(examples);
  return doc.dump(1) + "\n";
}

void survey_save(const Survey& survey, const std::string& path) {
  file_write_atomic(path, survey_to_json(survey));
}

// --- generated-question banks -----------------------------------------------------------

namespace {

// The WVS topic of a reference file name "..._topic_<k>_...", or empty.
std::string topic_from_file_name(const std::string& source) {
  static const std::regex pattern("topic_([0-9]+)");
  const std::string name = std::filesystem::path(source).filename().string();
  std::smatch match;
  if (!std::regex_search(name, match, pattern)) return {};
  const std::size_t k = std::stoul(match[1].str());
  return k < topics_wvs7().size() ? topics_wvs7()[k] : std::string();
}

// The reference answers a generated question with ids 0..n-1 when its first
// option is a number equal to 0 ("0", "00"), as its question template does.
bool options_count_from_zero(const std::vector<std::string>& options) {
  if (options.empty() || options[0].empty()) return false;
  return std::all_of(options[0].begin(), options[0].end(), [](char c) { return c == '0'; });
}

}  // namespace

std::vector<Question> question_bank_from_json(const std::string& text, const std::string& source) {
  const Json doc = json_parse(text, source);
  json_expect(doc, Json::value_t::array, source, "a list of generated questions");
  const std::string file_topic = topic_from_file_name(source);
  std::vector<Question> out;
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    Question q = reference_question(doc[i], i, source);
    const std::string where = source + ": item " + std::to_string(i) + " (" + q.id + ")";
    if (q.options.empty()) throw FormatError(where + ": option_lst is empty");
    q.topic = doc[i].contains("class") ? json_string(doc[i], "class", where) : file_topic;
    q.zero_based = options_count_from_zero(q.options);
    if (const auto [it, fresh] = seen.emplace(q.id, i); !fresh) {
      throw FormatError(where + ": Q_id repeats item " + std::to_string(it->second));
    }
    out.push_back(std::move(q));
  }
  return out;
}

std::vector<Question> question_bank_load(const std::string& path) {
  file_require_exists(path, "question bank");
  return question_bank_from_json(file_read_text(path), path);
}

std::string question_bank_to_json(const std::vector<Question>& questions) {
  Json doc = Json::array();
  for (const auto& q : questions) {
    Json item;
    item["Q_id"] = q.id;
    item["question"] = q.text;
    item["option_lst"] = q.options;
    if (!q.topic.empty()) item["class"] = q.topic;
    doc.push_back(std::move(item));
  }
  return doc.dump(1) + "\n";
}

void question_bank_save(const std::vector<Question>& questions, const std::string& path) {
  file_write_atomic(path, question_bank_to_json(questions));
}

}  // namespace culturespa

#include "culturespa/survey/survey.h"

#include <algorithm>
#include <cmath>

#include "culturespa/core/error.h"

namespace culturespa {

const std::vector<Culture>& cultures_builtin() {
  static const std::vector<Culture> cultures = {
      {"USA", "American", "an"}, {"CAN", "Canadian", "a"},    {"BOL", "Bolivian", "a"},
      {"BRA", "Brazilian", "a"}, {"GBR", "British", "a"},     {"NLD", "Dutch", "a"},
      {"DEU", "German", "a"},    {"UKR", "Ukrainian", "a"},   {"CHN", "Chinese", "a"},
      {"RUS", "Russian", "a"},   {"IND", "Indian", "an"},     {"THA", "Thai", "a"},
      {"KEN", "Kenyan", "a"},    {"NGA", "Nigerian", "a"},    {"ETH", "Ethiopian", "an"},
      {"ZWE", "Zimbabwean", "a"}, {"AUS", "Australian", "an"}, {"NZL", "New Zealand", "a"},
  };
  return cultures;
}

namespace {

std::string codes_joined(const std::vector<Culture>& cultures) {
  std::string out;
  for (const auto& c : cultures) out += (out.empty() ? "" : ", ") + c.code;
  return out;
}

}  // namespace

const Culture& culture_from_code(std::string_view code) {
  for (const auto& c : cultures_builtin()) {
    if (c.code == code) return c;
  }
  throw ValueError("unknown culture '" + std::string(code) +
                   "' (built-in cultures: " + codes_joined(cultures_builtin()) + ")");
}

const std::string& Question::option_text(int id) const {
  if (!is_option_id(id)) {
    throw ValueError("question " + this->id + " has no option " + std::to_string(id) +
                     " (option ids " + std::to_string(first_option_id()) + ".." +
                     std::to_string(last_option_id()) + ")");
  }
  return options[static_cast<std::size_t>(id - first_option_id())];
}

std::vector<std::string> Question::labels() const {
  std::vector<std::string> out;
  out.reserve(options.size());
  for (int id = first_option_id(); id <= last_option_id(); ++id) out.push_back(std::to_string(id));
  return out;
}

// --- questions ---------------------------------------------------------------

void Survey::add_question(Question question, bool evaluated) {
  if (question.id.empty()) throw ValueError("survey question with an empty id");
  if (question_index_.count(question.id)) {
    throw ValueError("survey question " + question.id + " is already present");
  }
  // WVS demographics (year of birth, ...) are free answers without options:
  // kept in the survey, but never asked or scored.
  if (question.options.empty() && evaluated) {
    throw ValueError("survey question " + question.id + " has no options (only a question that is not evaluated may have none)");
  }
  if (!question.topic.empty()) add_topic(question.topic);
  question_index_.emplace(question.id, questions_.size());
  questions_.push_back(std::move(question));
  evaluated_.push_back(evaluated);
}

bool Survey::has_question(std::string_view id) const {
  return question_index_.find(id) != question_index_.end();
}

std::size_t Survey::question_index(std::string_view id) const {
  const auto it = question_index_.find(id);
  if (it == question_index_.end()) {
    throw ValueError("unknown question id '" + std::string(id) + "' in survey '" + name + "'");
  }
  return it->second;
}

const Question& Survey::question(std::string_view id) const {
  return questions_[question_index(id)];
}

std::vector<std::string> Survey::topics() const { return topics_; }

void Survey::add_topic(const std::string& topic) {
  if (topic.empty()) throw ValueError("survey topic with an empty name");
  if (std::find(topics_.begin(), topics_.end(), topic) == topics_.end()) topics_.push_back(topic);
}

std::vector<Question> Survey::questions_of_topic(std::string_view topic) const {
  if (std::find(topics_.begin(), topics_.end(), topic) == topics_.end()) {
    throw ValueError("unknown topic '" + std::string(topic) + "' in survey '" + name + "'");
  }
  std::vector<Question> out;
  for (const auto& q : questions_) {
    if (q.topic == topic) out.push_back(q);
  }
  return out;
}

std::vector<Question> Survey::evaluated_questions() const {
  std::vector<Question> out;
  for (std::size_t i = 0; i < questions_.size(); ++i) {
    if (evaluated_[i]) out.push_back(questions_[i]);
  }
  return out;
}

std::vector<std::string> Survey::evaluated_ids() const {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < questions_.size(); ++i) {
    if (evaluated_[i]) out.push_back(questions_[i].id);
  }
  return out;
}

bool Survey::is_evaluated(std::string_view id) const { return evaluated_[question_index(id)]; }

void Survey::set_evaluated(std::string_view id, bool evaluated) {
  const std::size_t i = question_index(id);
  if (evaluated && questions_[i].options.empty()) {
    throw ValueError("survey question " + questions_[i].id + " has no options and cannot be evaluated");
  }
  evaluated_[i] = evaluated;
}

// --- cultures ------------------------------------------------------------------

void Survey::add_culture(Culture culture) {
  if (culture.code.empty()) throw ValueError("survey culture with an empty code");
  if (has_culture(culture.code)) {
    throw ValueError("survey culture " + culture.code + " is already present");
  }
  cultures_.push_back(std::move(culture));
  answers_.emplace_back();
  similarity_.emplace_back();
}

bool Survey::has_culture(std::string_view code) const {
  return std::any_of(cultures_.begin(), cultures_.end(),
                     [&](const Culture& c) { return c.code == code; });
}

std::size_t Survey::culture_index(std::string_view code) const {
  for (std::size_t i = 0; i < cultures_.size(); ++i) {
    if (cultures_[i].code == code) return i;
  }
  throw ValueError("unknown culture '" + std::string(code) + "' in survey '" + name +
                   "' (its cultures: " + codes_joined(cultures_) + ")");
}

const Culture& Survey::culture(std::string_view code) const {
  return cultures_[culture_index(code)];
}

// --- human answers ---------------------------------------------------------------

void Survey::set_human_answers(std::string_view culture, std::string_view question_id,
                               HumanAnswers answers) {
  const std::size_t c = culture_index(culture);
  const Question& q = question(question_id);
  std::vector<int> seen;
  for (const auto& [option, share] : answers.shares) {
    const std::string where = "human answers of " + std::string(culture) + " to " + q.id;
    if (!q.is_option_id(option)) {
      throw ValueError(where + " name option " + std::to_string(option) +
                       ", which the question does not have (option ids " +
                       std::to_string(q.first_option_id()) + ".." +
                       std::to_string(q.last_option_id()) + ")");
    }
    if (std::find(seen.begin(), seen.end(), option) != seen.end()) {
      throw ValueError(where + " name option " + std::to_string(option) + " twice");
    }
    if (!std::isfinite(share) || share < 0) {
      throw ValueError(where + ": option " + std::to_string(option) + " has share " +
                       std::to_string(share) + " (must be finite and >= 0)");
    }
    seen.push_back(option);
  }
  // Shares are proportions of one culture's respondents: they may sum to
  // less than 1 (answers outside the options) but never to more; scoring
  // would normalise such a map silently into another distribution.
  double total = 0;
  for (const auto& [option, share] : answers.shares) total += share;
  if (total > 1.0 + 1e-6) {
    throw ValueError("human answers of " + std::string(culture) + " to " + q.id + ": shares sum to " +
                     std::to_string(total) + ", more than 1 (they are proportions of respondents; "
                     "give each option's share of all respondents)");
  }
  auto& store = answers_[c];
  auto it = store.by_question.find(q.id);
  if (it == store.by_question.end()) {
    store.order.push_back(q.id);
    store.by_question.emplace(q.id, std::move(answers));
  } else {
    it->second = std::move(answers);
  }
}

const HumanAnswers* Survey::human_answers(std::string_view culture,
                                          std::string_view question_id) const {
  const auto& store = answers_[culture_index(culture)];
  const Question& q = question(question_id);
  const auto it = store.by_question.find(q.id);
  return it == store.by_question.end() ? nullptr : &it->second;
}

std::optional<int> Survey::gold(std::string_view culture, std::string_view question_id) const {
  const HumanAnswers* answers = human_answers(culture, question_id);
  if (!answers || !answers->has_gold()) return std::nullopt;
  return answers->gold();
}

std::vector<std::string> Survey::answered_ids(std::string_view culture) const {
  return answers_[culture_index(culture)].order;
}

// --- similarity ----------------------------------------------------------------------

void Survey::set_similarity(std::string_view culture, std::string_view other, double score) {
  auto& row = similarity_[culture_index(culture)];
  culture_index(other);  // validates
  if (!std::isfinite(score)) {
    throw ValueError("similarity of " + std::string(culture) + " to " + std::string(other) +
                     " is not finite");
  }
  for (auto& [code, value] : row) {
    if (code == other) {
      value = score;
      return;
    }
  }
  row.emplace_back(std::string(other), score);
}

std::optional<double> Survey::similarity(std::string_view culture, std::string_view other) const {
  const auto& row = similarity_[culture_index(culture)];
  culture_index(other);
  for (const auto& [code, value] : row) {
    if (code == other) return value;
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, double>> Survey::similarity_row(std::string_view culture) const {
  return similarity_[culture_index(culture)];
}

std::vector<std::string> Survey::similarity_ranking(std::string_view culture) const {
  auto row = similarity_row(culture);
  row.erase(std::remove_if(row.begin(), row.end(), [&](const auto& e) { return e.first == culture; }),
            row.end());
  // The reference sorts ascending (stably) and reads the tail backwards.
  std::stable_sort(row.begin(), row.end(),
                   [](const auto& a, const auto& b) { return a.second < b.second; });
  std::vector<std::string> out;
  for (auto it = row.rbegin(); it != row.rend(); ++it) out.push_back(it->first);
  return out;
}

// --- self-alignment examples ------------------------------------------------------------

void Survey::set_self_alignment_examples(std::string_view question_id,
                                         std::vector<std::string> ids) {
  const Question& q = question(question_id);
  for (const auto& id : ids) {
    if (!has_question(id)) {
      throw ValueError("self-alignment examples of " + q.id + " name unknown question id '" + id +
                       "'");
    }
  }
  self_alignment_[q.id] = std::move(ids);
}

const std::vector<std::string>& Survey::self_alignment_examples(std::string_view question_id) const {
  static const std::vector<std::string> none;
  const Question& q = question(question_id);
  const auto it = self_alignment_.find(q.id);
  return it == self_alignment_.end() ? none : it->second;
}

std::vector<std::string> Survey::self_alignment_example_ids(std::string_view question_id,
                                                            std::string_view culture,
                                                            std::size_t count) const {
  culture_index(culture);
  std::vector<std::string> out;
  for (const auto& id : self_alignment_examples(question_id)) {
    if (out.size() == count) break;
    if (gold(culture, id)) out.push_back(id);
  }
  return out;
}

}  // namespace culturespa

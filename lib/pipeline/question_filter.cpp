#include "culturespa/pipeline/question_filter.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "culturespa/core/error.h"
#include "culturespa/core/logging.h"

namespace culturespa {

std::vector<Question> questions_merge_renumber(const std::vector<std::vector<Question>>& topics) {
  std::vector<Question> merged;
  for (const auto& topic : topics) merged.insert(merged.end(), topic.begin(), topic.end());
  for (std::size_t i = 0; i < merged.size(); ++i) merged[i].id = "Q" + std::to_string(i);
  return merged;
}

const FilterStep& QuestionFilterReport::step(const std::string& name) const {
  for (const auto& s : steps)
    if (s.name == name) return s;
  throw ValueError("question filter report: no step named '" + name + "' (it did not run)");
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

bool starts_with_digit(const std::string& s) { return !s.empty() && is_digit(s[0]); }

bool all_options_start_with_digit(const std::vector<std::string>& options) {
  return std::all_of(options.begin(), options.end(), starts_with_digit);
}

// ''.join(options).isdigit() of the reference: every option a bare number.
bool all_bare_numbers(const std::vector<std::string>& options) {
  bool any_char = false;
  for (const auto& o : options)
    for (char c : o) {
      if (!is_digit(c)) return false;
      any_char = true;
    }
  return any_char;
}

std::size_t leading_number_length(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size() && is_digit(s[i])) ++i;
  return i;
}

// The reference's numbered-option pattern ^\d+(\s*[-.]\s*|\s*\(\s*|\s*\.\s*):
// the length of the number and separator, or nullopt when it does not match.
std::optional<std::size_t> numbered_prefix_length(const std::string& s) {
  std::size_t i = leading_number_length(s);
  if (i == 0) return std::nullopt;
  while (i < s.size() && is_space(s[i])) ++i;
  if (i == s.size() || (s[i] != '-' && s[i] != '.' && s[i] != '(')) return std::nullopt;
  ++i;
  while (i < s.size() && is_space(s[i])) ++i;
  return i;
}

// "1-3: Too slow" is a number range, not a numbered label: the reference
// leaves such options as they are.
bool is_number_range(const std::string& s) {
  const std::size_t n = leading_number_length(s);
  return n > 0 && n + 1 < s.size() && s[n] == '-' && is_digit(s[n + 1]);
}

void drop_dangling_paren(std::string& s) {
  if (!s.empty() && s.back() == ')' && s.find('(') == std::string::npos) s.pop_back();
}

std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// Rule 3a's rewrite of one option: number and separator stripped.
std::string strip_numbered_option(const std::string& option) {
  if (is_number_range(option)) return option;
  std::string stripped = option.substr(*numbered_prefix_length(option));
  drop_dangling_paren(stripped);
  return stripped;
}

// Rule 3b's label of an end option.
std::string card_label(const std::string& option) {
  std::string label = trim(option.substr(*numbered_prefix_length(option)));
  drop_dangling_paren(label);
  return label;
}

bool mentions_scale(const std::string& text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* phrase : {"on a scale", "with 1 being", "where 1 means", "which 1 means"})
    if (lower.find(phrase) != std::string::npos) return true;
  return false;
}

enum class Verdict { keep, drop, rewritten };

// Rule 3 on one question (only called for all-digit-leading, not bare options).
Verdict rewrite_numbered(Question& q) {
  auto& options = q.options;
  const bool all_numbered = std::all_of(options.begin(), options.end(), [](const std::string& o) {
    return numbered_prefix_length(o).has_value();
  });
  if (all_numbered) {
    std::vector<std::string> rewritten;
    rewritten.reserve(options.size());
    for (const auto& o : options) rewritten.push_back(strip_numbered_option(o));
    if (rewritten == options) return Verdict::keep;
    options = std::move(rewritten);
    return Verdict::rewritten;
  }
  const std::string& first = options.front();
  const std::string& last = options.back();
  const bool ends_numbered = numbered_prefix_length(first) && numbered_prefix_length(last);
  const bool middle_plain = std::none_of(options.begin() + 1, options.end() - 1, [](const std::string& o) {
    return numbered_prefix_length(o).has_value();
  });
  const bool refuses = first.find("refuse") != std::string::npos || last.find("refuse") != std::string::npos;
  if (!ends_numbered || !middle_plain || refuses) return Verdict::drop;
  const std::string first_number = first.substr(0, leading_number_length(first));
  const std::string last_number = last.substr(0, leading_number_length(last));
  q.text += " Using this card on which " + first_number + " means '" + card_label(first) + "' and " +
            last_number + " means '" + card_label(last) + "'";
  options.front() = first_number;
  options.back() = last_number;
  return Verdict::rewritten;
}

std::string normalise_text(const std::string& text) {
  std::string out;
  bool space = true;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c >= 0x80) {
      out.push_back(static_cast<char>(std::tolower(c)));
      space = false;
    } else if (!space) {
      out.push_back(' ');
      space = true;
    }
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::vector<std::string> word_ngrams(const std::string& text, std::size_t n) {
  std::vector<std::string> words;
  std::size_t start = 0;
  const std::string norm = normalise_text(text);
  while (start < norm.size()) {
    std::size_t end = norm.find(' ', start);
    if (end == std::string::npos) end = norm.size();
    words.push_back(norm.substr(start, end - start));
    start = end + 1;
  }
  std::set<std::string> grams;
  if (words.size() < n) {
    if (!norm.empty()) grams.insert(norm);
  } else {
    for (std::size_t i = 0; i + n <= words.size(); ++i) {
      std::string g = words[i];
      for (std::size_t k = 1; k < n; ++k) g += ' ' + words[i + k];
      grams.insert(std::move(g));
    }
  }
  return {grams.begin(), grams.end()};
}

// Finds near-duplicates with an inverted n-gram index, so that each question
// is compared only with the earlier ones sharing at least one n-gram.
class NearDuplicateIndex {
 public:
  NearDuplicateIndex(double threshold, std::size_t n) : threshold_(threshold), n_(n) {}

  // The similarity to the closest earlier entry reaching the threshold, if any.
  std::optional<double> match(const std::vector<std::string>& grams) const {
    if (grams.empty()) return std::nullopt;
    std::unordered_map<std::size_t, std::size_t> shared;
    for (const auto& g : grams) {
      auto it = postings_.find(g);
      if (it == postings_.end()) continue;
      for (std::size_t id : it->second) ++shared[id];
    }
    std::optional<double> best;
    for (const auto& [id, common] : shared) {
      const double jaccard =
          static_cast<double>(common) / static_cast<double>(sizes_[id] + grams.size() - common);
      if (jaccard >= threshold_ && (!best || jaccard > *best)) best = jaccard;
    }
    return best;
  }

  void add(const std::vector<std::string>& grams) {
    const std::size_t id = sizes_.size();
    sizes_.push_back(grams.size());
    for (const auto& g : grams) postings_[g].push_back(id);
  }

  std::size_t ngram() const { return n_; }

 private:
  double threshold_;
  std::size_t n_;
  std::vector<std::size_t> sizes_;
  std::unordered_map<std::string, std::vector<std::size_t>> postings_;
};

bool has_duplicate_options(const Question& q) {
  std::unordered_set<std::string> seen;
  for (const auto& o : q.options)
    if (!seen.insert(o).second) return true;
  return false;
}

// Runs one filter step: `decide` may rewrite the question in place.
template <typename Decide>
void run_step(const char* name, std::vector<Question>& questions, QuestionFilterReport& report,
              ProgressReporter& progress, Decide decide) {
  FilterStep step;
  step.name = name;
  std::vector<Question> kept;
  kept.reserve(questions.size());
  std::size_t seen = 0;
  for (auto& q : questions) {
    const Verdict verdict = decide(q);
    if (verdict == Verdict::drop) {
      ++step.removed;
      ++step.removed_per_topic[q.topic];
      step.removed_ids.push_back(q.id);
    } else {
      if (verdict == Verdict::rewritten) {
        ++step.rewritten;
        ++step.rewritten_per_topic[q.topic];
        step.rewritten_ids.push_back(q.id);
      }
      kept.push_back(std::move(q));
    }
    if (++seen % 512 == 0) progress.check();
  }
  questions = std::move(kept);
  step.remaining = questions.size();
  log_info("question filter: ", name, " removed ", step.removed, ", rewrote ", step.rewritten, ", ",
           step.remaining, " left");
  report.steps.push_back(std::move(step));
  progress.advance();
}

}  // namespace

QuestionFilter::QuestionFilter(QuestionFilterOptions options) : options_(options) {
  if (options_.near_duplicate_threshold < 0.0 || options_.near_duplicate_threshold > 1.0)
    throw ValueError("question filter: near_duplicate_threshold must be in [0, 1], got " +
                     std::to_string(options_.near_duplicate_threshold));
  if (options_.near_duplicate_ngram == 0)
    throw ValueError("question filter: near_duplicate_ngram must be at least 1");
  if (options_.max_options != 0 && options_.max_options < options_.min_options)
    throw ValueError("question filter: max_options (" + std::to_string(options_.max_options) +
                     ") is below min_options (" + std::to_string(options_.min_options) + ")");
}

QuestionFilterResult QuestionFilter::apply(const std::vector<Question>& generated,
                                           const std::vector<Question>& seeds,
                                           ProgressCallback progress) const {
  {
    std::unordered_set<std::string> ids;
    for (const auto& q : generated)
      if (!ids.insert(q.id).second)
        throw ValueError("question filter: question id '" + q.id +
                         "' appears twice in the generated questions (renumber them first)");
  }
  QuestionFilterResult result;
  auto& report = result.report;
  report.input = generated.size();
  std::vector<Question> questions = generated;

  std::size_t steps = 1;
  if (options_.reference) steps += 3;
  if (options_.near_duplicate_threshold > 0.0) ++steps;
  if (options_.min_options > 0 || options_.max_options > 0) ++steps;
  if (options_.drop_duplicate_options) ++steps;
  ProgressReporter reporter(progress, "filter", steps);

  run_step(filter_step::too_few_options, questions, report, reporter,
           [](Question& q) { return q.options.size() < 2 ? Verdict::drop : Verdict::keep; });

  if (options_.reference) {
    std::unordered_set<std::string> seen;
    for (const auto& s : seeds) seen.insert(s.text);
    run_step(filter_step::exact_duplicate, questions, report, reporter, [&](Question& q) {
      return seen.insert(q.text).second ? Verdict::keep : Verdict::drop;
    });
    run_step(filter_step::bare_number_options, questions, report, reporter, [](Question& q) {
      if (all_options_start_with_digit(q.options) && all_bare_numbers(q.options) && !mentions_scale(q.text))
        return Verdict::drop;
      return Verdict::keep;
    });
    run_step(filter_step::numbered_options, questions, report, reporter, [](Question& q) {
      if (!all_options_start_with_digit(q.options) || all_bare_numbers(q.options)) return Verdict::keep;
      return rewrite_numbered(q);
    });
  }

  if (options_.near_duplicate_threshold > 0.0) {
    NearDuplicateIndex index(options_.near_duplicate_threshold, options_.near_duplicate_ngram);
    for (const auto& s : seeds) index.add(word_ngrams(s.text, index.ngram()));
    run_step(filter_step::near_duplicate, questions, report, reporter, [&](Question& q) {
      auto grams = word_ngrams(q.text, index.ngram());
      if (index.match(grams)) return Verdict::drop;
      index.add(grams);
      return Verdict::keep;
    });
  }

  if (options_.min_options > 0 || options_.max_options > 0) {
    run_step(filter_step::option_count, questions, report, reporter, [&](Question& q) {
      const std::size_t n = q.options.size();
      if (n < options_.min_options || (options_.max_options > 0 && n > options_.max_options))
        return Verdict::drop;
      return Verdict::keep;
    });
  }

  if (options_.drop_duplicate_options) {
    run_step(filter_step::duplicate_options, questions, report, reporter,
             [](Question& q) { return has_duplicate_options(q) ? Verdict::drop : Verdict::keep; });
  } else {
    for (const auto& q : questions)
      if (has_duplicate_options(q)) report.duplicate_option_ids.push_back(q.id);
  }

  report.kept = questions.size();
  result.questions = std::move(questions);
  return result;
}

}  // namespace culturespa

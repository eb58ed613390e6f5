#include "culturespa/survey/scorer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <set>

#include "culturespa/core/error.h"
#include "survey/json_read.h"

namespace culturespa {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double times100(double fraction) { return fraction * 100.0; }

std::string item_where(const std::string& source, std::size_t index) {
  return source + ": item " + std::to_string(index);
}

void count_reply(ScoreCounts& counts, const QuestionResult& result) {
  ++counts.answered;
  if (!result.answer) {
    ++counts.parse_failures;
    ++counts.failures[parse_failure_name(result.failure)];
  } else if (!result.gold) {
    ++counts.no_gold;
  } else {
    ++counts.counted;
  }
}

AlignmentItem alignment_item(const Question& q, double model, int gold) {
  return {model, gold, static_cast<int>(q.options.size()), q.first_option_id()};
}

// The culture's human distribution over the options of `q`, by option index.
std::vector<double> human_distribution(const Question& q, const HumanAnswers& human) {
  std::vector<double> shares(q.options.size(), 0.0);
  for (const auto& [id, share] : human.shares) {
    if (q.is_option_id(id)) shares[static_cast<std::size_t>(id - q.first_option_id())] += share;
  }
  return shares;
}

}  // namespace

// --- run files -------------------------------------------------------------------

std::vector<RunAnswer> run_from_json(const std::string& text, const std::string& source) {
  using namespace json_read;
  const Json doc = json_parse(text, source);
  json_expect(doc, Json::value_t::array, source, "a JSON list of {\"Q_id\", \"answer\"} objects");
  std::vector<RunAnswer> run;
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const Json& item = doc[i];
    std::string where = item_where(source, i);
    json_expect(item, Json::value_t::object, where, "an object");
    RunAnswer entry{json_string(item, "Q_id", where), ""};
    where += " (" + entry.question_id + ")";
    const Json& answer = json_field(item, "answer", where);
    if (answer.is_string()) {
      entry.reply = answer.get<std::string>();
    } else if (answer.is_number_integer()) {
      entry.reply = std::to_string(answer.get<long long>());
    } else if (!answer.is_null()) {  // null: no reply, a parse failure ("empty") counted as such
      throw FormatError(where + ": field \"answer\" is " + std::string(json_type(answer)) + ", expected a string");
    }
    const auto [previous, inserted] = seen.emplace(entry.question_id, i);
    if (!inserted) {
      throw FormatError(where + ": Q_id " + entry.question_id + " repeats item " + std::to_string(previous->second));
    }
    run.push_back(std::move(entry));
  }
  return run;
}

std::vector<RunAnswer> run_load(const std::string& path) {
  return run_from_json(file_read_text(path), path);
}

std::optional<std::string> run_culture_from_path(const std::string& path, const Survey& survey) {
  const std::string stem = std::filesystem::path(path).stem().string();
  std::optional<std::string> found;
  std::size_t begin = 0;
  while (begin <= stem.size()) {
    const auto end = std::min(stem.find('_', begin), stem.size());
    const std::string part = stem.substr(begin, end - begin);
    // Only parts between two underscores count: `_<ISO>_`.
    const bool inner = begin > 0 && end < stem.size();
    for (const Culture& c : survey.cultures()) {
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

// --- reports ------------------------------------------------------------------------

ScoreReport score_report(std::vector<CultureScore> cultures, std::string source, ParseMode parse) {
  ScoreReport report;
  report.source = std::move(source);
  report.parse = parse_mode_name(parse);
  report.cultures = std::move(cultures);
  double total = 0;
  std::size_t n = 0;
  for (const auto& c : report.cultures) {
    if (std::isnan(c.alignment)) continue;
    total += c.alignment;
    ++n;
  }
  report.average = n ? total / static_cast<double>(n) : kNaN;
  return report;
}

double similarity_rank_correlation(const SimilarityMatrix& a, const SimilarityMatrix& b) {
  std::vector<double> x, y;
  for (std::size_t i = 0; i < a.cultures.size(); ++i) {
    const auto bi = std::find(b.cultures.begin(), b.cultures.end(), a.cultures[i]);
    if (bi == b.cultures.end()) continue;
    for (std::size_t j = i + 1; j < a.cultures.size(); ++j) {
      const auto bj = std::find(b.cultures.begin(), b.cultures.end(), a.cultures[j]);
      if (bj == b.cultures.end()) continue;
      const double va = a.values[i][j];
      const double vb = b.values[static_cast<std::size_t>(bi - b.cultures.begin())]
                                [static_cast<std::size_t>(bj - b.cultures.begin())];
      if (std::isnan(va) || std::isnan(vb)) continue;
      x.push_back(va);
      y.push_back(vb);
    }
  }
  if (x.size() < 2) {
    throw ValueError("similarity rank correlation: the matrices share " + std::to_string(x.size()) +
                     " culture pairs (need 2 or more)");
  }
  return spearman_correlation(x, y);
}

// --- the scorer -----------------------------------------------------------------------

SurveyScorer::SurveyScorer(Survey survey, ScorerOptions options)
    : survey_(std::move(survey)), options_(options) {
  if (!(options_.confidence > 0 && options_.confidence < 1)) {
    throw ValueError("scorer confidence " + std::to_string(options_.confidence) + " is not inside (0, 1)");
  }
}

void SurveyScorer::require_culture(std::string_view culture) const {
  if (survey_.has_culture(culture)) return;
  std::string codes;
  for (const auto& c : survey_.cultures()) codes += (codes.empty() ? "" : ", ") + c.code;
  throw ValueError("unknown culture '" + std::string(culture) + "' (survey " + survey_.name +
                   " has " + codes + ")");
}

std::vector<std::pair<const Question*, ParsedAnswer>> SurveyScorer::parse_run(
    const std::vector<RunAnswer>& run, const std::string& source) const {
  std::vector<std::pair<const Question*, ParsedAnswer>> parsed;
  parsed.reserve(run.size());
  std::set<std::string_view> seen;
  const AnswerParseOptions parse{options_.parse, kReferenceScoringMax};
  for (std::size_t i = 0; i < run.size(); ++i) {
    const RunAnswer& answer = run[i];
    if (!survey_.has_question(answer.question_id)) {
      throw FormatError(item_where(source, i) + ": unknown question id '" + answer.question_id + "' (survey " +
                        survey_.name + ")");
    }
    if (!survey_.is_evaluated(answer.question_id)) {
      throw FormatError(item_where(source, i) + ": question " + answer.question_id +
                        " is not an evaluated question of survey " + survey_.name);
    }
    if (!seen.insert(answer.question_id).second) {
      throw FormatError(item_where(source, i) + ": question " + answer.question_id + " is answered twice");
    }
    const Question& q = survey_.question(answer.question_id);
    parsed.emplace_back(&q, answer_parse(answer.reply, q, parse));
  }
  return parsed;
}

CultureScore SurveyScorer::score(const std::vector<RunAnswer>& run, std::string_view culture,
                                 const std::string& source) const {
  require_culture(culture);
  CultureScore score;
  score.culture = std::string(culture);
  score.survey_questions = survey_.evaluated_ids().size();

  std::vector<AlignmentItem> items;
  std::map<std::string, std::vector<AlignmentItem>> topic_items;
  std::map<std::string, ScoreCounts> topic_counts;
  for (auto& [question, parsed] : parse_run(run, source)) {
    QuestionResult result;
    result.question_id = question->id;
    result.topic = question->topic;
    result.answer = parsed.option;
    result.failure = parsed.failure;
    result.message = std::move(parsed.message);
    result.gold = survey_.gold(culture, question->id);
    result.option_count = static_cast<int>(question->options.size());
    result.counted = result.answer && result.gold;
    count_reply(score.counts, result);
    count_reply(topic_counts[question->topic], result);
    if (result.counted) {
      const AlignmentItem item = alignment_item(*question, *result.answer, *result.gold);
      items.push_back(item);
      topic_items[question->topic].push_back(item);
    }
    score.questions.push_back(std::move(result));
  }

  score.alignment = times100(alignment_score(items));
  const ConfidenceInterval ci =
      alignment_bootstrap(items, {options_.bootstrap_samples, options_.seed, options_.confidence});
  score.ci_low = times100(ci.low);
  score.ci_high = times100(ci.high);
  score.random_baseline = times100(alignment_random_baseline(items));
  std::vector<std::string> topics = survey_.topics();
  if (topic_counts.count("")) topics.push_back("");  // questions without a topic
  for (const std::string& topic : topics) {
    const auto counts = topic_counts.find(topic);
    if (counts == topic_counts.end()) continue;
    score.topics.push_back({topic, times100(alignment_score(topic_items[topic])), counts->second});
  }
  return score;
}

ScoreReport SurveyScorer::score_cultures(const std::vector<RunAnswer>& run, const std::vector<std::string>& cultures,
                                         const std::string& source, ProgressCallback progress) const {
  for (const auto& c : cultures) require_culture(c);
  ProgressReporter reporter(std::move(progress), "score", cultures.size());
  std::vector<CultureScore> scores;
  for (const auto& c : cultures) {
    scores.push_back(score(run, c, source));
    reporter.advance();
  }
  return score_report(std::move(scores), source, options_.parse);
}

DistributionScore SurveyScorer::score_distributions(const std::map<std::string, std::vector<double>>& answers,
                                                    std::string_view culture) const {
  require_culture(culture);
  DistributionScore score;
  score.culture = std::string(culture);
  std::vector<AlignmentItem> expected;
  double js = 0, w1 = 0;
  for (const auto& [id, distribution] : answers) {
    if (!survey_.has_question(id)) throw ValueError("distribution for unknown question id '" + id + "'");
    const Question& q = survey_.question(id);
    if (distribution.size() != q.options.size()) {
      throw ValueError("distribution for " + id + " has " + std::to_string(distribution.size()) +
                       " values, the question has " + std::to_string(q.options.size()) + " options");
    }
    const HumanAnswers* human = survey_.human_answers(culture, id);
    if (human == nullptr || !human->has_gold()) continue;
    try {
      const std::vector<double> people = human_distribution(q, *human);
      js += js_similarity(distribution, people);
      w1 += wasserstein_similarity(distribution, people);
      expected.push_back(alignment_item(q, expected_option_id(distribution, q.first_option_id()), human->gold()));
    } catch (const ValueError& e) {
      throw ValueError("distribution for " + id + ": " + e.what());
    }
    ++score.counted;
  }
  const double n = static_cast<double>(score.counted);
  score.js_similarity = score.counted ? times100(js / n) : kNaN;
  score.wasserstein_similarity = score.counted ? times100(w1 / n) : kNaN;
  score.expected_alignment = times100(alignment_score(expected));
  return score;
}

PairedDifference SurveyScorer::compare(const std::vector<RunAnswer>& a, const std::vector<RunAnswer>& b,
                                       std::string_view culture, const std::string& source_a,
                                       const std::string& source_b) const {
  require_culture(culture);
  std::map<std::string, int> answers_b;
  for (const auto& [q, parsed] : parse_run(b, source_b)) {
    if (parsed.ok()) answers_b[q->id] = *parsed.option;
  }
  std::vector<AlignmentItem> items_a, items_b;
  for (const auto& [q, parsed] : parse_run(a, source_a)) {
    const auto other = answers_b.find(q->id);
    const auto gold = survey_.gold(culture, q->id);
    if (!parsed.ok() || other == answers_b.end() || !gold) continue;
    items_a.push_back(alignment_item(*q, *parsed.option, *gold));
    items_b.push_back(alignment_item(*q, other->second, *gold));
  }
  PairedDifference difference =
      alignment_paired_difference(items_a, items_b, {options_.bootstrap_samples, options_.seed, options_.confidence});
  difference.difference.estimate = times100(difference.difference.estimate);
  difference.difference.low = times100(difference.difference.low);
  difference.difference.high = times100(difference.difference.high);
  return difference;
}

namespace {

// Alignment x100 of answers `m` against answers `g` over the questions both hold.
double answers_alignment(const std::map<std::string, int>& m, const std::map<std::string, int>& g,
                         const Survey& survey) {
  std::vector<AlignmentItem> items;
  for (const auto& [id, answer] : m) {
    const auto other = g.find(id);
    if (other == g.end()) continue;
    const Question& q = survey.question(id);
    items.push_back(alignment_item(q, answer, other->second));
  }
  return times100(alignment_score(items));
}

SimilarityMatrix similarity_matrix(const std::vector<std::string>& cultures,
                                   const std::vector<std::map<std::string, int>>& answers, const Survey& survey,
                                   ProgressCallback progress) {
  SimilarityMatrix matrix;
  matrix.cultures = cultures;
  matrix.values.assign(cultures.size(), std::vector<double>(cultures.size(), kNaN));
  ProgressReporter reporter(std::move(progress), "similarity", cultures.size());
  for (std::size_t i = 0; i < cultures.size(); ++i) {
    for (std::size_t j = 0; j < cultures.size(); ++j) {
      matrix.values[i][j] = answers_alignment(answers[i], answers[j], survey);
    }
    reporter.advance();
  }
  return matrix;
}

}  // namespace

SimilarityMatrix SurveyScorer::culture_similarity(const std::map<std::string, std::vector<RunAnswer>>& runs,
                                                  ProgressCallback progress) const {
  // Survey order, so that matrices of different runs line up.
  std::vector<std::string> cultures;
  for (const auto& [code, run] : runs) require_culture(code);
  for (const auto& c : survey_.cultures()) {
    if (runs.count(c.code)) cultures.push_back(c.code);
  }
  std::vector<std::map<std::string, int>> answers;
  for (const auto& code : cultures) {
    std::map<std::string, int> parsed_answers;
    for (const auto& [q, parsed] : parse_run(runs.at(code), "run of " + code)) {
      if (parsed.ok()) parsed_answers[q->id] = *parsed.option;
    }
    answers.push_back(std::move(parsed_answers));
  }
  return similarity_matrix(cultures, answers, survey_, std::move(progress));
}

SimilarityMatrix SurveyScorer::gold_similarity(const std::vector<std::string>& requested) const {
  std::vector<std::string> cultures = requested;
  if (cultures.empty()) {
    for (const auto& c : survey_.cultures()) cultures.push_back(c.code);
  }
  std::vector<std::map<std::string, int>> answers;
  for (const auto& code : cultures) {
    require_culture(code);
    std::map<std::string, int> gold;
    for (const auto& id : survey_.evaluated_ids()) {
      if (const auto g = survey_.gold(code, id)) gold[id] = *g;
    }
    answers.push_back(std::move(gold));
  }
  return similarity_matrix(cultures, answers, survey_, {});
}

// --- report formats ---------------------------------------------------------------------

namespace {

nlohmann::json number_or_null(double value) {
  return std::isnan(value) ? nlohmann::json(nullptr) : nlohmann::json(value);
}

nlohmann::json counts_json(const ScoreCounts& counts) {
  return {{"answered", counts.answered},
          {"counted", counts.counted},
          {"no_gold", counts.no_gold},
          {"parse_failures", counts.parse_failures},
          {"failures", counts.failures}};
}

std::string csv_number(double value) {
  if (std::isnan(value)) return "";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6f", value);
  return buffer;
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string fixed(double value, int digits) {
  if (std::isnan(value)) return "n/a";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
  return buffer;
}

const char* const kFailureNames[] = {"empty", "no_answer", "refusal", "ambiguous", "not_an_option", "out_of_range"};

}  // namespace

std::string report_to_json(const ScoreReport& report) {
  nlohmann::json cultures = nlohmann::json::array();
  for (const auto& c : report.cultures) {
    nlohmann::json topics = nlohmann::json::array();
    for (const auto& t : c.topics) {
      nlohmann::json topic = counts_json(t.counts);
      topic["topic"] = t.topic;
      topic["alignment"] = number_or_null(t.alignment);
      topics.push_back(std::move(topic));
    }
    nlohmann::json culture = counts_json(c.counts);
    culture["culture"] = c.culture;
    culture["alignment"] = number_or_null(c.alignment);
    culture["ci_low"] = number_or_null(c.ci_low);
    culture["ci_high"] = number_or_null(c.ci_high);
    culture["random_baseline"] = number_or_null(c.random_baseline);
    culture["survey_questions"] = c.survey_questions;
    culture["topics"] = std::move(topics);
    cultures.push_back(std::move(culture));
  }
  nlohmann::json doc = {{"source", report.source},
                        {"parse", report.parse},
                        {"average", number_or_null(report.average)},
                        {"cultures", std::move(cultures)}};
  return doc.dump(2);
}

std::string report_to_csv(const ScoreReport& report) {
  std::string out = "source,parse,culture,topic,alignment,ci_low,ci_high,random_baseline,answered,counted,no_gold,parse_failures";
  for (const char* name : kFailureNames) out += std::string(",") + name;
  out += "\n";
  auto row = [&](const std::string& culture, const std::string& topic, double alignment, double low, double high,
                 double baseline, const ScoreCounts& counts) {
    out += csv_field(report.source) + "," + report.parse + "," + csv_field(culture) + "," + csv_field(topic) + "," +
           csv_number(alignment) + "," + csv_number(low) + "," + csv_number(high) + "," + csv_number(baseline) + "," +
           std::to_string(counts.answered) + "," + std::to_string(counts.counted) + "," +
           std::to_string(counts.no_gold) + "," + std::to_string(counts.parse_failures);
    for (const char* name : kFailureNames) {
      const auto it = counts.failures.find(name);
      out += "," + std::to_string(it == counts.failures.end() ? 0 : it->second);
    }
    out += "\n";
  };
  for (const auto& c : report.cultures) {
    row(c.culture, "", c.alignment, c.ci_low, c.ci_high, c.random_baseline, c.counts);
    for (const auto& t : c.topics) row(c.culture, t.topic, t.alignment, kNaN, kNaN, kNaN, t.counts);
  }
  return out;
}

std::string report_to_markdown(const ScoreReport& report) {
  std::string out = "| culture | alignment | bootstrap CI | random baseline | counted | parse failures |\n"
                    "| --- | ---: | ---: | ---: | ---: | ---: |\n";
  for (const auto& c : report.cultures) {
    out += "| " + c.culture + " | " + fixed(c.alignment, 2) + " | " + fixed(c.ci_low, 2) + " - " +
           fixed(c.ci_high, 2) + " | " + fixed(c.random_baseline, 2) + " | " + std::to_string(c.counts.counted) +
           " / " + std::to_string(c.counts.answered) + " | " + std::to_string(c.counts.parse_failures) + " |\n";
  }
  out += "| **average** | **" + fixed(report.average, 2) + "** | | | | |\n";
  return out;
}

}  // namespace culturespa

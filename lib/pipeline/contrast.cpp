#include "culturespa/pipeline/contrast.h"

#include "culturespa/survey/metrics.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>

#include "culturespa/core/enum_names.h"
#include "culturespa/core/error.h"
#include "culturespa/core/logging.h"
#include "culturespa/survey/answer_parser.h"

namespace culturespa {

namespace {

constexpr auto kContrastRules = enum_names<ContrastRule>(
    "contrast rule", {{ContrastRule::reference, "reference"}, {ContrastRule::distributional, "distributional"}});

}  // namespace

const char* contrast_rule_name(ContrastRule rule) { return kContrastRules.name(rule); }

ContrastRule contrast_rule_from_name(const std::string& name) { return kContrastRules.from_name(name); }

const ContrastCultureReport& ContrastReport::culture(const std::string& code) const {
  for (const auto& c : cultures)
    if (c.culture == code) return c;
  throw ValueError("contrast report: no culture '" + code + "'");
}

namespace {

std::size_t argmax(const std::vector<double>& p) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < p.size(); ++i)
    if (p[i] > p[best]) best = i;
  return best;
}

std::unordered_map<std::string, const ModelAnswer*> index_answers(const AnswerSet& set,
                                                                  const std::string& what) {
  std::unordered_map<std::string, const ModelAnswer*> index;
  for (const auto& a : set.answers)
    if (!index.emplace(a.question_id, &a).second)
      throw ValueError("contrast: question id '" + a.question_id + "' appears twice in the " + what +
                       " answers");
  return index;
}

void tally(ContrastCounts& counts, bool valid, bool kept) {
  ++counts.compared;
  if (!valid) {
    ++counts.invalid;
  } else {
    ++counts.valid;
    ++(kept ? counts.different : counts.same);
  }
}

std::string first_ids(const std::vector<std::string>& ids) {
  std::string out;
  for (std::size_t i = 0; i < ids.size() && i < 5; ++i) out += (i ? ", " : "") + ids[i];
  if (ids.size() > 5) out += ", ...";
  return out;
}

}  // namespace

ContrastDetector::ContrastDetector(ContrastOptions options) : options_(options) {
  if (options_.min_answer > options_.max_answer)
    throw ValueError("contrast: min_answer (" + std::to_string(options_.min_answer) +
                     ") is above max_answer (" + std::to_string(options_.max_answer) + ")");
  if (!(options_.jsd_threshold >= 0.0 && options_.jsd_threshold <= 1.0))
    throw ValueError("contrast: jsd_threshold must be in [0, 1] bits, got " +
                     std::to_string(options_.jsd_threshold));
}

ContrastResult ContrastDetector::detect(const std::vector<Question>& questions, const AnswerSet& unaware,
                                        const std::vector<AnswerSet>& aware,
                                        ProgressCallback progress) const {
  if (aware.empty()) throw ValueError("contrast: no culture-aware answer sets given (empty cultures list)");
  {
    std::set<std::string> cultures;
    for (const auto& set : aware) {
      if (set.culture.empty()) throw ValueError("contrast: a culture-aware answer set has no culture code");
      if (!cultures.insert(set.culture).second)
        throw ValueError("contrast: culture '" + set.culture + "' is given twice");
    }
  }
  std::unordered_map<std::string, const Question*> question_by_id;
  for (const auto& q : questions) question_by_id.emplace(q.id, &q);
  const auto unaware_index = index_answers(unaware, "culture-unaware");
  for (const auto& a : unaware.answers)
    if (!question_by_id.count(a.question_id))
      throw ValueError("contrast: the culture-unaware answers name question '" + a.question_id +
                       "', which the question set lacks");

  ContrastResult result;
  auto& report = result.report;
  report.rule = options_.rule;
  ProgressReporter reporter(progress, "contrast", aware.size() * unaware.answers.size(), 1024);

  for (const auto& set : aware) {
    ContrastCultureReport culture;
    culture.culture = set.culture;
    const auto aware_index = index_answers(set, "culture-aware (" + set.culture + ")");
    for (const auto& a : set.answers)
      if (!unaware_index.count(a.question_id)) culture.extra_ids.push_back(a.question_id);

    for (const auto& base : unaware.answers) {
      reporter.advance();
      const Question& question = *question_by_id.at(base.question_id);
      auto found = aware_index.find(base.question_id);
      if (found == aware_index.end()) {
        culture.missing_ids.push_back(base.question_id);
        continue;
      }
      const ModelAnswer& answer = *found->second;
      ContrastPair pair;
      bool valid = false, kept = false;
      if (options_.rule == ContrastRule::reference) {
        const auto a = answer_parse_reference(answer.reply);
        const auto u = answer_parse_reference(base.reply);
        const auto in_range = [&](int v) { return v >= options_.min_answer && v <= options_.max_answer; };
        valid = a && u && in_range(*a) && in_range(*u);
        if (valid) {
          kept = *a != *u;
          pair.aware_answer = *a;
          pair.unaware_answer = *u;
          pair.aware_reply = answer.reply;
          pair.unaware_reply = base.reply;
        }
      } else {
        const std::size_t n = question.options.size();
        valid = answer.distribution.size() == n && base.distribution.size() == n && n > 0;
        if (valid) {
          try {
            pair.score = jensen_shannon_divergence(answer.distribution, base.distribution);
          } catch (const ValueError& error) {
            log_debug("contrast: ", set.culture, " ", question.id, ": ", error.what());
            valid = false;
          }
        }
        if (valid) {
          const auto p = distribution_normalise(answer.distribution, "aware");
          const std::size_t a = argmax(p);
          const std::size_t u = argmax(base.distribution);
          kept = pair.score >= options_.jsd_threshold && (!options_.require_argmax_change || a != u);
          pair.aware_answer = question.first_option_id() + static_cast<int>(a);
          pair.unaware_answer = question.first_option_id() + static_cast<int>(u);
          pair.probability = p[a];
        }
      }
      tally(culture.counts, valid, kept);
      tally(culture.per_topic[question.topic], valid, kept);
      tally(report.total, valid, kept);
      tally(report.per_topic[question.topic], valid, kept);
      if (kept) {
        pair.question = question;
        pair.culture = set.culture;
        pair.rule = options_.rule;
        result.pairs.push_back(std::move(pair));
      }
    }
    if (!culture.missing_ids.empty())
      log_warning("contrast: ", culture.missing_ids.size(), " question id(s) of the culture-unaware answers are ",
                  "missing from the ", set.culture, " answers (", first_ids(culture.missing_ids), ")");
    if (!culture.extra_ids.empty())
      log_warning("contrast: ", culture.extra_ids.size(), " question id(s) of the ", set.culture,
                  " answers are not in the culture-unaware answers and were ignored (",
                  first_ids(culture.extra_ids), ")");
    log_info("contrast: ", set.culture, ": ", culture.counts.valid, " valid, ", culture.counts.same, " same, ",
             culture.counts.different, " different");
    report.cultures.push_back(std::move(culture));
  }
  reporter.report();
  return result;
}

}  // namespace culturespa

#include "culturespa/pipeline/answering.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>
#include <nlohmann/json.hpp>

#include "culturespa/core/enum_names.h"
#include "culturespa/core/error.h"
#include "culturespa/core/logging.h"
#include "culturespa/model/distributed.h"
#include "culturespa/survey/answer_parser.h"

namespace culturespa {

using nlohmann::ordered_json;

namespace {

constexpr auto kAnswerModes =
    enum_names<AnswerMode>("answer mode", {{AnswerMode::sampled, "sampled"}, {AnswerMode::scored, "scored"}});

}  // namespace

const char* answer_mode_name(AnswerMode mode) { return kAnswerModes.name(mode); }

AnswerMode answer_mode_from_name(const std::string& name) { return kAnswerModes.from_name(name); }

std::string answer_file_path(const std::string& dir, const std::string& culture, const AnswerOptions& options) {
  const std::string file = culture.empty() ? options.name + "_culture_unaware_0.json"
                                           : options.name + "_culture_aware_" + culture + "_0.json";
  return (std::filesystem::path(dir) / file).string();
}

void answer_file_save(const std::string& path, const std::vector<Question>& questions,
                      const std::vector<ModelAnswer>& answers) {
  if (questions.size() != answers.size())
    throw ValueError(path + ": " + std::to_string(answers.size()) + " answers for " +
                     std::to_string(questions.size()) + " questions");
  ordered_json items = ordered_json::array();
  for (std::size_t i = 0; i < questions.size(); ++i) {
    const Question& q = questions[i];
    const ModelAnswer& a = answers[i];
    if (a.question_id != q.id)
      throw ValueError(path + ": answer " + std::to_string(i) + " is for " + a.question_id + ", question " +
                       std::to_string(i) + " is " + q.id);
    ordered_json item{{"Q_id", q.id}, {"question", q.text}, {"option_lst", q.options}};
    if (!q.topic.empty()) item["class"] = q.topic;
    if (q.zero_based) item["zero_based"] = true;
    item["answer"] = a.reply;
    if (!a.distribution.empty()) item["distribution"] = a.distribution;
    items.push_back(std::move(item));
  }
  file_write_atomic(path, items.dump(4) + "\n");
}

QuestionAnswerer::QuestionAnswerer(ReplySource& source, AnswerOptions options)
    : source_(source), options_(std::move(options)) {
  if (options_.name.empty() || options_.name.find('/') != std::string::npos)
    throw ValueError("answering: name '" + options_.name + "' must be a non-empty file name stem");
  if (options_.cultures.empty() && !options_.unaware)
    throw ValueError("answering: no runs (an empty cultures list and unaware off)");
  if (options_.mode == AnswerMode::sampled) {
    if (options_.max_new_tokens < 1)
      throw ValueError("answering: max_new_tokens must be >= 1 in sampled mode, got " +
                       std::to_string(options_.max_new_tokens) + " (an empty reply answers nothing)");
    if (!(options_.temperature >= 0))
      throw ValueError("answering: temperature must be >= 0, got " + std::to_string(options_.temperature));
    if (!(options_.top_p > 0 && options_.top_p <= 1))
      throw ValueError("answering: top_p must be in (0, 1], got " + std::to_string(options_.top_p));
  }
  std::set<std::string> codes;
  for (const auto& c : options_.cultures) {
    if (c.code.empty()) throw ValueError("answering: a culture without a code");
    if (!codes.insert(c.code).second) throw ValueError("answering: culture " + c.code + " given twice");
  }
}

StageSettings answer_settings(const AnswerOptions& options, const std::string& culture, const ReplySource& source) {
  StageSettings s;
  s.set("stage", "answer");
  s.set("mode", answer_mode_name(options.mode));
  std::string who = "unaware";
  for (const auto& c : options.cultures)
    if (c.code == culture) who = c.code + " (" + c.article + " " + c.adjective + ")";
  s.set("culture", who);
  s.set("templates", StageSettings{{{"json", options.templates.to_json()}}}.hash());
  for (const auto& [key, value] : source.settings()) s.set(key, value);
  if (options.mode == AnswerMode::sampled) {
    s.set("temperature", stage_setting_number(options.temperature));
    s.set("top_p", stage_setting_number(options.top_p));
    s.set("max_new_tokens", std::to_string(options.max_new_tokens));
    s.set("seed", std::to_string(options.seed));
  }
  return s;
}

namespace {

// Reads a finished run's file when it holds exactly `questions` (by id, in
// order) and was made with `settings`; nullopt when there is none.
std::optional<std::vector<ModelAnswer>> finished_run(const std::string& path, const std::vector<Question>& questions,
                                                     const StageSettings& settings) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  stage_settings_require(path, settings,
                         "rerun with --overwrite (overwrite=True) to start over, or answer into another folder");
  AnswerFile file = answer_file_load(path);
  bool same = file.answers.size() == questions.size();
  for (std::size_t i = 0; same && i < questions.size(); ++i) same = file.answers[i].question_id == questions[i].id;
  if (!same)
    throw ValueError(path + ": exists but answers other questions (" + std::to_string(file.answers.size()) +
                     " answers; this run has " + std::to_string(questions.size()) +
                     " questions): delete it or answer into another folder");
  return std::move(file.answers);
}

std::size_t parsed_count(const std::vector<ModelAnswer>& answers) {
  std::size_t n = 0;
  for (const auto& a : answers) {
    const auto value = answer_parse_reference(a.reply);
    if (value && *value >= 0 && *value <= kReferenceContrastMax) ++n;
  }
  return n;
}

}  // namespace

AnswerResult QuestionAnswerer::answer(const std::vector<Question>& questions, const std::string& dir,
                                      ProgressCallback progress) const {
  if (questions.empty()) throw ValueError("answering: no questions");
  std::set<std::string> ids;
  for (const auto& q : questions) {
    if (!ids.insert(q.id).second) throw ValueError("answering: question id " + q.id + " repeated");
    if (q.options.size() < 2)
      throw ValueError("answering: question " + q.id + " has " + std::to_string(q.options.size()) +
                       " option(s); at least 2 are needed");
  }
  std::filesystem::create_directories(dir);

  // The survey the prompt builders read cultures from.
  Survey survey;
  for (const auto& c : options_.cultures) survey.add_culture(c);
  std::vector<std::string> runs;
  if (options_.unaware) runs.push_back("");
  for (const auto& c : options_.cultures) runs.push_back(c.code);

  // Several ranks (distributed_init): run k is rank k % world's, whole, so
  // that its batches are the ones one process forms and its file is
  // byte-identical; the other runs' files are read once every rank is done.
  const std::shared_ptr<Distributed> group = distributed_group();
  if (group) {
    std::string agreed;
    for (const auto& culture : runs) agreed += answer_settings(options_, culture, source_).hash() + "\n";
    for (const auto& q : questions) agreed += q.id + "\n";
    group->require_same("answer settings and questions", agreed);
  }

  AnswerResult result;
  const std::size_t total = runs.size() * questions.size();
  ProgressReporter reporter(progress, "answer", total);
  std::vector<std::optional<AnswerSet>> sets(runs.size());
  std::vector<AnswerRunReport> reports(runs.size());
  for (std::size_t k = 0; k < runs.size(); ++k) {
    if (group && !group->owns(k)) continue;
    const std::string& culture = runs[k];
    AnswerRunReport report;
    report.culture = culture;
    report.path = answer_file_path(dir, culture, options_);
    report.questions = questions.size();
    std::vector<ModelAnswer> answers;
    const StageSettings settings = answer_settings(options_, culture, source_);
    std::optional<std::vector<ModelAnswer>> done;
    if (!options_.overwrite) done = finished_run(report.path, questions, settings);
    if (done) {
      answers = std::move(*done);
      report.resumed = true;
      log_info("answering: ", report.path, " exists, kept");
    } else {
      const PromptMethod method = culture.empty() ? PromptMethod::culture_unaware : PromptMethod::culture_aware;
      std::vector<Conversation> prompts;
      std::vector<std::vector<std::string>> labels;
      for (const auto& q : questions) {
        SurveyPrompt prompt = prompt_build(survey, q, method, culture, options_.templates);
        prompts.push_back(std::move(prompt.conversation));
        labels.push_back(std::move(prompt.labels));
      }
      const std::size_t base = reporter.done();
      const auto inner = [&](const Progress& p) {
        if (!progress) return true;
        const std::size_t done = p.total ? base + p.done * questions.size() / p.total : base;
        return progress(Progress{culture.empty() ? "answer unaware" : "answer " + culture, done, total});
      };
      answers.resize(questions.size());
      for (std::size_t i = 0; i < questions.size(); ++i) answers[i].question_id = questions[i].id;
      if (options_.mode == AnswerMode::sampled) {
        GenerateOptions sampling;
        sampling.temperature = options_.temperature;
        sampling.top_p = options_.top_p;
        sampling.max_new_tokens = options_.max_new_tokens;
        for (std::size_t i = 0; i < questions.size(); ++i)
          sampling.prompt_seeds.push_back(pipeline_seed(options_.seed, culture.empty() ? "-" : culture, i));
        auto replies = source_.replies(prompts, sampling, inner);
        for (std::size_t i = 0; i < questions.size(); ++i) answers[i].reply = std::move(replies[i]);
      } else {
        const auto probs = source_.option_probabilities(prompts, labels, inner);
        for (std::size_t i = 0; i < questions.size(); ++i) {
          answers[i].distribution = probs[i];
          const auto best = std::max_element(probs[i].begin(), probs[i].end()) - probs[i].begin();
          answers[i].reply = labels[i][static_cast<std::size_t>(best)];
        }
      }
      stage_settings_save(report.path, settings);  // first: a record never lags its file
      answer_file_save(report.path, questions, answers);
    }
    report.parsed = parsed_count(answers);
    if (group) report.rank = static_cast<std::size_t>(group->rank());
    reporter.advance(questions.size());
    sets[k] = AnswerSet{culture, std::move(answers)};
    reports[k] = report;
  }
  if (group) {
    group->barrier("the end of answering into " + dir);
    for (std::size_t k = 0; k < runs.size(); ++k) {
      if (sets[k]) continue;
      AnswerRunReport report;
      report.culture = runs[k];
      report.path = answer_file_path(dir, runs[k], options_);
      report.questions = questions.size();
      report.rank = k % static_cast<std::size_t>(group->world_size());
      auto done = finished_run(report.path, questions, answer_settings(options_, runs[k], source_));
      if (!done)
        throw FileError(FileError::Kind::not_found, report.path,
                        "answering: " + report.path + ", answered by rank " + std::to_string(report.rank) +
                            ", is not in this rank's folder: every rank must write into one shared folder (one "
                            "machine, or a network file system)");
      report.parsed = parsed_count(*done);
      reporter.advance(questions.size());
      sets[k] = AnswerSet{runs[k], std::move(*done)};
      reports[k] = report;
    }
  }
  for (std::size_t k = 0; k < runs.size(); ++k) {
    if (runs[k].empty()) result.unaware = std::move(*sets[k]);
    else result.aware.push_back(std::move(*sets[k]));
    result.runs.push_back(reports[k]);
  }
  reporter.report();
  return result;
}

}  // namespace culturespa

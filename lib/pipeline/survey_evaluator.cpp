#include "culturespa/pipeline/survey_evaluator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <nlohmann/json.hpp>

#include "culturespa/core/enum_names.h"
#include "culturespa/core/error.h"
#include "culturespa/core/logging.h"
#include "culturespa/model/distributed.h"
#include "culturespa/pipeline/answering.h"
#include "culturespa/survey/answers.h"
#include "culturespa/survey/metrics.h"

namespace culturespa {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr const char* kManifest = "evaluation.json";

// The paper's methods in its order, with its labels.
struct PaperMethod {
  PromptMethod prompt;
  const char* label;
};
const std::vector<PaperMethod>& paper_methods() {
  static const std::vector<PaperMethod> methods = {
      {PromptMethod::culture_unaware, "P0"},
      {PromptMethod::culture_aware, "P1"},
      {PromptMethod::cross_culture_thinking, "P2"},
      {PromptMethod::self_alignment, "P3"},
      {PromptMethod::culture_aware_self_alignment, "P1+P3"},
      {PromptMethod::cross_culture_thinking_self_alignment, "P2+P3"},
  };
  return methods;
}

std::string valid_method_names() {
  std::string out;
  for (const auto& m : paper_methods())
    out += (out.empty() ? "" : ", ") + std::string(prompt_method_name(m.prompt)) + " (" + m.label + ")";
  return out + ", or a prompt-template file (prompts.json shape)";
}

bool is_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_';
  });
}

double mean_of(const std::vector<double>& values) {
  double sum = 0;
  std::size_t n = 0;
  for (double v : values)
    if (!std::isnan(v)) sum += v, ++n;
  return n ? sum / static_cast<double>(n) : kNaN;
}

// The display order of a question's options: position j shows option order[j].
std::vector<std::size_t> option_permutation(OptionOrder order, std::size_t n, const std::string& question_id,
                                            std::size_t shuffle, std::uint64_t seed) {
  std::vector<std::size_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  if (order == OptionOrder::reversed) std::reverse(perm.begin(), perm.end());
  if (order == OptionOrder::shuffled) {
    // Fisher-Yates with our own index draw: the same on every standard library.
    std::mt19937_64 random(pipeline_seed(seed, question_id, shuffle));
    for (std::size_t i = n; i > 1; --i) std::swap(perm[i - 1], perm[random() % i]);
  }
  return perm;
}

Question permuted(const Question& q, const std::vector<std::size_t>& perm) {
  Question out = q;
  for (std::size_t j = 0; j < perm.size(); ++j) out.options[j] = q.options[perm[j]];
  return out;
}

// One asked variant of a method: the original order, reversed, or shuffle k.
struct Variant {
  std::string name;  // file-name part
  OptionOrder order;
  std::size_t shuffle;
};

std::vector<Variant> variants(const EvaluationMethod& method, const SurveyEvaluatorOptions& o) {
  std::vector<Variant> out{{method.name, OptionOrder::original, 0}};
  if (o.option_order == OptionOrder::reversed) out.push_back({method.name + "_reversed", OptionOrder::reversed, 0});
  if (o.option_order == OptionOrder::shuffled)
    for (std::size_t k = 0; k < o.shuffles; ++k)
      out.push_back({method.name + "_shuffled" + std::to_string(k), OptionOrder::shuffled, k});
  return out;
}

std::size_t run_count(const SurveyEvaluatorOptions& o) {
  return o.protocol == EvaluationProtocol::scored ? 1 : o.runs;
}

// The result file's answers when it exists and holds `questions` in order.
std::optional<std::vector<ModelAnswer>> finished(const std::string& path, const std::vector<Question>& questions) {
  if (!fs::exists(path)) return std::nullopt;
  AnswerFile file = answer_file_load(path);
  bool same = file.answers.size() == questions.size();
  for (std::size_t i = 0; same && i < questions.size(); ++i) same = file.answers[i].question_id == questions[i].id;
  if (!same)
    throw ValueError(path + ": exists but answers other questions (" + std::to_string(file.answers.size()) +
                     " answers, this evaluation asks " + std::to_string(questions.size()) +
                     "): delete it or evaluate into another folder");
  return std::move(file.answers);
}

ordered_json manifest_json(const EvaluationManifest& m) {
  return {{"model", m.model},       {"protocol", m.protocol}, {"option_order", m.option_order},
          {"runs", m.runs},         {"shuffles", m.shuffles}, {"survey", m.survey},
          {"prefix", m.prefix},     {"methods", m.methods},   {"cultures", m.cultures}};
}

// The user methods' prompt structures, kept beside the names so that a later
// score or compare knows which are asked per culture.
constexpr const char* kMethodPrompts = "method_prompts";

std::string display(double value, int digits = 2) {
  if (std::isnan(value)) return "n/a";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
  return buffer;
}

nlohmann::json number(double value) { return std::isnan(value) ? nlohmann::json(nullptr) : nlohmann::json(value); }

std::string csv(double value) { return std::isnan(value) ? "" : display(value, 6); }

std::string quoted(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

// --- names ------------------------------------------------------------------------------

namespace {

constexpr auto kProtocols = enum_names<EvaluationProtocol>(
    "protocol", {{EvaluationProtocol::scored, "scored"}, {EvaluationProtocol::sampled, "sampled"}});
constexpr auto kOptionOrders = enum_names<OptionOrder>(
    "option order",
    {{OptionOrder::original, "original"}, {OptionOrder::reversed, "reversed"}, {OptionOrder::shuffled, "shuffled"}});

}  // namespace

const char* evaluation_protocol_name(EvaluationProtocol protocol) { return kProtocols.name(protocol); }

EvaluationProtocol evaluation_protocol_from_name(std::string_view name) { return kProtocols.from_name(name); }

const char* option_order_name(OptionOrder order) { return kOptionOrders.name(order); }

OptionOrder option_order_from_name(std::string_view name) { return kOptionOrders.from_name(name); }

EvaluationMethod evaluation_method(std::string_view name) {
  for (const auto& m : paper_methods())
    if (name == m.label || name == prompt_method_name(m.prompt))
      return {prompt_method_name(m.prompt), m.prompt, PromptTemplates::reference()};
  throw ValueError("unknown method \"" + std::string(name) + "\" (valid: " + valid_method_names() + ")");
}

const std::vector<std::string>& evaluation_method_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& m : paper_methods()) out.push_back(prompt_method_name(m.prompt));
    return out;
  }();
  return names;
}

EvaluationMethod evaluation_method_load(const std::string& path, const std::string& name) {
  const std::string text = file_read_text(path);
  EvaluationMethod method;
  method.templates = PromptTemplates::from_json(text, path);
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(path + ": not JSON (" + e.what() + ")");
  }
  method.prompt = PromptMethod::culture_aware;
  if (doc.contains("_method")) {
    if (!doc["_method"].is_string()) throw ConfigError(path + ": \"_method\" must be a string");
    try {
      method.prompt = evaluation_method(doc["_method"].get<std::string>()).prompt;
    } catch (const ValueError& e) {
      throw ConfigError(path + ": \"_method\": " + e.what());
    }
  }
  method.name = name;
  if (method.name.empty() && doc.contains("_name") && doc["_name"].is_string()) method.name = doc["_name"];
  if (method.name.empty()) method.name = fs::path(path).stem().string();
  if (!is_name(method.name))
    throw ConfigError(path + ": method name \"" + method.name + "\" may hold letters, digits and _ only");
  for (const auto& paper : evaluation_method_names())
    if (paper == method.name)
      throw ConfigError(path + ": method name \"" + method.name + "\" is one of the paper's; choose another");
  return method;
}

std::string evaluation_result_path(const std::string& dir, const std::string& method, const std::string& culture,
                                   std::size_t run, const std::string& prefix) {
  const std::string file =
      prefix + "_" + method + (culture.empty() ? "" : "_" + culture) + "_" + std::to_string(run) + ".json";
  return (fs::path(dir) / file).string();
}

// --- the evaluator ------------------------------------------------------------------------

SurveyEvaluator::SurveyEvaluator(ReplySource& source, Survey survey, SurveyEvaluatorOptions options)
    : source_(&source), survey_(std::move(survey)), options_(std::move(options)) {
  validate();
}

SurveyEvaluator::SurveyEvaluator(const Generator& generator, Survey survey, SurveyEvaluatorOptions options)
    : owned_source_(std::make_unique<GeneratorReplySource>(generator)),
      source_(owned_source_.get()),
      survey_(std::move(survey)),
      options_(std::move(options)) {
  if (options_.model.empty()) options_.model = generator.model().path();
  validate();
}

void SurveyEvaluator::validate() {
  // Every (method, culture, run, shuffle) becomes a queued job and a result file:
  // a count past these is a typo that would exhaust memory before asking anything.
  constexpr std::size_t kMaxRuns = 1000, kMaxShuffles = 1000;
  if (options_.runs == 0 || options_.runs > kMaxRuns)
    throw ValueError("evaluation: runs must be in 1.." + std::to_string(kMaxRuns) + ", got " +
                     std::to_string(options_.runs));
  if (options_.shuffles == 0 || options_.shuffles > kMaxShuffles)
    throw ValueError("evaluation: shuffles must be in 1.." + std::to_string(kMaxShuffles) + ", got " +
                     std::to_string(options_.shuffles));
  if (options_.examples == 0) throw ValueError("evaluation: examples must be at least 1");
  if (!is_name(options_.prefix)) throw ValueError("evaluation: prefix \"" + options_.prefix + "\" is not a name");
  if (options_.cultures.empty())
    for (const auto& c : survey_.cultures()) cultures_.push_back(c.code);
  else
    cultures_ = options_.cultures;
  if (cultures_.empty()) throw ValueError("evaluation: survey " + survey_.name + " has no cultures");
  std::set<std::string> seen;
  for (const auto& code : cultures_) {
    if (!seen.insert(code).second) throw ValueError("evaluation: culture " + code + " given twice");
    survey_.culture(code);  // ValueError naming an unknown code
    std::size_t gold = 0;
    for (const auto& id : survey_.evaluated_ids()) gold += survey_.gold(code, id).has_value();
    if (gold == 0)
      throw ValueError("evaluation: survey " + survey_.name + " has no gold answer for culture " + code +
                       " (its column could not be scored): leave it out with cultures=");
  }
  if (survey_.evaluated_ids().empty()) throw ValueError("evaluation: survey " + survey_.name + " evaluates no question");
  if (!options_.adapters.empty() && !source_->supports_adapters())
    throw ConfigError("evaluation: adapters need a Generator (this reply source has no LoRA adapters)");
  for (const auto& [culture, adapter] : options_.adapters)
    if (culture != "*" && !seen.count(culture))
      throw ValueError("evaluation: adapter " + adapter + " is for culture " + culture + ", which is not evaluated");
}

SurveyEvaluator::~SurveyEvaluator() = default;
SurveyEvaluator::SurveyEvaluator(SurveyEvaluator&&) noexcept = default;

std::vector<SurveyPrompt> SurveyEvaluator::prompts(const EvaluationMethod& method, std::string_view culture,
                                                   std::size_t shuffle) const {
  if (method.per_culture() && culture.empty())
    throw ValueError("method " + method.name + " is asked per culture: give a culture");
  const std::string target = method.per_culture() ? std::string(culture) : std::string();
  std::vector<SurveyPrompt> out;
  for (const auto& q : survey_.evaluated_questions()) {
    const auto perm = option_permutation(options_.option_order, q.options.size(), q.id, shuffle, options_.shuffle_seed);
    out.push_back(prompt_build(survey_, permuted(q, perm), method.prompt, target, method.templates,
                               options_.examples));
  }
  return out;
}

EvaluationReport SurveyEvaluator::evaluate(const std::vector<EvaluationMethod>& methods, const std::string& dir,
                                           ProgressCallback progress) const {
  if (methods.empty()) throw ValueError("evaluation: no methods (valid: " + valid_method_names() + ")");
  std::set<std::string> names;
  for (const auto& m : methods)
    if (!names.insert(m.name).second) throw ValueError("evaluation: method " + m.name + " given twice");
  fs::create_directories(dir);

  // The manifest first, so that a folder of another model is refused before any work.
  const std::string model = options_.model.empty() ? "unnamed" : options_.model;
  const fs::path manifest_path = fs::path(dir) / kManifest;
  EvaluationManifest manifest;
  nlohmann::json method_prompts = nlohmann::json::object();
  if (fs::exists(manifest_path)) {
    manifest = evaluation_manifest_load(dir);
    if (manifest.model != model)
      throw ValueError(dir + " holds an evaluation of model " + manifest.model + ", not of " + model +
                       ": evaluate into another folder");
    if (manifest.protocol != evaluation_protocol_name(options_.protocol))
      throw ValueError(dir + " holds a " + manifest.protocol + " evaluation, not a " +
                       evaluation_protocol_name(options_.protocol) + " one: evaluate into another folder");
    if (manifest.prefix != options_.prefix)
      throw ValueError(dir + " holds " + manifest.prefix + "_* files, not " + options_.prefix + "_*");
    method_prompts = nlohmann::json::parse(file_read_text(manifest_path.string())).value(kMethodPrompts, method_prompts);
  }
  manifest.model = model;
  manifest.protocol = evaluation_protocol_name(options_.protocol);
  manifest.option_order = option_order_name(options_.option_order);
  manifest.runs = std::max(manifest.runs, run_count(options_));
  manifest.shuffles = options_.shuffles;
  manifest.survey = survey_.name;
  manifest.prefix = options_.prefix;
  for (const auto& m : methods) {
    if (std::find(manifest.methods.begin(), manifest.methods.end(), m.name) == manifest.methods.end())
      manifest.methods.push_back(m.name);
    method_prompts[m.name] = prompt_method_name(m.prompt);
  }
  for (const auto& c : cultures_)
    if (std::find(manifest.cultures.begin(), manifest.cultures.end(), c) == manifest.cultures.end())
      manifest.cultures.push_back(c);
  ordered_json doc = manifest_json(manifest);
  doc[kMethodPrompts] = method_prompts;
  // Several ranks (distributed_init): every rank checks the folder above,
  // rank 0 alone writes the manifest, and group g of the jobs below is rank
  // g % world's, whole (its batches as in one process, so its files are
  // byte-identical); score() reads every file once all ranks are done.
  const std::shared_ptr<Distributed> ranks = distributed_group();
  if (ranks) {
    std::string agreed = doc.dump() + "\n";
    for (const auto& q : survey_.evaluated_questions()) agreed += q.id + "\n";
    ranks->require_same("evaluation settings and questions", agreed);
  }
  if (!ranks || ranks->rank() == 0) file_write_atomic(manifest_path.string(), doc.dump(2) + "\n");

  const std::vector<Question> questions = survey_.evaluated_questions();
  const std::size_t runs = run_count(options_);
  // Every (method variant, culture, run) to ask, in order.
  struct Job {
    const EvaluationMethod* method;
    Variant variant;
    std::string culture;
    std::size_t run;
  };
  std::vector<Job> jobs;
  for (const auto& m : methods)
    for (const auto& v : variants(m, options_))
      for (const auto& c : m.per_culture() ? cultures_ : std::vector<std::string>{""})
        for (std::size_t r = 0; r < runs; ++r) jobs.push_back({&m, v, c, r});

  const std::size_t total = jobs.size() * questions.size();
  ProgressReporter reporter(progress, "evaluate", total);
  std::set<std::string> kept;
  // Jobs asked in one call: each job alone; with adapters, the cultures of
  // one method variant and run together, so that batches mix adapters.
  std::vector<std::vector<std::size_t>> groups;
  std::map<std::string, std::size_t> group_of;
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    if (options_.adapters.empty()) {
      groups.push_back({j});
      continue;
    }
    const auto [it, inserted] = group_of.emplace(jobs[j].variant.name + "\n" + std::to_string(jobs[j].run), groups.size());
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(j);
  }
  const auto adapter_for = [&](const std::string& culture) -> std::string {
    auto it = culture.empty() ? options_.adapters.end() : options_.adapters.find(culture);
    if (it == options_.adapters.end()) it = options_.adapters.find("*");
    return it == options_.adapters.end() ? std::string() : it->second;
  };
  const std::size_t q_count = questions.size();
  std::size_t others = 0;  // jobs of the other ranks
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (ranks && !ranks->owns(g)) {
      others += groups[g].size();
      continue;
    }
    std::vector<const Job*> todo;
    std::vector<std::string> paths;
    for (const std::size_t j : groups[g]) {
      const Job& job = jobs[j];
      const std::string path = evaluation_result_path(dir, job.variant.name, job.culture, job.run, options_.prefix);
      if (finished(path, questions)) {
        log_info("evaluation: ", path, " exists, kept");
        kept.insert(path);
        reporter.advance(q_count);
        continue;
      }
      todo.push_back(&job);
      paths.push_back(path);
    }
    if (todo.empty()) continue;
    // The jobs of a group share their variant and run.
    const Variant& variant = todo.front()->variant;
    const std::size_t run = todo.front()->run;
    std::vector<std::vector<std::size_t>> perms;
    std::vector<Conversation> conversations;
    std::vector<std::vector<std::string>> labels;
    std::vector<std::string> adapters;
    for (const Job* job : todo) {
      const std::string adapter = adapter_for(job->culture);
      for (const auto& q : questions) {
        perms.push_back(option_permutation(variant.order, q.options.size(), q.id, variant.shuffle,
                                           options_.shuffle_seed));
        SurveyPrompt p = prompt_build(survey_, permuted(q, perms.back()), job->method->prompt, job->culture,
                                      job->method->templates, options_.examples);
        conversations.push_back(std::move(p.conversation));
        labels.push_back(std::move(p.labels));
        adapters.push_back(adapter);
      }
    }
    if (std::all_of(adapters.begin(), adapters.end(), [](const std::string& a) { return a.empty(); })) adapters.clear();
    const std::size_t asked = conversations.size();
    const std::size_t base = reporter.done();
    const auto inner = [&](const Progress& p) {
      if (!progress) return true;
      const std::size_t done = p.total ? base + p.done * asked / p.total : base;
      return progress(Progress{"evaluate", done, total});
    };
    std::vector<ModelAnswer> answers(asked);
    for (std::size_t k = 0; k < asked; ++k) answers[k].question_id = questions[k % q_count].id;
    if (options_.protocol == EvaluationProtocol::sampled) {
      GenerateOptions sampling;
      sampling.temperature = options_.temperature;
      sampling.top_p = options_.top_p;
      sampling.max_new_tokens = options_.max_new_tokens;
      sampling.adapters = adapters;
      // The reference seeds run r with 42 - r; each prompt draws its own stream.
      const auto run_seed = static_cast<std::uint64_t>(options_.seed - static_cast<std::int64_t>(run));
      sampling.seed = run_seed;
      for (std::size_t k = 0; k < asked; ++k)
        sampling.prompt_seeds.push_back(
            pipeline_seed(run_seed, variant.name + "/" + todo[k / q_count]->culture, k % q_count));
      auto replies = source_->replies(conversations, sampling, inner);
      for (std::size_t k = 0; k < asked; ++k) {
        answers[k].reply = std::move(replies[k]);
        // A permuted prompt's label is mapped back to the option it showed;
        // replies that do not name a shown label stay as they are (counted as
        // the parser finds them).
        if (variant.order == OptionOrder::original) continue;
        const auto value = answer_parse_reference(answers[k].reply);
        const Question& q = questions[k % q_count];
        if (value && q.is_option_id(*value))
          answers[k].reply = std::to_string(q.first_option_id() + static_cast<int>(perms[k][*value - q.first_option_id()]));
      }
    } else {
      const auto probs = adapters.empty() ? source_->option_probabilities(conversations, labels, inner)
                                          : source_->option_probabilities_adapted(conversations, labels, adapters, inner);
      if (probs.size() != asked)
        throw ValueError("evaluation: the reply source scored " + std::to_string(probs.size()) + " of " +
                         std::to_string(asked) + " prompts");
      for (std::size_t k = 0; k < asked; ++k) {
        const Question& q = questions[k % q_count];
        if (probs[k].size() != q.options.size())
          throw ValueError("evaluation: " + q.id + ": " + std::to_string(probs[k].size()) + " probabilities for " +
                           std::to_string(q.options.size()) + " options");
        std::vector<double> original(q.options.size());
        for (std::size_t j = 0; j < perms[k].size(); ++j) original[perms[k][j]] = probs[k][j];
        const auto best = static_cast<int>(std::max_element(original.begin(), original.end()) - original.begin());
        answers[k].distribution = std::move(original);
        answers[k].reply = std::to_string(q.first_option_id() + best);
      }
    }
    for (std::size_t t = 0; t < todo.size(); ++t) {
      const std::vector<ModelAnswer> part(answers.begin() + static_cast<std::ptrdiff_t>(t * q_count),
                                          answers.begin() + static_cast<std::ptrdiff_t>((t + 1) * q_count));
      answer_file_save(paths[t], questions, part);
      reporter.advance(q_count);
    }
  }
  if (ranks) {
    ranks->barrier("the end of the evaluation into " + dir);
    reporter.advance(others * q_count);
  }
  reporter.report();
  EvaluationReport report = score(methods, dir);
  for (auto& file : report.files) file.resumed = kept.count(file.path) > 0;
  return report;
}

namespace {

// The counted questions of a culture score as alignment items by question
// index (of `ids`); nullopt where the question did not count.
std::vector<std::optional<AlignmentItem>> items_by_question(const CultureScore& score, const Survey& survey,
                                                            const std::map<std::string, std::size_t>& index) {
  std::vector<std::optional<AlignmentItem>> items(index.size());
  for (const auto& q : score.questions) {
    if (!q.counted) continue;
    items[index.at(q.question_id)] =
        AlignmentItem{static_cast<double>(*q.answer), *q.gold, q.option_count,
                      survey.question(q.question_id).first_option_id()};
  }
  return items;
}

double alignment_with_counts(const std::vector<std::optional<AlignmentItem>>& items,
                             const std::vector<std::size_t>& counts) {
  std::vector<AlignmentItem> picked;
  for (std::size_t i = 0; i < items.size(); ++i)
    if (items[i])
      for (std::size_t k = 0; k < counts[i]; ++k) picked.push_back(*items[i]);
  return picked.empty() ? kNaN : alignment_score(picked);
}

}  // namespace

EvaluationReport SurveyEvaluator::score(const std::vector<EvaluationMethod>& methods, const std::string& dir) const {
  const SurveyScorer scorer(survey_, ScorerOptions{ParseMode::reference, options_.bootstrap_samples,
                                                   options_.bootstrap_seed, options_.confidence});
  const BootstrapOptions bootstrap{options_.bootstrap_samples, options_.bootstrap_seed, options_.confidence};
  EvaluationReport report;
  report.model = options_.model.empty() ? "unnamed" : options_.model;
  const fs::path manifest_path = fs::path(dir) / kManifest;
  if (fs::exists(manifest_path)) report.model = evaluation_manifest_load(dir).model;
  report.protocol = evaluation_protocol_name(options_.protocol);
  report.option_order = option_order_name(options_.option_order);
  report.runs = run_count(options_);
  report.survey = survey_.name;
  report.cultures = cultures_;
  report.topics = survey_.topics();
  const auto evaluated = survey_.evaluated_ids();
  report.evaluated_questions = evaluated.size();
  for (const auto& q : survey_.questions())
    if (!survey_.is_evaluated(q.id)) report.skipped_ids.push_back(q.id);
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < evaluated.size(); ++i) index[evaluated[i]] = i;
  report.human_similarity = scorer.gold_similarity(cultures_);

  for (const auto& method : methods) {
    const std::size_t first_row = report.rows.size();
    std::map<std::string, std::vector<ModelAnswer>> original_answers;  // culture -> run 0, original order
    for (const auto& variant : variants(method, options_)) {
      EvaluationRow row;
      row.method = variant.name;
      row.same_option_share = row.same_position_share = row.average_spread = kNaN;
      // Run files by culture ("" for a culture-unaware method): read once.
      std::map<std::string, std::vector<std::vector<ModelAnswer>>> files;
      for (const auto& c : method.per_culture() ? cultures_ : std::vector<std::string>{""}) {
        for (std::size_t r = 0; r < report.runs; ++r) {
          const std::string path = evaluation_result_path(dir, variant.name, c, r, options_.prefix);
          if (!fs::exists(path))
            throw ValueError(path + " is missing: the evaluation of " + variant.name +
                             (c.empty() ? "" : " for " + c) + " run " + std::to_string(r) +
                             " is not finished (run evaluate to complete it)");
          files[c].push_back(answer_file_load(path).answers);
          report.files.push_back({variant.name, c, r, path, false, files[c].back().size()});
        }
      }
      std::map<std::string, std::vector<ModelAnswer>> first_runs;
      for (const auto& culture : cultures_) {
        const auto& runs = files.at(method.per_culture() ? culture : "");
        EvaluationCell cell;
        cell.culture = culture;
        cell.runs = runs.size();
        std::vector<double> alignments;
        std::map<std::string, std::vector<double>> topics;
        std::vector<std::vector<std::optional<AlignmentItem>>> items;
        for (std::size_t r = 0; r < runs.size(); ++r) {
          const std::string source = evaluation_result_path(dir, variant.name, method.per_culture() ? culture : "", r,
                                                            options_.prefix);
          const CultureScore s = scorer.score(runs[r], culture, source);
          alignments.push_back(s.alignment);
          if (r == 0) {
            cell.ci_low = s.ci_low;
            cell.ci_high = s.ci_high;
            cell.random_baseline = s.random_baseline;
          }
          cell.answered += s.counts.answered;
          cell.counted += s.counts.counted;
          cell.parse_failures += s.counts.parse_failures;
          for (const auto& [reason, n] : s.counts.failures) cell.failures[reason] += n;
          for (const auto& t : s.topics) topics[t.topic].push_back(t.alignment);
          items.push_back(items_by_question(s, survey_, index));
        }
        cell.alignment = mean_of(alignments);
        if (runs.size() > 1) {
          // Several runs: one bootstrap of the mean over runs, each resample
          // drawing the same questions for every run.
          const auto ci = bootstrap_counts(evaluated.size(), [&](const std::vector<std::size_t>& counts) {
            std::vector<double> values;
            for (const auto& run_items : items) values.push_back(alignment_with_counts(run_items, counts));
            return mean_of(values) * 100;
          }, bootstrap);
          cell.ci_low = ci.low;
          cell.ci_high = ci.high;
        }
        for (const auto& [topic, values] : topics) cell.topics[topic] = mean_of(values);
        cell.js_similarity = cell.wasserstein_similarity = kNaN;
        std::map<std::string, std::vector<double>> distributions;
        for (const auto& a : runs.front())
          if (!a.distribution.empty()) distributions[a.question_id] = a.distribution;
        if (!distributions.empty()) {
          const DistributionScore d = scorer.score_distributions(distributions, culture);
          if (d.counted > 0) {
            cell.js_similarity = d.js_similarity;
            cell.wasserstein_similarity = d.wasserstein_similarity;
          }
        }
        first_runs[culture] = runs.front();
        row.cells.push_back(std::move(cell));
      }
      if (variant.order == OptionOrder::original) {
        original_answers = first_runs;
      } else {
        // Which answers followed the option, which its position.
        std::size_t same_option = 0, same_position = 0;
        for (const auto& culture : cultures_) {
          const auto& before = original_answers.at(culture);
          const auto& after = first_runs.at(culture);
          for (std::size_t i = 0; i < before.size() && i < after.size(); ++i) {
            const Question& q = survey_.question(before[i].question_id);
            const auto a = answer_parse_reference(before[i].reply);
            const auto b = answer_parse_reference(after[i].reply);
            if (!a || !b || !q.is_option_id(*a) || !q.is_option_id(*b)) continue;
            const auto perm = option_permutation(variant.order, q.options.size(), q.id, variant.shuffle,
                                                 options_.shuffle_seed);
            const std::size_t original_slot = static_cast<std::size_t>(*a - q.first_option_id());
            if (perm[original_slot] == original_slot) continue;  // not moved: tells nothing
            ++row.moved_answers;
            same_option += *a == *b;
            // The option shown at the original answer's position.
            same_position += static_cast<std::size_t>(*b - q.first_option_id()) == perm[original_slot];
          }
        }
        if (row.moved_answers > 0) {
          row.same_option_share = static_cast<double>(same_option) / static_cast<double>(row.moved_answers);
          row.same_position_share = static_cast<double>(same_position) / static_cast<double>(row.moved_answers);
        }
      }
      std::vector<double> cell_scores;
      for (const auto& c : row.cells) cell_scores.push_back(c.alignment);
      row.average = mean_of(cell_scores);
      row.similarity_rank_correlation = kNaN;
      if (method.per_culture() && cultures_.size() >= 3) {
        row.similarity = scorer.culture_similarity(first_runs);
        try {
          row.similarity_rank_correlation = similarity_rank_correlation(row.similarity, report.human_similarity);
        } catch (const ValueError&) {
          // fewer than two comparable pairs: left NaN
        }
      }
      report.rows.push_back(std::move(row));
    }
    if (report.rows.size() - first_row > 1) {
      std::vector<double> averages;
      for (std::size_t r = first_row; r < report.rows.size(); ++r) averages.push_back(report.rows[r].average);
      report.rows[first_row].average_spread =
          *std::max_element(averages.begin(), averages.end()) - *std::min_element(averages.begin(), averages.end());
    }
  }
  return report;
}

// --- manifest -----------------------------------------------------------------------------

EvaluationManifest evaluation_manifest_load(const std::string& dir) {
  const std::string path = (fs::path(dir) / kManifest).string();
  if (!fs::exists(path))
    throw FileError(FileError::Kind::not_found, path,
                    path + " does not exist: " + dir + " is not a culturespa evaluation folder");
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(file_read_text(path));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(path + ": not JSON (" + e.what() + ")");
  }
  EvaluationManifest m;
  const auto field = [&](const char* key, auto& out) {
    if (!doc.contains(key)) throw FormatError(path + ": field \"" + key + "\" is missing");
    try {
      doc.at(key).get_to(out);
    } catch (const nlohmann::json::exception&) {
      throw FormatError(path + ": field \"" + key + "\" has the wrong type");
    }
  };
  field("model", m.model);
  field("protocol", m.protocol);
  field("option_order", m.option_order);
  field("runs", m.runs);
  field("shuffles", m.shuffles);
  field("survey", m.survey);
  field("prefix", m.prefix);
  field("methods", m.methods);
  field("cultures", m.cultures);
  return m;
}

// --- reports ------------------------------------------------------------------------------

namespace {

nlohmann::json matrix_json(const SimilarityMatrix& m) {
  nlohmann::json values = nlohmann::json::array();
  for (const auto& row : m.values) {
    nlohmann::json r = nlohmann::json::array();
    for (double v : row) r.push_back(number(v));
    values.push_back(r);
  }
  return {{"cultures", m.cultures}, {"values", values}};
}

nlohmann::json row_json(const EvaluationRow& row) {
  nlohmann::json cells = nlohmann::json::array();
  for (const auto& c : row.cells) {
    nlohmann::json topics = nlohmann::json::object();
    for (const auto& [t, v] : c.topics) topics[t] = number(v);
    cells.push_back({{"culture", c.culture}, {"alignment", number(c.alignment)}, {"ci_low", number(c.ci_low)},
                     {"ci_high", number(c.ci_high)}, {"random_baseline", number(c.random_baseline)},
                     {"runs", c.runs}, {"answered", c.answered}, {"counted", c.counted},
                     {"parse_failures", c.parse_failures}, {"failures", c.failures}, {"topics", topics},
                     {"js_similarity", number(c.js_similarity)},
                     {"wasserstein_similarity", number(c.wasserstein_similarity)}});
  }
  nlohmann::json out{{"method", row.method}, {"average", number(row.average)}, {"cells", cells},
                     {"similarity_rank_correlation", number(row.similarity_rank_correlation)},
                     {"same_option_share", number(row.same_option_share)},
                     {"same_position_share", number(row.same_position_share)},
                     {"moved_answers", row.moved_answers},
                     {"average_spread", number(row.average_spread)}};
  if (!row.similarity.cultures.empty()) out["similarity"] = matrix_json(row.similarity);
  return out;
}

// The per-topic table: topic -> mean over the row's cultures.
double topic_average(const EvaluationRow& row, const std::string& topic) {
  std::vector<double> values;
  for (const auto& c : row.cells) {
    const auto it = c.topics.find(topic);
    if (it != c.topics.end()) values.push_back(it->second);
  }
  return mean_of(values);
}

std::string failures_text(const std::map<std::string, std::size_t>& failures) {
  std::string out;
  for (const auto& [reason, n] : failures) out += (out.empty() ? "" : ", ") + reason + " " + std::to_string(n);
  return out.empty() ? "none" : out;
}

}  // namespace

std::string evaluation_report_to_json(const EvaluationReport& report) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : report.rows) rows.push_back(row_json(row));
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : report.files)
    files.push_back({{"method", f.method}, {"culture", f.culture}, {"run", f.run}, {"path", f.path}});
  const nlohmann::json doc{{"model", report.model},
                           {"protocol", report.protocol},
                           {"option_order", report.option_order},
                           {"runs", report.runs},
                           {"survey", report.survey},
                           {"cultures", report.cultures},
                           {"evaluated_questions", report.evaluated_questions},
                           {"skipped_questions", report.skipped_ids.size()},
                           {"skipped_ids", report.skipped_ids},
                           {"rows", rows},
                           {"human_similarity", matrix_json(report.human_similarity)},
                           {"files", files}};
  return doc.dump(2) + "\n";
}

std::string evaluation_report_to_csv(const EvaluationReport& report) {
  std::ostringstream out;
  out << "model,protocol,method,culture,topic,alignment,ci_low,ci_high,random_baseline,runs,answered,counted,"
         "parse_failures,js_similarity,wasserstein_similarity\n";
  const std::string head = quoted(report.model) + "," + report.protocol + ",";
  for (const auto& row : report.rows) {
    for (const auto& c : row.cells) {
      out << head << quoted(row.method) << "," << c.culture << ",," << csv(c.alignment) << "," << csv(c.ci_low) << ","
          << csv(c.ci_high) << "," << csv(c.random_baseline) << "," << c.runs << "," << c.answered << ","
          << c.counted << "," << c.parse_failures << "," << csv(c.js_similarity) << ","
          << csv(c.wasserstein_similarity) << "\n";
      for (const auto& [topic, v] : c.topics)
        out << head << quoted(row.method) << "," << c.culture << "," << quoted(topic) << "," << csv(v)
            << ",,,,,,,,,\n";
    }
    out << head << quoted(row.method) << ",average,," << csv(row.average) << ",,,,,,,,,\n";
  }
  return out.str();
}

std::string evaluation_report_to_markdown(const EvaluationReport& report) {
  std::ostringstream out;
  out << "Model " << report.model << ", " << report.protocol << " protocol"
      << (report.runs > 1 ? ", " + std::to_string(report.runs) + " runs averaged" : std::string()) << ", survey "
      << report.survey << ": " << report.evaluated_questions << " questions asked, " << report.skipped_ids.size()
      << " not evaluated (skipped). Alignment score x100 (the paper's metric).\n\n";
  out << "| method |";
  for (const auto& c : report.cultures) out << " " << c << " |";
  out << " average |\n| --- |";
  for (std::size_t i = 0; i <= report.cultures.size(); ++i) out << " ---: |";
  out << "\n";
  for (const auto& row : report.rows) {
    out << "| " << row.method << " |";
    for (const auto& c : row.cells) out << " " << display(c.alignment) << " |";
    out << " **" << display(row.average) << "** |\n";
  }
  out << "\n95% bootstrap intervals and counts (answered = replies over all runs; counted = parsed with a gold "
         "answer):\n\n| method | culture | score | 95% CI | random | answered | counted | parse failures |"
      << (report.protocol == "scored" ? " JS sim | W1 sim |" : "") << "\n| --- | --- | ---: | --- | ---: | ---: | ---: | --- |"
      << (report.protocol == "scored" ? " ---: | ---: |" : "") << "\n";
  for (const auto& row : report.rows)
    for (const auto& c : row.cells) {
      out << "| " << row.method << " | " << c.culture << " | " << display(c.alignment) << " | [" << display(c.ci_low)
          << ", " << display(c.ci_high) << "] | " << display(c.random_baseline) << " | " << c.answered << " | "
          << c.counted << " | " << failures_text(c.failures) << " |";
      if (report.protocol == "scored")
        out << " " << display(c.js_similarity) << " | " << display(c.wasserstein_similarity) << " |";
      out << "\n";
    }
  out << "\nPer topic (mean over the cultures):\n\n| topic |";
  for (const auto& row : report.rows) out << " " << row.method << " |";
  out << "\n| --- |";
  for (std::size_t i = 0; i < report.rows.size(); ++i) out << " ---: |";
  out << "\n";
  for (const auto& topic : report.topics) {
    out << "| " << topic << " |";
    for (const auto& row : report.rows) out << " " << display(topic_average(row, topic)) << " |";
    out << "\n";
  }
  bool permuted = false;
  for (const auto& row : report.rows) permuted = permuted || row.moved_answers > 0;
  if (permuted) {
    out << "\nOption order (answers whose option the permutation moved, against the original order):\n\n"
        << "| method | moved answers | same option | same position | spread of the average |\n"
        << "| --- | ---: | ---: | ---: | ---: |\n";
    for (const auto& row : report.rows)
      if (row.moved_answers > 0 || !std::isnan(row.average_spread))
        out << "| " << row.method << " | " << row.moved_answers << " | " << display(100 * row.same_option_share, 1)
            << "% | " << display(100 * row.same_position_share, 1) << "% | " << display(row.average_spread) << " |\n";
  }
  bool similarity = false;
  for (const auto& row : report.rows) similarity = similarity || !std::isnan(row.similarity_rank_correlation);
  if (similarity) {
    out << "\nCulture x culture similarity of the model's answers against the human one (Spearman):\n\n";
    for (const auto& row : report.rows)
      if (!std::isnan(row.similarity_rank_correlation))
        out << "- " << row.method << ": " << display(row.similarity_rank_correlation, 3) << "\n";
  }
  return out.str();
}

// --- comparison ---------------------------------------------------------------------------

namespace {

// A reply source for scoring finished folders: asking is an error.
class NoReplies final : public ReplySource {
 public:
  std::vector<std::string> replies(const std::vector<Conversation>&, const GenerateOptions&,
                                   const ProgressCallback&) override {
    throw ValueError("a finished evaluation folder is scored, not asked");
  }
};

std::vector<EvaluationMethod> manifest_methods(const std::string& dir, const EvaluationManifest& m) {
  const auto doc = nlohmann::json::parse(file_read_text((fs::path(dir) / kManifest).string()));
  const auto prompts = doc.value(kMethodPrompts, nlohmann::json::object());
  std::vector<EvaluationMethod> out;
  for (const auto& name : m.methods) {
    EvaluationMethod method;
    method.name = name;
    if (!prompts.contains(name))
      throw FormatError(dir + "/" + kManifest + ": method " + name + " has no entry in " + kMethodPrompts);
    method.prompt = prompt_method_from_name(prompts.at(name).get<std::string>());
    out.push_back(std::move(method));
  }
  return out;
}

}  // namespace

ComparisonReport evaluation_compare(const std::vector<std::string>& dirs, const Survey& survey,
                                    const ScorerOptions& scoring) {
  if (dirs.size() < 2) throw ValueError("compare: give two or more evaluation folders");
  std::vector<EvaluationManifest> manifests;
  for (const auto& d : dirs) manifests.push_back(evaluation_manifest_load(d));
  for (std::size_t i = 1; i < dirs.size(); ++i)
    if (manifests[i].model != manifests[0].model)
      throw ValueError("compare: " + dirs[i] + " holds an evaluation of model " + manifests[i].model + ", " +
                       dirs[0] + " one of model " + manifests[0].model +
                       ": a comparison is of the same model (with its adapters or methods)");
  ComparisonReport report;
  report.model = manifests[0].model;
  report.cultures = manifests[0].cultures;
  for (std::size_t i = 1; i < dirs.size(); ++i)
    for (const auto& c : report.cultures)
      if (std::find(manifests[i].cultures.begin(), manifests[i].cultures.end(), c) == manifests[i].cultures.end())
        throw ValueError("compare: " + dirs[i] + " has no results for culture " + c + " (which " + dirs[0] + " has)");

  NoReplies none;
  const SurveyScorer scorer(survey, scoring);
  const BootstrapOptions bootstrap{scoring.bootstrap_samples, scoring.seed, scoring.confidence};
  // Each row keeps its run-0 answers per culture, for the paired differences.
  std::vector<std::map<std::string, std::vector<ModelAnswer>>> answers;
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    SurveyEvaluatorOptions o;
    o.protocol = evaluation_protocol_from_name(manifests[i].protocol);
    o.runs = manifests[i].runs;
    o.cultures = report.cultures;
    o.prefix = manifests[i].prefix;
    o.model = manifests[i].model;
    o.bootstrap_samples = scoring.bootstrap_samples;
    o.bootstrap_seed = scoring.seed;
    o.confidence = scoring.confidence;
    const SurveyEvaluator evaluator(none, survey, o);
    const auto methods = manifest_methods(dirs[i], manifests[i]);
    const EvaluationReport scored = evaluator.score(methods, dirs[i]);
    for (std::size_t k = 0; k < methods.size(); ++k) {
      ComparisonRow row;
      row.label = dirs[i] + ": " + methods[k].name;
      row.row = scored.rows[k];
      report.rows.push_back(std::move(row));
      std::map<std::string, std::vector<ModelAnswer>> by_culture;
      for (const auto& c : report.cultures)
        by_culture[c] = answer_file_load(evaluation_result_path(dirs[i], methods[k].name,
                                                                methods[k].per_culture() ? c : "", 0, o.prefix))
                            .answers;
      answers.push_back(std::move(by_culture));
    }
  }
  // Paired differences against the first row: per culture (the scorer's), and
  // for the average over cultures with the same questions drawn for every culture.
  std::map<std::string, std::size_t> index;
  const auto evaluated = survey.evaluated_ids();
  for (std::size_t i = 0; i < evaluated.size(); ++i) index[evaluated[i]] = i;
  const auto items_of = [&](const std::vector<ModelAnswer>& run, const std::string& culture) {
    return items_by_question(scorer.score(run, culture), survey, index);
  };
  std::vector<std::vector<std::optional<AlignmentItem>>> first;
  for (const auto& c : report.cultures) first.push_back(items_of(answers[0].at(c), c));
  for (std::size_t r = 1; r < report.rows.size(); ++r) {
    std::vector<std::vector<std::optional<AlignmentItem>>> other;
    for (const auto& c : report.cultures) {
      report.rows[r].differences.push_back(scorer.compare(answers[0].at(c), answers[r].at(c), c));
      other.push_back(items_of(answers[r].at(c), c));
    }
    report.rows[r].average_difference =
        bootstrap_counts(evaluated.size(), [&](const std::vector<std::size_t>& counts) {
          std::vector<double> diffs;
          for (std::size_t c = 0; c < first.size(); ++c) {
            // The questions counted on both sides, as the per-culture difference.
            std::vector<std::optional<AlignmentItem>> a = first[c], b = other[c];
            for (std::size_t q = 0; q < a.size(); ++q)
              if (!a[q] || !b[q]) a[q].reset(), b[q].reset();
            diffs.push_back(alignment_with_counts(b, counts) - alignment_with_counts(a, counts));
          }
          return mean_of(diffs) * 100;
        }, bootstrap);
  }
  report.rows[0].average_difference = {kNaN, kNaN, kNaN};
  return report;
}

std::string comparison_report_to_json(const ComparisonReport& report) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : report.rows) {
    nlohmann::json diffs = nlohmann::json::array();
    for (std::size_t c = 0; c < r.differences.size(); ++c) {
      const auto& d = r.differences[c];
      diffs.push_back({{"culture", report.cultures[c]}, {"difference", number(d.difference.estimate)},
                       {"ci_low", number(d.difference.low)}, {"ci_high", number(d.difference.high)},
                       {"share_better", number(d.share_b_better)}, {"questions", d.questions}});
    }
    rows.push_back({{"label", r.label}, {"row", row_json(r.row)}, {"differences", diffs},
                    {"average_difference", {{"difference", number(r.average_difference.estimate)},
                                            {"ci_low", number(r.average_difference.low)},
                                            {"ci_high", number(r.average_difference.high)}}}});
  }
  return nlohmann::json{{"model", report.model}, {"cultures", report.cultures}, {"rows", rows}}.dump(2) + "\n";
}

std::string comparison_report_to_csv(const ComparisonReport& report) {
  std::ostringstream out;
  out << "row,culture,alignment,difference,ci_low,ci_high\n";
  for (const auto& r : report.rows) {
    for (std::size_t c = 0; c < r.row.cells.size(); ++c) {
      out << quoted(r.label) << "," << r.row.cells[c].culture << "," << csv(r.row.cells[c].alignment) << ",";
      if (c < r.differences.size())
        out << csv(r.differences[c].difference.estimate) << "," << csv(r.differences[c].difference.low) << ","
            << csv(r.differences[c].difference.high);
      else
        out << ",,";
      out << "\n";
    }
    out << quoted(r.label) << ",average," << csv(r.row.average) << "," << csv(r.average_difference.estimate) << ","
        << csv(r.average_difference.low) << "," << csv(r.average_difference.high) << "\n";
  }
  return out.str();
}

std::string comparison_report_to_markdown(const ComparisonReport& report) {
  std::ostringstream out;
  out << "Model " << report.model << ". Alignment score x100; below each row after the first, its paired "
      << "difference to the first row with the 95% bootstrap interval.\n\n| row |";
  for (const auto& c : report.cultures) out << " " << c << " |";
  out << " average |\n| --- |";
  for (std::size_t i = 0; i <= report.cultures.size(); ++i) out << " ---: |";
  out << "\n";
  for (const auto& r : report.rows) {
    out << "| " << r.label << " |";
    for (const auto& c : r.row.cells) out << " " << display(c.alignment) << " |";
    out << " **" << display(r.row.average) << "** |\n";
    if (r.differences.empty()) continue;
    out << "| difference |";
    for (const auto& d : r.differences)
      out << " " << (d.difference.estimate >= 0 ? "+" : "") << display(d.difference.estimate) << " ["
          << display(d.difference.low) << ", " << display(d.difference.high) << "] |";
    out << " " << (r.average_difference.estimate >= 0 ? "+" : "") << display(r.average_difference.estimate) << " ["
        << display(r.average_difference.low) << ", " << display(r.average_difference.high) << "] |\n";
  }
  return out.str();
}

}  // namespace culturespa

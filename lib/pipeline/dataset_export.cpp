#include "culturespa/pipeline/dataset_export.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <set>
#include <nlohmann/json.hpp>

#include "culturespa/core/enum_names.h"
#include "culturespa/core/error.h"
#include "culturespa/core/logging.h"

namespace culturespa {

using nlohmann::json;

namespace {

constexpr auto kDatasetFormats = enum_names<DatasetFormat>(
    "dataset format",
    {{DatasetFormat::alpaca, "alpaca"}, {DatasetFormat::sharegpt, "sharegpt"}, {DatasetFormat::culturespa, "culturespa"}});
constexpr auto kDatasetModes =
    enum_names<DatasetMode>("dataset mode", {{DatasetMode::joint, "joint"}, {DatasetMode::specific, "specific"}});

}  // namespace

const char* dataset_format_name(DatasetFormat format) { return kDatasetFormats.name(format); }

DatasetFormat dataset_format_from_name(const std::string& name) { return kDatasetFormats.from_name(name); }

const char* dataset_mode_name(DatasetMode mode) { return kDatasetModes.name(mode); }

DatasetMode dataset_mode_from_name(const std::string& name) { return kDatasetModes.from_name(name); }

PromptBuilder prompt_builder_culture_aware(const PromptTemplates& templates, const std::vector<Culture>& cultures) {
  auto survey = std::make_shared<Survey>();
  for (const auto& c : cultures) survey->add_culture(c);
  return [survey, templates](const Question& question, const std::string& culture) {
    return prompt_build(*survey, question, PromptMethod::culture_aware, culture, templates).conversation;
  };
}

double dataset_hash_unit(const std::string& key) {
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a 64-bit
  for (unsigned char c : key) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  // FNV-1a alone leaves the top bits of short, similar keys ("Q1", "Q2")
  // nearly equal; MurmurHash3's fmix64 finaliser spreads them.
  hash ^= hash >> 33;
  hash *= 0xff51afd7ed558ccdull;
  hash ^= hash >> 33;
  hash *= 0xc4ceb9fe1a85ec53ull;
  hash ^= hash >> 33;
  return static_cast<double>(hash >> 11) * 0x1.0p-53;
}

bool dataset_is_validation(const std::string& question_id, const DatasetExportOptions& options) {
  return dataset_hash_unit(std::to_string(options.seed) + ":" + question_id) < options.validation_fraction;
}

bool dataset_is_sampled(const std::string& question_id, const DatasetExportOptions& options) {
  return dataset_hash_unit(std::to_string(options.seed) + ":subsample:" + question_id) <
         options.subsample_fraction;
}

std::string dataset_output_text(const ContrastPair& pair, bool answer_with_option_text) {
  std::string label = std::to_string(pair.aware_answer);
  const Question& q = pair.question;
  if (answer_with_option_text && q.is_option_id(pair.aware_answer))
    label += "." + q.options[static_cast<std::size_t>(pair.aware_answer - q.first_option_id())];
  return label;
}

namespace {

void check_options(const DatasetExportOptions& options) {
  if (!(options.validation_fraction >= 0.0 && options.validation_fraction < 1.0))
    throw ValueError("dataset export: validation_fraction must be in [0, 1), got " +
                     std::to_string(options.validation_fraction));
  if (!(options.subsample_fraction > 0.0 && options.subsample_fraction <= 1.0))
    throw ValueError("dataset export: subsample_fraction must be in (0, 1], got " +
                     std::to_string(options.subsample_fraction));
  if (options.name.empty() || options.name.find('/') != std::string::npos)
    throw ValueError("dataset export: name '" + options.name + "' must be a non-empty file name stem");
}

std::string message_of(const Conversation& conversation, const char* role, bool last) {
  std::string found;
  for (const auto& m : conversation)
    if (m.role == role) {
      found = m.content;
      if (!last) break;
    }
  return found;
}

json record_json(const DatasetRecord& r, DatasetFormat format) {
  switch (format) {
    case DatasetFormat::alpaca:
      return json{{"instruction", message_of(r.prompt, "user", true)},
                  {"input", ""},
                  {"output", r.output},
                  {"system", message_of(r.prompt, "system", false)}};
    case DatasetFormat::sharegpt: {
      json messages = json::array();
      for (const auto& m : r.prompt) messages.push_back(json{{"role", m.role}, {"content", m.content}});
      messages.push_back(json{{"role", "assistant"}, {"content", r.output}});
      return json{{"messages", messages}};
    }
    case DatasetFormat::culturespa: {
      const ContrastPair& p = *r.pair;
      json line{{"question_id", r.question_id},
                {"topic", p.question.topic},
                {"culture", r.culture},
                {"split", r.split},
                {"question", p.question.text},
                {"options", p.question.options},
                {"aware_answer", p.aware_answer},
                {"unaware_answer", p.unaware_answer},
                {"rule", contrast_rule_name(p.rule)},
                {"score", p.score},
                {"system", message_of(r.prompt, "system", false)},
                {"user", message_of(r.prompt, "user", true)},
                {"output", r.output}};
      line["probability"] = std::isnan(p.probability) ? json(nullptr) : json(p.probability);
      return line;
    }
  }
  return json();
}

}  // namespace

std::vector<PairProblem> dataset_pair_problems(const std::vector<ContrastPair>& pairs) {
  std::vector<PairProblem> problems;
  problems.reserve(pairs.size());
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& pair : pairs) {
    if (!pair.question.is_option_id(pair.aware_answer)) problems.push_back(PairProblem::answer_not_an_option);
    else if (!seen.emplace(pair.question.id, pair.culture).second) problems.push_back(PairProblem::duplicate);
    else problems.push_back(PairProblem::none);
  }
  return problems;
}

std::vector<DatasetRecord> dataset_records(const std::vector<ContrastPair>& pairs, const PromptBuilder& build,
                                           const DatasetExportOptions& options) {
  check_options(options);
  if (!build) throw ValueError("dataset export: no prompt builder given");
  const std::vector<PairProblem> problems = dataset_pair_problems(pairs);
  std::vector<DatasetRecord> records;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const ContrastPair& pair = pairs[i];
    if (problems[i] != PairProblem::none) continue;
    if (!dataset_is_sampled(pair.question.id, options)) continue;
    DatasetRecord r;
    r.question_id = pair.question.id;
    r.culture = pair.culture;
    r.split = dataset_is_validation(pair.question.id, options) ? "validation" : "train";
    r.prompt = build(pair.question, pair.culture);
    bool has_user = false;
    for (const auto& m : r.prompt) has_user = has_user || m.role == "user";
    if (!has_user)
      throw ValueError("dataset export: the prompt builder gave no user message for question '" +
                       pair.question.id + "', culture '" + pair.culture + "'");
    r.output = dataset_output_text(pair, options.answer_with_option_text);
    r.pair = &pair;
    records.push_back(std::move(r));
  }
  return records;
}

DatasetExportSummary dataset_export(const std::vector<ContrastPair>& pairs, const PromptBuilder& build,
                                    const std::string& dir, const DatasetExportOptions& options,
                                    ProgressCallback progress) {
  check_options(options);
  if (pairs.empty()) throw ValueError("dataset export: no contrast pairs to export");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw FileError(FileError::Kind::io, dir, "cannot create the export folder " + dir + ": " + ec.message());

  DatasetExportSummary summary;
  summary.pairs_in = pairs.size();
  const std::vector<PairProblem> problems = dataset_pair_problems(pairs);
  std::string first_invalid;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    if (problems[i] == PairProblem::duplicate) ++summary.pairs_duplicate;
    if (problems[i] != PairProblem::answer_not_an_option) continue;
    if (summary.pairs_invalid++ == 0)
      first_invalid = "question " + pairs[i].question.id + ", culture " + pairs[i].culture + ": answer " +
                      std::to_string(pairs[i].aware_answer) + ", options " +
                      std::to_string(pairs[i].question.first_option_id()) + ".." +
                      std::to_string(pairs[i].question.last_option_id());
  }
  if (summary.pairs_invalid > 0)
    log_warning("dataset export: ", summary.pairs_invalid, " pair(s) dropped whose culture-aware answer is not an "
                "option of the question (first: ", first_invalid, ")");
  if (summary.pairs_duplicate > 0)
    log_warning("dataset export: ", summary.pairs_duplicate,
                " pair(s) dropped that repeat an earlier pair's question and culture");
  if (summary.pairs_invalid + summary.pairs_duplicate == pairs.size())
    throw ValueError("dataset export: none of the " + std::to_string(pairs.size()) +
                     " pairs is valid (" + std::to_string(summary.pairs_invalid) + " with an answer outside the "
                     "options" + (first_invalid.empty() ? "" : ", first: " + first_invalid) + ", " +
                     std::to_string(summary.pairs_duplicate) + " duplicates)");
  ProgressReporter reporter(progress, "export", pairs.size(), 256);

  // set name -> split -> lines; sets in first-seen order.
  std::vector<std::string> set_order;
  std::map<std::string, std::map<std::string, std::string>> contents;
  std::map<std::string, std::map<std::string, json>> alpaca_lists;
  const std::vector<DatasetRecord> records = dataset_records(pairs, build, options);
  summary.pairs_sampled = records.size();
  for (const auto& r : records) {
    const std::string set =
        options.mode == DatasetMode::joint ? options.name : options.name + "_" + r.culture;
    if (!contents.count(set) && !alpaca_lists.count(set)) set_order.push_back(set);
    json item = record_json(r, options.format);
    if (options.format == DatasetFormat::alpaca) {
      auto& list = alpaca_lists[set][r.split];
      if (list.is_null()) list = json::array();
      list.push_back(std::move(item));
    } else {
      contents[set][r.split] += item.dump() + "\n";
    }
    reporter.advance();
  }

  const std::string ext = options.format == DatasetFormat::alpaca ? ".json" : ".jsonl";
  json dataset_info = json::object();
  for (const auto& set : set_order) {
    for (const char* split : {"train", "validation"}) {
      if (std::string(split) == "validation" && options.validation_fraction <= 0.0) continue;
      const std::string stem = set + "_" + split;
      const std::string path = (std::filesystem::path(dir) / (stem + ext)).string();
      std::size_t count = 0;
      if (options.format == DatasetFormat::alpaca) {
        json list = alpaca_lists[set].count(split) ? alpaca_lists[set][split] : json::array();
        count = list.size();
        file_write_atomic(path, list.dump(1) + "\n");
        dataset_info[stem] = json{{"file_name", stem + ext},
                                  {"columns",
                                   {{"prompt", "instruction"},
                                    {"query", "input"},
                                    {"response", "output"},
                                    {"system", "system"}}}};
      } else {
        const std::string& text = contents[set][split];
        count = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
        file_write_atomic(path, text);
      }
      summary.files.push_back(path);
      summary.records[path] = count;
    }
  }
  if (options.format == DatasetFormat::alpaca) {
    const std::string path = (std::filesystem::path(dir) / "dataset_info.json").string();
    file_write_atomic(path, dataset_info.dump(1) + "\n");
    summary.files.push_back(path);
  }
  reporter.report();
  log_info("dataset export: ", summary.pairs_sampled, " of ", pairs.size(), " pairs written to ",
           summary.files.size(), " file(s) in ", dir);
  return summary;
}

}  // namespace culturespa

#include "culturespa/pipeline/question_generator.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "culturespa/core/enum_names.h"
#include "culturespa/core/error.h"
#include "culturespa/core/logging.h"
#include "culturespa/model/distributed.h"
#include "culturespa/pipeline/question_filter.h"

namespace culturespa {

using nlohmann::json;

namespace {

// A counter-based random stream (splitmix64), so that draws are the same on
// every platform (std::shuffle and the std distributions are not).
class Stream {
 public:
  explicit Stream(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t x = (state_ += 0x9E3779B97F4A7C15ULL);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }

 private:
  std::uint64_t state_;
};

// `count` distinct indices of 0..n-1 in draw order (a partial Fisher-Yates).
std::vector<std::size_t> sample_indices(Stream& stream, std::size_t n, std::size_t count) {
  std::vector<std::size_t> all(n);
  for (std::size_t i = 0; i < n; ++i) all[i] = i;
  count = std::min(count, n);
  for (std::size_t i = 0; i < count; ++i) std::swap(all[i], all[i + stream.below(n - i)]);
  all.resize(count);
  return all;
}

// --- reply parsing ---------------------------------------------------------

// The question and options of a parsed object under the given key matcher;
// false with `error` set when they are missing or mistyped.
template <typename KeyMatch>
bool question_fields(const json& object, KeyMatch matches, ParsedQuestion& out, std::string& error) {
  if (!object.is_object()) {
    error = std::string("the JSON is ") + object.type_name() + ", not an object";
    return false;
  }
  const json* text = nullptr;
  const json* options = nullptr;
  for (const auto& [key, value] : object.items()) {
    if (!text && matches(key, "Question", "question")) text = &value;
    if (!options && matches(key, "Options", "options")) options = &value;
  }
  if (!text || !options) {
    error = std::string("no \"") + (text ? "Options" : "Question") + "\" key";
    return false;
  }
  if (!text->is_string() || text->get<std::string>().empty()) {
    error = "\"Question\" is not a non-empty string";
    return false;
  }
  if (!options->is_array()) {
    error = "\"Options\" is not a list";
    return false;
  }
  std::vector<std::string> items;
  for (const auto& o : *options) {
    if (o.is_string()) items.push_back(o.get<std::string>());
    else if (o.is_number()) items.push_back(o.dump());
    else {
      error = "an option is neither a string nor a number";
      return false;
    }
  }
  out.text = text->get<std::string>();
  out.options = std::move(items);
  return true;
}

std::optional<json> json_try(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

// The first balanced {...} of `text` (quotes of both kinds respected), or "".
std::string first_object(const std::string& text) {
  const auto start = text.find('{');
  if (start == std::string::npos) return "";
  int depth = 0;
  char quote = 0;
  for (std::size_t i = start; i < text.size(); ++i) {
    const char c = text[i];
    if (quote) {
      if (c == '\\') ++i;
      else if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      // An apostrophe inside a word ("don't") does not open a string.
      if (c == '\'' && i > 0 && std::isalnum(static_cast<unsigned char>(text[i - 1]))) continue;
      quote = c;
    } else if (c == '{') {
      ++depth;
    } else if (c == '}' && --depth == 0) {
      return text.substr(start, i - start + 1);
    }
  }
  return "";
}

// Python-literal style to JSON: single-quoted strings become double-quoted,
// trailing commas before } or ] are dropped.
std::string json_from_pythonish(const std::string& text) {
  std::string out;
  char quote = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quote) {
      if (c == '\\' && i + 1 < text.size()) {
        if (quote == '\'' && text[i + 1] == '\'') out += '\'';
        else out += text.substr(i, 2);
        ++i;
      } else if (c == quote) {
        out += '"';
        quote = 0;
      } else if (c == '"' && quote == '\'') {
        out += "\\\"";
      } else {
        out += c;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
      out += '"';
    } else if (c == ',') {
      std::size_t j = i + 1;
      while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j]))) ++j;
      if (j < text.size() && (text[j] == '}' || text[j] == ']')) continue;
      out += c;
    } else {
      out += c;
    }
  }
  return out;
}

std::string strip_code_fence(const std::string& text) {
  const auto open = text.find("```");
  if (open == std::string::npos) return text;
  auto body = text.find('\n', open);
  if (body == std::string::npos) return text;
  const auto close = text.find("```", body);
  return text.substr(body + 1, close == std::string::npos ? std::string::npos : close - body - 1);
}

std::string key_normalised(std::string key) {
  while (!key.empty() && (key.back() == ':' || std::isspace(static_cast<unsigned char>(key.back())))) key.pop_back();
  std::size_t b = 0;
  while (b < key.size() && std::isspace(static_cast<unsigned char>(key[b]))) ++b;
  key = key.substr(b);
  std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
  return key;
}

}  // namespace

const char* reply_parse_name(ReplyParse how) {
  static constexpr auto kReplyParses = enum_names<ReplyParse>(
      "reply parse",
      {{ReplyParse::strict, "strict"}, {ReplyParse::tolerant, "tolerant"}, {ReplyParse::unparseable, "unparseable"}});
  return kReplyParses.name(how);
}

ParsedQuestion generated_question_parse(const std::string& reply) {
  ParsedQuestion out;
  // The reference: `"Question" in d` decides the key, else d["question"].
  const auto reference_keys = [](const std::string& key, const char* upper, const char* lower) {
    return key == upper || key == lower;
  };
  std::string error = "not JSON";
  if (auto parsed = json_try(reply)) {
    json object = *parsed;
    // Exact-key precedence as the reference: "Question" wins over "question".
    if (object.is_object()) {
      json ordered = json::object();
      for (const char* key : {"Question", "question", "Options", "options"})
        if (object.contains(key)) ordered[key] = object[key];
      object = ordered;
      if (object.contains("Question")) object.erase("question");
      if (object.contains("Options")) object.erase("options");
    }
    if (question_fields(object, reference_keys, out, error)) {
      out.how = ReplyParse::strict;
      return out;
    }
  }
  out.error = "strict: " + error;
  const auto loose_keys = [](const std::string& key, const char*, const char* lower) {
    return key_normalised(key) == lower;
  };
  const std::string body = first_object(strip_code_fence(reply));
  if (!body.empty()) {
    for (const std::string& candidate : {body, json_from_pythonish(body)}) {
      if (auto parsed = json_try(candidate)) {
        std::string tolerant_error;
        if (question_fields(*parsed, loose_keys, out, tolerant_error)) {
          out.how = ReplyParse::tolerant;
          return out;
        }
      }
    }
  }
  out.how = ReplyParse::unparseable;
  out.error += body.empty() ? "; tolerant: no {...} object" : "; tolerant: no question in the object";
  return out;
}

std::vector<GenerationTopic> generation_topics_from_survey(const Survey& survey) {
  std::vector<GenerationTopic> topics;
  const auto evaluated = survey.evaluated_questions();
  for (const auto& name : survey.topics()) {
    GenerationTopic topic{name, {}};
    for (const auto& q : evaluated)
      if (q.topic == name) topic.seeds.push_back(q);
    if (!topic.seeds.empty()) topics.push_back(std::move(topic));
  }
  if (topics.empty()) throw ValueError("survey \"" + survey.name + "\": no evaluated question has a topic");
  return topics;
}

// --- stage file ------------------------------------------------------------

namespace {

json generated_to_json(const GeneratedQuestion& g, std::size_t round_size) {
  return json{{"topic", g.question.topic},     {"Q_id", g.question.id},
              {"question", g.question.text},   {"option_lst", g.question.options},
              {"class", g.question.topic},     {"attempt", g.attempt},
              {"round", g.round},              {"round_size", round_size},
              {"parse", reply_parse_name(g.how)}, {"prompt", g.prompt}};
}

// Throws json::exception for a missing or mistyped field.
GeneratedQuestion generated_from_json(const json& line) {
  GeneratedQuestion g;
  g.question.topic = line.at("topic").get<std::string>();
  g.question.id = line.at("Q_id").get<std::string>();
  g.question.text = line.at("question").get<std::string>();
  g.question.options = line.at("option_lst").get<std::vector<std::string>>();
  g.question.zero_based = !g.question.options.empty() && g.question.options.front() == "0";
  g.attempt = line.at("attempt").get<std::size_t>();
  g.round = line.at("round").get<std::size_t>();
  g.prompt = line.value("prompt", "");
  const std::string how = line.value("parse", "strict");
  g.how = how == "tolerant" ? ReplyParse::tolerant : ReplyParse::strict;
  return g;
}

struct StageRead {
  std::vector<GeneratedQuestion> questions;
  std::vector<std::size_t> round_sizes;  // per question
  std::string clean_text;                // the file without a torn last line, ending in '\n' (or empty)
};

StageRead stage_read(const std::string& path) {
  StageRead out;
  const std::string text = file_read_text(path);
  std::size_t begin = 0, line_number = 0;
  while (begin < text.size()) {
    const auto end = std::min(text.find('\n', begin), text.size());
    const std::string line = text.substr(begin, end - begin);
    ++line_number;
    const bool last = end >= text.size() || text.find_first_not_of(" \t\r\n", end) == std::string::npos;
    const std::string where = path + ": line " + std::to_string(line_number);
    if (line.find_first_not_of(" \t\r") != std::string::npos) {
      auto parsed = json_try(line);
      if (!parsed) {
        if (last && end >= text.size()) {  // a write cut short by a crash: drop it
          log_warning(where, ": torn last line dropped (an interrupted write)");
          break;
        }
        throw FormatError(where + ": malformed JSON");
      }
      try {
        out.questions.push_back(generated_from_json(*parsed));
        out.round_sizes.push_back(parsed->at("round_size").get<std::size_t>());
      } catch (const json::exception& error) {
        throw FormatError(where + ": not a generated question (" + error.what() + ")");
      }
    }
    out.clean_text += line + "\n";
    begin = end + 1;
  }
  return out;
}

// The part files of `stage_path` that ranks write (`<stage file>.rank<r>`), sorted.
std::vector<std::string> stage_parts(const std::string& stage_path) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  const fs::path stage(stage_path);
  const fs::path folder = stage.has_parent_path() ? stage.parent_path() : fs::path(".");
  const std::string prefix = stage.filename().string() + ".rank";
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file() && it->path().filename().string().rfind(prefix, 0) == 0) out.push_back(it->path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string stage_part_path(const std::string& stage_path, int rank) {
  return stage_path + ".rank" + std::to_string(rank);
}

// The stage file's text for `topics`, in their order: what one uninterrupted process appends.
std::string stage_text(const std::vector<GenerationTopic>& topics,
                       const std::map<std::string, std::vector<GeneratedQuestion>>& by_topic, std::size_t round_size) {
  std::string text;
  for (const auto& topic : topics) {
    const auto it = by_topic.find(topic.name);
    if (it == by_topic.end()) continue;
    for (const auto& g : it->second) text += generated_to_json(g, round_size).dump() + "\n";
  }
  return text;
}

json topic_report_to_json(const GenerationTopicReport& r) {
  return json{{"topic", r.topic},       {"target", r.target},     {"resumed", r.resumed},
              {"accepted", r.accepted}, {"attempts", r.attempts}, {"strict", r.strict},
              {"tolerant", r.tolerant}, {"unparseable", r.unparseable}, {"exhausted", r.exhausted}};
}

GenerationTopicReport topic_report_from_json(const json& j) {
  GenerationTopicReport r;
  r.topic = j.at("topic").get<std::string>();
  r.target = j.at("target").get<std::size_t>();
  r.resumed = j.at("resumed").get<std::size_t>();
  r.accepted = j.at("accepted").get<std::size_t>();
  r.attempts = j.at("attempts").get<std::size_t>();
  r.strict = j.at("strict").get<std::size_t>();
  r.tolerant = j.at("tolerant").get<std::size_t>();
  r.unparseable = j.at("unparseable").get<std::size_t>();
  r.exhausted = j.at("exhausted").get<bool>();
  return r;
}

}  // namespace

std::vector<GeneratedQuestion> generated_questions_load(const std::string& path) {
  return stage_read(path).questions;
}

std::vector<Question> generated_questions_merged(const std::vector<GeneratedQuestion>& questions) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<Question>> by_topic;
  for (const auto& g : questions) {
    if (!by_topic.count(g.question.topic)) order.push_back(g.question.topic);
    by_topic[g.question.topic].push_back(g.question);
  }
  std::vector<std::vector<Question>> topics;
  for (const auto& name : order) topics.push_back(by_topic[name]);
  return questions_merge_renumber(topics);
}

// --- the generator ---------------------------------------------------------

QuestionGenerator::QuestionGenerator(ReplySource& source, QuestionGeneratorOptions options)
    : source_(source), options_(std::move(options)) {
  if (options_.round_size == 0) throw ValueError("QuestionGeneratorOptions: round_size must be >= 1");
  if (options_.examples == 0) throw ValueError("QuestionGeneratorOptions: examples must be >= 1");
  if (options_.seed_examples > options_.examples)
    throw ValueError("QuestionGeneratorOptions: seed_examples (" + std::to_string(options_.seed_examples) +
                     ") exceeds examples (" + std::to_string(options_.examples) + ")");
}

std::string QuestionGenerator::attempt_prompt(const GenerationTopic& topic, const std::vector<Question>& accepted,
                                              std::size_t attempt) const {
  // The reference's self_instruct_sample_topic: room for generated examples
  // is what the seeds leave of `examples` when they give seed_examples.
  Stream stream(pipeline_seed(options_.seed, topic.name + "\x1f" "examples", attempt));
  const std::size_t seed_share = std::min(options_.seed_examples, topic.seeds.size());
  const auto generated = sample_indices(stream, accepted.size(), options_.examples - seed_share);
  const auto seeds = sample_indices(stream, topic.seeds.size(), options_.examples - generated.size());
  std::vector<Question> examples;
  for (auto i : seeds) examples.push_back(topic.seeds[i]);
  for (auto i : generated) examples.push_back(accepted[i]);
  for (std::size_t i = examples.size(); i > 1; --i) std::swap(examples[i - 1], examples[stream.below(i)]);
  return prompt_generate_user(topic.name, examples, options_.templates);
}

GenerationResult QuestionGenerator::generate(const std::vector<GenerationTopic>& topics, const std::string& stage_path,
                                             ProgressCallback progress) const {
  if (topics.empty()) throw ValueError("question generation: no topics");
  std::set<std::string> names;
  for (const auto& t : topics) {
    if (t.seeds.empty()) throw ValueError("question generation: topic \"" + t.name + "\" has no seed questions");
    if (!names.insert(t.name).second) throw ValueError("question generation: topic \"" + t.name + "\" given twice");
  }
  const std::size_t target = options_.questions_per_topic;
  const std::size_t round_size = options_.round_size;
  const std::size_t max_attempts =
      options_.max_attempts_per_topic ? options_.max_attempts_per_topic : 20 * target + round_size;

  // Several ranks (distributed_init, docs/distributed.md): topic t is rank
  // t % world's, whole (its attempts seed their own streams, so its questions
  // are the ones one process draws). Each rank appends to its own part file;
  // at the end the ranks exchange their topics and rank 0 writes the stage
  // file as one uninterrupted process would, then removes the parts.
  const std::shared_ptr<Distributed> ranks = distributed_group();
  if (ranks) {
    std::string agreed = std::to_string(target) + "/" + std::to_string(round_size) + "/" + std::to_string(max_attempts) +
                         "/" + std::to_string(options_.seed) + "/" + stage_path + "\n";
    for (const auto& t : topics) {
      agreed += t.name + ":";
      for (const auto& q : t.seeds) agreed += q.id + ",";
      agreed += "\n";
    }
    ranks->require_same("question generation settings and topics", agreed);
  }
  const auto owned = [&](std::size_t t) { return !ranks || ranks->owns(t); };

  // What earlier runs accepted, per topic: the stage file and any part files
  // of an interrupted run over several ranks (each topic's questions are a
  // prefix of one sequence, so the longest list holds the others).
  std::map<std::string, std::vector<GeneratedQuestion>> resumed;
  const std::vector<std::string> parts = stage_path.empty() ? std::vector<std::string>{} : stage_parts(stage_path);
  const bool sharded = ranks || !parts.empty();
  std::string clean_text;  // the stage file without a torn last line
  const auto resume_from = [&](const std::string& path) {
    std::ifstream probe(path);
    if (!probe.good()) return false;
    probe.close();
    StageRead read = stage_read(path);
    std::map<std::string, std::vector<GeneratedQuestion>> found;
    for (std::size_t i = 0; i < read.questions.size(); ++i) {
      if (read.round_sizes[i] != round_size)
        throw ValueError(path + ": written with round_size " + std::to_string(read.round_sizes[i]) +
                         ", this run has " + std::to_string(round_size) +
                         " (rounds decide the examples: use the same round size to resume)");
      found[read.questions[i].question.topic].push_back(read.questions[i]);
    }
    for (auto& [topic, list] : found)
      if (list.size() > resumed[topic].size()) resumed[topic] = std::move(list);
    if (path == stage_path) clean_text = std::move(read.clean_text);
    return true;
  };
  std::ofstream stage;
  std::string write_path = stage_path;
  if (!stage_path.empty()) {
    const bool had_stage = resume_from(stage_path);
    for (const auto& part : parts) resume_from(part);
    if (sharded) {
      // This process's file starts with everything it resumes of its own topics.
      std::vector<GenerationTopic> mine;
      for (std::size_t t = 0; t < topics.size(); ++t)
        if (owned(t)) mine.push_back(topics[t]);
      if (ranks) write_path = stage_part_path(stage_path, ranks->rank());
      file_write_atomic(write_path, stage_text(mine, resumed, round_size));
    } else if (had_stage && clean_text != file_read_text(stage_path)) {
      file_write_atomic(stage_path, clean_text);
    }
    stage.open(write_path, std::ios::app | std::ios::binary);
    if (!stage) throw FileError(FileError::Kind::io, write_path, "cannot open the generation stage file for appending");
  }

  GenerationResult result;
  ProgressReporter reporter(progress, "generate", topics.size() * target);
  const auto source_progress = [&](const Progress&) {
    return !progress || progress(Progress{"generate", reporter.done(), topics.size() * target});
  };
  GenerateOptions sampling;
  sampling.temperature = options_.temperature;
  sampling.top_p = options_.top_p;
  sampling.max_new_tokens = options_.max_new_tokens;
  sampling.constraint = options_.constraint;

  std::vector<GenerationTopicReport> reports(topics.size());
  std::vector<std::vector<GeneratedQuestion>> accepted_of(topics.size());
  for (std::size_t t = 0; t < topics.size(); ++t) {
    if (!owned(t)) continue;
    const GenerationTopic& topic = topics[t];
    GenerationTopicReport& report = reports[t];
    report.topic = topic.name;
    report.target = target;
    std::vector<GeneratedQuestion> accepted = resumed[topic.name];
    if (accepted.size() > target) accepted.resize(target);
    report.resumed = accepted.size();
    reporter.advance(accepted.size());
    // Resume at the round of the last accepted question, skipping attempts
    // up to it: the round's replies come out as before.
    std::size_t round = accepted.empty() ? 0 : accepted.back().round;
    std::size_t skip_through = accepted.empty() ? 0 : accepted.back().attempt + 1;
    while (accepted.size() < target) {
      const std::size_t first = round * round_size;
      if (first >= max_attempts) {
        report.exhausted = true;
        log_warning("question generation: topic \"", topic.name, "\" stopped after ", max_attempts,
                    " attempts with ", accepted.size(), " of ", target, " questions");
        break;
      }
      const std::size_t last = std::min(first + round_size, max_attempts);
      std::vector<Question> pool;
      for (const auto& g : accepted)
        if (g.round < round) pool.push_back(g.question);
      std::vector<std::size_t> attempts;
      std::vector<std::string> users;
      std::vector<Conversation> prompts;
      sampling.prompt_seeds.clear();
      for (std::size_t a = std::max(first, skip_through); a < last; ++a) {
        attempts.push_back(a);
        users.push_back(attempt_prompt(topic, pool, a));
        prompts.push_back({{"system", options_.templates.generate_system}, {"user", users.back()}});
        sampling.prompt_seeds.push_back(pipeline_seed(options_.seed, topic.name + "\x1f" "sample", a));
      }
      const auto replies = source_.replies(prompts, sampling, source_progress);
      for (std::size_t i = 0; i < replies.size(); ++i) {
        ++report.attempts;
        const ParsedQuestion parsed = generated_question_parse(replies[i]);
        if (parsed.how == ReplyParse::strict) ++report.strict;
        else if (parsed.how == ReplyParse::tolerant) ++report.tolerant;
        else ++report.unparseable;
        const bool keep = parsed.how == ReplyParse::strict ||
                          (parsed.how == ReplyParse::tolerant && options_.tolerant_json);
        if (!keep || accepted.size() >= target) continue;
        GeneratedQuestion g;
        g.question.id = "Q" + std::to_string(accepted.size());
        g.question.text = parsed.text;
        g.question.options = parsed.options;
        g.question.topic = topic.name;
        g.question.zero_based = !g.question.options.empty() && g.question.options.front() == "0";
        g.attempt = attempts[i];
        g.round = round;
        g.prompt = users[i];
        g.how = parsed.how;
        if (stage.is_open()) {
          stage << generated_to_json(g, round_size).dump() << '\n';
          stage.flush();
          if (!stage) throw FileError(FileError::Kind::io, write_path, "write failed");
        }
        accepted.push_back(std::move(g));
        reporter.advance();
      }
      skip_through = 0;
      ++round;
      reporter.check();
    }
    report.accepted = accepted.size();
    accepted_of[t] = std::move(accepted);
  }
  stage.close();

  if (ranks) {  // every rank's topics to every rank
    json mine = json::object();
    for (std::size_t t = 0; t < topics.size(); ++t) {
      if (!owned(t)) continue;
      json lines = json::array();
      for (const auto& g : accepted_of[t]) lines.push_back(generated_to_json(g, round_size));
      mine[std::to_string(t)] = json{{"report", topic_report_to_json(reports[t])}, {"questions", lines}};
    }
    const auto gathered = ranks->all_gather_text("generated questions", mine.dump());
    for (std::size_t t = 0; t < topics.size(); ++t) {
      if (owned(t)) continue;
      const json theirs = json::parse(gathered[t % gathered.size()]).at(std::to_string(t));
      reports[t] = topic_report_from_json(theirs.at("report"));
      for (const auto& line : theirs.at("questions")) accepted_of[t].push_back(generated_from_json(line));
      reporter.advance(accepted_of[t].size());
    }
  }
  if (sharded && !stage_path.empty()) {
    if (!ranks || ranks->rank() == 0) {
      std::map<std::string, std::vector<GeneratedQuestion>> by_topic;
      for (std::size_t t = 0; t < topics.size(); ++t) by_topic[topics[t].name] = accepted_of[t];
      file_write_atomic(stage_path, stage_text(topics, by_topic, round_size));
      for (const auto& part : stage_parts(stage_path)) std::filesystem::remove(part);
    }
    if (ranks) ranks->barrier("the merge of " + stage_path);
  }
  for (std::size_t t = 0; t < topics.size(); ++t) {
    for (auto& g : accepted_of[t]) result.questions.push_back(std::move(g));
    result.topics.push_back(reports[t]);
  }
  reporter.report();
  return result;
}

}  // namespace culturespa

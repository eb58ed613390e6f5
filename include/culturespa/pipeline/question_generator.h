// culturespa/pipeline/question_generator.h: the model writes survey questions.
//
// Self-instruct per topic, as the reference release does (docs/pipeline.md,
// "generate"): the social-scientist system prompt and a user prompt of 5
// example questions (up to 2 of the topic's accepted generated questions, the
// rest from its seed questions, shuffled); sampled at temperature 0.9, top-p
// 0.95, up to 256 new tokens; the reply read as JSON with Question/question
// and Options/options keys. Attempts run in rounds of `round_size` prompts
// in flight at once; a question accepted in a round becomes an example from
// the next round on. Accepted questions are appended to a JSONL stage file
// as they come, and a restarted run continues from it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "culturespa/core/progress.h"
#include "culturespa/pipeline/reply_source.h"
#include "culturespa/survey/prompts.h"
#include "culturespa/survey/survey.h"
#include "culturespa/core/export.h"

namespace culturespa {

// A topic to write questions on, with the seed questions its examples start from.
struct CULTURESPA_API GenerationTopic {
  std::string name;
  std::vector<Question> seeds;
};

// The 13 WVS topics in the reference's order, each with the survey's
// questions of that topic as seeds (the reference's "all seed" setting).
CULTURESPA_API std::vector<GenerationTopic> generation_topics_from_survey(const Survey& survey);

// How a reply became a question.
enum class ReplyParse {
  strict,        // the reference's rule: the whole reply is a JSON object with the keys
  tolerant,      // only the tolerant rule read it (code fences, prose around it, single quotes, "Question:" keys)
  unparseable,   // neither
};

struct CULTURESPA_API ParsedQuestion {
  ReplyParse how = ReplyParse::unparseable;
  std::string text;                  // when parsed
  std::vector<std::string> options;  // when parsed
  std::string error;                 // why the strict rule (or both) failed
};

// Parses one reply. The strict rule is the reference's: json.loads of the
// whole reply (surrounding whitespace allowed), "Question" else "question",
// "Options" else "options"; culturespa also requires a string and a list of
// strings (numbers in the list are taken as their text). When it fails the
// tolerant rule is tried: `how` says which rule read the reply, and the
// caller keeps tolerant ones only when asked to (both are counted).
CULTURESPA_API ParsedQuestion generated_question_parse(const std::string& reply);

struct CULTURESPA_API QuestionGeneratorOptions {
  std::size_t questions_per_topic = 1000;  // target per topic (the reference's num_per_topic)
  std::size_t round_size = 16;             // attempts in flight at once (one batch of prompts)
  // Attempts per topic after which the topic stops short of its target
  // (logged and reported); 0 = 20 x questions_per_topic + round_size.
  std::size_t max_attempts_per_topic = 0;
  std::uint64_t seed = 0;  // examples and sampling of attempt a of topic t depend only on (seed, t, a)
  bool tolerant_json = false;  // default: the reference's strict rule decides what is kept
  // Sampling, as the reference.
  double temperature = 0.9;
  double top_p = 0.95;
  std::int64_t max_new_tokens = 256;
  // The example mix, as the reference: `examples` in all, at most
  // examples - min(seed_examples, seeds) generated ones.
  std::size_t examples = 5;
  std::size_t seed_examples = 3;
  PromptTemplates templates = PromptTemplates::reference();  // generate_system, generate_user_topic, generate_example_topic
  // Unset (the reference's way): free sampling, replies read as JSON. Set (for
  // example to JsonConstraint::question_schema() over the model's tokenizer):
  // sampling keeps every reply a question of that schema, so small models
  // write parseable questions too. Sources that do not sample ignore it.
  std::shared_ptr<const JsonConstraint> constraint;
};

// One accepted question as the stage file holds it.
struct CULTURESPA_API GeneratedQuestion {
  Question question;      // id "Q<n>", n counting the topic's accepted questions from 0; topic set
  std::size_t attempt = 0;  // the attempt (0-based, per topic) whose reply it is
  std::size_t round = 0;    // attempt / round_size
  std::string prompt;     // the user prompt that produced it
  ReplyParse how = ReplyParse::strict;
};

struct CULTURESPA_API GenerationTopicReport {
  std::string topic;
  std::size_t target = 0;
  std::size_t resumed = 0;      // accepted questions read from the stage file
  std::size_t accepted = 0;     // accepted in all (resumed + new), at most the target
  std::size_t attempts = 0;     // attempts made by this run
  std::size_t strict = 0;       // replies of this run the strict rule read
  std::size_t tolerant = 0;     // replies only the tolerant rule read (kept when tolerant_json)
  std::size_t unparseable = 0;  // replies neither rule read
  bool exhausted = false;       // stopped at max_attempts_per_topic short of the target
};

struct CULTURESPA_API GenerationResult {
  std::vector<GeneratedQuestion> questions;  // all accepted ones, topic by topic (resumed first)
  std::vector<GenerationTopicReport> topics;
};

class CULTURESPA_API QuestionGenerator {
 public:
  // The source must outlive the generator. ValueError for a zero
  // round_size, examples < 1 or seed_examples > examples.
  QuestionGenerator(ReplySource& source, QuestionGeneratorOptions options = {});
  const QuestionGeneratorOptions& options() const { return options_; }

  // Generates questions_per_topic questions for each topic, in order.
  // `stage_path` (may be empty: nothing written) is the JSONL stage file:
  // its questions are taken as accepted and the run continues where it
  // stopped (recomputing the last round it reached, whose replies come out
  // the same), reaching the same questions as an uninterrupted run. Each
  // accepted question is appended and flushed as it comes; a torn last line
  // (a crash mid-write) is dropped. ValueError for no topics, a topic
  // without seeds, a repeated topic name, or a stage file written with
  // another round size. CancelledError from `progress` after the finished
  // round's questions are written.
  GenerationResult generate(const std::vector<GenerationTopic>& topics, const std::string& stage_path = "",
                            ProgressCallback progress = {}) const;

  // The user prompt of attempt `attempt` of `topic`, given the questions
  // accepted before its round (the examples are drawn from these and the
  // seeds with the attempt's own random stream).
  std::string attempt_prompt(const GenerationTopic& topic, const std::vector<Question>& accepted,
                             std::size_t attempt) const;

 private:
  ReplySource& source_;
  QuestionGeneratorOptions options_;
};

CULTURESPA_API const char* reply_parse_name(ReplyParse how);  // "strict", "tolerant", "unparseable"

// The generation stage file (JSONL): one accepted question a line,
// {"topic", "Q_id", "question", "option_lst", "class", "attempt", "round",
// "round_size", "parse", "prompt"}. A torn last line is skipped (and logged);
// FormatError naming the file and line for any other bad line.
CULTURESPA_API std::vector<GeneratedQuestion> generated_questions_load(const std::string& path);
// The questions of a stage file grouped by topic in order of first
// appearance, then merged and renumbered Q0.. as the reference merges its
// topic files (questions_merge_renumber).
CULTURESPA_API std::vector<Question> generated_questions_merged(const std::vector<GeneratedQuestion>& questions);

}  // namespace culturespa

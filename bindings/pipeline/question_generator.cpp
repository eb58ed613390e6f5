#include "culturespa/pipeline/question_generator.h"

#include <optional>

#include "common.h"

#include "culturespa/generator/json_constraint.h"
#include "core/deprecated_items.h"
#include "core/result_class.h"
#include "culturespa/core/error.h"
#include "records.h"
#include "reply_source.h"

namespace culturespa::bindings {
namespace {

// The generator with the Python objects its reply source calls.
struct PyQuestionGenerator {
  std::shared_ptr<PyReplySource> source;
  std::unique_ptr<QuestionGenerator> generator;
};

py::dict generated_to_py(const GeneratedQuestion& g) {
  py::dict d;
  d["topic"] = g.question.topic;
  d["Q_id"] = g.question.id;
  d["question"] = g.question.text;
  d["option_lst"] = g.question.options;
  d["attempt"] = g.attempt;
  d["round"] = g.round;
  d["parse"] = reply_parse_name(g.how);
  d["prompt"] = g.prompt;
  return d;
}

py::list generated_list_to_py(const std::vector<GeneratedQuestion>& questions) {
  py::list out;
  for (const auto& g : questions) out.append(generated_to_py(g));
  return out;
}

// Topics from Python: a list of (name, seed questions) pairs or dicts {"name", "seeds"}.
std::vector<GenerationTopic> topics_from_py(const py::iterable& items) {
  std::vector<GenerationTopic> out;
  for (const auto& item : items) {
    GenerationTopic t;
    if (py::isinstance<py::dict>(item)) {
      const auto d = py::reinterpret_borrow<py::dict>(item);
      t.name = d["name"].cast<std::string>();
      t.seeds = questions_from_py(py::object(d["seeds"]).cast<py::iterable>());
    } else {
      const auto pair = py::reinterpret_borrow<py::sequence>(item);
      if (pair.size() != 2) throw ValueError("a topic is (name, seed questions) or {\"name\", \"seeds\"}");
      t.name = pair[0].cast<std::string>();
      t.seeds = questions_from_py(py::object(pair[1]).cast<py::iterable>());
    }
    out.push_back(std::move(t));
  }
  return out;
}

py::list topics_to_py(const std::vector<GenerationTopic>& topics) {
  py::list out;
  for (const auto& t : topics) out.append(py::make_tuple(t.name, questions_to_py(t.seeds)));
  return out;
}

}  // namespace

void register_question_generator(py::module_& m) {
  ResultClass<GeneratedQuestion>(m, "GeneratedQuestion", R"pbdoc(
One accepted generated question as the stage file holds it.

``to_dict()`` gives the stage file's record: {"topic", "Q_id", "question",
"option_lst", "attempt", "round", "parse", "prompt"}.
)pbdoc")
      .field("question", &GeneratedQuestion::question, "The Question (id Q<n> per topic, topic set).")
      .field("attempt", &GeneratedQuestion::attempt, "The attempt (0-based, per topic) whose reply it is.")
      .field("round", &GeneratedQuestion::round, "attempt // round_size.")
      .field("prompt", &GeneratedQuestion::prompt, "The user prompt that produced it.")
      .property("parse", [](const GeneratedQuestion& g) { return std::string(reply_parse_name(g.how)); },
                "\"strict\" or \"tolerant\": which rule read the reply.")
      .done(&generated_to_py);

  auto topic_report = ResultClass<GenerationTopicReport>(m, "GenerationTopicReport", "What the generation did for one topic.")
      .field("topic", &GenerationTopicReport::topic)
      .field("target", &GenerationTopicReport::target)
      .field("resumed", &GenerationTopicReport::resumed, "Accepted questions read from the stage file.")
      .field("accepted", &GenerationTopicReport::accepted, "Accepted in all (resumed + new).")
      .field("attempts", &GenerationTopicReport::attempts, "Attempts made by this run.")
      .field("strict", &GenerationTopicReport::strict, "Replies the strict rule read.")
      .field("tolerant", &GenerationTopicReport::tolerant, "Replies only the tolerant rule read.")
      .field("unparseable", &GenerationTopicReport::unparseable, "Replies neither rule read.")
      .field("exhausted", &GenerationTopicReport::exhausted, "Stopped at max_attempts_per_topic short of the target.")
      .done();
  def_deprecated_items(topic_report);

  py::class_<GenerationResult>(m, "GenerationResult",
                               "Accepted questions (``questions``) and a GenerationTopicReport per topic (``topics``).")
      .def_readonly("questions", &GenerationResult::questions,
                    "GeneratedQuestion list, topic by topic (resumed ones first).")
      .def_readonly("topics", &GenerationResult::topics, "GenerationTopicReport per topic.")
      .def("__len__", [](const GenerationResult& r) { return r.questions.size(); })
      .def(
          "__iter__",
          [](const GenerationResult& r) { return py::make_iterator(r.questions.begin(), r.questions.end()); },
          py::keep_alive<0, 1>())
      .def(
          "merged", [](const GenerationResult& r) { return questions_to_py(generated_questions_merged(r.questions)); },
          "The accepted questions merged in topic order and renumbered Q0.. (Question list).")
      .def(
          "counts",
          [](const GenerationResult& r) {
            GenerationTopicReport total;
            for (const auto& t : r.topics) {
              total.attempts += t.attempts;
              total.strict += t.strict;
              total.tolerant += t.tolerant;
              total.unparseable += t.unparseable;
              total.accepted += t.accepted;
              total.resumed += t.resumed;
            }
            py::dict out;
            out["attempts"] = total.attempts;
            out["strict"] = total.strict;
            out["tolerant"] = total.tolerant;
            out["unparseable"] = total.unparseable;
            out["accepted"] = total.accepted;
            out["resumed"] = total.resumed;
            return out;
          },
          "Totals over topics: attempts, strict, tolerant, unparseable, accepted, resumed.")
      .def("to_dict",
           [](const GenerationResult& r) {
             py::dict out;
             out["questions"] = generated_list_to_py(r.questions);
             out["topics"] = plain_python(py::cast(r.topics));
             return out;
           })
      .def("__repr__", [](const GenerationResult& r) {
        std::size_t attempts = 0;
        for (const auto& t : r.topics) attempts += t.attempts;
        return "GenerationResult(" + std::to_string(r.questions.size()) + " questions; " + std::to_string(attempts) +
               " attempts)";
      });

  ResultClass<QuestionGeneratorOptions>(m, "QuestionGeneratorOptions",
                                        "QuestionGenerator's settings; QuestionGeneratorOptions() holds the defaults.")
      .field("questions_per_topic", &QuestionGeneratorOptions::questions_per_topic)
      .field("round_size", &QuestionGeneratorOptions::round_size)
      .field("max_attempts_per_topic", &QuestionGeneratorOptions::max_attempts_per_topic)
      .field("seed", &QuestionGeneratorOptions::seed)
      .field("tolerant_json", &QuestionGeneratorOptions::tolerant_json)
      .field("temperature", &QuestionGeneratorOptions::temperature)
      .field("top_p", &QuestionGeneratorOptions::top_p)
      .field("max_new_tokens", &QuestionGeneratorOptions::max_new_tokens)
      .field("examples", &QuestionGeneratorOptions::examples)
      .field("seed_examples", &QuestionGeneratorOptions::seed_examples)
      .field("templates", &QuestionGeneratorOptions::templates)
      .property("constrained", [](const QuestionGeneratorOptions& o) { return static_cast<bool>(o.constraint); },
                "Whether replies are sampled under a JsonConstraint.")
      .done()
      .def(py::init<>());

  const QuestionGeneratorOptions defaults;
  py::class_<PyQuestionGenerator>(m, "QuestionGenerator", R"pbdoc(
Self-instruct survey question generation per topic, as the reference does (docs/pipeline.md, "generate").

The social-scientist system prompt, ``examples`` examples (up to
``examples - seed_examples`` accepted generated questions of the topic, the
rest seeds, shuffled), sampled replies read as JSON.

Args:
    generator: a ``culturespa.Generator``; or give ``replies``.
    replies: ``f(prompts, seeds, sampling) -> [str]`` for canned replies or
        another backend.
    questions_per_topic: the target per topic.
    round_size: prompts in flight at once; the examples and sampling seed of
        attempt a of topic t depend only on (seed, t, a) and the questions
        accepted before its round.
    max_attempts_per_topic: 0 = 20 x questions_per_topic + round_size.
    tolerant_json: also keep replies only the tolerant parser reads (code
        fences, prose around the JSON, single quotes); both are counted.
    temperature, top_p, max_new_tokens: sampling, as the reference.
    templates: PromptTemplates (None = the reference's).
    constraint: a ``JsonConstraint`` (e.g. ``JsonConstraint(JsonConstraint.question_schema(),
        tokenizer)``) under which replies are sampled, so that small models
        write parseable questions; None samples freely, as the reference.
)pbdoc")
      .def(py::init([](py::object generator, py::object replies, std::size_t questions_per_topic,
                       std::size_t round_size, std::size_t max_attempts_per_topic, std::uint64_t seed,
                       bool tolerant_json, double temperature, double top_p, std::int64_t max_new_tokens,
                       std::size_t examples, std::size_t seed_examples,
                       const std::optional<PromptTemplates>& templates, std::shared_ptr<JsonConstraint> constraint) {
             auto out = std::make_unique<PyQuestionGenerator>();
             out->source = reply_source_from_py(std::move(generator), std::move(replies), py::none());
             QuestionGeneratorOptions o;
             o.questions_per_topic = questions_per_topic;
             o.round_size = round_size;
             o.max_attempts_per_topic = max_attempts_per_topic;
             o.seed = seed;
             o.tolerant_json = tolerant_json;
             o.temperature = temperature;
             o.top_p = top_p;
             o.max_new_tokens = max_new_tokens;
             o.examples = examples;
             o.seed_examples = seed_examples;
             if (templates) o.templates = *templates;
             o.constraint = std::move(constraint);
             out->generator = std::make_unique<QuestionGenerator>(*out->source->source, o);
             return out;
           }),
           py::arg("generator") = py::none(), py::kw_only(), py::arg("replies") = py::none(),
           py::arg("questions_per_topic") = defaults.questions_per_topic, py::arg("round_size") = defaults.round_size,
           py::arg("max_attempts_per_topic") = defaults.max_attempts_per_topic, py::arg("seed") = defaults.seed,
           py::arg("tolerant_json") = defaults.tolerant_json, py::arg("temperature") = defaults.temperature,
           py::arg("top_p") = defaults.top_p, py::arg("max_new_tokens") = defaults.max_new_tokens,
           py::arg("examples") = defaults.examples, py::arg("seed_examples") = defaults.seed_examples,
           py::arg("templates") = py::none(), py::arg("constraint") = nullptr)
      .def_property_readonly("options", [](const PyQuestionGenerator& g) { return g.generator->options(); },
                             "The QuestionGeneratorOptions.")
      .def(
          "generate",
          [](const PyQuestionGenerator& g, py::object topics, const std::optional<std::filesystem::path>& stage_path,
             py::object progress) {
            // A Survey stands for all its topics, each seeded with its evaluated questions.
            const auto topic_list = py::isinstance<Survey>(topics)
                                        ? generation_topics_from_survey(topics.cast<const Survey&>())
                                        : topics_from_py(topics);
            const std::string stage = stage_path ? stage_path->string() : std::string();
            auto callback = progress_callback(std::move(progress));
            py::gil_scoped_release release;
            return g.generator->generate(topic_list, stage, callback);
          },
          py::arg("topics"), py::arg("stage_path") = py::none(), py::kw_only(), py::arg("progress") = py::none(),
          R"pbdoc(
Generates questions_per_topic questions for each topic, in order (a GenerationResult).

Args:
    topics: (name, seed questions) pairs (see ``generation_topics``) or a
        ``Survey`` (all its topics).
    stage_path: the JSONL stage file, appended as questions come and resumed
        from when it exists.

Raises:
    ValueError: no topics, a topic without seeds, a repeated topic name, or a
        stage file written with another round size.
)pbdoc")
      .def(
          "attempt_prompt",
          [](const PyQuestionGenerator& g, const std::string& topic, py::iterable seeds, py::iterable accepted,
             std::size_t attempt) {
            return g.generator->attempt_prompt(GenerationTopic{topic, questions_from_py(seeds)},
                                               questions_from_py(accepted), attempt);
          },
          py::arg("topic"), py::arg("seeds"), py::arg("accepted"), py::arg("attempt"),
          "The user prompt of attempt `attempt` given the questions accepted before its round.");

  ResultClass<ParsedQuestion>(m, "ParsedQuestion", "A generation reply read as a question.")
      .property("parse", [](const ParsedQuestion& p) { return std::string(reply_parse_name(p.how)); },
                "\"strict\", \"tolerant\" or \"unparseable\".")
      .field("text", &ParsedQuestion::text, "The question (when parsed).")
      .field("options", &ParsedQuestion::options, "Its options (when parsed).")
      .field("error", &ParsedQuestion::error, "Why the strict rule (or both) failed.")
      .done();
  m.def("generated_question_parse", &generated_question_parse, py::arg("reply"),
        "Reads a generation reply: the strict (reference) rule, else the tolerant one (a ParsedQuestion).");
  m.def(
      "generated_questions_load",
      [](const std::filesystem::path& path) { return generated_questions_load(path.string()); }, py::arg("path"),
      "The accepted questions of a generation stage file (JSONL), as GeneratedQuestion objects.");
  m.def(
      "generated_questions_merged",
      [](const std::filesystem::path& path) {
        return questions_to_py(generated_questions_merged(generated_questions_load(path.string())));
      },
      py::arg("path"), "A generation stage file's questions merged in topic order and renumbered Q0..");
  m.def(
      "generation_topics_from_survey", [](const Survey& survey) { return topics_to_py(generation_topics_from_survey(survey)); },
      py::arg("survey"), "The survey's topics in order, each (name, its evaluated questions as seeds).");
  m.def("pipeline_seed", &pipeline_seed, py::arg("seed"), py::arg("key"), py::arg("index"),
        "The pipeline's seed mix of (run seed, text key, index).");
}

}  // namespace culturespa::bindings

#include "culturespa/pipeline/question_generator.h"

#include <optional>

#include "common.h"

#include "culturespa/generator/json_constraint.h"
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

py::dict topic_report_to_py(const GenerationTopicReport& r) {
  py::dict d;
  d["topic"] = r.topic;
  d["target"] = r.target;
  d["resumed"] = r.resumed;
  d["accepted"] = r.accepted;
  d["attempts"] = r.attempts;
  d["strict"] = r.strict;
  d["tolerant"] = r.tolerant;
  d["unparseable"] = r.unparseable;
  d["exhausted"] = r.exhausted;
  return d;
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
  py::class_<PyQuestionGenerator>(m, "QuestionGenerator",
                                  "Self-instruct survey question generation per topic (docs/pipeline.md).")
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
           py::arg("questions_per_topic") = 1000, py::arg("round_size") = 16,
           py::arg("max_attempts_per_topic") = 0, py::arg("seed") = 0, py::arg("tolerant_json") = false,
           py::arg("temperature") = 0.9, py::arg("top_p") = 0.95, py::arg("max_new_tokens") = 256,
           py::arg("examples") = 5, py::arg("seed_examples") = 3, py::arg("templates") = py::none(),
           py::arg("constraint") = nullptr)
      .def_property_readonly("options",
                             [](const PyQuestionGenerator& g) {
                               const auto& o = g.generator->options();
                               py::dict d;
                               d["questions_per_topic"] = o.questions_per_topic;
                               d["round_size"] = o.round_size;
                               d["max_attempts_per_topic"] = o.max_attempts_per_topic;
                               d["seed"] = o.seed;
                               d["tolerant_json"] = o.tolerant_json;
                               d["temperature"] = o.temperature;
                               d["top_p"] = o.top_p;
                               d["max_new_tokens"] = o.max_new_tokens;
                               d["examples"] = o.examples;
                               d["seed_examples"] = o.seed_examples;
                               d["constrained"] = static_cast<bool>(o.constraint);
                               return d;
                             })
      .def(
          "_generate",
          [](const PyQuestionGenerator& g, py::iterable topics, const std::string& stage_path, py::object progress) {
            const auto topic_list = topics_from_py(topics);
            auto callback = progress_callback(std::move(progress));
            GenerationResult result;
            {
              py::gil_scoped_release release;
              result = g.generator->generate(topic_list, stage_path, callback);
            }
            py::list reports;
            for (const auto& r : result.topics) reports.append(topic_report_to_py(r));
            return py::make_tuple(generated_list_to_py(result.questions), reports);
          },
          py::arg("topics"), py::arg("stage_path") = "", py::arg("progress") = py::none())
      .def(
          "attempt_prompt",
          [](const PyQuestionGenerator& g, const std::string& topic, py::iterable seeds, py::iterable accepted,
             std::size_t attempt) {
            return g.generator->attempt_prompt(GenerationTopic{topic, questions_from_py(seeds)},
                                               questions_from_py(accepted), attempt);
          },
          py::arg("topic"), py::arg("seeds"), py::arg("accepted"), py::arg("attempt"),
          "The user prompt of attempt `attempt` given the questions accepted before its round.");

  m.def(
      "generated_question_parse",
      [](const std::string& reply) {
        const auto p = generated_question_parse(reply);
        py::dict d;
        d["parse"] = reply_parse_name(p.how);
        d["question"] = p.how == ReplyParse::unparseable ? py::object(py::none()) : py::cast(p.text);
        d["options"] = p.how == ReplyParse::unparseable ? py::object(py::none()) : py::cast(p.options);
        d["error"] = p.error;
        return d;
      },
      py::arg("reply"), "Reads a generation reply: {'parse': strict|tolerant|unparseable, 'question', 'options', 'error'}.");
  m.def(
      "generated_questions_load", [](const std::string& path) { return generated_list_to_py(generated_questions_load(path)); },
      py::arg("path"), "The accepted questions of a generation stage file (JSONL), as dicts.");
  m.def(
      "generated_questions_merged",
      [](const std::string& path) { return questions_to_py(generated_questions_merged(generated_questions_load(path))); },
      py::arg("path"), "A generation stage file's questions merged in topic order and renumbered Q0..");
  m.def(
      "generation_topics_from_survey", [](const Survey& survey) { return topics_to_py(generation_topics_from_survey(survey)); },
      py::arg("survey"), "The survey's topics in order, each (name, its evaluated questions as seeds).");
  m.def("pipeline_seed", &pipeline_seed, py::arg("seed"), py::arg("key"), py::arg("index"),
        "The pipeline's seed mix of (run seed, text key, index).");
}

}  // namespace culturespa::bindings

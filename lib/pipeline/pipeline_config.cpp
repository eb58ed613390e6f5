// The pipeline's config: one schema (a table of sections and keys) that both
// reads config files (JSON, or TOML through toml11) and writes the resolved
// config, so that the two can never disagree; and the built-in presets.
#include "culturespa/pipeline/pipeline.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "culturespa/core/enum_names.h"
#include "culturespa/core/error.h"
#include "culturespa/survey/survey.h"
#include "culturespa/survey/survey_data.h"

#if CULTURESPA_WITH_TOML
#include <toml.hpp>
#endif

namespace culturespa {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

// Where a value came from, for error messages: "run.toml: answer.temperature (line 12)".
struct Where {
  const std::string& source;
  std::string key;
  const std::map<std::string, int>* lines;

  std::string text() const {
    std::string out = source + ": " + key;
    if (lines) {
      const auto it = lines->find(key);
      if (it != lines->end()) out += " (line " + std::to_string(it->second) + ")";
    }
    return out;
  }
};

const char* json_kind(const json& value) {
  switch (value.type()) {
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "a list";
    case json::value_t::object: return "a table";
    default: return "null";
  }
}

[[noreturn]] void wrong_type(const Where& where, const json& value, const std::string& expected) {
  throw ConfigError(where.text() + ": expected " + expected + ", got " + json_kind(value) + " (" +
                    value.dump() + ")");
}

// --- codecs: one per C++ type a key can hold ---------------------------------

template <typename T, typename = void>
struct Codec;

template <>
struct Codec<bool> {
  static constexpr const char* type = "a boolean";
  static bool read(const json& v, const Where& w) {
    if (!v.is_boolean()) wrong_type(w, v, type);
    return v.get<bool>();
  }
  static json write(bool v) { return v; }
};

template <>
struct Codec<double> {
  static constexpr const char* type = "a number";
  static double read(const json& v, const Where& w) {
    if (!v.is_number()) wrong_type(w, v, type);
    const double d = v.get<double>();
    if (!std::isfinite(d)) throw ConfigError(w.text() + ": must be a finite number");
    return d;
  }
  static json write(double v) { return v; }
};

template <typename T>
struct Codec<T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>> {
  static constexpr const char* type = std::is_signed_v<T> ? "an integer" : "an integer >= 0";
  static T read(const json& v, const Where& w) {
    if (v.is_number_unsigned()) {
      const auto u = v.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
        throw ConfigError(w.text() + ": " + v.dump() + " is out of range");
      return static_cast<T>(u);
    }
    if (v.is_number_integer()) {
      const auto i = v.get<std::int64_t>();
      if (!std::is_signed_v<T> && i < 0) wrong_type(w, v, type);
      if (std::is_signed_v<T> && (i < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
                                  i > static_cast<std::int64_t>(std::numeric_limits<T>::max())))
        throw ConfigError(w.text() + ": " + v.dump() + " is out of range");
      return static_cast<T>(i);
    }
    wrong_type(w, v, type);
  }
  static json write(T v) { return v; }
};

template <>
struct Codec<std::string> {
  static constexpr const char* type = "a string";
  static std::string read(const json& v, const Where& w) {
    if (!v.is_string()) wrong_type(w, v, type);
    return v.get<std::string>();
  }
  static json write(const std::string& v) { return v; }
};

template <>
struct Codec<std::vector<std::string>> {
  static constexpr const char* type = "a list of strings";
  static std::vector<std::string> read(const json& v, const Where& w) {
    if (!v.is_array()) wrong_type(w, v, type);
    std::vector<std::string> out;
    for (const auto& item : v) {
      if (!item.is_string()) wrong_type(w, v, type);
      out.push_back(item.get<std::string>());
    }
    return out;
  }
  static json write(const std::vector<std::string>& v) { return v; }
};

// --- the schema --------------------------------------------------------------

struct Field {
  std::string name;
  std::function<json(const PipelineConfig&)> get;
  std::function<void(PipelineConfig&, const json&, const Where&)> set;
};

struct Section {
  std::string name;  // "answer", or "tune.joint" for a table inside [tune]
  std::vector<Field> fields;
};

// A key bound to a member: `access` returns a reference into the config.
template <typename Access>
Field key(std::string name, Access access) {
  using T = std::decay_t<decltype(access(std::declval<PipelineConfig&>()))>;
  return Field{name,
               [access](const PipelineConfig& c) { return Codec<T>::write(access(const_cast<PipelineConfig&>(c))); },
               [access](PipelineConfig& c, const json& v, const Where& w) { access(c) = Codec<T>::read(v, w); }};
}

// An enum key read and written by name through the stage's own functions
// (whose ValueError lists the valid names).
template <typename Access, typename Name, typename FromName>
Field named(std::string name, Access access, Name to_name, FromName from_name) {
  return Field{name, [access, to_name](const PipelineConfig& c) { return json(to_name(access(const_cast<PipelineConfig&>(c)))); },
               [access, from_name](PipelineConfig& c, const json& v, const Where& w) {
                 const std::string text = Codec<std::string>::read(v, w);
                 try {
                   access(c) = from_name(text);
                 } catch (const Error& e) {
                   throw ConfigError(w.text() + ": " + e.what());
                 }
               }};
}

#define CSPA_KEY(section_member, name) key(#name, [](PipelineConfig& c) -> auto& { return c.section_member.name; })

std::vector<Field> tune_fields(LoraTrainerOptions PipelineConfig::*which) {
  auto opt = [which](PipelineConfig& c) -> LoraTrainerOptions& { return c.*which; };
  std::vector<Field> out;
#define CSPA_TUNE(name) out.push_back(key(#name, [opt](PipelineConfig& c) -> auto& { return opt(c).name; }))
  CSPA_TUNE(learning_rate);
  CSPA_TUNE(epochs);
  CSPA_TUNE(max_steps);
  CSPA_TUNE(scheduler);
  CSPA_TUNE(warmup_ratio);
  CSPA_TUNE(batch_size);
  CSPA_TUNE(effective_batch);
  CSPA_TUNE(max_grad_norm);
  CSPA_TUNE(weight_decay);
  CSPA_TUNE(cutoff);
  CSPA_TUNE(gradient_checkpointing);
  CSPA_TUNE(seed);
  CSPA_TUNE(save_steps);
#undef CSPA_TUNE
  out.push_back(key("rank", [opt](PipelineConfig& c) -> auto& { return opt(c).lora.r; }));
  out.push_back(key("alpha", [opt](PipelineConfig& c) -> auto& { return opt(c).lora.alpha; }));
  out.push_back(key("dropout", [opt](PipelineConfig& c) -> auto& { return opt(c).lora.dropout; }));
  return out;
}

const std::vector<Section>& schema() {
  static const std::vector<Section> sections = [] {
    std::vector<Section> s;
    s.push_back({"run",
                 {key("model", [](PipelineConfig& c) -> auto& { return c.model; }),
                  key("tokenizer", [](PipelineConfig& c) -> auto& { return c.tokenizer; }),
                  key("survey", [](PipelineConfig& c) -> auto& { return c.survey; }),
                  key("cultures", [](PipelineConfig& c) -> auto& { return c.cultures; }),
                  key("topics", [](PipelineConfig& c) -> auto& { return c.topics; }),
                  CSPA_KEY(model_options, device), CSPA_KEY(model_options, dtype), CSPA_KEY(model_options, weights),
                  CSPA_KEY(model_options, threads), CSPA_KEY(generator, chat_format),
                  CSPA_KEY(generator, batch_size)}});
    s.push_back({"generate",
                 {CSPA_KEY(generate, questions_per_topic), CSPA_KEY(generate, round_size),
                  CSPA_KEY(generate, max_attempts_per_topic), CSPA_KEY(generate, seed),
                  CSPA_KEY(generate, tolerant_json), CSPA_KEY(generate, temperature), CSPA_KEY(generate, top_p),
                  CSPA_KEY(generate, max_new_tokens), CSPA_KEY(generate, examples),
                  CSPA_KEY(generate, seed_examples),
                  key("constrained", [](PipelineConfig& c) -> auto& { return c.constrained; }),
                  key("min_options", [](PipelineConfig& c) -> auto& { return c.min_options; }),
                  key("max_options", [](PipelineConfig& c) -> auto& { return c.max_options; })}});
    s.push_back({"filter",
                 {CSPA_KEY(filter, reference), CSPA_KEY(filter, near_duplicate_threshold),
                  CSPA_KEY(filter, near_duplicate_ngram), CSPA_KEY(filter, min_options),
                  CSPA_KEY(filter, max_options), CSPA_KEY(filter, drop_duplicate_options),
                  key("seeds", [](PipelineConfig& c) -> auto& { return c.filter_seeds; })}});
    s.push_back({"answer",
                 {named(
                      "mode", [](PipelineConfig& c) -> auto& { return c.answer.mode; }, answer_mode_name,
                      answer_mode_from_name),
                  CSPA_KEY(answer, unaware), CSPA_KEY(answer, temperature), CSPA_KEY(answer, top_p),
                  CSPA_KEY(answer, max_new_tokens), CSPA_KEY(answer, seed)}});
    s.push_back({"contrast",
                 {named(
                      "rule", [](PipelineConfig& c) -> auto& { return c.contrast.rule; }, contrast_rule_name,
                      contrast_rule_from_name),
                  CSPA_KEY(contrast, min_answer), CSPA_KEY(contrast, max_answer), CSPA_KEY(contrast, jsd_threshold),
                  CSPA_KEY(contrast, require_argmax_change)}});
    s.push_back({"export",
                 {named(
                      "format", [](PipelineConfig& c) -> auto& { return c.dataset.format; }, dataset_format_name,
                      dataset_format_from_name),
                  CSPA_KEY(dataset, answer_with_option_text), CSPA_KEY(dataset, validation_fraction),
                  CSPA_KEY(dataset, subsample_fraction), CSPA_KEY(dataset, seed), CSPA_KEY(dataset, name)}});
    s.push_back({"tune", {key("modes", [](PipelineConfig& c) -> auto& { return c.tune_modes; })}});
    s.push_back({"tune.joint", tune_fields(&PipelineConfig::tune_joint)});
    s.push_back({"tune.specific", tune_fields(&PipelineConfig::tune_specific)});
    s.push_back({"evaluate",
                 {named(
                      "protocol", [](PipelineConfig& c) -> auto& { return c.evaluate.protocol; },
                      evaluation_protocol_name, [](const std::string& n) { return evaluation_protocol_from_name(n); }),
                  key("base_methods", [](PipelineConfig& c) -> auto& { return c.base_methods; }),
                  key("tuned_methods", [](PipelineConfig& c) -> auto& { return c.tuned_methods; }),
                  key("questions_per_topic", [](PipelineConfig& c) -> auto& { return c.evaluate_questions_per_topic; }),
                  CSPA_KEY(evaluate, runs), CSPA_KEY(evaluate, temperature), CSPA_KEY(evaluate, top_p),
                  CSPA_KEY(evaluate, max_new_tokens), CSPA_KEY(evaluate, seed), CSPA_KEY(evaluate, examples),
                  CSPA_KEY(evaluate, bootstrap_samples), CSPA_KEY(evaluate, bootstrap_seed),
                  CSPA_KEY(evaluate, confidence)}});
    return s;
  }();
  return sections;
}

#undef CSPA_KEY

std::string section_names() {
  std::string out;
  for (const auto& s : schema()) {
    if (s.name.find('.') != std::string::npos) continue;
    out += (out.empty() ? "" : ", ") + s.name;
  }
  return out + " (and the top-level key preset)";
}

std::string field_names(const Section& section) {
  std::string out;
  for (const auto& f : section.fields) out += (out.empty() ? "" : ", ") + f.name;
  for (const auto& s : schema())  // tables inside this one
    if (s.name.rfind(section.name + ".", 0) == 0) out += ", [" + s.name + "]";
  return out;
}

// Applies the sections of `doc` to `config`.
void apply(PipelineConfig& config, const json& doc, const std::string& source, const std::map<std::string, int>* lines) {
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (it.key() == "preset") continue;
    const auto section = std::find_if(schema().begin(), schema().end(), [&](const Section& s) {
      return s.name == it.key();
    });
    if (section == schema().end())
      throw ConfigError(Where{source, it.key(), lines}.text() + ": unknown section; valid sections: " + section_names());
    if (!it.value().is_object()) wrong_type(Where{source, it.key(), lines}, it.value(), "a table of keys");
    std::function<void(const Section&, const json&)> read = [&](const Section& sec, const json& table) {
      for (auto k = table.begin(); k != table.end(); ++k) {
        const std::string path = sec.name + "." + k.key();
        const auto field = std::find_if(sec.fields.begin(), sec.fields.end(), [&](const Field& f) { return f.name == k.key(); });
        if (field != sec.fields.end()) {
          field->set(config, k.value(), Where{source, path, lines});
          continue;
        }
        const auto inner = std::find_if(schema().begin(), schema().end(), [&](const Section& s) { return s.name == path; });
        if (inner != schema().end()) {
          if (!k.value().is_object()) wrong_type(Where{source, path, lines}, k.value(), "a table of keys");
          read(*inner, k.value());
          continue;
        }
        throw ConfigError(Where{source, path, lines}.text() + ": unknown key; valid keys of [" + sec.name +
                          "]: " + field_names(sec));
      }
    };
    read(*section, it.value());
  }
}

PipelineConfig from_document(const json& doc, const std::string& source, const std::string& preset,
                             const std::map<std::string, int>* lines) {
  if (!doc.is_object()) throw ConfigError(source + ": a config is a table of sections (" + section_names() + ")");
  std::string name = preset;
  if (name.empty() && doc.contains("preset")) name = Codec<std::string>::read(doc["preset"], Where{source, "preset", lines});
  PipelineConfig config;
  if (!name.empty()) {
    try {
      config = pipeline_config_preset(name);
    } catch (const ValueError& e) {
      throw ConfigError(source + ": " + e.what());
    }
  }
  apply(config, doc, source, lines);
  return config;
}

#if CULTURESPA_WITH_TOML
// TOML -> JSON, keeping each key's line for the error messages.
json toml_to_json(const toml::value& v, const std::string& path, std::map<std::string, int>& lines) {
  if (!path.empty()) lines.emplace(path, static_cast<int>(v.location().line()));
  switch (v.type()) {
    case toml::value_t::boolean: return v.as_boolean();
    case toml::value_t::integer: return static_cast<std::int64_t>(v.as_integer());
    case toml::value_t::floating: return v.as_floating();
    case toml::value_t::string: return v.as_string().str;
    case toml::value_t::array: {
      json out = json::array();
      for (const auto& item : v.as_array()) out.push_back(toml_to_json(item, path, lines));
      return out;
    }
    case toml::value_t::table: {
      // toml11 keeps tables unordered: sort the keys so errors come in a stable order.
      std::map<std::string, const toml::value*> sorted;
      for (const auto& [k, item] : v.as_table()) sorted.emplace(k, &item);
      json out = json::object();
      for (const auto& [k, item] : sorted) out[k] = toml_to_json(*item, path.empty() ? k : path + "." + k, lines);
      return out;
    }
    default:
      throw ConfigError((path.empty() ? std::string("the document") : path) +
                        ": dates and times are not config values");
  }
}
#endif

constexpr auto kStageNames = enum_names<PipelineStage>(
    "pipeline stage", {{PipelineStage::generate, "generate"}, {PipelineStage::filter, "filter"},
                       {PipelineStage::answer, "answer"}, {PipelineStage::contrast, "contrast"},
                       {PipelineStage::export_data, "export"}, {PipelineStage::tune, "tune"},
                       {PipelineStage::evaluate, "evaluate"}, {PipelineStage::report, "report"}});
}  // namespace

const std::vector<std::string>& pipeline_stage_names() {
  static const std::vector<std::string> names = kStageNames.names();
  return names;
}

const char* pipeline_stage_name(PipelineStage stage) { return kStageNames.name(stage); }

PipelineStage pipeline_stage_from_name(std::string_view name) { return kStageNames.from_name(name); }

std::string pipeline_default_model_path() {
  return (fs::path(cache_dir()) / "models" / "smollm2-135m-instruct").string();
}

std::vector<std::string> pipeline_config_presets() { return {"quick", "demo", "paper"}; }

PipelineConfig pipeline_config_preset(const std::string& name) {
  PipelineConfig c;
  c.preset = name;
  if (name == "quick" || name == "demo") {
    // The embedded model: constrained generation (free sampling writes no
    // parseable question at 135M parameters), option scoring, a short tune.
    c.constrained = true;
    c.max_options = 7;
    c.generate.max_new_tokens = 160;
    c.generate.round_size = 16;
    c.answer.mode = AnswerMode::scored;
    // A 135M model's scored answers barely move with the culture (on the
    // quick run: JSD to the unaware answer at most 0.0033 bits, argmax
    // changed for 3 of 54): the distributional rule with a low threshold
    // keeps the pairs whose distribution moved most.
    c.contrast.rule = ContrastRule::distributional;
    c.contrast.jsd_threshold = 0.001;
    c.tune_joint.effective_batch = 8;
    c.tune_joint.batch_size = 8;
    c.tune_joint.learning_rate = 2e-4;
    c.tune_joint.cutoff = 512;
    c.tune_joint.save_steps = 2;
    c.evaluate.protocol = EvaluationProtocol::scored;
    c.evaluate.bootstrap_samples = 200;
    if (name == "quick") {
      c.topics = {topics_wvs7()[0], topics_wvs7()[1]};
      c.cultures = {"USA", "CHN", "KEN"};
      c.generate.questions_per_topic = 12;
      c.generate.max_attempts_per_topic = 64;
      c.tune_joint.max_steps = 6;
      c.evaluate_questions_per_topic = 3;
    } else {
      c.generate.questions_per_topic = 8;
      c.generate.max_attempts_per_topic = 48;
      c.tune_joint.max_steps = 20;
      c.evaluate_questions_per_topic = 2;
    }
    return c;
  }
  if (name == "paper") {
    // The reference release: 1000 questions per topic by free sampling read
    // with the strict JSON rule, sampled answers at T=0.6, the reference
    // contrast rule, LLaMA-Factory's joint and specific settings, the
    // sampled evaluation protocol; an 8B model on a GPU.
    c.model_options.device = "cuda";
    c.generate.questions_per_topic = 1000;
    c.answer.mode = AnswerMode::sampled;
    c.contrast.rule = ContrastRule::reference;
    c.tune_modes = {"joint", "specific"};
    c.tune_joint.save_steps = 50;
    c.tune_specific.save_steps = 50;
    c.evaluate.protocol = EvaluationProtocol::sampled;
    return c;
  }
  std::string valid;
  for (const auto& n : pipeline_config_presets()) valid += (valid.empty() ? "" : ", ") + n;
  throw ValueError("unknown preset '" + name + "' (presets: " + valid + ")");
}

PipelineConfig pipeline_config_from_json(const std::string& text, const std::string& source, const std::string& preset) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
    throw FormatError(source + ": not valid JSON: " + e.what());
  }
  return from_document(doc, source, preset, nullptr);
}

PipelineConfig pipeline_config_load(const std::string& path, const std::string& preset) {
  const std::string text = file_read_text(path);
  if (fs::path(path).extension() != ".toml") return pipeline_config_from_json(text, path, preset);
#if CULTURESPA_WITH_TOML
  std::map<std::string, int> lines;
  json doc;
  try {
    std::istringstream in(text);
    doc = toml_to_json(toml::parse(in, path), "", lines);
  } catch (const toml::exception& e) {
    throw FormatError(path + ": not valid TOML: " + e.what());
  } catch (const ConfigError& e) {
    throw ConfigError(path + ": " + e.what());
  }
  return from_document(doc, path, preset, &lines);
#else
  throw ConfigError(path + ": this build of culturespa reads JSON configs only (built without toml11: "
                    "apt-get install libtoml11-dev and rebuild), or write the same sections as JSON");
#endif
}

std::string pipeline_config_to_json(const PipelineConfig& config) {
  json doc = json::object();
  doc["preset"] = config.preset;
  for (const auto& section : schema()) {
    const auto dot = section.name.find('.');
    json& table = dot == std::string::npos ? doc[section.name] : doc[section.name.substr(0, dot)][section.name.substr(dot + 1)];
    if (table.is_null()) table = json::object();
    for (const auto& field : section.fields) table[field.name] = field.get(config);
  }
  return doc.dump(2) + "\n";
}

}  // namespace culturespa

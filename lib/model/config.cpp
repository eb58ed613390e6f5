#include "culturespa/model/config.h"

#include <nlohmann/json.hpp>

#include <filesystem>

#include "culturespa/core/error.h"

namespace culturespa {
namespace {

using json = nlohmann::json;

json json_load(const std::string& text, const std::string& path) {
  try {
    json root = json::parse(text);
    if (!root.is_object()) throw FormatError(path + " is not a JSON object");
    return root;
  } catch (const json::exception& e) {
    throw FormatError(path + " is not valid JSON: " + e.what());
  }
}

// Typed field access whose errors name the file and the field.
class Fields {
 public:
  Fields(const json& root, std::string path) : root_(root), path_(std::move(path)) {}

  bool has(const char* name) const { return root_.contains(name) && !root_[name].is_null(); }

  int64_t integer(const char* name) const {
    require(name);
    return as_integer(root_[name], name);
  }
  int64_t integer(const char* name, int64_t fallback) const {
    return has(name) ? as_integer(root_[name], name) : fallback;
  }
  int64_t positive(const char* name) const {
    const int64_t value = integer(name);
    if (value <= 0) bad(name, "must be positive");
    return value;
  }
  double number(const char* name, double fallback) const {
    if (!has(name)) return fallback;
    if (!root_[name].is_number()) bad(name, "must be a number");
    return root_[name].get<double>();
  }
  bool boolean(const char* name, bool fallback) const {
    if (!has(name)) return fallback;
    if (!root_[name].is_boolean()) bad(name, "must be true or false");
    return root_[name].get<bool>();
  }
  std::string string(const char* name, const std::string& fallback) const {
    if (!has(name)) return fallback;
    if (!root_[name].is_string()) bad(name, "must be a string");
    return root_[name].get<std::string>();
  }
  // An id or a list of ids ("eos_token_id": 2 or [128001, 128009]).
  std::vector<int64_t> ids(const char* name) const {
    std::vector<int64_t> out;
    if (!has(name)) return out;
    const json& value = root_[name];
    if (value.is_array()) {
      for (const auto& v : value) out.push_back(as_integer(v, name));
    } else {
      out.push_back(as_integer(value, name));
    }
    return out;
  }
  const json& at(const char* name) const { return root_[name]; }

  [[noreturn]] void bad(const std::string& name, const std::string& why) const {
    std::string shown = has(name.c_str()) ? root_[name].dump() : "missing";
    throw ConfigError(path_ + ": field '" + name + "' " + why + " (got " + shown + ")");
  }

 private:
  void require(const char* name) const {
    if (!has(name)) throw ConfigError(path_ + ": missing field '" + std::string(name) + "'");
  }
  int64_t as_integer(const json& value, const char* name) const {
    if (!value.is_number_integer()) bad(name, "must be an integer");
    return value.get<int64_t>();
  }

  const json& root_;
  std::string path_;
};

void rope_scaling_parse(const Fields& fields, const std::string& path, ModelConfig& config) {
  if (!fields.has("rope_scaling")) return;
  const json& spec = fields.at("rope_scaling");
  if (!spec.is_object()) fields.bad("rope_scaling", "must be an object or null");
  Fields rope(spec, path + " rope_scaling");
  // "type" is the field's older name.
  const std::string type = rope.string("rope_type", rope.string("type", ""));
  RopeScaling& scaling = config.rope_scaling;
  if (type == "default") return;
  if (type == "linear") {
    scaling.type = RopeScalingType::linear;
  } else if (type == "llama3") {
    scaling.type = RopeScalingType::llama3;
    scaling.low_freq_factor = rope.number("low_freq_factor", -1);
    scaling.high_freq_factor = rope.number("high_freq_factor", -1);
    scaling.original_max_position_embeddings = rope.integer("original_max_position_embeddings");
    if (scaling.low_freq_factor <= 0) rope.bad("low_freq_factor", "must be a positive number");
    if (scaling.high_freq_factor <= scaling.low_freq_factor)
      rope.bad("high_freq_factor", "must exceed low_freq_factor");
    if (scaling.original_max_position_embeddings <= 0)
      rope.bad("original_max_position_embeddings", "must be positive");
  } else {
    throw ConfigError(path + ": field 'rope_scaling' has unsupported type '" + type +
                      "' (supported: linear, llama3)");
  }
  scaling.factor = rope.number("factor", -1);
  if (scaling.factor <= 0) rope.bad("factor", "must be a positive number");
}

void generation_defaults(const Fields& fields, GenerationConfig& generation) {
  generation.eos_token_ids = fields.ids("eos_token_id");
  generation.bos_token_id = fields.integer("bos_token_id", -1);
  generation.pad_token_id = fields.integer("pad_token_id", -1);
}

void generation_config_load(const std::string& path, GenerationConfig& generation) {
  const json root = json_load(file_read_text(path), path);
  const Fields fields(root, path);
  if (fields.has("eos_token_id")) generation.eos_token_ids = fields.ids("eos_token_id");
  generation.bos_token_id = fields.integer("bos_token_id", generation.bos_token_id);
  generation.pad_token_id = fields.integer("pad_token_id", generation.pad_token_id);
  generation.do_sample = fields.boolean("do_sample", generation.do_sample);
  generation.temperature = fields.number("temperature", generation.temperature);
  generation.top_p = fields.number("top_p", generation.top_p);
  generation.top_k = fields.integer("top_k", generation.top_k);
  generation.max_new_tokens = fields.integer("max_new_tokens", generation.max_new_tokens);
}

}  // namespace

ModelConfig model_config_parse(const std::string& text, const std::string& path) {
  const json root = json_load(text, path);
  const Fields fields(root, path);
  ModelConfig config;
  config.json = text;

  if (!fields.has("architectures") || !fields.at("architectures").is_array() ||
      fields.at("architectures").size() != 1 || !fields.at("architectures")[0].is_string()) {
    fields.bad("architectures", "must list exactly one architecture");
  }
  config.architecture = fields.at("architectures")[0].get<std::string>();
  const std::string& arch = config.architecture;
  if (arch == "LlamaForCausalLM") config.model_type = "llama";
  else if (arch == "MistralForCausalLM") config.model_type = "mistral";
  else if (arch == "Qwen2ForCausalLM") config.model_type = "qwen2";
  else if (arch == "Qwen3ForCausalLM") config.model_type = "qwen3";
  else {
    throw ConfigError(path + ": unsupported architecture '" + arch +
                      "' (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, "
                      "Qwen3ForCausalLM)");
  }

  config.vocab_size = fields.positive("vocab_size");
  config.hidden_size = fields.positive("hidden_size");
  config.intermediate_size = fields.positive("intermediate_size");
  config.num_hidden_layers = fields.positive("num_hidden_layers");
  config.num_attention_heads = fields.positive("num_attention_heads");
  config.num_key_value_heads = fields.integer("num_key_value_heads", config.num_attention_heads);
  if (config.num_key_value_heads <= 0 || config.num_attention_heads % config.num_key_value_heads != 0)
    fields.bad("num_key_value_heads", "must be positive and divide num_attention_heads");
  config.head_dim = fields.integer("head_dim", 0);
  if (config.head_dim == 0) {
    if (config.hidden_size % config.num_attention_heads != 0)
      fields.bad("num_attention_heads", "must divide hidden_size when head_dim is not given");
    config.head_dim = config.hidden_size / config.num_attention_heads;
  }
  if (config.head_dim <= 0 || config.head_dim % 2 != 0) fields.bad("head_dim", "must be positive and even");
  config.max_position_embeddings = fields.integer("max_position_embeddings", 2048);
  config.rms_norm_eps = fields.number("rms_norm_eps", 1e-6);
  if (config.rms_norm_eps <= 0) fields.bad("rms_norm_eps", "must be positive");
  config.rope_theta = fields.number("rope_theta", 10000.0);
  if (config.rope_theta <= 0) fields.bad("rope_theta", "must be positive");
  rope_scaling_parse(fields, path, config);
  config.tie_word_embeddings = fields.boolean("tie_word_embeddings", false);
  config.torch_dtype = fields.string("torch_dtype", "");

  const std::string act = fields.string("hidden_act", "silu");
  if (act != "silu") fields.bad("hidden_act", "is unsupported (only silu)");

  if (config.model_type == "llama") {
    config.qkv_bias = config.o_bias = fields.boolean("attention_bias", false);
    config.mlp_bias = fields.boolean("mlp_bias", false);
  } else if (config.model_type == "qwen2") {
    config.qkv_bias = true;
    if (fields.boolean("use_sliding_window", false))
      fields.bad("use_sliding_window", "is unsupported for Qwen2ForCausalLM");
  } else if (config.model_type == "qwen3") {
    config.qkv_bias = config.o_bias = fields.boolean("attention_bias", false);
    config.qk_norm = true;
    if (fields.boolean("use_sliding_window", false))
      fields.bad("use_sliding_window", "is unsupported for Qwen3ForCausalLM");
  } else if (config.model_type == "mistral") {
    config.sliding_window = fields.integer("sliding_window", 0);
    if (config.sliding_window < 0) fields.bad("sliding_window", "must be positive or null");
  }
  generation_defaults(fields, config.generation);
  return config;
}

ModelConfig model_config_load(const std::string& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir))
    throw FileError(FileError::Kind::not_found, dir, "checkpoint folder not found: " + dir);
  const std::string path = (fs::path(dir) / "config.json").string();
  file_require_exists(path, "checkpoint config");
  ModelConfig config = model_config_parse(file_read_text(path), path);
  const std::string generation_path = (fs::path(dir) / "generation_config.json").string();
  if (fs::exists(generation_path)) generation_config_load(generation_path, config.generation);
  return config;
}

}  // namespace culturespa

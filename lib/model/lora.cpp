#include "culturespa/model/lora.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>

#include "culturespa/core/dir_replace.h"
#include "culturespa/core/enum_names.h"
#include "culturespa/core/error.h"
#include "culturespa/model/safetensors.h"

namespace culturespa {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr auto kTargetNames = enum_names<LoraTarget>("LoRA target module", {{LoraTarget::q_proj, "q_proj"},
                                                                          {LoraTarget::k_proj, "k_proj"},
                                                                          {LoraTarget::v_proj, "v_proj"},
                                                                          {LoraTarget::o_proj, "o_proj"},
                                                                          {LoraTarget::gate_proj, "gate_proj"},
                                                                          {LoraTarget::up_proj, "up_proj"},
                                                                          {LoraTarget::down_proj, "down_proj"}});
constexpr const char* kTensorPrefix = "base_model.model.model.layers.";

bool is_attention(LoraTarget t) { return t <= LoraTarget::o_proj; }

// The module's full name as PEFT's patterns see it.
std::string module_name(int64_t layer, LoraTarget target) {
  return "model.layers." + std::to_string(layer) + (is_attention(target) ? ".self_attn." : ".mlp.") +
         lora_target_name(target);
}

// PEFT 0.13's rule: the first pattern key k with re.match(".*\.k$", name).
template <typename Value>
const Value* pattern_find(const std::map<std::string, Value>& patterns, const std::string& name) {
  for (const auto& [key, value] : patterns)
    if (std::regex_match(name, std::regex(".*\\." + key))) return &value;
  return nullptr;
}

// [in, out] of a target in `model`.
std::pair<int64_t, int64_t> target_shape(const ModelConfig& c, LoraTarget t) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const int64_t q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  switch (t) {
    case LoraTarget::q_proj: return {H, q};
    case LoraTarget::k_proj: return {H, kv};
    case LoraTarget::v_proj: return {H, kv};
    case LoraTarget::o_proj: return {q, H};
    case LoraTarget::gate_proj: return {H, I};
    case LoraTarget::up_proj: return {H, I};
    case LoraTarget::down_proj: return {I, H};
  }
  return {0, 0};
}

std::vector<LoraTarget> targets_parse(const json& value, const std::string& path) {
  std::vector<LoraTarget> targets;
  if (value.is_string()) {
    const std::string text = value.get<std::string>();
    if (text == "all-linear") return lora_targets_all();
    // A regular expression PEFT matches against the full module name.
    std::regex pattern;
    try {
      pattern = std::regex(text);
    } catch (const std::regex_error&) {
      throw ConfigError(path + ": target_modules '" + text + "' is not a valid regular expression");
    }
    for (const LoraTarget t : lora_targets_all())
      if (std::regex_match(module_name(0, t), pattern)) targets.push_back(t);
    if (targets.empty())
      throw ConfigError(path + ": target_modules '" + text +
                        "' matches none of the model's linear layers (q_proj, k_proj, v_proj, o_proj, gate_proj, "
                        "up_proj, down_proj)");
    return targets;
  }
  if (!value.is_array()) throw ConfigError(path + ": target_modules must be a list of module names or a string");
  for (const auto& item : value) {
    if (!item.is_string()) throw ConfigError(path + ": target_modules holds a non-string entry");
    try {
      targets.push_back(lora_target_from_name(item.get<std::string>()));
    } catch (const ConfigError& e) {
      throw ConfigError(path + ": target_modules: " + e.what());
    }
  }
  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  return targets;
}

}  // namespace

const char* lora_target_name(LoraTarget target) { return kTargetNames.name(target); }

LoraTarget lora_target_from_name(const std::string& name) {
  // A ConfigError (a bad adapter_config.json), not the table's ValueError.
  if (const auto target = kTargetNames.find(name)) return *target;
  throw ConfigError("LoRA target module '" + name + "' is not in the model (its linear layers: " +
                    kTargetNames.joined() + ")");
}

const std::vector<LoraTarget>& lora_targets_all() {
  static const std::vector<LoraTarget> all = kTargetNames.values();
  return all;
}

std::string lora_tensor_name(int64_t layer, LoraTarget target, bool b) {
  return std::string("base_model.model.") + module_name(layer, target) + (b ? ".lora_B.weight" : ".lora_A.weight");
}

int64_t LoraConfig::rank_of(int64_t layer, LoraTarget target) const {
  const int64_t* found = pattern_find(rank_pattern, module_name(layer, target));
  return found ? *found : r;
}

double LoraConfig::scale_of(int64_t layer, LoraTarget target) const {
  const std::string name = module_name(layer, target);
  const int64_t* rank = pattern_find(rank_pattern, name);
  const double* alpha_found = pattern_find(alpha_pattern, name);
  const double rk = static_cast<double>(rank ? *rank : r), a = alpha_found ? *alpha_found : alpha;
  return use_rslora ? a / std::sqrt(rk) : a / rk;
}

LoraConfig lora_config_parse(const std::string& text, const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw FormatError(path + " is not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw FormatError(path + " is not a JSON object");
  const auto field = [&](const char* name) -> const json* {
    const auto it = j.find(name);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  };
  const auto refuse_unless = [&](const char* name, bool ok, const std::string& why) {
    if (!ok) throw ConfigError(path + ": " + name + " " + why);
  };
  LoraConfig c;
  if (const json* v = field("peft_type"))
    refuse_unless("peft_type", v->is_string() && v->get<std::string>() == "LORA",
                  "is " + v->dump() + "; only LORA adapters are supported");
  bool use_dora = false, fan_in_fan_out = false;
  try {
    // A rank is an integer (nlohmann would truncate 8.5 or wrap 1e30 silently).
    if (const json* v = field("r")) {
      refuse_unless("r", v->is_number_integer(), "must be an integer, got " + v->dump());
      c.r = v->get<int64_t>();
    }
    if (const json* v = field("lora_alpha")) c.alpha = v->get<double>();
    if (const json* v = field("lora_dropout")) c.dropout = v->get<double>();
    if (const json* v = field("use_rslora")) c.use_rslora = v->get<bool>();
    if (const json* v = field("use_dora")) use_dora = v->get<bool>();
    if (const json* v = field("fan_in_fan_out")) fan_in_fan_out = v->get<bool>();
    if (const json* v = field("base_model_name_or_path")) c.base_model_name_or_path = v->get<std::string>();
    if (const json* v = field("rank_pattern")) {
      refuse_unless("rank_pattern", v->is_object(), "must be an object of module patterns to ranks");
      for (const auto& [pattern, rank] : v->items())
        refuse_unless("rank_pattern", rank.is_number_integer() && rank.get<int64_t>() >= 1,
                      "gives '" + pattern + "' the rank " + rank.dump() + "; ranks are integers >= 1");
      c.rank_pattern = v->get<std::map<std::string, int64_t>>();
    }
    if (const json* v = field("alpha_pattern")) c.alpha_pattern = v->get<std::map<std::string, double>>();
  } catch (const json::exception& e) {
    throw ConfigError(path + ": a field has the wrong type: " + e.what());
  }
  refuse_unless("r", c.r >= 1, "must be >= 1, got " + std::to_string(c.r));
  refuse_unless("lora_dropout", c.dropout >= 0.0 && c.dropout < 1.0, "must be in [0, 1)");
  if (const json* v = field("target_modules")) c.targets = targets_parse(*v, path);
  refuse_unless("use_dora", !use_dora, "is true: DoRA is not supported");
  if (const json* v = field("bias"))
    refuse_unless("bias", v->is_string() && v->get<std::string>() == "none",
                  "is " + v->dump() + "; only \"none\" is supported (no trained biases)");
  refuse_unless("fan_in_fan_out", !fan_in_fan_out, "is true; LLaMA-family linear layers are not Conv1D");
  if (const json* v = field("modules_to_save"))
    refuse_unless("modules_to_save", v->is_array() && v->empty(),
                  "lists " + v->dump() + "; adapters that replace whole modules are not supported");
  refuse_unless("layer_replication", field("layer_replication") == nullptr,
                "is set; layer replication is not supported");
  return c;
}

std::string lora_config_json(const LoraConfig& c) {
  json targets = json::array();
  for (const LoraTarget t : c.targets) targets.push_back(lora_target_name(t));
  const json j = {
      {"alpha_pattern", c.alpha_pattern},
      {"auto_mapping", nullptr},
      {"base_model_name_or_path", c.base_model_name_or_path.empty() ? json(nullptr) : json(c.base_model_name_or_path)},
      {"bias", "none"},
      {"fan_in_fan_out", false},
      {"inference_mode", true},
      {"init_lora_weights", true},
      {"layer_replication", nullptr},
      {"layers_pattern", nullptr},
      {"layers_to_transform", nullptr},
      {"loftq_config", json::object()},
      {"lora_alpha", c.alpha},
      {"lora_dropout", c.dropout},
      {"megatron_config", nullptr},
      {"megatron_core", "megatron.core"},
      {"modules_to_save", nullptr},
      {"peft_type", "LORA"},
      {"r", c.r},
      {"rank_pattern", c.rank_pattern},
      {"revision", nullptr},
      {"target_modules", targets},
      {"task_type", "CAUSAL_LM"},
      {"use_dora", false},
      {"use_rslora", c.use_rslora},
  };
  return j.dump(2) + "\n";
}

const LoraModule* LoraAdapter::find(int64_t layer, LoraTarget target) const {
  for (const LoraModule& m : modules)
    if (m.layer == layer && m.target == target) return &m;
  return nullptr;
}

int64_t LoraAdapter::parameter_count() const {
  int64_t n = 0;
  for (const LoraModule& m : modules) n += m.a.numel() + m.b.numel();
  return n;
}

LoraAdapter lora_adapter_read(const std::string& dir, const ModelConfig& model) {
  const std::string config_path = (fs::path(dir) / "adapter_config.json").string();
  const std::string weights_path = (fs::path(dir) / "adapter_model.safetensors").string();
  file_require_exists(config_path, "LoRA adapter config");
  if (!fs::exists(weights_path) && fs::exists(fs::path(dir) / "adapter_model.bin"))
    throw FileError(FileError::Kind::not_found, weights_path,
                    "LoRA adapter " + dir +
                        " holds adapter_model.bin (pickle), which culturespa does not read: save it with "
                        "safe_serialization=True (PEFT's default) to get adapter_model.safetensors");
  file_require_exists(weights_path, "LoRA adapter weights");
  LoraAdapter adapter;
  adapter.path = dir;
  adapter.config = lora_config_parse(file_read_text(config_path), config_path);
  const LoraConfig& config = adapter.config;
  const SafetensorsFile file(weights_path);

  // Group the tensors by module; names are "<prefix><layer>.<block>.<module>.lora_<A|B>[.<adapter>].weight".
  static const std::regex name_rule(
      R"(base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.([A-Za-z0-9_]+)\.lora_([AB])(\.[A-Za-z0-9_]+)?\.weight)");
  std::map<std::pair<int64_t, LoraTarget>, LoraModule> found;
  for (const SafetensorsEntry& entry : file.tensors()) {
    std::smatch m;
    if (!std::regex_match(entry.name, m, name_rule)) {
      const bool lora = entry.name.find("lora_") != std::string::npos;
      throw ConfigError("LoRA adapter " + weights_path + ": tensor '" + entry.name + "' " +
                        (lora ? "adapts a module the model lacks (LoRA applies to the decoder layers' q_proj, "
                                "k_proj, v_proj, o_proj, gate_proj, up_proj and down_proj)"
                              : "is not a LoRA A/B weight (trained biases and saved modules are not supported)"));
    }
    // Layer numbers past any model's depth (a 30-digit one included) are refused by lora_adapter_check.
    const int64_t layer = m[1].length() > 9 ? std::numeric_limits<int64_t>::max() : std::stoll(m[1].str());
    LoraTarget target;
    try {
      target = lora_target_from_name(m[3].str());
    } catch (const ConfigError& e) {
      throw ConfigError("LoRA adapter " + weights_path + ": tensor '" + entry.name + "': " + e.what());
    }
    if (is_attention(target) != (m[2].str() == "self_attn"))
      throw ConfigError("LoRA adapter " + weights_path + ": tensor '" + entry.name + "' puts " + m[3].str() +
                        " in the wrong block");
    if (entry.shape.size() != 2)
      throw ConfigError("LoRA adapter " + weights_path + ": tensor '" + entry.name + "' is not 2-D");
    LoraModule& module = found[{layer, target}];
    module.layer = layer;
    module.target = target;
    (m[4].str() == "A" ? module.a : module.b) = file.tensor(entry.name);
  }
  if (found.empty()) throw ConfigError("LoRA adapter " + weights_path + " holds no LoRA tensors");

  for (auto& [key, module] : found) {
    const auto [layer, target] = key;
    const std::string name_a = lora_tensor_name(layer, target, false), name_b = lora_tensor_name(layer, target, true);
    if (!module.a.defined() || !module.b.defined())
      throw ConfigError("LoRA adapter " + weights_path + ": '" + (module.a.defined() ? name_b : name_a) +
                        "' is missing (each module needs lora_A and lora_B)");
    if (std::find(config.targets.begin(), config.targets.end(), target) == config.targets.end())
      throw ConfigError("LoRA adapter " + weights_path + ": tensor '" + name_a + "' adapts " +
                        lora_target_name(target) + ", which " + config_path + "'s target_modules does not list");
    module.scale = config.scale_of(layer, target);
    adapter.modules.push_back(std::move(module));
  }
  lora_adapter_check(adapter, model, weights_path);
  return adapter;
}

void lora_adapter_check(const LoraAdapter& adapter, const ModelConfig& model, const std::string& source) {
  const LoraConfig& config = adapter.config;
  for (const LoraModule& module : adapter.modules) {
    const int64_t layer = module.layer;
    const LoraTarget target = module.target;
    const std::string name_a = lora_tensor_name(layer, target, false);
    if (layer < 0 || layer >= model.num_hidden_layers)
      throw ConfigError("LoRA adapter " + source + ": '" + name_a + "' adapts layer " + std::to_string(layer) +
                        " but the base model has " + std::to_string(model.num_hidden_layers) +
                        " layers: the adapter was made for another base model");
    if (!module.a.defined() || !module.b.defined() || module.a.dim() != 2 || module.b.dim() != 2)
      throw ConfigError("LoRA adapter " + source + ": '" + name_a + "' needs 2-D lora_A and lora_B tensors");
    const auto [in, out] = target_shape(model, target);
    const int64_t rank = config.rank_of(layer, target);
    if (module.a.size(0) != rank || module.b.size(1) != rank)
      throw ConfigError("LoRA adapter " + source + ": '" + name_a + "' has rank " + std::to_string(module.a.size(0)) +
                        " (lora_B: " + std::to_string(module.b.size(1)) + ") but its config says r = " +
                        std::to_string(rank));
    if (module.a.size(1) != in || module.b.size(0) != out)
      throw ConfigError("LoRA adapter " + source + ": " + lora_target_name(target) + " of layer " +
                        std::to_string(layer) + " maps " + std::to_string(module.a.size(1)) + " -> " +
                        std::to_string(module.b.size(0)) + " features but the base model's maps " +
                        std::to_string(in) + " -> " + std::to_string(out) + " (hidden size " +
                        std::to_string(model.hidden_size) + "): the adapter was made for another base model");
    if (!at::isFloatingType(module.a.scalar_type()) || !at::isFloatingType(module.b.scalar_type()))
      throw ConfigError("LoRA adapter " + source + ": '" + name_a + "' is not a floating-point tensor");
  }
}

void lora_adapter_write(const std::string& dir, const LoraAdapter& adapter) {
  const fs::path target(dir);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const fs::path staging = target.string() + ".tmp." + std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(staging, ec);
  if (!fs::create_directories(staging, ec) && ec)
    throw FileError(FileError::Kind::io, dir, "cannot create " + staging.string() + ": " + ec.message());
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const LoraModule& m : adapter.modules) {
    tensors.emplace_back(lora_tensor_name(m.layer, m.target, false), m.a.detach());
    tensors.emplace_back(lora_tensor_name(m.layer, m.target, true), m.b.detach());
  }
  safetensors_write((staging / "adapter_model.safetensors").string(), tensors, {{"format", "pt"}});
  file_write_atomic((staging / "adapter_config.json").string(), lora_config_json(adapter.config));
  dir_replace_atomic(staging.string(), dir);
}

LoraAdapter lora_adapter_init(const ModelConfig& model, const LoraConfig& config, uint64_t seed, double b_std) {
  if (config.r < 1) throw ValueError("LoRA rank r must be >= 1, got " + std::to_string(config.r));
  at::Generator gen = at::detail::createCPUGenerator(seed);
  LoraAdapter adapter;
  adapter.config = config;
  for (int64_t layer = 0; layer < model.num_hidden_layers; ++layer) {
    for (const LoraTarget target : config.targets) {
      const auto [in, out] = target_shape(model, target);
      const int64_t rank = config.rank_of(layer, target);
      LoraModule m;
      m.layer = layer;
      m.target = target;
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));  // kaiming_uniform(a=sqrt(5)) on [r, in]
      m.a = at::empty({rank, in}, at::kFloat).uniform_(-bound, bound, gen);
      m.b = b_std > 0 ? at::empty({out, rank}, at::kFloat).normal_(0.0, b_std, gen) : at::zeros({out, rank}, at::kFloat);
      m.scale = config.scale_of(layer, target);
      adapter.modules.push_back(std::move(m));
    }
  }
  return adapter;
}

}  // namespace culturespa

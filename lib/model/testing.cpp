#include "culturespa/model/testing.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <utility>
#include <vector>

#include "culturespa/core/error.h"
#include "culturespa/model/safetensors.h"

namespace culturespa {
namespace {

using json = nlohmann::json;

const char* torch_dtype_name(const std::string& dtype) {
  if (dtype == "F32") return "float32";
  if (dtype == "F16") return "float16";
  if (dtype == "BF16") return "bfloat16";
  throw ConfigError("testing checkpoint: dtype must be F32, F16 or BF16, got '" + dtype + "'");
}

json config_json(const TestCheckpointOptions& o, int64_t head_dim) {
  const std::string& arch = o.architecture;
  std::string model_type;
  if (arch == "LlamaForCausalLM") model_type = "llama";
  else if (arch == "MistralForCausalLM") model_type = "mistral";
  else if (arch == "Qwen2ForCausalLM") model_type = "qwen2";
  else if (arch == "Qwen3ForCausalLM") model_type = "qwen3";
  else throw ConfigError("testing checkpoint: unsupported architecture '" + arch + "'");
  json c = {
      {"architectures", {arch}},
      {"model_type", model_type},
      {"vocab_size", o.vocab_size},
      {"hidden_size", o.hidden_size},
      {"intermediate_size", o.intermediate_size},
      {"num_hidden_layers", o.num_hidden_layers},
      {"num_attention_heads", o.num_attention_heads},
      {"num_key_value_heads", o.num_key_value_heads},
      {"head_dim", head_dim},
      {"hidden_act", "silu"},
      {"max_position_embeddings", o.max_position_embeddings},
      {"rms_norm_eps", o.rms_norm_eps},
      {"rope_theta", o.rope_theta},
      {"rope_scaling", nullptr},
      {"tie_word_embeddings", o.tie_word_embeddings},
      {"torch_dtype", torch_dtype_name(o.dtype)},
      {"bos_token_id", 1},
      {"eos_token_id", 2},
      {"initializer_range", 0.02},
      {"use_cache", true},
      {"attention_dropout", 0.0},
  };
  if (model_type == "llama" || model_type == "qwen3") {
    c["attention_bias"] = o.attention_bias;
    if (model_type == "llama") c["mlp_bias"] = false;
  }
  if (model_type == "mistral") c["sliding_window"] = o.sliding_window > 0 ? json(o.sliding_window) : json(nullptr);
  if (model_type == "qwen2") {
    // Qwen2's config has no head_dim: it is always hidden_size / num_attention_heads.
    if (head_dim * o.num_attention_heads != o.hidden_size)
      throw ConfigError("testing checkpoint: Qwen2ForCausalLM needs head_dim = hidden_size / num_attention_heads");
    c.erase("head_dim");
  }
  if (model_type == "qwen2" || model_type == "qwen3") {
    c["use_sliding_window"] = false;
    c["sliding_window"] = nullptr;
    c["max_window_layers"] = o.num_hidden_layers;
  }
  if (o.rope_scaling == "linear") {
    c["rope_scaling"] = {{"rope_type", "linear"}, {"factor", o.rope_scaling_factor}};
  } else if (o.rope_scaling == "llama3") {
    c["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", o.rope_scaling_factor},
                         {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0},
                         {"original_max_position_embeddings", std::max<int64_t>(o.max_position_embeddings / 8, 16)}};
  } else if (!o.rope_scaling.empty()) {
    throw ConfigError("testing checkpoint: rope_scaling must be '', 'linear' or 'llama3', got '" +
                      o.rope_scaling + "'");
  }
  return c;
}

}  // namespace

int64_t testing_checkpoint_write(const std::string& dir, const TestCheckpointOptions& o) {
  namespace fs = std::filesystem;
  c10::InferenceMode guard;
  if (o.shards < 1) throw ValueError("testing checkpoint: shards must be >= 1, got " + std::to_string(o.shards));
  const int64_t hd = o.head_dim > 0 ? o.head_dim : o.hidden_size / o.num_attention_heads;
  const json config = config_json(o, hd);
  const at::ScalarType file_type = o.dtype == "F32" ? at::kFloat : o.dtype == "F16" ? at::kHalf : at::kBFloat16;
  fs::create_directories(dir);

  at::Generator gen = at::detail::createCPUGenerator(o.seed);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, double std, double mean = 0.0) {
    at::Tensor t = at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat)).mul_(std).add_(mean);
    tensors.emplace_back(name, t.to(file_type));
  };
  const int64_t H = o.hidden_size, I = o.intermediate_size;
  const int64_t q_out = o.num_attention_heads * hd, kv_out = o.num_key_value_heads * hd;
  const bool qkv_bias = o.architecture == "Qwen2ForCausalLM" || o.attention_bias;
  const bool o_bias = o.attention_bias && o.architecture != "Qwen2ForCausalLM";
  add("model.embed_tokens.weight", {o.vocab_size, H}, 1.0);
  for (int64_t i = 0; i < o.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {H}, 0.1, 1.0);
    for (const auto& [proj, rows] : {std::pair<const char*, int64_t>{"q", q_out}, {"k", kv_out}, {"v", kv_out}}) {
      add(p + "self_attn." + proj + "_proj.weight", {rows, H}, 1.0 / std::sqrt(double(H)));
      if (qkv_bias) add(p + "self_attn." + proj + "_proj.bias", {rows}, 0.1);
    }
    if (o.architecture == "Qwen3ForCausalLM") {
      add(p + "self_attn.q_norm.weight", {hd}, 0.1, 1.0);
      add(p + "self_attn.k_norm.weight", {hd}, 0.1, 1.0);
    }
    add(p + "self_attn.o_proj.weight", {H, q_out}, 1.0 / std::sqrt(double(q_out)));
    if (o_bias) add(p + "self_attn.o_proj.bias", {H}, 0.1);
    add(p + "post_attention_layernorm.weight", {H}, 0.1, 1.0);
    add(p + "mlp.gate_proj.weight", {I, H}, 1.0 / std::sqrt(double(H)));
    add(p + "mlp.up_proj.weight", {I, H}, 1.0 / std::sqrt(double(H)));
    add(p + "mlp.down_proj.weight", {H, I}, 1.0 / std::sqrt(double(I)));
  }
  add("model.norm.weight", {H}, 0.1, 1.0);
  if (!o.tie_word_embeddings) add("lm_head.weight", {o.vocab_size, H}, 1.0 / std::sqrt(double(H)));

  int64_t total = 0;
  for (const auto& [name, t] : tensors) total += static_cast<int64_t>(t.numel() * t.element_size());
  const std::map<std::string, std::string> metadata = {{"format", "pt"}};
  // Remove what a previous write with another layout left behind.
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("model", 0) == 0 && (name.find(".safetensors") != std::string::npos)) fs::remove(entry.path());
  }
  if (o.shards == 1) {
    safetensors_write((fs::path(dir) / "model.safetensors").string(), tensors, metadata);
  } else {
    // Contiguous runs of tensors of about equal byte size per shard.
    json weight_map = json::object();
    const int64_t per_shard = (total + o.shards - 1) / o.shards;
    std::size_t next = 0;
    for (int s = 0; s < o.shards; ++s) {
      char name[64];
      std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, o.shards);
      std::vector<std::pair<std::string, at::Tensor>> shard;
      int64_t bytes = 0;
      while (next < tensors.size() && (bytes < per_shard || s == o.shards - 1)) {
        bytes += static_cast<int64_t>(tensors[next].second.numel() * tensors[next].second.element_size());
        weight_map[tensors[next].first] = name;
        shard.push_back(tensors[next++]);
      }
      safetensors_write((fs::path(dir) / name).string(), shard, metadata);
    }
    const json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    file_write_atomic((fs::path(dir) / "model.safetensors.index.json").string(), index.dump(2));
  }
  file_write_atomic((fs::path(dir) / "config.json").string(), config.dump(2));
  const json generation = {{"bos_token_id", 1}, {"eos_token_id", 2}, {"do_sample", false}};
  file_write_atomic((fs::path(dir) / "generation_config.json").string(), generation.dump(2));
  return total;
}

}  // namespace culturespa

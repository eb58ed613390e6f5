// culturespa/model/config.h: a Hugging Face checkpoint's config.json (and
// generation_config.json when present), checked against what Model runs.
//
// Supported: LlamaForCausalLM (LLaMA-1/2/3/3.1, TinyLlama, SmolLM; rope_scaling
// of type "linear" or "llama3"), MistralForCausalLM (sliding window),
// Qwen2ForCausalLM (q/k/v biases), Qwen3ForCausalLM (per-head q/k RMSNorm).
// Anything else (another architecture, hidden_act other than silu, another
// rope_scaling type, ...) is refused with a ConfigError naming the file and
// the field.
#pragma once

#include <cstdint>
#include <string>
#include <vector>
#include "culturespa/core/export.h"

namespace culturespa {

enum class RopeScalingType { none, linear, llama3 };

struct CULTURESPA_API RopeScaling {
  RopeScalingType type = RopeScalingType::none;
  double factor = 1.0;
  double low_freq_factor = 1.0;                 // llama3 only
  double high_freq_factor = 4.0;                // llama3 only
  int64_t original_max_position_embeddings = 0;  // llama3 only
};

struct CULTURESPA_API GenerationConfig {
  std::vector<int64_t> eos_token_ids;  // from generation_config.json, else config.json
  int64_t bos_token_id = -1;           // -1: none
  int64_t pad_token_id = -1;
  bool do_sample = false;
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t top_k = 0;  // 0: off
  int64_t max_new_tokens = 0;  // 0: not given
};

struct CULTURESPA_API ModelConfig {
  std::string architecture;  // "LlamaForCausalLM", ...
  std::string model_type;    // "llama", "mistral", "qwen2", "qwen3"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // defaults to num_attention_heads
  int64_t head_dim = 0;             // defaults to hidden_size / num_attention_heads
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;       // Qwen2 always; Llama's attention_bias
  bool o_bias = false;         // Llama's attention_bias
  bool mlp_bias = false;       // Llama's mlp_bias
  bool qk_norm = false;        // Qwen3
  int64_t sliding_window = 0;  // 0: full attention
  std::string torch_dtype;     // as written ("float32", "bfloat16", ...), may be empty
  GenerationConfig generation;
  std::string json;  // config.json as read
};

// Reads and checks `dir`/config.json and, when present, generation_config.json.
CULTURESPA_API ModelConfig model_config_load(const std::string& dir);

// Parses config.json text; `path` names it in errors.
CULTURESPA_API ModelConfig model_config_parse(const std::string& text, const std::string& path);

}  // namespace culturespa

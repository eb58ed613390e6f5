// culturespa/model/testing.h: random-initialised checkpoints for tests,
// examples and benchmarks, in the real Hugging Face layout (config.json,
// model.safetensors or shards with model.safetensors.index.json,
// generation_config.json), so that nothing needs downloading.
//
// The weights are seeded and scaled so that activations stay of order one:
// embeddings N(0, 1), projections N(0, 1/in_features), norms 1 + N(0, 0.1^2),
// biases N(0, 0.1^2). Logits then differ clearly between tokens, which keeps
// greedy decoding comparisons between implementations free of near-ties.
#pragma once

#include <cstdint>
#include <string>
#include "culturespa/core/export.h"

namespace culturespa {

struct CULTURESPA_API TestCheckpointOptions {
  std::string architecture = "LlamaForCausalLM";  // or MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM
  int64_t vocab_size = 256;
  int64_t hidden_size = 64;
  int64_t intermediate_size = 128;
  int64_t num_hidden_layers = 2;
  int64_t num_attention_heads = 4;
  int64_t num_key_value_heads = 2;
  int64_t head_dim = 0;                 // 0: hidden_size / num_attention_heads
  int64_t max_position_embeddings = 2048;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-5;
  std::string rope_scaling = "";        // "", "linear" or "llama3"
  double rope_scaling_factor = 4.0;     // for "linear" and "llama3"
  bool tie_word_embeddings = false;
  bool attention_bias = false;          // Llama's q/k/v/o biases (Qwen2 always has q/k/v biases)
  int64_t sliding_window = 0;           // Mistral; 0 writes null
  std::string dtype = "F32";            // file dtype: F32, F16 or BF16
  int shards = 1;                       // > 1: model-0000i-of-0000n.safetensors + index
  uint64_t seed = 0;
};

// Writes the checkpoint into `dir` (created when missing); returns the bytes
// of the weights written.
CULTURESPA_API int64_t testing_checkpoint_write(const std::string& dir, const TestCheckpointOptions& options = {});

}  // namespace culturespa

// GGUF tensors dequantised, and the model configuration and Hugging Face
// names of a llama GGUF file (culturespa/model/gguf.h).
#include "culturespa/model/gguf.h"

#include <ATen/Functions.h>
#include <ATen/TensorOperators.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <map>
#include <regex>

#include "culturespa/core/error.h"

namespace culturespa {
namespace {

[[noreturn]] void gguf_error(const std::string& path, const std::string& what) {
  throw FormatError("GGUF file " + path + ": " + what);
}

// The shortest decimal that reads back as the same float32: GGUF stores
// 1e-5 as the float32 9.99999974e-06, config.json says 1e-05.
double float32_shortest(double value) {
  char text[64];
  const auto result = std::to_chars(text, text + sizeof(text), static_cast<float>(value));
  return std::strtod(std::string(text, result.ptr).c_str(), nullptr);
}

}  // namespace

bool ggml_type_dequantisable(GgmlType type) {
  switch (type) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16:
    case GgmlType::Q8_0: case GgmlType::Q4_0: case GgmlType::Q4_1: return true;
    default: return false;
  }
}

at::Tensor gguf_tensor(const GgufFile& file, const std::string& name) {
  const std::string_view bytes = file.tensor_bytes(name);
  return gguf_dequantize(bytes.data(), *file.find_tensor(name), file.path());
}

at::Tensor gguf_dequantize(const void* bytes, const GgufTensorInfo& info, const std::string& path) {
  c10::InferenceMode guard;
  if (!ggml_type_dequantisable(info.type))
    gguf_error(path, "tensor '" + info.name + "' has type " + ggml_type_name(info.type) +
                         ", which culturespa does not dequantise (F32, F16, BF16, Q8_0, Q4_0, Q4_1)");
  const int64_t block_bytes = static_cast<int64_t>(ggml_block_bytes(info.type));
  const int64_t blocks = static_cast<int64_t>(info.bytes) / block_bytes;
  // A private copy of the raw blocks: the mapping is read-only and may be unaligned for 2-byte views.
  at::Tensor raw = at::empty({blocks, block_bytes}, at::kByte);
  std::memcpy(raw.data_ptr(), bytes, info.bytes);
  auto half_at = [&](int64_t column) {  // the fp16 scale stored at byte `column` of each block, as float32 [blocks, 1]
    return raw.narrow(1, column, 2).contiguous().view(at::kHalf).to(at::kFloat);
  };
  auto nibbles = [&](int64_t column) {  // 16 bytes of packed 4-bit values: low nibbles are elements 0..15, high 16..31
    const at::Tensor packed = raw.narrow(1, column, 16);
    return at::cat({packed.bitwise_and(0x0F), packed.bitwise_right_shift(4)}, 1);
  };
  at::Tensor out;
  // The arithmetic follows ggml's reference dequantisation in float32, one
  // rounding per operation (x = d * q, x = d * q + m), so results are exact
  // against gguf.quants.dequantize.
  switch (info.type) {
    case GgmlType::F32: out = raw.view(at::kFloat).clone(); break;
    case GgmlType::F16: out = raw.view(at::kHalf).to(at::kFloat); break;
    case GgmlType::BF16: out = raw.view(at::kBFloat16).to(at::kFloat); break;
    case GgmlType::Q8_0: out = half_at(0) * raw.narrow(1, 2, 32).contiguous().view(at::kChar).to(at::kFloat); break;
    case GgmlType::Q4_0: out = half_at(0) * (nibbles(2).to(at::kFloat) - 8.0f); break;
    case GgmlType::Q4_1: out = at::add(half_at(0) * nibbles(4).to(at::kFloat), half_at(2)); break;
    default: gguf_error(path, "tensor '" + info.name + "': unhandled type " + ggml_type_name(info.type));
  }
  return out.reshape(info.shape).contiguous();
}

// ---------------------------------------------------------------------------

std::string gguf_hf_tensor_name(const std::string& gguf_name) {
  static const std::map<std::string, std::string> top = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"output.weight", "lm_head.weight"},
  };
  static const std::map<std::string, std::string> block = {
      {"attn_norm", "input_layernorm"},         {"attn_q", "self_attn.q_proj"},
      {"attn_k", "self_attn.k_proj"},           {"attn_v", "self_attn.v_proj"},
      {"attn_output", "self_attn.o_proj"},      {"ffn_norm", "post_attention_layernorm"},
      {"ffn_gate", "mlp.gate_proj"},            {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"},
  };
  if (const auto it = top.find(gguf_name); it != top.end()) return it->second;
  static const std::regex pattern(R"(blk\.(\d+)\.([a-z_]+)\.weight)");
  std::smatch match;
  if (!std::regex_match(gguf_name, match, pattern)) return "";
  const auto it = block.find(match[2].str());
  return it == block.end() ? "" : "model.layers." + match[1].str() + "." + it->second + ".weight";
}

at::Tensor gguf_qk_unpermute(const at::Tensor& weight, int64_t heads) {
  const int64_t rows = weight.size(0);
  if (heads <= 0 || rows % (2 * heads) != 0)
    throw ValueError("a q/k weight of " + std::to_string(rows) + " rows does not split into " + std::to_string(heads) +
                     " heads of row pairs");
  const at::Tensor grouped = weight.reshape({heads, rows / heads / 2, 2, -1}).transpose(1, 2);
  return grouped.reshape(weight.sizes()).contiguous();
}

at::Tensor gguf_hf_tensor(const GgufFile& file, const std::string& gguf_name, const ModelConfig& config) {
  const std::string hf = gguf_hf_tensor_name(gguf_name);
  if (hf.empty()) gguf_error(file.path(), "tensor '" + gguf_name + "' has no Hugging Face LLaMA counterpart");
  at::Tensor weight = gguf_tensor(file, gguf_name);
  auto ends_with = [&](const std::string& suffix) {
    return hf.size() >= suffix.size() && hf.compare(hf.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".q_proj.weight")) return gguf_qk_unpermute(weight, config.num_attention_heads);
  if (ends_with(".k_proj.weight")) return gguf_qk_unpermute(weight, config.num_key_value_heads);
  return weight;
}

ModelConfig gguf_model_config(const GgufFile& file) {
  const std::string& path = file.path();
  const std::string arch = file.get_string("general.architecture");
  if (arch != "llama")
    throw ConfigError("GGUF file " + path + ": general.architecture is '" + arch +
                      "'; only 'llama' models are loaded");
  const int64_t hidden = file.get_integer("llama.embedding_length");
  const int64_t heads = file.get_integer("llama.attention.head_count");
  if (hidden <= 0 || heads <= 0 || hidden % heads != 0)
    throw ConfigError("GGUF file " + path + ": llama.embedding_length " + std::to_string(hidden) +
                      " is not a multiple of llama.attention.head_count " + std::to_string(heads));
  const int64_t head_dim = hidden / heads;
  const int64_t rope_dim = file.get_integer("llama.rope.dimension_count", head_dim);
  if (rope_dim != head_dim)
    throw ConfigError("GGUF file " + path + ": llama.rope.dimension_count " + std::to_string(rope_dim) +
                      " differs from the head size " + std::to_string(head_dim) +
                      " (partial rotary embeddings are not supported)");
  if (const GgufValue* scaling = file.find("llama.rope.scaling.type");
      scaling && !(scaling->type == GgufValueType::string && scaling->string == "none"))
    throw ConfigError("GGUF file " + path + ": metadata key 'llama.rope.scaling.type' (rope scaling) is not supported");
  int64_t vocab = file.get_integer("llama.vocab_size", 0);
  if (vocab == 0) {
    const GgufValue* tokens = file.find("tokenizer.ggml.tokens");
    if (!tokens || tokens->type != GgufValueType::array)
      throw ConfigError("GGUF file " + path + " has neither 'llama.vocab_size' nor a 'tokenizer.ggml.tokens' array");
    vocab = static_cast<int64_t>(tokens->count);
  }
  // Hugging Face's config.json of a LLaMA model, in its key order; the
  // fields GGUF does not store take the values of every llama.cpp-converted
  // LLaMA (no biases, no rope scaling).
  nlohmann::ordered_json config = {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"hidden_size", hidden},
      {"intermediate_size", file.get_integer("llama.feed_forward_length")},
      {"num_hidden_layers", file.get_integer("llama.block_count")},
      {"num_attention_heads", heads},
      {"num_key_value_heads", file.get_integer("llama.attention.head_count_kv", heads)},
      {"head_dim", head_dim},
      {"hidden_act", "silu"},
      {"max_position_embeddings", file.get_integer("llama.context_length")},
      {"rms_norm_eps", float32_shortest(file.get_number("llama.attention.layer_norm_rms_epsilon"))},
      {"rope_theta", float32_shortest(file.get_number("llama.rope.freq_base", 10000.0))},
      {"rope_scaling", nullptr},
      {"attention_bias", false},
      {"attention_dropout", 0.0},
      {"mlp_bias", false},
      {"initializer_range", 0.02},
      {"pretraining_tp", 1},
      {"vocab_size", vocab},
      {"tie_word_embeddings", file.find_tensor("output.weight") == nullptr},
      {"torch_dtype", "float32"},
      {"use_cache", true},
  };
  for (const auto& [key, field] : {std::pair<const char*, const char*>{"bos", "bos_token_id"},
                                   {"eos", "eos_token_id"}, {"padding", "pad_token_id"}}) {
    const std::string name = std::string("tokenizer.ggml.") + key + "_token_id";
    if (file.find(name)) config[field] = file.get_integer(name);
  }
  return model_config_parse(config.dump(2), path + " (metadata)");
}

}  // namespace culturespa

// culturespa/model/gguf.h: the tensors and model configuration of a GGUF
// file (culturespa/core/gguf.h reads the container), dequantised to float32.
//
// Dequantised types: F32, F16, BF16, Q8_0, Q4_0, Q4_1 (block layouts of
// ggml: docs/checkpoints.md). Other ggml types are recognised in the directory;
// reading one is a FormatError naming the tensor and its type.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "culturespa/core/export.h"
#include "culturespa/core/gguf.h"
#include "culturespa/model/config.h"

namespace culturespa {

// Whether gguf tensors of this type can be dequantised (F32, F16, BF16, Q8_0, Q4_0, Q4_1).
CULTURESPA_API bool ggml_type_dequantisable(GgmlType type);

// The tensor `name` of `file` dequantised to float32 on the CPU (a fresh
// tensor of its `shape`, rows as stored). FormatError naming the file and the
// tensor when it is absent or its type cannot be dequantised.
CULTURESPA_API at::Tensor gguf_tensor(const GgufFile& file, const std::string& name);

// Dequantises `bytes` (`info.bytes` of them, laid out as `info.type`) to a
// float32 tensor of `info.shape`. `path` names the file in errors.
CULTURESPA_API at::Tensor gguf_dequantize(const void* bytes, const GgufTensorInfo& info, const std::string& path);

// The model configuration of a llama-architecture GGUF file, as the
// Hugging Face config.json of the same model would give it: hidden size,
// layers, heads, key/value heads, feed-forward size, rope theta, RMSNorm
// epsilon, vocabulary (llama.vocab_size, else the token list), context,
// tied embeddings (no output.weight), bos/eos/pad ids. ConfigError naming the
// file and the key for another architecture, a missing key, partial rotary
// embeddings or rope scaling.
CULTURESPA_API ModelConfig gguf_model_config(const GgufFile& file);

// The Hugging Face LLaMA name of a GGUF tensor ("blk.3.attn_q.weight" ->
// "model.layers.3.self_attn.q_proj.weight"); "" when it has none.
CULTURESPA_API std::string gguf_hf_tensor_name(const std::string& gguf_name);

// llama.cpp's converter interleaves the two RoPE halves of each head's
// q_proj/k_proj rows (w.reshape(heads, 2, rows / heads / 2, cols)
// .swapaxes(1, 2)); this puts them back in Hugging Face order, as
// transformers' GGUF loader does. `heads`: query heads for q_proj, key/value
// heads for k_proj. ValueError when the rows do not split into `heads` pairs.
CULTURESPA_API at::Tensor gguf_qk_unpermute(const at::Tensor& weight, int64_t heads);

// The GGUF tensor `gguf_name` as the Hugging Face checkpoint of the same
// model holds it: float32, q_proj/k_proj rows un-permuted (heads from
// `config`). FormatError naming the file and the tensor when it is absent,
// cannot be dequantised or has no Hugging Face counterpart.
CULTURESPA_API at::Tensor gguf_hf_tensor(const GgufFile& file, const std::string& gguf_name, const ModelConfig& config);

}  // namespace culturespa

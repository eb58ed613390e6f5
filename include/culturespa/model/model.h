// culturespa/model/model.h: a LLaMA-family causal language model on LibTorch.
//
// Model loads a Hugging Face checkpoint folder (config.json, safetensors
// weights, generation_config.json; see config.h for the architectures) onto
// a device in a compute dtype, and runs forward passes over batches of token
// sequences with a KV cache.
//
// Batches use RIGHT padding: row b of `input_ids` [batch, T] holds
// lengths[b] new tokens followed by padding (any id), and the new tokens of
// row b take positions cache.length(b), cache.length(b) + 1, ... A typical
// generation loop (the Generator builds on this):
//
//   KVCache cache = model.cache_create(batch, prompt_max + max_new_tokens);
//   at::Tensor logits = model.forward(prompts, prompt_lengths, cache);  // [batch, vocab]
//   for (...) {
//     at::Tensor next = logits.argmax(-1).unsqueeze(1);  // [batch, 1]
//     logits = model.forward(next, {}, cache);           // one token each
//     cache.keep(unfinished_rows);                       // drop finished sequences
//   }
//
// Prefix sharing: run a shared prompt once in row 0, then
// cache.copy_prefix(0, {1, 2, 3}, n) gives rows 1..3 the same first n tokens.
//
// Threads: a Model is immutable once loaded; forward() may run from several
// threads at once, each with its own KVCache. A KVCache is not shared: one
// thread at a time calls forward() with it or changes it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "culturespa/core/progress.h"
#include "culturespa/model/config.h"
#include "culturespa/model/kv_cache.h"
#include "culturespa/model/lora.h"
#include "culturespa/core/export.h"

namespace culturespa {

struct CULTURESPA_API ModelOptions {
  std::string device = "cpu";  // "cpu", "cuda", "cuda:1"
  // Compute dtype: "float32", "float16", "bfloat16"; "" = float32 on CPU,
  // bfloat16 on CUDA. On the CPU with cpu_kernels, "bfloat16" keeps the
  // weights in bfloat16 and computes in float32 (the fused kernels).
  std::string dtype = "";
  // CPU with cpu_kernels: how the matrices (projections, embeddings, lm_head)
  // are stored. "" = as `dtype` says; "float32"; "bfloat16"; "q8_0" (8-bit
  // blocks of 32 with a scale, ggml's Q8_0: int8 dot products against
  // activations quantised the same way); "file" = the checkpoint's own type
  // where a kernel exists for it (F32/F16 -> float32, BF16 -> bfloat16, Q8_0
  // -> q8_0) and the nearest wider one otherwise (Q4_0/Q4_1 -> q8_0).
  // Anything but float32 needs the fused CPU path (ConfigError otherwise).
  std::string weights = "";
  int threads = 0;             // LibTorch intra-op threads; 0 = leave runtime_init()'s setting
  bool cpu_kernels = true;     // float32 on CPU: culturespa's fused kernels; false = plain LibTorch operations
  // float32 on CPU with cpu_kernels: the library for matrix products of more
  // than 16 rows. "auto" = oneDNN when OpenBLAS runs outdated kernels for the
  // CPU (RuntimeInfo::blas_core_outdated) and LibTorch has oneDNN, else
  // "blas" (LibTorch's BLAS); "onednn" forces oneDNN (ConfigError without it).
  std::string cpu_matmul = "auto";
  // Weight files are mapped (mmap), so loading is fast and pages are shared
  // between processes. A file truncated or rewritten in place while mapped
  // (another process writing the checkpoint) kills the process with SIGBUS
  // when a lost page is touched; no library can turn that into an error.
  // false reads every file into memory first, like llama.cpp's --no-mmap:
  // slower to load, more memory, but the file cannot change under the model.
  bool mmap = true;
};

class CULTURESPA_API Model {
 public:
  // Loads `dir`; calls runtime_init(). FileError/FormatError/ConfigError name
  // the file and the field or tensor at fault.
  explicit Model(const std::string& dir, const ModelOptions& options = {},
                 ProgressCallback progress = nullptr);
  ~Model();
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;

  const ModelConfig& config() const noexcept;
  const std::string& path() const noexcept;
  std::string device() const;  // "cpu", "cuda:0"
  std::string dtype() const;   // "float32", ...
  // What runs the forward pass: "fused CPU kernels, oneDNN matmul", "fused CPU
  // kernels, BLAS matmul" or "LibTorch operations".
  std::string compute_path() const;
  // Bytes of the weights as loaded (in the compute dtype).
  int64_t weight_bytes() const;
  // How the matrices are stored: "float32", "bfloat16", "float16", "q8_0",
  // or several joined by "+" when they differ (weights="file").
  std::string weight_type() const;

  KVCache cache_create(int64_t batch, int64_t capacity) const;

  // Runs the new tokens `input_ids` ([batch, T], integer, any device; right
  // padded) of every sequence. `lengths` ([batch], CPU or device integer):
  // new tokens per row; undefined = T for every row. `cache`: appended to
  // (its batch must match); nullptr runs without one (positions from 0).
  // `logits_at` ([batch, P] integer, indices into 0..lengths[b]-1): the
  // positions whose logits are returned as [batch, P, vocab]; undefined =
  // each row's last new token, returned as [batch, vocab]. Logits are float32
  // on the model's device. `adapters`: empty (no LoRA adapter), or per row
  // the name of the loaded adapter that applies to it ("" = none), so one
  // batch mixes adapters; a row's cache must come from the same adapter.
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& lengths = {},
                     KVCache* cache = nullptr, const at::Tensor& logits_at = {},
                     const std::vector<std::string>& adapters = {}) const;

  // --- LoRA adapters (lora.h, docs/tuning.md) ---
  // Loads the PEFT folder `dir` as adapter `name`, on the model's device in
  // its dtype. ValueError when the name is taken; lora_adapter_read's errors
  // (a module the model lacks, rank mismatch, another base model).
  void adapter_load(const std::string& name, const std::string& dir);
  // Adds an adapter held in memory (e.g. one LoraTrainer is training; its
  // tensors are copied). Checked against the model as adapter_load does.
  void adapter_add(const std::string& name, const LoraAdapter& adapter);
  // ValueError when not loaded, or merged.
  void adapter_unload(const std::string& name);
  std::vector<std::string> adapter_names() const;  // sorted
  const LoraAdapter& adapter(const std::string& name) const;
  // Folds adapter `name` into the weights (forward then runs at base-model
  // speed with it, for every row), replacing any merged one.
  void adapter_merge(const std::string& name);
  // Restores the weights to their original bits (the original tensors are
  // kept while merged, not recomputed). No-op when nothing is merged.
  void adapter_unmerge();
  // The merged adapter's name, "" when none.
  std::string adapter_merged() const;

  // A differentiable forward for training (LibTorch operations, no KV cache,
  // causal attention within each right-padded row of `input_ids` [batch, T]
  // with `lengths` [batch]): logits (float32, [N, vocab]) at the flat
  // positions `positions` ([N] indices into batch * T), with `adapter`'s
  // tensors (on the model's device; they may require grad) applied to every
  // row. The base weights never get gradients. `checkpointing` recomputes
  // each layer in the backward pass instead of keeping its activations.
  at::Tensor forward_train(const at::Tensor& input_ids, const at::Tensor& lengths, const at::Tensor& positions,
                           const LoraAdapter& adapter, bool checkpointing = false) const;

 private:
  friend struct ModelAccess;  // lib/model's LoRA code
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace culturespa

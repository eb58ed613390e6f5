// culturespa/model/lora.h: LoRA adapters in PEFT's folder format (docs/tuning.md).
//
// A PEFT LoRA folder holds adapter_config.json ({"peft_type": "LORA", "r",
// "lora_alpha", "target_modules", "use_rslora", "rank_pattern",
// "alpha_pattern", ...}) and adapter_model.safetensors with, for each adapted
// linear layer, "base_model.model.model.layers.<i>.<self_attn|mlp>.<module>
// .lora_A.weight" [r, in] and "...lora_B.weight" [out, r]. The layer then
// computes W x + scale * B (A x), scale = alpha / r (alpha / sqrt(r) with
// use_rslora).
//
// Model::adapter_load (model.h) reads such folders; LoraTrainer
// (tune/lora_trainer.h) writes them; PEFT reads and writes the same files.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "culturespa/model/config.h"
#include "culturespa/core/export.h"

namespace culturespa {

// The linear layers LoRA can adapt, by their Hugging Face module names.
enum class LoraTarget { q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj };
CULTURESPA_API const char* lora_target_name(LoraTarget target);  // "q_proj", ...
// ConfigError naming the module and the supported ones when unknown.
CULTURESPA_API LoraTarget lora_target_from_name(const std::string& name);
CULTURESPA_API const std::vector<LoraTarget>& lora_targets_all();  // the seven, in the order above

struct CULTURESPA_API LoraConfig {
  int64_t r = 8;            // rank
  double alpha = 16.0;      // lora_alpha
  double dropout = 0.0;     // lora_dropout (training only)
  bool use_rslora = false;  // scale alpha / sqrt(r) instead of alpha / r
  std::vector<LoraTarget> targets = lora_targets_all();  // default: all linear layers
  // PEFT's per-module overrides: key = a module name suffix ("q_proj",
  // "layers.0.self_attn.q_proj"), value = its rank / alpha.
  std::map<std::string, int64_t> rank_pattern;
  std::map<std::string, double> alpha_pattern;
  std::string base_model_name_or_path;  // informational

  // The rank and scale of one module, patterns applied.
  int64_t rank_of(int64_t layer, LoraTarget target) const;
  double scale_of(int64_t layer, LoraTarget target) const;
};

// adapter_config.json text; ConfigError naming `path` and the field for
// anything culturespa cannot run as PEFT would (another peft_type, DoRA,
// bias != "none", modules_to_save, fan_in_fan_out, a target module that is
// not one of the seven linear layers, ...).
CULTURESPA_API LoraConfig lora_config_parse(const std::string& text, const std::string& path);
// The adapter_config.json PEFT 0.13 writes for `config` (task CAUSAL_LM).
CULTURESPA_API std::string lora_config_json(const LoraConfig& config);

// One adapted linear layer.
struct CULTURESPA_API LoraModule {
  int64_t layer = 0;
  LoraTarget target = LoraTarget::q_proj;
  at::Tensor a;  // lora_A [r, in]
  at::Tensor b;  // lora_B [out, r]
  double scale = 1.0;
};

struct CULTURESPA_API LoraAdapter {
  LoraConfig config;
  std::vector<LoraModule> modules;  // ordered by (layer, target)
  std::string path;                 // the folder read, "" when made in memory

  // nullptr when the adapter does not touch that module.
  const LoraModule* find(int64_t layer, LoraTarget target) const;
  int64_t parameter_count() const;
};

// Reads a PEFT LoRA folder (dir/adapter_config.json, dir/adapter_model.safetensors)
// and checks it against the base model `model`: FileError for a missing file
// (or only adapter_model.bin: convert it to safetensors), ConfigError naming
// the tensor for a module the model lacks, a rank that differs between the
// config and the tensors, or an adapter made for another base (hidden size,
// projection sizes or layer count). Tensors stay on the CPU in the file's dtype.
CULTURESPA_API LoraAdapter lora_adapter_read(const std::string& dir, const ModelConfig& model);

// The checks lora_adapter_read makes, for an adapter held in memory;
// `source` names it in the messages.
CULTURESPA_API void lora_adapter_check(const LoraAdapter& adapter, const ModelConfig& model, const std::string& source);

// Writes `adapter` as a PEFT folder, atomically: the files are written into a
// temporary folder beside `dir`, which then replaces `dir`. Tensors are
// written in their dtype (float32 for what LoraTrainer trains).
CULTURESPA_API void lora_adapter_write(const std::string& dir, const LoraAdapter& adapter);

// A new adapter as PEFT initialises one: A ~ kaiming_uniform(a = sqrt(5))
// (uniform in +-1/sqrt(in)), B = 0 (so it starts as the identity), float32 on
// the CPU, from `seed`. `b_std` > 0 draws B ~ N(0, b_std^2) instead (tests).
CULTURESPA_API LoraAdapter lora_adapter_init(const ModelConfig& model, const LoraConfig& config, uint64_t seed = 0,
                              double b_std = 0.0);

// The PEFT tensor name of a module's A or B ("base_model.model.model.layers.3.mlp.up_proj.lora_A.weight").
CULTURESPA_API std::string lora_tensor_name(int64_t layer, LoraTarget target, bool b);

}  // namespace culturespa

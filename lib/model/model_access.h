// lib/model/model_access.h (private to the model layer): the decoder's
// weight tensors as Model holds them (handles, not copies), for the code
// beside model.cpp that runs its own computation over them (LoRA training).
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "culturespa/model/model.h"

namespace culturespa {

struct DecoderWeights {
  struct Layer {
    // q/k/v fused into w_qkv [q + 2 kv, H], gate/up into w_gate_up [2 I, H];
    // biases and q/k norms undefined when the architecture has none.
    at::Tensor input_norm, w_qkv, b_qkv, q_norm, k_norm, w_o, b_o;
    at::Tensor post_norm, w_gate_up, b_gate_up, w_down, b_down;
  };
  const ModelConfig& config;
  at::Device device;
  at::ScalarType dtype;
  at::Tensor embed, final_norm, lm_head, inv_freq;
  std::vector<Layer> layers;
};

struct ModelAccess {
  static DecoderWeights weights(const Model& model);
};

// HF's RMSNorm: normalise in float32, cast back, then scale.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
// Rotary embedding in HF's "rotate half" layout: x [B, T, heads, hd], cos/sin [B, T, 1, hd/2].
at::Tensor rope_apply(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace culturespa

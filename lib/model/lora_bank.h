// lib/model/lora_bank.h (private to the model layer): the LoRA adapters a
// Model holds, packed for its fused linear layers, and their application in a
// forward pass where each sequence picks its adapter (or none).
//
// Model stores q/k/v as one [q + 2 kv, H] weight and gate/up as one [2 I, H]
// weight. An adapter is packed the same way: per layer and fused slot,
// A = [A_q; A_k; A_v] ([r_q + r_k + r_v, in]) and a block-diagonal
// B = diag(s_q B_q, s_k B_k, s_v B_v), so one pair of small matrix products
// gives the delta of the whole fused output. The rows of a batch are grouped
// by adapter and each group runs as one gather, two products and one
// scatter-add: no per-row work on weights.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "culturespa/model/lora.h"

namespace culturespa {

enum class LoraSlot { qkv = 0, o = 1, gate_up = 2, down = 3 };
constexpr int kLoraSlots = 4;

// The four fused weights of one layer, to merge into and restore.
using LayerLinears = std::array<at::Tensor*, kLoraSlots>;

class LoraBank {
 public:
  struct Packed {
    LoraAdapter adapter;  // as loaded (CPU, file dtype)
    // [layer][slot]: A [R, in] and scaled block-diagonal B [out, R] on the
    // model's device in its dtype; undefined when the adapter skips the slot.
    std::vector<std::array<std::pair<at::Tensor, at::Tensor>, kLoraSlots>> layers;
  };
  // Rows of one adapter along dim 0: `count` rows from `start` when they
  // are consecutive (the usual case: the scheduler sorts a batch by
  // adapter), else the ones `index` (int64, on the device) selects; neither
  // (count 0, index undefined) = every row.
  struct Group {
    const Packed* packed = nullptr;
    int64_t start = 0, count = 0;
    at::Tensor index;
  };
  using Rows = std::vector<Group>;

  void add(const std::string& name, LoraAdapter adapter, const ModelConfig& config, at::Device device,
           at::ScalarType dtype);
  void remove(const std::string& name);
  std::vector<std::string> names() const;
  const LoraAdapter& get(const std::string& name) const;
  bool empty() const { return adapters_.empty(); }

  // Per sequence, the index into names() of its adapter (-1: none).
  // `adapters` is empty (none anywhere) or holds one name per sequence ("" =
  // none); ValueError naming an unknown adapter or a wrong count.
  std::vector<int> route(const std::vector<std::string>& adapters, int64_t batch) const;
  // The groups of the rows of a tensor whose row i belongs to sequence
  // row_seq[i] (empty row_seq: row i is sequence i).
  Rows rows(const std::vector<int>& route, const std::vector<int64_t>& row_seq, at::Device device) const;

  // out[rows] += B (A x[rows]) for each group, along dim 0 of x and out.
  void apply(const at::Tensor& out, const at::Tensor& x, int64_t layer, LoraSlot slot, const Rows& rows) const;

  // Replaces each layer's weights by W + B A of `name`, keeping the
  // originals; restore() puts them back (the same tensors, so the same bits).
  void merge(const std::string& name, const std::vector<LayerLinears>& weights);
  void restore(const std::vector<LayerLinears>& weights);
  const std::string& merged() const { return merged_; }

 private:
  std::map<std::string, std::unique_ptr<Packed>> adapters_;
  std::string merged_;
  std::vector<std::array<at::Tensor, kLoraSlots>> originals_;
};

}  // namespace culturespa

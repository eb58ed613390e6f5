// Sampling: the next token of each sequence from the model's logits
// (repetition penalty, JSON constraint mask, temperature, top-k, top-p,
// min-p), with a counter-based random stream per prompt.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "culturespa/generator/generator.h"
#include "culturespa/generator/json_constraint.h"

namespace culturespa::generator_detail {

// A uniform draw in [0, 1) for prompt `prompt` at step `step`: the same
// whatever else runs beside it.
double uniform_at(uint64_t seed, uint64_t prompt, uint64_t step);

// NaN or Inf logits come from NaN/Inf weights or an overflowing compute
// dtype; sampling or scoring them would give silent garbage (NaN
// distributions, token 0), so they stop the call with a named error.
[[noreturn]] void non_finite_logits(const std::string& model_path);

// One sequence being sampled: its tokens so far and its random stream.
struct SampleRow {
  const std::vector<int>* prompt = nullptr;
  const std::vector<int>* generated = nullptr;
  std::size_t index = 0;  // the caller's prompt number
  const JsonConstraint::State* constraint_state = nullptr;  // with GenerateOptions::constraint
};

// The next token of each row of `logits` [n, vocab] (device), and its
// log-probability under the model when asked.
std::pair<std::vector<int>, std::vector<float>> tokens_choose(const at::Tensor& logits,
                                                              const std::vector<SampleRow>& seqs,
                                                              const GenerateOptions& o, const std::string& model_path);

}  // namespace culturespa::generator_detail

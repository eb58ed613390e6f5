// Fused float32 kernels for the CPU forward pass (internal to lib/model).
//
// LibTorch runs a decoder layer as ~20 separate operations, each a full pass
// over memory and, with OpenMP, a parallel region whose hand-off costs tens of
// microseconds on small tensors. These kernels fuse what the model does
// between its GEMMs: the residual add with the next RMSNorm, the q/k head
// norms with RoPE and the KV-cache write, causal attention over the cache
// (exact softmax, GQA without repeating keys, only the query rows asked for),
// and SiLU(gate) x up. They compute what the ATen path in model.cpp computes,
// up to float rounding; Model uses them for float32 on CPU unless
// ModelOptions::cpu_kernels is false, and the tests compare both paths.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace culturespa::cpu_kernels {

// `hidden` += `delta` (when defined), then returns RMSNorm(hidden) * weight.
// hidden, delta: [rows, n] contiguous float32; weight: [n].
at::Tensor add_rms_norm(at::Tensor& hidden, const at::Tensor& delta, const at::Tensor& weight, double eps);

struct AttentionLayout {
  int64_t heads = 0, kv_heads = 0, head_dim = 0;
  int64_t slots = 0;   // cache slots per sequence
  int64_t window = 0;  // sliding window; 0 = none
};

// The forward's tokens, packed without padding: row r is token position
// pos[r] of sequence seq[r]; rows of one sequence are consecutive.
struct TokenRows {
  std::vector<int64_t> seq, pos;
};

// Applies the per-head RMSNorms (when q_norm / k_norm are defined) and RoPE
// to every row's q and k heads in place in `qkv` ([rows, (heads + 2
// kv_heads) * head_dim]), and writes its k and v into `keys` / `values`
// ([batch, kv_heads, slots, head_dim], one layer of the cache) at slot pos[r]
// of sequence seq[r]. cos, sin: [rows, head_dim / 2].
void rope_cache_write(at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& q_norm,
                      const at::Tensor& k_norm, double eps, at::Tensor& keys, at::Tensor& values,
                      const TokenRows& tokens, const AttentionLayout& layout);

// Causal attention of the rows `queries` (indices into `tokens`, those of one
// sequence consecutive) over the cache: a query at position p sees slots
// max(0, p - window + 1)..p of its sequence. Returns [queries.size(), heads *
// head_dim].
at::Tensor attention(const at::Tensor& qkv, const at::Tensor& keys, const at::Tensor& values,
                     const std::vector<int64_t>& queries, const TokenRows& tokens, const AttentionLayout& layout);

// Which library runs the CPU matrix products of `linear` with more than
// kSkinnyRows rows.
enum class MatmulBackend { blas, onednn };
constexpr int64_t kSkinnyRows = 16;
// bfloat16 / q8_0 weights stay in the skinny kernels up to this many rows:
// widening the whole weight for BLAS costs more than it saves below it
// (decode at batch 32).
constexpr int64_t kSkinnyRowsNarrowWeights = 64;

// How a linear layer's weight [n, k] is stored; the tensor's dtype says which.
//   float32   at::kFloat [n, k]
//   bfloat16  at::kBFloat16 [n, k] (round to nearest even from float32)
//   q8_0      at::kChar [n, k / 32 * kQ8BlockBytes]: each row is k / 32
//             blocks of {float32 d; int8 q[32]}, weight = d * q, with
//             d = max|w| / 127 over the block (ggml's Q8_0, its fp16 scale
//             widened to float32 so the blocks are 4-byte aligned)
enum class WeightType { float32, bfloat16, q8_0 };
constexpr int64_t kQ8Block = 32;
constexpr int64_t kQ8BlockBytes = 4 + kQ8Block;

WeightType weight_type(const at::Tensor& weight);  // from its dtype; ValueError for others
const char* weight_type_name(WeightType type);      // "float32", "bfloat16", "q8_0"
// The float32 matrix `weight` [n, k] in `type` (q8_0: k must be a multiple
// of 32; ValueError otherwise). Round trips: weight_pack of a matrix that
// weight_unpack made reproduces the packed one.
at::Tensor weight_pack(const at::Tensor& weight, WeightType type);
// Any stored weight back to float32 [n, k].
at::Tensor weight_unpack(const at::Tensor& weight);
// Rows `ids` of a stored weight as float32 [ids.size(0), k] (the embedding lookup).
at::Tensor weight_rows(const at::Tensor& weight, const at::Tensor& ids);

// x [rows, k] float32 @ weight [n, k]^T (+ bias [n]), weight stored in any
// WeightType, float32 accumulation. Up to kSkinnyRows rows (float32) or
// kSkinnyRowsNarrowWeights (bfloat16, q8_0) run in culturespa's own kernels on its worker pool
// (thread_pool.h), which read each weight once with no per-call packing or
// thread start: float32 and bfloat16 weights against float32 activations
// (bf16 widened in registers), q8_0 weights as int8 dot products against the
// activations quantised per 32-block as ggml does (AVX2 where the CPU has
// it). More rows go to `backend` (bf16 / q8_0 weights widened to a float32
// copy for the call).
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, MatmulBackend backend);

// SiLU(gate) * up for gate_up = [gate | up] ([rows, 2 * n]); returns [rows, n].
at::Tensor silu_mul(const at::Tensor& gate_up);

}  // namespace culturespa::cpu_kernels

#include "cpu_kernels.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/mkldnn_linear.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

// The hot loops are compiled for AVX-512 and AVX2+FMA as well as the
// baseline ISA, and the loader picks the best one the CPU has (GCC's
// target_clones), so one binary runs everywhere and uses wide vectors where
// they exist. `#pragma omp simd` (with -fopenmp-simd, set for this file in
// CMakeLists.txt) lets the reductions vectorise without -ffast-math.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CULTURESPA_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CULTURESPA_SIMD_CLONES
#endif
#define CULTURESPA_INLINE inline __attribute__((always_inline))

namespace culturespa::cpu_kernels {
namespace {

// exp(x) for float32 without libm calls, so loops over it vectorise:
// Cody-Waite range reduction and Cephes' degree-6 polynomial, about 1 ulp
// over the range where the result is a normal float.
CULTURESPA_INLINE float exp_poly(float x) {
  x = std::min(std::max(x, -87.3f), 88.3f);
  // Round to nearest by the 1.5 * 2^23 trick (no SSE4.1 round instruction needed).
  const float n = (x * 1.44269504088896341f + 12582912.f) - 12582912.f;
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return y * __builtin_bit_cast(float, bits);
}

CULTURESPA_SIMD_CLONES
void add_rms_norm_rows(float* hidden, const float* delta, const float* weight, float* out, int64_t rows,
                       int64_t n, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    float* h = hidden + r * n;
    float sum = 0.f;
    if (delta) {
      const float* d = delta + r * n;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < n; ++i) {
        h[i] += d[i];
        sum += h[i] * h[i];
      }
    } else {
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < n; ++i) sum += h[i] * h[i];
    }
    const float scale = 1.f / std::sqrt(sum / static_cast<float>(n) + eps);
    float* o = out + r * n;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) o[i] = h[i] * scale * weight[i];
  }
}

CULTURESPA_SIMD_CLONES
void silu_mul_rows(const float* gate_up, float* out, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = gate_up + r * 2 * n;
    const float* u = g + n;
    float* o = out + r * n;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) o[i] = g[i] / (1.f + exp_poly(-g[i])) * u[i];
  }
}

// RMSNorm of one head vector in place (Qwen3's q_norm / k_norm).
CULTURESPA_INLINE void head_norm(float* x, const float* weight, int64_t n, float eps) {
  float sum = 0.f;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += x[i] * x[i];
  const float scale = 1.f / std::sqrt(sum / static_cast<float>(n) + eps);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] * scale * weight[i];
}

// HF's rotate-half RoPE of one head vector, written to `out` (may equal x).
CULTURESPA_INLINE void rope_head(const float* x, const float* cos, const float* sin, float* out, int64_t half) {
#pragma omp simd
  for (int64_t i = 0; i < half; ++i) {
    const float x1 = x[i], x2 = x[i + half];
    out[i] = x1 * cos[i] - x2 * sin[i];
    out[i + half] = x2 * cos[i] + x1 * sin[i];
  }
}

CULTURESPA_SIMD_CLONES
void rope_cache_write_row(float* row, const float* cos, const float* sin, const float* q_norm, const float* k_norm,
                          float eps, float* keys, float* values, int64_t slot, const AttentionLayout& l) {
  const int64_t hd = l.head_dim, half = hd / 2;
  for (int64_t h = 0; h < l.heads; ++h) {
    float* q = row + h * hd;
    if (q_norm) head_norm(q, q_norm, hd, eps);
    rope_head(q, cos, sin, q, half);
  }
  float* k_part = row + l.heads * hd;
  const float* v_part = k_part + l.kv_heads * hd;
  for (int64_t h = 0; h < l.kv_heads; ++h) {
    float* k = k_part + h * hd;
    if (k_norm) head_norm(k, k_norm, hd, eps);
    float* k_slot = keys + (h * l.slots + slot) * hd;
    rope_head(k, cos, sin, k_slot, half);
    std::memcpy(values + (h * l.slots + slot) * hd, v_part + h * hd, static_cast<std::size_t>(hd) * sizeof(float));
  }
}

constexpr int64_t kKeyBlock = 16;     // keys per transposed tile: one AVX-512 vector of scores
constexpr int64_t kRowBlock = 6;      // query vectors per pass over a tile: 6 accumulators (12 with AVX2)
constexpr int64_t kQueryTokens = 32;  // tokens per work item (x group query heads each): amortises the tiles

struct AttentionItem {
  int64_t seq, kv_head, first, count;  // queries[first .. first + count)
};

// One work item: `count` tokens of one sequence x the `group` query heads of
// one KV head. Scores are computed against 16-key tiles of K transposed, so
// the inner loop runs along keys with no horizontal sums; the softmax is
// exact (max, exp, sum over every visible key) as in the reference.
// kHeadDim > 0 fixes the head size at compile time, which keeps a query's
// output accumulator in registers; 0 takes it from the layout.
template <int64_t kHeadDim>
CULTURESPA_INLINE void attention_item(const float* qkv, const float* keys, const float* values, const int64_t* rows,
                                      const int64_t* positions, const AttentionItem& item, const AttentionLayout& l,
                                      float* out, std::vector<float>& scores, std::vector<float>& tile) {
  // rows[i]: the token row of query i; positions[row]: its position.
  const int64_t hd = kHeadDim > 0 ? kHeadDim : l.head_dim, group = l.heads / l.kv_heads;
  const int64_t qkv_width = (l.heads + 2 * l.kv_heads) * hd;
  const int64_t n_vec = item.count * group;
  const float scale = 1.f / std::sqrt(static_cast<float>(hd));

  int64_t lo = std::numeric_limits<int64_t>::max(), hi = 0;
  for (int64_t i = 0; i < item.count; ++i) {
    const int64_t p = positions[rows[item.first + i]];
    lo = std::min(lo, l.window > 0 ? std::max<int64_t>(0, p - l.window + 1) : 0);
    hi = std::max(hi, p);
  }
  const int64_t span = hi - lo + 1;
  const int64_t span_padded = (span + kKeyBlock - 1) / kKeyBlock * kKeyBlock;
  scores.resize(static_cast<std::size_t>(n_vec * span_padded));
  tile.resize(static_cast<std::size_t>(hd * kKeyBlock));

  // Query vector v = token i, head g: row rows[first + i], head kv_head * group + g.
  auto query = [&](int64_t v) {
    const int64_t i = v / group, g = v % group;
    return qkv + rows[item.first + i] * qkv_width + (item.kv_head * group + g) * hd;
  };
  const float* k_head = keys + (item.seq * l.kv_heads + item.kv_head) * l.slots * hd;
  const float* v_head = values + (item.seq * l.kv_heads + item.kv_head) * l.slots * hd;

  for (int64_t j0 = 0; j0 < span; j0 += kKeyBlock) {
    const int64_t nk = std::min(kKeyBlock, span - j0);
    float* t = tile.data();
    for (int64_t j = 0; j < kKeyBlock; ++j) {
      const float* k = k_head + (lo + j0 + std::min(j, nk - 1)) * hd;
      for (int64_t d = 0; d < hd; ++d) t[d * kKeyBlock + j] = k[d];
    }
    for (int64_t v0 = 0; v0 < n_vec; v0 += kRowBlock) {
      const int64_t nv = std::min(kRowBlock, n_vec - v0);
      const float* q[kRowBlock];
      for (int64_t r = 0; r < kRowBlock; ++r) q[r] = query(v0 + std::min(r, nv - 1));
      float acc[kRowBlock][kKeyBlock] = {};
      for (int64_t d = 0; d < hd; ++d) {
        const float* td = t + d * kKeyBlock;
        for (int64_t r = 0; r < kRowBlock; ++r) {
          const float qd = q[r][d];
#pragma omp simd
          for (int64_t j = 0; j < kKeyBlock; ++j) acc[r][j] += qd * td[j];
        }
      }
      for (int64_t r = 0; r < nv; ++r) {
        float* s = scores.data() + (v0 + r) * span_padded + j0;
#pragma omp simd
        for (int64_t j = 0; j < kKeyBlock; ++j) s[j] = acc[r][j] * scale;
      }
    }
  }

  float acc_fixed[kHeadDim > 0 ? kHeadDim : 1];
  std::vector<float> acc_any(kHeadDim > 0 ? 0 : static_cast<std::size_t>(hd));
  float* a = kHeadDim > 0 ? acc_fixed : acc_any.data();
  for (int64_t v = 0; v < n_vec; ++v) {
    const int64_t row = rows[item.first + v / group];
    const int64_t p = positions[row];
    const int64_t first = (l.window > 0 ? std::max<int64_t>(0, p - l.window + 1) : 0) - lo;
    const int64_t last = p - lo;  // inclusive
    float* s = scores.data() + v * span_padded;
    float max_score = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : max_score)
    for (int64_t j = first; j <= last; ++j) max_score = std::max(max_score, s[j]);
    float sum = 0.f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = first; j <= last; ++j) {
      s[j] = exp_poly(s[j] - max_score);
      sum += s[j];
    }
    std::fill(a, a + hd, 0.f);
    for (int64_t j = first; j <= last; ++j) {
      const float w = s[j];
      const float* vj = v_head + (lo + j) * hd;
#pragma omp simd
      for (int64_t d = 0; d < hd; ++d) a[d] += w * vj[d];
    }
    const float inv = 1.f / sum;
    const int64_t out_row = item.first + v / group;
    const int64_t head = item.kv_head * group + v % group;
    float* o = out + out_row * l.heads * hd + head * hd;
#pragma omp simd
    for (int64_t d = 0; d < hd; ++d) o[d] = a[d] * inv;
  }
}

CULTURESPA_SIMD_CLONES
void attention_item_any(const float* qkv, const float* keys, const float* values, const int64_t* rows,
                        const int64_t* positions, const AttentionItem& item, const AttentionLayout& l, float* out,
                        std::vector<float>& scores, std::vector<float>& tile) {
  switch (l.head_dim) {
    case 64: return attention_item<64>(qkv, keys, values, rows, positions, item, l, out, scores, tile);
    case 128: return attention_item<128>(qkv, keys, values, rows, positions, item, l, out, scores, tile);
    default: return attention_item<0>(qkv, keys, values, rows, positions, item, l, out, scores, tile);
  }
}

// out[m][n] = x[m] . w[n] (+ bias[n]) for every row m of x and n in
// [n_begin, n_end). Blocks of 2 rows x 4 weight rows keep 8 independent
// vector accumulators (enough FMA chains in flight, within AVX2's 16
// registers); the 4 weight rows stay in L1 while every row of x passes them,
// so each weight is read from memory once.
CULTURESPA_SIMD_CLONES
void skinny_rows(const float* x, const float* w, const float* bias, float* out, int64_t rows, int64_t k, int64_t n,
                 int64_t n_begin, int64_t n_end) {
  for (int64_t j0 = n_begin; j0 < n_end; j0 += 4) {
    const int64_t nj = std::min<int64_t>(4, n_end - j0);
    const float* w0 = w + j0 * k;
    const float* w1 = w + (j0 + std::min<int64_t>(1, nj - 1)) * k;
    const float* w2 = w + (j0 + std::min<int64_t>(2, nj - 1)) * k;
    const float* w3 = w + (j0 + std::min<int64_t>(3, nj - 1)) * k;
    for (int64_t m0 = 0; m0 < rows; m0 += 2) {
      const int64_t nm = std::min<int64_t>(2, rows - m0);
      const float* x0 = x + m0 * k;
      const float* x1 = x + (m0 + nm - 1) * k;
      float s00 = 0.f, s01 = 0.f, s02 = 0.f, s03 = 0.f, s10 = 0.f, s11 = 0.f, s12 = 0.f, s13 = 0.f;
#pragma omp simd reduction(+ : s00, s01, s02, s03, s10, s11, s12, s13)
      for (int64_t i = 0; i < k; ++i) {
        const float a = x0[i], b = x1[i];
        s00 += a * w0[i];
        s01 += a * w1[i];
        s02 += a * w2[i];
        s03 += a * w3[i];
        s10 += b * w0[i];
        s11 += b * w1[i];
        s12 += b * w2[i];
        s13 += b * w3[i];
      }
      const float sums[2][4] = {{s00, s01, s02, s03}, {s10, s11, s12, s13}};
      for (int64_t m = 0; m < nm; ++m)
        for (int64_t j = 0; j < nj; ++j) out[(m0 + m) * n + j0 + j] = sums[m][j] + (bias ? bias[j0 + j] : 0.f);
    }
  }
}

// Rows handed to one thread at a time: enough work to outweigh the cost of
// waking a thread (tens of microseconds on small VMs).
int64_t grain_rows(int64_t width) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(width, 1)); }

}  // namespace

at::Tensor add_rms_norm(at::Tensor& hidden, const at::Tensor& delta, const at::Tensor& weight, double eps) {
  RECORD_FUNCTION("culturespa::add_rms_norm", std::vector<c10::IValue>());  // visible to torch.profiler
  const int64_t n = hidden.size(-1), rows = hidden.numel() / n;
  at::Tensor out = at::empty(hidden.sizes(), hidden.options());
  float* h = hidden.data_ptr<float>();
  const float* d = delta.defined() ? delta.data_ptr<float>() : nullptr;
  const float* w = weight.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, rows, grain_rows(n), [&](int64_t begin, int64_t end) {
    add_rms_norm_rows(h + begin * n, d ? d + begin * n : nullptr, w, o + begin * n, end - begin, n,
                      static_cast<float>(eps));
  });
  return out;
}

void rope_cache_write(at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& q_norm,
                      const at::Tensor& k_norm, double eps, at::Tensor& keys, at::Tensor& values,
                      const TokenRows& tokens, const AttentionLayout& l) {
  RECORD_FUNCTION("culturespa::rope_cache_write", std::vector<c10::IValue>());  // visible to torch.profiler
  const int64_t width = qkv.size(-1), half = l.head_dim / 2;
  float* base = qkv.data_ptr<float>();
  const float* c = cos.data_ptr<float>();
  const float* s = sin.data_ptr<float>();
  const float* qn = q_norm.defined() ? q_norm.data_ptr<float>() : nullptr;
  const float* kn = k_norm.defined() ? k_norm.data_ptr<float>() : nullptr;
  float* k_cache = keys.data_ptr<float>();
  float* v_cache = values.data_ptr<float>();
  const int64_t per_seq = l.kv_heads * l.slots * l.head_dim;
  const auto rows = static_cast<int64_t>(tokens.seq.size());
  at::parallel_for(0, rows, grain_rows(width), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const auto r = static_cast<std::size_t>(row);
      rope_cache_write_row(base + row * width, c + row * half, s + row * half, qn, kn, static_cast<float>(eps),
                           k_cache + tokens.seq[r] * per_seq, v_cache + tokens.seq[r] * per_seq, tokens.pos[r], l);
    }
  });
}

at::Tensor attention(const at::Tensor& qkv, const at::Tensor& keys, const at::Tensor& values,
                     const std::vector<int64_t>& queries, const TokenRows& tokens, const AttentionLayout& l) {
  RECORD_FUNCTION("culturespa::attention", std::vector<c10::IValue>());  // visible to torch.profiler
  const auto n_queries = static_cast<int64_t>(queries.size());
  at::Tensor out = at::empty({n_queries, l.heads * l.head_dim}, qkv.options());
  auto seq_of = [&](int64_t i) { return tokens.seq[static_cast<std::size_t>(queries[static_cast<std::size_t>(i)])]; };
  std::vector<AttentionItem> items;
  for (int64_t first = 0; first < n_queries;) {
    const int64_t seq = seq_of(first);
    int64_t count = 1;
    while (first + count < n_queries && count < kQueryTokens && seq_of(first + count) == seq) ++count;
    for (int64_t h = 0; h < l.kv_heads; ++h) items.push_back({seq, h, first, count});
    first += count;
  }
  const float* q = qkv.data_ptr<float>();
  const float* k = keys.data_ptr<float>();
  const float* v = values.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, static_cast<int64_t>(items.size()), 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores, tile;
    for (int64_t i = begin; i < end; ++i)
      attention_item_any(q, k, v, queries.data(), tokens.pos.data(), items[static_cast<std::size_t>(i)], l, o,
                         scores, tile);
  });
  return out;
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, MatmulBackend backend) {
  const int64_t rows = x.size(0), k = x.size(1), n = weight.size(0);
  if (rows > kSkinnyRows) {
    if (backend == MatmulBackend::onednn) {
      // Input and output are converted to and from oneDNN's layout (two
      // copies, small next to the product); the weight stays as loaded.
      return at::mkldnn_linear(x.to_mkldnn(), weight, bias).to_dense();
    }
    return at::linear(x, weight, bias);
  }
  RECORD_FUNCTION("culturespa::linear_skinny", std::vector<c10::IValue>());
  at::Tensor out = at::empty({rows, n}, x.options());
  const at::Tensor xc = x.contiguous();
  const float* xp = xc.data_ptr<float>();
  const float* wp = weight.data_ptr<float>();
  const float* bp = bias.defined() ? bias.data_ptr<float>() : nullptr;
  float* op = out.data_ptr<float>();
  // Blocks of 4 weight rows, so a thread's range never splits a block.
  const int64_t blocks = (n + 3) / 4;
  at::parallel_for(0, blocks, std::max<int64_t>(1, grain_rows(k * rows) / 4), [&](int64_t begin, int64_t end) {
    skinny_rows(xp, wp, bp, op, rows, k, n, begin * 4, std::min(n, end * 4));
  });
  return out;
}

at::Tensor silu_mul(const at::Tensor& gate_up) {
  RECORD_FUNCTION("culturespa::silu_mul", std::vector<c10::IValue>());  // visible to torch.profiler
  const int64_t n = gate_up.size(-1) / 2, rows = gate_up.numel() / (2 * n);
  std::vector<int64_t> shape(gate_up.sizes().begin(), gate_up.sizes().end());
  shape.back() = n;
  at::Tensor out = at::empty(shape, gate_up.options());
  const float* g = gate_up.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, rows, grain_rows(2 * n), [&](int64_t begin, int64_t end) {
    silu_mul_rows(g + begin * 2 * n, o + begin * n, end - begin, n);
  });
  return out;
}

}  // namespace culturespa::cpu_kernels

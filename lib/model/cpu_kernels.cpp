#include "cpu_kernels.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <ATen/ops/embedding.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/mkldnn_linear.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "culturespa/core/error.h"
#include "thread_pool.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

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
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
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

CULTURESPA_INLINE float widen(float w) { return w; }
// bfloat16 is the top half of a float32.
CULTURESPA_INLINE float widen(uint16_t w) {
  const uint32_t bits = static_cast<uint32_t>(w) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// The 4 weight rows j0.. (the last repeated when fewer than 4 remain) of a
// matrix whose rows are `stride` elements apart.
template <typename T>
struct FourRows {
  const T* r[4];
  FourRows(const T* w, int64_t j0, int64_t nj, int64_t stride) {
    for (int64_t i = 0; i < 4; ++i) r[i] = w + (j0 + std::min<int64_t>(i, nj - 1)) * stride;
  }
};

// out[m][n] = x[m] . w[n] (+ bias[n]) for every row m of x and n in
// [n_begin, n_end). Blocks of 2 rows x 4 weight rows keep 8 independent
// vector accumulators (enough FMA chains in flight, within AVX2's 16
// registers); the 4 weight rows stay in L1 while every row of x passes them,
// so each weight is read from memory once. W: float, or uint16_t for
// bfloat16 weights (widened in registers: a shift).
template <typename W>
CULTURESPA_INLINE void skinny_rows(const float* x, const W* w, const float* bias, float* out, int64_t rows, int64_t k,
                                   int64_t n, int64_t n_begin, int64_t n_end) {
  for (int64_t j0 = n_begin; j0 < n_end; j0 += 4) {
    const int64_t nj = std::min<int64_t>(4, n_end - j0);
    const FourRows<W> rows4(w, j0, nj, k);
    const W *w0 = rows4.r[0], *w1 = rows4.r[1], *w2 = rows4.r[2], *w3 = rows4.r[3];
    for (int64_t m0 = 0; m0 < rows; m0 += 2) {
      const int64_t nm = std::min<int64_t>(2, rows - m0);
      const float* x0 = x + m0 * k;
      const float* x1 = x + (m0 + nm - 1) * k;
      float s00 = 0.f, s01 = 0.f, s02 = 0.f, s03 = 0.f, s10 = 0.f, s11 = 0.f, s12 = 0.f, s13 = 0.f;
#pragma omp simd reduction(+ : s00, s01, s02, s03, s10, s11, s12, s13)
      for (int64_t i = 0; i < k; ++i) {
        const float a = x0[i], b = x1[i];
        const float v0 = widen(w0[i]), v1 = widen(w1[i]), v2 = widen(w2[i]), v3 = widen(w3[i]);
        s00 += a * v0;
        s01 += a * v1;
        s02 += a * v2;
        s03 += a * v3;
        s10 += b * v0;
        s11 += b * v1;
        s12 += b * v2;
        s13 += b * v3;
      }
      const float sums[2][4] = {{s00, s01, s02, s03}, {s10, s11, s12, s13}};
      for (int64_t m = 0; m < nm; ++m)
        for (int64_t j = 0; j < nj; ++j) out[(m0 + m) * n + j0 + j] = sums[m][j] + (bias ? bias[j0 + j] : 0.f);
    }
  }
}

CULTURESPA_SIMD_CLONES
void skinny_rows_f32(const float* x, const float* w, const float* bias, float* out, int64_t rows, int64_t k,
                     int64_t n, int64_t n_begin, int64_t n_end) {
  skinny_rows(x, w, bias, out, rows, k, n, n_begin, n_end);
}

CULTURESPA_SIMD_CLONES
void skinny_rows_bf16(const float* x, const uint16_t* w, const float* bias, float* out, int64_t rows, int64_t k,
                      int64_t n, int64_t n_begin, int64_t n_end) {
  skinny_rows(x, w, bias, out, rows, k, n, n_begin, n_end);
}

// ggml's Q8_0 block with a float32 scale.
struct Q8Block {
  float d;
  int8_t q[kQ8Block];
};
static_assert(sizeof(Q8Block) == kQ8BlockBytes, "Q8Block must be packed as documented");

// ggml's quantize_row_q8_0_ref: d = max|x| / 127, q = round(x / d).
void q8_quantize_row(const float* x, Q8Block* out, int64_t k) {
  for (int64_t b = 0; b < k / kQ8Block; ++b) {
    const float* v = x + b * kQ8Block;
    float amax = 0.f;
    for (int64_t i = 0; i < kQ8Block; ++i) amax = std::max(amax, std::fabs(v[i]));
    const float d = amax / 127.f, id = d != 0.f ? 1.f / d : 0.f;
    out[b].d = d;
    for (int64_t i = 0; i < kQ8Block; ++i) out[b].q[i] = static_cast<int8_t>(std::lround(v[i] * id));
  }
}

// out[m][n] = sum over blocks of dx * dw * (qx . qw): x and w rows of
// `blocks` Q8 blocks, n in [n_begin, n_end), 4 weight rows at a time (each
// read from memory once while every row of x passes it).
void q8_rows_generic(const Q8Block* x, const Q8Block* w, const float* bias, float* out, int64_t rows,
                     int64_t blocks, int64_t n, int64_t n_begin, int64_t n_end) {
  for (int64_t j = n_begin; j < n_end; ++j) {
    const Q8Block* wj = w + j * blocks;
    for (int64_t m = 0; m < rows; ++m) {
      const Q8Block* xm = x + m * blocks;
      float sum = 0.f;
      for (int64_t b = 0; b < blocks; ++b) {
        int32_t dot = 0;
        for (int64_t i = 0; i < kQ8Block; ++i) dot += static_cast<int32_t>(xm[b].q[i]) * wj[b].q[i];
        sum += xm[b].d * wj[b].d * static_cast<float>(dot);
      }
      out[m * n + j] = sum + (bias ? bias[j] : 0.f);
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define CULTURESPA_HAVE_AVX2_KERNELS 1
// qx . qw of one block as 8 int32 partial sums converted to float: maddubs
// needs an unsigned operand, so |w| and x * sign(w) (ggml's AVX2 trick; the
// quantiser never produces -128, so |w| <= 127 and no pair saturates).
__attribute__((target("avx2,fma"))) inline __m256 q8_block_dot(const int8_t* qx, const int8_t* qw) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qx));
  const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qw));
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

__attribute__((target("avx2,fma"))) inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma")))
void q8_rows_avx2(const Q8Block* x, const Q8Block* w, const float* bias, float* out, int64_t rows, int64_t blocks,
                  int64_t n, int64_t n_begin, int64_t n_end) {
  for (int64_t j0 = n_begin; j0 < n_end; j0 += 4) {
    const int64_t nj = std::min<int64_t>(4, n_end - j0);
    const FourRows<Q8Block> rows4(w, j0, nj, blocks);
    const Q8Block *w0 = rows4.r[0], *w1 = rows4.r[1], *w2 = rows4.r[2], *w3 = rows4.r[3];
    for (int64_t m = 0; m < rows; ++m) {
      const Q8Block* xm = x + m * blocks;
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
      for (int64_t b = 0; b < blocks; ++b) {
        const float dx = xm[b].d;
        a0 = _mm256_fmadd_ps(_mm256_set1_ps(dx * w0[b].d), q8_block_dot(xm[b].q, w0[b].q), a0);
        a1 = _mm256_fmadd_ps(_mm256_set1_ps(dx * w1[b].d), q8_block_dot(xm[b].q, w1[b].q), a1);
        a2 = _mm256_fmadd_ps(_mm256_set1_ps(dx * w2[b].d), q8_block_dot(xm[b].q, w2[b].q), a2);
        a3 = _mm256_fmadd_ps(_mm256_set1_ps(dx * w3[b].d), q8_block_dot(xm[b].q, w3[b].q), a3);
      }
      const float sums[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)};
      for (int64_t j = 0; j < nj; ++j) out[m * n + j0 + j] = sums[j] + (bias ? bias[j0 + j] : 0.f);
    }
  }
}
#endif

void q8_rows(const Q8Block* x, const Q8Block* w, const float* bias, float* out, int64_t rows, int64_t blocks,
             int64_t n, int64_t n_begin, int64_t n_end) {
#ifdef CULTURESPA_HAVE_AVX2_KERNELS
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2) return q8_rows_avx2(x, w, bias, out, rows, blocks, n, n_begin, n_end);
#endif
  q8_rows_generic(x, w, bias, out, rows, blocks, n, n_begin, n_end);
}

// Rows handed to one OpenMP thread at a time: enough work to outweigh the
// cost of waking a thread (tens of microseconds on small VMs).
int64_t grain_rows(int64_t width) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(width, 1)); }

// Kernels over at most kSkinnyRows rows (decode) run on culturespa's worker
// pool, which hands work over in microseconds; larger ones (prefill) on
// LibTorch's OpenMP pool, warm from the matrix products around them.
void parallel_rows(int64_t rows, int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (rows <= kSkinnyRows) {
    thread_pool::parallel_for(n, grain, fn);
  } else {
    at::parallel_for(0, n, grain, fn);
  }
}

const uint16_t* bf16_data(const at::Tensor& t) { return reinterpret_cast<const uint16_t*>(t.data_ptr<at::BFloat16>()); }
const Q8Block* q8_data(const at::Tensor& t) { return reinterpret_cast<const Q8Block*>(t.data_ptr<int8_t>()); }

}  // namespace

at::Tensor add_rms_norm(at::Tensor& hidden, const at::Tensor& delta, const at::Tensor& weight, double eps) {
  RECORD_FUNCTION("culturespa::add_rms_norm", std::vector<c10::IValue>());  // visible to torch.profiler
  const int64_t n = hidden.size(-1), rows = hidden.numel() / n;
  at::Tensor out = at::empty(hidden.sizes(), hidden.options());
  float* h = hidden.data_ptr<float>();
  const float* d = delta.defined() ? delta.data_ptr<float>() : nullptr;
  const float* w = weight.data_ptr<float>();
  float* o = out.data_ptr<float>();
  parallel_rows(rows, rows, grain_rows(n), [&](int64_t begin, int64_t end) {
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
  parallel_rows(rows, rows, grain_rows(width), [&](int64_t begin, int64_t end) {
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
  parallel_rows(n_queries, static_cast<int64_t>(items.size()), 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scores, tile;
    for (int64_t i = begin; i < end; ++i)
      attention_item_any(q, k, v, queries.data(), tokens.pos.data(), items[static_cast<std::size_t>(i)], l, o,
                         scores, tile);
  });
  return out;
}

WeightType weight_type(const at::Tensor& weight) {
  switch (weight.scalar_type()) {
    case at::kFloat: return WeightType::float32;
    case at::kBFloat16: return WeightType::bfloat16;
    case at::kChar: return WeightType::q8_0;
    default: throw ValueError(std::string("no CPU weight type stores dtype ") + c10::toString(weight.scalar_type()));
  }
}

const char* weight_type_name(WeightType type) {
  switch (type) {
    case WeightType::float32: return "float32";
    case WeightType::bfloat16: return "bfloat16";
    case WeightType::q8_0: return "q8_0";
  }
  return "?";
}

at::Tensor weight_pack(const at::Tensor& weight, WeightType type) {
  if (type == WeightType::float32) return weight;
  if (type == WeightType::bfloat16) return weight.to(at::kBFloat16);  // round to nearest even
  const int64_t n = weight.size(0), k = weight.size(1);
  if (k % kQ8Block != 0)
    throw ValueError("q8_0 weights need rows of a multiple of 32 values, this matrix has " + std::to_string(k));
  const at::Tensor w = weight.contiguous();
  const int64_t blocks = k / kQ8Block;
  at::Tensor out = at::empty({n, blocks * kQ8BlockBytes}, weight.options().dtype(at::kChar));
  const float* src = w.data_ptr<float>();
  auto* dst = reinterpret_cast<Q8Block*>(out.data_ptr<int8_t>());
  at::parallel_for(0, n, grain_rows(k), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) q8_quantize_row(src + r * k, dst + r * blocks, k);
  });
  return out;
}

namespace {
// Rows `ids` (nullptr: every row) of a q8_0 weight widened to float32.
at::Tensor q8_unpack_rows(const at::Tensor& weight, const int64_t* ids, int64_t count) {
  const int64_t blocks = weight.size(1) / kQ8BlockBytes, k = blocks * kQ8Block;
  at::Tensor out = at::empty({count, k}, weight.options().dtype(at::kFloat));
  const Q8Block* src = q8_data(weight);
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, count, grain_rows(k), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const Q8Block* row = src + (ids ? ids[r] : r) * blocks;
      for (int64_t b = 0; b < blocks; ++b)
        for (int64_t i = 0; i < kQ8Block; ++i) dst[r * k + b * kQ8Block + i] = row[b].d * row[b].q[i];
    }
  });
  return out;
}
}  // namespace

at::Tensor weight_unpack(const at::Tensor& weight) {
  switch (weight_type(weight)) {
    case WeightType::float32: return weight;
    case WeightType::bfloat16: return weight.to(at::kFloat);
    case WeightType::q8_0: return q8_unpack_rows(weight, nullptr, weight.size(0));
  }
  return weight;
}

at::Tensor weight_rows(const at::Tensor& weight, const at::Tensor& ids) {
  switch (weight_type(weight)) {
    case WeightType::float32: return at::embedding(weight, ids);
    case WeightType::bfloat16: return at::embedding(weight, ids).to(at::kFloat);
    case WeightType::q8_0: {
      const at::Tensor index = ids.to(at::kLong).contiguous();
      return q8_unpack_rows(weight, index.data_ptr<int64_t>(), index.numel());
    }
  }
  return weight;
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, MatmulBackend backend) {
  const int64_t rows = x.size(0), k = x.size(1), n = weight.size(0);
  const WeightType type = weight_type(weight);
  if (rows > (type == WeightType::float32 ? kSkinnyRows : kSkinnyRowsNarrowWeights)) {
    // Enough rows that the product is compute-bound: a float32 copy of a
    // bf16 / q8_0 weight costs one pass over it, small next to the product.
    const at::Tensor w = type == WeightType::float32 ? weight : weight_unpack(weight);
    if (backend == MatmulBackend::onednn) {
      // Input and output are converted to and from oneDNN's layout (two
      // copies, small next to the product); the weight stays as loaded.
      return at::mkldnn_linear(x.to_mkldnn(), w, bias).to_dense();
    }
    return at::linear(x, w, bias);
  }
  RECORD_FUNCTION("culturespa::linear_skinny", std::vector<c10::IValue>());
  at::Tensor out = at::empty({rows, n}, x.options());
  const at::Tensor xc = x.contiguous();
  const float* xp = xc.data_ptr<float>();
  const float* bp = bias.defined() ? bias.data_ptr<float>() : nullptr;
  float* op = out.data_ptr<float>();
  // Work in blocks of 4 weight rows (a thread's range never splits one), at
  // least ~32 KiB of weights per chunk.
  const int64_t blocks = (n + 3) / 4;
  const int64_t block_bytes = 4 * (type == WeightType::q8_0 ? weight.size(1) : k * weight.element_size());
  const int64_t grain = std::max<int64_t>(1, 32768 / block_bytes);
  switch (type) {
    case WeightType::float32: {
      const float* wp = weight.data_ptr<float>();
      thread_pool::parallel_for(blocks, grain, [&](int64_t begin, int64_t end) {
        skinny_rows_f32(xp, wp, bp, op, rows, k, n, begin * 4, std::min(n, end * 4));
      });
      break;
    }
    case WeightType::bfloat16: {
      const uint16_t* wp = bf16_data(weight);
      thread_pool::parallel_for(blocks, grain, [&](int64_t begin, int64_t end) {
        skinny_rows_bf16(xp, wp, bp, op, rows, k, n, begin * 4, std::min(n, end * 4));
      });
      break;
    }
    case WeightType::q8_0: {
      const int64_t q_blocks = weight.size(1) / kQ8BlockBytes;
      if (q_blocks * kQ8Block != k)
        throw ValueError("linear: q8_0 weight rows hold " + std::to_string(q_blocks * kQ8Block) +
                         " values, the input has " + std::to_string(k));
      std::vector<Q8Block> xq(static_cast<std::size_t>(rows * q_blocks));
      for (int64_t m = 0; m < rows; ++m) q8_quantize_row(xp + m * k, xq.data() + m * q_blocks, k);
      const Q8Block* wp = q8_data(weight);
      thread_pool::parallel_for(blocks, grain, [&](int64_t begin, int64_t end) {
        q8_rows(xq.data(), wp, bp, op, rows, q_blocks, n, begin * 4, std::min(n, end * 4));
      });
      break;
    }
  }
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
  parallel_rows(rows, rows, grain_rows(2 * n), [&](int64_t begin, int64_t end) {
    silu_mul_rows(g + begin * 2 * n, o + begin * n, end - begin, n);
  });
  return out;
}

}  // namespace culturespa::cpu_kernels

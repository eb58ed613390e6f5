// The decode worker pool and the CPU weight types (bfloat16, q8_0): the pool
// on its own, then the fused path with each weight type against the LibTorch
// operations, and its invariance to the thread count and the batch.
#include "culturespa/core/error.h"
#include "culturespa/model/model.h"
#include "culturespa/model/runtime.h"
#include "culturespa/model/testing.h"

#include <ATen/ATen.h>

#include "model/cpu_kernels.h"
#include "model/thread_pool.h"
#include "support.h"

#include <atomic>
#include <stdexcept>
#include <thread>

using namespace culturespa;
using Catch::Matchers::Contains;

namespace {

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Wide enough that every skinny product splits into several pool chunks
// (the pool runs a call of under ~32 KiB of weights on the caller alone).
TestCheckpointOptions wide_options() {
  TestCheckpointOptions o;
  o.vocab_size = 512;
  o.hidden_size = 256;
  o.intermediate_size = 512;
  o.num_attention_heads = 4;
  o.num_key_value_heads = 2;
  o.seed = 3;
  return o;
}

std::string write_checkpoint(const std::string& name, const TestCheckpointOptions& options) {
  const auto dir = testing::scratch_dir(name) / "ckpt";
  testing_checkpoint_write(dir.string(), options);
  return dir.string();
}

// Restores the thread count when a test changes it.
struct ThreadsGuard {
  int saved = runtime_num_threads();
  ~ThreadsGuard() { runtime_set_num_threads(saved); }
};

}  // namespace

TEST_CASE("thread_pool::parallel_for runs every index exactly once, on any number of threads") {
  ThreadsGuard guard;
  for (const int threads : {1, 2, 3, 5}) {
    runtime_set_num_threads(threads);
    CHECK(thread_pool::threads() == threads);
    for (const int64_t n : {int64_t{1}, int64_t{7}, int64_t{64}, int64_t{1001}}) {
      for (const int64_t grain : {int64_t{1}, int64_t{3}, int64_t{2000}}) {
        std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
        thread_pool::parallel_for(n, grain, [&](int64_t begin, int64_t end) {
          CHECK(begin < end);
          for (int64_t i = begin; i < end; ++i) hits[static_cast<std::size_t>(i)]++;
        });
        int wrong = 0;
        for (auto& h : hits) wrong += h.load() != 1;
        CHECK(wrong == 0);
      }
    }
  }
}

TEST_CASE("thread_pool: exceptions reach the caller; nested and concurrent calls run correctly") {
  ThreadsGuard guard;
  runtime_set_num_threads(3);
  CHECK_THROWS_WITH(thread_pool::parallel_for(100, 1,
                                              [](int64_t begin, int64_t) {
                                                if (begin >= 50) throw std::runtime_error("chunk failed");
                                              }),
                    Contains("chunk failed"));
  // Still usable after a failure; a call from inside a job runs serially.
  std::atomic<int64_t> total{0};
  thread_pool::parallel_for(10, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      thread_pool::parallel_for(10, 1, [&](int64_t b, int64_t e) { total += e - b; });
  });
  CHECK(total.load() == 100);
  // Two threads calling at once: one gets the pool, the other runs alone.
  std::atomic<int64_t> sums[2] = {{0}, {0}};
  auto caller = [&](int which) {
    for (int rep = 0; rep < 200; ++rep)
      thread_pool::parallel_for(256, 4, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) sums[which] += i;
      });
  };
  std::thread a(caller, 0), b(caller, 1);
  a.join();
  b.join();
  CHECK(sums[0].load() == 200 * 255 * 256 / 2);
  CHECK(sums[1].load() == 200 * 255 * 256 / 2);
}

TEST_CASE("cpu weight types: packing round trips and the skinny products match a float32 product") {
  const at::Tensor w = at::randn({70, 96});
  const at::Tensor x = at::randn({5, 96});
  const at::Tensor bias = at::randn({70});
  const at::Tensor expected = at::linear(x, w, bias);
  // float32: the skinny kernel against ATen (only summation order differs).
  CHECK(max_diff(cpu_kernels::linear(x, w, bias, cpu_kernels::MatmulBackend::blas), expected) < 1e-4);

  const at::Tensor bf16 = cpu_kernels::weight_pack(w, cpu_kernels::WeightType::bfloat16);
  CHECK(cpu_kernels::weight_type(bf16) == cpu_kernels::WeightType::bfloat16);
  const at::Tensor bf16_values = cpu_kernels::weight_unpack(bf16);
  CHECK(max_diff(bf16_values, w) <= w.abs().max().item<double>() / 256);
  // The kernel widens bf16 exactly: it equals a float32 product of the rounded weights.
  CHECK(max_diff(cpu_kernels::linear(x, bf16, bias, cpu_kernels::MatmulBackend::blas),
                 at::linear(x, bf16_values, bias)) < 1e-4);

  const at::Tensor q8 = cpu_kernels::weight_pack(w, cpu_kernels::WeightType::q8_0);
  CHECK(q8.sizes() == at::IntArrayRef({70, 3 * cpu_kernels::kQ8BlockBytes}));
  const at::Tensor q8_values = cpu_kernels::weight_unpack(q8);
  // Each value within half a quantisation step of its block (max|w| / 127 / 2).
  const at::Tensor step = w.view({70, 3, 32}).abs().amax(-1, true) / 127;
  CHECK(((q8_values - w).view({70, 3, 32}).abs() <= step / 2 + 1e-7).all().item<bool>());
  // Packing the unpacked values gives the same blocks back (a Q8_0 GGUF keeps its blocks).
  CHECK(at::equal(cpu_kernels::weight_pack(q8_values, cpu_kernels::WeightType::q8_0), q8));
  CHECK(at::equal(cpu_kernels::weight_rows(q8, at::tensor({4, 0, 69}, at::kLong)),
                  q8_values.index_select(0, at::tensor({4, 0, 69}, at::kLong))));
  // The int8 product quantises x per 32-block too: the error is that of 8-bit activations.
  const at::Tensor q8_out = cpu_kernels::linear(x, q8, bias, cpu_kernels::MatmulBackend::blas);
  const double scale = at::linear(x, q8_values).abs().max().item<double>();
  CHECK(max_diff(q8_out, at::linear(x, q8_values, bias)) < 0.02 * scale);
  // More rows than the skinny kernels take: the widened weights through BLAS,
  // exact up to summation order.
  const at::Tensor tall = at::randn({cpu_kernels::kSkinnyRowsNarrowWeights + 1, 96});
  CHECK(max_diff(cpu_kernels::linear(tall, q8, bias, cpu_kernels::MatmulBackend::blas),
                 at::linear(tall, q8_values, bias)) < 1e-4);
  CHECK_THROWS_WITH(cpu_kernels::weight_pack(at::randn({4, 40}), cpu_kernels::WeightType::q8_0),
                    Contains("multiple of 32") && Contains("40"));
}

TEST_CASE("decode on the worker pool does not depend on the thread count or the batch") {
  ThreadsGuard guard;
  const std::string dir = write_checkpoint("cpu-kernels-invariance", wide_options());
  for (const char* weights : {"float32", "bfloat16", "q8_0"}) {
    DYNAMIC_SECTION(weights) {
      ModelOptions options;
      options.weights = weights;
      const Model model(dir, options);
      CHECK(model.weight_type() == weights);
      // 4 x 4 prompt tokens: every call has at most 16 rows, so all take the
      // skinny kernels (q8_0 quantises activations there, BLAS gets float32).
      const at::Tensor prompts = at::randint(0, 512, {4, 4}, at::kLong);
      const at::Tensor steps = at::randint(0, 512, {4, 3}, at::kLong);
      // Each sequence alone on 1 thread; then all four together on 1, 2 and 3.
      std::vector<at::Tensor> alone;
      runtime_set_num_threads(1);
      for (int64_t b = 0; b < 4; ++b) {
        KVCache cache = model.cache_create(1, 16);
        std::vector<at::Tensor> logits{model.forward(prompts.narrow(0, b, 1), {}, &cache)};
        for (int64_t s = 0; s < 3; ++s) logits.push_back(model.forward(steps.narrow(0, b, 1).narrow(1, s, 1), {}, &cache));
        alone.push_back(at::cat(logits, 0));
      }
      const at::Tensor expected = at::stack(alone, 0);  // [4, 4 calls, vocab]
      for (const int threads : {1, 2, 3}) {
        runtime_set_num_threads(threads);
        KVCache cache = model.cache_create(4, 16);
        std::vector<at::Tensor> logits{model.forward(prompts, {}, &cache)};
        for (int64_t s = 0; s < 3; ++s) logits.push_back(model.forward(steps.narrow(1, s, 1), {}, &cache));
        INFO("threads " << threads);
        CHECK(max_diff(at::stack(logits, 1), expected) < 1e-5);
      }
    }
  }
}

TEST_CASE("bfloat16 and q8_0 weights compute what the LibTorch operations compute on the same values") {
  // bfloat16: a BF16 checkpoint holds exactly the values the fused path
  // keeps, so the float32 LibTorch path on it is the reference, to float rounding.
  TestCheckpointOptions o = wide_options();
  o.dtype = "BF16";
  o.architecture = "Qwen2ForCausalLM";  // biases too
  const std::string dir = write_checkpoint("cpu-kernels-bf16", o);
  ModelOptions plain_options;
  plain_options.cpu_kernels = false;
  plain_options.dtype = "float32";
  const Model plain(dir, plain_options);
  ModelOptions bf16_options;
  bf16_options.dtype = "bfloat16";
  const Model bf16(dir, bf16_options);
  CHECK(bf16.dtype() == "bfloat16");
  CHECK(bf16.weight_type() == "bfloat16");
  CHECK(bf16.compute_path().find("fused") != std::string::npos);
  CHECK(bf16.weight_bytes() < plain.weight_bytes() * 0.51);

  ModelOptions q8_options;
  q8_options.weights = "q8_0";
  const Model q8(dir, q8_options);
  CHECK(q8.weight_type() == "q8_0");
  CHECK(q8.weight_bytes() < plain.weight_bytes() * 0.3);

  const at::Tensor ids = at::randint(0, 512, {3, 21}, at::kLong);
  const at::Tensor lengths = at::tensor({21, 5, 13}, at::kLong);
  KVCache plain_cache = plain.cache_create(3, 32), bf16_cache = bf16.cache_create(3, 32),
          q8_cache = q8.cache_create(3, 32);
  at::Tensor expected = plain.forward(ids, lengths, &plain_cache);
  CHECK(max_diff(bf16.forward(ids, lengths, &bf16_cache), expected) < 1e-4);
  at::Tensor q8_logits = q8.forward(ids, lengths, &q8_cache);
  // q8_0 rounds the weights to 8 bits: close to, not equal to, the reference.
  const double spread = expected.abs().max().item<double>();
  CHECK(max_diff(q8_logits, expected) < 0.1 * spread);
  for (int step = 0; step < 4; ++step) {
    const at::Tensor next = expected.argmax(-1, true);
    expected = plain.forward(next, {}, &plain_cache);
    CHECK(max_diff(bf16.forward(next, {}, &bf16_cache), expected) < 1e-4);
    q8_logits = q8.forward(next, {}, &q8_cache);
    CHECK(max_diff(q8_logits, expected) < 0.1 * spread);
  }

  ModelOptions bad;
  bad.weights = "q4_k";
  CHECK_THROWS_WITH(Model(dir, bad), Contains("weights") && Contains("q4_k"));
  bad.weights = "q8_0";
  bad.cpu_kernels = false;
  CHECK_THROWS_WITH(Model(dir, bad), Contains("q8_0") && Contains("fused CPU kernels"));
}

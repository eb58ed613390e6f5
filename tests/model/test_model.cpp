#include "culturespa/core/error.h"
#include "culturespa/model/config.h"
#include "culturespa/model/model.h"
#include "culturespa/model/runtime.h"
#include "culturespa/model/safetensors.h"
#include "culturespa/model/testing.h"

#include <ATen/ATen.h>

#include "support.h"

#include <fstream>

using namespace culturespa;
using Catch::Matchers::Contains;

namespace {

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

std::string write_checkpoint(const std::string& name, TestCheckpointOptions options = {}) {
  const auto dir = testing::scratch_dir(name) / "ckpt";
  testing_checkpoint_write(dir.string(), options);
  return dir.string();
}

}  // namespace

TEST_CASE("config parsing accepts each architecture and refuses others by name") {
  for (const char* arch : {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM"}) {
    TestCheckpointOptions o;
    o.architecture = arch;
    const ModelConfig c = model_config_load(write_checkpoint("config-arch", o));
    CHECK(c.architecture == arch);
    CHECK(c.head_dim == 16);
    CHECK(c.qk_norm == (std::string(arch) == "Qwen3ForCausalLM"));
    CHECK(c.qkv_bias == (std::string(arch) == "Qwen2ForCausalLM"));
    CHECK(c.generation.eos_token_ids == std::vector<int64_t>{2});
  }
  const std::string base = R"({"architectures":["LlamaForCausalLM"],"vocab_size":8,"hidden_size":8,)"
                           R"("intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2)";
  CHECK(model_config_parse(base + "}", "c.json").num_key_value_heads == 2);
  CHECK_THROWS_WITH(model_config_parse(R"({"architectures":["BertModel"]})", "c.json"),
                    Contains("c.json") && Contains("BertModel"));
  CHECK_THROWS_WITH(model_config_parse(R"({"architectures":["LlamaForCausalLM"]})", "c.json"),
                    Contains("c.json") && Contains("'vocab_size'"));
  CHECK_THROWS_WITH(model_config_parse(base + R"(,"rope_scaling":{"type":"dynamic","factor":2}})", "c.json"),
                    Contains("dynamic"));
  CHECK_THROWS_WITH(model_config_parse(base + R"(,"hidden_act":"gelu"})", "c.json"), Contains("hidden_act"));
  CHECK_THROWS_AS(model_config_parse("{", "c.json"), FormatError);
  const ModelConfig scaled = model_config_parse(
      base + R"(,"rope_scaling":{"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4,)"
             R"("original_max_position_embeddings":8192}})", "c.json");
  CHECK(scaled.rope_scaling.type == RopeScalingType::llama3);
  CHECK(scaled.rope_scaling.original_max_position_embeddings == 8192);
}

TEST_CASE("incremental decode with the cache equals the full forward") {
  TestCheckpointOptions o;
  o.architecture = "Qwen3ForCausalLM";
  const Model model(write_checkpoint("model-incremental", o));
  const at::Tensor ids = at::randint(0, 256, {2, 10}, at::kLong);
  const at::Tensor positions = at::arange(10, at::kLong).repeat({2, 1});
  const at::Tensor full = model.forward(ids, {}, nullptr, positions);
  REQUIRE(full.sizes() == at::IntArrayRef({2, 10, 256}));
  KVCache cache = model.cache_create(2, 10);
  const at::Tensor first = model.forward(ids.narrow(1, 0, 4), {}, &cache);
  CHECK(max_diff(first, full.select(1, 3)) < 1e-4);
  for (int64_t t = 4; t < 10; ++t) {
    const at::Tensor step = model.forward(ids.narrow(1, t, 1), {}, &cache);
    CHECK(max_diff(step, full.select(1, t)) < 1e-4);
  }
  CHECK(cache.lengths() == std::vector<int64_t>{10, 10});
  CHECK_THROWS_AS(model.forward(ids.narrow(1, 0, 1), {}, &cache), ValueError);  // full
}

TEST_CASE("padded batch, shared prefix and dropped sequences equal single runs") {
  const Model model(write_checkpoint("model-batch"));
  const at::Tensor ids = at::randint(0, 256, {3, 9}, at::kLong);
  const at::Tensor lengths = at::tensor(std::vector<int64_t>{9, 4, 6});
  KVCache cache = model.cache_create(3, 16);
  const at::Tensor batch = model.forward(ids, lengths, &cache);
  for (int64_t b = 0; b < 3; ++b) {
    const at::Tensor alone = model.forward(ids.narrow(0, b, 1).narrow(1, 0, lengths[b].item<int64_t>()));
    CHECK(max_diff(batch[b], alone[0]) < 1e-4);
  }
  cache.copy_prefix(0, {1, 2}, 5);
  CHECK(cache.lengths() == std::vector<int64_t>{9, 5, 5});
  cache.keep({2});
  const at::Tensor next = model.forward(at::full({1, 1}, 7, at::kLong), {}, &cache);
  const at::Tensor expected = model.forward(at::cat({ids.narrow(0, 0, 1).narrow(1, 0, 5), at::full({1, 1}, 7, at::kLong)}, 1));
  CHECK(max_diff(next, expected) < 1e-4);
  CHECK_THROWS_AS(cache.keep({3}), ValueError);
  CHECK_THROWS_AS(cache.copy_prefix(0, {0}, 99), ValueError);
}

TEST_CASE("a KV cache made by a model of another shape is refused, not written out of bounds") {
  // The fused CPU kernels write the cache through raw pointers with the
  // model's layout: a smaller cache from another model was overrun (ASan:
  // heap-buffer-overflow in rope_cache_write) before forward checked it.
  TestCheckpointOptions wide;
  wide.hidden_size = 128;  // head_dim 32, 2 KV heads
  TestCheckpointOptions deep;
  deep.num_hidden_layers = 3;
  const Model small(write_checkpoint("model-cache-small"));  // head_dim 16, 2 KV heads, 2 layers
  const Model big(write_checkpoint("model-cache-wide", wide));
  const Model tall(write_checkpoint("model-cache-deep", deep));
  ModelOptions plain_options;
  plain_options.cpu_kernels = false;
  const Model plain(write_checkpoint("model-cache-plain"), plain_options);
  const at::Tensor ids = at::randint(0, 256, {2, 5}, at::kLong);
  for (const Model* other : {&big, &tall}) {
    KVCache foreign = small.cache_create(2, 8);
    testing::require_throws_naming<ValueError>([&] { other->forward(ids, {}, &foreign); },
                                               {"KV cache", "another model", "[2, 2, 2, 2, 9, 16]", "cache_create"});
    CHECK(foreign.lengths() == std::vector<int64_t>{0, 0});
  }
  KVCache empty;
  CHECK_THROWS_AS(small.forward(ids, {}, &empty), ValueError);
  // Models of one shape, dtype and device share caches (fused and LibTorch paths alike).
  KVCache shared = plain.cache_create(2, 8);
  const at::Tensor fused_logits = small.forward(ids, {}, &shared);
  CHECK(shared.lengths() == std::vector<int64_t>{5, 5});
  CHECK(fused_logits.sizes() == at::IntArrayRef({2, 256}));
}

TEST_CASE("sharded and half-precision checkpoints") {
  TestCheckpointOptions o;
  const Model single(write_checkpoint("model-single", o));
  o.shards = 3;
  const Model sharded(write_checkpoint("model-sharded", o));
  const at::Tensor ids = at::arange(1, 9, at::kLong).view({1, 8});
  CHECK(single.forward(ids).equal(sharded.forward(ids)));
  o.shards = 1;
  o.dtype = "BF16";
  const Model bf16(write_checkpoint("model-bf16", o));
  CHECK(bf16.dtype() == "float32");
  // Same seed: bf16-rounded weights give nearly the same logits.
  CHECK(max_diff(bf16.forward(ids), single.forward(ids)) < 0.5);
  CHECK(max_diff(bf16.forward(ids), single.forward(ids)) > 0);
}

TEST_CASE("bad checkpoints raise errors naming the file and the tensor or field") {
  const std::string dir = write_checkpoint("model-bad");
  CHECK_THROWS_AS(Model(dir + "/missing"), FileError);
  CHECK_THROWS_WITH(Model(dir, ModelOptions{"cuda:7"}), Contains("cuda:7"));
  {
    std::ofstream(dir + "/config.json") << R"({"architectures":["LlamaForCausalLM"], "vocab_size": 256})";
  }
  CHECK_THROWS_WITH(Model(dir), Contains("config.json") && Contains("'hidden_size'"));
  TestCheckpointOptions o;
  testing_checkpoint_write(dir, o);
  {
    std::ofstream(dir + "/config.json") << R"({"architectures":["LlamaForCausalLM"],"vocab_size":256,"hidden_size":64,)"
                                           R"("intermediate_size":96,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2})";
  }
  CHECK_THROWS_WITH(Model(dir), Contains("model.safetensors") && Contains("mlp.gate_proj.weight") && Contains("shape"));
  {
    std::ofstream(dir + "/config.json") << R"({"architectures":["LlamaForCausalLM"],"vocab_size":256,"hidden_size":64,)"
                                           R"("intermediate_size":128,"num_hidden_layers":3,"num_attention_heads":4,"num_key_value_heads":2})";
  }
  CHECK_THROWS_WITH(Model(dir), Contains("model.safetensors") && Contains("'model.layers.2."));

  // Wrong dtype: an integer tensor where a weight is expected.
  testing_checkpoint_write(dir, o);
  {
    const SafetensorsFile file(dir + "/model.safetensors");
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const auto& entry : file.tensors()) {
      at::Tensor t = file.tensor(entry.name).clone();
      if (entry.name == "model.norm.weight") t = t.to(at::kInt);
      tensors.emplace_back(entry.name, t);
    }
    safetensors_write(dir + "/model.safetensors.new", tensors);
  }
  std::filesystem::rename(dir + "/model.safetensors.new", dir + "/model.safetensors");
  CHECK_THROWS_WITH(Model(dir), Contains("model.safetensors") && Contains("'model.norm.weight'") && Contains("I32"));
  // Unreadable weights: a directory where the file should be.
  std::filesystem::remove(dir + "/model.safetensors");
  std::filesystem::create_directory(dir + "/model.safetensors");
  CHECK_THROWS_AS(Model(dir), FileError);
}

// The fused CPU kernels (with each matmul backend) against the plain LibTorch
// operations, on what exercises them: GQA groups, a sliding window, q/k
// norms, biases, head sizes with and without a compiled specialisation,
// prompts longer than one attention work item, padding, several logits per
// row in any order, batches on both sides of the skinny-matmul limit, decode.
TEST_CASE("the fused CPU path computes what the LibTorch operations compute") {
  struct Variant {
    const char* name;
    TestCheckpointOptions options;
  };
  std::vector<Variant> variants(4);
  variants[0].name = "llama-hd64";
  variants[0].options.hidden_size = 128;
  variants[0].options.num_attention_heads = 2;
  variants[0].options.num_key_value_heads = 1;
  variants[1].name = "mistral-window";
  variants[1].options.architecture = "MistralForCausalLM";
  variants[1].options.sliding_window = 7;
  variants[2].name = "qwen3-hd24";
  variants[2].options.architecture = "Qwen3ForCausalLM";
  variants[2].options.head_dim = 24;
  variants[3].name = "qwen2-bias";
  variants[3].options.architecture = "Qwen2ForCausalLM";
  variants[3].options.attention_bias = true;
  for (const Variant& v : variants) {
    DYNAMIC_SECTION(v.name) {
      const std::string dir = write_checkpoint(std::string("model-fused-") + v.name, v.options);
      ModelOptions plain_options;
      plain_options.cpu_kernels = false;
      const Model plain(dir, plain_options);
      for (const char* backend : {"blas", "onednn"}) {
        ModelOptions fused_options;
        fused_options.cpu_matmul = backend;
        if (std::string(backend) == "onednn" && !runtime_info().onednn) {
          CHECK_THROWS_AS(Model(dir, fused_options), ConfigError);
          continue;
        }
        const Model fused(dir, fused_options);
        CHECK(fused.compute_path().find(backend == std::string("blas") ? "BLAS" : "oneDNN") != std::string::npos);
        CHECK(plain.compute_path() == "LibTorch operations");
        for (const int64_t batch : {int64_t{3}, int64_t{70}}) {
          const at::Tensor ids = at::randint(0, 256, {batch, 41}, at::kLong);
          at::Tensor lengths = at::randint(1, 42, {batch}, at::kLong);
          lengths[0] = 41;
          const at::Tensor logits_at = at::stack({lengths - 1, at::zeros({batch}, at::kLong), (lengths - 1) / 2}, 1);
          KVCache plain_cache = plain.cache_create(batch, 48), fused_cache = fused.cache_create(batch, 48);
          CHECK(max_diff(plain.forward(ids, lengths, &plain_cache, logits_at),
                         fused.forward(ids, lengths, &fused_cache, logits_at)) < 1e-4);
          plain_cache.copy_prefix(0, {1}, 20);
          fused_cache.copy_prefix(0, {1}, 20);
          for (int step = 0; step < 3; ++step) {
            const at::Tensor next = at::randint(0, 256, {batch, 1}, at::kLong);
            CHECK(max_diff(plain.forward(next, {}, &plain_cache), fused.forward(next, {}, &fused_cache)) < 1e-4);
          }
          CHECK(plain_cache.lengths() == fused_cache.lengths());
        }
      }
    }
  }
  ModelOptions bad;
  bad.cpu_matmul = "mkl";
  CHECK_THROWS_WITH(Model(write_checkpoint("model-fused-bad"), bad), Contains("cpu_matmul") && Contains("mkl"));
}

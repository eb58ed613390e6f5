// LoRA adapters in Model: reading/writing PEFT folders, per-row adapters in
// mixed batches, merge/unmerge, the fused and LibTorch paths, the training
// forward, and the named errors. (PEFT parity: tests/model/test_lora.py.)
#include "culturespa/core/error.h"
#include "culturespa/model/lora.h"
#include "culturespa/model/model.h"
#include "culturespa/model/safetensors.h"
#include "culturespa/model/testing.h"

#include <ATen/ATen.h>

#include "support.h"

#include <fstream>
#include <nlohmann/json.hpp>

using namespace culturespa;
using Catch::Matchers::Contains;

namespace {

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

struct Fixture {
  std::filesystem::path dir;
  std::string ckpt;
  ModelConfig config;
};

Fixture fixture(const std::string& name, TestCheckpointOptions options = {}) {
  Fixture f;
  f.dir = testing::scratch_dir(name);
  f.ckpt = (f.dir / "ckpt").string();
  options.seed = 7;
  testing_checkpoint_write(f.ckpt, options);
  f.config = model_config_load(f.ckpt);
  return f;
}

// A random adapter (B != 0, so it changes the logits) written as a PEFT folder.
std::string adapter_write(const Fixture& f, const std::string& name, uint64_t seed, LoraConfig config = {}) {
  const LoraAdapter adapter = lora_adapter_init(f.config, config, seed, 0.2);
  const std::string dir = (f.dir / name).string();
  lora_adapter_write(dir, adapter);
  return dir;
}

at::Tensor ids_batch() {
  return at::tensor(std::vector<int64_t>{5, 9, 17, 33, 2, 70, 11, 8, 90, 4, 3, 200, 41, 6, 7, 12, 1, 99},
                    at::kLong)
      .view({3, 6});
}

ModelOptions with_kernels(bool fused) {
  ModelOptions o;
  o.cpu_kernels = fused;
  return o;
}

}  // namespace

TEST_CASE("adapter folders round-trip and configs follow PEFT's rules") {
  const Fixture f = fixture("lora-roundtrip");
  LoraConfig config;
  config.r = 4;
  config.alpha = 8;
  config.use_rslora = true;
  config.targets = {LoraTarget::q_proj, LoraTarget::v_proj, LoraTarget::down_proj};
  config.rank_pattern = {{"down_proj", 2}};
  const std::string dir = adapter_write(f, "a", 1, config);
  const LoraAdapter read = lora_adapter_read(dir, f.config);
  REQUIRE(read.modules.size() == 6);
  const LoraModule* down = read.find(1, LoraTarget::down_proj);
  REQUIRE(down);
  CHECK(down->a.size(0) == 2);
  CHECK(down->scale == Approx(8.0 / std::sqrt(2.0)));
  CHECK(read.find(0, LoraTarget::q_proj)->scale == Approx(4.0));
  CHECK(read.find(0, LoraTarget::k_proj) == nullptr);
  CHECK(read.config.use_rslora);

  // Non-rslora scale, "all-linear", and what PEFT cannot be run as.
  CHECK(lora_config_parse(R"({"r":8,"lora_alpha":16,"target_modules":"all-linear"})", "c.json").targets.size() == 7);
  CHECK(lora_config_parse(R"({"r":8,"lora_alpha":16})", "c.json").scale_of(0, LoraTarget::q_proj) == Approx(2.0));
  CHECK(lora_config_parse(R"({"target_modules":".*\\.(q|v)_proj"})", "c.json").targets.size() == 2);
  CHECK_THROWS_WITH(lora_config_parse(R"({"use_dora":true})", "c.json"), Contains("c.json") && Contains("use_dora"));
  CHECK_THROWS_WITH(lora_config_parse(R"({"peft_type":"IA3"})", "c.json"), Contains("peft_type"));
  CHECK_THROWS_WITH(lora_config_parse(R"({"target_modules":["q_proj","fc1"]})", "c.json"),
                    Contains("c.json") && Contains("fc1"));
  CHECK_THROWS_WITH(lora_config_parse(R"({"bias":"all"})", "c.json"), Contains("bias"));
}

// Hostile-input probe (issue #16): adapter_config.json fields of the wrong
// type or range are a ConfigError naming the file and field, never a bare
// JSON exception (RuntimeError without the file in Python) or a rank the
// nlohmann conversion truncated; a 30-digit layer number is not std::stoll's
// out_of_range (an IndexError traceback in Python).
TEST_CASE("adapter_config.json oddities are named errors") {
  for (const char* text : {R"({"use_dora":"no"})", R"({"fan_in_fan_out":1})", R"({"r":8.5})", R"({"r":1e30})",
                           R"({"r":"8"})", R"({"rank_pattern":{"q_proj":0}})", R"({"rank_pattern":{"q_proj":-4}})",
                           R"({"rank_pattern":{"q_proj":2.5}})", R"({"rank_pattern":[1]})",
                           R"({"alpha_pattern":{"q_proj":"x"}})"}) {
    INFO(text);
    testing::require_throws_naming<ConfigError>([&] { lora_config_parse(text, "dir/adapter_config.json"); },
                                                {"dir/adapter_config.json"});
  }
  CHECK_THROWS_WITH(lora_config_parse(R"({"rank_pattern":{"q_proj":0}})", "c.json"),
                    Contains("rank_pattern") && Contains("q_proj"));
  CHECK_THROWS_WITH(lora_config_parse(R"({"r":8.5})", "c.json"), Contains("r must be an integer"));
  CHECK(lora_config_parse(R"({"use_dora":false,"fan_in_fan_out":false,"rank_pattern":{"q_proj":2}})", "c.json")
            .rank_of(0, LoraTarget::q_proj) == 2);

  const Fixture f = fixture("lora-odd-layer");
  const std::string dir = (f.dir / "huge-layer").string();
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/adapter_config.json") << R"({"r":2,"lora_alpha":4,"target_modules":["q_proj"]})";
  const std::string prefix = "base_model.model.model.layers.123456789012345678901234567890.self_attn.q_proj.";
  safetensors_write(dir + "/adapter_model.safetensors",
                    {{prefix + "lora_A.weight", at::zeros({2, 64})}, {prefix + "lora_B.weight", at::zeros({64, 2})}});
  testing::require_throws_naming<ConfigError>([&] { lora_adapter_read(dir, f.config); },
                                              {"adapter_model.safetensors", "another base model"});
}

TEST_CASE("an adapter changes the logits and equals its merged weights, on both CPU paths") {
  const Fixture f = fixture("lora-merge");
  const std::string dir = adapter_write(f, "a", 3);
  const at::Tensor ids = ids_batch();
  for (const bool fused : {true, false}) {
    Model model(f.ckpt, with_kernels(fused));
    const at::Tensor base = model.forward(ids);
    model.adapter_load("a", dir);
    CHECK(model.adapter_names() == std::vector<std::string>{"a"});
    const at::Tensor adapted = model.forward(ids, {}, nullptr, {}, {"a", "a", "a"});
    CHECK(max_diff(adapted, base) > 1e-2);
    model.adapter_merge("a");
    CHECK(model.adapter_merged() == "a");
    CHECK(max_diff(model.forward(ids), adapted) < 1e-4);
    CHECK_THROWS_WITH(model.forward(ids, {}, nullptr, {}, {"a", "", ""}), Contains("merged"));
    CHECK_THROWS_WITH(model.adapter_unload("a"), Contains("merged"));
    model.adapter_unmerge();
    CHECK(model.adapter_merged().empty());
    // The original tensors come back: bit-exact.
    CHECK(at::equal(model.forward(ids), base));
    model.adapter_unload("a");
    CHECK(model.adapter_names().empty());
  }
}

TEST_CASE("a mixed-adapter batch equals each row run with its own adapter") {
  const Fixture f = fixture("lora-mixed");
  const std::string a = adapter_write(f, "a", 11), b = adapter_write(f, "b", 12);
  const at::Tensor ids = ids_batch();
  const at::Tensor lengths = at::tensor(std::vector<int64_t>{6, 4, 5}, at::kLong);
  at::Tensor fused_logits;
  for (const bool fused : {true, false}) {
    Model model(f.ckpt, with_kernels(fused));
    model.adapter_load("a", a);
    model.adapter_load("b", b);
    const std::vector<std::string> route{"b", "", "a"};
    const at::Tensor mixed = model.forward(ids, lengths, nullptr, {}, route);
    for (int64_t row = 0; row < 3; ++row) {
      const std::string& name = route[row];
      const at::Tensor single = model.forward(ids.narrow(0, row, 1), lengths.narrow(0, row, 1), nullptr, {},
                                              name.empty() ? std::vector<std::string>{} : std::vector<std::string>{name});
      CHECK(max_diff(mixed.narrow(0, row, 1), single) < 1e-4);
    }
    // With the KV cache: a prompt, then one decode step per row.
    KVCache cache = model.cache_create(3, 16);
    model.forward(ids, lengths, &cache, {}, route);
    const at::Tensor step = model.forward(at::full({3, 1}, 42, at::kLong), {}, &cache, {}, route);
    for (int64_t row = 0; row < 3; ++row) {
      KVCache one = model.cache_create(1, 16);
      const std::vector<std::string> r = route[row].empty() ? std::vector<std::string>{} : std::vector<std::string>{route[row]};
      model.forward(ids.narrow(0, row, 1), lengths.narrow(0, row, 1), &one, {}, r);
      CHECK(max_diff(step.narrow(0, row, 1), model.forward(at::full({1, 1}, 42, at::kLong), {}, &one, {}, r)) < 1e-4);
    }
    if (fused) fused_logits = mixed;
    else CHECK(max_diff(mixed, fused_logits) < 1e-4);
    CHECK_THROWS_WITH(model.forward(ids, lengths, nullptr, {}, {"a", "nope", ""}), Contains("nope"));
    CHECK_THROWS_WITH(model.forward(ids, lengths, nullptr, {}, {"a"}), Contains("batch of 3"));
    CHECK_THROWS_WITH(model.adapter_load("a", a), Contains("already loaded"));
  }
}

TEST_CASE("forward_train gives the adapted logits and gradients for the adapter only") {
  const Fixture f = fixture("lora-train-forward");
  LoraAdapter adapter = lora_adapter_init(f.config, LoraConfig{}, 5, 0.2);
  for (LoraModule& m : adapter.modules) {
    m.a.requires_grad_(true);
    m.b.requires_grad_(true);
  }
  Model model(f.ckpt);
  model.adapter_add("a", adapter);
  const at::Tensor ids = ids_batch();
  const at::Tensor lengths = at::tensor(std::vector<int64_t>{6, 4, 5}, at::kLong);
  const at::Tensor last = at::tensor(std::vector<int64_t>{5, 6 + 3, 12 + 4}, at::kLong);
  const at::Tensor expected = model.forward(ids, lengths, nullptr, {}, {"a", "a", "a"});
  at::Tensor grads[2];
  for (const bool checkpointing : {false, true}) {
    const at::Tensor logits = model.forward_train(ids, lengths, last, adapter, checkpointing);
    CHECK(max_diff(logits.detach(), expected) < 1e-4);
    for (LoraModule& m : adapter.modules) {
      if (m.a.grad().defined()) m.a.mutable_grad().zero_();
      if (m.b.grad().defined()) m.b.mutable_grad().zero_();
    }
    logits.logsumexp(-1).sum().backward();
    const LoraModule& q = *adapter.find(0, LoraTarget::q_proj);
    REQUIRE(q.a.grad().defined());
    CHECK(q.a.grad().abs().sum().item<double>() > 0);
    grads[checkpointing] = q.a.grad().clone();
  }
  CHECK(max_diff(grads[0], grads[1]) < 1e-5);
}

TEST_CASE("adapters for another base, or with inconsistent files, get named errors") {
  const Fixture f = fixture("lora-errors");
  Model model(f.ckpt);

  SECTION("rank in the config differs from the tensors") {
    const std::string dir = adapter_write(f, "rank", 1);
    nlohmann::json config = nlohmann::json::parse(std::ifstream(dir + "/adapter_config.json"));
    config["r"] = 4;
    std::ofstream(dir + "/adapter_config.json") << config.dump();
    testing::require_throws_naming<ConfigError>([&] { model.adapter_load("x", dir); },
                                                {"adapter_model.safetensors", "rank 8", "r = 4"});
  }
  SECTION("more layers than the model") {
    TestCheckpointOptions deeper;
    deeper.num_hidden_layers = 3;
    const Fixture other = fixture("lora-errors-deep", deeper);
    const std::string dir = adapter_write(other, "deep", 1);
    testing::require_throws_naming<ConfigError>([&] { model.adapter_load("x", dir); },
                                                {"layers.2", "2 layers", "another base model"});
  }
  SECTION("another hidden size") {
    TestCheckpointOptions wider;
    wider.hidden_size = 96;
    const Fixture other = fixture("lora-errors-wide", wider);
    const std::string dir = adapter_write(other, "wide", 1);
    testing::require_throws_naming<ConfigError>([&] { model.adapter_load("x", dir); },
                                                {"hidden size 64", "another base model"});
  }
  SECTION("a target module the model lacks") {
    const std::string dir = (f.dir / "lm_head").string();
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/adapter_config.json") << R"({"r":2,"lora_alpha":4,"target_modules":["q_proj"]})";
    safetensors_write(dir + "/adapter_model.safetensors",
                      {{"base_model.model.model.layers.0.self_attn.fc1.lora_A.weight", at::zeros({2, 64})},
                       {"base_model.model.model.layers.0.self_attn.fc1.lora_B.weight", at::zeros({64, 2})}});
    testing::require_throws_naming<ConfigError>([&] { model.adapter_load("x", dir); }, {"fc1", "not in the model"});
    std::ofstream(dir + "/adapter_config.json") << R"({"r":2,"lora_alpha":4,"target_modules":["lm_head"]})";
    testing::require_throws_naming<ConfigError>([&] { model.adapter_load("x", dir); }, {"lm_head"});
  }
  SECTION("missing files") {
    testing::require_throws_naming<FileError>([&] { model.adapter_load("x", (f.dir / "none").string()); },
                                              {"adapter_config.json"});
  }
  CHECK(model.adapter_names().empty());
}

TEST_CASE("packed weights apply adapters per row; merging needs float32 matrices") {
  TestCheckpointOptions options;
  options.hidden_size = 64;  // rows of whole Q8_0 blocks
  options.intermediate_size = 128;
  const Fixture f = fixture("lora-packed", options);
  const std::string dir = adapter_write(f, "a", 3);
  const at::Tensor ids = ids_batch();
  for (const std::string weights : {"bfloat16", "q8_0"}) {
    INFO(weights);
    ModelOptions o;
    o.weights = weights;
    Model model(f.ckpt, o);
    model.adapter_load("a", dir);
    const at::Tensor base = model.forward(ids);
    CHECK(max_diff(model.forward(ids, {}, nullptr, {}, {"a", "a", "a"}), base) > 1e-2);
    testing::require_throws_naming<ConfigError>([&] { model.adapter_merge("a"); },
                                                {"adapter_merge", weights, "weights=\"float32\""});
    CHECK(model.adapter_merged().empty());
  }
}

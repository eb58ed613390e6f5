// A checkpoint loads only when its configuration and its tensors agree
// (issue #16: config.json saying 10 layers for a 30-layer checkpoint loaded
// with layers silently dropped), a model file that is not GGUF says so, and
// ModelOptions::mmap = false reads the weights instead of mapping them.
#include "culturespa/core/error.h"
#include "culturespa/model/model.h"
#include "culturespa/model/safetensors.h"
#include "culturespa/model/testing.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "support.h"

using namespace culturespa;
namespace fs = std::filesystem;

namespace {

fs::path three_layers(const std::string& name) {
  const auto dir = testing::scratch_dir(name);
  TestCheckpointOptions options;
  options.num_hidden_layers = 3;
  options.seed = 3;
  testing_checkpoint_write(dir.string(), options);
  return dir;
}

void config_edit(const fs::path& dir, const std::string& key, const nlohmann::json& value) {
  std::ifstream in(dir / "config.json");
  nlohmann::json config = nlohmann::json::parse(in);
  config[key] = value;
  std::ofstream(dir / "config.json") << config.dump();
}

}  // namespace

TEST_CASE("model: a config naming fewer layers than the weights hold is refused") {
  const auto dir = three_layers("consistency-layers");
  config_edit(dir, "num_hidden_layers", 1);
  testing::require_throws_naming<FormatError>([&] { Model model(dir.string()); },
                                              {dir.string(), "3 layers", "num_hidden_layers 1", "1..2"});
}

TEST_CASE("model: a tensor no configuration field uses is refused, the old RoPE table is not") {
  const auto dir = three_layers("consistency-extra");
  const std::string file = (dir / "model.safetensors").string();
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  {
    const SafetensorsFile st(file);
    for (const auto& entry : st.tensors()) tensors.emplace_back(entry.name, st.tensor(entry.name).clone());
  }
  auto with = tensors;
  with.emplace_back("model.layers.0.self_attn.rotary_emb.inv_freq", at::ones({8}));
  safetensors_write(file, with);
  CHECK_NOTHROW(Model(dir.string()));

  with = tensors;
  with.emplace_back("model.layers.0.self_attn.q_proj.bias", at::zeros({64}));
  safetensors_write(file, with);
  testing::require_throws_naming<FormatError>([&] { Model model(dir.string()); },
                                              {"1 tensor(s)", "q_proj.bias", "config.json"});
}

TEST_CASE("model: a model file that is not GGUF is reported as such, not as a missing folder") {
  const auto dir = testing::scratch_dir("consistency-gguf");
  const auto empty = dir / "empty.gguf";
  std::ofstream(empty).flush();
  testing::require_throws_naming<FormatError>([&] { Model model(empty.string()); }, {"empty.gguf", "GGUF"});
  const auto bad = dir / "bad.gguf";
  std::ofstream(bad) << "GGUX and more bytes after the magic";
  testing::require_throws_naming<FormatError>([&] { Model model(bad.string()); }, {"bad.gguf", "magic"});
  const auto st = three_layers("consistency-gguf-st") / "model.safetensors";
  testing::require_throws_naming<FileError>([&] { Model model(st.string()); }, {"safetensors", "folder"});
}

TEST_CASE("model: mmap = false reads the weights and gives the same logits") {
  const auto dir = three_layers("consistency-read");
  ModelOptions read;
  read.mmap = false;
  {
    const Model mapped(dir.string()), copied(dir.string(), read);
    const at::Tensor ids = at::tensor(std::vector<int64_t>{1, 5, 9, 200}, at::kLong).view({1, 4});
    CHECK(at::equal(mapped.forward(ids), copied.forward(ids)));
  }  // no mapping outlives this block: the file is truncated below

  // Truncated before loading: the read finds the header's ranges outside the file.
  fs::resize_file(dir / "model.safetensors", fs::file_size(dir / "model.safetensors") - 64);
  testing::require_throws_naming<FormatError>([&] { Model model(dir.string(), read); }, {"model.safetensors"});
}

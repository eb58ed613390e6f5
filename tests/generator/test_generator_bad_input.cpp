// Bad generator settings and bad models fail early with named errors
// (issue #16): an unknown chat format at construction, a stop id outside
// the vocabulary, NaN weights (no NaN distribution, no token 0 sampled).
#include "culturespa/core/error.h"
#include "culturespa/generator/generator.h"
#include "culturespa/generator/testing.h"
#include "culturespa/model/model.h"
#include "culturespa/model/safetensors.h"
#include "culturespa/model/testing.h"
#include "culturespa/text/tokenizer.h"

#include <ATen/ATen.h>

#include <limits>

#include "support.h"

using namespace culturespa;

namespace {

std::string small_model_folder(const std::string& name) {
  const auto dir = testing::scratch_dir(name);
  TestCheckpointOptions options;
  options.vocab_size = 272;
  options.num_hidden_layers = 1;
  options.seed = 9;
  testing_checkpoint_write(dir.string(), options);
  testing_tokenizer_write(dir.string());
  return dir.string();
}

// A model and its tokenizer from one folder.
struct Loaded {
  explicit Loaded(const std::string& dir) : model(dir), tokenizer(Tokenizer::from_folder(dir)) {}
  Generator chatml() const {
    GeneratorOptions options;
    options.chat_format = "chatml";
    return Generator(model, tokenizer, options);
  }
  Model model;
  Tokenizer tokenizer;
};

}  // namespace

TEST_CASE("generator: an unknown chat format fails at construction") {
  const Loaded loaded(small_model_folder("gen-bad-format"));
  GeneratorOptions options;
  options.chat_format = "chatmll";
  testing::require_throws_naming<ConfigError>([&] { Generator g(loaded.model, loaded.tokenizer, options); },
                                              {"chatmll", "chatml"});
  CHECK_NOTHROW(loaded.chatml());
}

TEST_CASE("generator: a stop id outside the vocabulary is refused") {
  const Loaded loaded(small_model_folder("gen-bad-stop"));
  const Generator g = loaded.chatml();
  GenerateOptions generate;
  generate.max_new_tokens = 2;
  for (const int id : {-1, 272, 1000000}) {
    generate.stop_ids = std::vector<int>{3, id};
    testing::require_throws_naming<ValueError>([&] { g.generate(std::vector<std::string>{"hello"}, generate); },
                                               {"stop id " + std::to_string(id), "0..271"});
  }
}

TEST_CASE("generator: NaN weights give a named error, not NaN scores or garbage tokens") {
  const std::string dir = small_model_folder("gen-nan");
  const std::string file = dir + "/model.safetensors";
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  {
    const SafetensorsFile st(file);
    for (const auto& entry : st.tensors()) {
      at::Tensor t = st.tensor(entry.name).clone();
      if (entry.name == "model.norm.weight") t.fill_(std::numeric_limits<float>::quiet_NaN());
      tensors.emplace_back(entry.name, t);
    }
  }
  safetensors_write(file, tensors);
  const Loaded loaded(dir);
  const Generator g = loaded.chatml();
  const std::vector<Conversation> prompts = {{{"user", "Pick one."}}};
  testing::require_throws_naming<Error>([&] { g.score_options(prompts, {{"1", "2", "3"}}); }, {"NaN", dir});
  GenerateOptions generate;
  generate.max_new_tokens = 3;
  testing::require_throws_naming<Error>([&] { g.generate(prompts, generate); }, {"NaN"});
  generate.temperature = 0.7;
  testing::require_throws_naming<Error>([&] { g.generate(prompts, generate); }, {"NaN"});
}

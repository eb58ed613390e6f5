// Per-prompt LoRA adapters through the Generator: mixed calls equal one call
// per adapter, with and without prefix reuse, for option scoring and generation.
#include "culturespa/core/error.h"
#include "culturespa/generator/generator.h"
#include "culturespa/generator/testing.h"
#include "culturespa/model/lora.h"
#include "culturespa/model/model.h"
#include "culturespa/model/testing.h"
#include "culturespa/text/tokenizer.h"

#include "support.h"

#include <cmath>

using namespace culturespa;
using Catch::Matchers::Contains;

namespace {

struct LoraFixture {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  LoraFixture() {
    const auto dir = testing::scratch_dir("generator-lora");
    TestCheckpointOptions options;
    options.vocab_size = 272;
    options.max_position_embeddings = 256;
    options.seed = 9;
    testing_checkpoint_write(dir.string(), options);
    testing_tokenizer_write(dir.string());
    model = std::make_unique<Model>(dir.string());
    tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_folder(dir.string()));
    for (const auto& [name, seed] : std::vector<std::pair<std::string, uint64_t>>{{"KEN", 1}, {"USA", 2}})
      model->adapter_add(name, lora_adapter_init(model->config(), LoraConfig{}, seed, 0.3));
  }
};

std::vector<Conversation> prompts_same_start() {
  std::vector<Conversation> prompts;
  for (const char* q : {"How important is family?", "How important is work?", "Is religion important?"})
    prompts.push_back({{"system", "You answer survey questions about values, one number only."}, {"user", q}});
  return prompts;
}

}  // namespace

TEST_CASE("generator: per-prompt adapters in shared calls equal one call per adapter") {
  LoraFixture f;
  const std::vector<Conversation> base = prompts_same_start();
  std::vector<Conversation> prompts;
  std::vector<std::string> adapters;
  for (const std::string name : {"KEN", "", "USA"})
    for (const auto& p : base) {
      prompts.push_back(p);
      adapters.push_back(name);
    }
  const std::vector<std::vector<std::string>> labels{{"1", "2", "3", "4"}};
  for (const bool reuse : {true, false}) {
    GeneratorOptions o;
    o.chat_format = "chatml";
    o.batch_size = 4;
    o.prefix_reuse = reuse;
    o.min_prefix_tokens = 4;
    const Generator g(*f.model, *f.tokenizer, o);
    const OptionScores mixed = g.score_options(prompts, labels, {}, nullptr, adapters);
    GenerateOptions go;
    go.max_new_tokens = 6;
    go.adapters = adapters;
    const auto generated = g.generate(prompts, go);
    double spread = 0;
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      const std::vector<std::string> one = adapters[i].empty() ? std::vector<std::string>{} : std::vector<std::string>{adapters[i]};
      const OptionScores alone = g.score_options({prompts[i]}, labels, {}, nullptr, one);
      for (std::size_t k = 0; k < 4; ++k) CHECK(std::abs(mixed.probs[i][k] - alone.probs[0][k]) < 1e-5);
      GenerateOptions single;
      single.max_new_tokens = 6;
      single.adapters = one;
      CHECK(g.generate({prompts[i]}, single)[0].tokens == generated[i].tokens);
      spread = std::max(spread, std::abs(mixed.probs[i][0] - mixed.probs[i % base.size() + base.size()][0]));
    }
    CHECK(spread > 1e-3);  // the adapters change the answers
  }
  const Generator g(*f.model, *f.tokenizer, GeneratorOptions{"chatml"});
  CHECK_THROWS_WITH(g.score_options(base, labels, {}, nullptr, {"KEN"}), Contains("3 prompts"));
  CHECK_THROWS_WITH(g.score_options(base, labels, {}, nullptr, {"KEN", "FRA", ""}), Contains("FRA"));
}

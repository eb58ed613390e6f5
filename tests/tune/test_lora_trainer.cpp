// LoraTrainer: templating and masking, truncation and skips, learning,
// determinism, checkpoints and resume, NaN and cancellation.
#include "culturespa/core/error.h"
#include "culturespa/generator/testing.h"
#include "culturespa/model/lora.h"
#include "culturespa/model/model.h"
#include "culturespa/model/testing.h"
#include "culturespa/text/tokenizer.h"
#include "culturespa/tune/lora_trainer.h"

#include <ATen/ATen.h>

#include "support.h"

#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>

using namespace culturespa;
using Catch::Matchers::Contains;

namespace {

struct Fixture {
  std::filesystem::path dir;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  explicit Fixture(const std::string& name) {
    dir = testing::scratch_dir(name);
    TestCheckpointOptions options;
    options.vocab_size = 272;
    options.hidden_size = 32;
    options.intermediate_size = 64;
    options.num_attention_heads = 4;
    options.num_key_value_heads = 2;
    options.seed = 3;
    testing_checkpoint_write((dir / "model").string(), options);
    testing_tokenizer_write((dir / "model").string());
    model = std::make_unique<Model>((dir / "model").string());
    tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_folder((dir / "model").string()));
  }
};

std::vector<Conversation> dataset(int n) {
  std::vector<Conversation> out;
  const char* cultures[] = {"Kenya", "Japan", "Brazil", "Germany"};
  for (int i = 0; i < n; ++i)
    out.push_back({{"system", std::string("You are from ") + cultures[i % 4] + "."},
                   {"user", "Question " + std::to_string(i) + ": how important is work?"},
                   {"assistant", std::to_string(1 + i % 4)}});
  return out;
}

LoraTrainerOptions small_options(const std::filesystem::path& out = {}) {
  LoraTrainerOptions o;
  o.lora.r = 4;
  o.learning_rate = 5e-3;
  o.batch_size = 3;
  o.effective_batch = 6;
  o.epochs = 3;
  o.seed = 11;
  o.output_dir = out.string();
  o.logging_steps = 0;
  o.chat_format = "chatml";  // the test tokenizer has no template of its own
  return o;
}

double adapter_diff(const LoraAdapter& a, const LoraAdapter& b) {
  double d = 0;
  for (std::size_t i = 0; i < a.modules.size(); ++i) {
    d = std::max(d, (a.modules[i].a.cpu() - b.modules[i].a.cpu()).abs().max().item<double>());
    d = std::max(d, (a.modules[i].b.cpu() - b.modules[i].b.cpu()).abs().max().item<double>());
  }
  return d;
}

}  // namespace

TEST_CASE("tokenize masks the templated prompt, skips empty answers and truncates as LLaMA-Factory") {
  Fixture f("tune-tokenize");
  LoraTrainerOptions o = small_options();
  LoraTrainer trainer(*f.model, *f.tokenizer, o);
  std::vector<Conversation> data = dataset(2);
  data.push_back({{"user", "Say nothing"}, {"assistant", "  "}});
  int64_t empty = 0, cut = 0;
  const auto examples = trainer.tokenize(data, &empty, &cut);
  REQUIRE(examples.size() == 2);
  CHECK(empty == 1);
  CHECK(cut == 0);
  // The prompt is exactly what the Generator would run; the response is the answer and the end of turn.
  ChatTemplateOptions chat;
  chat.format = "chatml";
  const Conversation prompt(data[0].begin(), data[0].end() - 1);
  const std::vector<int> prompt_ids = f.tokenizer->encode_chat(prompt, chat);
  REQUIRE(examples[0].prompt_tokens == static_cast<int64_t>(prompt_ids.size()));
  CHECK(std::equal(prompt_ids.begin(), prompt_ids.end(), examples[0].input_ids.begin()));
  const std::vector<int> response(examples[0].input_ids.begin() + examples[0].prompt_tokens, examples[0].input_ids.end());
  CHECK(f.tokenizer->decode(response) == "1<|im_end|>\n");

  o.cutoff = 10;
  LoraTrainer short_trainer(*f.model, *f.tokenizer, o);
  const auto truncated = short_trainer.tokenize(dataset(2), &empty, &cut);
  CHECK(cut == 2);
  for (const auto& e : truncated) {
    CHECK(e.input_ids.size() == 10);
    CHECK(e.truncated);
    CHECK(e.prompt_tokens == 10 - static_cast<int64_t>(response.size()));  // the short response is kept whole
  }
}

TEST_CASE("training lowers the loss, only the adapter changes, and runs are deterministic") {
  Fixture f("tune-learn");
  const at::Tensor probe = at::tensor(std::vector<int64_t>{1, 5, 9, 30}, at::kLong).view({1, 4});
  const at::Tensor before = f.model->forward(probe);
  LoraTrainer a(*f.model, *f.tokenizer, small_options(f.dir / "a"));
  const TrainResult ra = a.train(dataset(12));
  REQUIRE(ra.steps.size() == 6);  // 12 examples / 6 per step x 3 epochs
  CHECK(ra.steps.back().loss < ra.steps.front().loss);
  CHECK(ra.steps[0].learning_rate == 0.0);  // warmup starts at 0, as transformers' schedule
  CHECK(at::equal(f.model->forward(probe), before));  // base weights untouched
  CHECK(std::filesystem::exists(f.dir / "a" / "adapter_model.safetensors"));
  CHECK(!std::filesystem::exists(f.dir / "a" / "checkpoint"));
  const auto log = nlohmann::json::parse(std::ifstream(f.dir / "a" / "training_log.json"));
  CHECK(log["steps"].size() == 6);
  CHECK(log["steps"][5]["loss"].get<double>() == Approx(ra.steps.back().loss));

  LoraTrainer b(*f.model, *f.tokenizer, small_options());
  const TrainResult rb = b.train(dataset(12));
  CHECK(adapter_diff(a.adapter(), b.adapter()) == 0.0);
  CHECK(rb.steps.back().loss == ra.steps.back().loss);

  // The saved adapter loads back and is what was trained.
  f.model->adapter_load("trained", (f.dir / "a").string());
  f.model->adapter_add("memory", a.adapter());
  CHECK((f.model->forward(probe, {}, nullptr, {}, {"trained"}) - f.model->forward(probe, {}, nullptr, {}, {"memory"}))
            .abs().max().item<double>() < 1e-6);
}

TEST_CASE("a crash resumes from the last checkpoint to the same adapter; Ctrl-C saves and stops") {
  Fixture f("tune-resume");
  LoraTrainer reference(*f.model, *f.tokenizer, small_options());
  reference.train(dataset(12));

  LoraTrainerOptions o = small_options(f.dir / "run");
  o.save_steps = 2;
  {
    LoraTrainer crashing(*f.model, *f.tokenizer, o);
    // A crash after step 3 (no save): the checkpoint of step 2 remains.
    CHECK_THROWS_WITH(crashing.train(dataset(12),
                                     [](const TrainProgress& p) -> bool {
                                       if (p.step == 3) throw std::runtime_error("simulated crash");
                                       return true;
                                     }),
                      Contains("simulated crash"));
  }
  CHECK(std::filesystem::exists(f.dir / "run" / "checkpoint" / "trainer_state.json"));
  {
    LoraTrainer stopping(*f.model, *f.tokenizer, o);
    // Ctrl-C at step 4: saves step 4, then CancelledError.
    CHECK_THROWS_AS(stopping.train(dataset(12), [](const TrainProgress& p) { return p.step < 4; }), CancelledError);
  }
  const auto state = nlohmann::json::parse(std::ifstream(f.dir / "run" / "checkpoint" / "trainer_state.json"));
  CHECK(state["step"] == 4);
  LoraTrainer resumed(*f.model, *f.tokenizer, o);
  const TrainResult r = resumed.train(dataset(12));
  CHECK(r.resumed_from == 4);
  CHECK(r.steps.size() == 6);
  CHECK(adapter_diff(resumed.adapter(), reference.adapter()) == 0.0);
}

TEST_CASE("bad training input gets named errors") {
  Fixture f("tune-bad");
  LoraTrainerOptions o = small_options(f.dir / "nan");
  LoraTrainer trainer(*f.model, *f.tokenizer, o);
  CHECK_THROWS_WITH(trainer.train({}), Contains("empty"));
  CHECK_THROWS_WITH(trainer.train({{{"user", "q"}, {"assistant", ""}}}), Contains("non-empty response"));
  CHECK_THROWS_WITH(trainer.train({{{"user", "q"}}}), Contains("assistant"));

  o.learning_rate = 1e30;
  o.max_grad_norm = 0;
  o.save_steps = 1;
  LoraTrainer exploding(*f.model, *f.tokenizer, o);
  CHECK_THROWS_WITH(exploding.train(dataset(12)), Contains("loss became") && Contains("last good state"));
  const auto state = nlohmann::json::parse(std::ifstream(f.dir / "nan" / "checkpoint" / "trainer_state.json"));
  CHECK(state["step"].get<int>() >= 1);
  for (const auto& step : state["log"]) CHECK(std::isfinite(step["loss"].get<double>()));

  CHECK_THROWS_WITH(lora_trainer_preset("joint"), Contains("culturespa-joint"));
  CHECK(lora_trainer_preset("culturespa-specific").effective_batch == 8);
  CHECK(lora_trainer_preset("culturespa-joint").effective_batch == 128);
  LoraTrainerOptions bad = small_options();
  bad.scheduler = "step";
  CHECK_THROWS_WITH(LoraTrainer(*f.model, *f.tokenizer, bad), Contains("step"));
  // Non-finite settings (issue #16 probe): an infinite epoch count used to be cast to a step count.
  for (const auto& [field, set] : std::vector<std::pair<std::string, std::function<void(LoraTrainerOptions&)>>>{
           {"epochs", [](LoraTrainerOptions& x) { x.epochs = std::numeric_limits<double>::infinity(); }},
           {"learning_rate", [](LoraTrainerOptions& x) { x.learning_rate = std::numeric_limits<double>::infinity(); }},
           {"learning_rate", [](LoraTrainerOptions& x) { x.learning_rate = std::nan(""); }},
           {"max_steps", [](LoraTrainerOptions& x) { x.max_steps = -1; }},
           {"save_steps", [](LoraTrainerOptions& x) { x.save_steps = -5; }}}) {
    LoraTrainerOptions odd = small_options();
    set(odd);
    INFO(field);
    CHECK_THROWS_WITH(LoraTrainer(*f.model, *f.tokenizer, odd), Contains(field));
  }
}

TEST_CASE("tune_data_read reads Alpaca with system and messages JSONL") {
  const auto dir = testing::scratch_dir("tune-data");
  std::ofstream(dir / "a.json") << R"([{"instruction":"Q?","input":"","output":"3","system":"S"}])";
  std::ofstream(dir / "m.jsonl") << R"({"messages":[{"role":"system","content":"S"},{"role":"user","content":"Q?"},{"role":"assistant","content":"3"}]})"
                                 << "\n";
  const auto a = tune_data_read((dir / "a.json").string());
  const auto m = tune_data_read((dir / "m.jsonl").string());
  REQUIRE(a.size() == 1);
  CHECK(a[0].size() == 3);
  CHECK(a[0][0].role == "system");
  CHECK(a[0][2].content == "3");
  REQUIRE(m.size() == 1);
  CHECK(m[0][1].content == "Q?");
  std::ofstream(dir / "bad.jsonl") << R"({"text":"x"})" << "\n";
  CHECK_THROWS_WITH(tune_data_read((dir / "bad.jsonl").string()), Contains("bad.jsonl") && Contains("messages"));
}

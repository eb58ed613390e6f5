#include "culturespa/generator/generator.h"
#include "culturespa/generator/testing.h"
#include "culturespa/core/error.h"
#include "culturespa/model/model.h"
#include "culturespa/model/runtime.h"
#include "culturespa/model/testing.h"
#include "culturespa/text/tokenizer.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "support.h"

#include <limits>

#include <cmath>
#include <memory>
#include <thread>

using namespace culturespa;

namespace {

// A random checkpoint and the test tokenizer in one folder, made once.
struct Fixture {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;

  Fixture() {
    const auto dir = testing::scratch_dir("generator");
    TestCheckpointOptions options;
    options.vocab_size = 272;
    options.hidden_size = 64;
    options.intermediate_size = 128;
    options.num_hidden_layers = 2;
    options.max_position_embeddings = 256;
    options.seed = 7;
    testing_checkpoint_write(dir.string(), options);
    testing_tokenizer_write(dir.string());
    model = std::make_unique<Model>(dir.string());
    tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_folder(dir.string()));
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

Generator generator_make(int64_t batch, bool reuse) {
  GeneratorOptions o;
  o.chat_format = "chatml";
  o.batch_size = batch;
  o.prefix_reuse = reuse;
  o.min_prefix_tokens = 8;
  return Generator(*fixture().model, *fixture().tokenizer, o);
}

// 16 prompts of mixed length: 4 system prompts x 4 questions.
std::vector<Conversation> prompts_mixed() {
  const std::vector<std::string> systems = {
      "You are an American.", "You are a Kenyan person answering a survey about values and trust.",
      "You are Thai.", "You are a Dutch respondent."};
  const std::vector<std::string> questions = {
      "How important is family?", "Do you trust people in your neighbourhood? Answer with a number from 1 to 4.",
      "Is work important?", "On a scale from 1 to 10, how happy are you these days, all things considered?"};
  std::vector<Conversation> out;
  for (const auto& s : systems)
    for (const auto& q : questions) out.push_back({{"system", s}, {"user", q}});
  return out;
}

// log-softmax of the model's next-token logits after `ids`, computed directly.
at::Tensor next_logprobs(const std::vector<int>& ids) {
  c10::InferenceMode guard;
  std::vector<int64_t> v(ids.begin(), ids.end());
  const at::Tensor input = at::tensor(v, at::kLong).view({1, static_cast<int64_t>(v.size())});
  return at::log_softmax(fixture().model->forward(input), -1)[0];
}

int single_token(const std::string& text) {
  EncodeOptions o;
  o.add_special_tokens = false;
  const auto ids = fixture().tokenizer->encode(text, o);
  REQUIRE(ids.size() == 1);
  return ids[0];
}

}  // namespace

TEST_CASE("generator: greedy outputs equal across batch sizes, prefix reuse and threads") {
  const auto prompts = prompts_mixed();
  GenerateOptions o;
  o.max_new_tokens = 12;
  o.logprobs = true;
  runtime_set_num_threads(1);
  const auto reference = generator_make(1, false).generate(prompts, o);
  REQUIRE(reference.size() == prompts.size());
  for (int threads : {1, 2}) {
    runtime_set_num_threads(threads);
    for (bool reuse : {false, true}) {
      const auto batched = generator_make(16, reuse).generate(prompts, o);
      for (std::size_t i = 0; i < prompts.size(); ++i) {
        INFO("prompt " << i << " threads " << threads << " reuse " << reuse);
        CHECK(batched[i].tokens == reference[i].tokens);
        CHECK(batched[i].text == reference[i].text);
        CHECK(batched[i].prompt_tokens == static_cast<int64_t>(generator_make(1, false).encode(prompts[i]).size()));
        REQUIRE(batched[i].logprobs.size() == reference[i].logprobs.size());
        for (std::size_t t = 0; t < batched[i].logprobs.size(); ++t)
          CHECK(std::abs(batched[i].logprobs[t] - reference[i].logprobs[t]) < 1e-4);
      }
    }
  }
  // The first new token is the argmax of a plain forward over the prompt, and
  // its log-probability that forward's value.
  const Generator g = generator_make(1, false);
  for (std::size_t i : {0, 7}) {
    const at::Tensor lp = next_logprobs(g.encode(prompts[i]));
    REQUIRE(!reference[i].tokens.empty());
    CHECK(lp.argmax().item<int64_t>() == reference[i].tokens[0]);
    CHECK(std::abs(lp[reference[i].tokens[0]].item<double>() - reference[i].logprobs[0]) < 1e-4);
  }
  // A 3-slot batch exercises the refilling scheduler.
  const auto refilled = generator_make(3, true).generate(prompts, o);
  for (std::size_t i = 0; i < prompts.size(); ++i) CHECK(refilled[i].tokens == reference[i].tokens);
}

TEST_CASE("generator: an explicit Prefix gives the same results") {
  const auto prompts = prompts_mixed();
  const Generator g = generator_make(16, false);
  GenerateOptions o;
  o.max_new_tokens = 6;
  const auto plain = g.generate(prompts, o);
  // The start shared by prompts 4..7 (one system prompt); the others share less of it.
  const auto a = g.encode(prompts[4]), b = g.encode(prompts[5]);
  std::size_t n = 0;
  while (a[n] == b[n]) ++n;
  const Prefix prefix = g.prefix_create(std::vector<int>(a.begin(), a.begin() + n), 200);
  const auto reused = g.generate(prompts, o, {}, {}, &prefix);
  for (std::size_t i = 0; i < prompts.size(); ++i) CHECK(reused[i].tokens == plain[i].tokens);
  // A prefix too small for the call is recomputed with room.
  const Prefix tight = g.prefix_create(std::vector<int>(a.begin(), a.begin() + n), static_cast<int64_t>(n));
  const auto again = g.generate(prompts, o, {}, {}, &tight);
  for (std::size_t i = 0; i < prompts.size(); ++i) CHECK(again[i].tokens == plain[i].tokens);
  const std::vector<std::vector<std::string>> labels = {{"1", "2", "3", "4"}};
  const auto scores_plain = g.score_options(prompts, labels);
  const auto scores_prefix = g.score_options(prompts, labels, {}, &prefix);
  for (std::size_t i = 0; i < prompts.size(); ++i)
    for (std::size_t l = 0; l < 4; ++l) CHECK(std::abs(scores_plain.probs[i][l] - scores_prefix.probs[i][l]) < 1e-4);
}

TEST_CASE("generator: sampling is reproducible per (seed, prompt) and varies with the seed") {
  const auto prompts = prompts_mixed();
  GenerateOptions o;
  o.max_new_tokens = 8;
  o.temperature = 0.9;
  o.top_p = 0.95;
  o.top_k = 50;
  o.min_p = 0.01;
  o.repetition_penalty = 1.1;
  o.seed = 11;
  const auto one = generator_make(1, false).generate(prompts, o);
  const auto many = generator_make(16, true).generate(prompts, o);
  const auto few = generator_make(5, false).generate(prompts, o);
  std::size_t differ = 0;
  o.seed = 12;
  const auto other = generator_make(16, true).generate(prompts, o);
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    CHECK(many[i].tokens == one[i].tokens);
    CHECK(few[i].tokens == one[i].tokens);
    differ += other[i].tokens != one[i].tokens;
  }
  CHECK(differ >= 8);
}

TEST_CASE("generator: prompt_seeds give each prompt its own stream, whatever the call it is in") {
  const auto prompts = prompts_mixed();
  GenerateOptions o;
  o.max_new_tokens = 8;
  o.temperature = 0.9;
  for (std::size_t i = 0; i < prompts.size(); ++i) o.prompt_seeds.push_back(1000 + 7 * i);
  const auto all = generator_make(16, true).generate(prompts, o);
  // Prompt 5 alone, with its seed, samples the same tokens.
  GenerateOptions alone = o;
  alone.prompt_seeds = {o.prompt_seeds[5]};
  const auto single = generator_make(1, false).generate(std::vector<Conversation>{prompts[5]}, alone);
  CHECK(single[0].tokens == all[5].tokens);
  // Without prompt_seeds, the (seed, index) streams differ from these.
  std::size_t differ = 0;
  GenerateOptions indexed_options = o;
  indexed_options.prompt_seeds.clear();
  indexed_options.seed = 1000;
  const auto indexed = generator_make(16, true).generate(prompts, indexed_options);
  for (std::size_t i = 1; i < prompts.size(); ++i) differ += indexed[i].tokens != all[i].tokens;
  CHECK(differ >= 8);
  o.prompt_seeds.pop_back();
  CHECK_THROWS_AS(generator_make(4, true).generate(prompts, o), ValueError);
}

TEST_CASE("generator: option scores equal a manual forward and softmax, across batch configurations") {
  const auto prompts = prompts_mixed();
  const std::vector<std::string> names = {"1", "2", "3", "10"};  // "10" is two tokens here
  const Generator one = generator_make(1, false);
  const OptionScores reference = one.score_options(prompts, {names});
  REQUIRE(reference.probs.size() == prompts.size());
  for (int threads : {1, 2}) {
    runtime_set_num_threads(threads);
    for (bool reuse : {false, true}) {
      const OptionScores s = generator_make(16, reuse).score_options(prompts, {names});
      for (std::size_t i = 0; i < prompts.size(); ++i) {
        CHECK(s.argmax[i] == reference.argmax[i]);
        CHECK(std::abs(s.allowed_mass[i] - reference.allowed_mass[i]) < 1e-4);
        for (std::size_t l = 0; l < names.size(); ++l) CHECK(std::abs(s.probs[i][l] - reference.probs[i][l]) < 1e-4);
      }
    }
  }
  const int t1 = single_token("1"), t2 = single_token("2"), t3 = single_token("3"), t0 = single_token("0");
  for (std::size_t i : {0, 9, 15}) {
    auto ids = one.encode(prompts[i]);
    const at::Tensor lp = next_logprobs(ids);
    ids.push_back(t1);
    const at::Tensor lp_after_1 = next_logprobs(ids);
    const double expected[4] = {lp[t1].item<double>(), lp[t2].item<double>(), lp[t3].item<double>(),
                                lp[t1].item<double>() + lp_after_1[t0].item<double>()};
    double mass = 0, top = -1e300;
    for (double e : expected) mass += std::exp(e), top = std::max(top, e);
    for (std::size_t l = 0; l < 4; ++l) {
      CHECK(std::abs(reference.logprobs[i][l] - expected[l]) < 1e-4);
      CHECK(std::abs(reference.probs[i][l] - std::exp(expected[l]) / mass) < 1e-4);
    }
    CHECK(std::abs(reference.allowed_mass[i] - mass) < 1e-5);
    CHECK(reference.label_tokens[i][3] == std::vector<int>{t1, t0});
    int64_t best = 0;
    for (int64_t l = 1; l < 4; ++l)
      if (expected[l] > expected[best]) best = l;
    CHECK(reference.argmax[i] == best);
  }
  // Per-prompt labels, raw prompts.
  const OptionScores raw = one.score_options_raw({"Pick: ", "Choose one of A or B: "}, {{"A", "B"}, {"A", "B", "C"}});
  REQUIRE(raw.probs.size() == 2);
  CHECK(raw.probs[0].size() == 2);
  CHECK(raw.probs[1].size() == 3);
  CHECK(std::abs(raw.probs[1][0] + raw.probs[1][1] + raw.probs[1][2] - 1.0) < 1e-9);
}

TEST_CASE("generator: continuation scores are summed token log-probabilities") {
  const Generator one = generator_make(1, false), many = generator_make(16, true);
  const Conversation prompt = {{"system", "You are a Dutch respondent."}, {"user", "How important is family?"}};
  const std::vector<std::string> continuations = {"Very important", "1", "Not at all important, I think", ""};
  const auto a = one.score_continuations(prompt, continuations);
  const auto b = many.score_continuations(prompt, continuations);
  REQUIRE(a.size() == 4);
  for (std::size_t c = 0; c < 4; ++c) {
    CHECK(a[c].tokens == b[c].tokens);
    CHECK(std::abs(a[c].logprob - b[c].logprob) < 1e-4);
  }
  CHECK(a[3].tokens == 0);
  CHECK(a[3].logprob == 0.0);
  // Manually: chatml puts no text before the answer, and "1" is one token.
  auto ids = one.encode(prompt);
  CHECK(a[1].tokens == 1);
  CHECK(std::abs(a[1].logprob - next_logprobs(ids)[single_token("1")].item<double>()) < 1e-4);
  EncodeOptions plain;
  plain.add_special_tokens = false;
  const auto words = fixture().tokenizer->encode("Very important", plain);
  CHECK(a[0].tokens == static_cast<int64_t>(words.size()));
  double sum = 0;
  for (int w : words) {
    sum += next_logprobs(ids)[w].item<double>();
    ids.push_back(w);
  }
  CHECK(std::abs(a[0].logprob - sum) < 1e-4);
}

TEST_CASE("generator: stop strings across token boundaries, streaming, edge cases and errors") {
  const Generator g = generator_make(4, true);
  const auto prompts = prompts_mixed();
  GenerateOptions o;
  o.max_new_tokens = 16;
  o.stop_ids = std::vector<int>{};  // run the full length
  std::vector<std::string> streamed(prompts.size());
  const auto full = g.generate(prompts, o, {}, [&](std::size_t i, int token, const std::string& text) {
    CHECK((token >= 0 || !text.empty()));
    streamed[i] += text;
  });
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    CHECK(streamed[i] == full[i].text);
    CHECK(full[i].stop_reason == StopReason::length);
    CHECK(full[i].tokens.size() == 16);
  }
  // A stop string made of the last byte of token 2's text and the first byte
  // of token 3's: it straddles their boundary.
  std::size_t chosen = prompts.size();
  std::string stop;
  for (std::size_t i = 0; i < prompts.size() && chosen == prompts.size(); ++i) {
    const std::string t2 = fixture().tokenizer->decode({full[i].tokens[2]});
    const std::string t3 = fixture().tokenizer->decode({full[i].tokens[3]});
    const std::string before = fixture().tokenizer->decode({full[i].tokens[0], full[i].tokens[1], full[i].tokens[2]});
    if (fixture().tokenizer->is_special(full[i].tokens[0]) || fixture().tokenizer->is_special(full[i].tokens[1]) ||
        fixture().tokenizer->is_special(full[i].tokens[2]) || fixture().tokenizer->is_special(full[i].tokens[3]))
      continue;
    if (t2.empty() || t3.empty() || static_cast<unsigned char>(t2.back()) >= 0x80 ||
        static_cast<unsigned char>(t3[0]) >= 0x80)
      continue;
    stop = std::string(1, t2.back()) + t3[0];
    if (before.find(stop) != std::string::npos) continue;  // must first appear across the boundary
    chosen = i;
  }
  REQUIRE(chosen < prompts.size());
  o.stop_strings = {stop};
  const auto cut = g.generate(prompts, o);
  CHECK(cut[chosen].stop_reason == StopReason::stop_string);
  CHECK(cut[chosen].tokens.size() == 4);
  CHECK(cut[chosen].text == full[chosen].text.substr(0, full[chosen].text.find(stop)));
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const auto at = full[i].text.find(stop);
    CHECK(cut[i].text == full[i].text.substr(0, at));
  }

  // A stop token: the first greedy token of prompt 0 ends it at once.
  GenerateOptions stop_first;
  stop_first.max_new_tokens = 5;
  stop_first.stop_ids = std::vector<int>{full[0].tokens[0]};
  const auto stopped = g.generate(std::vector<Conversation>{prompts[0]}, stop_first);
  CHECK(stopped[0].stop_reason == StopReason::stop_token);
  CHECK(stopped[0].tokens.empty());
  CHECK(stopped[0].text.empty());

  GenerateOptions none;
  none.max_new_tokens = 0;
  const auto zero = g.generate(prompts, none);
  REQUIRE(zero.size() == prompts.size());
  for (const auto& r : zero) CHECK((r.tokens.empty() && r.text.empty() && r.stop_reason == StopReason::length));
  CHECK(g.generate(std::vector<Conversation>{}, o).empty());
  CHECK(g.score_options(std::vector<Conversation>{}, {{"1", "2"}}).probs.empty());

  GenerateOptions long_run;
  long_run.max_new_tokens = 250;
  CHECK_THROWS_WITH(g.generate(prompts, long_run), Catch::Contains("beyond the model's context of 256"));
  CHECK_THROWS_AS(g.generate(std::vector<std::string>{std::string(300, 'x')}, none), ValueError);
  GenerateOptions bad;
  bad.top_p = 0;
  CHECK_THROWS_WITH(g.generate(prompts, bad), Catch::Contains("top_p"));
  CHECK_THROWS_WITH(g.score_options(prompts, {{"1", "1"}}), Catch::Contains("same tokens"));
  CHECK_THROWS_AS(g.score_options(prompts, {{"1"}, {"2"}}), ValueError);

  // Cancellation from the progress callback.
  const ProgressCallback cancel = [](const Progress& p) { return p.done < 2; };
  CHECK_THROWS_AS(g.generate(prompts, o, cancel), CancelledError);
}

TEST_CASE("generator: prefix groups follow the longest shared start") {
  // Per culture, the system prompt and the user's first line are shared; across
  // cultures only the first words. Each culture must be a group of its own.
  std::vector<Conversation> prompts;
  for (const char* culture : {"Kenyan", "German"})
    for (const char* q : {"Family?", "Trust in neighbours?", "Church?"})
      prompts.push_back({{"system", std::string("You are a real person with a ") + culture +
                                        " cultural background. Answer the survey honestly."},
                         {"user", std::string("Choose the option that fits your values.\n") + q}});
  const Generator gen = generator_make(16, true);
  std::vector<std::vector<int>> enc;
  for (const auto& p : prompts) enc.push_back(gen.encode(p));
  const auto common = [](const std::vector<int>& a, const std::vector<int>& b) {
    std::size_t n = 0;
    while (n < std::min(a.size(), b.size()) && a[n] == b[n]) ++n;
    return static_cast<int64_t>(n);
  };
  REQUIRE(common(enc[0], enc[5]) >= 8);
  const OptionScores s = gen.score_options(prompts, {{"1", "2"}});
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    int64_t expected = std::numeric_limits<int64_t>::max();
    for (std::size_t j = 0; j < prompts.size(); ++j)
      if (j != i && j / 3 == i / 3) expected = std::min(expected, common(enc[i], enc[j]));
    CHECK(s.reused_tokens[i] == expected);
    CHECK(s.reused_tokens[i] > common(enc[0], enc[5]));
  }
  const OptionScores plain = generator_make(16, false).score_options(prompts, {{"1", "2"}});
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    CHECK(plain.reused_tokens[i] == 0);
    CHECK(std::abs(plain.probs[i][0] - s.probs[i][0]) < 1e-4);
  }
}

TEST_CASE("generator: the chat format is resolved in the constructor; concurrent calls share the generator") {
  // The test tokenizer has no chat template: a generator for raw prompts
  // still constructs, and asking for the format names why there is none.
  const Generator raw(*fixture().model, *fixture().tokenizer);
  CHECK_THROWS_AS(raw.chat_format(), ConfigError);
  const Generator chat = generator_make(4, true);
  GenerateOptions o;
  o.max_new_tokens = 4;
  const auto expected = chat.generate(prompts_mixed(), o);
  std::vector<std::vector<GenerateResult>> results(2);
  std::vector<std::thread> threads;
  for (auto& r : results) threads.emplace_back([&] { r = chat.generate(prompts_mixed(), o); });
  for (auto& t : threads) t.join();
  for (const auto& r : results) {
    REQUIRE(r.size() == expected.size());
    for (std::size_t i = 0; i < r.size(); ++i) CHECK(r[i].tokens == expected[i].tokens);
  }
  CHECK(chat.chat_format() == "chatml");
}

#include "culturespa/generator/json_constraint.h"
#include "culturespa/generator/testing.h"
#include "culturespa/core/error.h"
#include "culturespa/text/tokenizer.h"

#include "support.h"

#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

using namespace culturespa;

namespace {

const Tokenizer& small_tokenizer() {
  static const Tokenizer tokenizer = [] {
    const auto dir = testing::scratch_dir("json-constraint-tokenizer");
    testing_tokenizer_write(dir.string());
    return Tokenizer::from_folder(dir.string());
  }();
  return tokenizer;
}

// Samples uniformly among the allowed tokens until the document is complete.
std::string random_document(const JsonConstraint& constraint, const Tokenizer& tokenizer, std::mt19937& rng,
                            int max_tokens) {
  auto state = constraint.start();
  std::string text;
  for (int step = 0; step < max_tokens && !state.complete(); ++step) {
    const auto& mask = constraint.allowed(state);
    std::vector<int> choices;
    for (int id = 0; id < constraint.vocab_size(); ++id) {
      if (mask[id]) choices.push_back(id);
    }
    REQUIRE_FALSE(choices.empty());
    const int token = choices[std::uniform_int_distribution<std::size_t>(0, choices.size() - 1)(rng)];
    REQUIRE(constraint.advance(state, token));
    text += tokenizer.token_bytes(token);
  }
  REQUIRE(state.complete());
  return text;
}

// Bytes of a document fed one at a time; at every `every`-th byte the trie
// walk's mask must equal the token-by-token one.
void check_masks_along(const JsonConstraint& constraint, const std::string& document, std::size_t every) {
  auto state = constraint.start();
  for (std::size_t i = 0; i <= document.size(); ++i) {
    if (i % every == 0 || i == document.size()) {
      INFO("after " << i << " bytes: " << document.substr(0, i));
      CHECK(constraint.allowed(state) == constraint.allowed_brute_force(state));
    }
    if (i < document.size()) REQUIRE(constraint.advance_bytes(state, document.substr(i, 1)));
  }
  CHECK(state.complete());
}

}  // namespace

TEST_CASE("json constraint: every sampled document parses and meets the question schema", "[json_constraint]") {
  const auto& tokenizer = small_tokenizer();
  const JsonConstraint constraint(JsonConstraint::question_schema(2, 4), tokenizer);
  std::mt19937 rng(11);
  for (int walk = 0; walk < 60; ++walk) {
    const std::string text = random_document(constraint, tokenizer, rng, 20000);
    INFO(text);
    const auto parsed = nlohmann::json::parse(text);  // throws when not JSON
    REQUIRE(parsed.is_object());
    REQUIRE(parsed.size() == 2);
    REQUIRE(parsed.at("Question").is_string());
    CHECK_FALSE(parsed.at("Question").get<std::string>().empty());
    const auto& options = parsed.at("Options");
    REQUIRE(options.is_array());
    CHECK(options.size() >= 2);
    CHECK(options.size() <= 4);
    for (const auto& option : options) CHECK_FALSE(option.get<std::string>().empty());
    CHECK(text.rfind("{\"Question\": \"", 0) == 0);
  }
  // Complete: only the end ids remain.
  auto state = constraint.start();
  REQUIRE(constraint.advance_bytes(state, R"({"Question": "Q?", "Options": ["a", "b"]})"));
  REQUIRE(state.complete());
  const auto& mask = constraint.allowed(state);
  for (int id = 0; id < constraint.vocab_size(); ++id) {
    const auto stops = tokenizer.stop_ids();
    CHECK(static_cast<bool>(mask[id]) == (std::find(stops.begin(), stops.end(), id) != stops.end()));
  }
}

TEST_CASE("json constraint: bytes outside the schema are refused", "[json_constraint]") {
  const JsonConstraint constraint(JsonConstraint::question_schema(2, 3), small_tokenizer());
  auto accepts = [&](const std::string& text) {
    auto state = constraint.start();
    return constraint.advance_bytes(state, text);
  };
  CHECK(accepts(R"({"Question": "Why \"so\"? \u00e9", "Options": ["x", "y", "z"]})"));
  CHECK(accepts("{\"Question\": \"caf\xC3\xA9\""));
  CHECK_FALSE(accepts(R"({"Question": "", )"));              // minLength 1
  CHECK_FALSE(accepts(R"({"Question": "q", "Options": ["x"]})"));  // minItems 2
  CHECK_FALSE(accepts(R"({"Question": "q", "Options": ["x", "y", "z", "w"]})"));  // maxItems 3
  CHECK_FALSE(accepts(R"({"question": )"));                   // the schema's key, its case
  CHECK_FALSE(accepts("{\"Question\": \"a\nb\""));            // raw control character
  CHECK_FALSE(accepts("{\"Question\": \"\xC3("));             // broken UTF-8
  CHECK_FALSE(accepts(R"({"Question": "\q")"));               // unknown escape
  CHECK_FALSE(accepts(R"({"Question":"q")"));                 // the canonical layout has ": "
  CHECK_FALSE(accepts(R"({"Question": "q", "Options": ["x", "y"]} )"));  // nothing after the end
}

TEST_CASE("json constraint: integers, booleans and enums", "[json_constraint]") {
  const std::string schema = R"({"type": "object", "properties": {
      "n": {"type": "integer"}, "ok": {"type": "boolean"}, "c": {"enum": ["x", "yz"]},
      "l": {"type": "array", "items": {"type": "integer"}, "maxItems": 2}}})";
  const JsonConstraint constraint(schema, small_tokenizer());
  auto accepts = [&](const std::string& text, bool complete) {
    auto state = constraint.start();
    return constraint.advance_bytes(state, text) && state.complete() == complete;
  };
  CHECK(accepts(R"({"n": -120, "ok": true, "c": "yz", "l": []})", true));
  CHECK(accepts(R"({"n": 0, "ok": false, "c": "x", "l": [3, 40]})", true));
  CHECK(accepts(R"({"n": 12)", false));
  CHECK_FALSE(accepts(R"({"n": 012)", false));
  CHECK_FALSE(accepts(R"({"n": -, )", false));
  CHECK_FALSE(accepts(R"({"n": 1, "ok": tru, )", false));
  CHECK_FALSE(accepts(R"({"n": 1, "ok": true, "c": "z")", false));
  CHECK_FALSE(accepts(R"({"n": 1, "ok": true, "c": "x", "l": [1, 2, 3)", false));
  // The order of "properties" in the schema text is the order written.
  CHECK_FALSE(accepts(R"({"ok": )", false));
  std::mt19937 rng(5);
  for (int walk = 0; walk < 30; ++walk) {
    const auto parsed = nlohmann::json::parse(random_document(constraint, small_tokenizer(), rng, 20000));
    CHECK(parsed.at("n").is_number_integer());
    CHECK(parsed.at("ok").is_boolean());
    CHECK((parsed.at("c") == "x" || parsed.at("c") == "yz"));
    CHECK(parsed.at("l").size() <= 2);
  }
}

TEST_CASE("json constraint: schemas outside the subset or impossible to meet are refused", "[json_constraint]") {
  const auto& tokenizer = small_tokenizer();
  testing::require_throws_naming<ConfigError>(
      [&] { JsonConstraint(JsonConstraint::question_schema(5, 3), tokenizer); }, {"minItems 5", "maxItems 3"});
  testing::require_throws_naming<ConfigError>(
      [&] { JsonConstraint(R"({"type": "object", "properties": {"a": {"type": "number"}}})", tokenizer); },
      {"$.a", "number"});
  testing::require_throws_naming<ConfigError>(
      [&] { JsonConstraint(R"({"type": "string", "pattern": "a+"})", tokenizer); }, {"pattern"});
  testing::require_throws_naming<ConfigError>(
      [&] { JsonConstraint(R"({"type": "string"})", tokenizer); }, {"object or an array"});
  testing::require_throws_naming<ConfigError>(
      [&] { JsonConstraint(R"({"type": "object", "properties": {}, "required": ["a"]})", tokenizer); },
      {"required", "\"a\""});
  testing::require_throws_naming<ConfigError>([&] { JsonConstraint("{not json", tokenizer); }, {"not valid JSON"});

  // A vocabulary with no token for '"' cannot write any string.
  const auto dir = testing::scratch_dir("json-constraint-no-quote");
  nlohmann::json vocab = nlohmann::json::object();
  for (const char* piece : {"{", "}", "[", "]", ",", " ", ":", "a", "Q", "</s>"}) vocab[piece] = vocab.size();
  const nlohmann::json tokenizer_json = {
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}},
      {"added_tokens", {{{"id", vocab["</s>"]}, {"content", "</s>"}, {"special", true}}}}};
  std::ofstream(dir / "tokenizer.json") << tokenizer_json.dump();
  const auto no_quote = Tokenizer::from_folder(dir.string());
  const int end = *no_quote.token_to_id("</s>");
  testing::require_throws_naming<ConfigError>(
      [&] { JsonConstraint(JsonConstraint::question_schema(), no_quote, {end}); }, {"cannot be met"});
  // The same vocabulary can write an array of integers? No digits either: refused.
  testing::require_throws_naming<ConfigError>(
      [&] { JsonConstraint(R"({"type": "array", "items": {"type": "integer"}, "minItems": 1})", no_quote, {end}); },
      {"cannot be met"});
  // But it can write an empty array.
  CHECK_NOTHROW(JsonConstraint(R"({"type": "array", "items": {"type": "integer"}})", no_quote, {end}));
}

TEST_CASE("tokenizer: token_bytes on real vocabularies", "[json_constraint]") {
  CULTURESPA_REQUIRE_SHARED(shared);
  const auto llama3 = Tokenizer::from_folder((shared / "fixtures/tokenizers/llama3-instruct").string());
  CHECK(llama3.token_bytes(*llama3.token_to_id("Ġthe")) == " the");
  CHECK(llama3.token_bytes(*llama3.token_to_id("<|eot_id|>")).empty());
  const auto llama2 = Tokenizer::from_folder((shared / "fixtures/tokenizers/llama2/tokenizer.model").string());
  CHECK(llama2.token_bytes(*llama2.token_to_id("▁the")) == " the");
  CHECK(llama2.token_bytes(*llama2.token_to_id("<0x0A>")) == "\n");
  CHECK(llama2.token_bytes(*llama2.token_to_id("the")) == "the");
  CHECK(llama2.token_bytes(*llama2.bos_id()).empty());
}

TEST_CASE("json constraint: trie masks equal a brute-force check on LLaMA-3 and LLaMA-2", "[json_constraint]") {
  CULTURESPA_REQUIRE_SHARED(shared);
  const std::string document =
      "{\"Question\": \"How important is \\\"family\\\" in caf\xC3\xA9 life?\", "
      "\"Options\": [\"Very important\", \"Rather important\", \"Not at all\"]}";
  for (const char* folder : {"llama3-instruct", "llama2/tokenizer.model"}) {
    INFO(folder);
    const auto tokenizer = Tokenizer::from_folder((shared / "fixtures/tokenizers" / folder).string());
    const JsonConstraint constraint(JsonConstraint::question_schema(), tokenizer);
    check_masks_along(constraint, document, 9);
  }
}

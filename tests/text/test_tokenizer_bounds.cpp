// Every id a tokenizer file gives is bounded by its vocabulary before
// anything is sized by it (issue #16: "id": -1 wrote out of bounds, 1e8
// allocated gigabytes, 1e9 ended in a traceback).
#include "culturespa/core/error.h"
#include "culturespa/core/utf8.h"
#include "culturespa/text/tokenizer.h"

#include <nlohmann/json.hpp>

#include <fstream>

#include "support.h"

using namespace culturespa;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A byte-level BPE tokenizer.json with vocabulary a..z (ids 0..25), one
// merge and one added token, edited by each case.
json small_tokenizer() {
  json vocab = json::object();
  for (int i = 0; i < 26; ++i) vocab[std::string(1, static_cast<char>('a' + i))] = i;
  vocab["ab"] = 26;
  return json{{"added_tokens", json::array({{{"id", 27}, {"content", "<|end|>"}, {"special", true}}})},
              {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
              {"decoder", {{"type", "ByteLevel"}}},
              {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({"a b"})}}}};
}

fs::path write_folder(const std::string& name, const json& tokenizer, const std::string& config = "") {
  const auto dir = testing::scratch_dir(name);
  std::ofstream(dir / "tokenizer.json") << tokenizer.dump();
  if (!config.empty()) std::ofstream(dir / "tokenizer_config.json") << config;
  return dir;
}

}  // namespace

TEST_CASE("text: the small tokenizer of these tests loads") {
  const Tokenizer t = Tokenizer::from_folder(write_folder("bounds-ok", small_tokenizer()).string());
  CHECK(t.vocab_size() == 28);
  CHECK(t.encode("ab").size() == 1);
}

TEST_CASE("text: added_tokens ids outside the vocabulary are refused before any allocation") {
  for (const long long id : {-1LL, 100000000LL, 1000000000LL, 28LL, 4294967296LL}) {
    json tok = small_tokenizer();
    tok["added_tokens"][0]["id"] = id;
    const auto dir = write_folder("bounds-added", tok);
    testing::require_throws_naming<FormatError>([&] { Tokenizer::from_folder(dir.string()); },
                                                {"tokenizer.json", "<|end|>", std::to_string(id), "outside the vocabulary"});
  }
  json tok = small_tokenizer();
  tok["added_tokens"][0]["id"] = "27";
  const auto dir = write_folder("bounds-added-type", tok);
  testing::require_throws_naming<FormatError>([&] { Tokenizer::from_folder(dir.string()); },
                                              {"<|end|>", "not an integer"});
}

TEST_CASE("text: model.vocab and post_processor ids outside the vocabulary are refused") {
  json tok = small_tokenizer();
  tok["model"]["vocab"]["z"] = 1000000000;
  testing::require_throws_naming<FormatError>(
      [&] { Tokenizer::from_folder(write_folder("bounds-vocab", tok).string()); }, {"model.vocab['z']", "1000000000"});

  tok = small_tokenizer();
  tok["post_processor"] = {{"type", "TemplateProcessing"},
                           {"single", json::array({{{"SpecialToken", {{"id", "<s>"}}}}, {{"Sequence", {{"id", "A"}}}}})},
                           {"special_tokens", {{"<s>", {{"ids", json::array({-5})}}}}}};
  testing::require_throws_naming<FormatError>(
      [&] { Tokenizer::from_folder(write_folder("bounds-post", tok).string()); }, {"post_processor", "-5"});
  tok["post_processor"] = {{"type", "RobertaProcessing"}, {"cls", json::array({"<s>", 99999})}, {"sep", json::array({"</s>", 2})}};
  testing::require_throws_naming<FormatError>(
      [&] { Tokenizer::from_folder(write_folder("bounds-roberta", tok).string()); }, {"cls", "99999"});
}

TEST_CASE("text: a field of the wrong JSON type is a FormatError naming the file") {
  json tok = small_tokenizer();
  tok["pre_tokenizer"]["add_prefix_space"] = "yes";
  testing::require_throws_naming<FormatError>(
      [&] { Tokenizer::from_folder(write_folder("bounds-type", tok).string()); }, {"tokenizer.json", "wrong type"});
  tok = small_tokenizer();
  tok["added_tokens"] = json{{"id", 1}};
  testing::require_throws_naming<FormatError>(
      [&] { Tokenizer::from_folder(write_folder("bounds-added-object", tok).string()); }, {"added_tokens"});
}

TEST_CASE("text: tokenizer_config.json added_tokens_decoder ids are bounded too") {
  for (const std::string key : {"-1", "1000000000", "12x"}) {
    const auto dir = write_folder("bounds-config", small_tokenizer(),
                                  R"({"added_tokens_decoder": {")" + key + R"(": {"content": "<x>"}}})");
    testing::require_throws_naming<FormatError>([&] { Tokenizer::from_folder(dir.string()); },
                                                {"tokenizer_config.json", key});
  }
  const auto dir = write_folder("bounds-config-type", small_tokenizer(),
                                R"({"added_tokens_decoder": {"28": {"content": "<x>", "special": "yes"}}})");
  testing::require_throws_naming<FormatError>([&] { Tokenizer::from_folder(dir.string()); }, {"wrong type"});
}

TEST_CASE("text: a tokenizer file with invalid UTF-8 gives a readable, valid UTF-8 message") {
  const auto dir = testing::scratch_dir("bounds-utf8");
  std::ofstream(dir / "tokenizer.json") << "{\"model\": \xFF\xFE}";
  try {
    Tokenizer::from_folder(dir.string());
    FAIL("no error");
  } catch (const FormatError& e) {
    const std::string message = e.what();
    INFO(message);
    CHECK(message.find("tokenizer.json") != std::string::npos);
    CHECK(utf8_escape_invalid(message) == message);
  }
}

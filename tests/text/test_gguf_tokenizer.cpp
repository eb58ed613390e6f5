// Tokenizer::from_gguf: the tokenizer of a GGUF file against the same
// tokenizer read from its Hugging Face folder.
#include "culturespa/core/error.h"
#include "culturespa/core/gguf.h"
#include "culturespa/text/testing.h"
#include "culturespa/text/tokenizer.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "gguf_writer.h"
#include "support.h"

using namespace culturespa;

namespace {

// The test tokenizer of culturespa/text/testing.h as llama.cpp's converter
// stores a tokenizer in GGUF: every token by id, its type (1 normal, 3
// control), the merges as "a b".
struct Vocabulary {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<std::string> merges;
  int bos = -1, eos = -1;
};

Vocabulary vocabulary_of(const std::string& folder) {
  const auto tokenizer = nlohmann::json::parse(std::ifstream(folder + "/tokenizer.json"));
  const auto& vocab = tokenizer["model"]["vocab"];
  const auto& added = tokenizer["added_tokens"];
  Vocabulary out;
  out.tokens.resize(vocab.size() + added.size());
  out.types.assign(out.tokens.size(), 1);
  for (const auto& [token, id] : vocab.items()) out.tokens.at(id.get<std::size_t>()) = token;
  for (const auto& entry : added) {
    const auto id = entry["id"].get<std::size_t>();
    out.tokens.at(id) = entry["content"].get<std::string>();
    out.types.at(id) = 3;
    if (out.tokens[id] == "<s>") out.bos = static_cast<int>(id);
    if (out.tokens[id] == "</s>") out.eos = static_cast<int>(id);
  }
  for (const auto& merge : tokenizer["model"]["merges"]) out.merges.push_back(merge.get<std::string>());
  return out;
}

std::string gguf_write(const std::string& path, const Vocabulary& v, const std::string& pre,
                       const std::string& model = "gpt2") {
  testing::GgufBytes out;
  out.put<uint64_t>(0);   // tensors
  out.put<uint64_t>(10);  // metadata entries
  out.kv_string("general.architecture", "llama");
  out.kv_string("tokenizer.ggml.model", model);
  out.kv_string("tokenizer.ggml.pre", pre);
  out.kv_strings("tokenizer.ggml.tokens", v.tokens);
  out.kv_i32s("tokenizer.ggml.token_type", v.types);
  out.kv_strings("tokenizer.ggml.merges", v.merges);
  out.kv_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos));
  out.kv_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos));
  out.kv_bool("tokenizer.ggml.add_bos_token", true);
  out.kv_string("tokenizer.chat_template", "{{ messages }}");
  std::ofstream(path, std::ios::binary) << out.bytes();
  return path;
}

}  // namespace

TEST_CASE("gguf tokenizer: a GGUF file's tokenizer encodes as the same tokenizer's folder") {
  const auto dir = testing::scratch_dir("gguf-tokenizer");
  const std::string folder = (dir / "folder").string();
  testing_tokenizer_write(folder);
  const Vocabulary v = vocabulary_of(folder);
  REQUIRE(v.bos >= 0);
  const Tokenizer expected = Tokenizer::from_folder(folder);
  // "gpt2": the GPT-2 split; "smollm": digits on their own first (this vocabulary merges no digits either way).
  for (const std::string pre : {"gpt2", "smollm"}) {
    INFO(pre);
    const std::string path = gguf_write((dir / (pre + ".gguf")).string(), v, pre);
    const Tokenizer gguf = Tokenizer::from_gguf(path);
    CHECK(Tokenizer::from_folder(path).description() == gguf.description());  // from_folder reads GGUF files too
    CHECK(gguf.folder() == path);
    CHECK(gguf.vocab_size() == expected.vocab_size());
    CHECK(gguf.bos_id() == expected.bos_id());
    CHECK(gguf.eos_id() == expected.eos_id());
    CHECK(gguf.adds_bos());
    CHECK(gguf.chat_template_source() == "{{ messages }}");
    CHECK(gguf.is_special(*gguf.token_to_id("<|im_end|>")));
    EncodeOptions parse;
    parse.parse_special = true;
    for (const std::string text : {"the weather in 2024 is warm", "<|im_start|>user\nwho are you?<|im_end|>\n",
                                   "na\xC3\xAFve caf\xC3\xA9 \xE2\x98\x95  spaces\t\ttabs", ""}) {
      INFO(text);
      CHECK(gguf.encode(text, parse) == expected.encode(text, parse));
      CHECK(gguf.encode(text) == expected.encode(text));
      EncodeOptions plain;
      plain.add_special_tokens = false;
      CHECK(gguf.decode(gguf.encode(text, plain)) == text);
    }
  }
}

TEST_CASE("gguf tokenizer: the Hugging Face files name the special tokens") {
  const auto dir = testing::scratch_dir("gguf-tokenizer-files");
  testing_tokenizer_write((dir / "folder").string());
  const Vocabulary v = vocabulary_of((dir / "folder").string());
  const GgufFile file(gguf_write((dir / "t.gguf").string(), v, "gpt2"));
  const GgufTokenizerFiles files = gguf_tokenizer_files(file);
  const auto config = nlohmann::json::parse(files.tokenizer_config_json);
  CHECK(config["bos_token"] == "<s>");
  CHECK(config["eos_token"] == "</s>");
  CHECK(config["add_bos_token"] == true);
  CHECK(config["chat_template"] == "{{ messages }}");
  const auto generation = nlohmann::json::parse(files.generation_config_json);
  CHECK(generation["bos_token_id"] == v.bos);
  CHECK(generation["eos_token_id"] == v.eos);
  const auto tokenizer = nlohmann::json::parse(files.tokenizer_json);
  CHECK(tokenizer["model"]["vocab"].size() == v.tokens.size());
  CHECK(tokenizer["model"]["merges"].size() == v.merges.size());
  CHECK(tokenizer["post_processor"]["type"] == "TemplateProcessing");
}

TEST_CASE("gguf tokenizer: unsupported or malformed tokenizers are refused naming the file and key") {
  const auto dir = testing::scratch_dir("gguf-tokenizer-bad");
  testing_tokenizer_write((dir / "folder").string());
  const Vocabulary v = vocabulary_of((dir / "folder").string());
  SECTION("sentencepiece GGUF") {
    const auto path = gguf_write((dir / "spm.gguf").string(), v, "default", "llama");
    testing::require_throws_naming<ConfigError>([&] { Tokenizer::from_gguf(path); },
                                                {path, "tokenizer.ggml.model", "llama"});
  }
  SECTION("unknown pre-tokenizer") {
    const auto path = gguf_write((dir / "pre.gguf").string(), v, "tekken-x");
    testing::require_throws_naming<ConfigError>([&] { Tokenizer::from_gguf(path); },
                                                {path, "tokenizer.ggml.pre", "tekken-x", "smollm"});
  }
  SECTION("a merge that is not two tokens") {
    Vocabulary bad = v;
    bad.merges[1] = "abc";
    const auto path = gguf_write((dir / "merge.gguf").string(), bad, "gpt2");
    testing::require_throws_naming<FormatError>([&] { Tokenizer::from_gguf(path); },
                                                {path, "tokenizer.ggml.merges[1]", "abc"});
  }
  SECTION("no tokenizer at all") {
    testing::GgufBytes out;
    out.put<uint64_t>(0);
    out.put<uint64_t>(1);
    out.kv_string("general.architecture", "llama");
    const auto path = (dir / "none.gguf").string();
    std::ofstream(path, std::ios::binary) << out.bytes();
    testing::require_throws_naming<ConfigError>([&] { Tokenizer::from_gguf(path); }, {path, "tokenizer.ggml.model"});
  }
  SECTION("missing file") {
    CHECK_THROWS_AS(Tokenizer::from_gguf((dir / "absent.gguf").string()), FileError);
  }
}

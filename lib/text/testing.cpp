#include "culturespa/text/testing.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "culturespa/core/error.h"
#include "bpe.h"

namespace culturespa {

void testing_tokenizer_write(const std::string& dir) {
  using nlohmann::json;
  // The byte-level alphabet (GPT-2's byte-to-symbol table) as the tokenizer
  // reads it; every byte is a base token, its id the byte value.
  const auto& symbol = text_detail::byte_level_alphabet();
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[symbol[b]] = b;
  const std::string space = symbol[' '];
  const std::vector<std::pair<std::string, std::string>> merges = {
      {space, "t"}, {"h", "e"}, {space + "t", "he"}, {"i", "n"}, {"a", "n"}, {"e", "r"},
      {"o", "n"},   {space, "a"}, {"r", "e"},         {space, "w"}, {"o", "u"}, {space, "i"}};
  int id = 256;
  json merge_list = json::array();
  for (const auto& [a, b] : merges) {
    vocab[a + b] = id++;
    merge_list.push_back(a + " " + b);
  }
  json added = json::array();
  for (const char* special : {"<s>", "</s>", "<|im_start|>", "<|im_end|>"})
    added.push_back({{"id", id++}, {"content", special}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  const json tokenizer = {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_list}}},
  };
  const json config = {{"tokenizer_class", "LlamaTokenizerFast"}, {"add_bos_token", true},
                       {"add_eos_token", false},                    {"bos_token", "<s>"},
                       {"eos_token", "</s>"}};
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) throw FileError(FileError::Kind::io, dir, "cannot create folder " + dir + ": " + error.message());
  file_write_atomic((std::filesystem::path(dir) / "tokenizer.json").string(), tokenizer.dump());
  file_write_atomic((std::filesystem::path(dir) / "tokenizer_config.json").string(), config.dump());
}

}  // namespace culturespa

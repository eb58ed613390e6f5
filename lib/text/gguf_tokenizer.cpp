// The tokenizer a GGUF file carries, written out as the Hugging Face files
// that describe the same tokenizer (culturespa/text/tokenizer.h,
// gguf_tokenizer_files). Tokenizer::from_gguf runs them; the model converter
// writes them beside the weights.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "culturespa/core/error.h"
#include "culturespa/core/gguf.h"
#include "culturespa/text/tokenizer.h"

namespace culturespa {
namespace {

// The vocabulary is a std::map (sorted, fast to fill); the small files keep
// their keys in the order written.
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

// llama.cpp's token types (llama.h, llama_token_type).
constexpr int64_t kTokenControl = 3;
constexpr int64_t kTokenUserDefined = 4;

json byte_level(bool add_prefix_space, bool trim_offsets, bool use_regex = true) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", add_prefix_space}, {"trim_offsets", trim_offsets},
          {"use_regex", use_regex}};
}

// llama.cpp's pre-tokenizers (llama-vocab.cpp, by tokenizer.ggml.pre) as
// tokenizer.json pre-tokenizers: a regex split (none: the GPT-2 split alone),
// then byte-level with the GPT-2 split or without a regex of its own.
struct PreTokenizer {
  std::vector<std::string> names;
  const char* split;  // nullptr: none
  bool gpt2_split;    // ByteLevel's own GPT-2 regex after the split
  bool ignore_merges = false;  // a word that is a token is taken whole (llama.cpp's LLaMA-3 rule)
};

const std::vector<PreTokenizer>& pre_tokenizers() {
  // LLaMA-3's split; Qwen2's differs only in taking digits one at a time.
  static const std::vector<PreTokenizer> table = {
      {{"gpt2", "mpt", "olmo", "jais", "default"}, nullptr, true},
      {{"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva"}, "\\p{N}", true},
      {{"llama-bpe", "llama3", "llama-v3"},
       "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
       "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
       false, true},
      {{"qwen2"},
       "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
       "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
       false},
  };
  return table;
}

const PreTokenizer& pre_tokenizer_of(const GgufFile& file) {
  const GgufValue* value = file.find("tokenizer.ggml.pre");
  const std::string pre = value && value->type == GgufValueType::string ? value->string : "default";
  std::string known;
  for (const auto& entry : pre_tokenizers()) {
    for (const auto& name : entry.names) {
      known += (known.empty() ? "" : ", ") + name;
      if (name == pre) return entry;
    }
  }
  throw ConfigError("GGUF file " + file.path() + ": tokenizer.ggml.pre '" + pre + "' is not supported (supported: " +
                    known + ")");
}

json pre_tokenizer(const PreTokenizer& entry) {
  const json tail = byte_level(false, true, entry.gpt2_split);
  if (!entry.split) return tail;
  const json split = {{"type", "Split"}, {"pattern", {{"Regex", entry.split}}}, {"behavior", "Isolated"},
                      {"invert", false}};
  return {{"type", "Sequence"}, {"pretokenizers", {split, tail}}};
}

// The token of the id stored under `key` ("" when the key is absent).
std::string token_at(const GgufFile& file, const std::string& key, const std::vector<std::string>& tokens) {
  if (!file.find(key)) return "";
  const int64_t id = file.get_integer(key);
  if (id < 0 || id >= static_cast<int64_t>(tokens.size()))
    throw FormatError("GGUF file " + file.path() + ": " + key + " " + std::to_string(id) +
                      " is outside the vocabulary of " + std::to_string(tokens.size()) + " tokens");
  return tokens[static_cast<std::size_t>(id)];
}

bool flag(const GgufFile& file, const std::string& key) { return file.get_integer(key, 0) != 0; }

// The post-processor: BOS before (EOS after) every text when the file says
// llama.cpp adds them (tokenizer.ggml.add_bos_token / add_eos_token), else
// byte-level offsets only (no ids).
json post_processor(const GgufFile& file, const std::vector<std::string>& tokens) {
  json specials = json::object();
  auto special = [&](const std::string& flag_key, const std::string& id_key) -> std::string {
    if (!flag(file, flag_key)) return "";
    const std::string token = token_at(file, id_key, tokens);
    if (token.empty())
      throw ConfigError("GGUF file " + file.path() + ": " + flag_key + " is set but " + id_key + " is missing");
    specials[token] = {{"id", token}, {"ids", {file.get_integer(id_key)}}, {"tokens", {token}}};
    return token;
  };
  const std::string bos = special("tokenizer.ggml.add_bos_token", "tokenizer.ggml.bos_token_id");
  const std::string eos = special("tokenizer.ggml.add_eos_token", "tokenizer.ggml.eos_token_id");
  if (bos.empty() && eos.empty()) return byte_level(true, false);
  auto piece = [](json& list, const char* kind, const std::string& id, int type_id) {
    if (!id.empty()) list.push_back({{kind, {{"id", id}, {"type_id", type_id}}}});
  };
  json single = json::array();
  piece(single, "SpecialToken", bos, 0);
  piece(single, "Sequence", "A", 0);
  piece(single, "SpecialToken", eos, 0);
  json pair = single;
  piece(pair, "SpecialToken", bos, 1);
  piece(pair, "Sequence", "B", 1);
  piece(pair, "SpecialToken", eos, 1);
  return {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", specials}};
}

template <class Json>
std::string dump(const Json& value, const GgufFile& file, const char* what) {
  try {
    return value.dump(2);
  } catch (const json::exception& e) {  // a token that is not UTF-8
    throw FormatError("GGUF file " + file.path() + ": the " + what + " holds text that is not UTF-8 (" + e.what() + ")");
  }
}

}  // namespace

GgufTokenizerFiles gguf_tokenizer_files(const GgufFile& file) {
  const std::string& path = file.path();
  const std::string model = file.get_string("tokenizer.ggml.model");
  if (model != "gpt2")
    throw ConfigError("GGUF file " + path + ": tokenizer.ggml.model is '" + model +
                      "'; only byte-level BPE ('gpt2') is read");
  const std::vector<std::string>& tokens = file.get_array("tokenizer.ggml.tokens", GgufValueType::string).strings;
  std::vector<int64_t> types(tokens.size(), 1);
  if (const GgufValue* stored = file.find("tokenizer.ggml.token_type")) {
    if (stored->type != GgufValueType::array || stored->integers.size() != tokens.size())
      throw FormatError("GGUF file " + path + ": tokenizer.ggml.token_type is not an integer array of " +
                        std::to_string(tokens.size()) + " entries, one per token");
    types = stored->integers;
  }

  json vocab = json::object();
  for (std::size_t id = 0; id < tokens.size(); ++id) {
    if (vocab.contains(tokens[id]))
      throw FormatError("GGUF file " + path + ": tokenizer.ggml.tokens holds '" + tokens[id] + "' twice");
    vocab[tokens[id]] = id;
  }
  json merges = json::array();
  const auto& merge_texts = file.get_array("tokenizer.ggml.merges", GgufValueType::string).strings;
  for (std::size_t i = 0; i < merge_texts.size(); ++i) {
    const std::string& merge = merge_texts[i];
    const auto space = merge.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == merge.size() ||
        merge.find(' ', space + 1) != std::string::npos)
      throw FormatError("GGUF file " + path + ": tokenizer.ggml.merges[" + std::to_string(i) + "] '" + merge +
                        "' is not two tokens");
    merges.push_back({merge.substr(0, space), merge.substr(space + 1)});
  }

  json added = json::array();
  std::vector<std::string> special;
  for (std::size_t id = 0; id < tokens.size(); ++id) {
    if (types[id] != kTokenControl && types[id] != kTokenUserDefined) continue;
    const bool is_special = types[id] == kTokenControl;
    if (is_special) special.push_back(tokens[id]);
    added.push_back({{"id", id}, {"content", tokens[id]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", is_special}});
  }
  const std::string unk = token_at(file, "tokenizer.ggml.unknown_token_id", tokens);
  const PreTokenizer& pre = pre_tokenizer_of(file);

  const json tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", pre_tokenizer(pre)},
      {"post_processor", post_processor(file, tokens)},
      {"decoder", byte_level(true, true)},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", unk.empty() ? json(nullptr) : json(unk)},
        {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr}, {"fuse_unk", false},
        {"byte_fallback", false}, {"ignore_merges", pre.ignore_merges}, {"vocab", vocab}, {"merges", merges}}},
  };

  // The fast tokenizer class reads everything from tokenizer.json; a slow
  // GPT2Tokenizer would not know a digit-splitting pre-tokenizer.
  ordered_json config = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                 {"add_bos_token", flag(file, "tokenizer.ggml.add_bos_token")},
                 {"add_eos_token", flag(file, "tokenizer.ggml.add_eos_token")},
                 {"add_prefix_space", false},
                 {"clean_up_tokenization_spaces", false}};
  const GgufValue* architecture = file.find("general.architecture");
  if (architecture && architecture->type == GgufValueType::string &&
      file.find(architecture->string + ".context_length"))
    config["model_max_length"] = file.get_integer(architecture->string + ".context_length");
  for (const auto& [key, field] : {std::pair<const char*, const char*>{"bos", "bos_token"}, {"eos", "eos_token"},
                                   {"padding", "pad_token"}, {"unknown", "unk_token"}}) {
    const std::string token = token_at(file, std::string("tokenizer.ggml.") + key + "_token_id", tokens);
    if (!token.empty()) config[field] = token;
  }
  // ChatML's turn markers, as the published configs of ChatML models list them.
  ordered_json turn_markers = ordered_json::array();
  for (const auto& token : special)
    if (token == "<|im_start|>" || token == "<|im_end|>") turn_markers.push_back(token);
  config["additional_special_tokens"] = turn_markers;
  if (file.find("tokenizer.chat_template")) config["chat_template"] = file.get_string("tokenizer.chat_template");

  ordered_json generation = ordered_json::object();
  for (const auto& [key, field] : {std::pair<const char*, const char*>{"bos", "bos_token_id"},
                                   {"eos", "eos_token_id"}, {"padding", "pad_token_id"}}) {
    const std::string name = std::string("tokenizer.ggml.") + key + "_token_id";
    if (file.find(name)) generation[field] = file.get_integer(name);
  }

  return {dump(tokenizer, file, "vocabulary"), dump(config, file, "tokenizer configuration"),
          dump(generation, file, "token ids")};
}

}  // namespace culturespa

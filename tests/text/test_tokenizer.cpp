#include "culturespa/core/error.h"
#include "culturespa/text/chat_template.h"
#include "culturespa/text/sentencepiece.h"
#include "culturespa/text/tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "support.h"

using namespace culturespa;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_all(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A tiny byte-level BPE tokenizer.json, written by the test: GPT-2's split
// pattern, merges for "he", "ll", "hell", "hello" and " w" + "o".
std::string tiny_tokenizer_json(bool pairs_format) {
  json vocab = json::object();
  // The 256 byte-level characters get ids 0..255 in byte order.
  int next = 256;
  std::vector<std::string> alphabet(256);
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const int cp = printable ? b : next++;
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    alphabet[b] = s;
    vocab[s] = b;
  }
  const std::string space = alphabet[' '];  // "Ġ"
  std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {space, "w"}, {space + "w", "o"}};
  int id = 256;
  json merge_list = json::array();
  for (const auto& [a, b] : merges) {
    vocab[a + b] = id++;
    if (pairs_format) merge_list.push_back({a, b}); else merge_list.push_back(a + " " + b);
  }
  json root = {
      {"added_tokens", json::array({{{"id", id}, {"content", "<|end|>"}, {"special", true}}})},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_list}}},
  };
  return root.dump();
}

fs::path tiny_folder(const std::string& name, bool pairs_format = false) {
  const auto dir = testing::scratch_dir(name);
  write_all(dir / "tokenizer.json", tiny_tokenizer_json(pairs_format));
  write_all(dir / "tokenizer_config.json",
            R"({"eos_token": "<|end|>", "chat_template": "{{ messages }}"})");
  return dir;
}

std::vector<std::string> split_vectors(const std::string& inp) {
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  std::size_t pos = 0;
  while (pos < inp.size()) {
    const auto next = inp.find(separator, pos);
    if (next == std::string::npos) break;
    texts.push_back(inp.substr(pos, next - pos));
    pos = next + separator.size();
  }
  return texts;
}

std::vector<int> parse_ids(const std::string& line) {
  std::vector<int> ids;
  std::istringstream in(line);
  int id;
  while (in >> id) ids.push_back(id);
  return ids;
}

bool needs_sentencepiece(const std::string& folder) { return folder == "llama2"; }

}  // namespace

TEST_CASE("text: a tiny tokenizer.json written by the test encodes and decodes") {
  for (bool pairs : {false, true}) {
    const auto dir = tiny_folder(pairs ? "tok-pairs" : "tok-strings", pairs);
    const auto tok = Tokenizer::from_folder(dir.string());
    CHECK(tok.vocab_size() == 263);
    // "hello" -> 259 (he=256, ll=257, hell=258, hello=259); " wo" -> 261 ; "rld" bytes.
    const auto ids = tok.encode("hello world");
    const std::vector<int> expected = {259, 261, 'r', 'l', 'd'};
    CHECK(ids == expected);
    CHECK(tok.decode(ids) == "hello world");
    CHECK(tok.token_to_id("<|end|>") == std::optional<int>(262));
    CHECK(tok.eos_id() == std::optional<int>(262));
    // Special text is plain text unless parse_special is asked.
    const auto plain = tok.encode("hello<|end|>");
    CHECK(plain.size() > 2);
    EncodeOptions parse;
    parse.parse_special = true;
    CHECK(tok.encode("hello<|end|>", parse) == std::vector<int>{259, 262});
    DecodeOptions skip;
    skip.skip_special_tokens = true;
    CHECK(tok.decode({259, 262}, skip) == "hello");
    CHECK(tok.decode({259, 262}) == "hello<|end|>");
  }
}

TEST_CASE("text: invalid UTF-8 input is replaced by U+FFFD, one per maximal subpart") {
  const auto tok = Tokenizer::from_folder(tiny_folder("tok-utf8").string());
  // \xE2\x82 is a truncated 3-byte character; \xFF is never valid.
  const std::string bad = std::string("a\xE2\x82") + "b\xFF";
  CHECK(tok.encode(bad) == tok.encode("a\xEF\xBF\xBD" "b\xEF\xBF\xBD"));
  CHECK(tok.decode(tok.encode(bad)) == "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
}

TEST_CASE("text: the incremental decoder never splits a UTF-8 character") {
  const auto tok = Tokenizer::from_folder(tiny_folder("tok-incremental").string());
  const std::string text = "h\xC3\xA9llo \xF0\x9F\x98\x80 wo";  // é and an emoji: bytes as ids
  const auto ids = tok.encode(text);
  IncrementalDecoder decoder(tok);
  std::string streamed;
  for (int id : ids) {
    const std::string piece = decoder.push(id);
    // Every piece is whole UTF-8 on its own.
    std::size_t i = 0;
    while (i < piece.size()) {
      const unsigned char c = static_cast<unsigned char>(piece[i]);
      const std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      REQUIRE(i + len <= piece.size());
      i += len;
    }
    streamed += piece;
  }
  streamed += decoder.flush();
  CHECK(streamed == text);
}

TEST_CASE("text: bad tokenizer files give clear errors") {
  const auto dir = testing::scratch_dir("tok-bad");
  CHECK_THROWS_AS(Tokenizer::from_folder((dir / "absent").string()), FileError);
  CHECK_THROWS_AS(Tokenizer::from_folder(dir.string()), FileError);  // empty folder
  write_all(dir / "tokenizer.json", "{not json");
  CHECK_THROWS_AS(Tokenizer::from_folder(dir.string()), FormatError);
  write_all(dir / "tokenizer.json", R"({"model": {"type": "WordPiece", "vocab": {}}})");
  CHECK_THROWS_WITH(Tokenizer::from_folder(dir.string()), Catch::Contains("WordPiece"));
  json root = json::parse(tiny_tokenizer_json(false));
  root["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  write_all(dir / "tokenizer.json", root.dump());
  CHECK_THROWS_WITH(Tokenizer::from_folder(dir.string()), Catch::Contains("BertPreTokenizer"));
  root = json::parse(tiny_tokenizer_json(false));
  root["model"]["merges"].push_back("zz q");
  write_all(dir / "tokenizer.json", root.dump());
  CHECK_THROWS_WITH(Tokenizer::from_folder(dir.string()), Catch::Contains("'zz'"));
  CHECK_THROWS_AS(Tokenizer::from_folder(dir.string(), TokenizerOptions{"vocab.txt"}), ConfigError);
  const auto tok = Tokenizer::from_folder(tiny_folder("tok-bad-ids").string());
  CHECK_THROWS_AS(tok.decode({100000}), ValueError);
  CHECK_THROWS_AS(tok.id_to_token(-1), ValueError);
}

TEST_CASE("text: chat formats render, unknown templates are refused, users add formats") {
  const Conversation conversation = {{"system", "Be brief."}, {"user", "Hi?"}};
  ChatTemplateOptions options;
  options.bos_token = "<|begin_of_text|>";
  CHECK(chat_render("llama3", conversation, options) ==
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n");
  CHECK(chat_render("chatml", conversation) ==
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n");
  CHECK_THROWS_AS(chat_render("nope", conversation), ConfigError);
  CHECK_THROWS_WITH(chat_format_detect("{{ something new }}"), Catch::Contains("format="));
  CHECK_THROWS_AS(chat_render("llama2", {{"assistant", "x"}}), ValueError);

  chat_format_register("shout", [](const Conversation& c, const ChatTemplateOptions&) {
    std::string out;
    for (const auto& m : c) out += m.role + ": " + m.content + "\n";
    return out;
  }, {"{{ shout }}"});
  CHECK(chat_format_detect("  {{ shout }}\n") == "shout");
  CHECK(chat_render("shout", {{"user", "a"}}) == "user: a\n");
  const auto tok = Tokenizer::from_folder(tiny_folder("tok-chat").string());
  CHECK_THROWS_AS(tok.chat_format(), ConfigError);  // "{{ messages }}" is unknown
  ChatTemplateOptions shout;
  shout.format = "shout";
  CHECK(tok.apply_chat_template({{"user", "hello"}}, shout) == "user: hello\n");
}

TEST_CASE("text: llama.cpp vectors and extra.jsonl on the real tokenizers") {
  CULTURESPA_REQUIRE_SHARED(shared);
  const auto root = shared / "fixtures/tokenizers";
  const std::map<std::string, std::string> sets = {
      {"llama-spm", "llama2"}, {"llama-bpe", "llama3-instruct"}, {"qwen2", "qwen3"}, {"gpt-2", "gpt2"}};
  std::map<std::string, Tokenizer> tokenizers;
  auto get = [&](const std::string& folder) -> const Tokenizer& {
    auto it = tokenizers.find(folder);
    if (it == tokenizers.end()) it = tokenizers.emplace(folder, Tokenizer::from_folder((root / folder).string())).first;
    return it->second;
  };
  int checked = 0;
  for (const auto& [set, folder] : sets) {
    if (needs_sentencepiece(folder) && !sentencepiece_available()) {
      WARN("skipped " << set << ": built without sentencepiece");
      continue;
    }
    const auto texts = split_vectors(read_all(root / "vectors" / ("ggml-vocab-" + set + ".gguf.inp")));
    std::istringstream out(read_all(root / "vectors" / ("ggml-vocab-" + set + ".gguf.out")));
    REQUIRE(texts.size() == 46);
    EncodeOptions options;
    options.add_special_tokens = false;
    for (const auto& text : texts) {
      std::string line;
      std::getline(out, line);
      INFO(set << ": " << text);
      CHECK(get(folder).encode(text, options) == parse_ids(line));
      CHECK(get(folder).decode(get(folder).encode(text, options)) == text);
      ++checked;
    }
  }
  std::ifstream extra(root / "vectors/extra.jsonl");
  std::string line;
  int rows = 0, skipped = 0;
  while (std::getline(extra, line)) {
    const auto row = json::parse(line);
    const std::string folder = row["tokenizer"];
    if (needs_sentencepiece(folder) && !sentencepiece_available()) {
      ++skipped;
      continue;
    }
    EncodeOptions options;
    options.add_special_tokens = row["add_special_tokens"];
    options.parse_special = row["parse_special"];
    const std::string text = row["text"];
    INFO(folder << " add_special=" << options.add_special_tokens << " parse_special="
                << options.parse_special << ": " << text);
    CHECK(get(folder).encode(text, options) == row["ids"].get<std::vector<int>>());
    ++rows;
  }
  CHECK(rows + skipped == 565);
  if (skipped) WARN("skipped " << skipped << " llama2 rows: built without sentencepiece");
  CHECK(checked >= 3 * 46);
}

TEST_CASE("text: chat/cases.jsonl renders byte-identical prompts and ids") {
  CULTURESPA_REQUIRE_SHARED(shared);
  const auto root = shared / "fixtures/tokenizers";
  const std::map<std::string, std::string> formats = {
      {"llama3-instruct", "llama3"}, {"qwen3", "qwen3"}, {"meta-llama-Llama-3.1-8B-Instruct", "llama3.1"},
      {"Qwen-Qwen2.5-7B-Instruct", "qwen2.5"}, {"llama2-chat-vigogne", "llama2-vigogne"},
      {"llama.cpp-builtin-llama2-sys-strip", "llama2-llamacpp"}};
  std::map<std::string, Tokenizer> tokenizers;
  std::ifstream cases(root / "chat/cases.jsonl");
  std::string line;
  int rows = 0;
  while (std::getline(cases, line)) {
    const auto row = json::parse(line);
    const std::string name = row["template"];
    INFO(name << " / " << row["case"].get<std::string>());
    Conversation conversation;
    for (const auto& m : row["messages"]) conversation.push_back({m["role"], m["content"]});
    ChatTemplateOptions options;
    options.add_generation_prompt = row["add_generation_prompt"];
    const json context = row.value("context", json::object());
    options.bos_token = context.value("bos_token", "");
    options.eos_token = context.value("eos_token", "");
    if (context.contains("enable_thinking")) options.enable_thinking = context["enable_thinking"].get<bool>();
    if (context.contains("date_string")) options.date_string = context["date_string"];
    REQUIRE(formats.count(name));
    const std::string rendered = chat_render(formats.at(name), conversation, options);
    CHECK(rendered == row["rendered"].get<std::string>());
    // The template files themselves are recognised.
    if (row.contains("template_file") && row["template_file"].is_string()) {
      const auto file = root / row["template_file"].get<std::string>();
      if (fs::exists(file)) CHECK(chat_format_detect(read_all(file)) == formats.at(name));
    }
    ++rows;
    if (row.contains("ids") && row.contains("tokenizer")) {
      const std::string folder = row["tokenizer"];
      if (needs_sentencepiece(folder) && !sentencepiece_available()) continue;
      auto it = tokenizers.find(folder);
      if (it == tokenizers.end()) {
        it = tokenizers.emplace(folder, Tokenizer::from_folder((root / folder).string())).first;
      }
      const Tokenizer& tok = it->second;
      EncodeOptions encode;
      encode.add_special_tokens = row["add_special_tokens"];
      encode.parse_special = true;
      const auto expected = row["ids"].get<std::vector<int>>();
      CHECK(tok.encode(rendered, encode) == expected);
      // The BOS rule of encode_chat gives the same ids where the template's bos is the tokenizer's.
      if (context.value("bos_token", tok.bos_token()) == tok.bos_token()) {
        options.format = formats.at(name);
        options.bos_token.reset();
        options.eos_token.reset();
        CHECK(tok.encode_chat(conversation, options) == expected);
      }
    }
  }
  CHECK(rows == 23);
}

TEST_CASE("text: the fixture folders' own chat templates and stop ids") {
  CULTURESPA_REQUIRE_SHARED(shared);
  const auto root = shared / "fixtures/tokenizers";
  const auto llama3 = Tokenizer::from_folder((root / "llama3-instruct").string());
  CHECK(llama3.chat_format() == "llama3");
  CHECK(llama3.bos_id() == std::optional<int>(128000));
  CHECK(llama3.adds_bos());
  const auto stops = llama3.stop_ids();
  CHECK(std::find(stops.begin(), stops.end(), 128009) != stops.end());  // <|eot_id|>
  CHECK(std::find(stops.begin(), stops.end(), 128001) != stops.end());  // <|end_of_text|>
  const auto qwen = Tokenizer::from_folder((root / "qwen3").string());
  CHECK(qwen.chat_format() == "qwen3");
  CHECK_FALSE(qwen.bos_id().has_value());
  CHECK_FALSE(qwen.adds_bos());
  const auto mistral = Tokenizer::from_folder((root / "mistral").string());
  CHECK_THROWS_WITH(mistral.chat_format(), Catch::Contains("format"));
  CHECK(mistral.adds_bos());
  const auto gpt2 = Tokenizer::from_folder((root / "gpt2").string());
  CHECK(gpt2.vocab_size() == 50257);
  CHECK(gpt2.eos_id() == std::optional<int>(50256));
}

TEST_CASE("text: BOS/EOS/PAD and stop ids from tokenizer_config, config and generation_config") {
  const auto dir = tiny_folder("tok-configs");
  write_all(dir / "config.json", R"({"bos_token_id": 1, "eos_token_id": [262, 5], "pad_token_id": 3})");
  write_all(dir / "generation_config.json", R"({"eos_token_id": 7})");
  const auto tok = Tokenizer::from_folder(dir.string());
  CHECK(tok.eos_id() == std::optional<int>(262));  // tokenizer_config.json's eos_token wins
  CHECK(tok.bos_id() == std::optional<int>(1));
  CHECK(tok.pad_id() == std::optional<int>(3));
  auto stops = tok.stop_ids();
  std::sort(stops.begin(), stops.end());
  CHECK(stops == std::vector<int>{5, 7, 262});
  CHECK_FALSE(tok.adds_bos());  // the post-processor adds nothing
  write_all(dir / "config.json", "{broken");
  CHECK_THROWS_WITH(Tokenizer::from_folder(dir.string()), Catch::Contains("config.json"));
}

// The tokenizer.json engine: loading the pipeline and running BPE.
#include "bpe.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <functional>
#include <queue>

#include "culturespa/core/error.h"

namespace culturespa::text_detail {

using nlohmann::json;

namespace {

// GPT-2's split pattern, used by the ByteLevel pre-tokenizer with use_regex.
const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

constexpr std::size_t kCacheMaxWordBytes = 64;
std::atomic<std::uint64_t> next_engine_serial{1};

std::string type_of(const json& node) {
  if (!node.is_object() || !node.contains("type") || !node["type"].is_string()) return "";
  return node["type"].get<std::string>();
}

std::string regex_escape(const std::string& literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}-/").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

// {"String": "x"} or {"Regex": "x"} of Split / Replace.
std::pair<std::string, bool> pattern_of(const json& node, const std::string& where) {
  if (node.contains("String") && node["String"].is_string()) return {node["String"], false};
  if (node.contains("Regex") && node["Regex"].is_string()) return {node["Regex"], true};
  throw FormatError(where + ": pattern is neither {\"String\": ...} nor {\"Regex\": ...}");
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  std::size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
}

int byte_fallback_value(const std::string& token) {
  // "<0xAB>"
  if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return -1;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(token[3]), lo = hex(token[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

}  // namespace

// ---------------------------------------------------------------------------
// Loading

void BpeEngine::add_merge(int a, int b, int merged, int rank) {
  const auto key = (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) |
                   static_cast<std::uint32_t>(b);
  merges_.emplace(key, MergeValue{rank, merged});  // the first (lowest rank) wins
}

void BpeEngine::build_byte_tables() {
  byte_fallback_id_.fill(-1);
  byte_symbol_.fill(-1);
  for (std::size_t id = 0; id < id_to_token_.size(); ++id) {
    const int value = byte_fallback_value(id_to_token_[id]);
    if (value >= 0) byte_fallback_id_[value] = static_cast<int>(id);
  }
  if (!byte_level_) return;
  const auto& alphabet = byte_level_alphabet();
  std::unordered_map<std::string, int> char_to_byte;
  for (int b = 0; b < 256; ++b) {
    char_to_byte[alphabet[b]] = b;
    // Some vocabularies (SmolLM2's) lack tokens for a few control bytes;
    // Hugging Face then encodes such a byte as unk_token, or drops it when
    // there is none (initial_symbols does the same).
    const auto it = token_to_id_.find(alphabet[b]);
    byte_symbol_[b] = it == token_to_id_.end() ? -1 : it->second;
  }
  // Raw bytes of each token, for ignore_merges lookups without re-mapping words.
  raw_bytes_to_id_.reserve(token_to_id_.size());
  for (const auto& [token, id] : token_to_id_) {
    std::string raw;
    bool ok = true;
    for (std::size_t i = 0; i < token.size() && ok;) {
      const std::size_t len = utf8_char_length(static_cast<unsigned char>(token[i]));
      const auto it = char_to_byte.find(token.substr(i, len));
      if (it == char_to_byte.end()) ok = false; else raw += static_cast<char>(it->second);
      i += len;
    }
    if (ok) raw_bytes_to_id_.emplace(std::move(raw), id);
  }
}

// One parser per tokenizer.json section. Each reads its section into the
// engine and throws FormatError (malformed) or ConfigError (unsupported)
// naming the file and the field; ids are bounded by the vocabulary before
// anything is sized by them.
struct TokenizerJsonParser {
  BpeEngine& e;
  const std::string& path;

  void pre_tokenizer(const json& node);
  void normalizer(const json& node);
  void decoder(const json& node);
  void vocabulary(const json& model, const json& added);
  void merges(const json& model);
  void model_flags(const json& model);
  void post_processor(const json& node);

  // The bound every id is checked against: model.vocab entries plus
  // added_tokens entries (ids run 0..bound-1 in every real tokenizer).
  long long id_bound = 0;
  int checked_id(const json& node, const std::string& what) const {
    if (!node.is_number_integer())
      throw FormatError(path + ": " + what + " is not an integer token id (" + node.dump() + ")");
    const long long id = node.get<long long>();
    if (id < 0 || id >= id_bound)
      throw FormatError(path + ": " + what + " has id " + std::to_string(id) +
                        ", outside the vocabulary (ids 0.." + std::to_string(id_bound - 1) +
                        ": model.vocab and added_tokens hold " + std::to_string(id_bound) + " entries)");
    return static_cast<int>(id);
  }
};

void TokenizerJsonParser::pre_tokenizer(const json& node) {
  if (node.is_null()) return;
  const std::string type = type_of(node);
  const std::string where = path + ": pre_tokenizer " + type;
  if (type == "Sequence") {
    for (const auto& child : node.value("pretokenizers", json::array())) pre_tokenizer(child);
  } else if (type == "Split") {
    auto [pattern, is_regex] = pattern_of(node.value("pattern", json::object()), where);
    const std::string behavior = node.value("behavior", "Isolated");
    if (behavior != "Isolated" || node.value("invert", false)) {
      throw ConfigError(where + ": behavior '" + behavior +
                        "' (invert " + (node.value("invert", false) ? "true" : "false") +
                        ") is not supported; only Isolated without invert");
    }
    PreTokenizerStep step{PreTokenizerStep::Kind::split_regex};
    step.regex = std::make_shared<Regex>(is_regex ? pattern : regex_escape(pattern), where);
    e.pre_tokenizers_.push_back(std::move(step));
  } else if (type == "ByteLevel") {
    PreTokenizerStep step{PreTokenizerStep::Kind::byte_level};
    step.add_prefix_space = node.value("add_prefix_space", false);
    if (step.add_prefix_space && !e.pre_tokenizers_.empty()) {
      throw ConfigError(where + ": add_prefix_space after another pre-tokenizer is not supported");
    }
    if (node.value("use_regex", true)) step.regex = std::make_shared<Regex>(kGpt2Pattern, where);
    e.pre_tokenizers_.push_back(std::move(step));
    e.byte_level_ = true;
  } else if (type == "Metaspace") {
    if (!e.pre_tokenizers_.empty()) {
      throw ConfigError(where + ": Metaspace after another pre-tokenizer is not supported");
    }
    PreTokenizerStep step{PreTokenizerStep::Kind::metaspace};
    step.replacement = node.value("replacement", "\xE2\x96\x81");
    if (step.replacement.empty()) throw FormatError(where + ": replacement is empty");
    const std::string scheme =
        node.value("prepend_scheme", node.value("add_prefix_space", true) ? "always" : "never");
    if (scheme == "never") {
      step.prepend = false;
    } else if (scheme == "first") {
      step.prepend_only_first = true;
    } else if (scheme != "always") {
      throw ConfigError(where + ": prepend_scheme '" + scheme + "' is unknown");
    }
    step.metaspace_split = node.value("split", true);
    e.pre_tokenizers_.push_back(std::move(step));
  } else {
    throw ConfigError(path + ": pre_tokenizer type '" + type +
                      "' is not supported (supported: Sequence, Split, ByteLevel, Metaspace)");
  }
}

void TokenizerJsonParser::normalizer(const json& node) {
  if (node.is_null()) return;
  const std::string type = type_of(node);
  const std::string where = path + ": normalizer " + type;
  if (type == "Sequence") {
    for (const auto& child : node.value("normalizers", json::array())) normalizer(child);
  } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    NormalizerStep step{NormalizerStep::Kind::unicode};
    step.form = type == "NFC" ? UnicodeForm::nfc : type == "NFD" ? UnicodeForm::nfd
              : type == "NFKC" ? UnicodeForm::nfkc : UnicodeForm::nfkd;
    e.normalizers_.push_back(step);
  } else if (type == "Prepend") {
    NormalizerStep step{NormalizerStep::Kind::prepend};
    step.text = node.value("prepend", "");
    e.normalizers_.push_back(step);
  } else if (type == "Replace") {
    auto [pattern, is_regex] = pattern_of(node.value("pattern", json::object()), where);
    if (is_regex) throw ConfigError(where + ": a Regex pattern is not supported, only String");
    NormalizerStep step{NormalizerStep::Kind::replace};
    step.text = pattern;
    step.replacement = node.value("content", "");
    e.normalizers_.push_back(step);
  } else {
    throw ConfigError(path + ": normalizer type '" + type +
                      "' is not supported (supported: Sequence, NFC, NFD, NFKC, NFKD, Prepend, Replace)");
  }
}

void TokenizerJsonParser::decoder(const json& node) {
  if (node.is_null()) return;
  const std::string type = type_of(node);
  const std::string where = path + ": decoder " + type;
  if (type == "Sequence") {
    for (const auto& child : node.value("decoders", json::array())) decoder(child);
  } else if (type == "ByteLevel") {
    e.decoders_.push_back(DecoderStep{DecoderStep::Kind::byte_level});
  } else if (type == "Replace") {
    auto [pattern, is_regex] = pattern_of(node.value("pattern", json::object()), where);
    if (is_regex) throw ConfigError(where + ": a Regex pattern is not supported, only String");
    DecoderStep step{DecoderStep::Kind::replace};
    step.pattern = pattern;
    step.content = node.value("content", "");
    e.decoders_.push_back(step);
  } else if (type == "ByteFallback") {
    e.decoders_.push_back(DecoderStep{DecoderStep::Kind::byte_fallback});
  } else if (type == "Fuse") {
    e.decoders_.push_back(DecoderStep{DecoderStep::Kind::fuse});
  } else if (type == "Strip") {
    DecoderStep step{DecoderStep::Kind::strip};
    step.content = node.value("content", " ");
    step.start = node.value("start", 0);
    step.stop = node.value("stop", 0);
    if (step.content.empty() || step.start < 0 || step.stop < 0)
      throw FormatError(where + ": needs a non-empty content and start, stop >= 0");
    e.decoders_.push_back(step);
  } else if (type == "Metaspace") {
    DecoderStep step{DecoderStep::Kind::metaspace};
    step.content = node.value("replacement", "\xE2\x96\x81");
    step.prepend = node.value("prepend_scheme", node.value("add_prefix_space", true) ? "always" : "never") != "never";
    e.decoders_.push_back(step);
  } else {
    throw ConfigError(path + ": decoder type '" + type +
                      "' is not supported (supported: Sequence, ByteLevel, Replace, ByteFallback, "
                      "Fuse, Strip, Metaspace)");
  }
}

void TokenizerJsonParser::vocabulary(const json& model, const json& added) {
  if (!model.contains("vocab") || !model["vocab"].is_object()) {
    throw FormatError(path + ": model.vocab is missing or not an object");
  }
  if (!added.is_array()) throw FormatError(path + ": added_tokens is not a list");
  const json& vocab = model["vocab"];
  id_bound = static_cast<long long>(vocab.size() + added.size());
  int max_id = -1;
  e.token_to_id_.reserve(vocab.size());
  for (const auto& [token, id_node] : vocab.items()) {
    const int id = checked_id(id_node, "model.vocab['" + token + "']");
    e.token_to_id_.emplace(token, id);
    max_id = std::max(max_id, id);
  }
  for (const auto& token : added) {
    if (!token.is_object() || !token.contains("content") || !token["content"].is_string()) {
      throw FormatError(path + ": an added_tokens entry lacks a content string");
    }
    const std::string content = token["content"];
    max_id = std::max(max_id, checked_id(token.value("id", json()), "added_tokens entry '" + content + "'"));
  }
  e.id_to_token_.assign(static_cast<std::size_t>(max_id + 1), std::string());
  for (const auto& [token, id] : e.token_to_id_) e.id_to_token_[id] = token;
  for (const auto& token : added) {
    AddedTokenSpec spec;
    spec.content = token["content"];
    spec.id = token["id"];
    spec.special = token.value("special", false);
    spec.lstrip = token.value("lstrip", false);
    spec.rstrip = token.value("rstrip", false);
    if (e.id_to_token_[spec.id].empty()) e.id_to_token_[spec.id] = spec.content;
    e.added_tokens.push_back(std::move(spec));
  }
}

// "a b" strings or [a, b] pairs; every side and the merged token in model.vocab.
void TokenizerJsonParser::merges(const json& model) {
  const json list = model.value("merges", json::array());
  if (!list.is_array()) throw FormatError(path + ": model.merges is not a list");
  e.merges_.reserve(list.size() * 2);
  int rank = 0;
  for (const auto& merge : list) {
    std::string left, right;
    if (merge.is_string()) {
      const std::string text = merge.get<std::string>();
      const auto space = text.find(' ');
      if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
        throw FormatError(path + ": merge " + std::to_string(rank) + " '" + text +
                          "' is not two tokens separated by one space");
      }
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      left = merge[0];
      right = merge[1];
    } else {
      throw FormatError(path + ": merge " + std::to_string(rank) +
                        " is neither a \"a b\" string nor a pair of strings");
    }
    auto find = [&](const std::string& token, const char* what) {
      const auto it = e.token_to_id_.find(token);
      if (it == e.token_to_id_.end()) {
        throw FormatError(path + ": merge " + std::to_string(rank) + " names " + what + " token '" +
                          token + "', which is not in model.vocab");
      }
      return it->second;
    };
    const int a = find(left, "the unknown");
    const int b = find(right, "the unknown");
    const int merged = find(left + right, "the unknown merged");
    e.add_merge(a, b, merged, rank);
    ++rank;
  }
}

void TokenizerJsonParser::model_flags(const json& model) {
  e.ignore_merges_ = model.value("ignore_merges", false);
  e.byte_fallback_ = model.value("byte_fallback", false);
  e.fuse_unk_ = model.value("fuse_unk", false);
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    const auto it = e.token_to_id_.find(model["unk_token"].get<std::string>());
    if (it != e.token_to_id_.end()) e.unk_id_ = it->second;
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && model[key].is_string() && !model[key].get<std::string>().empty()) {
      throw ConfigError(path + ": model." + key + " is not supported");
    }
  }
}

// What add_special_tokens puts around a single sequence.
void TokenizerJsonParser::post_processor(const json& node) {
  if (node.is_null()) return;
  const std::string type = type_of(node);
  const std::string where = "post_processor " + type;
  if (type == "Sequence") {
    for (const auto& child : node.value("processors", json::array())) post_processor(child);
  } else if (type == "ByteLevel") {
    // Offsets only: no ids.
  } else if (type == "TemplateProcessing") {
    bool after_sequence = false;
    const json specials = node.value("special_tokens", json::object());
    for (const auto& piece : node.value("single", json::array())) {
      if (piece.contains("Sequence")) {
        after_sequence = true;
      } else if (piece.contains("SpecialToken")) {
        const std::string name = piece["SpecialToken"].value("id", "");
        if (!specials.contains(name) || !specials[name].contains("ids") || !specials[name]["ids"].is_array()) {
          throw FormatError(path + ": " + where + " names special token '" + name +
                            "' without ids in special_tokens");
        }
        for (const auto& id : specials[name]["ids"]) {
          (after_sequence ? e.suffix_ids : e.prefix_ids).push_back(checked_id(id, where + " token '" + name + "'"));
        }
      }
    }
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    e.prefix_ids.push_back(checked_id(node.at("cls").at(1), where + " cls"));
    e.suffix_ids.push_back(checked_id(node.at("sep").at(1), where + " sep"));
  } else {
    throw ConfigError(path + ": post_processor type '" + type + "' is not supported");
  }
}

std::unique_ptr<BpeEngine> BpeEngine::from_tokenizer_json(const std::string& json_text,
                                                        const std::string& path) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    throw FormatError(path + ": not valid JSON (" + e.what() + ")");
  }
  if (!root.is_object() || !root.contains("model") || !root["model"].is_object()) {
    throw FormatError(path + ": no \"model\" object; not a Hugging Face tokenizer.json");
  }
  std::unique_ptr<BpeEngine> engine(new BpeEngine());
  engine->serial_ = next_engine_serial++;
  const json& model = root["model"];
  std::string model_type = type_of(model);
  if (model_type.empty() && model.contains("merges")) model_type = "BPE";
  if (model_type != "BPE") {
    throw ConfigError(path + ": model.type '" + model_type +
                      "' is not supported (culturespa reads BPE tokenizer.json files; "
                      "for sentencepiece models use tokenizer.model)");
  }
  TokenizerJsonParser parse{*engine, path};
  try {
    parse.pre_tokenizer(root.value("pre_tokenizer", json()));  // first: it decides byte-level
    parse.normalizer(root.value("normalizer", json()));
    parse.decoder(root.value("decoder", json()));
    parse.vocabulary(model, root.value("added_tokens", json::array()));
    parse.merges(model);
    parse.model_flags(model);
    parse.post_processor(root.value("post_processor", json()));
  } catch (const json::exception& e) {
    // A field of the wrong JSON type somewhere in a section.
    throw FormatError(path + ": a field has the wrong type (" + e.what() + ")");
  }
  auto& e = *engine;
  e.model_description = e.byte_level_ ? "byte-level BPE (" + path + ")"
                                      : std::string(e.byte_fallback_ ? "BPE with byte_fallback (" : "BPE (") + path + ")";
  e.build_byte_tables();
  return engine;
}

std::unique_ptr<BpeEngine> BpeEngine::from_vocab_merges(const std::string& vocab_json,
                                                       const std::string& merges_txt,
                                                       const std::string& folder) {
  // Re-expressed as the equivalent tokenizer.json, so that one loader checks both.
  json vocab;
  try {
    vocab = json::parse(vocab_json);
  } catch (const json::exception& ex) {
    throw FormatError(folder + "/vocab.json: not valid JSON (" + ex.what() + ")");
  }
  json merges = json::array();
  std::size_t start = 0;
  bool first = true;
  while (start < merges_txt.size()) {
    std::size_t end = merges_txt.find('\n', start);
    if (end == std::string::npos) end = merges_txt.size();
    std::string line = merges_txt.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    start = end + 1;
    if (first && line.rfind("#version", 0) == 0) {
      first = false;
      continue;
    }
    first = false;
    if (!line.empty()) merges.push_back(line);
  }
  json root = {
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}}},
  };
  if (vocab.is_object() && vocab.contains("<|endoftext|>")) {
    root["added_tokens"] = json::array({{{"id", vocab["<|endoftext|>"]},
                                         {"content", "<|endoftext|>"},
                                         {"special", true}}});
  }
  return from_tokenizer_json(root.dump(), folder + "/vocab.json + merges.txt");
}

// ---------------------------------------------------------------------------
// Encoding

std::string BpeEngine::normalize(std::string_view text) const {
  std::string s(text);
  for (const auto& step : normalizers_) {
    switch (step.kind) {
      case NormalizerStep::Kind::unicode: s = unicode_normalize(s, step.form); break;
      case NormalizerStep::Kind::prepend:
        if (!s.empty()) s.insert(0, step.text);
        break;
      case NormalizerStep::Kind::replace: replace_all(s, step.text, step.replacement); break;
    }
  }
  return s;
}

void BpeEngine::encode_plain(std::string_view text, std::vector<int>& out, bool at_text_start) const {
  if (text.empty()) return;
  std::string normalized = normalize(text);
  if (normalized.empty()) return;
  using Span = std::pair<std::size_t, std::size_t>;
  std::vector<Span> pieces{{0, normalized.size()}};
  std::vector<Span> next;
  for (std::size_t s = 0; s < pre_tokenizers_.size(); ++s) {
    const auto& step = pre_tokenizers_[s];
    if (step.kind == PreTokenizerStep::Kind::byte_level && step.add_prefix_space &&
        normalized[0] != ' ') {
      normalized.insert(0, 1, ' ');  // only as the first step (checked at load)
      pieces = {{0, normalized.size()}};
    }
    if (step.kind == PreTokenizerStep::Kind::metaspace) {
      replace_all(normalized, " ", step.replacement);
      if (step.prepend && (at_text_start || !step.prepend_only_first) &&
          normalized.compare(0, step.replacement.size(), step.replacement) != 0) {
        normalized.insert(0, step.replacement);
      }
      next.clear();
      std::size_t begin = 0;
      if (step.metaspace_split) {
        for (std::size_t pos = normalized.find(step.replacement, 1); pos != std::string::npos;
             pos = normalized.find(step.replacement, pos + 1)) {
          next.emplace_back(begin, pos);
          begin = pos;
        }
      }
      next.emplace_back(begin, normalized.size());
      pieces.swap(next);
      continue;
    }
    if (!step.regex) continue;
    next.clear();
    const std::string_view view(normalized);
    for (const Span& piece : pieces) {
      const std::size_t begin = piece.first;  // a plain variable: lambdas cannot capture bindings before C++20
      step.regex->split_isolated(view.substr(begin, piece.second - begin), [&](std::size_t b, std::size_t e) {
        next.emplace_back(begin + b, begin + e);
      });
    }
    pieces.swap(next);
  }
  const std::string_view view(normalized);
  for (const auto& [begin, end] : pieces) {
    if (end > begin) bpe_word(view.substr(begin, end - begin), out);
  }
}

namespace {

// A direct-mapped cache of recent words per thread: no locks, and survey text
// (a few thousand distinct words) stays in it. Entries carry the serial number
// of their engine, so a freed engine's entries are never taken for another's.
class WordCache {
 public:
  static WordCache& of_this_thread() {
    thread_local WordCache cache;
    return cache;
  }
  // The ids cached for `word` of engine `serial`, or nullptr.
  const std::vector<int>* find(std::uint64_t serial, std::string_view word) const {
    const Slot& slot = slots_[index(word)];
    return slot.serial == serial && slot.word == word ? &slot.ids : nullptr;
  }
  void store(std::uint64_t serial, std::string_view word, const int* begin, const int* end) {
    Slot& slot = slots_[index(word)];
    slot.serial = serial;
    slot.word.assign(word);
    slot.ids.assign(begin, end);
  }

 private:
  struct Slot {
    std::uint64_t serial = 0;
    std::string word;
    std::vector<int> ids;
  };
  static constexpr std::size_t kSlots = 1 << 13;
  static std::size_t index(std::string_view word) {
    std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
    for (unsigned char c : word) h = (h ^ c) * 0x100000001b3ULL;
    return static_cast<std::size_t>(h & (kSlots - 1));
  }
  std::vector<Slot> slots_ = std::vector<Slot>(kSlots);
};

}  // namespace

void BpeEngine::bpe_word(std::string_view word, std::vector<int>& out) const {
  if (word.size() > kCacheMaxWordBytes) {
    bpe_word_uncached(word, out);
    return;
  }
  WordCache& cache = WordCache::of_this_thread();
  if (const std::vector<int>* ids = cache.find(serial_, word)) {
    out.insert(out.end(), ids->begin(), ids->end());
    return;
  }
  const std::size_t before = out.size();
  bpe_word_uncached(word, out);
  cache.store(serial_, word, out.data() + before, out.data() + out.size());
}

void BpeEngine::initial_symbols(std::string_view word, std::vector<int>& symbols) const {
  if (byte_level_) {
    bool previous_unknown = false;
    for (unsigned char c : word) {
      if (byte_symbol_[c] >= 0) {
        symbols.push_back(byte_symbol_[c]);
        previous_unknown = false;
      } else if (unk_id_ >= 0) {
        if (!(fuse_unk_ && previous_unknown)) symbols.push_back(unk_id_);
        previous_unknown = true;
      }
    }
    return;
  }
  bool previous_unknown = false;
  for (std::size_t i = 0; i < word.size();) {
    const unsigned char c = static_cast<unsigned char>(word[i]);
    const std::size_t len = std::min(utf8_char_length(c), word.size() - i);
    const std::string character(word.substr(i, len));
    const auto it = token_to_id_.find(character);
    if (it != token_to_id_.end()) {
      symbols.push_back(it->second);
      previous_unknown = false;
    } else if (byte_fallback_ && byte_fallback_id_[c] >= 0) {
      for (unsigned char byte : character) {
        const int id = byte_fallback_id_[byte];
        if (id < 0) {
          throw ValueError(model_description + ": no <0x" + std::to_string(byte) +
                           "> byte token for a character outside the vocabulary");
        }
        symbols.push_back(id);
      }
      previous_unknown = false;
    } else if (unk_id_ >= 0) {
      if (!(fuse_unk_ && previous_unknown)) symbols.push_back(unk_id_);
      previous_unknown = true;
    } else {
      throw ValueError(model_description + ": the character '" + character +
                       "' is not in the vocabulary and the model has no unk_token or byte_fallback");
    }
    i += len;
  }
}

void BpeEngine::bpe_word_uncached(std::string_view word, std::vector<int>& out) const {
  if (ignore_merges_) {
    const auto& table = byte_level_ ? raw_bytes_to_id_ : token_to_id_;
    const auto it = table.find(std::string(word));
    if (it != table.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::vector<int> ids;
  ids.reserve(word.size());
  initial_symbols(word, ids);
  merge_symbols(ids);
  out.insert(out.end(), ids.begin(), ids.end());
}

void BpeEngine::merge_symbols(std::vector<int>& ids) const {
  const int n = static_cast<int>(ids.size());
  if (n <= 1) return;
  // Hugging Face's merge order: the lowest rank first, the leftmost on ties;
  // a queued pair is dropped when either side has changed since.
  std::vector<int> prev(n), next(n);
  std::vector<char> alive(n, 1);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    int rank, pos, merged;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto lookup = [&](int a, int b) -> const MergeValue* {
    const auto key = (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) |
                     static_cast<std::uint32_t>(b);
    const auto it = merges_.find(key);
    return it == merges_.end() ? nullptr : &it->second;
  };
  auto push_pair = [&](int pos) {
    if (pos < 0 || next[pos] < 0) return;
    if (const MergeValue* m = lookup(ids[pos], ids[next[pos]])) queue.push({m->rank, pos, m->merged});
  };
  for (int i = 0; i + 1 < n; ++i) push_pair(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    if (!alive[top.pos] || next[top.pos] < 0) continue;
    const int right = next[top.pos];
    const MergeValue* m = lookup(ids[top.pos], ids[right]);
    if (!m || m->merged != top.merged || m->rank != top.rank) continue;
    ids[top.pos] = top.merged;
    alive[right] = 0;
    next[top.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = top.pos;
    push_pair(prev[top.pos]);
    push_pair(top.pos);
  }
  std::vector<int> merged;
  merged.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i >= 0; i = next[i]) merged.push_back(ids[i]);
  ids.swap(merged);
}

// ---------------------------------------------------------------------------
// Decoding

std::string BpeEngine::decode_tokens(const std::vector<std::string>& input) const {
  std::vector<std::string> tokens = input;
  for (const auto& step : decoders_) {
    switch (step.kind) {
      case DecoderStep::Kind::byte_level: {
        static const auto char_to_byte = [] {
          std::unordered_map<std::string, char> table;
          const auto& alphabet = byte_level_alphabet();
          for (int b = 0; b < 256; ++b) table[alphabet[b]] = static_cast<char>(b);
          return table;
        }();
        std::string joined;
        for (const auto& token : tokens) {
          std::string raw;
          bool ok = true;
          for (std::size_t i = 0; i < token.size() && ok;) {
            const std::size_t len = utf8_char_length(static_cast<unsigned char>(token[i]));
            const auto it = char_to_byte.find(token.substr(i, len));
            if (it == char_to_byte.end()) ok = false; else raw += it->second;
            i += len;
          }
          joined += ok ? raw : token;  // a token outside the alphabet stays as it is
        }
        tokens.assign(1, std::move(joined));
        break;
      }
      case DecoderStep::Kind::replace:
        for (auto& token : tokens) replace_all(token, step.pattern, step.content);
        break;
      case DecoderStep::Kind::byte_fallback: {
        std::vector<std::string> merged;
        std::string bytes;
        for (const auto& token : tokens) {
          const int value = byte_fallback_value(token);
          if (value >= 0) {
            bytes += static_cast<char>(value);
            continue;
          }
          if (!bytes.empty()) merged.push_back(std::move(bytes)), bytes.clear();
          merged.push_back(token);
        }
        if (!bytes.empty()) merged.push_back(std::move(bytes));
        tokens.swap(merged);
        break;
      }
      case DecoderStep::Kind::fuse: {
        std::string joined;
        for (const auto& token : tokens) joined += token;
        tokens.assign(1, std::move(joined));
        break;
      }
      case DecoderStep::Kind::strip:
        for (auto& token : tokens) {
          for (int k = 0; k < step.start && token.compare(0, step.content.size(), step.content) == 0; ++k) {
            token.erase(0, step.content.size());
          }
          for (int k = 0; k < step.stop && token.size() >= step.content.size() &&
                          token.compare(token.size() - step.content.size(), step.content.size(),
                                        step.content) == 0;
               ++k) {
            token.erase(token.size() - step.content.size());
          }
        }
        break;
      case DecoderStep::Kind::metaspace:
        for (std::size_t i = 0; i < tokens.size(); ++i) {
          replace_all(tokens[i], step.content, " ");
          if (i == 0 && step.prepend && !tokens[i].empty() && tokens[i][0] == ' ') tokens[i].erase(0, 1);
        }
        break;
    }
  }
  std::string text;
  for (const auto& token : tokens) text += token;
  return text;
}

int BpeEngine::token_to_id(const std::string& token) const {
  const auto it = token_to_id_.find(token);
  return it == token_to_id_.end() ? -1 : it->second;
}

const std::string& BpeEngine::id_to_token(int id) const {
  static const std::string empty;
  if (id < 0 || id >= static_cast<int>(id_to_token_.size())) return empty;
  return id_to_token_[id];
}

}  // namespace culturespa::text_detail

#include "culturespa/text/tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <filesystem>
#include <unordered_map>
#include <unordered_set>

#include "culturespa/core/error.h"
#include "culturespa/core/gguf.h"
#include "culturespa/text/sentencepiece.h"
#include "bpe.h"

namespace culturespa {

namespace fs = std::filesystem;
using nlohmann::json;
using text_detail::AddedTokenSpec;
using text_detail::BpeEngine;

namespace {

std::optional<json> read_json_if_present(const fs::path& path) {
  if (!fs::exists(path)) return std::nullopt;
  const std::string text = file_read_text(path.string());
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw FormatError(path.string() + ": not valid JSON (" + e.what() + ")");
  }
}

// "bos_token": "<s>" or {"content": "<s>", ...}
std::optional<std::string> token_text(const json& config, const char* key) {
  if (!config.contains(key)) return std::nullopt;
  const json& node = config[key];
  if (node.is_string()) return node.get<std::string>();
  if (node.is_object() && node.contains("content") && node["content"].is_string()) {
    return node["content"].get<std::string>();
  }
  return std::nullopt;
}

// "eos_token_id": 2 or [128001, 128009]
std::vector<int> token_ids(const json& config, const char* key) {
  std::vector<int> ids;
  if (!config.contains(key)) return ids;
  const json& node = config[key];
  // Negative ids (LLaMA's "pad_token_id": -1) mean "none", as in transformers;
  // ids past int's range are no token either.
  auto take = [&](const json& id) {
    if (id.is_number_integer() && id.get<long long>() >= 0 && id.get<long long>() < (1LL << 31))
      ids.push_back(static_cast<int>(id.get<long long>()));
  };
  if (node.is_number_integer()) take(node);
  if (node.is_array()) {
    for (const auto& id : node) take(id);
  }
  return ids;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Bytes at the end of `s` that start a UTF-8 character not finished yet.
std::size_t incomplete_tail(const std::string& s) {
  const std::size_t n = s.size();
  for (std::size_t back = 1; back <= std::min<std::size_t>(4, n); ++back) {
    const unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
    const std::size_t need = text_detail::utf8_char_length(c);
    return need > back ? back : 0;
  }
  return 0;
}

}  // namespace

struct CULTURESPA_HIDDEN Tokenizer::Impl {
  std::string folder, description, chat_template;
  std::unique_ptr<BpeEngine> bpe;
  std::unique_ptr<SentencePieceModel> spm;
  // sentencepiece piece table, copied once for decoding.
  enum class PieceKind : char { normal, control, unknown, byte };
  std::vector<std::string> spm_pieces;
  std::vector<PieceKind> spm_kinds;
  std::unordered_map<std::string, int> spm_piece_ids;

  std::vector<AddedTokenSpec> added;
  std::unordered_map<std::string, int> added_by_content;
  std::unordered_set<int> special_ids;
  std::array<std::vector<int>, 256> added_by_first_byte;  // indices into `added`, longest first
  std::vector<int> prefix_ids, suffix_ids;
  int vocab_size = 0;

  std::optional<int> bos, eos, pad;
  std::string bos_token, eos_token;
  std::vector<int> config_eos_ids;

  void add_token(AddedTokenSpec spec) {
    if (added_by_content.count(spec.content)) return;
    if (spec.special) special_ids.insert(spec.id);
    added_by_content.emplace(spec.content, spec.id);
    added.push_back(std::move(spec));
    vocab_size = std::max(vocab_size, added.back().id + 1);
  }

  // The vocabulary, added tokens and post-processor ids of `bpe`.
  void adopt_bpe() {
    vocab_size = bpe->vocab_size();
    prefix_ids = bpe->prefix_ids;
    suffix_ids = bpe->suffix_ids;
    for (const auto& spec : bpe->added_tokens) add_token(spec);
  }

  void index_added() {
    for (auto& list : added_by_first_byte) list.clear();
    for (std::size_t i = 0; i < added.size(); ++i) {
      if (added[i].content.empty()) continue;
      added_by_first_byte[static_cast<unsigned char>(added[i].content[0])].push_back(static_cast<int>(i));
    }
    for (auto& list : added_by_first_byte) {
      std::stable_sort(list.begin(), list.end(), [&](int a, int b) {
        return added[a].content.size() > added[b].content.size();
      });
    }
  }

  std::optional<int> lookup(std::string_view token) const {
    const auto it = added_by_content.find(std::string(token));
    if (it != added_by_content.end()) return it->second;
    if (bpe) {
      const int id = bpe->token_to_id(std::string(token));
      if (id >= 0) return id;
      return std::nullopt;
    }
    const auto piece = spm_piece_ids.find(std::string(token));
    if (piece != spm_piece_ids.end()) return piece->second;
    return std::nullopt;
  }

  void encode_text(std::string_view text, std::vector<int>& out, bool at_text_start = true) const {
    if (text.empty()) return;
    if (bpe) {
      bpe->encode_plain(text, out, at_text_start);
    } else {
      const auto ids = spm->encode(text);
      out.insert(out.end(), ids.begin(), ids.end());
    }
  }

  // Splits on added-token text (leftmost-longest) and encodes the rest.
  void encode_parsing_special(std::string_view text, std::vector<int>& out) const {
    std::size_t plain_start = 0, pos = 0;
    while (pos < text.size()) {
      const auto& candidates = added_by_first_byte[static_cast<unsigned char>(text[pos])];
      const AddedTokenSpec* match = nullptr;
      for (int index : candidates) {
        const auto& content = added[index].content;
        if (text.compare(pos, content.size(), content) == 0) {
          match = &added[index];
          break;
        }
      }
      if (!match) {
        ++pos;
        continue;
      }
      std::size_t plain_end = pos;
      if (match->lstrip) {
        while (plain_end > plain_start && is_space(text[plain_end - 1])) --plain_end;
      }
      encode_text(text.substr(plain_start, plain_end - plain_start), out, plain_start == 0);
      out.push_back(match->id);
      pos += match->content.size();
      if (match->rstrip) {
        while (pos < text.size() && is_space(text[pos])) ++pos;
      }
      plain_start = pos;
    }
    encode_text(text.substr(plain_start), out, plain_start == 0);
  }

  // Decoded bytes; may end inside a character or hold ill-formed bytes.
  std::string decode_raw(const std::vector<int>& ids, std::size_t begin, std::size_t end,
                         bool skip_special) const {
    for (std::size_t i = begin; i < end; ++i) {
      if (ids[i] < 0 || ids[i] >= vocab_size) {
        throw ValueError("token id " + std::to_string(ids[i]) + " (position " + std::to_string(i) +
                         ") is outside the vocabulary (0.." + std::to_string(vocab_size - 1) + ")");
      }
    }
    if (bpe) {
      std::vector<std::string> tokens;
      tokens.reserve(end - begin);
      for (std::size_t i = begin; i < end; ++i) {
        if (skip_special && special_ids.count(ids[i])) continue;
        tokens.push_back(bpe->id_to_token(ids[i]));
      }
      return bpe->decode_tokens(tokens);
    }
    // sentencepiece's decoding: "▁" is a space, <0xXX> pieces are bytes, the
    // dummy-prefix space of the first piece goes.
    std::string text;
    bool at_start = true;
    for (std::size_t i = begin; i < end; ++i) {
      const int id = ids[i];
      if (id >= static_cast<int>(spm_pieces.size())) {  // an added token beyond the model
        if (!(skip_special && special_ids.count(id))) {
          for (const auto& spec : added) {
            if (spec.id == id) text += spec.content;
          }
        }
        continue;
      }
      switch (spm_kinds[id]) {
        case PieceKind::control:
          if (!skip_special) text += spm_pieces[id];
          break;
        case PieceKind::unknown:  // sentencepiece's own surface for <unk>
          if (!skip_special) text += " \xE2\x81\x87 ";
          at_start = false;
          break;
        case PieceKind::byte:
          text += static_cast<char>(std::stoi(spm_pieces[id].substr(3, 2), nullptr, 16));
          at_start = false;
          break;
        case PieceKind::normal: {
          std::string piece = spm_pieces[id];
          if (at_start && piece.compare(0, 3, "\xE2\x96\x81") == 0) piece.erase(0, 3);
          std::size_t p = 0;
          while ((p = piece.find("\xE2\x96\x81", p)) != std::string::npos) piece.replace(p, 3, " ");
          text += piece;
          at_start = false;
          break;
        }
      }
    }
    return text;
  }

  void read_side_files(const fs::path& dir) {
    try {
      read_side_files(read_json_if_present(dir / "tokenizer_config.json"), read_json_if_present(dir / "config.json"),
                      read_json_if_present(dir / "generation_config.json"), (dir / "tokenizer_config.json").string());
    } catch (const json::exception& e) {
      throw FormatError(dir.string() + ": tokenizer_config.json, config.json or generation_config.json has a field "
                        "of the wrong type (" + e.what() + ")");
    }
  }

  // The special tokens, BOS/EOS/PAD and the chat template from the side
  // files' content (absent files as nullopt); `tokenizer_config_name` names
  // tokenizer_config.json in errors.
  void read_side_files(const std::optional<json>& tokenizer_config, const std::optional<json>& config,
                       const std::optional<json>& generation_config, const std::string& tokenizer_config_name) {
    std::string tokenizer_class;
    std::optional<bool> add_bos, add_eos;
    if (tokenizer_config && tokenizer_config->is_object()) {
      const json& tc = *tokenizer_config;
      if (tc.contains("added_tokens_decoder") && tc["added_tokens_decoder"].is_object()) {
        // Ids are bounded like tokenizer.json's: the vocabulary plus these entries.
        const long long bound = static_cast<long long>(vocab_size) +
                                static_cast<long long>(tc["added_tokens_decoder"].size());
        for (const auto& [id_text, entry] : tc["added_tokens_decoder"].items()) {
          if (!entry.is_object() || !entry.contains("content") || !entry["content"].is_string()) continue;
          AddedTokenSpec spec;
          long long id = -1;
          std::size_t used = 0;
          try {
            id = std::stoll(id_text, &used);
          } catch (const std::exception&) {
            used = 0;
          }
          if (used == 0 || used != id_text.size() || id < 0 || id >= bound)
            throw FormatError(tokenizer_config_name + ": added_tokens_decoder key '" +
                              id_text + "' is not a token id in 0.." + std::to_string(bound - 1));
          spec.id = static_cast<int>(id);
          spec.content = entry["content"];
          spec.special = entry.value("special", false);
          spec.lstrip = entry.value("lstrip", false);
          spec.rstrip = entry.value("rstrip", false);
          add_token(std::move(spec));
        }
      }
      if (auto t = token_text(tc, "bos_token")) bos_token = *t;
      if (auto t = token_text(tc, "eos_token")) eos_token = *t;
      if (auto t = token_text(tc, "pad_token")) {
        if (auto id = lookup(*t)) pad = *id;
      }
      if (tc.contains("add_bos_token") && tc["add_bos_token"].is_boolean()) add_bos = tc["add_bos_token"].get<bool>();
      if (tc.contains("add_eos_token") && tc["add_eos_token"].is_boolean()) add_eos = tc["add_eos_token"].get<bool>();
      if (tc.contains("tokenizer_class") && tc["tokenizer_class"].is_string()) tokenizer_class = tc["tokenizer_class"];
      if (tc.contains("chat_template")) {
        const json& ct = tc["chat_template"];
        if (ct.is_string()) {
          chat_template = ct.get<std::string>();
        } else if (ct.is_array()) {  // [{"name": "default", "template": ...}, ...]
          for (const auto& named : ct) {
            if (named.value("name", "") == "default" && named.contains("template")) chat_template = named["template"];
          }
        }
      }
    }
    if (!bos_token.empty()) {
      if (auto id = lookup(bos_token)) bos = *id;
    }
    if (!eos_token.empty()) {
      if (auto id = lookup(eos_token)) eos = *id;
    }
    for (const auto* side : {&generation_config, &config}) {
      if (!*side || !(*side)->is_object()) continue;
      const json& c = **side;
      const auto bos_ids = token_ids(c, "bos_token_id");
      const auto eos_ids = token_ids(c, "eos_token_id");
      const auto pad_ids = token_ids(c, "pad_token_id");
      if (!bos && !bos_ids.empty()) bos = bos_ids[0];
      if (!eos && !eos_ids.empty()) eos = eos_ids[0];
      if (!pad && !pad_ids.empty()) pad = pad_ids[0];
      config_eos_ids.insert(config_eos_ids.end(), eos_ids.begin(), eos_ids.end());
    }
    if (spm) {
      if (!bos && spm->bos_id() >= 0) bos = spm->bos_id();
      if (!eos && spm->eos_id() >= 0) eos = spm->eos_id();
      if (!pad && spm->pad_id() >= 0) pad = spm->pad_id();
      // sentencepiece LLaMA models add BOS unless the config says otherwise.
      if (add_bos.value_or(true) && bos) prefix_ids = {*bos};
      if (add_eos.value_or(false) && eos) suffix_ids = {*eos};
    } else if (tokenizer_class.find("Llama") != std::string::npos ||
               tokenizer_class.find("Gemma") != std::string::npos) {
      // transformers rebuilds these classes' post-processor from the flags.
      if (add_bos && bos) {
        prefix_ids.erase(std::remove(prefix_ids.begin(), prefix_ids.end(), *bos), prefix_ids.end());
        if (*add_bos) prefix_ids.insert(prefix_ids.begin(), *bos);
      }
      if (add_eos && eos) {
        suffix_ids.erase(std::remove(suffix_ids.begin(), suffix_ids.end(), *eos), suffix_ids.end());
        if (*add_eos) suffix_ids.push_back(*eos);
      }
    }
    if (!eos && added_by_content.count("<|endoftext|>")) eos = added_by_content.at("<|endoftext|>");  // GPT-2
    auto text_of = [&](int id) {
      if (bpe) return bpe->id_to_token(id);
      return id < static_cast<int>(spm_pieces.size()) ? spm_pieces[id] : std::string();
    };
    if (bos_token.empty() && bos) bos_token = text_of(*bos);
    if (eos_token.empty() && eos) eos_token = text_of(*eos);
  }
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_folder(const std::string& path, const TokenizerOptions& options) {
  if (options.prefer != "tokenizer.json" && options.prefer != "tokenizer.model") {
    throw ConfigError("tokenizer prefer='" + options.prefer +
                      "' is not one of 'tokenizer.json', 'tokenizer.model'");
  }
  const fs::path p(path);
  if (!fs::exists(p)) {
    throw FileError(FileError::Kind::not_found, path, "tokenizer: no such file or folder: " + path);
  }
  if (gguf_is_file(path)) return from_gguf(path);
  const bool is_dir = fs::is_directory(p);
  const fs::path dir = is_dir ? p : (p.has_parent_path() ? p.parent_path() : fs::path("."));
  enum class Kind { json_file, spm_file, vocab_merges } kind;
  fs::path file;
  if (!is_dir) {
    file = p;
    const std::string name = p.filename().string();
    if (p.extension() == ".model") kind = Kind::spm_file;
    else if (name == "vocab.json") kind = Kind::vocab_merges;
    else kind = Kind::json_file;
  } else {
    const bool has_json = fs::exists(dir / "tokenizer.json");
    const bool has_model = fs::exists(dir / "tokenizer.model");
    if (has_model && (options.prefer == "tokenizer.model" || !has_json)) {
      kind = Kind::spm_file;
      file = dir / "tokenizer.model";
    } else if (has_json) {
      kind = Kind::json_file;
      file = dir / "tokenizer.json";
    } else if (fs::exists(dir / "vocab.json") && fs::exists(dir / "merges.txt")) {
      kind = Kind::vocab_merges;
      file = dir / "vocab.json";
    } else {
      throw FileError(FileError::Kind::not_found, path,
                      "tokenizer: " + path + " has no tokenizer.json, tokenizer.model or "
                      "vocab.json + merges.txt");
    }
  }
  auto impl = std::make_unique<Impl>();
  impl->folder = dir.string();
  switch (kind) {
    case Kind::json_file:
      impl->bpe = BpeEngine::from_tokenizer_json(file_read_text(file.string()), file.string());
      impl->description = "tokenizer.json (" + impl->bpe->model_description.substr(0, impl->bpe->model_description.find(" (")) + ")";
      break;
    case Kind::vocab_merges: {
      const fs::path merges = dir / "merges.txt";
      file_require_exists(merges.string(), "GPT-2 merges.txt beside vocab.json");
      impl->bpe = BpeEngine::from_vocab_merges(file_read_text(file.string()), file_read_text(merges.string()),
                                               dir.string());
      impl->description = "vocab.json + merges.txt (byte-level BPE)";
      break;
    }
    case Kind::spm_file: {
      file_require_exists(file.string(), "sentencepiece tokenizer.model");
      try {
        impl->spm = std::make_unique<SentencePieceModel>(SentencePieceModel::load(file.string()));
      } catch (const FormatError& e) {
        throw FormatError(file.string() + ": " + e.what());
      }
      impl->description = "tokenizer.model (sentencepiece)";
      break;
    }
  }
  if (impl->bpe) {
    impl->adopt_bpe();
  } else {
    const int n = impl->spm->piece_count();
    impl->vocab_size = n;
    impl->spm_pieces.resize(n);
    impl->spm_kinds.resize(n);
    for (int id = 0; id < n; ++id) {
      impl->spm_pieces[id] = impl->spm->id_to_piece(id);
      impl->spm_piece_ids.emplace(impl->spm_pieces[id], id);
      using K = Impl::PieceKind;
      impl->spm_kinds[id] = impl->spm->is_control(id) ? K::control
                          : impl->spm->is_unknown(id) ? K::unknown
                          : impl->spm->is_byte(id)    ? K::byte
                                                      : K::normal;
      // Controls (<s>, </s>) and <unk> are the special tokens parse_special finds.
      if (impl->spm_kinds[id] == K::control || impl->spm_kinds[id] == K::unknown) {
        AddedTokenSpec spec;
        spec.content = impl->spm_pieces[id];
        spec.id = id;
        spec.special = true;
        impl->add_token(std::move(spec));
      }
    }
  }
  impl->read_side_files(dir);
  impl->index_added();
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_gguf(const std::string& path) {
  const GgufFile file(path);
  const GgufTokenizerFiles files = gguf_tokenizer_files(file);
  auto impl = std::make_unique<Impl>();
  impl->folder = path;
  impl->bpe = BpeEngine::from_tokenizer_json(files.tokenizer_json, path + " (tokenizer.ggml.*)");
  impl->description = "GGUF file (byte-level BPE)";
  impl->adopt_bpe();
  impl->read_side_files(json::parse(files.tokenizer_config_json), std::nullopt,
                        json::parse(files.generation_config_json), path + " (tokenizer.ggml.*)");
  impl->index_added();
  return Tokenizer(std::move(impl));
}

std::vector<int> Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  const auto& d = *impl_;
  std::string sanitized;
  if (!text_detail::utf8_is_valid(text)) {
    sanitized = text_detail::utf8_sanitize(text);
    text = sanitized;
  }
  std::vector<int> ids;
  ids.reserve(text.size() / 3 + 4);
  if (options.add_special_tokens) ids = d.prefix_ids;
  if (options.parse_special && !d.added.empty()) {
    d.encode_parsing_special(text, ids);
  } else {
    d.encode_text(text, ids);
  }
  if (options.add_special_tokens) ids.insert(ids.end(), d.suffix_ids.begin(), d.suffix_ids.end());
  return ids;
}

std::vector<std::vector<int>> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                                      const EncodeOptions& options,
                                                      const ProgressCallback& progress) const {
  ProgressReporter reporter(progress, "tokenize", texts.size(), 256);
  std::vector<std::vector<int>> result;
  result.reserve(texts.size());
  for (const auto& text : texts) {
    result.push_back(encode(text, options));
    reporter.advance();
  }
  reporter.report();
  return result;
}

std::string Tokenizer::decode(const std::vector<int>& ids, const DecodeOptions& options) const {
  return text_detail::utf8_sanitize(impl_->decode_raw(ids, 0, ids.size(), options.skip_special_tokens));
}

int Tokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<int> Tokenizer::token_to_id(std::string_view token) const { return impl_->lookup(token); }

std::string Tokenizer::id_to_token(int id) const {
  const auto& d = *impl_;
  if (id < 0 || id >= d.vocab_size) {
    throw ValueError("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                     std::to_string(d.vocab_size - 1) + ")");
  }
  if (d.bpe) return d.bpe->id_to_token(id);
  if (id < static_cast<int>(d.spm_pieces.size())) return d.spm_pieces[id];
  for (const auto& spec : d.added) {
    if (spec.id == id) return spec.content;
  }
  return "";
}

bool Tokenizer::is_special(int id) const { return impl_->special_ids.count(id) > 0; }

std::string Tokenizer::token_bytes(int id) const {
  const auto& d = *impl_;
  if (id < 0 || id >= d.vocab_size) {
    throw ValueError("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                     std::to_string(d.vocab_size - 1) + ")");
  }
  // Decoded after an anchor token, so that start-of-text rules (sentencepiece's
  // dummy-prefix space, a Strip decoder) act on the anchor, not on `id`.
  static constexpr int kNoAnchor = -1;
  int anchor = kNoAnchor;
  for (int candidate = 0; candidate < d.vocab_size && anchor == kNoAnchor; ++candidate) {
    if (!d.special_ids.count(candidate) && !d.decode_raw({candidate}, 0, 1, true).empty()) anchor = candidate;
  }
  if (anchor == kNoAnchor) return d.decode_raw({id}, 0, 1, true);
  const std::string before = d.decode_raw({anchor}, 0, 1, true);
  const std::string after = d.decode_raw({anchor, id}, 0, 2, true);
  if (after.compare(0, before.size(), before) != 0) return d.decode_raw({id}, 0, 1, true);
  return after.substr(before.size());
}
std::optional<int> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<int> Tokenizer::eos_id() const { return impl_->eos; }
std::optional<int> Tokenizer::pad_id() const { return impl_->pad; }
std::string Tokenizer::bos_token() const { return impl_->bos_token; }
std::string Tokenizer::eos_token() const { return impl_->eos_token; }
bool Tokenizer::adds_bos() const {
  return impl_->bos && !impl_->prefix_ids.empty() && impl_->prefix_ids.front() == *impl_->bos;
}
std::string Tokenizer::description() const { return impl_->description; }
const std::string& Tokenizer::folder() const { return impl_->folder; }
const std::string& Tokenizer::chat_template_source() const { return impl_->chat_template; }

std::vector<int> Tokenizer::stop_ids() const {
  const auto& d = *impl_;
  std::vector<int> ids;
  auto add = [&](int id) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  };
  if (d.eos) add(*d.eos);
  for (int id : d.config_eos_ids) add(id);
  if (!d.chat_template.empty()) {
    try {
      for (const auto& token : chat_format_stop_tokens(chat_format_detect(d.chat_template))) {
        if (auto id = d.lookup(token)) add(*id);
      }
    } catch (const ConfigError&) {
      // An unknown template adds no end-of-turn tokens of its own.
    }
  }
  return ids;
}

std::string Tokenizer::chat_format() const {
  if (impl_->chat_template.empty()) {
    throw ConfigError(impl_->folder + "/tokenizer_config.json has no chat_template: choose a chat format "
                      "explicitly (format=..., one of the chat_format_names())");
  }
  return chat_format_detect(impl_->chat_template);
}

std::string Tokenizer::apply_chat_template(const Conversation& conversation,
                                           const ChatTemplateOptions& options) const {
  ChatTemplateOptions filled = options;
  if (!filled.bos_token) filled.bos_token = impl_->bos_token;
  if (!filled.eos_token) filled.eos_token = impl_->eos_token;
  return chat_render(options.format.empty() ? chat_format() : options.format, conversation, filled);
}

std::vector<int> Tokenizer::encode_chat(const Conversation& conversation,
                                        const ChatTemplateOptions& options) const {
  const std::string prompt = apply_chat_template(conversation, options);
  const std::string& bos = impl_->bos_token;
  const bool bos_in_text = !bos.empty() && prompt.compare(0, bos.size(), bos) == 0;
  EncodeOptions encode_options;
  encode_options.add_special_tokens = !bos_in_text;
  encode_options.parse_special = true;
  return encode(prompt, encode_options);
}

// ---------------------------------------------------------------------------

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tokenizer, const DecodeOptions& options)
    : tokenizer_(tokenizer), options_(options) {}

std::string IncrementalDecoder::push(const std::vector<int>& ids) {
  // As Hugging Face's streamers: decode a short window before and after the
  // new ids and emit the difference, so that a leading-space rule or a byte
  // sequence spread over several ids comes out right.
  const auto& d = *tokenizer_.impl_;
  for (int id : ids) {
    if (id < 0 || id >= d.vocab_size) {
      throw ValueError("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                       std::to_string(d.vocab_size - 1) + ")");
    }
  }
  ids_.insert(ids_.end(), ids.begin(), ids.end());
  const std::string before = d.decode_raw(ids_, prefix_offset_, read_offset_, options_.skip_special_tokens);
  const std::string after = d.decode_raw(ids_, prefix_offset_, ids_.size(), options_.skip_special_tokens);
  if (after.size() <= before.size() || after.compare(0, before.size(), before) != 0) return "";
  const std::string fresh = after.substr(before.size());
  if (incomplete_tail(fresh) > 0) return "";  // wait for the rest of the character
  prefix_offset_ = read_offset_;
  read_offset_ = ids_.size();
  return text_detail::utf8_sanitize(fresh);
}

std::string IncrementalDecoder::flush() {
  const auto& d = *tokenizer_.impl_;
  const std::string before = d.decode_raw(ids_, prefix_offset_, read_offset_, options_.skip_special_tokens);
  const std::string after = d.decode_raw(ids_, prefix_offset_, ids_.size(), options_.skip_special_tokens);
  prefix_offset_ = read_offset_ = ids_.size();
  if (after.size() <= before.size() || after.compare(0, before.size(), before) != 0) return "";
  return text_detail::utf8_sanitize(after.substr(before.size()));
}

}  // namespace culturespa

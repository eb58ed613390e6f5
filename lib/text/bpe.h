// lib/text/bpe.h (private): the Hugging Face tokenizer.json engine behind
// culturespa::Tokenizer: normalizers, pre-tokenizers, the BPE model (byte-level
// or with byte_fallback), post-processor prefix/suffix and decoders.
//
// Only plain text goes through it: added/special tokens are split off by the
// Tokenizer before a piece reaches encode_plain().
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace culturespa::text_detail {

// A compiled PCRE2 pattern (UTF + UCP, JIT when available). Thread-safe:
// every match call uses match data of its own thread.
class Regex {
 public:
  Regex(const std::string& pattern, const std::string& where);
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;
  ~Regex();
  // Calls on_piece(begin, end) for every match and every gap between matches
  // (the "Isolated" split behaviour), in order, covering all of `text`.
  template <class F>
  void split_isolated(std::string_view text, F&& on_piece) const;
  // First match at or after `offset`: {begin, end}, or {npos, npos}.
  std::pair<std::size_t, std::size_t> find(std::string_view text, std::size_t offset) const;

 private:
  void* code_ = nullptr;  // pcre2_code_8*
  std::string where_;
};

template <class F>
void Regex::split_isolated(std::string_view text, F&& on_piece) const {
  std::size_t offset = 0;
  while (offset < text.size()) {
    auto [begin, end] = find(text, offset);
    if (begin == std::string_view::npos) break;
    if (begin > offset) on_piece(offset, begin);
    if (end > begin) on_piece(begin, end);
    // An empty match moves on by one character so that the loop ends.
    if (end == begin) {
      end = begin + 1;
      while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
      on_piece(begin, end);
    }
    offset = end;
  }
  if (offset < text.size()) on_piece(offset, text.size());
}

// Unicode normalization forms through utf8proc.
enum class UnicodeForm { nfc, nfd, nfkc, nfkd };
std::string unicode_normalize(std::string_view text, UnicodeForm form);

// Replaces every ill-formed UTF-8 subsequence by U+FFFD (one per maximal
// subpart, as the Unicode standard recommends and Python's "replace" does).
std::string utf8_sanitize(std::string_view text);
bool utf8_is_valid(std::string_view text);

// Bytes of the UTF-8 character that starts with `lead` (1 for a stray byte).
inline std::size_t utf8_char_length(unsigned char lead) {
  return lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
}

// The GPT-2 byte <-> printable character table of byte-level BPE.
const std::array<std::string, 256>& byte_level_alphabet();

struct NormalizerStep {
  enum class Kind { unicode, prepend, replace } kind;
  explicit NormalizerStep(Kind k) : kind(k) {}
  UnicodeForm form = UnicodeForm::nfc;
  std::string text;         // prepend: what; replace: pattern
  std::string replacement;  // replace: content
};

struct PreTokenizerStep {
  enum class Kind { split_regex, byte_level, metaspace } kind;
  explicit PreTokenizerStep(Kind k) : kind(k) {}
  std::shared_ptr<Regex> regex;  // split_regex, byte_level with use_regex
  bool add_prefix_space = false;  // byte_level
  std::string replacement;        // metaspace
  bool prepend = true;            // metaspace: prepend_scheme first or always
  bool prepend_only_first = false;  // metaspace: prepend_scheme first
  bool metaspace_split = true;
};

struct DecoderStep {
  enum class Kind { byte_level, replace, byte_fallback, fuse, strip, metaspace } kind;
  explicit DecoderStep(Kind k) : kind(k) {}
  std::string pattern, content;  // replace; strip content
  int start = 0, stop = 0;        // strip
  bool prepend = true;            // metaspace: strip the first space
};

struct AddedTokenSpec {
  std::string content;
  int id = -1;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
};

struct TokenizerJsonParser;  // bpe.cpp: one parser per tokenizer.json section

// The tokenizer.json model and pipeline.
class BpeEngine {
 public:
  // Parses a tokenizer.json text; `path` names the file in errors. Every id
  // (model.vocab, added_tokens, post_processor) must lie in 0..N-1 where N
  // counts the model.vocab and added_tokens entries: FormatError otherwise,
  // before anything is sized by an id.
  static std::unique_ptr<BpeEngine> from_tokenizer_json(const std::string& json_text,
                                                       const std::string& path);
  // GPT-2's vocab.json + merges.txt (byte-level BPE, GPT-2 split pattern).
  static std::unique_ptr<BpeEngine> from_vocab_merges(const std::string& vocab_json,
                                                     const std::string& merges_txt,
                                                     const std::string& folder);

  // Normalizes, pre-tokenizes and runs BPE on text free of added tokens;
  // appends ids to `out`. `text` must be valid UTF-8. `at_text_start`: the
  // piece begins the input (not after an added token), for Metaspace's
  // prepend_scheme "first".
  void encode_plain(std::string_view text, std::vector<int>& out, bool at_text_start = true) const;
  // Runs the decoder chain on token strings; the bytes may end mid-character.
  std::string decode_tokens(const std::vector<std::string>& tokens) const;

  int vocab_size() const { return static_cast<int>(id_to_token_.size()); }
  int token_to_id(const std::string& token) const;  // -1 when absent
  const std::string& id_to_token(int id) const;      // "" for a gap in the ids
  bool byte_level() const { return byte_level_; }

  std::vector<AddedTokenSpec> added_tokens;
  std::vector<int> prefix_ids, suffix_ids;  // post_processor, single sequence
  std::string model_description;           // e.g. "byte-level BPE (tokenizer.json)"

 private:
  friend struct TokenizerJsonParser;
  BpeEngine() = default;
  void build_byte_tables();
  void add_merge(int a, int b, int merged, int rank);
  // One pre-tokenized word: through the per-thread word cache, else bpe_word_uncached.
  void bpe_word(std::string_view word, std::vector<int>& out) const;
  // ignore_merges lookup, else initial_symbols then merge_symbols.
  void bpe_word_uncached(std::string_view word, std::vector<int>& out) const;
  void initial_symbols(std::string_view word, std::vector<int>& symbols) const;
  // The BPE merge loop over a word's symbols, in place (Hugging Face's order).
  void merge_symbols(std::vector<int>& ids) const;
  std::string normalize(std::string_view text) const;

  std::unordered_map<std::string, int> token_to_id_;
  std::vector<std::string> id_to_token_;
  struct MergeValue {
    int rank;
    int merged;
  };
  std::unordered_map<std::uint64_t, MergeValue> merges_;
  bool byte_level_ = false;
  bool ignore_merges_ = false;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  int unk_id_ = -1;
  std::array<int, 256> byte_symbol_{};       // byte-level: byte -> id of its character
  std::array<int, 256> byte_fallback_id_{};  // byte_fallback: byte -> <0xXX> id
  std::unordered_map<std::string, int> raw_bytes_to_id_;  // byte-level: raw bytes -> id
  std::vector<NormalizerStep> normalizers_;
  std::vector<PreTokenizerStep> pre_tokenizers_;
  std::vector<DecoderStep> decoders_;

  std::uint64_t serial_ = 0;  // tells this engine's entries in the per-thread word cache
};

}  // namespace culturespa::text_detail

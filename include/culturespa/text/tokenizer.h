// culturespa/text/tokenizer.h: the tokenizers of LLaMA-2/3, Mistral, Qwen and
// GPT-2 checkpoints, token for token as the reference implementations.
//
// Formats (docs/text.md has the details):
//   tokenizer.json          Hugging Face format, run by culturespa itself: BPE,
//                           byte-level (LLaMA-3, Qwen2/3, GPT-2) or with
//                           byte_fallback and Prepend/Replace (Mistral).
//   tokenizer.model         sentencepiece, through the real library.
//   vocab.json + merges.txt GPT-2's original files.
//   a .gguf file            the byte-level BPE tokenizer llama.cpp reads from
//                           it (tokenizer.ggml.*), so that one file runs a model.
// Side files read from the same folder: tokenizer_config.json (BOS/EOS/PAD,
// add_bos_token, chat_template), config.json and generation_config.json
// (bos/eos/pad token ids; every eos id is a stop id).
//
// Invalid UTF-8 in an input text is not an error: every ill-formed
// subsequence is replaced by U+FFFD first (one per maximal subpart, as
// Python's bytes.decode(errors="replace")). Decoded text is always valid UTF-8.
//
// Threads: a Tokenizer is immutable once loaded (its BPE word cache is per
// thread); its const calls may run from several threads at once. An
// IncrementalDecoder belongs to one thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "culturespa/core/progress.h"
#include "culturespa/text/chat_template.h"
#include "culturespa/text/conversation.h"
#include "culturespa/core/export.h"

namespace culturespa {

struct CULTURESPA_API TokenizerOptions {
  // Which file of a folder wins when both exist: "tokenizer.json" or
  // "tokenizer.model". A folder with only one of them uses it either way.
  std::string prefer = "tokenizer.json";
};

struct CULTURESPA_API EncodeOptions {
  bool add_special_tokens = true;  // the tokenizer's own additions (BOS for LLaMA/Mistral); never EOS
  bool parse_special = false;      // added/special-token text in the input becomes its id
};

struct CULTURESPA_API DecodeOptions {
  bool skip_special_tokens = false;  // drop BOS/EOS/... (special added tokens, sentencepiece controls)
};

class CULTURESPA_API Tokenizer {
 public:
  // `path` is a checkpoint folder, or one tokenizer.json / tokenizer.model /
  // vocab.json file (side files are then read from its folder). FileError
  // when nothing loadable is there; FormatError / ConfigError for a corrupt
  // or unsupported file, naming it.
  // A GGUF file at `path` is read by from_gguf.
  static Tokenizer from_folder(const std::string& path, const TokenizerOptions& options = {});
  // The tokenizer a GGUF file carries (gguf_tokenizer_files): token for
  // token as llama.cpp tokenizes with that file. FileError when it cannot be
  // opened; FormatError / ConfigError naming the file and the key for a
  // malformed file or another tokenizer model than byte-level BPE.
  static Tokenizer from_gguf(const std::string& path);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<int> encode(std::string_view text, const EncodeOptions& options = {}) const;
  std::vector<std::vector<int>> encode_batch(const std::vector<std::string>& texts,
                                             const EncodeOptions& options = {},
                                             const ProgressCallback& progress = {}) const;
  // ValueError for an id outside the vocabulary.
  std::string decode(const std::vector<int>& ids, const DecodeOptions& options = {}) const;

  int vocab_size() const;                              // largest id + 1, added tokens included
  std::optional<int> token_to_id(std::string_view token) const;  // added tokens first, then the vocabulary
  std::string id_to_token(int id) const;               // the vocabulary's spelling ("Ġthe", "▁the")
  bool is_special(int id) const;
  // The bytes token `id` adds to a decoded text when it follows other tokens
  // ("▁the" and "Ġthe" give " the"; <0x0A> gives "\n"); they may hold part of
  // a UTF-8 character. "" for special tokens and control pieces, which add
  // no text. ValueError for an id outside the vocabulary. Constrained
  // decoding reads the vocabulary through this.
  std::string token_bytes(int id) const;

  std::optional<int> bos_id() const;
  std::optional<int> eos_id() const;
  std::optional<int> pad_id() const;
  std::string bos_token() const;  // "" when none
  std::string eos_token() const;
  bool adds_bos() const;          // whether add_special_tokens puts a BOS first
  // Every id that ends generation: the eos ids of the three config files, plus
  // the end-of-turn tokens of the chat format when one is known (e.g.
  // <|eot_id|> and <|end_of_text|> for LLaMA-3-Instruct).
  std::vector<int> stop_ids() const;

  // "tokenizer.json (byte-level BPE)", "tokenizer.model (sentencepiece)", ...
  std::string description() const;
  const std::string& folder() const;  // the GGUF file's path for from_gguf

  // --- chat templates (culturespa/text/chat_template.h) ---
  // tokenizer_config.json's chat_template, "" when absent.
  const std::string& chat_template_source() const;
  // The format of chat_template_source() (chat_format_detect); ConfigError
  // when there is none or it is not recognised.
  std::string chat_format() const;
  // Renders with options.format, or the folder's own format when empty;
  // bos/eos tokens come from this tokenizer unless set in options.
  std::string apply_chat_template(const Conversation& conversation,
                                  const ChatTemplateOptions& options = {}) const;
  // apply_chat_template, then encode with parse_special. The BOS rule: when
  // the rendered prompt already starts with the BOS token's text (the template
  // writes it, as LLaMA-3's does), no second BOS is added; otherwise the
  // tokenizer adds its BOS as for any text.
  std::vector<int> encode_chat(const Conversation& conversation,
                               const ChatTemplateOptions& options = {}) const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  friend class IncrementalDecoder;
  std::unique_ptr<Impl> impl_;
};

class GgufFile;  // culturespa/core/gguf.h

// The Hugging Face files equivalent to the tokenizer a GGUF file carries, as
// llama.cpp reads it: tokenizer.json (byte-level BPE from
// tokenizer.ggml.tokens, .merges and .token_type, with the pre-tokenizer
// llama.cpp uses for tokenizer.ggml.pre), tokenizer_config.json (special
// tokens, add_bos_token, the chat template) and generation_config.json
// (bos/eos/pad ids). Tokenizer::from_gguf runs them; written beside the
// weights they make a checkpoint folder transformers loads too.
// ConfigError naming the file and the key for a missing key, another
// tokenizer model than "gpt2" (byte-level BPE) or an unknown pre-tokenizer;
// FormatError for a malformed merge or vocabulary.
struct CULTURESPA_API GgufTokenizerFiles {
  std::string tokenizer_json;
  std::string tokenizer_config_json;
  std::string generation_config_json;
};
CULTURESPA_API GgufTokenizerFiles gguf_tokenizer_files(const GgufFile& file);

// Decodes a growing list of ids (generation), returning only the new text of
// each step and never a split UTF-8 character: bytes of an incomplete
// character are held back until the ids that complete it arrive.
class CULTURESPA_API IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer& tokenizer, const DecodeOptions& options = {});
  // Adds ids; returns the text they complete (possibly "").
  std::string push(const std::vector<int>& ids);
  std::string push(int id) { return push(std::vector<int>{id}); }
  // Whatever is held back, with U+FFFD for an unfinished character.
  std::string flush();
  const std::vector<int>& ids() const { return ids_; }

 private:
  const Tokenizer& tokenizer_;
  DecodeOptions options_;
  std::vector<int> ids_;
  std::size_t prefix_offset_ = 0;  // start of the context window
  std::size_t read_offset_ = 0;    // ids up to here are emitted
};

}  // namespace culturespa

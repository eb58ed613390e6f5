// culturespa/text/sentencepiece.h: a thin wrapper over the real sentencepiece
// library (built from Debian's source package, see cmake/Sentencepiece.cmake).
//
// The Tokenizer uses it for tokenizer.model files; it is also what the tests
// use to train small models of their own.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>
#include "culturespa/core/export.h"

namespace culturespa {

// False when the library was built with CULTURESPA_SENTENCEPIECE=off; every
// function below then throws ConfigError saying so.
CULTURESPA_API bool sentencepiece_available();

class CULTURESPA_API SentencePieceModel {
 public:
  // Loads a serialized ModelProto (a tokenizer.model file). FileError when
  // missing, FormatError when it is not a sentencepiece model.
  static SentencePieceModel load(const std::string& path);
  static SentencePieceModel from_serialized(std::string_view bytes);

  SentencePieceModel(SentencePieceModel&&) noexcept;
  SentencePieceModel& operator=(SentencePieceModel&&) noexcept;
  ~SentencePieceModel();

  std::vector<int> encode(std::string_view text) const;
  std::vector<std::string> encode_pieces(std::string_view text) const;
  std::string decode(const std::vector<int>& ids) const;

  int piece_count() const;
  std::string id_to_piece(int id) const;
  int piece_to_id(std::string_view piece) const;  // unk id when absent
  int bos_id() const;
  int eos_id() const;
  int unk_id() const;
  int pad_id() const;
  bool is_byte(int id) const;
  bool is_control(int id) const;
  bool is_unknown(int id) const;
  float score(int id) const;
  std::string serialized() const;

  // Access for the tokenizer layer; opaque here.
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit SentencePieceModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct CULTURESPA_API SentencePieceTrainOptions {
  int vocab_size = 200;
  std::string model_type = "bpe";   // "bpe", "unigram", "char", "word"
  bool byte_fallback = false;
  float character_coverage = 1.0f;
};

// Trains a model in-process on `sentences` and returns it serialized.
CULTURESPA_API std::string sentencepiece_train(const std::vector<std::string>& sentences,
                                               const SentencePieceTrainOptions& options = {});

}  // namespace culturespa

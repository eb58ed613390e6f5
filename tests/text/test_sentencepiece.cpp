#include <ATen/ATen.h>

#include "culturespa/core/error.h"
#include "culturespa/text/sentencepiece.h"

#include "support.h"

using namespace culturespa;

// sentencepiece and LibTorch in one process: the Debian builds crash here
// before main() unless sentencepiece is built against the system protobuf.
TEST_CASE("sentencepiece trains, encodes and decodes beside LibTorch") {
  if (!sentencepiece_available()) {
    WARN("skipped: built with CULTURESPA_SENTENCEPIECE=off");
    CHECK_THROWS_AS(SentencePieceModel::from_serialized("x"), ConfigError);
    return;
  }
  const auto product = at::ones({4, 4}).matmul(at::ones({4, 4}));
  CHECK(product.sum().item<float>() == 64.0f);

  std::vector<std::string> sentences;
  for (int i = 0; i < 30; ++i) {
    sentences.push_back("How important is family in your life?");
    sentences.push_back("Would you say that most people can be trusted?");
  }
  SentencePieceTrainOptions options;
  options.vocab_size = 50;
  const auto model = SentencePieceModel::from_serialized(sentencepiece_train(sentences, options));
  CHECK(model.piece_count() == 50);
  const std::string text = "most people trust family";
  const auto ids = model.encode(text);
  CHECK_FALSE(ids.empty());
  CHECK(model.decode(ids) == text);
  CHECK_THROWS_AS(model.decode({100000}), ValueError);
  CHECK_THROWS_AS(SentencePieceModel::from_serialized("not a model"), FormatError);
}

TEST_CASE("the real LLaMA-2 tokenizer.model loads and encodes") {
  if (!sentencepiece_available()) return;
  CULTURESPA_REQUIRE_SHARED(shared);
  const auto model =
      SentencePieceModel::load((shared / "fixtures/tokenizers/llama2/tokenizer.model").string());
  CHECK(model.piece_count() == 32000);
  CHECK(model.encode("Hello world") == std::vector<int>{15043, 3186});
  CHECK_THROWS_AS(SentencePieceModel::load("/nonexistent/tokenizer.model"), FileError);
}

TEST_CASE("a sentencepiece model with a NUL byte in a piece is a FormatError, not a crash") {
  // Found by fuzz_sentencepiece: darts-clone, inside sentencepiece, throws its
  // own exception type for the piece "\0" (a zero-length key of its C-string
  // trie) while building the unigram model.
  const char bytes[] =
      "\x0a\x0e\x0a\x05\x3c\x75\x6e\x6b\x1e\x15\x00\x00\x00\x00\x18\x02\x0a\x0c\x0a\x03\x3c\x73\x3e\x15\x00\x00\x00"
      "\x00\x18\x6d\x0a\x0a\x0a\x03\x0a\x01\x65\x15\x22\xd0\x59\xc0\x0a\x08\x0a\x01\x00\x15\x78\x98\x74\x79\x12\x00";
  testing::require_throws_naming<FormatError>(
      [&] { SentencePieceModel::from_serialized(std::string_view(bytes, sizeof bytes - 1)); },
      {"not a sentencepiece model", "failed to insert key"});
}

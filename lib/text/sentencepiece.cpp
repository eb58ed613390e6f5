#include "culturespa/text/sentencepiece.h"

#include "culturespa/core/error.h"

#if CULTURESPA_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#endif

#include <unordered_map>

namespace culturespa {

#if CULTURESPA_HAVE_SENTENCEPIECE

struct CULTURESPA_HIDDEN SentencePieceModel::Impl {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {
// Runs a sentencepiece call: a failed status, or an exception from its third
// party code (darts-clone throws for a piece with a NUL byte), becomes a
// FormatError saying `what`.
template <typename Call>
void sentencepiece_call(const std::string& what, Call call) {
  sentencepiece::util::Status status;
  try {
    status = call();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw FormatError(what + ": " + e.what());
  }
  if (!status.ok()) throw FormatError(what + ": " + status.ToString());
}
}  // namespace

bool sentencepiece_available() { return true; }

SentencePieceModel::SentencePieceModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SentencePieceModel::SentencePieceModel(SentencePieceModel&&) noexcept = default;
SentencePieceModel& SentencePieceModel::operator=(SentencePieceModel&&) noexcept = default;
SentencePieceModel::~SentencePieceModel() = default;

SentencePieceModel SentencePieceModel::load(const std::string& path) {
  return from_serialized(file_read_text(path));
}

SentencePieceModel SentencePieceModel::from_serialized(std::string_view bytes) {
  auto impl = std::make_unique<Impl>();
  sentencepiece_call("not a sentencepiece model", [&] { return impl->processor.LoadFromSerializedProto(bytes); });
  return SentencePieceModel(std::move(impl));
}

std::vector<int> SentencePieceModel::encode(std::string_view text) const {
  std::vector<int> ids;
  sentencepiece_call("sentencepiece encode failed", [&] { return impl_->processor.Encode(text, &ids); });
  return ids;
}

std::vector<std::string> SentencePieceModel::encode_pieces(std::string_view text) const {
  std::vector<std::string> pieces;
  sentencepiece_call("sentencepiece encode failed", [&] { return impl_->processor.Encode(text, &pieces); });
  return pieces;
}

std::string SentencePieceModel::decode(const std::vector<int>& ids) const {
  const int size = impl_->processor.GetPieceSize();
  for (int id : ids) {
    if (id < 0 || id >= size) {
      throw ValueError("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                       std::to_string(size - 1) + ")");
    }
  }
  std::string text;
  sentencepiece_call("sentencepiece decode failed", [&] { return impl_->processor.Decode(ids, &text); });
  return text;
}

int SentencePieceModel::piece_count() const { return impl_->processor.GetPieceSize(); }
std::string SentencePieceModel::id_to_piece(int id) const { return impl_->processor.IdToPiece(id); }
int SentencePieceModel::piece_to_id(std::string_view piece) const {
  return impl_->processor.PieceToId(piece);
}
int SentencePieceModel::bos_id() const { return impl_->processor.bos_id(); }
int SentencePieceModel::eos_id() const { return impl_->processor.eos_id(); }
int SentencePieceModel::unk_id() const { return impl_->processor.unk_id(); }
int SentencePieceModel::pad_id() const { return impl_->processor.pad_id(); }
bool SentencePieceModel::is_byte(int id) const { return impl_->processor.IsByte(id); }
bool SentencePieceModel::is_control(int id) const { return impl_->processor.IsControl(id); }
bool SentencePieceModel::is_unknown(int id) const { return impl_->processor.IsUnknown(id); }
float SentencePieceModel::score(int id) const { return impl_->processor.GetScore(id); }
std::string SentencePieceModel::serialized() const {
  return impl_->processor.serialized_model_proto();
}

std::string sentencepiece_train(const std::vector<std::string>& sentences,
                                const SentencePieceTrainOptions& options) {
  if (sentences.empty()) throw ValueError("sentencepiece_train: no sentences given");
  // The keyword form of Train() needs only the public headers (the
  // TrainerSpec protobuf header is not part of sentencepiece's public API).
  const std::unordered_map<std::string, std::string> arguments = {
      {"vocab_size", std::to_string(options.vocab_size)},
      {"model_type", options.model_type},
      {"byte_fallback", options.byte_fallback ? "true" : "false"},
      {"character_coverage", std::to_string(options.character_coverage)},
      {"normalization_rule_name", "identity"},
      {"minloglevel", "2"},  // quiet: the trainer logs every step otherwise
  };
  class VectorIterator : public sentencepiece::SentenceIterator {
   public:
    explicit VectorIterator(const std::vector<std::string>& s) : s_(s) {}
    bool done() const override { return i_ >= s_.size(); }
    void Next() override { ++i_; }
    const std::string& value() const override { return s_[i_]; }
    sentencepiece::util::Status status() const override { return {}; }

   private:
    const std::vector<std::string>& s_;
    std::size_t i_ = 0;
  } iterator(sentences);

  std::string serialized;
  const auto status =
      sentencepiece::SentencePieceTrainer::Train(arguments, &iterator, &serialized);
  if (!status.ok()) throw ValueError("sentencepiece training failed: " + status.ToString());
  return serialized;
}

#else  // !CULTURESPA_HAVE_SENTENCEPIECE

struct CULTURESPA_HIDDEN SentencePieceModel::Impl {};

namespace {
[[noreturn]] void unavailable() {
  throw ConfigError(
      "this culturespa was built without sentencepiece (CULTURESPA_SENTENCEPIECE=off): "
      "tokenizer.model files cannot be read; use the folder's tokenizer.json or rebuild");
}
}  // namespace

bool sentencepiece_available() { return false; }
SentencePieceModel::SentencePieceModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SentencePieceModel::SentencePieceModel(SentencePieceModel&&) noexcept = default;
SentencePieceModel& SentencePieceModel::operator=(SentencePieceModel&&) noexcept = default;
SentencePieceModel::~SentencePieceModel() = default;
SentencePieceModel SentencePieceModel::load(const std::string&) { unavailable(); }
SentencePieceModel SentencePieceModel::from_serialized(std::string_view) { unavailable(); }
std::vector<int> SentencePieceModel::encode(std::string_view) const { unavailable(); }
std::vector<std::string> SentencePieceModel::encode_pieces(std::string_view) const { unavailable(); }
std::string SentencePieceModel::decode(const std::vector<int>&) const { unavailable(); }
int SentencePieceModel::piece_count() const { unavailable(); }
std::string SentencePieceModel::id_to_piece(int) const { unavailable(); }
int SentencePieceModel::piece_to_id(std::string_view) const { unavailable(); }
int SentencePieceModel::bos_id() const { unavailable(); }
int SentencePieceModel::eos_id() const { unavailable(); }
int SentencePieceModel::unk_id() const { unavailable(); }
int SentencePieceModel::pad_id() const { unavailable(); }
bool SentencePieceModel::is_byte(int) const { unavailable(); }
bool SentencePieceModel::is_control(int) const { unavailable(); }
bool SentencePieceModel::is_unknown(int) const { unavailable(); }
float SentencePieceModel::score(int) const { unavailable(); }
std::string SentencePieceModel::serialized() const { unavailable(); }
std::string sentencepiece_train(const std::vector<std::string>&, const SentencePieceTrainOptions&) {
  unavailable();
}

#endif

}  // namespace culturespa

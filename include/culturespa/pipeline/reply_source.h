// culturespa/pipeline/reply_source.h: where the pipeline's model calls go.
//
// The question generator and the answerer ask a ReplySource for replies to a
// batch of prompts (sampled) or for option distributions (scored). In
// production that is a Generator (GeneratorReplySource); tests and other
// backends give functions (FunctionReplySource), so the pipeline's logic can
// be checked with canned replies (docs/pipeline.md, "Reply sources").
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "culturespa/core/progress.h"
#include "culturespa/generator/generator.h"
#include "culturespa/text/conversation.h"
#include "culturespa/core/export.h"

namespace culturespa {

class CULTURESPA_API ReplySource {
 public:
  virtual ~ReplySource() = default;
  // One reply text per prompt, in order. `options.prompt_seeds` holds one
  // seed per prompt: a source that samples must make reply i depend only on
  // prompt i, that seed and the other options (not on the batch).
  virtual std::vector<std::string> replies(const std::vector<Conversation>& prompts,
                                           const GenerateOptions& options,
                                           const ProgressCallback& progress) = 0;
  // Per prompt, the probabilities of its labels (normalised to sum 1), in
  // label order. The default throws ConfigError: the source cannot score.
  virtual std::vector<std::vector<double>> option_probabilities(
      const std::vector<Conversation>& prompts, const std::vector<std::vector<std::string>>& labels,
      const ProgressCallback& progress);
  // What the replies depend on besides the prompts (model, chat format), as
  // name -> value settings that stage files record (stage_files.h). The
  // default: none.
  virtual std::vector<std::pair<std::string, std::string>> settings() const { return {}; }
  // Whether the source answers with a model's LoRA adapters: per prompt the
  // adapter named in GenerateOptions::adapters (replies) or `adapters`
  // (option_probabilities_adapted). The default: no.
  virtual bool supports_adapters() const { return false; }
  // option_probabilities with, per prompt, the adapter that scores it ("" =
  // the base model; empty = none). The default calls option_probabilities
  // when no adapter is named and is a ConfigError otherwise.
  virtual std::vector<std::vector<double>> option_probabilities_adapted(
      const std::vector<Conversation>& prompts, const std::vector<std::vector<std::string>>& labels,
      const std::vector<std::string>& adapters, const ProgressCallback& progress);
};

// Replies from Generator::generate, distributions from
// Generator::score_options; prompts sharing a start (one culture's system
// prompt) have it computed once by the generator's prefix reuse. The
// generator must outlive the source.
class CULTURESPA_API GeneratorReplySource final : public ReplySource {
 public:
  explicit GeneratorReplySource(const Generator& generator) : generator_(generator) {}
  std::vector<std::string> replies(const std::vector<Conversation>& prompts, const GenerateOptions& options,
                                   const ProgressCallback& progress) override;
  std::vector<std::vector<double>> option_probabilities(const std::vector<Conversation>& prompts,
                                                        const std::vector<std::vector<std::string>>& labels,
                                                        const ProgressCallback& progress) override;
  // model (its path), dtype and chat_format.
  std::vector<std::pair<std::string, std::string>> settings() const override;
  bool supports_adapters() const override { return true; }
  std::vector<std::vector<double>> option_probabilities_adapted(const std::vector<Conversation>& prompts,
                                                                const std::vector<std::vector<std::string>>& labels,
                                                                const std::vector<std::string>& adapters,
                                                                const ProgressCallback& progress) override;

 private:
  const Generator& generator_;
};

// Replies from caller-given functions (canned replies in tests, another
// backend). An empty `score` makes option_probabilities a ConfigError. A
// function returning the wrong number of items is a ValueError.
class CULTURESPA_API FunctionReplySource final : public ReplySource {
 public:
  using ReplyFunction =
      std::function<std::vector<std::string>(const std::vector<Conversation>& prompts, const GenerateOptions& options)>;
  using ScoreFunction = std::function<std::vector<std::vector<double>>(
      const std::vector<Conversation>& prompts, const std::vector<std::vector<std::string>>& labels)>;

  explicit FunctionReplySource(ReplyFunction reply, ScoreFunction score = {})
      : reply_(std::move(reply)), score_(std::move(score)) {}
  std::vector<std::string> replies(const std::vector<Conversation>& prompts, const GenerateOptions& options,
                                   const ProgressCallback& progress) override;
  std::vector<std::vector<double>> option_probabilities(const std::vector<Conversation>& prompts,
                                                        const std::vector<std::vector<std::string>>& labels,
                                                        const ProgressCallback& progress) override;

 private:
  ReplyFunction reply_;
  ScoreFunction score_;
};

// The pipeline's seeds: a 64-bit mix of a run seed, a text key (topic name,
// culture code) and an index (attempt, question), through splitmix64, so a
// seed depends on nothing else (not the batch, not the order of topics).
CULTURESPA_API std::uint64_t pipeline_seed(std::uint64_t seed, const std::string& key, std::uint64_t index);

}  // namespace culturespa

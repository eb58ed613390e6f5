// culturespa/generator/generator.h: batched generation, option scoring and
// continuation scoring over a Model and its Tokenizer (docs/generator.md).
//
// Prompts are conversations (rendered with the generator's chat format and
// encoded with Tokenizer::encode_chat), raw texts (encoded with the
// tokenizer's BOS and special-token text parsed) or token ids.
//
// Work is batched with the KV cache. Prompts that share a start of at least
// GeneratorOptions::min_prefix_tokens tokens are grouped, and the shared
// start is computed once and copied into every sequence's cache; a Prefix
// does the same for a start the caller chooses and keeps. Results do not
// depend on the batch size, the grouping, the thread count or the prefix
// reuse (up to float rounding), and come back in the caller's order.
//
// Threads: a Generator holds no mutable state; its const calls may run from
// several threads at once (each call makes its own KV caches), as may those
// of the Model and Tokenizer it shares. A Prefix may be given to concurrent
// calls: they only read it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "culturespa/core/progress.h"
#include "culturespa/model/model.h"
#include "culturespa/text/conversation.h"
#include "culturespa/text/tokenizer.h"
#include "culturespa/core/export.h"

namespace culturespa {

struct CULTURESPA_API GeneratorOptions {
  std::string chat_format = "";   // "" = the tokenizer's own (only needed for conversations)
  int64_t batch_size = 16;        // sequences per forward pass
  bool prefix_reuse = true;       // group prompts by a shared start and compute it once
  int64_t min_prefix_tokens = 16; // shortest shared start worth reusing
};

class JsonConstraint;

// Why a sequence ended: max_new_tokens, a stop id, a stop string, or (with
// GenerateOptions::constraint) the constrained document being complete.
enum class StopReason { length, stop_token, stop_string, complete };
CULTURESPA_API std::string stop_reason_name(StopReason reason);  // "length", "stop_token", "stop_string", "complete"

struct CULTURESPA_API GenerateOptions {
  int64_t max_new_tokens = 256;
  double temperature = 0.0;         // 0 = greedy
  double top_p = 1.0;               // nucleus: smallest set of tokens with this much probability
  int64_t top_k = 0;                // 0 = all tokens
  double min_p = 0.0;               // drop tokens below min_p x the top probability
  double repetition_penalty = 1.0;  // HF's rule over prompt and generated tokens; 1 = off
  std::optional<std::vector<int>> stop_ids;  // unset = the tokenizer's stop_ids() and the chat format's end-of-turn tokens
  std::vector<std::string> stop_strings;     // end when the decoded text contains one (cut before it)
  uint64_t seed = 0;                // prompt i samples from a stream that depends only on (seed, i)
  // When not empty (one per prompt): prompt i samples from the stream of
  // (prompt_seeds[i], 0) instead, so a caller can give each prompt a seed of
  // its own (e.g. one per attempt) whatever the call it travels in.
  std::vector<uint64_t> prompt_seeds;
  bool logprobs = false;            // also return each new token's log-probability under the model
  // When set, every prompt samples only tokens that keep its new text a prefix
  // of a document of the constraint's JSON schema
  // (culturespa/generator/json_constraint.h); a sequence ends as soon as its
  // document is complete (StopReason::complete). Stop ids cannot end an
  // unfinished document. Log-probabilities stay the model's own.
  std::shared_ptr<const JsonConstraint> constraint;
  // When not empty (one per prompt): the name of the model's LoRA adapter
  // that generates prompt i ("" = the base model); prompts with different
  // adapters share batches (Model::forward). A Prefix is then not used.
  std::vector<std::string> adapters;
};

struct CULTURESPA_API GenerateResult {
  std::string text;                 // decoded new tokens (special tokens skipped), cut at a stop string
  std::vector<int> tokens;          // new token ids (a stop token is not included)
  StopReason stop_reason = StopReason::length;
  std::vector<float> logprobs;      // per token of `tokens`, when GenerateOptions::logprobs
  int64_t prompt_tokens = 0;
};

// Called for every new token of every prompt (in the caller's numbering) with
// the text it completes (possibly ""), before any stop string cut. When a
// prompt ends inside a UTF-8 character, one last call with token -1 brings
// the U+FFFD that ends its text, so the pieces add up to the result's text.
using TokenCallback = std::function<void(std::size_t prompt, int token, const std::string& text)>;

struct CULTURESPA_API OptionScores {
  std::vector<std::vector<double>> probs;     // per prompt: the labels' probabilities, normalised to sum 1
  std::vector<std::vector<double>> logprobs;  // per prompt: log P(label tokens | prompt), unnormalised
  std::vector<double> allowed_mass;           // per prompt: total probability of the labels
  std::vector<int64_t> argmax;                // per prompt: index of the most probable label
  std::vector<std::vector<std::vector<int>>> label_tokens;  // per prompt and label: the tokens scored
  std::vector<int64_t> reused_tokens;         // per prompt: tokens read from a shared prefix's cache, not computed
};

struct CULTURESPA_API ContinuationScore {
  double logprob = 0.0;   // sum of the continuation tokens' log-probabilities
  int64_t tokens = 0;     // how many tokens were scored
};

class Prefix;

class CULTURESPA_API Generator {
 public:
  // The model and tokenizer must outlive the generator. ConfigError when the
  // tokenizer's vocabulary does not fit the model's.
  Generator(const Model& model, const Tokenizer& tokenizer, const GeneratorOptions& options = {});

  const GeneratorOptions& options() const noexcept { return options_; }
  const Model& model() const noexcept { return model_; }
  const Tokenizer& tokenizer() const noexcept { return tokenizer_; }
  // The chat format conversations are rendered with, resolved in the
  // constructor: a given name must be known (ConfigError there, listing the
  // known ones); "" takes the tokenizer's template, and when it has no
  // recognised one the ConfigError is raised here, so that a generator for
  // raw prompts needs no template.
  std::string chat_format() const;

  // Prompt encodings (the ids the model sees).
  std::vector<int> encode(const Conversation& conversation) const;
  std::vector<int> encode(const std::string& raw_prompt) const;

  std::vector<GenerateResult> generate(const std::vector<Conversation>& prompts, const GenerateOptions& options = {},
                                       const ProgressCallback& progress = {}, const TokenCallback& on_token = {},
                                       const Prefix* prefix = nullptr) const;
  std::vector<GenerateResult> generate(const std::vector<std::string>& raw_prompts,
                                       const GenerateOptions& options = {}, const ProgressCallback& progress = {},
                                       const TokenCallback& on_token = {}, const Prefix* prefix = nullptr) const;
  std::vector<GenerateResult> generate_tokens(const std::vector<std::vector<int>>& prompts,
                                              const GenerateOptions& options = {},
                                              const ProgressCallback& progress = {},
                                              const TokenCallback& on_token = {},
                                              const Prefix* prefix = nullptr) const;

  // The probability of each label as the answer (docs/generator.md has the
  // rule): `labels` holds one list for all prompts, or one list per prompt.
  // `adapters`: empty, or per prompt the LoRA adapter that scores it ("" =
  // none; as GenerateOptions::adapters).
  OptionScores score_options(const std::vector<Conversation>& prompts,
                             const std::vector<std::vector<std::string>>& labels,
                             const ProgressCallback& progress = {}, const Prefix* prefix = nullptr,
                             const std::vector<std::string>& adapters = {}) const;
  OptionScores score_options_raw(const std::vector<std::string>& raw_prompts,
                                 const std::vector<std::vector<std::string>>& labels,
                                 const ProgressCallback& progress = {}, const Prefix* prefix = nullptr,
                                 const std::vector<std::string>& adapters = {}) const;

  // log P(continuation | prompt) for each continuation text appended to the
  // rendered prompt.
  std::vector<ContinuationScore> score_continuations(const Conversation& prompt,
                                                     const std::vector<std::string>& continuations,
                                                     const ProgressCallback& progress = {}) const;
  std::vector<ContinuationScore> score_continuations_raw(const std::string& raw_prompt,
                                                         const std::vector<std::string>& continuations,
                                                         const ProgressCallback& progress = {}) const;

  // Computes the KV cache of `tokens` once. `capacity` (0 = the prefix plus
  // 512, at most the model's context) bounds the prompt plus new tokens of
  // the calls that reuse it; a call needing more recomputes the prefix.
  Prefix prefix_create(const std::vector<int>& tokens, int64_t capacity = 0) const;
  // The tokens of a text as the start of a raw prompt (BOS added).
  Prefix prefix_create(const std::string& text, int64_t capacity = 0) const;

  struct Impl;

 private:
  const Model& model_;
  const Tokenizer& tokenizer_;
  GeneratorOptions options_;
  std::string chat_format_;        // "" when unresolved: chat_format_error_ says why
  std::string chat_format_error_;
};

// A shared prompt start whose KV cache is computed once and reused by every
// call given it. Prompts that do not start with its tokens use as much of it
// as they share (possibly none).
class CULTURESPA_API Prefix {
 public:
  const std::vector<int>& tokens() const noexcept { return tokens_; }
  int64_t capacity() const noexcept { return cache_.capacity(); }

 private:
  friend class Generator;
  friend struct Generator::Impl;
  std::vector<int> tokens_;
  KVCache cache_;  // batch 1, holding tokens_
};

}  // namespace culturespa

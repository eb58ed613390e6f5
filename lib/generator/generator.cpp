// Generator: its public calls, argument checks and the shared batch helpers.
// By concern: prefix_groups.cpp (which prompts share a cached start),
// option_scoring.cpp (planning score_options), sampling.cpp (choosing
// tokens), scoring.cpp (running scores) and scheduler.cpp (generate).
#include "culturespa/generator/generator.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>

#include "culturespa/core/enum_names.h"
#include "culturespa/core/error.h"
#include "culturespa/text/chat_template.h"
#include "generator_impl.h"

namespace culturespa {
namespace generator_detail {

at::Tensor long_tensor(const std::vector<int64_t>& values) { return at::tensor(values, at::kLong); }

// The right-padded [rows, T] batch of tokens[skip[r]:] of each row.
std::pair<at::Tensor, at::Tensor> batch_make(const std::vector<const std::vector<int>*>& rows,
                                             const std::vector<int64_t>& skip) {
  int64_t width = 1;
  for (std::size_t r = 0; r < rows.size(); ++r)
    width = std::max<int64_t>(width, static_cast<int64_t>(rows[r]->size()) - skip[r]);
  at::Tensor ids = at::zeros({static_cast<int64_t>(rows.size()), width}, at::kLong);
  at::Tensor lengths = at::empty({static_cast<int64_t>(rows.size())}, at::kLong);
  auto id = ids.accessor<int64_t, 2>();
  auto len = lengths.accessor<int64_t, 1>();
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const int64_t n = static_cast<int64_t>(rows[r]->size()) - skip[r];
    len[r] = n;
    for (int64_t t = 0; t < n; ++t) id[r][t] = (*rows[r])[skip[r] + t];
  }
  return {ids, lengths};
}

}  // namespace generator_detail

std::string stop_reason_name(StopReason reason) {
  static constexpr auto kStopReasons =
      enum_names<StopReason>("stop reason", {{StopReason::length, "length"},
                                             {StopReason::stop_token, "stop_token"},
                                             {StopReason::stop_string, "stop_string"},
                                             {StopReason::complete, "complete"}});
  return kStopReasons.name(reason);
}

void Generator::Impl::adapters_check(const std::vector<std::string>& adapters, std::size_t prompts, const std::string& what) const {
  if (!adapters.empty() && adapters.size() != prompts)
    throw ValueError(what + ": adapters has " + std::to_string(adapters.size()) + " names for " +
                     std::to_string(prompts) + " prompts (one per prompt, \"\" for none)");
  const std::vector<std::string> loaded = model.adapter_names();
  for (std::size_t i = 0; i < adapters.size(); ++i)
    if (!adapters[i].empty() && !std::binary_search(loaded.begin(), loaded.end(), adapters[i]))
      throw ValueError(what + ": prompt " + std::to_string(i) + " asks for adapter '" + adapters[i] +
                       "', which the model has not loaded");
}


// ---------------------------------------------------------------------------

Generator::Generator(const Model& model, const Tokenizer& tokenizer, const GeneratorOptions& options)
    : model_(model), tokenizer_(tokenizer), options_(options) {
  if (options.batch_size < 1) throw ValueError("GeneratorOptions: batch_size must be >= 1, got " + std::to_string(options.batch_size));
  if (options.min_prefix_tokens < 0)
    throw ValueError("GeneratorOptions: min_prefix_tokens must be >= 0, got " + std::to_string(options.min_prefix_tokens));
  if (tokenizer.vocab_size() > model.config().vocab_size)
    throw ConfigError("the tokenizer (" + tokenizer.description() + ", " + std::to_string(tokenizer.vocab_size()) +
                      " ids) does not fit the model's vocabulary of " + std::to_string(model.config().vocab_size) +
                      " (" + model.path() + ")");
  // Resolved once, here: the const calls then only read it (no data race
  // between threads sharing the generator).
  chat_format_ = options.chat_format;
  if (chat_format_.empty()) {
    try {
      chat_format_ = tokenizer_.chat_format();
    } catch (const ConfigError& error) {
      chat_format_error_ = error.what();
    }
  } else {
    // Unknown names fail here, not at the first prompt (hours into a run).
    const auto known = chat_format_names();
    if (std::find(known.begin(), known.end(), chat_format_) == known.end()) {
      std::string names;
      for (const auto& name : known) names += (names.empty() ? "" : ", ") + name;
      throw ConfigError("GeneratorOptions: unknown chat format '" + chat_format_ + "' (known: " + names +
                        "; chat_format_register adds one)");
    }
  }
}

std::string Generator::chat_format() const {
  if (chat_format_.empty()) throw ConfigError(chat_format_error_);
  return chat_format_;
}

std::vector<int> Generator::encode(const Conversation& conversation) const {
  ChatTemplateOptions options;
  options.format = chat_format();
  return tokenizer_.encode_chat(conversation, options);
}

std::vector<int> Generator::encode(const std::string& raw_prompt) const {
  EncodeOptions options;
  options.parse_special = true;
  return tokenizer_.encode(raw_prompt, options);
}

std::vector<GenerateResult> Generator::generate(const std::vector<Conversation>& prompts, const GenerateOptions& options,
                                                const ProgressCallback& progress, const TokenCallback& on_token,
                                                const Prefix* prefix) const {
  std::vector<std::vector<int>> ids;
  for (const auto& c : prompts) ids.push_back(encode(c));
  return generate_tokens(ids, options, progress, on_token, prefix);
}

std::vector<GenerateResult> Generator::generate(const std::vector<std::string>& raw_prompts,
                                                const GenerateOptions& options, const ProgressCallback& progress,
                                                const TokenCallback& on_token, const Prefix* prefix) const {
  std::vector<std::vector<int>> ids;
  for (const auto& p : raw_prompts) ids.push_back(encode(p));
  return generate_tokens(ids, options, progress, on_token, prefix);
}

std::vector<GenerateResult> Generator::generate_tokens(const std::vector<std::vector<int>>& prompts,
                                                       const GenerateOptions& options, const ProgressCallback& progress,
                                                       const TokenCallback& on_token, const Prefix* prefix) const {
  return Impl{*this, model_, tokenizer_}.generate(prompts, options, progress, on_token, prefix);
}

OptionScores Generator::score_options(const std::vector<Conversation>& prompts,
                                      const std::vector<std::vector<std::string>>& labels,
                                      const ProgressCallback& progress, const Prefix* prefix,
                                      const std::vector<std::string>& adapters) const {
  const Impl impl{*this, model_, tokenizer_};
  std::vector<Impl::ScoredPrompt> scored;
  for (const auto& c : prompts) scored.push_back(impl.scored_conversation(c));
  return impl.score_options(scored, labels, progress, prefix, adapters);
}

OptionScores Generator::score_options_raw(const std::vector<std::string>& raw_prompts,
                                          const std::vector<std::vector<std::string>>& labels,
                                          const ProgressCallback& progress, const Prefix* prefix,
                                          const std::vector<std::string>& adapters) const {
  const Impl impl{*this, model_, tokenizer_};
  std::vector<Impl::ScoredPrompt> scored;
  for (const auto& p : raw_prompts) scored.push_back(impl.scored_raw(p));
  return impl.score_options(scored, labels, progress, prefix, adapters);
}

std::vector<ContinuationScore> Generator::score_continuations(const Conversation& prompt,
                                                              const std::vector<std::string>& continuations,
                                                              const ProgressCallback& progress) const {
  const Impl impl{*this, model_, tokenizer_};
  return impl.score_continuations(impl.scored_conversation(prompt), continuations, progress);
}

std::vector<ContinuationScore> Generator::score_continuations_raw(const std::string& raw_prompt,
                                                                  const std::vector<std::string>& continuations,
                                                                  const ProgressCallback& progress) const {
  const Impl impl{*this, model_, tokenizer_};
  return impl.score_continuations(impl.scored_raw(raw_prompt), continuations, progress);
}

Prefix Generator::prefix_create(const std::vector<int>& tokens, int64_t capacity) const {
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t context = model_.config().max_position_embeddings;
  if (n < 1) throw ValueError("prefix_create: the prefix has no tokens");
  if (capacity == 0) capacity = std::min(context, n + 512);
  if (capacity < n || capacity > context)
    throw ValueError("prefix_create: capacity " + std::to_string(capacity) + " outside " + std::to_string(n) +
                     ".." + std::to_string(context) + " (the prefix's tokens .. the model's context)");
  for (int t : tokens)
    if (t < 0 || t >= model_.config().vocab_size)
      throw ValueError("prefix_create: token id " + std::to_string(t) + " outside the model's vocabulary");
  c10::InferenceMode guard;
  Prefix prefix;
  prefix.tokens_ = tokens;
  prefix.cache_ = Impl{*this, model_, tokenizer_}.prefix_cache(tokens, n, capacity);
  return prefix;
}

Prefix Generator::prefix_create(const std::string& text, int64_t capacity) const {
  return prefix_create(encode(text), capacity);
}

}  // namespace culturespa

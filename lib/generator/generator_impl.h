// Generator::Impl: what Generator's calls share (the model, the tokenizer,
// prefix caches and grouping), declared here and defined by concern:
// generator.cpp (public calls, caches), scoring.cpp (score_options,
// score_continuations), scheduler.cpp (generate). The pure parts live in
// prefix_groups.h, option_scoring.h and sampling.h.
#pragma once

#include <ATen/core/Tensor.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "culturespa/generator/generator.h"
#include "option_scoring.h"
#include "prefix_groups.h"

namespace culturespa {
namespace generator_detail {

at::Tensor long_tensor(const std::vector<int64_t>& values);

// The right-padded [rows, T] batch of tokens[skip[r]:] of each row.
std::pair<at::Tensor, at::Tensor> batch_make(const std::vector<const std::vector<int>*>& rows,
                                             const std::vector<int64_t>& skip);

}  // namespace generator_detail

struct CULTURESPA_HIDDEN Generator::Impl {
  using Group = generator_detail::Group;
  using ScoreRow = generator_detail::ScoreRow;

  const Generator& g;
  const Model& model;
  const Tokenizer& tokenizer;

  int64_t context() const { return model.config().max_position_embeddings; }

  // The forward's per-row adapters argument: empty when no row has one.
  static std::vector<std::string> adapters_arg(std::vector<std::string> names) {
    for (const auto& name : names)
      if (!name.empty()) return names;
    return {};
  }

  // The KV cache (batch 1) of tokens[0..n), under LoRA `adapter` ("" = none).
  KVCache prefix_cache(const std::vector<int>& tokens, int64_t n, int64_t capacity,
                       const std::string& adapter = {}) const {
    KVCache cache = model.cache_create(1, capacity);
    std::vector<int64_t> ids(tokens.begin(), tokens.begin() + n);
    model.forward(generator_detail::long_tensor(ids).view({1, n}), {}, &cache, {}, adapters_arg({adapter}));
    return cache;
  }

  // A batch-1 cache holding the first `n` tokens of `tokens`, with room for
  // `capacity`: the caller's Prefix (computed without adapter) when it is
  // large enough, else computed.
  KVCache prefix_for(const Prefix* prefix, const std::vector<int>& tokens, int64_t n, int64_t capacity,
                     const std::string& adapter = {}) const {
    if (prefix && adapter.empty() && prefix->capacity() >= capacity) return prefix->cache_;
    return prefix_cache(tokens, n, capacity, adapter);
  }

  // A cache of `rows` sequences: each row r holds the first take[r] tokens
  // of the group's prefix (copied from `source`, batch 1), or empty.
  KVCache rows_cache(const KVCache* source, std::size_t rows, int64_t capacity,
                     const std::vector<int64_t>& take) const {
    if (!source) return model.cache_create(static_cast<int64_t>(rows), capacity);
    KVCache cache = *source;  // shares the tensor until keep() copies it
    cache.keep(std::vector<int64_t>(rows, 0));
    for (std::size_t r = 0; r < take.size(); ++r)
      if (take[r] < cache.length(static_cast<int64_t>(r))) cache.truncate(static_cast<int64_t>(r), take[r]);
    return cache;
  }

  // Groups for a call: every row in one group behind an explicit prefix,
  // else the automatic grouping.
  // With adapters a caller's Prefix (computed without one) gives way to the
  // automatic grouping.
  std::vector<Group> groups_for(const std::vector<const std::vector<int>*>& rows, const std::vector<int64_t>& limit,
                                const Prefix* prefix, const std::vector<std::string>& adapters) const {
    if (!prefix || !adapters_arg(adapters).empty())
      return generator_detail::rows_group(rows, limit, g.options_.prefix_reuse, g.options_.min_prefix_tokens, adapters);
    std::vector<Group> groups = generator_detail::rows_group(rows, limit, false, 0, {});
    if (!groups.empty()) groups[0].prefix = static_cast<int64_t>(prefix->tokens_.size());
    return groups;
  }

  // How much of the group prefix row `r` takes.
  static int64_t take_of(const Group& group, const Prefix* prefix, const std::vector<int>& row, int64_t limit) {
    if (!prefix) return group.prefix;
    return std::min(generator_detail::common_prefix(prefix->tokens_, row), limit);
  }

  // Per-prompt adapter names: none, or one per prompt (each loaded).
  void adapters_check(const std::vector<std::string>& adapters, std::size_t prompts, const std::string& what) const;

  // ---- scoring (scoring.cpp) ------------------------------------------------

  // Per row, the log-probabilities of its targets, position by position.
  // `reused` (when given) receives per row the tokens taken from a prefix.
  std::vector<std::vector<double>> score_rows(const std::vector<ScoreRow>& rows, const Prefix* prefix,
                                              ProgressReporter& reporter, std::vector<int64_t>* reused = nullptr) const;

  // A prompt to score: its ids, and how to encode it with an answer after it.
  struct ScoredPrompt {
    std::vector<int> ids;
    std::function<std::vector<int>(const std::string& answer)> encode_with;  // answer = lead + label
    std::function<std::string(const std::string& label)> lead;               // text before a label
  };

  ScoredPrompt scored_conversation(const Conversation& conversation) const;
  ScoredPrompt scored_raw(const std::string& raw) const;

  // A rendered chat prompt's ids, with encode_chat's BOS rule.
  std::vector<int> encode_rendered(const std::string& text) const;

  OptionScores score_options(const std::vector<ScoredPrompt>& prompts,
                             const std::vector<std::vector<std::string>>& labels, const ProgressCallback& progress,
                             const Prefix* prefix, const std::vector<std::string>& adapters) const;

  std::vector<ContinuationScore> score_continuations(const ScoredPrompt& prompt,
                                                     const std::vector<std::string>& continuations,
                                                     const ProgressCallback& progress) const;

  // ---- generation (scheduler.cpp) -------------------------------------------

  struct Sequence;
  std::vector<int> stop_ids_default() const;

  std::vector<GenerateResult> generate(const std::vector<std::vector<int>>& prompts, const GenerateOptions& o,
                                       const ProgressCallback& progress, const TokenCallback& on_token,
                                       const Prefix* prefix) const;

  // Generates for one group with a refilling scheduler: `batch` slots, and
  // with a prefix one more row that keeps it pristine for refills.
  void run_group(std::vector<Sequence>& seqs, const Group& group, const Prefix* prefix, int64_t capacity,
                 const GenerateOptions& o, const std::set<int>& stops, std::size_t longest_stop,
                 std::vector<GenerateResult>& results, ProgressReporter& reporter,
                 const TokenCallback& on_token) const;
};

}  // namespace culturespa

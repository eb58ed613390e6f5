// Option-scoring planning: which forward rows score every label of every
// prompt, and how their log-probabilities add up to each label's. Pure
// functions over token ids (no model), unit-tested in
// tests/generator/test_option_scoring.cpp; Generator::score_options runs the
// planned rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "culturespa/generator/generator.h"

namespace culturespa::generator_detail {

// One scoring row: `tokens` are run; at each of `positions` (indices into
// tokens) the log-probabilities of `targets` for the next token are read.
struct ScoreRow {
  std::string adapter;  // the LoRA adapter that runs it ("" = none)
  std::vector<int> tokens;
  std::vector<int64_t> positions;
  std::vector<std::vector<int>> targets;
};

// One prompt whose labels are scored.
struct OptionPrompt {
  std::vector<int> ids;                    // the prompt's tokens
  std::vector<std::string> labels;         // the label texts (error messages name them)
  std::vector<std::vector<int>> answered;  // per label: the prompt answered with it, encoded
  std::string adapter;                     // "" = none
};

struct OptionScorePlan {
  std::vector<ScoreRow> rows;
  // Per prompt and label: (row, offset of the value) pairs whose sum is the
  // label's log-probability.
  std::vector<std::vector<std::vector<std::pair<std::size_t, std::size_t>>>> parts;
  std::vector<std::size_t> main_rows;  // per prompt: the row that runs the prompt itself
  std::vector<std::vector<std::vector<int>>> label_tokens;  // per prompt and label: the tokens scored
};

// The rows that score `prompts` within a model context of `context` tokens:
// per prompt one main row (the prompt, then the answer path that covers the
// most labels) and one row per label off that path. ValueError
// for a prompt without labels or tokens, an empty label, labels adding no
// token or encoding alike, or a prompt beyond the context.
OptionScorePlan option_scores_plan(const std::vector<OptionPrompt>& prompts, int64_t context);

// The scores from the planned rows' values (per row, the log-probabilities
// of its targets, position by position) and the tokens each row reused.
OptionScores option_scores_combine(const OptionScorePlan& plan, const std::vector<std::vector<double>>& values,
                                   const std::vector<int64_t>& reused);

// ValueError when a prompt encodes to no tokens.
void prompt_check(const std::vector<int>& ids, std::size_t index);
// ValueError when prompt `index` of `tokens` tokens needs more than the
// model's `context` with `extra` more (`what` says why, e.g. "with its
// longest label").
void context_check(int64_t tokens, int64_t extra, std::size_t index, const std::string& what, int64_t context);

}  // namespace culturespa::generator_detail

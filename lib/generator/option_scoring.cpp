#include "option_scoring.h"

#include <algorithm>
#include <cmath>

#include "culturespa/core/error.h"
#include "prefix_groups.h"

namespace culturespa::generator_detail {
namespace {

std::vector<int> head(const std::vector<int>& tokens, int64_t n) {
  return {tokens.begin(), tokens.begin() + n};
}

}  // namespace

void prompt_check(const std::vector<int>& ids, std::size_t index) {
  if (ids.empty())
    throw ValueError("prompt " + std::to_string(index) +
                     " encodes to no tokens (a tokenizer without BOS needs a non-empty prompt)");
}

void context_check(int64_t tokens, int64_t extra, std::size_t index, const std::string& what, int64_t context) {
  if (tokens + extra > context)
    throw ValueError("prompt " + std::to_string(index) + " has " + std::to_string(tokens) + " tokens; " + what +
                     " it needs " + std::to_string(tokens + extra) +
                     " positions, beyond the model's context of " + std::to_string(context) +
                     " (max_position_embeddings): shorten the prompt");
}

OptionScorePlan option_scores_plan(const std::vector<OptionPrompt>& prompts, int64_t context) {
  OptionScorePlan plan;
  plan.parts.resize(prompts.size());
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const OptionPrompt& prompt = prompts[i];
    const auto& names = prompt.labels;
    if (names.empty()) throw ValueError("score_options: prompt " + std::to_string(i) + " has no labels");
    prompt_check(prompt.ids, i);
    std::vector<std::vector<int>> full;
    int64_t answer_at = static_cast<int64_t>(prompt.ids.size());
    for (const std::string& label : names) {
      if (label.empty()) throw ValueError("score_options: prompt " + std::to_string(i) + " has an empty label");
      full.push_back(prompt.answered[full.size()]);
      answer_at = std::min(answer_at, common_prefix(full.back(), prompt.ids));
    }
    if (answer_at < 1)
      throw ValueError("score_options: prompt " + std::to_string(i) +
                       " gives no context token before its answer (empty prompt without BOS)");
    std::vector<std::vector<int>> cont;
    for (std::size_t l = 0; l < names.size(); ++l) {
      cont.emplace_back(full[l].begin() + answer_at, full[l].end());
      if (cont.back().empty())
        throw ValueError("score_options: label '" + names[l] + "' adds no token to prompt " + std::to_string(i));
      for (std::size_t m = 0; m < l; ++m)
        if (cont[m] == cont[l])
          throw ValueError("score_options: labels '" + names[m] + "' and '" + names[l] + "' of prompt " +
                           std::to_string(i) + " encode to the same tokens");
    }
    int64_t longest = 0;
    for (const auto& c : cont) longest = std::max<int64_t>(longest, c.size());
    context_check(answer_at, longest, i, "with its longest label", context);
    // The main row runs the prompt and then a path of answer tokens; every
    // label whose tokens before its last lie on the path is read from it
    // (all one-token labels, and "10" = "1" "0" when "1" is on the path).
    // The path covers the most labels; the others get rows of their own.
    const auto covered = [](const std::vector<int>& c, const std::vector<int>& path) {
      return c.size() - 1 <= path.size() && std::equal(c.begin(), c.end() - 1, path.begin());
    };
    std::vector<int> path;
    std::size_t best = 0;
    for (const auto& c : cont) {
      const std::vector<int> candidate(c.begin(), c.end() - 1);
      std::size_t count = 0;
      for (const auto& other : cont) count += covered(other, candidate);
      if (count > best || (count == best && candidate.size() > path.size())) {
        best = count;
        path = candidate;
      }
    }
    ScoreRow main;
    main.tokens = head(prompt.ids, answer_at);
    main.tokens.insert(main.tokens.end(), path.begin(), path.end());
    main.targets.resize(path.size() + 1);
    for (std::size_t j = 0; j <= path.size(); ++j) main.positions.push_back(answer_at - 1 + static_cast<int64_t>(j));
    for (const auto& c : cont) {
      if (!covered(c, path)) continue;
      for (std::size_t j = 0; j < c.size(); ++j) {
        auto& at = main.targets[j];
        if (std::find(at.begin(), at.end(), c[j]) == at.end()) at.push_back(c[j]);
      }
    }
    std::vector<std::size_t> start(main.targets.size() + 1, 0);
    for (std::size_t j = 0; j < main.targets.size(); ++j) start[j + 1] = start[j] + main.targets[j].size();
    const std::size_t main_row = plan.rows.size();
    plan.main_rows.push_back(main_row);
    std::vector<ScoreRow> extras;
    plan.parts[i].resize(cont.size());
    for (std::size_t l = 0; l < cont.size(); ++l) {
      const auto& c = cont[l];
      if (covered(c, path)) {
        for (std::size_t j = 0; j < c.size(); ++j) {
          const auto& at = main.targets[j];
          plan.parts[i][l].push_back({main_row, start[j] + static_cast<std::size_t>(
                                                          std::find(at.begin(), at.end(), c[j]) - at.begin())});
        }
        continue;
      }
      ScoreRow extra;
      extra.tokens = head(full[l], answer_at + static_cast<int64_t>(c.size()) - 1);
      for (std::size_t j = 0; j < c.size(); ++j) {
        extra.positions.push_back(answer_at - 1 + static_cast<int64_t>(j));
        extra.targets.push_back({c[j]});
        plan.parts[i][l].push_back({main_row + 1 + extras.size(), j});
      }
      extras.push_back(std::move(extra));
    }
    main.adapter = prompt.adapter;
    plan.rows.push_back(std::move(main));
    for (auto& extra : extras) {
      extra.adapter = plan.rows.back().adapter;
      plan.rows.push_back(std::move(extra));
    }
    plan.label_tokens.push_back(std::move(cont));
  }
  return plan;
}

OptionScores option_scores_combine(const OptionScorePlan& plan, const std::vector<std::vector<double>>& values,
                                   const std::vector<int64_t>& reused) {
  OptionScores scores;
  scores.label_tokens = plan.label_tokens;
  for (std::size_t i = 0; i < plan.main_rows.size(); ++i) {
    scores.reused_tokens.push_back(reused[plan.main_rows[i]]);
    std::vector<double> lp;
    for (const auto& pieces : plan.parts[i]) {
      double sum = 0;
      for (const auto& [row, offset] : pieces) sum += values[row][offset];
      lp.push_back(sum);
    }
    const double top = *std::max_element(lp.begin(), lp.end());
    double total = 0;
    for (double v : lp) total += std::exp(v - top);
    std::vector<double> probs;
    for (double v : lp) probs.push_back(std::exp(v - top) / total);
    scores.allowed_mass.push_back(std::exp(top) * total);
    scores.argmax.push_back(std::max_element(lp.begin(), lp.end()) - lp.begin());
    scores.probs.push_back(std::move(probs));
    scores.logprobs.push_back(std::move(lp));
  }
  return scores;
}

}  // namespace culturespa::generator_detail

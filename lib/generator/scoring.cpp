// Generator's scoring calls: option labels (planned by option_scoring.h) and
// continuations, run as rows grouped by shared prefix.
#include <c10/core/InferenceMode.h>
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "culturespa/core/error.h"
#include "culturespa/text/chat_template.h"
#include "generator_impl.h"
#include "sampling.h"

namespace culturespa {

using generator_detail::batch_make;
using generator_detail::common_prefix;
using generator_detail::long_tensor;

std::vector<std::vector<double>> Generator::Impl::score_rows(const std::vector<ScoreRow>& rows, const Prefix* prefix,
                                            ProgressReporter& reporter, std::vector<int64_t>* reused) const {
  c10::InferenceMode guard;
  std::vector<std::vector<double>> out(rows.size());
  if (reused) reused->assign(rows.size(), 0);
  std::vector<const std::vector<int>*> tokens;
  std::vector<int64_t> limit;
  std::vector<std::string> adapters;
  for (const ScoreRow& row : rows) {
    tokens.push_back(&row.tokens);
    limit.push_back(*std::min_element(row.positions.begin(), row.positions.end()));
    adapters.push_back(row.adapter);
  }
  adapters = adapters_arg(std::move(adapters));
  if (!adapters.empty()) prefix = nullptr;  // see groups_for
  const int64_t batch = std::max<int64_t>(1, g.options_.batch_size);
  for (const Group& group : groups_for(tokens, limit, prefix, adapters)) {
    int64_t capacity = std::max<int64_t>(1, group.prefix);
    for (std::size_t r : group.members) capacity = std::max<int64_t>(capacity, rows[r].tokens.size());
    KVCache source;
    const bool shared = group.prefix > 0;
    if (shared)
      source = prefix_for(prefix, prefix ? prefix->tokens_ : rows[group.members[0]].tokens, group.prefix,
                          capacity, rows[group.members[0]].adapter);
    for (std::size_t start = 0; start < group.members.size(); start += static_cast<std::size_t>(batch)) {
      const std::size_t end = std::min(group.members.size(), start + static_cast<std::size_t>(batch));
      std::vector<const std::vector<int>*> chunk;
      std::vector<int64_t> take;
      std::vector<std::string> chunk_adapters;
      int64_t per_row = 1;
      for (std::size_t i = start; i < end; ++i) {
        const std::size_t r = group.members[i];
        chunk.push_back(&rows[r].tokens);
        chunk_adapters.push_back(rows[r].adapter);
        take.push_back(shared ? take_of(group, prefix, rows[r].tokens, limit[r]) : 0);
        if (reused) (*reused)[r] = take.back();
        per_row = std::max<int64_t>(per_row, rows[r].positions.size());
      }
      KVCache cache = rows_cache(shared ? &source : nullptr, chunk.size(), capacity, take);
      const auto [ids, lengths] = batch_make(chunk, take);
      at::Tensor at_positions = at::empty({static_cast<int64_t>(chunk.size()), per_row}, at::kLong);
      auto pos = at_positions.accessor<int64_t, 2>();
      std::vector<int64_t> flat;  // indices into the [rows, per_row, vocab] log-probabilities
      const int64_t vocab = model.config().vocab_size;
      for (std::size_t i = 0; i < chunk.size(); ++i) {
        const ScoreRow& row = rows[group.members[start + i]];
        for (int64_t j = 0; j < per_row; ++j) {
          const int64_t p = row.positions[std::min<std::size_t>(j, row.positions.size() - 1)];
          pos[i][j] = p - take[i];
        }
        for (std::size_t j = 0; j < row.positions.size(); ++j)
          for (int target : row.targets[j])
            flat.push_back((static_cast<int64_t>(i) * per_row + static_cast<int64_t>(j)) * vocab + target);
      }
      const at::Tensor logits = model.forward(ids, lengths, &cache, at_positions, adapters_arg(chunk_adapters));
      const at::Tensor picked =
          at::log_softmax(logits, -1).view(-1).index_select(0, long_tensor(flat).to(logits.device()));
      const at::Tensor values = picked.to(at::kCPU, at::kDouble).contiguous();
      const double* v = values.data_ptr<double>();
      for (int64_t j = 0; j < values.numel(); ++j)
        if (std::isnan(v[j]) || v[j] == std::numeric_limits<double>::infinity()) generator_detail::non_finite_logits(model.path());
      std::size_t k = 0;
      for (std::size_t i = 0; i < chunk.size(); ++i) {
        const ScoreRow& row = rows[group.members[start + i]];
        auto& dst = out[group.members[start + i]];
        for (const auto& targets : row.targets) {
          dst.insert(dst.end(), v + k, v + k + targets.size());
          k += targets.size();
        }
      }
      reporter.advance(chunk.size());
    }
  }
  return out;
}

Generator::Impl::ScoredPrompt Generator::Impl::scored_conversation(const Conversation& conversation) const {
  ChatTemplateOptions options;
  options.format = g.chat_format();
  const std::string rendered = tokenizer.apply_chat_template(conversation, options);
  ScoredPrompt p;
  p.ids = g.encode(conversation);
  p.encode_with = [this, rendered](const std::string& answer) { return encode_rendered(rendered + answer); };
  p.lead = [this, conversation, options, rendered](const std::string& label) {
    // What the template writes between its generation prompt and an
    // assistant answer `label` (e.g. LLaMA-2's " ").
    Conversation answered = conversation;
    answered.push_back({"assistant", label});
    ChatTemplateOptions closed = options;
    closed.add_generation_prompt = false;
    const std::string full = tokenizer.apply_chat_template(answered, closed);
    if (full.compare(0, rendered.size(), rendered) != 0) return std::string();
    const std::size_t at = full.find(label, rendered.size());
    return at == std::string::npos ? std::string() : full.substr(rendered.size(), at - rendered.size());
  };
  return p;
}

Generator::Impl::ScoredPrompt Generator::Impl::scored_raw(const std::string& raw) const {
  ScoredPrompt p;
  p.ids = g.encode(raw);
  p.encode_with = [this, raw](const std::string& answer) { return g.encode(raw + answer); };
  p.lead = [](const std::string&) { return std::string(); };
  return p;
}

std::vector<int> Generator::Impl::encode_rendered(const std::string& text) const {
  const std::string bos = tokenizer.bos_token();
  EncodeOptions options;
  options.add_special_tokens = bos.empty() || text.compare(0, bos.size(), bos) != 0;
  options.parse_special = true;
  return tokenizer.encode(text, options);
}

OptionScores Generator::Impl::score_options(const std::vector<ScoredPrompt>& prompts,
                                            const std::vector<std::vector<std::string>>& labels,
                                            const ProgressCallback& progress, const Prefix* prefix,
                                            const std::vector<std::string>& adapters) const {
  adapters_check(adapters, prompts.size(), "score_options");
  if (labels.size() != 1 && labels.size() != prompts.size())
    throw ValueError("score_options: labels must hold one list for all prompts or one per prompt (" +
                     std::to_string(prompts.size()) + "), got " + std::to_string(labels.size()));
  std::vector<generator_detail::OptionPrompt> options(prompts.size());
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    generator_detail::OptionPrompt& option = options[i];
    option.ids = prompts[i].ids;
    option.labels = labels.size() == 1 ? labels[0] : labels[i];
    for (const std::string& label : option.labels)
      option.answered.push_back(label.empty() ? std::vector<int>()
                                              : prompts[i].encode_with(prompts[i].lead(label) + label));
    option.adapter = adapters.empty() ? std::string() : adapters[i];
  }
  generator_detail::OptionScorePlan plan = generator_detail::option_scores_plan(options, context());
  ProgressReporter reporter(progress, "score", plan.rows.size());
  std::vector<int64_t> reused;
  const auto values = score_rows(plan.rows, prefix, reporter, &reused);
  OptionScores scores = generator_detail::option_scores_combine(plan, values, reused);
  reporter.report();
  return scores;
}

std::vector<ContinuationScore> Generator::Impl::score_continuations(const ScoredPrompt& prompt,
                                                   const std::vector<std::string>& continuations,
                                                   const ProgressCallback& progress) const {
  generator_detail::prompt_check(prompt.ids, 0);
  std::vector<ScoreRow> rows;
  std::vector<std::size_t> row_of;  // continuation -> row, or npos for one adding no token
  for (std::size_t c = 0; c < continuations.size(); ++c) {
    const std::vector<int> full = prompt.encode_with(continuations[c]);
    const int64_t start = std::min(common_prefix(full, prompt.ids), static_cast<int64_t>(prompt.ids.size()));
    const int64_t n = static_cast<int64_t>(full.size());
    if (start >= n) {
      row_of.push_back(std::string::npos);
      continue;
    }
    if (start < 1) throw ValueError("score_continuations: the prompt gives no context token (empty prompt without BOS)");
    if (n > context())
      throw ValueError("score_continuations: the prompt with continuation " + std::to_string(c) + " has " +
                       std::to_string(n) + " tokens, beyond the model's context of " + std::to_string(context()));
    ScoreRow row;
    row.tokens.assign(full.begin(), full.begin() + (n - 1));
    for (int64_t p = start - 1; p < n - 1; ++p) {
      row.positions.push_back(p);
      row.targets.push_back({full[p + 1]});
    }
    row_of.push_back(rows.size());
    rows.push_back(std::move(row));
  }
  ProgressReporter reporter(progress, "score", rows.size());
  const auto values = score_rows(rows, nullptr, reporter);
  std::vector<ContinuationScore> out;
  for (std::size_t r : row_of) {
    ContinuationScore s;
    if (r != std::string::npos) {
      s.tokens = static_cast<int64_t>(values[r].size());
      for (double v : values[r]) s.logprob += v;
    }
    out.push_back(s);
  }
  reporter.report();
  return out;
}

}  // namespace culturespa

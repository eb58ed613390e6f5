#include "culturespa/generator/generator.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

#include "culturespa/core/error.h"
#include "culturespa/generator/json_constraint.h"
#include "culturespa/text/chat_template.h"

namespace culturespa {
namespace {

// splitmix64's finaliser: a counter-based random stream, so that prompt i's
// draw at step s is the same whatever else runs beside it.
uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

double uniform_at(uint64_t seed, uint64_t prompt, uint64_t step) {
  const uint64_t x = splitmix64(splitmix64(splitmix64(seed) ^ prompt) ^ step);
  return static_cast<double>(x >> 11) * 0x1.0p-53;
}

int64_t common_prefix(const std::vector<int>& a, const std::vector<int>& b) {
  const std::size_t n = std::min(a.size(), b.size());
  std::size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return static_cast<int64_t>(i);
}

std::vector<int> head(const std::vector<int>& tokens, int64_t n) {
  return {tokens.begin(), tokens.begin() + n};
}

at::Tensor long_tensor(const std::vector<int64_t>& values) { return at::tensor(values, at::kLong); }

// Rows that share a start of `prefix` tokens, computed once for the group.
struct Group {
  std::vector<std::size_t> members;  // row indices, shortest first
  int64_t prefix = 0;
};

// Splits the sorted rows order[lo, hi) into groups that save the most
// tokens: a group of n rows sharing s tokens computes them once instead of n
// times, saving (n - 1) * s. `shared[i]` is what rows order[i] and
// order[i + 1] may share (their common start, capped by both limits); a
// group shares the minimum over its neighbours. Either [lo, hi) is one group
// or it splits where that minimum is, so that culture-aware prompts group by
// culture (system prompt and instructions shared) rather than all together
// behind the few tokens every culture's system prompt starts with.
// Splitting stops `depth` levels down (rows then group as they are), which
// bounds the stack and the time on adversarial orders.
int64_t rows_split(const std::vector<std::size_t>& order, const std::vector<int64_t>& shared, std::size_t lo,
                   std::size_t hi, int64_t min_prefix, std::vector<Group>& groups, Group& rest, int depth = 64) {
  if (hi - lo < 2 || depth == 0) {
    const int64_t common = hi - lo < 2 ? 0 : *std::min_element(shared.begin() + lo, shared.begin() + hi - 1);
    if (common >= min_prefix) {
      groups.push_back({{order.begin() + lo, order.begin() + hi}, common});
      return static_cast<int64_t>(hi - lo - 1) * common;
    }
    rest.members.insert(rest.members.end(), order.begin() + lo, order.begin() + hi);
    return 0;
  }
  const auto weakest = std::min_element(shared.begin() + lo, shared.begin() + hi - 1);
  const int64_t common = *weakest;
  const std::size_t cut = static_cast<std::size_t>(weakest - shared.begin()) + 1;
  std::vector<Group> split_groups;
  Group split_rest;
  const int64_t split_saving = rows_split(order, shared, lo, cut, min_prefix, split_groups, split_rest, depth - 1) +
                               rows_split(order, shared, cut, hi, min_prefix, split_groups, split_rest, depth - 1);
  const int64_t whole_saving = common >= min_prefix ? static_cast<int64_t>(hi - lo - 1) * common : 0;
  if (whole_saving > 0 && whole_saving >= split_saving) {
    groups.push_back({{order.begin() + lo, order.begin() + hi}, common});
    return whole_saving;
  }
  groups.insert(groups.end(), split_groups.begin(), split_groups.end());
  rest.members.insert(rest.members.end(), split_rest.members.begin(), split_rest.members.end());
  return split_saving;
}

// Groups rows by a shared start (rows_split on the rows sorted
// lexicographically); rows in no group form one group without a prefix.
// Each group lists its rows by length so batches pad little. With LoRA
// `adapters` (per row, "" = none), a shared start is shared only by rows of
// one adapter (its keys and values depend on the adapter); the rest mix.
std::vector<Group> rows_group(const std::vector<const std::vector<int>*>& rows, const std::vector<int64_t>& limit,
                              bool reuse, int64_t min_prefix, const std::vector<std::string>& adapters) {
  const auto adapter = [&](std::size_t r) { return adapters.empty() ? std::string() : adapters[r]; };
  std::vector<std::size_t> order(rows.size());
  std::iota(order.begin(), order.end(), 0);
  std::vector<Group> groups;
  Group rest;
  if (reuse && !order.empty()) {
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      const std::string adapter_a = adapter(a), adapter_b = adapter(b);
      return adapter_a != adapter_b ? adapter_a < adapter_b : *rows[a] < *rows[b];
    });
    std::vector<int64_t> shared(order.size() - 1);
    for (std::size_t i = 0; i + 1 < order.size(); ++i)
      shared[i] = adapter(order[i]) != adapter(order[i + 1])
                      ? 0
                      : std::min({common_prefix(*rows[order[i]], *rows[order[i + 1]]), limit[order[i]],
                                  limit[order[i + 1]]});
    rows_split(order, shared, 0, order.size(), std::max<int64_t>(min_prefix, 1), groups, rest);
  } else {
    rest.members = order;
  }
  if (!rest.members.empty()) groups.push_back(std::move(rest));
  for (Group& g : groups)
    std::stable_sort(g.members.begin(), g.members.end(),
                     [&](std::size_t a, std::size_t b) { return rows[a]->size() < rows[b]->size(); });
  return groups;
}

// One scoring row: `tokens` are run; at each of `positions` (indices into
// tokens) the log-probabilities of `targets` for the next token are read.
struct ScoreRow {
  std::string adapter;  // the LoRA adapter that runs it ("" = none)
  std::vector<int> tokens;
  std::vector<int64_t> positions;
  std::vector<std::vector<int>> targets;
};

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

void options_check(const GenerateOptions& o) {
  auto bad = [](const std::string& what) { throw ValueError("GenerateOptions: " + what); };
  if (o.max_new_tokens < 0) bad("max_new_tokens must be >= 0, got " + std::to_string(o.max_new_tokens));
  if (!(o.temperature >= 0)) bad("temperature must be >= 0, got " + std::to_string(o.temperature));
  if (!(o.top_p > 0 && o.top_p <= 1)) bad("top_p must be in (0, 1], got " + std::to_string(o.top_p));
  if (o.top_k < 0) bad("top_k must be >= 0, got " + std::to_string(o.top_k));
  if (!(o.min_p >= 0 && o.min_p <= 1)) bad("min_p must be in [0, 1], got " + std::to_string(o.min_p));
  if (!(o.repetition_penalty > 0))
    bad("repetition_penalty must be > 0, got " + std::to_string(o.repetition_penalty));
  for (const auto& s : o.stop_strings)
    if (s.empty()) bad("stop_strings must not contain an empty string");
}

// NaN or Inf logits come from NaN/Inf weights or an overflowing compute
// dtype; sampling or scoring them would give silent garbage (NaN
// distributions, token 0), so they stop the call with a named error.
[[noreturn]] void non_finite_logits(const std::string& model_path) {
  throw Error("the model's logits hold NaN or Inf (" + model_path +
              "): its weights hold NaN/Inf values or the compute dtype overflowed; check the checkpoint "
              "or load it in float32");
}

}  // namespace

std::string stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::length: return "length";
    case StopReason::stop_token: return "stop_token";
    case StopReason::stop_string: return "stop_string";
    case StopReason::complete: return "complete";
  }
  return "length";
}

// ---------------------------------------------------------------------------

struct Generator::Impl {
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
    model.forward(long_tensor(ids).view({1, n}), {}, &cache, {}, adapters_arg({adapter}));
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
      return rows_group(rows, limit, g.options_.prefix_reuse, g.options_.min_prefix_tokens, adapters);
    std::vector<Group> groups = rows_group(rows, limit, false, 0, {});
    if (!groups.empty()) groups[0].prefix = static_cast<int64_t>(prefix->tokens_.size());
    return groups;
  }

  // How much of the group prefix row `r` takes.
  static int64_t take_of(const Group& group, const Prefix* prefix, const std::vector<int>& row, int64_t limit) {
    if (!prefix) return group.prefix;
    return std::min(common_prefix(prefix->tokens_, row), limit);
  }

  // ---- scoring --------------------------------------------------------------

  // Per row, the log-probabilities of its targets, position by position.
  // `reused` (when given) receives per row the tokens taken from a prefix.
  std::vector<std::vector<double>> score_rows(const std::vector<ScoreRow>& rows, const Prefix* prefix,
                                              ProgressReporter& reporter, std::vector<int64_t>* reused = nullptr) const {
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
          if (std::isnan(v[j]) || v[j] == std::numeric_limits<double>::infinity()) non_finite_logits(model.path());
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

  // A prompt to score: its ids, and how to encode it with an answer after it.
  struct ScoredPrompt {
    std::vector<int> ids;
    std::function<std::vector<int>(const std::string& answer)> encode_with;  // answer = lead + label
    std::function<std::string(const std::string& label)> lead;               // text before a label
  };

  ScoredPrompt scored_conversation(const Conversation& conversation) const {
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

  ScoredPrompt scored_raw(const std::string& raw) const {
    ScoredPrompt p;
    p.ids = g.encode(raw);
    p.encode_with = [this, raw](const std::string& answer) { return g.encode(raw + answer); };
    p.lead = [](const std::string&) { return std::string(); };
    return p;
  }

  // A rendered chat prompt's ids, with encode_chat's BOS rule.
  std::vector<int> encode_rendered(const std::string& text) const {
    const std::string bos = tokenizer.bos_token();
    EncodeOptions options;
    options.add_special_tokens = bos.empty() || text.compare(0, bos.size(), bos) != 0;
    options.parse_special = true;
    return tokenizer.encode(text, options);
  }

  static void prompt_check(const std::vector<int>& ids, std::size_t index) {
    if (ids.empty())
      throw ValueError("prompt " + std::to_string(index) +
                       " encodes to no tokens (a tokenizer without BOS needs a non-empty prompt)");
  }

  // Per-prompt adapter names: none, or one per prompt (each loaded).
  void adapters_check(const std::vector<std::string>& adapters, std::size_t prompts, const std::string& what) const {
    if (!adapters.empty() && adapters.size() != prompts)
      throw ValueError(what + ": adapters has " + std::to_string(adapters.size()) + " names for " +
                       std::to_string(prompts) + " prompts (one per prompt, \"\" for none)");
    const std::vector<std::string> loaded = model.adapter_names();
    for (std::size_t i = 0; i < adapters.size(); ++i)
      if (!adapters[i].empty() && !std::binary_search(loaded.begin(), loaded.end(), adapters[i]))
        throw ValueError(what + ": prompt " + std::to_string(i) + " asks for adapter '" + adapters[i] +
                         "', which the model has not loaded");
  }

  void context_check(int64_t tokens, int64_t extra, std::size_t index, const std::string& what) const {
    if (tokens + extra > context())
      throw ValueError("prompt " + std::to_string(index) + " has " + std::to_string(tokens) + " tokens; " + what +
                       " it needs " + std::to_string(tokens + extra) +
                       " positions, beyond the model's context of " + std::to_string(context()) +
                       " (max_position_embeddings): shorten the prompt");
  }

  OptionScores score_options(const std::vector<ScoredPrompt>& prompts,
                             const std::vector<std::vector<std::string>>& labels, const ProgressCallback& progress,
                             const Prefix* prefix, const std::vector<std::string>& adapters) const {
    adapters_check(adapters, prompts.size(), "score_options");
    if (labels.size() != 1 && labels.size() != prompts.size())
      throw ValueError("score_options: labels must hold one list for all prompts or one per prompt (" +
                       std::to_string(prompts.size()) + "), got " + std::to_string(labels.size()));
    OptionScores scores;
    std::vector<ScoreRow> rows;
    // Per prompt and label: (row, offset of the value) pairs whose sum is the label's log-probability.
    std::vector<std::vector<std::vector<std::pair<std::size_t, std::size_t>>>> parts(prompts.size());
    std::vector<std::size_t> main_rows;  // per prompt: the row that runs the prompt itself
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      const ScoredPrompt& prompt = prompts[i];
      const auto& names = labels.size() == 1 ? labels[0] : labels[i];
      if (names.empty()) throw ValueError("score_options: prompt " + std::to_string(i) + " has no labels");
      prompt_check(prompt.ids, i);
      std::vector<std::vector<int>> full;
      int64_t answer_at = static_cast<int64_t>(prompt.ids.size());
      for (const std::string& label : names) {
        if (label.empty()) throw ValueError("score_options: prompt " + std::to_string(i) + " has an empty label");
        full.push_back(prompt.encode_with(prompt.lead(label) + label));
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
      context_check(answer_at, longest, i, "with its longest label");
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
      const std::size_t main_row = rows.size();
      main_rows.push_back(main_row);
      std::vector<ScoreRow> extras;
      parts[i].resize(cont.size());
      for (std::size_t l = 0; l < cont.size(); ++l) {
        const auto& c = cont[l];
        if (covered(c, path)) {
          for (std::size_t j = 0; j < c.size(); ++j) {
            const auto& at = main.targets[j];
            parts[i][l].push_back({main_row, start[j] + static_cast<std::size_t>(
                                                            std::find(at.begin(), at.end(), c[j]) - at.begin())});
          }
          continue;
        }
        ScoreRow extra;
        extra.tokens = head(full[l], answer_at + static_cast<int64_t>(c.size()) - 1);
        for (std::size_t j = 0; j < c.size(); ++j) {
          extra.positions.push_back(answer_at - 1 + static_cast<int64_t>(j));
          extra.targets.push_back({c[j]});
          parts[i][l].push_back({main_row + 1 + extras.size(), j});
        }
        extras.push_back(std::move(extra));
      }
      main.adapter = adapters.empty() ? std::string() : adapters[i];
      rows.push_back(std::move(main));
      for (auto& extra : extras) {
        extra.adapter = rows.back().adapter;
        rows.push_back(std::move(extra));
      }
      scores.label_tokens.push_back(std::move(cont));
    }
    ProgressReporter reporter(progress, "score", rows.size());
    std::vector<int64_t> reused;
    const auto values = score_rows(rows, prefix, reporter, &reused);
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      scores.reused_tokens.push_back(reused[main_rows[i]]);
      std::vector<double> lp;
      for (const auto& pieces : parts[i]) {
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
    reporter.report();
    return scores;
  }

  std::vector<ContinuationScore> score_continuations(const ScoredPrompt& prompt,
                                                     const std::vector<std::string>& continuations,
                                                     const ProgressCallback& progress) const {
    prompt_check(prompt.ids, 0);
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
      row.tokens = head(full, n - 1);
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

  // ---- generation -----------------------------------------------------------

  struct Sequence {
    std::size_t index = 0;  // the caller's numbering
    const std::vector<int>* prompt = nullptr;
    int64_t take = 0;       // tokens copied from the group prefix
    std::vector<int> generated;
    std::vector<float> logprobs;
    std::unique_ptr<IncrementalDecoder> decoder;
    std::string text;
    JsonConstraint::State constraint_state;  // with GenerateOptions::constraint
  };

  std::vector<int> stop_ids_default() const {
    std::vector<int> ids = tokenizer.stop_ids();
    std::string format;
    try {
      format = g.chat_format();
    } catch (const ConfigError&) {
      format.clear();  // raw prompts on a tokenizer without a template
    }
    if (!format.empty())
      for (const std::string& text : chat_format_stop_tokens(format))
        if (auto id = tokenizer.token_to_id(text)) ids.push_back(*id);
    for (int64_t id : model.config().generation.eos_token_ids) ids.push_back(static_cast<int>(id));
    return ids;
  }

  // [n, vocab] bool on `device`: the tokens each sequence's constraint allows.
  static at::Tensor constraint_mask(const JsonConstraint& constraint, const std::vector<Sequence*>& seqs,
                                    int64_t vocab, const at::Device& device) {
    const int64_t n = static_cast<int64_t>(seqs.size());
    const int64_t known = std::min<int64_t>(vocab, constraint.vocab_size());
    at::Tensor mask = at::zeros({n, vocab}, at::kByte);
    uint8_t* data = mask.data_ptr<uint8_t>();
    for (int64_t r = 0; r < n; ++r) {
      const auto& allowed = constraint.allowed(seqs[r]->constraint_state);
      std::copy(allowed.begin(), allowed.begin() + known, data + r * vocab);
    }
    return mask.to(device).to(at::kBool);
  }

  // The next token of each row of `logits` [n, vocab] (device), and its
  // log-probability under the model when asked.
  std::pair<std::vector<int>, std::vector<float>> tokens_choose(const at::Tensor& logits,
                                                                const std::vector<Sequence*>& seqs,
                                                                const GenerateOptions& o) const {
    const int64_t n = logits.size(0), vocab = logits.size(1);
    const auto device = logits.device();
    if (!at::isfinite(logits).all().item<bool>()) non_finite_logits(model.path());
    at::Tensor scores = logits;
    if (o.repetition_penalty != 1.0) {
      std::size_t width = 1;
      for (const Sequence* s : seqs) width = std::max(width, s->prompt->size() + s->generated.size());
      at::Tensor seen = at::empty({n, static_cast<int64_t>(width)}, at::kLong);
      auto a = seen.accessor<int64_t, 2>();
      for (int64_t r = 0; r < n; ++r) {
        const Sequence& s = *seqs[r];
        std::size_t k = 0;
        for (int t : *s.prompt) a[r][k++] = t;
        for (int t : s.generated) a[r][k++] = t;
        for (; k < width; ++k) a[r][k] = a[r][0];  // repeats change nothing
      }
      seen = seen.to(device);
      const at::Tensor picked = scores.gather(1, seen);
      const at::Tensor penalised =
          at::where(picked < 0, picked * o.repetition_penalty, picked / o.repetition_penalty);
      scores = scores.scatter(1, seen, penalised);
    }
    if (o.constraint) scores = scores.masked_fill(constraint_mask(*o.constraint, seqs, vocab, device).logical_not(),
                                                  -std::numeric_limits<double>::infinity());
    at::Tensor chosen;
    if (o.temperature == 0.0) {
      chosen = scores.argmax(-1, true);
    } else {
      scores = scores / o.temperature;
      if (o.top_k > 0 && o.top_k < vocab) {
        const at::Tensor kth = std::get<0>(scores.topk(o.top_k, -1)).narrow(1, o.top_k - 1, 1);
        scores = scores.masked_fill(scores < kth, -std::numeric_limits<double>::infinity());
      }
      const auto [sorted, order] = scores.sort(true, -1, true);
      at::Tensor probs = at::softmax(sorted, -1);
      if (o.top_p < 1.0) probs.masked_fill_((probs.cumsum(-1) - probs) >= o.top_p, 0.0);
      if (o.min_p > 0.0) probs.masked_fill_(probs < probs.narrow(1, 0, 1) * o.min_p, 0.0);
      const at::Tensor cumulative = probs.cumsum(-1);
      std::vector<double> draws;
      for (const Sequence* s : seqs)
        draws.push_back(o.prompt_seeds.empty() ? uniform_at(o.seed, s->index, s->generated.size())
                                               : uniform_at(o.prompt_seeds[s->index], 0, s->generated.size()));
      const at::Tensor target =
          at::tensor(draws, at::kDouble).to(device, at::kFloat).unsqueeze(1) * cumulative.narrow(1, vocab - 1, 1);
      const at::Tensor rank = (cumulative <= target).sum(-1, true).clamp_max(vocab - 1);
      chosen = order.gather(1, rank);
    }
    std::vector<float> lps;
    if (o.logprobs) {
      const at::Tensor lp = at::log_softmax(logits, -1).gather(1, chosen).to(at::kCPU).contiguous();
      lps.assign(lp.data_ptr<float>(), lp.data_ptr<float>() + n);
    }
    const at::Tensor ids = chosen.to(at::kCPU, at::kLong).contiguous();
    return {std::vector<int>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + n), lps};
  }

  std::vector<GenerateResult> generate(const std::vector<std::vector<int>>& prompts, const GenerateOptions& o,
                                       const ProgressCallback& progress, const TokenCallback& on_token,
                                       const Prefix* prefix) const {
    options_check(o);
    if (o.constraint && o.constraint->vocab_size() != tokenizer.vocab_size())
      throw ValueError("GenerateOptions: the constraint was built for a vocabulary of " +
                       std::to_string(o.constraint->vocab_size()) + " ids, this generator's tokenizer has " +
                       std::to_string(tokenizer.vocab_size()) + " (build it with the same tokenizer)");
    adapters_check(o.adapters, prompts.size(), "generate");
    if (!o.prompt_seeds.empty() && o.prompt_seeds.size() != prompts.size())
      throw ValueError("GenerateOptions: prompt_seeds has " + std::to_string(o.prompt_seeds.size()) +
                       " seeds for " + std::to_string(prompts.size()) + " prompts");
    std::vector<GenerateResult> results(prompts.size());
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      prompt_check(prompts[i], i);
      for (int t : prompts[i])
        if (t < 0 || t >= model.config().vocab_size)
          throw ValueError("prompt " + std::to_string(i) + ": token id " + std::to_string(t) +
                           " outside the model's vocabulary 0.." + std::to_string(model.config().vocab_size - 1));
      context_check(static_cast<int64_t>(prompts[i].size()), o.max_new_tokens, i,
                    "with max_new_tokens " + std::to_string(o.max_new_tokens));
      results[i].prompt_tokens = static_cast<int64_t>(prompts[i].size());
    }
    ProgressReporter reporter(progress, "generate", prompts.size());
    if (prompts.empty() || o.max_new_tokens == 0) {
      reporter.advance(prompts.size());
      return results;
    }
    if (o.stop_ids)
      for (int id : *o.stop_ids)
        if (id < 0 || id >= model.config().vocab_size)
          throw ValueError("GenerateOptions: stop id " + std::to_string(id) + " is outside the model's vocabulary 0.." +
                           std::to_string(model.config().vocab_size - 1));
    const std::vector<int> stops = o.stop_ids ? *o.stop_ids : stop_ids_default();
    const std::set<int> stop_set(stops.begin(), stops.end());
    std::size_t longest_stop = 0;
    for (const auto& s : o.stop_strings) longest_stop = std::max(longest_stop, s.size());

    std::vector<const std::vector<int>*> rows;
    std::vector<int64_t> limit;
    for (const auto& p : prompts) {
      rows.push_back(&p);
      limit.push_back(static_cast<int64_t>(p.size()) - 1);
    }
    c10::InferenceMode guard;
    DecodeOptions decode_options;
    decode_options.skip_special_tokens = true;
    const std::vector<std::string> adapters = adapters_arg(o.adapters);
    if (!adapters.empty()) prefix = nullptr;  // see groups_for
    for (const Group& group : groups_for(rows, limit, prefix, adapters)) {
      std::vector<Sequence> seqs(group.members.size());
      int64_t capacity = std::max<int64_t>(1, group.prefix);
      for (std::size_t k = 0; k < group.members.size(); ++k) {
        Sequence& s = seqs[k];
        s.index = group.members[k];
        s.prompt = rows[s.index];
        s.take = group.prefix > 0 ? take_of(group, prefix, *s.prompt, limit[s.index]) : 0;
        s.decoder = std::make_unique<IncrementalDecoder>(tokenizer, decode_options);
        if (o.constraint) s.constraint_state = o.constraint->start();
        capacity = std::max<int64_t>(capacity, static_cast<int64_t>(s.prompt->size()) + o.max_new_tokens);
      }
      run_group(seqs, group, prefix, capacity, o, stop_set, longest_stop, results, reporter, on_token);
    }
    reporter.report();
    return results;
  }

  // Generates for one group with a refilling scheduler: `batch` slots, and
  // with a prefix one more row that keeps it pristine for refills.
  void run_group(std::vector<Sequence>& seqs, const Group& group, const Prefix* prefix, int64_t capacity,
                 const GenerateOptions& o, const std::set<int>& stops, std::size_t longest_stop,
                 std::vector<GenerateResult>& results, ProgressReporter& reporter,
                 const TokenCallback& on_token) const {
    const int64_t batch = std::min<int64_t>(std::max<int64_t>(1, g.options_.batch_size), seqs.size());
    bool pristine = group.prefix > 0;
    KVCache cache;
    if (pristine) {
      const KVCache source = prefix_for(prefix, prefix ? prefix->tokens_ : *seqs[0].prompt, group.prefix, capacity,
                                        o.adapters.empty() ? std::string() : o.adapters[seqs[0].index]);
      cache = rows_cache(&source, static_cast<std::size_t>(batch + 1), capacity, {});
    } else {
      cache = model.cache_create(batch, capacity);
    }
    std::vector<Sequence*> slot(static_cast<std::size_t>(batch), nullptr);  // the pristine row is not a slot
    std::size_t waiting = 0, active = 0;
    auto all_tokens_size = [](const Sequence& s) { return s.prompt->size() + s.generated.size(); };
    auto token_at = [](const Sequence& s, std::size_t i) {
      return i < s.prompt->size() ? (*s.prompt)[i] : s.generated[i - s.prompt->size()];
    };
    while (waiting < seqs.size() || active > 0) {
      std::size_t free = 0;
      for (Sequence* s : slot) free += s == nullptr;
      if (waiting < seqs.size() && (2 * free >= slot.size() || active == 0)) {
        for (std::size_t r = 0; r < slot.size() && waiting < seqs.size(); ++r) {
          if (slot[r]) continue;
          Sequence& s = seqs[waiting++];
          slot[r] = &s;
          ++active;
          if (pristine) {
            cache.copy_prefix(static_cast<int64_t>(slot.size()), {static_cast<int64_t>(r)}, s.take);
          } else {
            cache.truncate(static_cast<int64_t>(r), 0);
          }
        }
      }
      if (waiting == seqs.size()) {
        // Nothing left to refill: drop the idle rows and the pristine one.
        std::vector<int64_t> keep;
        std::vector<Sequence*> kept;
        for (std::size_t r = 0; r < slot.size(); ++r)
          if (slot[r]) keep.push_back(static_cast<int64_t>(r)), kept.push_back(slot[r]);
        if (keep.size() != slot.size() || pristine) {
          if (!keep.empty()) cache.keep(keep);
          slot = std::move(kept);
          pristine = false;
        }
      }
      if (active == 0) break;
      // One step: prompts being prefilled run their remaining prompt tokens,
      // the others their last new token; idle rows run a dummy token that
      // is then forgotten.
      const std::size_t n_rows = static_cast<std::size_t>(cache.batch());
      std::vector<std::vector<int>> feed(n_rows);
      std::vector<int64_t> idle_length(n_rows, -1);
      for (std::size_t r = 0; r < n_rows; ++r) {
        const Sequence* s = r < slot.size() ? slot[r] : nullptr;
        const int64_t have = cache.length(static_cast<int64_t>(r));
        if (!s) {
          idle_length[r] = have;
          feed[r] = {0};
          continue;
        }
        for (std::size_t i = static_cast<std::size_t>(have); i < all_tokens_size(*s); ++i) feed[r].push_back(token_at(*s, i));
      }
      std::vector<const std::vector<int>*> feed_rows;
      for (const auto& f : feed) feed_rows.push_back(&f);
      const auto [ids, lengths] = batch_make(feed_rows, std::vector<int64_t>(n_rows, 0));
      std::vector<std::string> feed_adapters(n_rows);  // idle rows run without one
      if (!o.adapters.empty())
        for (std::size_t r = 0; r < slot.size() && r < n_rows; ++r)
          if (slot[r]) feed_adapters[r] = o.adapters[slot[r]->index];
      const at::Tensor logits = model.forward(ids, lengths, &cache, {}, adapters_arg(feed_adapters));
      std::vector<int64_t> busy;
      std::vector<Sequence*> busy_seqs;
      for (std::size_t r = 0; r < n_rows; ++r) {
        if (idle_length[r] >= 0) {
          cache.truncate(static_cast<int64_t>(r), idle_length[r]);
        } else {
          busy.push_back(static_cast<int64_t>(r));
          busy_seqs.push_back(slot[r]);
        }
      }
      const at::Tensor index = long_tensor(busy).to(logits.device());
      const auto [next, lps] = tokens_choose(logits.index_select(0, index), busy_seqs, o);
      for (std::size_t k = 0; k < busy.size(); ++k) {
        Sequence& s = *busy_seqs[k];
        const int token = next[k];
        std::optional<StopReason> reason;
        if (o.constraint && !s.constraint_state.complete() &&
            !o.constraint->advance(s.constraint_state, token)) {
          throw Error("constrained generation sampled token " + std::to_string(token) +
                      ", which its constraint does not allow");  // the mask makes this unreachable
        }
        if (stops.count(token)) {
          reason = StopReason::stop_token;
        } else {
          s.generated.push_back(token);
          if (o.logprobs) s.logprobs.push_back(lps[k]);
          const std::size_t before = s.text.size();
          const std::string piece = s.decoder->push(token);
          s.text += piece;
          if (on_token) on_token(s.index, token, piece);
          std::size_t cut = std::string::npos;
          const std::size_t from = before >= longest_stop ? before - longest_stop + 1 : 0;
          for (const auto& stop : o.stop_strings) cut = std::min(cut, s.text.find(stop, from));
          if (cut != std::string::npos) {
            s.text.resize(cut);
            reason = StopReason::stop_string;
          } else if (o.constraint && s.constraint_state.complete()) {
            reason = StopReason::complete;
          } else if (static_cast<int64_t>(s.generated.size()) >= o.max_new_tokens) {
            reason = StopReason::length;
          }
        }
        if (!reason) continue;
        if (*reason != StopReason::stop_string) {
          const std::string rest = s.decoder->flush();  // an unfinished character, as U+FFFD
          s.text += rest;
          if (on_token && !rest.empty()) on_token(s.index, -1, rest);
        }
        GenerateResult& result = results[s.index];
        result.text = std::move(s.text);
        result.tokens = std::move(s.generated);
        result.logprobs = std::move(s.logprobs);
        result.stop_reason = *reason;
        s.decoder.reset();
        slot[static_cast<std::size_t>(busy[k])] = nullptr;
        --active;
        reporter.advance();
      }
      reporter.check();
    }
  }
};

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

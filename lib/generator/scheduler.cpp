// Generator::generate: a refilling scheduler per prefix group; each step runs
// the model on every active sequence and samples (sampling.h).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "culturespa/core/error.h"
#include "culturespa/text/chat_template.h"
#include "generator_impl.h"
#include "sampling.h"

namespace culturespa {
namespace {

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

}  // namespace

using generator_detail::batch_make;
using generator_detail::long_tensor;

struct Generator::Impl::Sequence {
  std::size_t index = 0;  // the caller's numbering
  const std::vector<int>* prompt = nullptr;
  int64_t take = 0;       // tokens copied from the group prefix
  std::vector<int> generated;
  std::vector<float> logprobs;
  std::unique_ptr<IncrementalDecoder> decoder;
  std::string text;
  JsonConstraint::State constraint_state;  // with GenerateOptions::constraint
};


std::vector<int> Generator::Impl::stop_ids_default() const {
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

std::vector<GenerateResult> Generator::Impl::generate(const std::vector<std::vector<int>>& prompts, const GenerateOptions& o,
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
    generator_detail::prompt_check(prompts[i], i);
    for (int t : prompts[i])
      if (t < 0 || t >= model.config().vocab_size)
        throw ValueError("prompt " + std::to_string(i) + ": token id " + std::to_string(t) +
                         " outside the model's vocabulary 0.." + std::to_string(model.config().vocab_size - 1));
    generator_detail::context_check(static_cast<int64_t>(prompts[i].size()), o.max_new_tokens, i,
                                    "with max_new_tokens " + std::to_string(o.max_new_tokens), context());
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

void Generator::Impl::run_group(std::vector<Sequence>& seqs, const Group& group, const Prefix* prefix, int64_t capacity,
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
    std::vector<generator_detail::SampleRow> sampled;
    for (const Sequence* s : busy_seqs) sampled.push_back({s->prompt, &s->generated, s->index, &s->constraint_state});
    const auto [next, lps] = generator_detail::tokens_choose(logits.index_select(0, index), sampled, o, model.path());
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

}  // namespace culturespa

#include "sampling.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <limits>

#include "culturespa/core/error.h"

namespace culturespa::generator_detail {
namespace {

// splitmix64's finaliser: a counter-based random stream, so that prompt i's
// draw at step s is the same whatever else runs beside it.
uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace

double uniform_at(uint64_t seed, uint64_t prompt, uint64_t step) {
  const uint64_t x = splitmix64(splitmix64(splitmix64(seed) ^ prompt) ^ step);
  return static_cast<double>(x >> 11) * 0x1.0p-53;
}

void non_finite_logits(const std::string& model_path) {
  throw Error("the model's logits hold NaN or Inf (" + model_path +
              "): its weights hold NaN/Inf values or the compute dtype overflowed; check the checkpoint "
              "or load it in float32");
}


namespace {

// [n, vocab] bool on `device`: the tokens each sequence's constraint allows.
at::Tensor constraint_mask(const JsonConstraint& constraint, const std::vector<SampleRow>& seqs, int64_t vocab,
                           const at::Device& device) {
  const int64_t n = static_cast<int64_t>(seqs.size());
  const int64_t known = std::min<int64_t>(vocab, constraint.vocab_size());
  at::Tensor mask = at::zeros({n, vocab}, at::kByte);
  uint8_t* data = mask.data_ptr<uint8_t>();
  for (int64_t r = 0; r < n; ++r) {
    const auto& allowed = constraint.allowed(*seqs[r].constraint_state);
    std::copy(allowed.begin(), allowed.begin() + known, data + r * vocab);
  }
  return mask.to(device).to(at::kBool);
}

}  // namespace

std::pair<std::vector<int>, std::vector<float>> tokens_choose(const at::Tensor& logits,
                                                              const std::vector<SampleRow>& seqs,
                                                              const GenerateOptions& o, const std::string& model_path) {
  const int64_t n = logits.size(0), vocab = logits.size(1);
  const auto device = logits.device();
  if (!at::isfinite(logits).all().item<bool>()) non_finite_logits(model_path);
  at::Tensor scores = logits;
  if (o.repetition_penalty != 1.0) {
    std::size_t width = 1;
    for (const SampleRow& s : seqs) width = std::max(width, s.prompt->size() + s.generated->size());
    at::Tensor seen = at::empty({n, static_cast<int64_t>(width)}, at::kLong);
    auto a = seen.accessor<int64_t, 2>();
    for (int64_t r = 0; r < n; ++r) {
      const SampleRow& s = seqs[r];
      std::size_t k = 0;
      for (int t : *s.prompt) a[r][k++] = t;
      for (int t : *s.generated) a[r][k++] = t;
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
    for (const SampleRow& s : seqs)
      draws.push_back(o.prompt_seeds.empty() ? uniform_at(o.seed, s.index, s.generated->size())
                                             : uniform_at(o.prompt_seeds[s.index], 0, s.generated->size()));
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

}  // namespace culturespa::generator_detail

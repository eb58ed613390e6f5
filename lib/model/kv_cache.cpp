#include "culturespa/model/kv_cache.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <string>

#include "culturespa/core/error.h"

namespace culturespa {

int64_t KVCache::length(int64_t seq) const {
  if (seq < 0 || seq >= batch())
    throw ValueError("KV cache has no sequence " + std::to_string(seq) + " (batch " +
                     std::to_string(batch()) + ")");
  return lengths_[seq];
}

void KVCache::copy_prefix(int64_t src, const std::vector<int64_t>& dst, int64_t n_tokens) {
  c10::InferenceMode guard;
  if (n_tokens < 0 || n_tokens > length(src))
    throw ValueError("copy_prefix: n_tokens " + std::to_string(n_tokens) + " outside 0.." +
                     std::to_string(length(src)) + " (length of sequence " + std::to_string(src) + ")");
  for (const int64_t d : dst) {
    length(d);  // validates
    if (d == src) continue;
    if (n_tokens > 0)
      data_.select(2, d).narrow(3, 0, n_tokens).copy_(data_.select(2, src).narrow(3, 0, n_tokens));
    lengths_[d] = n_tokens;
  }
}

void KVCache::keep(const std::vector<int64_t>& indices) {
  c10::InferenceMode guard;
  std::vector<int64_t> lengths;
  for (const int64_t i : indices) lengths.push_back(length(i));
  const at::Tensor index = at::tensor(indices, at::kLong).to(data_.device());
  data_ = indices.empty() ? data_.narrow(2, 0, 0).clone() : data_.index_select(2, index);
  lengths_ = std::move(lengths);
}

void KVCache::truncate(int64_t seq, int64_t n_tokens) {
  if (n_tokens < 0 || n_tokens > length(seq))
    throw ValueError("truncate: n_tokens " + std::to_string(n_tokens) + " outside 0.." +
                     std::to_string(length(seq)));
  lengths_[seq] = n_tokens;
}

void KVCache::clear() { std::fill(lengths_.begin(), lengths_.end(), 0); }

int64_t KVCache::bytes() const {
  return data_.defined() ? static_cast<int64_t>(data_.numel() * data_.element_size()) : 0;
}

}  // namespace culturespa

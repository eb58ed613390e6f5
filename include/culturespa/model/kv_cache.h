// culturespa/model/kv_cache.h: the keys and values a Model keeps per
// sequence between forward passes (Model::cache_create, Model::forward).
// A KVCache is used by one thread at a time (see culturespa/model/model.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "culturespa/core/export.h"

namespace culturespa {

class Model;

// Per-sequence keys and values of every layer, preallocated for `capacity`
// tokens per sequence on the model's device.
class CULTURESPA_API KVCache {
 public:
  KVCache() = default;

  int64_t batch() const noexcept { return static_cast<int64_t>(lengths_.size()); }
  int64_t capacity() const noexcept { return capacity_; }
  // Tokens held for each sequence.
  const std::vector<int64_t>& lengths() const noexcept { return lengths_; }
  int64_t length(int64_t seq) const;

  // Gives each sequence in `dst` the first `n_tokens` of sequence `src`
  // (their length becomes n_tokens). ValueError when out of range.
  void copy_prefix(int64_t src, const std::vector<int64_t>& dst, int64_t n_tokens);
  // Keeps only the sequences `indices` (in that order; a sequence may appear
  // twice), dropping the others: row i becomes old row indices[i].
  void keep(const std::vector<int64_t>& indices);
  // Shortens sequence `seq` to `n_tokens` (e.g. to re-run from a point).
  void truncate(int64_t seq, int64_t n_tokens);
  // Empties every sequence.
  void clear();
  // Bytes the cache occupies on its device.
  int64_t bytes() const;

 private:
  friend class Model;
  // [layers, 2 (k, v), batch, kv_heads, capacity + 1, head_dim]; the last
  // slot of each sequence absorbs the writes of padding tokens.
  at::Tensor data_;
  std::vector<int64_t> lengths_;
  int64_t capacity_ = 0;
};

}  // namespace culturespa

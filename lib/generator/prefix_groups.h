// Prefix grouping: which prompts share a start whose KV cache is computed
// once. Pure functions over token ids (no model), unit-tested in
// tests/generator/test_prefix_groups.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace culturespa::generator_detail {

// The length of the common start of `a` and `b`.
int64_t common_prefix(const std::vector<int>& a, const std::vector<int>& b);

// Rows that share a start of `prefix` tokens, computed once for the group.
struct Group {
  std::vector<std::size_t> members;  // row indices, shortest first
  int64_t prefix = 0;
};

// Groups rows by a shared start (rows_split on the rows sorted
// lexicographically); rows in no group form one group without a prefix.
// Each group lists its rows by length so batches pad little. With LoRA
// `adapters` (per row, "" = none), a shared start is shared only by rows of
// one adapter (its keys and values depend on the adapter); the rest mix.
std::vector<Group> rows_group(const std::vector<const std::vector<int>*>& rows, const std::vector<int64_t>& limit,
                              bool reuse, int64_t min_prefix, const std::vector<std::string>& adapters);

}  // namespace culturespa::generator_detail

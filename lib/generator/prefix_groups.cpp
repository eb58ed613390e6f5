#include "prefix_groups.h"

#include <algorithm>
#include <numeric>

namespace culturespa::generator_detail {
namespace {

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
                   std::size_t hi, int64_t min_prefix, std::vector<Group>& groups, Group& rest, int depth) {
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

}  // namespace

int64_t common_prefix(const std::vector<int>& a, const std::vector<int>& b) {
  const std::size_t n = std::min(a.size(), b.size());
  std::size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return static_cast<int64_t>(i);
}

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
    rows_split(order, shared, 0, order.size(), std::max<int64_t>(min_prefix, 1), groups, rest, 64);
  } else {
    rest.members = order;
  }
  if (!rest.members.empty()) groups.push_back(std::move(rest));
  for (Group& g : groups)
    std::stable_sort(g.members.begin(), g.members.end(),
                     [&](std::size_t a, std::size_t b) { return rows[a]->size() < rows[b]->size(); });
  return groups;
}

}  // namespace culturespa::generator_detail

#include "lora_bank.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "culturespa/core/error.h"

namespace culturespa {
namespace {

// The targets of each fused slot, in the order of its output columns.
const std::vector<LoraTarget>& slot_targets(int slot) {
  static const std::vector<LoraTarget> table[kLoraSlots] = {
      {LoraTarget::q_proj, LoraTarget::k_proj, LoraTarget::v_proj},
      {LoraTarget::o_proj},
      {LoraTarget::gate_proj, LoraTarget::up_proj},
      {LoraTarget::down_proj}};
  return table[slot];
}

int64_t target_out(const ModelConfig& c, LoraTarget t) {
  switch (t) {
    case LoraTarget::q_proj: return c.num_attention_heads * c.head_dim;
    case LoraTarget::k_proj:
    case LoraTarget::v_proj: return c.num_key_value_heads * c.head_dim;
    case LoraTarget::o_proj:
    case LoraTarget::down_proj: return c.hidden_size;
    case LoraTarget::gate_proj:
    case LoraTarget::up_proj: return c.intermediate_size;
  }
  return 0;
}

}  // namespace

void LoraBank::add(const std::string& name, LoraAdapter adapter, const ModelConfig& config, at::Device device,
                   at::ScalarType dtype) {
  if (name.empty()) throw ValueError("adapter name must not be empty");
  if (adapters_.count(name))
    throw ValueError("an adapter named '" + name + "' is already loaded (adapter_unload it first)");
  c10::InferenceMode guard;
  auto packed = std::make_unique<Packed>();
  packed->layers.resize(static_cast<std::size_t>(config.num_hidden_layers));
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    for (int slot = 0; slot < kLoraSlots; ++slot) {
      std::vector<at::Tensor> as, bs;
      std::vector<int64_t> outs;
      int64_t rank = 0, out_total = 0;
      bool any = false;
      for (const LoraTarget t : slot_targets(slot)) {
        const LoraModule* m = adapter.find(layer, t);
        outs.push_back(target_out(config, t));
        out_total += outs.back();
        if (m) {
          // Folding the scale into B costs one rounding, well inside float32's 1e-4 budget.
          as.push_back(m->a.detach().to(at::kFloat));
          bs.push_back(m->b.detach().to(at::kFloat) * m->scale);
          rank += m->a.size(0);
          any = true;
        } else {
          bs.emplace_back();
        }
      }
      if (!any) continue;
      at::Tensor b = at::zeros({out_total, rank}, at::kFloat);
      int64_t row = 0, col = 0;
      for (std::size_t i = 0; i < bs.size(); ++i) {
        if (bs[i].defined()) {
          b.narrow(0, row, outs[i]).narrow(1, col, bs[i].size(1)).copy_(bs[i]);
          col += bs[i].size(1);
        }
        row += outs[i];
      }
      packed->layers[layer][slot] = {at::cat(as, 0).to(device, dtype).contiguous(), b.to(device, dtype).contiguous()};
    }
  }
  packed->adapter = std::move(adapter);
  adapters_.emplace(name, std::move(packed));
}

void LoraBank::remove(const std::string& name) {
  if (!adapters_.count(name)) throw ValueError("no adapter named '" + name + "' is loaded");
  if (merged_ == name)
    throw ValueError("adapter '" + name + "' is merged into the weights: adapter_unmerge() before unloading it");
  adapters_.erase(name);
}

std::vector<std::string> LoraBank::names() const {
  std::vector<std::string> names;
  for (const auto& [name, _] : adapters_) names.push_back(name);
  return names;
}

const LoraAdapter& LoraBank::get(const std::string& name) const {
  const auto it = adapters_.find(name);
  if (it == adapters_.end()) throw ValueError("no adapter named '" + name + "' is loaded");
  return it->second->adapter;
}

std::vector<int> LoraBank::route(const std::vector<std::string>& adapters, int64_t batch) const {
  std::vector<int> route(static_cast<std::size_t>(batch), -1);
  if (adapters.empty()) return route;
  if (static_cast<int64_t>(adapters.size()) != batch)
    throw ValueError("forward: adapters names " + std::to_string(adapters.size()) + " adapters for a batch of " +
                     std::to_string(batch) + " (one per sequence, \"\" for none)");
  if (!merged_.empty())
    for (const std::string& name : adapters)
      if (!name.empty())
        throw ValueError("forward: adapter '" + name + "' asked for while '" + merged_ +
                         "' is merged into the weights (adapter_unmerge() first)");
  for (int64_t b = 0; b < batch; ++b) {
    const std::string& name = adapters[b];
    if (name.empty()) continue;
    const auto it = adapters_.find(name);
    if (it == adapters_.end())
      throw ValueError("forward: no adapter named '" + name + "' is loaded (sequence " + std::to_string(b) + ")");
    route[b] = static_cast<int>(std::distance(adapters_.begin(), it));
  }
  return route;
}

LoraBank::Rows LoraBank::rows(const std::vector<int>& route, const std::vector<int64_t>& row_seq,
                              at::Device device) const {
  const std::size_t n = row_seq.empty() ? route.size() : row_seq.size();
  std::map<int, std::vector<int64_t>> members;
  for (std::size_t i = 0; i < n; ++i) {
    const int a = route[row_seq.empty() ? i : static_cast<std::size_t>(row_seq[i])];
    if (a >= 0) members[a].push_back(static_cast<int64_t>(i));
  }
  Rows rows;
  for (auto& [a, list] : members) {
    Group group;
    group.packed = std::next(adapters_.begin(), a)->second.get();
    if (list.size() != n) {
      if (list.back() - list.front() + 1 == static_cast<int64_t>(list.size())) {
        group.start = list.front();
        group.count = static_cast<int64_t>(list.size());
      } else {
        group.index = at::tensor(list, at::kLong).to(device);
      }
    }
    rows.push_back(std::move(group));
  }
  return rows;
}

void LoraBank::apply(const at::Tensor& out, const at::Tensor& x, int64_t layer, LoraSlot slot,
                     const Rows& rows) const {
  // Groups select along dim 0: token rows on the fused CPU path ([rows,
  // features]), sequences on the LibTorch path ([batch, tokens, features]).
  const auto matrix = [](const at::Tensor& t) { return t.dim() == 2 ? t : t.reshape({-1, t.size(-1)}); };
  for (const Group& group : rows) {
    const auto& [a, b] = group.packed->layers[layer][static_cast<int>(slot)];
    if (!a.defined()) continue;
    if (group.index.defined()) {
      const at::Tensor delta = at::matmul(at::matmul(x.index_select(0, group.index), a.t()), b.t());
      out.index_add_(0, group.index, delta);
      continue;
    }
    const bool all = group.count == 0;
    const at::Tensor target = all ? out : out.narrow(0, group.start, group.count);
    const at::Tensor source = all ? x : x.narrow(0, group.start, group.count);
    if (target.is_contiguous()) {
      // Accumulated in place by the second product: no [rows, out] temporary.
      target.view({-1, target.size(-1)}).addmm_(at::mm(matrix(source), a.t()), b.t());
    } else {
      target.add_(at::matmul(at::matmul(source, a.t()), b.t()));
    }
  }
}

void LoraBank::merge(const std::string& name, const std::vector<LayerLinears>& weights) {
  const auto it = adapters_.find(name);
  if (it == adapters_.end()) throw ValueError("adapter_merge: no adapter named '" + name + "' is loaded");
  restore(weights);
  c10::InferenceMode guard;
  const Packed& packed = *it->second;
  originals_.assign(weights.size(), {});
  for (std::size_t layer = 0; layer < weights.size(); ++layer)
    for (int slot = 0; slot < kLoraSlots; ++slot) {
      const auto& [a, b] = packed.layers[layer][slot];
      if (!a.defined()) continue;
      at::Tensor& w = *weights[layer][slot];
      originals_[layer][slot] = w;
      // In float32 whatever the compute dtype, rounded once; a new tensor, as
      // the original may be a read-only file mapping.
      w = (w.to(at::kFloat) + at::matmul(b.to(at::kFloat), a.to(at::kFloat))).to(w.scalar_type()).contiguous();
    }
  merged_ = name;
}

void LoraBank::restore(const std::vector<LayerLinears>& weights) {
  if (merged_.empty()) return;
  for (std::size_t layer = 0; layer < weights.size() && layer < originals_.size(); ++layer)
    for (int slot = 0; slot < kLoraSlots; ++slot)
      if (originals_[layer][slot].defined()) *weights[layer][slot] = originals_[layer][slot];
  originals_.clear();
  merged_.clear();
}

}  // namespace culturespa

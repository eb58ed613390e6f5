// Model::forward_train: the decoder as differentiable LibTorch operations over
// whole right-padded sequences (no KV cache), with a LoRA adapter's tensors
// applied as PEFT's LoraLayer does (W x + scale * B (A dropout(x))). Only the
// adapter's tensors may require grad; the base weights are used as constants.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>

#include "culturespa/core/error.h"
#include "model_access.h"

namespace culturespa {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The tensors of one layer's LoRA modules, in LoraTarget order (undefined = not adapted).
struct LayerLora {
  std::array<const LoraModule*, 7> modules{};
};

struct Shapes {
  int64_t B, T, nh, nkv, hd, I;
  double eps;
};

// x W^T + b with W and b frozen. Model's weights are inference tensors (made
// under InferenceMode), which autograd may not save, and they need no
// gradient: only the gradient with respect to x flows, computed from W kept
// aside (not copied).
struct FrozenLinear : torch::autograd::Function<FrozenLinear> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, c10::IValue weight) {
    ctx->saved_data["weight"] = weight;
    return at::matmul(x, weight.toTensor().t());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    return {at::matmul(grad_out[0], ctx->saved_data["weight"].toTensor()), at::Tensor()};
  }
};

at::Tensor frozen_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const at::Tensor y = x.requires_grad() ? FrozenLinear::apply(x, c10::IValue(weight)) : at::matmul(x, weight.t());
  return bias.defined() ? y + bias : y;
}

// x W^T + B (A x) for a frozen W and a trained low-rank pair, as one
// operation: the low-rank product accumulates into the output of the large
// one (and its input gradient into the large one's), so an adapted layer
// costs no [tokens, out] temporaries beyond the output. A and B are the
// module's (or a fused weight's packed) lora_A [R, in] and scaled lora_B
// [out, R]; PEFT's LoraLayer computes the same sum.
struct LoraLinear : torch::autograd::Function<LoraLinear> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& a, const at::Tensor& b,
                            c10::IValue weight) {
    const at::Tensor& w = weight.toTensor();
    const at::Tensor rows = x.reshape({-1, x.size(-1)});
    // The adapter computes in its own dtype (float32 beside a bfloat16 model).
    const at::Tensor rows_a = rows.scalar_type() == a.scalar_type() ? rows : rows.to(a.scalar_type());
    const at::Tensor xa = at::mm(rows_a, a.t());
    at::Tensor y = at::mm(rows, w.t());
    if (y.scalar_type() == b.scalar_type())
      y.addmm_(xa, b.t());
    else
      y.add_(at::mm(xa, b.t()).to(y.scalar_type()));
    ctx->save_for_backward({rows_a, xa, a, b});
    ctx->saved_data["weight"] = weight;
    std::vector<int64_t> shape = x.sizes().vec();
    shape.back() = w.size(0);
    return y.view(shape);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &rows_a = saved[0], &xa = saved[1], &a = saved[2], &b = saved[3];
    const at::Tensor w = ctx->saved_data["weight"].toTensor();
    const at::Tensor gy = grad_out[0].reshape({-1, grad_out[0].size(-1)});
    const at::Tensor gy_a = gy.scalar_type() == b.scalar_type() ? gy : gy.to(b.scalar_type());
    const at::Tensor g_xa = at::mm(gy_a, b);  // [N, R]
    at::Tensor g_x;
    if (ctx->needs_input_grad(0)) {
      g_x = at::mm(gy, w);
      if (g_x.scalar_type() == a.scalar_type())
        g_x.addmm_(g_xa, a);
      else
        g_x.add_(at::mm(g_xa, a).to(g_x.scalar_type()));
      std::vector<int64_t> shape = grad_out[0].sizes().vec();
      shape.back() = w.size(1);
      g_x = g_x.view(shape);
    }
    return {g_x, at::mm(g_xa.t(), rows_a), at::mm(gy_a.t(), xa), at::Tensor()};
  }
};

// The module's lora pair for `targets` (one linear or a fused weight's
// parts, whose outputs are `outs` wide): A stacked [sum r, in] and B block
// diagonal [sum out, sum r] with each module's scale folded in, as
// lora_bank.h packs them for inference; autograd carries the gradients back
// to each module's own tensors. Undefined when no target is adapted.
std::pair<at::Tensor, at::Tensor> lora_pack(const std::vector<const LoraModule*>& modules,
                                            const std::vector<int64_t>& outs) {
  int64_t rank = 0;
  const LoraModule* any = nullptr;
  for (const LoraModule* m : modules)
    if (m) {
      rank += m->a.size(0);
      any = m;
    }
  if (!any) return {};
  std::vector<at::Tensor> as, bs;
  int64_t before = 0;
  for (std::size_t i = 0; i < modules.size(); ++i) {
    const LoraModule* m = modules[i];
    if (!m) {
      bs.push_back(at::zeros({outs[i], rank}, any->b.options().requires_grad(false)));
      continue;
    }
    const int64_t r = m->a.size(0);
    as.push_back(m->a);
    bs.push_back(at::constant_pad_nd(m->b * m->scale, {before, rank - before - r}));
    before += r;
  }
  return {as.size() == 1 ? as[0] : at::cat(as, 0), bs.size() == 1 ? bs[0] : at::cat(bs, 0)};
}

// x W^T + b, plus the adapter's delta when `lora` is defined.
at::Tensor adapted_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                          const std::pair<at::Tensor, at::Tensor>& lora) {
  if (!lora.first.defined()) return frozen_linear(x, weight, bias);
  const at::Tensor y = LoraLinear::apply(x, lora.first, lora.second, c10::IValue(weight));
  return bias.defined() ? y + bias : y;
}

// One decoder layer: hidden [B, T, H] -> hidden [B, T, H].
at::Tensor layer_run(const DecoderWeights::Layer& l, const LayerLora& lora, const at::Tensor& hidden,
                     const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask, const Shapes& s) {
  const auto module = [&](LoraTarget t) { return lora.modules[static_cast<int>(t)]; };
  const int64_t q_out = s.nh * s.hd, kv_out = s.nkv * s.hd;
  const at::Tensor x = rms_norm(hidden, l.input_norm, s.eps);
  const at::Tensor qkv = adapted_linear(
      x, l.w_qkv, l.b_qkv,
      lora_pack({module(LoraTarget::q_proj), module(LoraTarget::k_proj), module(LoraTarget::v_proj)},
                {q_out, kv_out, kv_out}));
  // One split (not three narrows): its backward concatenates the three gradients once.
  const std::vector<at::Tensor> parts = at::split_with_sizes(qkv, {q_out, kv_out, kv_out}, -1);
  at::Tensor q = parts[0].reshape({s.B, s.T, s.nh, s.hd});
  at::Tensor k = parts[1].reshape({s.B, s.T, s.nkv, s.hd});
  at::Tensor v = parts[2].reshape({s.B, s.T, s.nkv, s.hd});
  if (l.q_norm.defined()) {
    q = rms_norm(q, l.q_norm, s.eps);
    k = rms_norm(k, l.k_norm, s.eps);
  }
  q = rope_apply(q, cos, sin);
  k = rope_apply(k, cos, sin);
  // GQA without repeating keys: the query heads of one KV head stacked along the query axis.
  const int64_t group = s.nh / s.nkv;
  const at::Tensor queries = q.reshape({s.B, s.T, s.nkv, group, s.hd})
                                 .permute({0, 2, 3, 1, 4})
                                 .reshape({s.B * s.nkv, group * s.T, s.hd}) *
                             (1.0 / std::sqrt(static_cast<double>(s.hd)));
  const at::Tensor keys = k.permute({0, 2, 1, 3}).reshape({s.B * s.nkv, s.T, s.hd});
  const at::Tensor values = v.permute({0, 2, 1, 3}).reshape({s.B * s.nkv, s.T, s.hd});
  const at::Tensor scores = at::bmm(queries, keys.transpose(1, 2)).view({s.B, s.nkv, group, s.T, s.T}) + mask;
  const at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(v.scalar_type());
  const at::Tensor attended = at::bmm(probs.view({s.B * s.nkv, group * s.T, s.T}), values)
                                  .view({s.B, s.nkv, group, s.T, s.hd})
                                  .permute({0, 3, 1, 2, 4})
                                  .reshape({s.B, s.T, s.nh * s.hd});
  const at::Tensor o =
      adapted_linear(attended, l.w_o, l.b_o, lora_pack({module(LoraTarget::o_proj)}, {l.w_o.size(0)}));
  const at::Tensor h1 = hidden + o;
  const at::Tensor x2 = rms_norm(h1, l.post_norm, s.eps);
  const at::Tensor gate_up =
      adapted_linear(x2, l.w_gate_up, l.b_gate_up,
                     lora_pack({module(LoraTarget::gate_proj), module(LoraTarget::up_proj)}, {s.I, s.I}));
  const std::vector<at::Tensor> halves = at::split_with_sizes(gate_up, {s.I, s.I}, -1);
  const at::Tensor act = at::silu(halves[0]) * halves[1];
  return h1 + adapted_linear(act, l.w_down, l.b_down, lora_pack({module(LoraTarget::down_proj)}, {l.w_down.size(0)}));
}

// Gradient checkpointing: the forward keeps only the layer's input; the
// backward recomputes the layer with autograd and differentiates it.
struct LayerClosure : torch::CustomClassHolder {
  std::function<at::Tensor(const at::Tensor&)> run;
};

struct CheckpointedLayer : torch::autograd::Function<CheckpointedLayer> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& hidden, at::TensorList params,
                            c10::intrusive_ptr<LayerClosure> closure) {
    ctx->save_for_backward({hidden});
    ctx->saved_data["closure"] = c10::IValue::make_capsule(closure);
    std::vector<at::Tensor> kept(params.begin(), params.end());
    ctx->saved_data["params"] = c10::List<at::Tensor>(kept);
    at::NoGradGuard no_grad;
    return closure->run(hidden);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const at::Tensor hidden = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    const auto closure = c10::static_intrusive_pointer_cast<LayerClosure>(ctx->saved_data["closure"].toCapsule());
    const c10::List<at::Tensor> params = ctx->saved_data["params"].toTensorList();
    at::Tensor out;
    {
      at::AutoGradMode grad_mode(true);
      out = closure->run(hidden);
    }
    variable_list inputs{hidden};
    for (const at::Tensor& p : params) inputs.push_back(p);
    variable_list grads = torch::autograd::grad({out}, inputs, {grad_out[0]}, /*retain_graph=*/false,
                                                /*create_graph=*/false, /*allow_unused=*/true);
    grads.emplace_back();  // the closure
    return grads;
  }
};

}  // namespace

at::Tensor Model::forward_train(const at::Tensor& input_ids, const at::Tensor& lengths, const at::Tensor& positions,
                                const LoraAdapter& adapter, bool checkpointing) const {
  DecoderWeights w = ModelAccess::weights(*this);
  // The norm weights are multiplied by activations that need gradients, so
  // autograd keeps them: normal (non-inference) copies, a few KB each.
  const auto plain = [](at::Tensor& t) {
    if (t.defined()) t = t.clone();
  };
  plain(w.final_norm);
  for (auto& l : w.layers) {
    plain(l.input_norm);
    plain(l.post_norm);
    plain(l.q_norm);
    plain(l.k_norm);
  }
  const ModelConfig& c = w.config;
  if (!input_ids.defined() || input_ids.dim() != 2 || input_ids.size(0) < 1 || input_ids.size(1) < 1)
    throw ValueError("forward_train: input_ids must be a non-empty 2-D integer tensor [batch, tokens]");
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  if (!lengths.defined() || lengths.dim() != 1 || lengths.size(0) != B)
    throw ValueError("forward_train: lengths must have shape [" + std::to_string(B) + "]");
  if (!positions.defined() || positions.dim() != 1)
    throw ValueError("forward_train: positions must be a 1-D integer tensor of flat indices into batch x tokens");
  for (const LoraModule& m : adapter.modules)
    if (m.layer >= c.num_hidden_layers)
      throw ValueError("forward_train: the adapter adapts layer " + std::to_string(m.layer) + " of a " +
                       std::to_string(c.num_hidden_layers) + "-layer model");
  const at::Tensor ids = input_ids.to(w.device, at::kLong);
  const at::Tensor lens = lengths.to(w.device, at::kLong);
  const auto long_options = at::TensorOptions().dtype(at::kLong).device(w.device);

  // Additive mask [B, 1, 1, T, T]: causal, the row's padding keys, Mistral's window.
  const at::Tensor pos = at::arange(T, long_options);
  const at::Tensor query_pos = pos.view({1, T, 1}), key_pos = pos.view({1, 1, T});
  at::Tensor blocked = (key_pos > query_pos).logical_or(key_pos >= lens.view({B, 1, 1}));
  if (c.sliding_window > 0) blocked = blocked.logical_or((query_pos - key_pos) >= c.sliding_window);
  const double lowest = w.dtype == at::kHalf ? -65504.0 : -3.0e38;
  const at::Tensor mask = at::zeros({B, T, T}, at::TensorOptions().dtype(w.dtype).device(w.device))
                              .masked_fill(blocked, lowest)
                              .view({B, 1, 1, T, T});
  const at::Tensor freqs = (pos.to(at::kFloat).view({1, T, 1}) * w.inv_freq).unsqueeze(2).expand({B, T, 1, -1});
  const at::Tensor cos = freqs.cos().to(w.dtype), sin = freqs.sin().to(w.dtype);
  const Shapes shapes{B, T, c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.intermediate_size,
                      c.rms_norm_eps};

  std::vector<LayerLora> lora(static_cast<std::size_t>(c.num_hidden_layers));
  for (const LoraModule& m : adapter.modules) lora[m.layer].modules[static_cast<int>(m.target)] = &m;

  at::Tensor hidden = at::embedding(w.embed, ids);
  for (std::size_t li = 0; li < w.layers.size(); ++li) {
    if (!checkpointing) {
      hidden = layer_run(w.layers[li], lora[li], hidden, cos, sin, mask, shapes);
      continue;
    }
    auto closure = c10::make_intrusive<LayerClosure>();
    std::vector<at::Tensor> params;
    for (const LoraModule* m : lora[li].modules)
      if (m) {
        params.push_back(m->a);
        params.push_back(m->b);
      }
    // By value: the backward pass runs after this function has returned.
    closure->run = [layer = w.layers[li], modules = lora[li], cos, sin, mask, shapes](const at::Tensor& h) {
      return layer_run(layer, modules, h, cos, sin, mask, shapes);
    };
    hidden = CheckpointedLayer::apply(hidden, at::TensorList(params), closure);
  }
  const at::Tensor flat = hidden.reshape({B * T, c.hidden_size}).index_select(0, positions.to(w.device, at::kLong));
  return frozen_linear(rms_norm(flat, w.final_norm, c.rms_norm_eps), w.lm_head, {}).to(at::kFloat);
}

}  // namespace culturespa

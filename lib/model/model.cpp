#include "culturespa/model/model.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "cpu_kernels.h"
#include "lora_bank.h"
#include "model_access.h"
#include "culturespa/core/error.h"
#include "culturespa/model/runtime.h"
#include "culturespa/model/safetensors.h"
#include "weight_source.h"

namespace culturespa {
namespace {

std::string shape_text(at::IntArrayRef shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

at::ScalarType dtype_parse(const std::string& name) {
  if (name == "float32" || name == "fp32" || name == "float") return at::kFloat;
  if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
  if (name == "float16" || name == "fp16" || name == "half") return at::kHalf;
  throw ConfigError("unsupported compute dtype '" + name + "' (float32, bfloat16 or float16)");
}

std::string dtype_text(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return "float32";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    default: return c10::toString(type);
  }
}

at::Device device_parse(const std::string& name) {
  at::Device device(at::kCPU);
  try {
    device = at::Device(name);
  } catch (const std::exception&) {
    throw ConfigError("unsupported device '" + name + "' (cpu, cuda or cuda:N)");
  }
  if (device.is_cuda()) {
    const auto count = static_cast<int64_t>(torch::cuda::device_count());
    if (count == 0) throw ConfigError("device '" + name + "' requested but no CUDA device is available");
    if (device.index() >= count)
      throw ConfigError("device '" + name + "' requested but only " + std::to_string(count) +
                        " CUDA device(s) exist");
    if (!device.has_index()) device = at::Device(at::kCUDA, 0);
  } else if (!device.is_cpu()) {
    throw ConfigError("unsupported device '" + name + "' (cpu, cuda or cuda:N)");
  }
  return device;
}

cpu_kernels::MatmulBackend matmul_backend_parse(const std::string& name) {
  if (name == "blas") return cpu_kernels::MatmulBackend::blas;
  if (name != "auto" && name != "onednn")
    throw ConfigError("unsupported cpu_matmul '" + name + "' (auto, blas or onednn)");
  const RuntimeInfo info = runtime_info();
  if (name == "onednn") {
    if (!info.onednn) throw ConfigError("cpu_matmul 'onednn' requested but this LibTorch has no oneDNN (MKL-DNN)");
    return cpu_kernels::MatmulBackend::onednn;
  }
  return info.onednn && info.blas_core_outdated ? cpu_kernels::MatmulBackend::onednn
                                                : cpu_kernels::MatmulBackend::blas;
}

// FormatError when the checkpoint holds tensors the configuration did not
// load: a config.json or GGUF block_count naming fewer layers than the
// weights hold would otherwise give a model with layers silently dropped.
void unused_tensors_check(const WeightSource& ckpt, const std::set<std::string>& loaded, const ModelConfig& c) {
  std::vector<std::string> unused;
  int64_t file_layers = 0;
  const std::string layer_prefix = "model.layers.";
  for (const std::string& name : ckpt.names()) {
    if (name.compare(0, layer_prefix.size(), layer_prefix) == 0) {
      const std::size_t dot = name.find('.', layer_prefix.size());
      const std::string index = name.substr(layer_prefix.size(), dot - layer_prefix.size());
      if (!index.empty() && index.size() < 10 && index.find_first_not_of("0123456789") == std::string::npos)
        file_layers = std::max<int64_t>(file_layers, std::stoll(index) + 1);
    }
    // Older transformers saved the RoPE table; it is recomputed, as transformers does.
    const std::string table = "rotary_emb.inv_freq";
    const bool rope_table = name.size() >= table.size() &&
                            name.compare(name.size() - table.size(), table.size(), table) == 0;
    if (!loaded.count(name) && !rope_table) unused.push_back(name);
  }
  if (unused.empty()) return;
  if (file_layers > c.num_hidden_layers)
    throw FormatError(ckpt.where() + ": the weights hold " + std::to_string(file_layers) + " layers but " +
                      ckpt.config_source() + " says num_hidden_layers " + std::to_string(c.num_hidden_layers) +
                      "; loading would drop layers " + std::to_string(c.num_hidden_layers) + ".." +
                      std::to_string(file_layers - 1) + " (fix the layer count)");
  throw FormatError(ckpt.where() + ": " + std::to_string(unused.size()) + " tensor(s) that " + ckpt.config_source() +
                    " does not use, e.g. '" + unused.front() +
                    "' (the configuration and the weights disagree: check attention_bias, mlp_bias, "
                    "tie_word_embeddings and the layer count)");
}

// ModelOptions::weights, resolved against the compute dtype.
enum class WeightChoice { compute_dtype, float32, bfloat16, q8_0, file };

WeightChoice weight_choice_parse(const std::string& name) {
  if (name.empty()) return WeightChoice::compute_dtype;
  if (name == "float32") return WeightChoice::float32;
  if (name == "bfloat16") return WeightChoice::bfloat16;
  if (name == "q8_0") return WeightChoice::q8_0;
  if (name == "file") return WeightChoice::file;
  throw ConfigError("unsupported weights '" + name + "' (float32, bfloat16, q8_0 or file)");
}

// The stored type a file type keeps under weights="file": its own where a
// kernel exists, else the nearest wider one.
cpu_kernels::WeightType weight_type_for_file(const std::string& file_type) {
  if (file_type == "BF16") return cpu_kernels::WeightType::bfloat16;
  if (file_type == "Q8_0" || file_type == "Q4_0" || file_type == "Q4_1") return cpu_kernels::WeightType::q8_0;
  return cpu_kernels::WeightType::float32;
}

struct Layer {
  at::Tensor input_norm, w_qkv, b_qkv, q_norm, k_norm, w_o, b_o;
  at::Tensor post_norm, w_gate_up, b_gate_up, w_down, b_down;
};

}  // namespace

// ---------------------------------------------------------------------------

struct CULTURESPA_HIDDEN Model::Impl {
  std::string path;
  ModelConfig config;
  at::Device device{at::kCPU};
  at::ScalarType dtype = at::kFloat;          // activations and KV cache
  at::ScalarType dtype_option = at::kFloat;   // ModelOptions::dtype, as reported by Model::dtype()
  WeightChoice weights = WeightChoice::compute_dtype;
  std::vector<std::string> weight_types;      // distinct stored types of the matrices, in load order
  at::Tensor embed, final_norm, lm_head, inv_freq;
  std::vector<Layer> layers;
  int64_t weight_bytes = 0;
  std::set<std::string> loaded;  // checkpoint tensors read (while loading)
  bool fused_cpu = false;  // float32 / bfloat16 on CPU with ModelOptions::cpu_kernels
  LoraBank lora;           // loaded LoRA adapters (lora_bank.h)

  // Merging an adapter and training one compute with the dense matrices,
  // which the packed bfloat16 / q8_0 storage of the fused CPU path lacks.
  void dense_weights_require(const char* what) const {
    if (!fused_cpu) return;
    for (const auto& type : weight_types) {
      if (type != "float32") {
        throw ConfigError(std::string(what) + " needs float32 matrices, and " + path + " stores them as " + type +
                          " (ModelOptions::weights): load it with weights=\"float32\", or apply adapters per row "
                          "through forward(..., adapters)");
      }
    }
  }
  cpu_kernels::MatmulBackend matmul = cpu_kernels::MatmulBackend::blas;

  // A linear layer of the fused CPU path.
  at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {}) const {
    return cpu_kernels::linear(x, weight, bias, matmul);
  }

  at::Tensor forward_fused(const at::Tensor& ids, const std::vector<int64_t>& n_new,
                           const std::vector<int64_t>& select, KVCache& cache,
                           const std::vector<int>& adapter_route) const;

  std::vector<LayerLinears> linears() {
    std::vector<LayerLinears> out;
    for (Layer& l : layers) out.push_back({&l.w_qkv, &l.w_o, &l.w_gate_up, &l.w_down});
    return out;
  }

  // How a matrix made of `parts` is stored on the fused CPU path.
  cpu_kernels::WeightType matrix_type(const WeightSource& ckpt,
                                      const std::vector<std::pair<std::string, std::vector<int64_t>>>& parts) const {
    switch (weights) {
      case WeightChoice::compute_dtype:
        return dtype_option == at::kBFloat16 ? cpu_kernels::WeightType::bfloat16 : cpu_kernels::WeightType::float32;
      case WeightChoice::float32: return cpu_kernels::WeightType::float32;
      case WeightChoice::bfloat16: return cpu_kernels::WeightType::bfloat16;
      case WeightChoice::q8_0: return cpu_kernels::WeightType::q8_0;
      case WeightChoice::file: break;
    }
    // Parts of one matrix stored differently keep the widest of their types.
    auto type = cpu_kernels::WeightType::q8_0;
    for (const auto& part : parts) {
      const auto t = weight_type_for_file(ckpt.file_type(part.first));
      if (t == cpu_kernels::WeightType::float32 || (t == cpu_kernels::WeightType::bfloat16 && type == cpu_kernels::WeightType::q8_0))
        type = t;
    }
    return type;
  }

  // The tensor(s) in the compute dtype on the device, concatenated along dim
  // 0 when several; zero-copy when one CPU tensor already has the right dtype.
  // A `matrix` on the fused CPU path is then stored as ModelOptions::weights says.
  at::Tensor load(const WeightSource& ckpt, const std::vector<std::pair<std::string, std::vector<int64_t>>>& parts,
                  bool matrix = false) {
    const auto stored = matrix && fused_cpu ? matrix_type(ckpt, parts) : cpu_kernels::WeightType::float32;
    std::vector<at::Tensor> tensors;
    for (const auto& [name, shape] : parts) {
      tensors.push_back(ckpt.read(name, shape));
      loaded.insert(name);
    }
    at::Tensor out;
    if (tensors.size() == 1 && device.is_cpu() && tensors[0].scalar_type() == dtype &&
        stored == cpu_kernels::WeightType::float32) {
      out = tensors[0];  // stays backed by the file mapping
    } else {
      // .to() copies here: the no-conversion case took the branch above.
      for (auto& t : tensors) t = t.to(device, dtype);
      out = tensors.size() == 1 ? tensors[0] : at::cat(tensors, 0);
      tensors.clear();
      if (stored != cpu_kernels::WeightType::float32) {
        try {
          out = cpu_kernels::weight_pack(out, stored);
        } catch (const ValueError& e) {
          throw ConfigError(path + ": tensor '" + parts.front().first + "': " + e.what());
        }
      }
      for (const auto& [name, shape] : parts) ckpt.release(name);
    }
    if (matrix) {
      const std::string type = fused_cpu ? cpu_kernels::weight_type_name(stored) : dtype_text(dtype);
      if (std::find(weight_types.begin(), weight_types.end(), type) == weight_types.end()) weight_types.push_back(type);
    }
    weight_bytes += static_cast<int64_t>(out.numel() * out.element_size());
    return out;
  }

  at::Tensor load_optional(const WeightSource& ckpt, bool present,
                           const std::vector<std::pair<std::string, std::vector<int64_t>>>& parts) {
    return present ? load(ckpt, parts) : at::Tensor();
  }

  void rope_init() {
    const auto& c = config;
    // As HF computes it: base ** (arange(0, dim, 2) / dim) in float32.
    at::Tensor exponent = at::arange(0, c.head_dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(c.head_dim);
    at::Tensor inv = 1.0 / at::pow(c.rope_theta, exponent);
    const RopeScaling& s = c.rope_scaling;
    if (s.type == RopeScalingType::linear) {
      inv = inv / s.factor;
    } else if (s.type == RopeScalingType::llama3) {
      const double old_len = static_cast<double>(s.original_max_position_embeddings);
      const double low_wavelen = old_len / s.low_freq_factor;
      const double high_wavelen = old_len / s.high_freq_factor;
      const at::Tensor wavelen = 2 * M_PI / inv;
      at::Tensor scaled = at::where(wavelen > low_wavelen, inv / s.factor, inv);
      const at::Tensor smooth = (old_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      const at::Tensor smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
      const at::Tensor medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
      inv = at::where(medium, smoothed, scaled);
    }
    inv_freq = inv.to(device);
  }
};

// The CPU float32 path: padding tokens are dropped (rows packed sequence by
// sequence), everything between the GEMMs runs in culturespa's fused kernels,
// and the last layer computes attention and MLP only for the rows whose
// logits are wanted. Returns their final-normed hidden states.
at::Tensor Model::Impl::forward_fused(const at::Tensor& ids, const std::vector<int64_t>& n_new,
                                      const std::vector<int64_t>& select, KVCache& cache,
                                      const std::vector<int>& adapter_route) const {
  const ModelConfig& c = config;
  const int64_t B = ids.size(0), T = ids.size(1);
  cpu_kernels::TokenRows tokens;
  std::vector<int64_t> flat, first_row(static_cast<std::size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    first_row[b] = static_cast<int64_t>(flat.size());
    for (int64_t t = 0; t < n_new[b]; ++t) {
      flat.push_back(b * T + t);
      tokens.seq.push_back(b);
      tokens.pos.push_back(cache.lengths_[b] + t);
    }
  }
  std::vector<int64_t> all_rows(flat.size()), wanted;
  for (std::size_t r = 0; r < all_rows.size(); ++r) all_rows[r] = static_cast<int64_t>(r);
  for (const int64_t r : select) wanted.push_back(first_row[r / T] + r % T);
  // LoRA rows by adapter: all tokens, and past the last cache write the wanted ones.
  std::vector<int64_t> wanted_seq;
  for (const int64_t r : wanted) wanted_seq.push_back(tokens.seq[r]);
  const LoraBank::Rows lora_all = lora.rows(adapter_route, tokens.seq, device);
  const LoraBank::Rows lora_wanted = lora.rows(adapter_route, wanted_seq, device);

  const at::Tensor freqs = at::tensor(tokens.pos, at::kLong).to(at::kFloat).unsqueeze(1) * inv_freq;
  const at::Tensor cos = freqs.cos(), sin = freqs.sin();
  const cpu_kernels::AttentionLayout layout{c.num_attention_heads, c.num_key_value_heads, c.head_dim,
                                            cache.capacity_ + 1, c.sliding_window};
  const double eps = c.rms_norm_eps;

  at::Tensor hidden = cpu_kernels::weight_rows(embed, ids.reshape({B * T}).index_select(0, at::tensor(flat, at::kLong)));
  at::Tensor x = cpu_kernels::add_rms_norm(hidden, {}, layers.front().input_norm, eps);
  for (std::size_t li = 0; li < layers.size(); ++li) {
    const Layer& layer = layers[li];
    const bool last_layer = li + 1 == layers.size();
    at::Tensor qkv = linear(x, layer.w_qkv, layer.b_qkv);
    lora.apply(qkv, x, static_cast<int64_t>(li), LoraSlot::qkv, lora_all);
    at::Tensor layer_cache = cache.data_.select(0, static_cast<int64_t>(li));
    at::Tensor keys = layer_cache.select(0, 0), values = layer_cache.select(0, 1);
    cpu_kernels::rope_cache_write(qkv, cos, sin, layer.q_norm, layer.k_norm, eps, keys, values, tokens, layout);
    // Past the last layer's cache write, only the wanted rows matter.
    const std::vector<int64_t>& queries = last_layer ? wanted : all_rows;
    if (last_layer) hidden = hidden.index_select(0, at::tensor(wanted, at::kLong));
    const at::Tensor attended = cpu_kernels::attention(qkv, keys, values, queries, tokens, layout);
    const LoraBank::Rows& lora_rows = last_layer ? lora_wanted : lora_all;
    const at::Tensor o = linear(attended, layer.w_o, layer.b_o);
    lora.apply(o, attended, static_cast<int64_t>(li), LoraSlot::o, lora_rows);
    x = cpu_kernels::add_rms_norm(hidden, o, layer.post_norm, eps);
    const at::Tensor gate_up = linear(x, layer.w_gate_up, layer.b_gate_up);
    lora.apply(gate_up, x, static_cast<int64_t>(li), LoraSlot::gate_up, lora_rows);
    const at::Tensor act = cpu_kernels::silu_mul(gate_up);
    const at::Tensor& next_norm = last_layer ? final_norm : layers[li + 1].input_norm;
    const at::Tensor down = linear(act, layer.w_down, layer.b_down);
    lora.apply(down, act, static_cast<int64_t>(li), LoraSlot::down, lora_rows);
    x = cpu_kernels::add_rms_norm(hidden, down, next_norm, eps);
  }
  return x;
}

Model::Model(const std::string& dir, const ModelOptions& options, ProgressCallback progress)
    : impl_(std::make_unique<Impl>()) {
  runtime_init();
  if (options.threads < 0) throw ValueError("threads must be >= 0, got " + std::to_string(options.threads));
  if (options.threads > 0) runtime_set_num_threads(options.threads);
  c10::InferenceMode guard;
  Impl& m = *impl_;
  m.path = dir;
  m.device = device_parse(options.device);
  m.dtype_option = options.dtype.empty() ? (m.device.is_cuda() ? at::kBFloat16 : at::kFloat)
                                         : dtype_parse(options.dtype);
  // The fused CPU kernels compute in float32 whatever the weights' type.
  m.fused_cpu = options.cpu_kernels && m.device.is_cpu() && m.dtype_option != at::kHalf;
  m.dtype = m.fused_cpu ? at::kFloat : m.dtype_option;
  m.weights = weight_choice_parse(options.weights);
  if (!m.fused_cpu && m.weights != WeightChoice::compute_dtype &&
      !(m.weights == WeightChoice::float32 && m.dtype == at::kFloat))
    throw ConfigError("weights '" + options.weights +
                      "' needs the fused CPU kernels (device cpu, cpu_kernels true, dtype float32 or bfloat16)");
  m.matmul = matmul_backend_parse(options.cpu_matmul);
  const std::unique_ptr<WeightSource> source = weight_source_open(dir, options.mmap);  // a checkpoint folder or a .gguf file
  const WeightSource& ckpt = *source;
  m.config = ckpt.config();
  const ModelConfig& c = m.config;

  const int64_t H = c.hidden_size, I = c.intermediate_size, hd = c.head_dim;
  const int64_t q_out = c.num_attention_heads * hd, kv_out = c.num_key_value_heads * hd;
  ProgressReporter reporter(std::move(progress), "load", static_cast<std::size_t>(c.num_hidden_layers));
  m.embed = m.load(ckpt, {{"model.embed_tokens.weight", {c.vocab_size, H}}}, true);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    const std::string a = p + "self_attn.", f = p + "mlp.";
    Layer layer;
    layer.input_norm = m.load(ckpt, {{p + "input_layernorm.weight", {H}}});
    layer.w_qkv = m.load(ckpt, {{a + "q_proj.weight", {q_out, H}},
                                {a + "k_proj.weight", {kv_out, H}},
                                {a + "v_proj.weight", {kv_out, H}}},
                         true);
    layer.b_qkv = m.load_optional(ckpt, c.qkv_bias,
                                  {{a + "q_proj.bias", {q_out}}, {a + "k_proj.bias", {kv_out}},
                                   {a + "v_proj.bias", {kv_out}}});
    layer.q_norm = m.load_optional(ckpt, c.qk_norm, {{a + "q_norm.weight", {hd}}});
    layer.k_norm = m.load_optional(ckpt, c.qk_norm, {{a + "k_norm.weight", {hd}}});
    layer.w_o = m.load(ckpt, {{a + "o_proj.weight", {H, q_out}}}, true);
    layer.b_o = m.load_optional(ckpt, c.o_bias, {{a + "o_proj.bias", {H}}});
    layer.post_norm = m.load(ckpt, {{p + "post_attention_layernorm.weight", {H}}});
    layer.w_gate_up = m.load(ckpt, {{f + "gate_proj.weight", {I, H}}, {f + "up_proj.weight", {I, H}}}, true);
    layer.b_gate_up = m.load_optional(ckpt, c.mlp_bias, {{f + "gate_proj.bias", {I}}, {f + "up_proj.bias", {I}}});
    layer.w_down = m.load(ckpt, {{f + "down_proj.weight", {H, I}}}, true);
    layer.b_down = m.load_optional(ckpt, c.mlp_bias, {{f + "down_proj.bias", {H}}});
    m.layers.push_back(std::move(layer));
    reporter.advance();
  }
  m.final_norm = m.load(ckpt, {{"model.norm.weight", {H}}});
  if (c.tie_word_embeddings && !ckpt.contains("lm_head.weight")) {
    m.lm_head = m.embed;
  } else {
    m.lm_head = m.load(ckpt, {{"lm_head.weight", {c.vocab_size, H}}}, true);
  }
  unused_tensors_check(ckpt, m.loaded, c);
  m.loaded.clear();
  m.rope_init();
}

Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

const ModelConfig& Model::config() const noexcept { return impl_->config; }
const std::string& Model::path() const noexcept { return impl_->path; }
std::string Model::device() const { return impl_->device.str(); }
std::string Model::dtype() const { return dtype_text(impl_->dtype_option); }
std::string Model::compute_path() const {
  if (!impl_->fused_cpu) return "LibTorch operations";
  return impl_->matmul == cpu_kernels::MatmulBackend::onednn ? "fused CPU kernels, oneDNN matmul"
                                                             : "fused CPU kernels, BLAS matmul";
}
int64_t Model::weight_bytes() const { return impl_->weight_bytes; }
std::string Model::weight_type() const {
  std::string text;
  for (const auto& type : impl_->weight_types) text += (text.empty() ? "" : "+") + type;
  return text;
}

KVCache Model::cache_create(int64_t batch, int64_t capacity) const {
  if (batch < 0 || capacity < 1)
    throw ValueError("cache_create: batch must be >= 0 and capacity >= 1, got " +
                     std::to_string(batch) + " and " + std::to_string(capacity));
  c10::InferenceMode guard;
  const ModelConfig& c = impl_->config;
  KVCache cache;
  cache.capacity_ = capacity;
  cache.lengths_.assign(static_cast<std::size_t>(batch), 0);
  // The ATen path's padding queries may read never-written slots, which must
  // be finite; the fused CPU path reads only slots it wrote.
  const std::vector<int64_t> shape{c.num_hidden_layers, 2, batch, c.num_key_value_heads, capacity + 1, c.head_dim};
  const auto options = at::TensorOptions().dtype(impl_->dtype).device(impl_->device);
  cache.data_ = impl_->fused_cpu ? at::empty(shape, options) : at::zeros(shape, options);
  return cache;
}

at::Tensor Model::forward(const at::Tensor& input_ids, const at::Tensor& lengths, KVCache* cache,
                          const at::Tensor& logits_at, const std::vector<std::string>& adapters) const {
  const Impl& m = *impl_;
  const ModelConfig& c = m.config;
  at::Tensor logits;
  {
    c10::InferenceMode guard;
    if (!input_ids.defined() || input_ids.dim() != 2 || input_ids.size(0) < 1 || input_ids.size(1) < 1 ||
        !at::isIntegralType(input_ids.scalar_type(), false))
      throw ValueError("forward: input_ids must be a non-empty 2-D integer tensor [batch, tokens]");
    const int64_t B = input_ids.size(0), T = input_ids.size(1);
    const at::Tensor ids = input_ids.to(m.device, at::kLong);
    {
      const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
      if (lo < 0 || hi >= c.vocab_size)
        throw ValueError("forward: token id " + std::to_string(lo < 0 ? lo : hi) + " outside the vocabulary 0.." +
                         std::to_string(c.vocab_size - 1));
    }
    std::vector<int64_t> n_new(static_cast<std::size_t>(B), T);
    if (lengths.defined()) {
      if (lengths.dim() != 1 || lengths.size(0) != B)
        throw ValueError("forward: lengths must have shape [" + std::to_string(B) + "], got " +
                         shape_text(lengths.sizes()));
      const at::Tensor cpu = lengths.to(at::kCPU, at::kLong).contiguous();
      const int64_t* p = cpu.data_ptr<int64_t>();
      for (int64_t b = 0; b < B; ++b) {
        if (p[b] < 1 || p[b] > T)
          throw ValueError("forward: lengths[" + std::to_string(b) + "] = " + std::to_string(p[b]) +
                           " outside 1.." + std::to_string(T));
        n_new[b] = p[b];
      }
    }
    KVCache local;
    if (!cache) {
      local = cache_create(B, T);
      cache = &local;
    }
    if (cache->batch() != B)
      throw ValueError("forward: the KV cache holds " + std::to_string(cache->batch()) +
                       " sequences but input_ids has " + std::to_string(B));
    const int64_t nkv = c.num_key_value_heads, nh = c.num_attention_heads, hd = c.head_dim;
    {
      // A cache made by another model (other layer count, KV heads, head size,
      // dtype or device) would be written through this model's layout: the
      // fused kernels index it by raw pointer, out of its bounds.
      const std::vector<int64_t> needed{c.num_hidden_layers, 2, B, nkv, cache->capacity_ + 1, hd};
      const at::Tensor& data = cache->data_;
      const bool same_device = data.defined() && data.device().type() == m.device.type() &&
                               (!m.device.has_index() || data.device().index() == m.device.index());
      if (!same_device || data.sizes() != at::IntArrayRef(needed) || data.scalar_type() != m.dtype)
        throw ValueError("forward: the KV cache was made by another model: it holds " +
                         (data.defined() ? shape_text(data.sizes()) + " " + std::string(c10::toString(data.scalar_type())) +
                                               " on " + data.device().str()
                                         : std::string("no tensor")) +
                         ", this model needs " + shape_text(needed) + " " + c10::toString(m.dtype) + " on " +
                         m.device.str() + " (make it with this model's cache_create)");
    }
    const int64_t group = nh / nkv, slots = cache->capacity_ + 1;
    int64_t key_len = 0;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t start = cache->lengths_[b];
      if (start + n_new[b] > cache->capacity_)
        throw ValueError("forward: sequence " + std::to_string(b) + " would hold " +
                         std::to_string(start + n_new[b]) + " tokens, beyond the KV cache capacity " +
                         std::to_string(cache->capacity_));
      key_len = std::max(key_len, start + n_new[b]);
    }
    std::vector<int64_t> select;  // rows of [B*T, H] whose logits are wanted
    int64_t per_row = 1;
    if (logits_at.defined()) {
      if (logits_at.dim() != 2 || logits_at.size(0) != B)
        throw ValueError("forward: logits_at must have shape [" + std::to_string(B) + ", P], got " +
                         shape_text(logits_at.sizes()));
      per_row = logits_at.size(1);
      const at::Tensor cpu = logits_at.to(at::kCPU, at::kLong).contiguous();
      const int64_t* p = cpu.data_ptr<int64_t>();
      for (int64_t b = 0; b < B; ++b)
        for (int64_t i = 0; i < per_row; ++i) {
          const int64_t t = p[b * per_row + i];
          if (t < 0 || t >= n_new[b])
            throw ValueError("forward: logits_at[" + std::to_string(b) + "][" + std::to_string(i) + "] = " +
                             std::to_string(t) + " outside the row's new tokens 0.." + std::to_string(n_new[b] - 1));
          select.push_back(b * T + t);
        }
    } else {
      for (int64_t b = 0; b < B; ++b) select.push_back(b * T + n_new[b] - 1);
    }

    const std::vector<int> adapter_route = m.lora.route(adapters, B);
    at::Tensor normed;  // the final-normed hidden states of the `select` rows
    if (m.fused_cpu) {
      normed = m.forward_fused(ids, n_new, select, *cache, adapter_route);
    } else {
      // Positions of every token (padding too) and the cache slot each writes.
      std::vector<int64_t> positions(B * T), write_index(B * nkv * T);
      for (int64_t b = 0; b < B; ++b) {
        const int64_t start = cache->lengths_[b];
        for (int64_t t = 0; t < T; ++t) {
          positions[b * T + t] = start + t;
          const int64_t slot = t < n_new[b] ? start + t : cache->capacity_;  // padding -> spare slot
          for (int64_t h = 0; h < nkv; ++h) write_index[(b * nkv + h) * T + t] = (b * nkv + h) * slots + slot;
        }
      }
      const auto long_options = at::TensorOptions().dtype(at::kLong).device(m.device);
      const at::Tensor pos = at::tensor(positions, at::kLong).view({B, T}).to(m.device);
      const at::Tensor write = at::tensor(write_index, at::kLong).to(m.device);
      const at::Tensor rows = at::tensor(select, at::kLong).to(m.device);

      // Additive mask [B, 1, 1, T, key_len]: causal, and Mistral's sliding window.
      const at::Tensor key_pos = at::arange(key_len, long_options).view({1, 1, key_len});
      const at::Tensor query_pos = pos.unsqueeze(-1);
      at::Tensor blocked = key_pos > query_pos;
      if (c.sliding_window > 0) blocked.logical_or_((query_pos - key_pos) >= c.sliding_window);
      const double lowest = m.dtype == at::kHalf ? -65504.0 : -3.0e38;
      const at::Tensor mask = at::zeros({B, T, key_len}, at::TensorOptions().dtype(m.dtype).device(m.device))
                                  .masked_fill_(blocked, lowest)
                                  .view({B, 1, 1, T, key_len});

      const at::Tensor freqs = (pos.to(at::kFloat).unsqueeze(-1) * m.inv_freq).unsqueeze(2);  // [B, T, 1, hd/2]
      const at::Tensor cos = freqs.cos().to(m.dtype), sin = freqs.sin().to(m.dtype);
      const double scale = 1.0 / std::sqrt(static_cast<double>(hd));

      at::Tensor hidden = at::embedding(m.embed, ids);  // [B, T, H]
      const LoraBank::Rows lora_rows = m.lora.rows(adapter_route, {}, m.device);
      for (std::size_t li = 0; li < m.layers.size(); ++li) {
        const Layer& layer = m.layers[li];
        at::Tensor x = rms_norm(hidden, layer.input_norm, c.rms_norm_eps);
        const at::Tensor qkv = at::linear(x, layer.w_qkv, layer.b_qkv);
        m.lora.apply(qkv, x, static_cast<int64_t>(li), LoraSlot::qkv, lora_rows);
        at::Tensor q = qkv.narrow(-1, 0, nh * hd).view({B, T, nh, hd});
        at::Tensor k = qkv.narrow(-1, nh * hd, nkv * hd).view({B, T, nkv, hd});
        const at::Tensor v = qkv.narrow(-1, (nh + nkv) * hd, nkv * hd).view({B, T, nkv, hd});
        if (c.qk_norm) {
          q = rms_norm(q, layer.q_norm, c.rms_norm_eps);
          k = rms_norm(k, layer.k_norm, c.rms_norm_eps);
        }
        q = rope_apply(q, cos, sin);
        k = rope_apply(k, cos, sin);

        at::Tensor keys = cache->data_.select(0, static_cast<int64_t>(li)).select(0, 0);  // [B, nkv, slots, hd]
        at::Tensor values = cache->data_.select(0, static_cast<int64_t>(li)).select(0, 1);
        keys.view({B * nkv * slots, hd}).index_copy_(0, write, k.transpose(1, 2).reshape({B * nkv * T, hd}));
        values.view({B * nkv * slots, hd}).index_copy_(0, write, v.transpose(1, 2).reshape({B * nkv * T, hd}));

        // The query heads sharing a KV head are stacked along the query axis
        // (GQA without repeating keys): [B * nkv, group * T, hd].
        const at::Tensor queries =
            q.view({B, T, nkv, group, hd}).permute({0, 2, 3, 1, 4}).reshape({B * nkv, group * T, hd}).mul_(scale);
        const at::Tensor k_used = keys.narrow(2, 0, key_len).reshape({B * nkv, key_len, hd});
        const at::Tensor v_used = values.narrow(2, 0, key_len).reshape({B * nkv, key_len, hd});
        at::Tensor scores = at::bmm(queries, k_used.transpose(1, 2));
        scores.view({B, nkv, group, T, key_len}).add_(mask);
        const at::Tensor probs = m.dtype == at::kFloat ? at::softmax(scores, -1)
                                                       : at::softmax(scores, -1, at::kFloat).to(m.dtype);
        const at::Tensor attended = at::bmm(probs, v_used)
                                        .view({B, nkv, group, T, hd})
                                        .permute({0, 3, 1, 2, 4})
                                        .reshape({B, T, nh * hd});
        hidden.add_(at::linear(attended, layer.w_o, layer.b_o));
        m.lora.apply(hidden, attended, static_cast<int64_t>(li), LoraSlot::o, lora_rows);

        x = rms_norm(hidden, layer.post_norm, c.rms_norm_eps);
        const at::Tensor gate_up = at::linear(x, layer.w_gate_up, layer.b_gate_up);
        m.lora.apply(gate_up, x, static_cast<int64_t>(li), LoraSlot::gate_up, lora_rows);
        const int64_t I = c.intermediate_size;
        const at::Tensor act = at::silu(gate_up.narrow(-1, 0, I)).mul_(gate_up.narrow(-1, I, I));
        hidden.add_(at::linear(act, layer.w_down, layer.b_down));
        m.lora.apply(hidden, act, static_cast<int64_t>(li), LoraSlot::down, lora_rows);
      }
      const at::Tensor last = hidden.view({B * T, c.hidden_size}).index_select(0, rows);
      normed = rms_norm(last, m.final_norm, c.rms_norm_eps);
    }
    logits = m.fused_cpu ? m.linear(normed, m.lm_head) : at::linear(normed, m.lm_head).to(at::kFloat);
    logits = logits_at.defined() ? logits.view({B, per_row, c.vocab_size}) : logits.view({B, c.vocab_size});
    for (int64_t b = 0; b < B; ++b) cache->lengths_[b] += n_new[b];
  }
  // Outside inference mode: callers may modify the logits in place.
  return logits.clone();
}

// --- LoRA adapters: lora_bank.cpp does the work -----------------------------

void Model::adapter_load(const std::string& name, const std::string& dir) {
  adapter_add(name, lora_adapter_read(dir, impl_->config));
}
void Model::adapter_add(const std::string& name, const LoraAdapter& adapter) {
  lora_adapter_check(adapter, impl_->config, adapter.path.empty() ? "'" + name + "'" : adapter.path);
  impl_->lora.add(name, adapter, impl_->config, impl_->device, impl_->dtype);
}
void Model::adapter_unload(const std::string& name) { impl_->lora.remove(name); }
std::vector<std::string> Model::adapter_names() const { return impl_->lora.names(); }
const LoraAdapter& Model::adapter(const std::string& name) const { return impl_->lora.get(name); }
void Model::adapter_merge(const std::string& name) {
  impl_->dense_weights_require("adapter_merge");
  impl_->lora.merge(name, impl_->linears());
}
void Model::adapter_unmerge() { impl_->lora.restore(impl_->linears()); }
std::string Model::adapter_merged() const { return impl_->lora.merged(); }

DecoderWeights ModelAccess::weights(const Model& model) {
  const Model::Impl& m = *model.impl_;
  m.dense_weights_require("LoRA training");
  DecoderWeights w{m.config, m.device, m.dtype, m.embed, m.final_norm, m.lm_head, m.inv_freq, {}};
  for (const Layer& l : m.layers)
    w.layers.push_back({l.input_norm, l.w_qkv, l.b_qkv, l.q_norm, l.k_norm, l.w_o, l.b_o, l.post_norm, l.w_gate_up,
                        l.b_gate_up, l.w_down, l.b_down});
  return w;
}

}  // namespace culturespa

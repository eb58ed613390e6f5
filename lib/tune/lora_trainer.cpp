#include "culturespa/tune/lora_trainer.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "culturespa/core/dir_replace.h"
#include "culturespa/core/error.h"
#include "culturespa/core/logging.h"
#include "culturespa/model/distributed.h"
#include "culturespa/model/safetensors.h"

namespace culturespa {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// LLaMA-Factory's infer_seqlen: how many prompt and response tokens stay
// when prompt + response exceed the cutoff.
std::pair<int64_t, int64_t> seqlen_infer(int64_t source, int64_t target, int64_t cutoff) {
  int64_t max_target;
  if (target * 2 < cutoff) max_target = cutoff;
  else if (source * 2 < cutoff) max_target = cutoff - source;
  else max_target = static_cast<int64_t>(static_cast<double>(cutoff) * (static_cast<double>(target) /
                                                                       static_cast<double>(source + target)));
  const int64_t new_target = std::min(max_target, target);
  const int64_t new_source = std::min(std::max<int64_t>(cutoff - new_target, 0), source);
  return {new_source, new_target};
}

// transformers' schedules: the learning-rate multiplier of 0-based step `step`.
double schedule_factor(const std::string& kind, int64_t step, int64_t warmup, int64_t total) {
  if (step < warmup) return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
  if (kind == "constant") return 1.0;
  const double progress = static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
  if (kind == "linear") return std::max(0.0, 1.0 - progress);
  return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
}

uint64_t fnv1a(uint64_t hash, const void* data, std::size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) hash = (hash ^ p[i]) * 1099511628211ULL;
  return hash;
}

std::string conversation_role_check(const Conversation& c, std::size_t index) {
  if (c.size() < 2 || c.back().role != "assistant")
    throw ValueError("training conversation " + std::to_string(index) +
                     " must end with an assistant message after at least one prompt message");
  return c.back().content;
}

}  // namespace

LoraTrainerOptions lora_trainer_preset(const std::string& name) {
  LoraTrainerOptions o;  // the defaults are the reference's culture-joint settings
  if (name == "culturespa-joint") return o;
  if (name == "culturespa-specific") {
    o.effective_batch = 8;
    return o;
  }
  throw ValueError("unknown LoRA training preset '" + name + "' (culturespa-joint, culturespa-specific)");
}

std::vector<std::string> lora_trainer_presets() { return {"culturespa-joint", "culturespa-specific"}; }

// ---------------------------------------------------------------------------

struct CULTURESPA_HIDDEN LoraTrainer::Impl {
  const Model& model;
  const Tokenizer& tokenizer;
  LoraTrainerOptions options;
  at::Device device{at::kCPU};
  LoraAdapter adapter;
  std::vector<at::Tensor> exp_avg, exp_avg_sq;  // AdamW moments, one per parameter
  int64_t step = 0;                             // optimiser steps done
  std::vector<TrainStepLog> log;

  std::vector<at::Tensor> parameters() const {
    std::vector<at::Tensor> out;
    for (const LoraModule& m : adapter.modules) {
      out.push_back(m.a);
      out.push_back(m.b);
    }
    return out;
  }

  void adapter_adopt(const LoraAdapter& source) {
    adapter = source;
    for (LoraModule& m : adapter.modules) {
      m.a = m.a.detach().to(device, at::kFloat).clone().requires_grad_(true);
      m.b = m.b.detach().to(device, at::kFloat).clone().requires_grad_(true);
    }
    exp_avg.clear();
    exp_avg_sq.clear();
    for (const at::Tensor& p : parameters()) {
      exp_avg.push_back(at::zeros_like(p));
      exp_avg_sq.push_back(at::zeros_like(p));
    }
    step = 0;
    log.clear();
  }

  std::string checkpoint_dir() const { return (fs::path(options.output_dir) / "checkpoint").string(); }

  // What must match for a checkpoint to be resumed: the data and every option that shapes the run.
  std::string fingerprint(const std::vector<TrainExample>& examples) const {
    uint64_t h = 1469598103934665603ULL;
    for (const TrainExample& e : examples) {
      h = fnv1a(h, e.input_ids.data(), e.input_ids.size() * sizeof(int));
      h = fnv1a(h, &e.prompt_tokens, sizeof(e.prompt_tokens));
    }
    const LoraTrainerOptions& o = options;
    std::ostringstream text;
    text.precision(17);
    text << lora_config_json(adapter.config) << o.learning_rate << ' ' << o.epochs << ' ' << o.max_steps << ' '
         << o.scheduler << ' ' << o.warmup_ratio << ' ' << o.batch_size << ' ' << o.effective_batch << ' '
         << o.max_grad_norm << ' ' << o.weight_decay << ' ' << o.adam_beta1 << ' ' << o.adam_beta2 << ' '
         << o.adam_epsilon << ' ' << o.cutoff << ' ' << o.shuffle << ' ' << o.seed << ' ' << model.path();
    const std::string s = text.str();
    h = fnv1a(h, s.data(), s.size());
    std::ostringstream hex;
    hex << std::hex << h;
    return hex.str();
  }

  static json log_json(const std::vector<TrainStepLog>& steps) {
    json list = json::array();
    for (const TrainStepLog& s : steps)
      list.push_back({{"step", s.step}, {"loss", s.loss}, {"learning_rate", s.learning_rate},
                      {"grad_norm", s.grad_norm}, {"tokens", s.tokens}, {"seconds", s.seconds}});
    return list;
  }

  // adapter/, optimizer.safetensors and trainer_state.json, swapped in as one folder.
  void checkpoint_save(const std::string& print, int64_t total_steps) const {
    if (options.output_dir.empty()) return;
    const std::string staging = checkpoint_dir() + ".staging";
    fs::remove_all(staging);
    fs::create_directories(staging);
    lora_adapter_write((fs::path(staging) / "adapter").string(), adapter);
    std::vector<std::pair<std::string, at::Tensor>> moments;
    for (std::size_t i = 0; i < exp_avg.size(); ++i) {
      moments.emplace_back("exp_avg." + std::to_string(i), exp_avg[i]);
      moments.emplace_back("exp_avg_sq." + std::to_string(i), exp_avg_sq[i]);
    }
    safetensors_write((fs::path(staging) / "optimizer.safetensors").string(), moments);
    const json state = {{"step", step}, {"total_steps", total_steps}, {"fingerprint", print}, {"log", log_json(log)}};
    file_write_atomic((fs::path(staging) / "trainer_state.json").string(), state.dump(1) + "\n");
    dir_replace_atomic(staging, checkpoint_dir());
  }

  // Resumes from output_dir/checkpoint when it belongs to this run; returns its step.
  int64_t checkpoint_load(const std::string& print) {
    if (options.output_dir.empty()) return 0;
    const fs::path dir = checkpoint_dir();
    const fs::path state_path = dir / "trainer_state.json";
    if (!fs::exists(state_path)) return 0;
    json state;
    try {
      state = json::parse(file_read_text(state_path.string()));
    } catch (const json::exception& e) {
      throw FormatError(state_path.string() + " is not valid JSON: " + e.what());
    }
    if (state.value("fingerprint", std::string()) != print) {
      log_warning("LoraTrainer: ", dir.string(), " belongs to another run (other data or options); starting afresh");
      return 0;
    }
    adapter_adopt(lora_adapter_read((dir / "adapter").string(), model.config()));
    const SafetensorsFile moments((dir / "optimizer.safetensors").string());
    for (std::size_t i = 0; i < exp_avg.size(); ++i) {
      exp_avg[i] = moments.tensor("exp_avg." + std::to_string(i)).to(device, at::kFloat).clone();
      exp_avg_sq[i] = moments.tensor("exp_avg_sq." + std::to_string(i)).to(device, at::kFloat).clone();
    }
    step = state.at("step").get<int64_t>();
    for (const json& s : state.at("log"))
      log.push_back({s.at("step").get<int64_t>(), s.at("loss").get<double>(), s.at("learning_rate").get<double>(),
                     s.at("grad_norm").get<double>(), s.at("tokens").get<int64_t>(), s.at("seconds").get<double>()});
    return step;
  }

  // Loss (summed over response tokens, divided by `step_tokens`) of one micro-batch; runs backward.
  std::pair<double, int64_t> micro_batch(const std::vector<TrainExample>& examples, const std::vector<int64_t>& rows,
                                         int64_t step_tokens) {
    const int64_t B = static_cast<int64_t>(rows.size());
    int64_t T = 1, tokens = 0;
    for (const int64_t r : rows) T = std::max<int64_t>(T, examples[r].input_ids.size());
    at::Tensor ids = at::zeros({B, T}, at::kLong), lengths = at::empty({B}, at::kLong);
    std::vector<int64_t> positions, targets;
    auto id = ids.accessor<int64_t, 2>();
    for (int64_t b = 0; b < B; ++b) {
      const TrainExample& e = examples[rows[b]];
      const int64_t n = static_cast<int64_t>(e.input_ids.size());
      lengths[b] = n;
      tokens += n;
      for (int64_t t = 0; t < n; ++t) id[b][t] = e.input_ids[t];
      // The logits at t predict token t + 1: positions prompt-1 .. n-2.
      for (int64_t t = e.prompt_tokens - 1; t + 1 < n; ++t) {
        positions.push_back(b * T + t);
        targets.push_back(e.input_ids[t + 1]);
      }
    }
    const at::Tensor logits = model.forward_train(ids, lengths, at::tensor(positions, at::kLong), adapter,
                                                  options.gradient_checkpointing);
    const at::Tensor target = at::tensor(targets, at::kLong).to(logits.device()).unsqueeze(1);
    const at::Tensor loss = -at::log_softmax(logits, -1).gather(1, target).sum() / static_cast<double>(step_tokens);
    loss.backward();
    return {loss.item<double>(), tokens};
  }

  // Data-parallel step (docs/distributed.md): sums the gradients, the loss
  // and the token count over the ranks, so every rank holds what one
  // process accumulating every micro-batch of the step would hold.
  void all_reduce_step(Distributed& ranks, double& loss, int64_t& tokens) {
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> grads;
    for (at::Tensor p : parameters()) {  // a handle: its grad is the parameter's
      // A rank without a micro-batch in this step has no gradient yet.
      if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
      grads.push_back(p.grad());
    }
    ranks.all_reduce_sum(grads);
    std::vector<at::Tensor> stats{at::tensor({loss, static_cast<double>(tokens)}, at::kDouble)};
    ranks.all_reduce_sum(stats);
    loss = stats[0][0].item<double>();
    tokens = static_cast<int64_t>(stats[0][1].item<double>());
  }

  // Clips the gradients' global norm as torch.nn.utils.clip_grad_norm_ does; returns the norm before.
  double grad_clip() {
    std::vector<at::Tensor> norms;
    for (const at::Tensor& p : parameters())
      if (p.grad().defined()) norms.push_back(p.grad().norm(2));
    if (norms.empty()) return 0.0;
    const at::Tensor total = at::stack(norms).norm(2);
    if (options.max_grad_norm > 0) {
      const at::Tensor coef = (options.max_grad_norm / (total + 1e-6)).clamp_max(1.0);
      for (const at::Tensor& p : parameters())
        if (p.grad().defined()) p.mutable_grad().mul_(coef);
    }
    return total.item<double>();
  }

  // One AdamW update as torch.optim.AdamW's single-tensor path computes it.
  void adamw(double lr) {
    at::NoGradGuard no_grad;
    const LoraTrainerOptions& o = options;
    const double bias1 = 1.0 - std::pow(o.adam_beta1, static_cast<double>(step + 1));
    const double bias2 = 1.0 - std::pow(o.adam_beta2, static_cast<double>(step + 1));
    const std::vector<at::Tensor> params = parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      at::Tensor p = params[i];
      if (!p.grad().defined()) continue;
      const at::Tensor& g = p.grad();
      p.mul_(1.0 - lr * o.weight_decay);
      exp_avg[i].mul_(o.adam_beta1).add_(g, 1.0 - o.adam_beta1);
      exp_avg_sq[i].mul_(o.adam_beta2).addcmul_(g, g, 1.0 - o.adam_beta2);
      const at::Tensor denom = (exp_avg_sq[i].sqrt() / std::sqrt(bias2)).add_(o.adam_epsilon);
      p.addcdiv_(exp_avg[i], denom, -lr / bias1);
    }
    for (const at::Tensor& p : params)
      if (p.grad().defined()) p.mutable_grad().zero_();
  }
};

LoraTrainer::LoraTrainer(const Model& model, const Tokenizer& tokenizer, const LoraTrainerOptions& options)
    : impl_(std::make_unique<Impl>(Impl{model, tokenizer, options})) {
  const LoraTrainerOptions& o = options;
  const auto bad = [](const std::string& what) { throw ValueError("LoraTrainerOptions: " + what); };
  if (!(o.learning_rate > 0) || !std::isfinite(o.learning_rate)) bad("learning_rate must be finite and > 0");
  // An infinite epoch count would become an undefined step count.
  if (!std::isfinite(o.epochs) || (!(o.epochs > 0) && o.max_steps <= 0))
    bad("epochs must be finite and > 0 (or max_steps set)");
  if (o.max_steps < 0 || o.save_steps < 0) bad("max_steps and save_steps must be >= 0");
  if (o.batch_size < 1 || o.effective_batch < 1) bad("batch_size and effective_batch must be >= 1");
  if (o.cutoff < 2) bad("cutoff must be >= 2, got " + std::to_string(o.cutoff));
  if (!(o.warmup_ratio >= 0 && o.warmup_ratio < 1)) bad("warmup_ratio must be in [0, 1)");
  if (o.scheduler != "cosine" && o.scheduler != "linear" && o.scheduler != "constant")
    bad("scheduler '" + o.scheduler + "' is not one of cosine, linear, constant");
  if (o.lora.dropout != 0.0)
    bad("lora.dropout must be 0 (LoRA dropout in training is not implemented; the reference uses 0)");
  impl_->device = at::Device(model.device());
  impl_->adapter_adopt(lora_adapter_init(model.config(), o.lora, o.seed));
}

LoraTrainer::~LoraTrainer() = default;

const LoraTrainerOptions& LoraTrainer::options() const noexcept { return impl_->options; }

void LoraTrainer::adapter_set(const LoraAdapter& adapter) {
  lora_adapter_check(adapter, impl_->model.config(), adapter.path.empty() ? "adapter_set" : adapter.path);
  impl_->options.lora = adapter.config;
  impl_->adapter_adopt(adapter);
}

const LoraAdapter& LoraTrainer::adapter() const { return impl_->adapter; }

std::vector<TrainExample> LoraTrainer::tokenize(const std::vector<Conversation>& conversations,
                                                int64_t* skipped_empty, int64_t* truncated) const {
  const Tokenizer& tok = impl_->tokenizer;
  ChatTemplateOptions prompt_options;
  prompt_options.format = impl_->options.chat_format.empty() ? tok.chat_format() : impl_->options.chat_format;
  ChatTemplateOptions full_options = prompt_options;
  full_options.add_generation_prompt = false;
  EncodeOptions response_encoding;
  response_encoding.add_special_tokens = false;
  response_encoding.parse_special = true;
  std::vector<TrainExample> out;
  int64_t empty = 0, cut = 0;
  for (std::size_t i = 0; i < conversations.size(); ++i) {
    const Conversation& conversation = conversations[i];
    const std::string answer = conversation_role_check(conversation, i);
    if (answer.find_first_not_of(" \t\r\n") == std::string::npos) {
      ++empty;
      continue;
    }
    const Conversation prompt(conversation.begin(), conversation.end() - 1);
    const std::string prompt_text = tok.apply_chat_template(prompt, prompt_options);
    const std::string full_text = tok.apply_chat_template(conversation, full_options);
    if (full_text.compare(0, prompt_text.size(), prompt_text) != 0)
      throw ValueError("training conversation " + std::to_string(i) + ": the chat format '" + prompt_options.format +
                       "' does not render the prompt as a prefix of the whole conversation");
    TrainExample e;
    e.source = static_cast<int64_t>(i);
    e.input_ids = tok.encode_chat(prompt, prompt_options);
    std::vector<int> response = tok.encode(std::string_view(full_text).substr(prompt_text.size()), response_encoding);
    if (response.empty()) {
      ++empty;
      continue;
    }
    const int64_t cutoff = impl_->options.cutoff;
    const int64_t source = static_cast<int64_t>(e.input_ids.size()), target = static_cast<int64_t>(response.size());
    if (source + target > cutoff) {
      const auto [keep_source, keep_target] = seqlen_infer(source, target, cutoff);
      e.input_ids.resize(static_cast<std::size_t>(keep_source));
      response.resize(static_cast<std::size_t>(keep_target));
      e.truncated = true;
      ++cut;
      if (keep_target == 0 || keep_source == 0) {  // nothing left to learn from, or to condition on
        ++empty;
        continue;
      }
    }
    e.prompt_tokens = static_cast<int64_t>(e.input_ids.size());
    e.input_ids.insert(e.input_ids.end(), response.begin(), response.end());
    out.push_back(std::move(e));
  }
  if (skipped_empty) *skipped_empty = empty;
  if (truncated) *truncated = cut;
  return out;
}

std::vector<std::vector<std::vector<int64_t>>> LoraTrainer::plan(const std::vector<TrainExample>& examples) const {
  const LoraTrainerOptions& o = impl_->options;
  const int64_t n = static_cast<int64_t>(examples.size());
  std::vector<std::vector<std::vector<int64_t>>> steps;
  if (n == 0) return steps;
  const int64_t per_epoch = (n + o.effective_batch - 1) / o.effective_batch;
  const int64_t total = o.max_steps > 0 ? o.max_steps
                                        : std::max<int64_t>(1, static_cast<int64_t>(std::ceil(o.epochs * per_epoch)));
  for (int64_t epoch = 0; static_cast<int64_t>(steps.size()) < total; ++epoch) {
    std::vector<int64_t> order(static_cast<std::size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[i] = i;
    if (o.shuffle) {
      std::mt19937_64 rng(o.seed * 1000003ULL + static_cast<uint64_t>(epoch));
      for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng() % static_cast<uint64_t>(i + 1)]);
    }
    for (int64_t start = 0; start < n && static_cast<int64_t>(steps.size()) < total; start += o.effective_batch) {
      std::vector<int64_t> members(order.begin() + start, order.begin() + std::min(n, start + o.effective_batch));
      // Length buckets: similar lengths share a micro-batch, so little padding.
      std::stable_sort(members.begin(), members.end(), [&](int64_t a, int64_t b) {
        return examples[a].input_ids.size() > examples[b].input_ids.size();
      });
      std::vector<std::vector<int64_t>> micro;
      for (std::size_t i = 0; i < members.size(); i += static_cast<std::size_t>(o.batch_size))
        micro.emplace_back(members.begin() + i,
                           members.begin() + std::min(members.size(), i + static_cast<std::size_t>(o.batch_size)));
      steps.push_back(std::move(micro));
    }
  }
  return steps;
}

TrainResult LoraTrainer::train(const std::vector<Conversation>& conversations, const TrainCallback& callback) {
  Impl& m = *impl_;
  const LoraTrainerOptions& o = m.options;
  TrainResult result;
  result.examples = static_cast<int64_t>(conversations.size());
  if (conversations.empty()) throw ValueError("LoraTrainer.train: the dataset is empty");
  const std::vector<TrainExample> examples = tokenize(conversations, &result.skipped_empty, &result.truncated);
  if (examples.empty())
    throw ValueError("LoraTrainer.train: none of the " + std::to_string(conversations.size()) +
                     " conversations has a non-empty response after templating");
  result.used = static_cast<int64_t>(examples.size());
  if (result.skipped_empty > 0)
    log_warning("LoraTrainer: skipped ", result.skipped_empty, " conversation(s) with an empty response");
  if (result.truncated > 0)
    log_warning("LoraTrainer: truncated ", result.truncated, " sequence(s) to the cutoff of ", o.cutoff, " tokens");
  const auto plan = this->plan(examples);
  const int64_t total = static_cast<int64_t>(plan.size());
  const int64_t warmup = static_cast<int64_t>(std::ceil(o.warmup_ratio * static_cast<double>(total)));
  const std::string print = m.fingerprint(examples);
  // Several ranks (distributed_init): the micro-batches of each step are
  // split (micro-batch i to rank i % world) and the gradients summed; every
  // rank resumes from the same checkpoint and only rank 0 writes.
  const std::shared_ptr<Distributed> ranks = distributed_group();
  const bool lead = !ranks || ranks->rank() == 0;
  result.resumed_from = m.checkpoint_load(print);
  // Also keeps rank 0 from replacing the checkpoint before every rank has read it.
  if (ranks) ranks->require_same("LoRA training data, options and checkpoint", print + "@" + std::to_string(m.step));
  if (result.resumed_from > 0) log_info("LoraTrainer: resumed from step ", result.resumed_from, " of ", total);

  at::AutoGradMode grad_mode(true);
  const auto started = std::chrono::steady_clock::now();
  int64_t run_tokens = 0;
  for (; m.step < total; ) {
    const auto step_started = std::chrono::steady_clock::now();
    const double lr = o.learning_rate * schedule_factor(o.scheduler, m.step, warmup, total);
    int64_t step_tokens = 0, tokens = 0;
    for (const auto& micro : plan[m.step])
      for (const int64_t r : micro) step_tokens += static_cast<int64_t>(examples[r].input_ids.size()) - examples[r].prompt_tokens;
    double loss = 0.0;
    const auto& micros = plan[m.step];
    for (std::size_t i = 0; i < micros.size(); ++i) {
      if (ranks && !ranks->owns(i)) continue;
      const auto [part, n] = m.micro_batch(examples, micros[i], step_tokens);
      loss += part;
      tokens += n;
    }
    if (ranks) m.all_reduce_step(*ranks, loss, tokens);
    if (!std::isfinite(loss))
      throw Error("LoraTrainer: the loss became " + std::to_string(loss) + " at step " + std::to_string(m.step + 1) +
                  "; training stopped" +
                  (o.output_dir.empty() ? std::string()
                                        : " and " + m.checkpoint_dir() + " keeps the last good state (step " +
                                              std::to_string(m.step) + ")"));
    const double norm = m.grad_clip();
    m.adamw(lr);
    ++m.step;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - step_started).count();
    m.log.push_back({m.step, loss, lr, norm, tokens, seconds});
    run_tokens += tokens;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    TrainProgress progress{m.step, total, loss, lr, run_tokens / std::max(elapsed, 1e-9),
                           elapsed / static_cast<double>(m.step - result.resumed_from) *
                               static_cast<double>(total - m.step)};
    if (o.logging_steps > 0 && (m.step % o.logging_steps == 0 || m.step == total))
      log_info("LoraTrainer: step ", m.step, "/", total, " loss ", loss, " lr ", lr, " ", progress.tokens_per_second,
               " tokens/s, ETA ", progress.eta_seconds, " s");
    bool go_on = !callback || callback(progress);
    if (ranks) {  // one rank stopping stops all
      std::vector<at::Tensor> stop{at::tensor({go_on ? 0.0 : 1.0}, at::kDouble)};
      ranks->all_reduce_sum(stop);
      go_on = stop[0].item<double>() == 0.0;
    }
    if (lead && (!go_on || (o.save_steps > 0 && m.step % o.save_steps == 0 && m.step < total)))
      m.checkpoint_save(print, total);
    if (!go_on)
      throw CancelledError("LoraTrainer: stopped at step " + std::to_string(m.step) +
                           (o.output_dir.empty() ? std::string() : "; checkpoint saved in " + m.checkpoint_dir()));
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  result.tokens_per_second = run_tokens / std::max(result.seconds, 1e-9);
  result.steps = m.log;
  if (!o.output_dir.empty() && !lead) {
    ranks->barrier("the end of LoRA training (rank 0 writes " + o.output_dir + ")");
    result.adapter_path = o.output_dir;
  } else if (!o.output_dir.empty()) {
    // The adapter and its log swapped in as one folder (the checkpoint goes with the old one).
    const std::string staging = o.output_dir + ".staging";
    lora_adapter_write(staging, m.adapter);
    const json training_log = {{"examples", result.examples},   {"used", result.used},
                               {"skipped_empty", result.skipped_empty}, {"truncated", result.truncated},
                               {"total_steps", total},          {"warmup_steps", warmup},
                               {"resumed_from", result.resumed_from}, {"options", {{"learning_rate", o.learning_rate},
                                                                                 {"effective_batch", o.effective_batch},
                                                                                 {"batch_size", o.batch_size},
                                                                                 {"scheduler", o.scheduler},
                                                                                 {"warmup_ratio", o.warmup_ratio},
                                                                                 {"cutoff", o.cutoff},
                                                                                 {"seed", o.seed}}},
                               {"steps", Impl::log_json(m.log)}};
    file_write_atomic((fs::path(staging) / "training_log.json").string(), training_log.dump(1) + "\n");
    dir_replace_atomic(staging, o.output_dir);
    result.adapter_path = o.output_dir;
    if (ranks) ranks->barrier("the end of LoRA training");
  }
  return result;
}
// ---------------------------------------------------------------------------

std::vector<Conversation> tune_data_read(const std::string& path) {
  const std::string text = file_read_text(path);
  std::vector<Conversation> out;
  const auto message_of = [&](const json& m, std::size_t record) {
    if (!m.is_object() || !m.contains("role") || !m.contains("content") || !m["role"].is_string() ||
        !m["content"].is_string())
      throw FormatError(path + ": record " + std::to_string(record) +
                        " has a message without string 'role' and 'content'");
    return ChatMessage{m["role"].get<std::string>(), m["content"].get<std::string>()};
  };
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '[') {  // Alpaca: one JSON list
    json list;
    try {
      list = json::parse(text);
    } catch (const json::exception& e) {
      throw FormatError(path + " is not valid JSON: " + e.what());
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      const json& r = list[i];
      if (!r.is_object() || !r.contains("instruction") || !r.contains("output") || !r["instruction"].is_string() ||
          !r["output"].is_string())
        throw FormatError(path + ": record " + std::to_string(i) +
                          " is not an Alpaca record (string 'instruction' and 'output')");
      Conversation c;
      if (r.contains("system") && r["system"].is_string() && !r["system"].get<std::string>().empty())
        c.push_back({"system", r["system"].get<std::string>()});
      std::string user = r["instruction"].get<std::string>();
      if (r.contains("input") && r["input"].is_string() && !r["input"].get<std::string>().empty())
        user += "\n" + r["input"].get<std::string>();  // LLaMA-Factory's join
      c.push_back({"user", user});
      c.push_back({"assistant", r["output"].get<std::string>()});
      out.push_back(std::move(c));
    }
    return out;
  }
  std::istringstream lines(text);
  std::string line;
  std::size_t record = 0;
  while (std::getline(lines, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json r;
    try {
      r = json::parse(line);
    } catch (const json::exception& e) {
      throw FormatError(path + ": line " + std::to_string(record + 1) + " is not valid JSON: " + e.what());
    }
    if (!r.is_object() || !r.contains("messages") || !r["messages"].is_array())
      throw FormatError(path + ": record " + std::to_string(record) + " has no 'messages' list");
    Conversation c;
    for (const json& m : r["messages"]) c.push_back(message_of(m, record));
    out.push_back(std::move(c));
    ++record;
  }
  return out;
}

}  // namespace culturespa

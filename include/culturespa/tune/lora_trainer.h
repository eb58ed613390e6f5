// culturespa/tune/lora_trainer.h: LoRA supervised fine-tuning in C++
// (docs/tuning.md), the paper's step 4.
//
// LoraTrainer trains a LoRA adapter on conversations (system, user,
// assistant) with LibTorch autograd over Model::forward_train; the base
// weights stay frozen. The chat template is applied as at inference: the
// prompt is the conversation without its last (assistant) message, rendered
// with the generation prompt and encoded as the Generator encodes it; the
// response is the rest of the fully rendered conversation (the answer and the
// end-of-turn text), encoded on its own. Only response tokens count in the
// loss. Sequences longer than `cutoff` are truncated as LLaMA-Factory does
// (infer_seqlen) and counted.
//
// Optimisation matches a transformers Trainer + PEFT run: AdamW (as
// torch.optim.AdamW computes it), linear warmup for ceil(warmup_ratio x
// steps) steps then cosine (or linear, or constant) decay, gradient
// accumulation up to `effective_batch` sequences per optimiser step (loss =
// mean over all response tokens of the step), gradient-norm clipping.
//
// Batches: each epoch shuffles the examples (from `seed`), cuts them into
// steps of effective_batch sequences, and each step into micro-batches of
// similar length (sorted by length, right-padded, padding masked). The plan
// depends only on the data and the options, so a run is deterministic and a
// resumed run replays exactly what remained.
//
// Checkpoints: every `save_steps` optimiser steps (and when stopped) the
// adapter, AdamW's moments and the step are written atomically to
// output_dir/checkpoint; train() resumes from it when it matches the data and
// options (kill -9 at any point loses at most the steps since). The final
// adapter is a PEFT folder in output_dir (adapter_config.json,
// adapter_model.safetensors) with training_log.json (per step: loss, learning
// rate, gradient norm, tokens).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "culturespa/model/lora.h"
#include "culturespa/model/model.h"
#include "culturespa/text/conversation.h"
#include "culturespa/text/tokenizer.h"
#include "culturespa/core/export.h"

namespace culturespa {

struct CULTURESPA_API LoraTrainerOptions {
  LoraConfig lora;                    // default: r 8, alpha 16, dropout 0, all linear layers
  double learning_rate = 1e-4;
  double epochs = 1.0;                // may be fractional
  int64_t max_steps = 0;              // > 0: stop after this many optimiser steps (overrides epochs)
  std::string scheduler = "cosine";   // "cosine", "linear" or "constant" (after warmup)
  double warmup_ratio = 0.1;          // share of the steps with linear warmup from 0
  int64_t batch_size = 8;             // sequences per forward pass (micro-batch)
  int64_t effective_batch = 128;      // sequences per optimiser step (gradient accumulation)
  double max_grad_norm = 1.0;         // clip the gradients' global norm; 0 = off
  double weight_decay = 0.0;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  int64_t cutoff = 4096;              // longest sequence (prompt + response) in tokens
  bool gradient_checkpointing = false;
  bool shuffle = true;                // shuffle each epoch (from seed)
  uint64_t seed = 42;                 // adapter initialisation, shuffling, dropout
  int64_t save_steps = 0;             // checkpoint every N optimiser steps; 0 = only when stopped
  std::string output_dir;             // where the adapter, the log and the checkpoint go ("" = nowhere)
  std::string chat_format = "";       // "" = the tokenizer's own
  int64_t logging_steps = 1;          // log a line every N steps
};

// The reference's LLaMA-Factory settings: "culturespa-joint" (effective batch
// 128) and "culturespa-specific" (effective batch 8); ValueError naming other names.
CULTURESPA_API LoraTrainerOptions lora_trainer_preset(const std::string& name);
CULTURESPA_API std::vector<std::string> lora_trainer_presets();

// One tokenized training sequence.
struct CULTURESPA_API TrainExample {
  std::vector<int> input_ids;  // prompt then response
  int64_t prompt_tokens = 0;   // the first prompt_tokens are masked out of the loss
  int64_t source = 0;          // index of the conversation it came from
  bool truncated = false;
};

struct CULTURESPA_API TrainStepLog {
  int64_t step = 0;            // 1-based optimiser step
  double loss = 0.0;           // mean over the step's response tokens
  double learning_rate = 0.0;  // the rate this step used
  double grad_norm = 0.0;      // before clipping
  int64_t tokens = 0;          // tokens run (prompt + response, no padding)
  double seconds = 0.0;
};

struct CULTURESPA_API TrainProgress {
  int64_t step = 0, total_steps = 0;
  double loss = 0.0, learning_rate = 0.0;
  double tokens_per_second = 0.0;
  double eta_seconds = 0.0;
};
// Called after each optimiser step; return false to stop (a checkpoint is
// saved first, then CancelledError).
using TrainCallback = std::function<bool(const TrainProgress& progress)>;

struct CULTURESPA_API TrainResult {
  std::vector<TrainStepLog> steps;  // this run's and, when resumed, the earlier ones
  int64_t examples = 0;             // conversations given
  int64_t used = 0;                 // sequences trained on
  int64_t skipped_empty = 0;        // conversations whose response is empty after templating
  int64_t truncated = 0;            // sequences cut to the cutoff
  int64_t resumed_from = 0;         // the checkpoint's step, 0 when started fresh
  double seconds = 0.0;             // this run's training time
  double tokens_per_second = 0.0;   // this run's
  std::string adapter_path;         // the PEFT folder written ("" without output_dir)
};

class CULTURESPA_API LoraTrainer {
 public:
  // The model must outlive the trainer; it runs on its device and dtype
  // (fp32 on CPU, bf16 on CUDA as loaded). The adapter's trainable tensors
  // are float32 on the model's device. ValueError for bad options.
  LoraTrainer(const Model& model, const Tokenizer& tokenizer, const LoraTrainerOptions& options = {});
  ~LoraTrainer();

  const LoraTrainerOptions& options() const noexcept;

  // The sequences `conversations` train on (each ends with the assistant
  // answer). `skipped_empty`/`truncated` receive the counts when given.
  std::vector<TrainExample> tokenize(const std::vector<Conversation>& conversations,
                                     int64_t* skipped_empty = nullptr, int64_t* truncated = nullptr) const;
  // The plan: per optimiser step, its micro-batches of indices into `examples`.
  std::vector<std::vector<std::vector<int64_t>>> plan(const std::vector<TrainExample>& examples) const;

  // Starts from `adapter` instead of a fresh PEFT-style initialisation (its
  // config replaces options().lora).
  void adapter_set(const LoraAdapter& adapter);
  // The adapter as trained so far (float32 tensors on the model's device).
  const LoraAdapter& adapter() const;

  // Trains. ValueError for an empty dataset (or one whose every response is
  // empty); Error when the loss becomes NaN or infinite (the last good
  // checkpoint stays); CancelledError when `callback` returns false.
  //
  // Under a process group (distributed_init(), docs/distributed.md) every
  // rank calls train() alike (the same model, data and options: ConfigError
  // otherwise): micro-batch i of each step runs on rank i % world size, the
  // LoRA gradients, loss and token count are summed over the ranks, and every
  // rank applies the same update, so the adapter equals one process's with
  // the same effective batch. Rank 0 writes the checkpoints and the adapter
  // (output_dir shared by all ranks); every rank resumes from the checkpoint.
  TrainResult train(const std::vector<Conversation>& conversations, const TrainCallback& callback = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads training conversations from what `culturespa export` writes: an
// Alpaca JSON list ({"instruction", "input", "output", "system"}), or JSONL
// of {"messages": [{"role", "content"}, ...]} (TRL / ShareGPT-messages).
// FormatError naming the file and the record for anything else.
CULTURESPA_API std::vector<Conversation> tune_data_read(const std::string& path);

}  // namespace culturespa

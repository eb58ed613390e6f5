// LoraTrainer and its results (culturespa/tune/lora_trainer.h).
#include <torch/python.h>

#include "common.h"
#include "core/result_class.h"
#include "culturespa/core/error.h"
#include "culturespa/tune/lora_trainer.h"
#include "text/conversation.h"

namespace culturespa::bindings {
namespace {

std::vector<Conversation> conversations_from_python(const py::handle& items) {
  std::vector<Conversation> out;
  for (const auto& item : py::iter(items)) out.push_back(conversation_from_python(item));
  return out;
}

}  // namespace

void register_lora_trainer(py::module_& m) {
  ResultClass<TrainStepLog>(m, "TrainStepLog", "One optimiser step of a LoRA training run.")
      .field("step", &TrainStepLog::step)
      .field("loss", &TrainStepLog::loss)
      .field("learning_rate", &TrainStepLog::learning_rate)
      .field("grad_norm", &TrainStepLog::grad_norm)
      .field("tokens", &TrainStepLog::tokens)
      .field("seconds", &TrainStepLog::seconds)
      .done();

  ResultClass<TrainProgress>(m, "TrainProgress", "Where a training run stands (given to the callback).")
      .field("step", &TrainProgress::step)
      .field("total_steps", &TrainProgress::total_steps)
      .field("loss", &TrainProgress::loss)
      .field("learning_rate", &TrainProgress::learning_rate)
      .field("tokens_per_second", &TrainProgress::tokens_per_second)
      .field("eta_seconds", &TrainProgress::eta_seconds)
      .done();

  ResultClass<TrainExample>(m, "TrainExample", "A tokenized training sequence: prompt then response.")
      .field("input_ids", &TrainExample::input_ids)
      .field("prompt_tokens", &TrainExample::prompt_tokens)
      .field("source", &TrainExample::source)
      .field("truncated", &TrainExample::truncated)
      .done();

  ResultClass<TrainResult>(m, "TrainResult", "What a training run did.")
      .field("steps", &TrainResult::steps)
      .field("examples", &TrainResult::examples)
      .field("used", &TrainResult::used)
      .field("skipped_empty", &TrainResult::skipped_empty)
      .field("truncated", &TrainResult::truncated)
      .field("resumed_from", &TrainResult::resumed_from)
      .field("seconds", &TrainResult::seconds)
      .field("tokens_per_second", &TrainResult::tokens_per_second)
      .field("adapter_path", &TrainResult::adapter_path)
      .done();

  m.def("lora_trainer_presets", &lora_trainer_presets, "Names of the built-in training presets.");
  m.def(
      "lora_trainer_preset",
      [](const std::string& name) {
        const LoraTrainerOptions o = lora_trainer_preset(name);
        return py::dict(py::arg("r") = o.lora.r, py::arg("lora_alpha") = o.lora.alpha,
                        py::arg("lora_dropout") = o.lora.dropout, py::arg("learning_rate") = o.learning_rate,
                        py::arg("epochs") = o.epochs, py::arg("scheduler") = o.scheduler,
                        py::arg("warmup_ratio") = o.warmup_ratio, py::arg("effective_batch") = o.effective_batch,
                        py::arg("cutoff") = o.cutoff);
      },
      py::arg("name"),
      "A preset's settings as LoraTrainer keyword arguments: LoraTrainer(model, tokenizer, **lora_trainer_preset(name)).");

  const LoraTrainerOptions d;
  py::class_<LoraTrainer>(m, "LoraTrainer", R"pbdoc(LoRA supervised fine-tuning over the C++ model (docs/tuning.md).

Trains only the adapter with AdamW, linear warmup then cosine/linear/constant
decay, gradient accumulation to ``effective_batch`` sequences per step and
gradient clipping; the loss covers response tokens only, the prompt rendered
with the chat template as at inference. ``output_dir`` receives the PEFT
adapter folder and training_log.json; with ``save_steps`` it also keeps a
resumable checkpoint. Defaults are the reference's culture-joint settings.)pbdoc")
      .def(py::init([](const Model& model, const Tokenizer& tokenizer, int64_t r, double lora_alpha,
                       double lora_dropout, bool use_rslora, const std::vector<std::string>& target_modules,
                       double learning_rate, double epochs, int64_t max_steps, const std::string& scheduler,
                       double warmup_ratio, int64_t batch_size, int64_t effective_batch, double max_grad_norm,
                       double weight_decay, int64_t cutoff, bool gradient_checkpointing, bool shuffle, uint64_t seed,
                       int64_t save_steps, const std::string& output_dir, const std::string& chat_format,
                       int64_t logging_steps) {
             LoraTrainerOptions o;
             o.lora.r = r;
             o.lora.alpha = lora_alpha;
             o.lora.dropout = lora_dropout;
             o.lora.use_rslora = use_rslora;
             o.lora.targets.clear();
             for (const auto& t : target_modules) o.lora.targets.push_back(lora_target_from_name(t));
             o.learning_rate = learning_rate;
             o.epochs = epochs;
             o.max_steps = max_steps;
             o.scheduler = scheduler;
             o.warmup_ratio = warmup_ratio;
             o.batch_size = batch_size;
             o.effective_batch = effective_batch;
             o.max_grad_norm = max_grad_norm;
             o.weight_decay = weight_decay;
             o.cutoff = cutoff;
             o.gradient_checkpointing = gradient_checkpointing;
             o.shuffle = shuffle;
             o.seed = seed;
             o.save_steps = save_steps;
             o.output_dir = output_dir;
             o.chat_format = chat_format;
             o.logging_steps = logging_steps;
             return std::make_unique<LoraTrainer>(model, tokenizer, o);
           }),
           py::arg("model"), py::arg("tokenizer"), py::kw_only(), py::arg("r") = d.lora.r,
           py::arg("lora_alpha") = d.lora.alpha, py::arg("lora_dropout") = d.lora.dropout,
           py::arg("use_rslora") = d.lora.use_rslora,
           py::arg("target_modules") = std::vector<std::string>{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                                "up_proj", "down_proj"},
           py::arg("learning_rate") = d.learning_rate, py::arg("epochs") = d.epochs, py::arg("max_steps") = d.max_steps,
           py::arg("scheduler") = d.scheduler, py::arg("warmup_ratio") = d.warmup_ratio,
           py::arg("batch_size") = d.batch_size, py::arg("effective_batch") = d.effective_batch,
           py::arg("max_grad_norm") = d.max_grad_norm, py::arg("weight_decay") = d.weight_decay,
           py::arg("cutoff") = d.cutoff, py::arg("gradient_checkpointing") = d.gradient_checkpointing,
           py::arg("shuffle") = d.shuffle, py::arg("seed") = d.seed, py::arg("save_steps") = d.save_steps,
           py::arg("output_dir") = d.output_dir, py::arg("chat_format") = d.chat_format,
           py::arg("logging_steps") = d.logging_steps, py::keep_alive<1, 2>(), py::keep_alive<1, 3>())
      .def_property_readonly("adapter", &LoraTrainer::adapter, py::return_value_policy::copy,
                             "The adapter as trained so far (a copy).")
      .def("adapter_set", &LoraTrainer::adapter_set, py::arg("adapter"),
           "Starts from ``adapter`` instead of a fresh initialisation.")
      .def(
          "tokenize",
          [](const LoraTrainer& t, const py::object& conversations) {
            return t.tokenize(conversations_from_python(conversations));
          },
          py::arg("conversations"), "The training sequences of conversations (each ending with the answer).")
      .def("plan", &LoraTrainer::plan, py::arg("examples"),
           "Per optimiser step, its micro-batches of indices into ``examples``.")
      .def(
          "train",
          [](LoraTrainer& t, const py::object& conversations, py::object callback) {
            const std::vector<Conversation> data = conversations_from_python(conversations);
            auto held = std::make_shared<py::object>(std::move(callback));
            bool interrupted = false;
            const TrainCallback on_step = [held, &interrupted](const TrainProgress& p) -> bool {
              py::gil_scoped_acquire gil;
              if (PyErr_CheckSignals() != 0) {  // Ctrl-C: save a checkpoint, then stop
                PyErr_Clear();
                interrupted = true;
                return false;
              }
              if (held->is_none()) return true;
              const py::object keep_going = (*held)(p);
              return keep_going.is_none() || keep_going.cast<bool>();
            };
            try {
              py::gil_scoped_release release;
              return t.train(data, on_step);
            } catch (const CancelledError&) {
              if (interrupted) {
                PyErr_SetNone(PyExc_KeyboardInterrupt);
                throw py::error_already_set();
              }
              throw;
            }
          },
          py::arg("conversations"), py::kw_only(), py::arg("callback") = py::none(),
          R"pbdoc(Trains on conversations (lists of {"role", "content"} ending with the
assistant answer). ``callback(TrainProgress)`` runs after each step; returning
False stops after saving a checkpoint (Ctrl-C too, raising KeyboardInterrupt).)pbdoc");

  m.def(
      "tune_data_read",
      [](const std::string& path) {
        py::list out;
        for (const Conversation& c : tune_data_read(path)) out.append(conversation_to_python(c));
        return out;
      },
      py::arg("path"),
      "Conversations (lists of {\"role\", \"content\"}) from an exported Alpaca JSON list or messages JSONL file.");
}

}  // namespace culturespa::bindings

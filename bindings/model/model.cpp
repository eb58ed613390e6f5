#include "common.h"

#include <torch/python.h>

#include "culturespa/core/error.h"
#include "culturespa/model/model.h"

namespace culturespa::bindings {
namespace {

bool is_tensor(const py::handle& o) { return THPVariable_Check(o.ptr()); }

// Integer rows from a Python sequence of sequences (a flat sequence is one row).
std::vector<std::vector<int64_t>> int_rows(const py::handle& items, const char* what) {
  std::vector<std::vector<int64_t>> rows;
  bool flat = true;
  for (const auto& item : py::iter(items)) {
    flat = !is_tensor(item) && !py::isinstance<py::sequence>(item);
    break;
  }
  if (flat) {
    rows.push_back(items.cast<std::vector<int64_t>>());
    return rows;
  }
  for (const auto& item : py::iter(items)) {
    if (is_tensor(item))
      rows.push_back(py::reinterpret_borrow<py::object>(item).attr("tolist")().cast<std::vector<int64_t>>());
    else
      rows.push_back(item.cast<std::vector<int64_t>>());
  }
  if (rows.empty()) throw ValueError(std::string(what) + " must hold at least one sequence");
  return rows;
}

at::Tensor long_tensor(const std::vector<int64_t>& values) {
  return at::tensor(values, at::TensorOptions().dtype(at::kLong));
}

// `input_ids`: a [batch, T] tensor (a 1-D one is one row), or token-id lists
// of any lengths, right-padded with `pad_id`; `lengths` then defaults to the
// lists' lengths.
std::pair<at::Tensor, at::Tensor> batch_from_python(const py::object& input_ids, const py::object& lengths,
                                                    int64_t pad_id) {
  at::Tensor given_lengths;
  if (is_tensor(lengths)) given_lengths = lengths.cast<at::Tensor>();
  else if (!lengths.is_none()) given_lengths = long_tensor(lengths.cast<std::vector<int64_t>>());
  if (is_tensor(input_ids)) {
    at::Tensor ids = input_ids.cast<at::Tensor>();
    if (ids.dim() != 2) ids = ids.reshape({1, -1});
    return {ids, given_lengths};
  }
  const auto rows = int_rows(input_ids, "input_ids");
  std::size_t width = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].empty()) throw ValueError("forward: input_ids row " + std::to_string(i) + " is empty");
    width = std::max(width, rows[i].size());
  }
  at::Tensor ids = at::full({static_cast<int64_t>(rows.size()), static_cast<int64_t>(width)}, pad_id,
                            at::TensorOptions().dtype(at::kLong));
  auto* data = ids.data_ptr<int64_t>();
  std::vector<int64_t> row_lengths;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::copy(rows[i].begin(), rows[i].end(), data + i * width);
    row_lengths.push_back(static_cast<int64_t>(rows[i].size()));
  }
  return {ids, given_lengths.defined() ? given_lengths : long_tensor(row_lengths)};
}

at::Tensor positions_from_python(const py::object& logits_at) {
  if (logits_at.is_none()) return {};
  if (is_tensor(logits_at)) return logits_at.cast<at::Tensor>();
  const auto rows = int_rows(logits_at, "logits_at");
  const std::size_t width = rows[0].size();
  std::vector<int64_t> flat;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].size() != width)
      throw ValueError("forward: logits_at rows must have the same length (row " + std::to_string(i) + " has " +
                       std::to_string(rows[i].size()) + ", row 0 has " + std::to_string(width) + ")");
    flat.insert(flat.end(), rows[i].begin(), rows[i].end());
  }
  return long_tensor(flat).reshape({static_cast<int64_t>(rows.size()), static_cast<int64_t>(width)});
}

}  // namespace

void register_model(py::module_& m) {
  py::class_<KVCache>(m, "KVCache", R"pbdoc(
Keys and values of a batch of sequences, preallocated on the model's device.

Made by ``Model.cache_create(batch, capacity)`` and passed to
``Model.forward(..., cache=cache)``, which appends each row's new tokens.
)pbdoc")
      .def_property_readonly("batch", &KVCache::batch, "Number of sequences.")
      .def_property_readonly("capacity", &KVCache::capacity, "Tokens each sequence can hold.")
      .def_property_readonly("lengths", &KVCache::lengths, "Tokens held by each sequence.")
      .def_property_readonly("bytes", &KVCache::bytes, "Bytes the cache occupies on its device.")
      .def("copy_prefix", &KVCache::copy_prefix, py::arg("src"), py::arg("dst"), py::arg("n_tokens"),
           R"pbdoc(
Gives each sequence in ``dst`` the first ``n_tokens`` of sequence ``src``.

Raises:
    ValueError: an index or ``n_tokens`` is out of range.
)pbdoc")
      .def("keep", &KVCache::keep, py::arg("indices"),
           "Keeps the sequences ``indices`` in that order (row i becomes old row indices[i]), dropping the others.")
      .def("truncate", &KVCache::truncate, py::arg("seq"), py::arg("n_tokens"),
           "Shortens sequence ``seq`` to ``n_tokens`` tokens (e.g. to re-run from a point).")
      .def("clear", &KVCache::clear, "Empties every sequence.")
      .def("__repr__", [](const KVCache& c) {
        return "KVCache(batch=" + std::to_string(c.batch()) + ", capacity=" + std::to_string(c.capacity()) + ")";
      });

  const auto forward = [](const Model& model, const py::object& input_ids, const py::object& lengths,
                          KVCache* cache, const py::object& logits_at, int64_t pad_id,
                          const std::vector<std::string>& adapters) {
    auto [ids, row_lengths] = batch_from_python(input_ids, lengths, pad_id);
    const at::Tensor positions = positions_from_python(logits_at);
    py::gil_scoped_release release;
    return model.forward(ids, row_lengths, cache, positions, adapters);
  };
  const ModelOptions defaults;
  py::class_<Model>(m, "Model", R"pbdoc(
A LLaMA-family causal LM loaded from a Hugging Face checkpoint folder or a ``.gguf`` file.

A folder holds config.json, model.safetensors (or shards with
model.safetensors.index.json) and optionally generation_config.json; a llama
GGUF file's weights are dequantised on load (or kept quantised, see ``weights``). Batches are right-padded: row
``b`` holds ``lengths[b]`` new tokens, then padding. See docs/model-backend.md.

Args:
    path: the checkpoint folder or ``.gguf`` file.
    device: "cpu", "cuda" or "cuda:N".
    dtype: compute dtype ("float32", "bfloat16", "float16"); "" or None =
        float32 on CPU, bfloat16 on CUDA.
    threads: LibTorch intra-op threads; 0 or None leaves the current setting.
    cpu_kernels: float32 on CPU runs culturespa's fused kernels between the
        matrix products; False runs plain LibTorch operations (same results
        up to float rounding; for checking and comparison).
    cpu_matmul: with the fused kernels, what runs matrix products of more than
        16 rows: "auto" (oneDNN when OpenBLAS runs kernels older than the CPU
        supports, see ``runtime_info()["blas_core_outdated"]``; else BLAS),
        "blas" or "onednn".
    mmap: map the weight files (the default); False reads them into memory
        instead, so that a file truncated while in use gives an error rather
        than SIGBUS (docs/reliability.md).
    weights: on the CPU, how the matrices are stored: "float32", "bfloat16",
        "q8_0", or "file" for the checkpoint's own type (a GGUF's Q8_0 stays
        quantised); "" follows ``dtype``. See docs/model-backend.md.
    progress: None, True (a progress bar) or a callable taking a
        ``Progress`` and returning False to cancel.

Raises:
    FileError, FormatError, ConfigError: naming the file and the field or
        tensor at fault.

Example:
    >>> model = culturespa.Model("SmolLM2-135M-Instruct")
    >>> logits = model.forward([[1, 2, 3], [4, 5]])  # [2, vocab]
)pbdoc")
      .def(py::init([](const std::filesystem::path& path, const std::string& device,
                       const std::optional<std::string>& dtype, const std::optional<int>& threads, bool cpu_kernels,
                       const std::string& cpu_matmul, bool mmap, const std::string& weights,
                       const py::object& progress) {
             ModelOptions options;
             options.device = device;
             if (dtype) options.dtype = *dtype;
             if (threads) options.threads = *threads;
             options.cpu_kernels = cpu_kernels;
             options.cpu_matmul = cpu_matmul;
             options.mmap = mmap;
             options.weights = weights;
             auto callback = progress_callback(progress);
             py::gil_scoped_release release;
             return std::make_unique<Model>(path.string(), options, callback);
           }),
           py::arg("path"), py::kw_only(), py::arg("device") = defaults.device, py::arg("dtype") = defaults.dtype,
           py::arg("threads") = defaults.threads, py::arg("cpu_kernels") = defaults.cpu_kernels,
           py::arg("cpu_matmul") = defaults.cpu_matmul, py::arg("mmap") = defaults.mmap,
           py::arg("weights") = defaults.weights, py::arg("progress") = py::none())
      .def_property_readonly("path", &Model::path, "The folder or file the model was loaded from.")
      .def_property_readonly("device", &Model::device, "\"cpu\", \"cuda:0\", ...")
      .def_property_readonly("dtype", &Model::dtype, "The compute dtype: \"float32\", ...")
      .def_property_readonly("compute_path", &Model::compute_path,
                             "What runs the forward pass (fused CPU kernels with oneDNN or BLAS, or LibTorch "
                             "operations).")
      .def_property_readonly("weight_bytes", &Model::weight_bytes, "Bytes of the weights as loaded.")
      .def_property_readonly("weight_type", &Model::weight_type,
                             R"pbdoc(How the matrices are stored: "float32", "bfloat16", "q8_0", ... ("+"-joined when they differ).)pbdoc")
      .def_property_readonly(
          "config", [](const Model& model) { return py::module_::import("json").attr("loads")(model.config().json); },
          "config.json as a dict (for a GGUF file: its equivalent).")
      .def_property_readonly(
          "config_json", [](const Model& model) { return model.config().json; }, "config.json's text.")
      .def_property_readonly(
          "architecture", [](const Model& model) { return model.config().architecture; },
          "\"LlamaForCausalLM\", \"Qwen2ForCausalLM\", ...")
      .def_property_readonly(
          "eos_token_ids", [](const Model& model) { return model.config().generation.eos_token_ids; },
          "End-of-sequence ids from generation_config.json, else config.json.")
      .def("cache_create", &Model::cache_create, py::arg("batch"), py::arg("capacity"),
           "A KVCache for ``batch`` sequences of up to ``capacity`` tokens each.")
      .def("forward", forward, py::arg("input_ids"), py::kw_only(), py::arg("lengths") = py::none(),
           py::arg("cache") = py::none(), py::arg("logits_at") = py::none(), py::arg("pad_id") = 0,
           py::arg("adapters") = std::vector<std::string>{}, R"pbdoc(
Logits (float32, on the model's device) of the new tokens.

Args:
    input_ids: a [batch, T] integer tensor (right-padded, with ``lengths``),
        or a list of token-id lists of any lengths (padded with ``pad_id``;
        ``lengths`` then defaults to the lists' lengths).
    lengths: new tokens per row; None = T for every row.
    cache: a KVCache appended to; None runs each sequence from position 0.
    logits_at: [batch, P] positions among each row's new tokens, giving
        [batch, P, vocab]; None gives each row's last token, [batch, vocab].
    adapters: empty, or per row the name of a loaded LoRA adapter ("" =
        none), so one batch mixes adapters (docs/tuning.md).

Raises:
    ValueError: shapes or lengths that do not fit the batch or the cache,
        or an adapter that is not loaded.
)pbdoc")
      .def("__call__", forward, py::arg("input_ids"), py::kw_only(), py::arg("lengths") = py::none(),
           py::arg("cache") = py::none(), py::arg("logits_at") = py::none(), py::arg("pad_id") = 0,
           py::arg("adapters") = std::vector<std::string>{}, "Same as forward().")
      .def(
          "adapter_load",
          [](Model& model, const std::string& name, const std::string& path) {
            py::gil_scoped_release release;
            model.adapter_load(name, path);
          },
          py::arg("name"), py::arg("path"),
          R"pbdoc(Loads the PEFT LoRA folder ``path`` (adapter_config.json +
adapter_model.safetensors) as adapter ``name``. ValueError naming the tensor for
a module the model lacks, a rank that differs between config and tensors, or an
adapter made for another base model (hidden size, layer count).)pbdoc")
      .def("adapter_unload", &Model::adapter_unload, py::arg("name"), "Unloads adapter ``name``.")
      .def_property_readonly("adapter_names", &Model::adapter_names, "Names of the loaded adapters, sorted.")
      .def(
          "adapter_merge",
          [](Model& model, const std::string& name) {
            py::gil_scoped_release release;
            model.adapter_merge(name);
          },
          py::arg("name"),
          "Folds adapter ``name`` into the weights (replacing any merged one); forward then needs no adapters.")
      .def("adapter_unmerge", &Model::adapter_unmerge,
           "Restores the original weights, bit for bit (they are kept while an adapter is merged).")
      .def_property_readonly("adapter_merged", &Model::adapter_merged, "The merged adapter's name, '' when none.")
      .def("__repr__", [](const Model& model) {
        return "Model(" + py::repr(py::str(model.path())).cast<std::string>() + ", " + model.config().architecture +
               ", device='" + model.device() + "', dtype='" + model.dtype() + "')";
      });
}

}  // namespace culturespa::bindings

#include "common.h"

#include <torch/python.h>

#include "culturespa/model/model.h"

namespace culturespa::bindings {

void register_model(py::module_& m) {
  py::class_<KVCache>(m, "KVCache",
                      "Keys and values of a batch of sequences; made by Model.cache_create.")
      .def_property_readonly("batch", &KVCache::batch)
      .def_property_readonly("capacity", &KVCache::capacity)
      .def_property_readonly("lengths", &KVCache::lengths)
      .def_property_readonly("bytes", &KVCache::bytes)
      .def("copy_prefix", &KVCache::copy_prefix, py::arg("src"), py::arg("dst"), py::arg("n_tokens"),
           "Gives each sequence in dst the first n_tokens of sequence src.")
      .def("keep", &KVCache::keep, py::arg("indices"),
           "Keeps the sequences `indices` in that order, dropping the others.")
      .def("truncate", &KVCache::truncate, py::arg("seq"), py::arg("n_tokens"))
      .def("clear", &KVCache::clear);

  py::class_<Model>(m, "Model", "A LLaMA-family causal LM loaded from a Hugging Face checkpoint folder.")
      .def(py::init([](const std::string& path, const std::string& device, const std::string& dtype,
                       int threads, bool cpu_kernels, const std::string& cpu_matmul, py::object progress) {
             ModelOptions options;
             options.device = device;
             options.dtype = dtype;
             options.threads = threads;
             options.cpu_kernels = cpu_kernels;
             options.cpu_matmul = cpu_matmul;
             auto callback = progress_callback(progress);
             py::gil_scoped_release release;
             return std::make_unique<Model>(path, options, callback);
           }),
           py::arg("path"), py::kw_only(), py::arg("device") = "cpu", py::arg("dtype") = "",
           py::arg("threads") = 0, py::arg("cpu_kernels") = true, py::arg("cpu_matmul") = "auto",
           py::arg("progress") = py::none())
      .def_property_readonly("path", &Model::path)
      .def_property_readonly("device", &Model::device)
      .def_property_readonly("dtype", &Model::dtype)
      .def_property_readonly("compute_path", &Model::compute_path)
      .def_property_readonly("weight_bytes", &Model::weight_bytes)
      .def_property_readonly("config_json", [](const Model& model) { return model.config().json; })
      .def_property_readonly("architecture", [](const Model& model) { return model.config().architecture; })
      .def_property_readonly("eos_token_ids",
                             [](const Model& model) { return model.config().generation.eos_token_ids; })
      .def("cache_create", &Model::cache_create, py::arg("batch"), py::arg("capacity"))
      .def(
          "forward",
          [](const Model& model, const at::Tensor& input_ids, std::optional<at::Tensor> lengths,
             KVCache* cache, std::optional<at::Tensor> logits_at, const std::vector<std::string>& adapters) {
            py::gil_scoped_release release;
            return model.forward(input_ids, lengths.value_or(at::Tensor()), cache,
                                 logits_at.value_or(at::Tensor()), adapters);
          },
          py::arg("input_ids"), py::kw_only(), py::arg("lengths") = py::none(),
          py::arg("cache") = py::none(), py::arg("logits_at") = py::none(),
          py::arg("adapters") = std::vector<std::string>{},
          R"pbdoc(Logits of the new tokens (see docs/model.md). ``adapters``: empty, or per
row the name of a loaded LoRA adapter ("" = none), so one batch mixes adapters.)pbdoc")
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
      .def("adapter_add", &Model::adapter_add, py::arg("name"), py::arg("adapter"),
           "Adds an adapter held in memory (e.g. LoraTrainer.adapter) as ``name``.")
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
      .def_property_readonly("adapter_merged", &Model::adapter_merged, "The merged adapter's name, '' when none.");
}

}  // namespace culturespa::bindings

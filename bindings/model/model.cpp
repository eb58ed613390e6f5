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
                       int threads, bool cpu_kernels, const std::string& cpu_matmul, const std::string& weights,
                       py::object progress) {
             ModelOptions options;
             options.device = device;
             options.dtype = dtype;
             options.threads = threads;
             options.cpu_kernels = cpu_kernels;
             options.cpu_matmul = cpu_matmul;
             options.weights = weights;
             auto callback = progress_callback(progress);
             py::gil_scoped_release release;
             return std::make_unique<Model>(path, options, callback);
           }),
           py::arg("path"), py::kw_only(), py::arg("device") = "cpu", py::arg("dtype") = "",
           py::arg("threads") = 0, py::arg("cpu_kernels") = true, py::arg("cpu_matmul") = "auto",
           py::arg("weights") = ModelOptions{}.weights, py::arg("progress") = py::none())
      .def_property_readonly("path", &Model::path)
      .def_property_readonly("device", &Model::device)
      .def_property_readonly("dtype", &Model::dtype)
      .def_property_readonly("compute_path", &Model::compute_path)
      .def_property_readonly("weight_bytes", &Model::weight_bytes)
      .def_property_readonly("weight_type", &Model::weight_type,
                             R"pbdoc(How the matrices are stored: "float32", "bfloat16", "q8_0", ... ("+"-joined when they differ).)pbdoc")
      .def_property_readonly("config_json", [](const Model& model) { return model.config().json; })
      .def_property_readonly("architecture", [](const Model& model) { return model.config().architecture; })
      .def_property_readonly("eos_token_ids",
                             [](const Model& model) { return model.config().generation.eos_token_ids; })
      .def("cache_create", &Model::cache_create, py::arg("batch"), py::arg("capacity"))
      .def(
          "forward",
          [](const Model& model, const at::Tensor& input_ids, std::optional<at::Tensor> lengths,
             KVCache* cache, std::optional<at::Tensor> logits_at) {
            py::gil_scoped_release release;
            return model.forward(input_ids, lengths.value_or(at::Tensor()), cache,
                                 logits_at.value_or(at::Tensor()));
          },
          py::arg("input_ids"), py::kw_only(), py::arg("lengths") = py::none(),
          py::arg("cache") = py::none(), py::arg("logits_at") = py::none());
}

}  // namespace culturespa::bindings

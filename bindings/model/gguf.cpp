#include "common.h"

#include <torch/python.h>

#include "culturespa/model/gguf.h"

namespace culturespa::bindings {
namespace {

py::object value_to_python(const GgufValue& value) {
  switch (value.type) {
    case GgufValueType::string: return py::bytes(value.string).attr("decode")("utf-8", "replace");
    case GgufValueType::boolean: return py::bool_(value.integer != 0);
    case GgufValueType::float32: case GgufValueType::float64: return py::float_(value.number);
    case GgufValueType::array: {
      py::list items;
      if (value.element_type == GgufValueType::string) {
        for (const auto& s : value.strings) items.append(py::bytes(s).attr("decode")("utf-8", "replace"));
      } else if (value.element_type == GgufValueType::float32 || value.element_type == GgufValueType::float64) {
        for (double v : value.numbers) items.append(v);
      } else if (value.element_type == GgufValueType::boolean) {
        for (int64_t v : value.integers) items.append(py::bool_(v != 0));
      } else {
        for (int64_t v : value.integers) items.append(v);
      }
      return std::move(items);
    }
    default: return py::int_(value.integer);
  }
}

}  // namespace

void register_gguf(py::module_& m) {
  py::class_<GgufFile>(m, "GgufFile", R"pbdoc(
A GGUF v2/v3 file, memory-mapped and validated on open.

``metadata`` (dict), ``tensors`` (list of {"name", "type", "shape", "offset",
"bytes"}), ``tensor(name)`` (float32, dequantised). See docs/checkpoints.md.

Raises:
    FileError, FormatError: naming the file and what is wrong.
)pbdoc")
      .def(py::init([](const std::filesystem::path& path) {
             py::gil_scoped_release release;
             return std::make_unique<GgufFile>(path.string());
           }),
           py::arg("path"))
      .def_property_readonly("path", &GgufFile::path)
      .def_property_readonly("version", &GgufFile::version)
      .def_property_readonly("alignment", &GgufFile::alignment)
      .def_property_readonly("metadata",
                             [](const GgufFile& file) {
                               py::dict out;
                               for (const auto& [key, value] : file.metadata()) out[py::str(key)] = value_to_python(value);
                               return out;
                             })
      .def_property_readonly("tensors",
                             [](const GgufFile& file) {
                               py::list out;
                               for (const auto& info : file.tensors()) {
                                 py::dict item;
                                 item["name"] = info.name;
                                 item["type"] = ggml_type_name(info.type);
                                 item["shape"] = py::tuple(py::cast(info.shape));
                                 item["offset"] = info.offset;
                                 item["bytes"] = info.bytes;
                                 out.append(item);
                               }
                               return out;
                             })
      .def(
          "tensor",
          [](const GgufFile& file, const std::string& name) {
            py::gil_scoped_release release;
            return gguf_tensor(file, name);
          },
          py::arg("name"), "The tensor dequantised to a float32 CPU tensor (GGUF layout: q/k rows as stored).")
      .def(
          "model_config",
          [](const GgufFile& file) { return gguf_model_config(file).json; },
          "config.json text equivalent to the GGUF metadata (llama architecture).");
  m.def(
      "gguf_read",
      [](const std::filesystem::path& path, bool hugging_face) {
        std::vector<std::pair<std::string, at::Tensor>> tensors;
        {
          py::gil_scoped_release release;
          const GgufFile file(path.string());
          if (hugging_face) {
            const ModelConfig config = gguf_model_config(file);
            for (const auto& info : file.tensors())
              tensors.emplace_back(gguf_hf_tensor_name(info.name), gguf_hf_tensor(file, info.name, config));
          } else {
            for (const auto& info : file.tensors()) tensors.emplace_back(info.name, gguf_tensor(file, info.name));
          }
        }
        py::dict out;
        for (const auto& [name, tensor] : tensors) out[py::str(name)] = tensor;
        return out;
      },
      py::arg("path"), py::kw_only(), py::arg("hugging_face") = false, R"pbdoc(
Every tensor of a GGUF file, dequantised to float32 CPU tensors.

Types F32, F16, BF16, Q8_0, Q4_0 and Q4_1. By default keyed by GGUF name, in
GGUF layout (q/k rows as llama.cpp stores them). ``hugging_face=True``: keyed
by Hugging Face LLaMA name, q_proj/k_proj rows un-permuted, as the Hugging
Face checkpoint of the same model holds them (a llama GGUF file; FormatError
naming a tensor without a Hugging Face counterpart). Metadata:
``GgufFile(path).metadata``.
)pbdoc");
  m.def(
      "gguf_qk_unpermute",
      [](const at::Tensor& weight, int64_t heads) {
        py::gil_scoped_release release;
        return gguf_qk_unpermute(weight, heads);
      },
      py::arg("weight"), py::arg("heads"), R"pbdoc(
A q_proj/k_proj weight as stored by llama.cpp's converter, back in Hugging
Face row order (the converter interleaves each head's two RoPE halves).
``heads``: query heads for q_proj, key/value heads for k_proj. ValueError
when the rows do not split into ``heads`` pairs.
)pbdoc");
  m.def("gguf_hf_tensor_name", &gguf_hf_tensor_name, py::arg("gguf_name"),
        "The Hugging Face LLaMA name of a GGUF tensor name ('' when none).");
}

}  // namespace culturespa::bindings

#include "common.h"

#include <torch/python.h>

#include "culturespa/model/safetensors.h"

namespace culturespa::bindings {

void register_safetensors(py::module_& m) {
  m.def(
      "safetensors_read",
      [](const std::string& path) {
        std::vector<std::pair<std::string, at::Tensor>> tensors;
        std::map<std::string, std::string> metadata;
        {
          py::gil_scoped_release release;
          const SafetensorsFile file(path);
          metadata = file.metadata();
          // Copies: the mapping is read-only and Python code may write.
          for (const auto& entry : file.tensors()) tensors.emplace_back(entry.name, file.tensor(entry.name).clone());
        }
        py::dict out;
        for (const auto& [name, tensor] : tensors) out[py::str(name)] = tensor;
        return py::make_tuple(out, metadata);
      },
      py::arg("path"), "Reads a safetensors file: (dict of CPU tensors, metadata dict).");
  m.def(
      "safetensors_write",
      [](const std::string& path, const py::dict& tensors, const std::map<std::string, std::string>& metadata) {
        std::vector<std::pair<std::string, at::Tensor>> items;
        for (const auto& [name, tensor] : tensors) items.emplace_back(py::cast<std::string>(name), py::cast<at::Tensor>(tensor));
        py::gil_scoped_release release;
        culturespa::safetensors_write(path, items, metadata);
      },
      py::arg("path"), py::arg("tensors"), py::kw_only(),
      py::arg("metadata") = std::map<std::string, std::string>{},
      "Writes tensors (a dict name -> tensor) to a safetensors file atomically.");
}

}  // namespace culturespa::bindings

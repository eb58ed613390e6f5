#include "common.h"

#include <torch/python.h>

#include "culturespa/model/safetensors.h"

namespace culturespa::bindings {

void register_safetensors(py::module_& m) {
  m.def(
      "safetensors_read",
      [](const std::filesystem::path& path) {
        std::vector<std::pair<std::string, at::Tensor>> tensors;
        std::map<std::string, std::string> metadata;
        {
          py::gil_scoped_release release;
          const SafetensorsFile file(path.string());
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
      [](const std::filesystem::path& path, const py::object& tensors,
         const std::optional<std::map<std::string, std::string>>& metadata) {
        std::vector<std::pair<std::string, at::Tensor>> items;
        for (const auto& item : tensors.attr("items")()) {
          const auto pair = item.cast<py::tuple>();
          items.emplace_back(pair[0].cast<std::string>(), pair[1].cast<at::Tensor>());
        }
        py::gil_scoped_release release;
        culturespa::safetensors_write(path.string(), items, metadata.value_or(std::map<std::string, std::string>{}));
      },
      py::arg("path"), py::arg("tensors"), py::kw_only(), py::arg("metadata") = py::none(),
      "Writes tensors (a mapping name -> tensor) and string metadata to a safetensors file atomically.");
}

}  // namespace culturespa::bindings

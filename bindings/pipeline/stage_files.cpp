#include "culturespa/pipeline/stage_files.h"

#include "common.h"
#include "records.h"

namespace culturespa::bindings {

void register_stage_files(py::module_& m) {
  m.def(
      "contrast_pairs_save",
      [](const std::string& path, py::iterable pairs) { contrast_pairs_save(path, contrast_pairs_from_py(pairs)); },
      py::arg("path"), py::arg("pairs"), "Writes contrast pairs as JSONL (atomically).");
  m.def(
      "contrast_pairs_load",
      [](const std::string& path) { return contrast_pairs_to_py(contrast_pairs_load(path)); }, py::arg("path"));
}

}  // namespace culturespa::bindings

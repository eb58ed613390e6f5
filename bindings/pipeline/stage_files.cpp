#include "culturespa/pipeline/stage_files.h"

#include "common.h"
#include "records.h"

namespace culturespa::bindings {

void register_stage_files(py::module_& m) {
  m.def(
      "contrast_pairs_save",
      [](const std::filesystem::path& path, py::iterable pairs) {
        contrast_pairs_save(path.string(), contrast_pairs_from_py(pairs));
      },
      py::arg("path"), py::arg("pairs"), "Writes contrast pairs (ContrastPair objects or dicts) as JSONL (atomically).");
  m.def(
      "contrast_pairs_load", [](const std::filesystem::path& path) { return contrast_pairs_load(path.string()); },
      py::arg("path"), "Reads a contrast pairs file (JSONL) as ContrastPair objects.");
}

}  // namespace culturespa::bindings

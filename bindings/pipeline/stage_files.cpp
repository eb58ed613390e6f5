#include "culturespa/pipeline/stage_files.h"

#include "common.h"
#include "records.h"

namespace culturespa::bindings {

void register_stage_files(py::module_& m) {
  m.def(
      "answer_file_load",
      [](const std::string& path, const std::string& culture) {
        AnswerFile file;
        {
          py::gil_scoped_release release;
          file = answer_file_load(path, culture);
        }
        return py::make_tuple(questions_to_py(file.questions), answer_set_to_py(file.answers));
      },
      py::arg("path"), py::arg("culture") = "",
      "Reads an answer file (JSON list or JSONL); returns (questions, answers).");
  m.def("culture_from_answer_file_name", &culture_from_answer_file_name, py::arg("path"));
  m.def(
      "contrast_pairs_save",
      [](const std::string& path, py::iterable pairs) { contrast_pairs_save(path, contrast_pairs_from_py(pairs)); },
      py::arg("path"), py::arg("pairs"), "Writes contrast pairs as JSONL (atomically).");
  m.def(
      "contrast_pairs_load",
      [](const std::string& path) { return contrast_pairs_to_py(contrast_pairs_load(path)); }, py::arg("path"));
}

}  // namespace culturespa::bindings

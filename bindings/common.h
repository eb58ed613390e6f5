// Shared helpers of the binding files.
#pragma once

#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "culturespa/core/progress.h"

namespace py = pybind11;

namespace culturespa::bindings {

// Turns the Python `progress` argument of a long call into a ProgressCallback.
// `progress` is None or False (only Ctrl-C is watched), True (a tqdm bar:
// culturespa.progress_bar()) or a callable taking a culturespa.Progress and
// returning False to cancel; anything else is a TypeError. Either way Ctrl-C raises
// KeyboardInterrupt out of the long call at its next progress point. The
// callback is invoked from C++ without the GIL and takes it itself.
ProgressCallback progress_callback(py::object progress);

// register_<file> functions, one per binding file.
void register_errors(py::module_& m);
void register_logging(py::module_& m);
void register_progress(py::module_& m);
void register_version(py::module_& m);
void register_runtime(py::module_& m);
void register_safetensors(py::module_& m);
void register_gguf(py::module_& m);
void register_model(py::module_& m);
void register_testing(py::module_& m);
void register_sentencepiece(py::module_& m);
void register_tokenizer(py::module_& m);
void register_chat_template(py::module_& m);
void register_generator(py::module_& m);
void register_survey(py::module_& m);
void register_answers(py::module_& m);
void register_prompts(py::module_& m);
void register_answer_parser(py::module_& m);
void register_scorer(py::module_& m);
void register_question_filter(py::module_& m);
void register_contrast(py::module_& m);
void register_stage_files(py::module_& m);
void register_dataset_export(py::module_& m);
void register_question_generator(py::module_& m);
void register_answering(py::module_& m);
void register_lora(py::module_& m);
void register_lora_trainer(py::module_& m);

}  // namespace culturespa::bindings

// culturespa._core: the private extension the Python package re-exports.
#include "common.h"

namespace culturespa::bindings {
void register_pipeline(py::module_& m);  // bindings/pipeline/pipeline.cpp
void register_distributed(py::module_& m);  // bindings/model/distributed.cpp
}  // namespace culturespa::bindings

PYBIND11_MODULE(_core, m) {
  using namespace culturespa::bindings;
  m.doc() = "culturespa's C++ core (private: import culturespa instead)";
  // Errors first: every later registration may raise them.
  register_errors(m);
  register_logging(m);
  register_progress(m);
  register_version(m);
  register_runtime(m);
  register_safetensors(m);
  register_gguf(m);
  register_model(m);
  register_lora(m);
  register_distributed(m);
  register_testing(m);
  register_sentencepiece(m);
  register_chat_template(m);
  register_tokenizer(m);
  register_json_constraint(m);
  register_generator(m);
  register_survey(m);
  register_answers(m);
  register_prompts(m);
  register_answer_parser(m);
  register_scorer(m);
  register_question_filter(m);
  register_contrast(m);
  register_stage_files(m);
  register_dataset_export(m);
  register_question_generator(m);
  register_answering(m);
  register_lora_trainer(m);
  register_survey_data(m);
  register_survey_evaluator(m);
  register_pipeline(m);
}

// Pipeline, PipelineConfig and the run's results (culturespa/pipeline/pipeline.h).
#include "common.h"
#include "core/result_class.h"
#include "culturespa/core/error.h"
#include "culturespa/pipeline/pipeline.h"
#include "reply_source.h"

namespace culturespa::bindings {

void register_pipeline(py::module_& m) {
  m.def("pipeline_stage_names", &pipeline_stage_names, "The pipeline's stages in run order.");
  m.def("pipeline_default_model_path", &pipeline_default_model_path,
        "Where the cached smollm2-135m-instruct lives (the model of a config whose [run] model is \"\").");
  m.def("pipeline_config_presets", &pipeline_config_presets, "The built-in presets: quick, demo, paper.");

  py::class_<PipelineConfig>(m, "PipelineConfig", R"pbdoc(
Everything a pipeline run depends on, one section per stage (docs/pipeline.md,
"One command"): run, generate, filter, answer, contrast, export, tune (with
tune.joint and tune.specific), evaluate. Made from a preset
(``pipeline_config_preset``), a file (``pipeline_config_load``: TOML or JSON)
or JSON text (``pipeline_config_from_json``); ``to_json()`` writes every key.
)pbdoc")
      .def(py::init<>(), "The options structs' defaults (the reference's settings), no preset.")
      .def_readonly("preset", &PipelineConfig::preset, "The preset it started from (\"\" = none).")
      .def_readwrite("model", &PipelineConfig::model, "[run] model: checkpoint folder (\"\" = the cached SmolLM2).")
      .def_readwrite("tokenizer", &PipelineConfig::tokenizer, "[run] tokenizer folder (\"\" = the model folder).")
      .def_readwrite("survey", &PipelineConfig::survey, "[run] survey folder or file (\"\" = the cached wvs7).")
      .def_readwrite("cultures", &PipelineConfig::cultures, "[run] culture codes (empty = the paper's 18).")
      .def_readwrite("topics", &PipelineConfig::topics, "[run] topics to generate on (empty = all).")
      .def("to_json", &pipeline_config_to_json, "Every section with every key, as JSON text.")
      .def("to_dict", [](const PipelineConfig& c) {
        return py::module_::import("json").attr("loads")(pipeline_config_to_json(c));
      }, "Every section with every key, as a dict.")
      .def("__repr__", [](const PipelineConfig& c) {
        return "PipelineConfig(preset='" + c.preset + "', model='" + c.model + "')";
      });

  m.def("pipeline_config_preset", &pipeline_config_preset, py::arg("name"),
        "A built-in preset: quick, demo or paper; ValueError listing them otherwise.");
  m.def("pipeline_config_load", &pipeline_config_load, py::arg("path"), py::arg("preset") = "",
        R"pbdoc(
Reads a config file: TOML (.toml) or JSON (other names), the same schema. A
top-level ``preset = "NAME"`` (or ``preset``) starts from that preset. An
unknown section or key is a ValueError naming the file and listing the valid
ones; a value of the wrong type names the key, the file and (TOML) the line.
)pbdoc");
  m.def("pipeline_config_from_json", &pipeline_config_from_json, py::arg("text"), py::arg("source") = "<string>",
        py::arg("preset") = "", "pipeline_config_load's reader for a JSON text; `source` names it in errors.");
  m.def("pipeline_config_to_json", &pipeline_config_to_json, py::arg("config"),
        "Every section with every key (defaults filled in), as JSON: what the run folder's config.json holds.");

  ResultClass<PipelineStageRun>(m, "PipelineStageRun", "What a run did with one stage.")
      .field("stage", &PipelineStageRun::stage)
      .field("status", &PipelineStageRun::status,
             "ran, skipped (done before), not selected (outside from..until) or no hook (report)")
      .field("seconds", &PipelineStageRun::seconds, "this run's time in the stage")
      .field("outputs", &PipelineStageRun::outputs, "the stage's outputs, relative to the run folder")
      .done();
  ResultClass<PipelineResult>(m, "PipelineResult", "What Pipeline.run did.")
      .field("run_dir", &PipelineResult::run_dir)
      .field("stages", &PipelineResult::stages, "every stage, in order")
      .field("nothing_to_do", &PipelineResult::nothing_to_do, "every selected stage was already done")
      .done();

  py::class_<Pipeline>(m, "Pipeline", R"pbdoc(
The whole CultureSPA loop into one run folder (docs/pipeline.md, "One
command"): generate, filter, answer, contrast, export, tune, evaluate, report.
Every stage resumes; manifest.json records the config hash, versions, input
hashes and each stage's times and outputs; a second run on a finished folder
does nothing. The constructor checks the config (ValueError naming the key).
)pbdoc")
      .def(py::init<PipelineConfig>(), py::arg("config"))
      .def_property_readonly("config", &Pipeline::config)
      .def("stage_outputs", [](const Pipeline& p, const std::string& stage) {
        return p.stage_outputs(pipeline_stage_from_name(stage));
      }, py::arg("stage"), "The outputs of a stage with this config, relative to the run folder.")
      .def(
          "run",
          [](const Pipeline& p, const std::string& run_dir, const std::string& from, const std::string& until,
             py::object report, py::object progress, py::object replies, py::object scores) {
            PipelineRunOptions options;
            options.from = from;
            options.until = until;
            if (!report.is_none()) {
              auto held = std::shared_ptr<py::object>(new py::object(report), [](py::object* o) {
                if (!Py_IsInitialized()) return;
                py::gil_scoped_acquire gil;
                delete o;
              });
              options.report = [held](const std::string& dir) {
                py::gil_scoped_acquire gil;
                (*held)(dir);
              };
            }
            std::shared_ptr<PyReplySource> source;
            if (!replies.is_none() || !scores.is_none()) {
              source = reply_source_from_py(py::none(), replies, scores);
              options.replies = source->source.get();
            }
            auto callback = progress_callback(std::move(progress));
            py::gil_scoped_release release;
            return p.run(run_dir, options, callback);
          },
          py::arg("run_dir"), py::arg("from_") = PipelineRunOptions{}.from,
          py::arg("until") = PipelineRunOptions{}.until, py::arg("report") = py::none(),
          py::arg("progress") = py::none(), py::arg("replies") = py::none(), py::arg("scores") = py::none(),
          R"pbdoc(
Runs the stages ``from_``..``until`` (names; "" = the first / the last) into
``run_dir``. ``report(run_dir)`` is the report stage (None: skipped and
logged). ``progress``: None, True (a bar) or a callable given a
``Progress`` whose ``stage`` is the pipeline stage; Ctrl-C stops at the next
safe point with all finished work kept (run again to resume).
``replies(prompts, seeds, sampling) -> [str]`` and ``scores(prompts,
labels) -> [[float]]`` replace the model in generate and answer (canned
replies in tests); tune and evaluate always use the model. Errors before any
work: an unknown stage, a folder made with another config (naming the key),
a missing input of the first stage run (naming the file).
)pbdoc");
}

}  // namespace culturespa::bindings

#include "culturespa/pipeline/dataset_export.h"

#include "common.h"
#include "core/deprecated_items.h"
#include "core/result_class.h"

#include <optional>

#include "../text/conversation.h"
#include "culturespa/core/error.h"
#include "culturespa/pipeline/stage_files.h"
#include "records.h"

namespace culturespa::bindings {

namespace {

// Wraps a Python callable (question dict, culture) -> messages; it runs with
// the GIL taken, since the export itself runs without it.
// None: the reference's culture-aware prompt with `templates`.
PromptBuilder prompt_builder_from_py(py::object builder, const std::optional<PromptTemplates>& templates) {
  if (builder.is_none()) return prompt_builder_culture_aware(templates ? *templates : PromptTemplates::reference());
  if (!PyCallable_Check(builder.ptr()))
    throw ValueError("prompt_builder must be None or a callable (question, culture) -> list of messages");
  auto held = std::shared_ptr<py::object>(new py::object(std::move(builder)), [](py::object* o) {
    py::gil_scoped_acquire gil;
    delete o;
  });
  return [held](const Question& question, const std::string& culture) {
    py::gil_scoped_acquire gil;
    py::object messages = (*held)(question_to_py(question), culture);
    Conversation conversation;
    for (const auto& m : messages) {
      if (py::isinstance<py::dict>(m)) {
        conversation.push_back({py::cast<std::string>(m["role"]), py::cast<std::string>(m["content"])});
      } else {
        auto pair = py::cast<std::pair<std::string, std::string>>(m);
        conversation.push_back({pair.first, pair.second});
      }
    }
    return conversation;
  };
}

// Pairs from Python: a ContrastResult, a pairs file (str or os.PathLike), or
// ContrastPair objects / pair dicts.
std::vector<ContrastPair> pairs_from_py(const py::object& pairs) {
  if (py::isinstance<ContrastResult>(pairs)) return pairs.cast<const ContrastResult&>().pairs;
  if (py::isinstance<py::str>(pairs) || py::hasattr(pairs, "__fspath__"))
    return contrast_pairs_load(pairs.cast<std::filesystem::path>().string());
  return contrast_pairs_from_py(pairs);
}

DatasetExportOptions export_options(const std::string& format, const std::string& mode,
                                    bool answer_with_option_text, double validation_fraction,
                                    double subsample_fraction, std::uint64_t seed, const std::string& name) {
  DatasetExportOptions o;
  o.format = dataset_format_from_name(format);
  o.mode = dataset_mode_from_name(mode);
  o.answer_with_option_text = answer_with_option_text;
  o.validation_fraction = validation_fraction;
  o.subsample_fraction = subsample_fraction;
  o.seed = seed;
  o.name = name;
  return o;
}

}  // namespace

void register_dataset_export(py::module_& m) {
  auto summary = ResultClass<DatasetExportSummary>(m, "DatasetExportSummary", "What dataset_export wrote.")
      .field("files", &DatasetExportSummary::files, "Paths written, in order.")
      .field("records", &DatasetExportSummary::records, "File path -> records in it.")
      .field("pairs_in", &DatasetExportSummary::pairs_in, "Pairs given.")
      .field("pairs_invalid", &DatasetExportSummary::pairs_invalid,
             "Pairs dropped because the aware answer is not an option id of the question.")
      .field("pairs_duplicate", &DatasetExportSummary::pairs_duplicate,
             "Pairs dropped as repeats (same question id and culture as an earlier pair).")
      .field("pairs_sampled", &DatasetExportSummary::pairs_sampled, "Pairs left after subsampling.")
      .done();
  def_deprecated_items(summary);

  ResultClass<DatasetRecord>(m, "DatasetRecord", "One training example as dataset_export writes it.")
      .field("question_id", &DatasetRecord::question_id)
      .field("culture", &DatasetRecord::culture)
      .field("split", &DatasetRecord::split, "\"train\" or \"validation\".")
      .property("prompt", [](const DatasetRecord& r) { return conversation_to_python(r.prompt); },
                "The messages [{\"role\", \"content\"}, ...] the prompt builder made.")
      .field("output", &DatasetRecord::output, "The assistant's answer.")
      .done();

  ResultClass<DatasetExportOptions>(m, "DatasetExportOptions",
                                    "dataset_export's settings; DatasetExportOptions() holds the defaults.")
      .property("format", [](const DatasetExportOptions& o) { return std::string(dataset_format_name(o.format)); },
                "\"alpaca\", \"sharegpt\" or \"culturespa\".")
      .property("mode", [](const DatasetExportOptions& o) { return std::string(dataset_mode_name(o.mode)); },
                "\"joint\" or \"specific\".")
      .field("answer_with_option_text", &DatasetExportOptions::answer_with_option_text)
      .field("validation_fraction", &DatasetExportOptions::validation_fraction)
      .field("subsample_fraction", &DatasetExportOptions::subsample_fraction)
      .field("seed", &DatasetExportOptions::seed)
      .field("name", &DatasetExportOptions::name)
      .done()
      .def(py::init<>());

  const DatasetExportOptions defaults;
  m.def(
      "dataset_export",
      [](py::object pairs, const std::filesystem::path& output_dir, py::object prompt_builder,
         const std::string& format, const std::string& mode, bool answer_with_option_text,
         double validation_fraction, double subsample_fraction, std::uint64_t seed, const std::string& name,
         const std::optional<PromptTemplates>& templates, py::object progress) {
        const auto pair_list = pairs_from_py(pairs);
        const auto options = export_options(format, mode, answer_with_option_text, validation_fraction,
                                            subsample_fraction, seed, name);
        auto build = prompt_builder_from_py(std::move(prompt_builder), templates);
        auto callback = progress_callback(std::move(progress));
        py::gil_scoped_release release;
        return dataset_export(pair_list, build, output_dir.string(), options, callback);
      },
      py::arg("pairs"), py::arg("output_dir"), py::kw_only(), py::arg("prompt_builder") = py::none(),
      py::arg("format") = std::string(dataset_format_name(defaults.format)),
      py::arg("mode") = std::string(dataset_mode_name(defaults.mode)),
      py::arg("answer_with_option_text") = defaults.answer_with_option_text,
      py::arg("validation_fraction") = defaults.validation_fraction,
      py::arg("subsample_fraction") = defaults.subsample_fraction, py::arg("seed") = defaults.seed,
      py::arg("name") = defaults.name, py::arg("templates") = py::none(), py::arg("progress") = py::none(),
      R"pbdoc(
Writes contrast pairs as training sets (docs/pipeline.md, "export"); a DatasetExportSummary.

Args:
    pairs: a ContrastResult, a pairs file, or ContrastPair objects / pair dicts.
    output_dir: created when missing.
    prompt_builder: ``f(question, culture) -> messages`` ([{"role",
        "content"}] or (role, content) pairs); None = the reference's
        culture-aware prompt with ``templates``.
    format: "alpaca" (LLaMA-Factory, with dataset_info.json), "sharegpt"
        (messages JSONL for TRL) or "culturespa" (JSONL with both answers).
    mode: "joint" (one set) or "specific" (one set per culture).
    answer_with_option_text: output "3.Rather important" instead of "3".
    validation_fraction: share of question ids in the validation split.
    subsample_fraction: share of question ids kept.
    seed: salt of the id hashes deciding split and subsample.
    name: file names start with it.

Raises:
    ValueError: no pairs, an unknown format or mode, a fraction out of range.
)pbdoc");
  m.def(
      "dataset_records",
      [](py::object pairs, py::object prompt_builder, const std::string& format, const std::string& mode,
         bool answer_with_option_text, double validation_fraction, double subsample_fraction, std::uint64_t seed,
         const std::string& name, const std::optional<PromptTemplates>& templates) {
        const auto pair_list = pairs_from_py(pairs);
        const auto options = export_options(format, mode, answer_with_option_text, validation_fraction,
                                            subsample_fraction, seed, name);
        auto records = dataset_records(pair_list, prompt_builder_from_py(std::move(prompt_builder), templates), options);
        for (auto& r : records) r.pair = nullptr;  // the pairs are local to this call
        return records;
      },
      py::arg("pairs"), py::kw_only(), py::arg("prompt_builder") = py::none(),
      py::arg("format") = std::string(dataset_format_name(defaults.format)),
      py::arg("mode") = std::string(dataset_mode_name(defaults.mode)),
      py::arg("answer_with_option_text") = defaults.answer_with_option_text,
      py::arg("validation_fraction") = defaults.validation_fraction,
      py::arg("subsample_fraction") = defaults.subsample_fraction, py::arg("seed") = defaults.seed,
      py::arg("name") = defaults.name, py::arg("templates") = py::none(),
      "The training records (DatasetRecord) dataset_export would write, without writing them.");
  m.def("dataset_hash_unit", &dataset_hash_unit, py::arg("key"),
        "Where a key falls in [0, 1): FNV-1a 64 + fmix64, (hash >> 11) / 2**53.");
}

}  // namespace culturespa::bindings

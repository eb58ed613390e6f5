#include "culturespa/pipeline/dataset_export.h"

#include "common.h"

#include <optional>

#include "culturespa/core/error.h"
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
  m.def(
      "dataset_export",
      [](py::iterable pairs, const std::string& output_dir, py::object prompt_builder, const std::string& format,
         const std::string& mode, bool answer_with_option_text, double validation_fraction,
         double subsample_fraction, std::uint64_t seed, const std::string& name, const std::optional<PromptTemplates>& templates, py::object progress) {
        const auto pair_list = contrast_pairs_from_py(pairs);
        const auto options = export_options(format, mode, answer_with_option_text, validation_fraction,
                                            subsample_fraction, seed, name);
        auto build = prompt_builder_from_py(std::move(prompt_builder), templates);
        auto callback = progress_callback(std::move(progress));
        DatasetExportSummary summary;
        {
          py::gil_scoped_release release;
          summary = dataset_export(pair_list, build, output_dir, options, callback);
        }
        py::dict out;
        out["files"] = summary.files;
        out["records"] = summary.records;
        out["pairs_in"] = summary.pairs_in;
        out["pairs_invalid"] = summary.pairs_invalid;
        out["pairs_duplicate"] = summary.pairs_duplicate;
        out["pairs_sampled"] = summary.pairs_sampled;
        return out;
      },
      py::arg("pairs"), py::arg("output_dir"), py::kw_only(), py::arg("prompt_builder") = py::none(),
      py::arg("format") = "alpaca", py::arg("mode") = "joint", py::arg("answer_with_option_text") = false,
      py::arg("validation_fraction") = 0.0, py::arg("subsample_fraction") = 1.0, py::arg("seed") = 0,
      py::arg("name") = "culturespa", py::arg("templates") = py::none(), py::arg("progress") = py::none(),
      "Writes contrast pairs as training sets (docs/pipeline.md, 'export').");
  m.def(
      "dataset_records",
      [](py::iterable pairs, py::object prompt_builder, const std::string& format, const std::string& mode,
         bool answer_with_option_text, double validation_fraction, double subsample_fraction, std::uint64_t seed,
         const std::string& name, const std::optional<PromptTemplates>& templates) {
        const auto pair_list = contrast_pairs_from_py(pairs);
        const auto options = export_options(format, mode, answer_with_option_text, validation_fraction,
                                            subsample_fraction, seed, name);
        py::list out;
        for (const auto& r : dataset_records(pair_list, prompt_builder_from_py(std::move(prompt_builder), templates), options)) {
          py::dict d;
          d["question_id"] = r.question_id;
          d["culture"] = r.culture;
          d["split"] = r.split;
          py::list messages;
          for (const auto& msg : r.prompt) {
            py::dict md;
            md["role"] = msg.role;
            md["content"] = msg.content;
            messages.append(md);
          }
          d["prompt"] = messages;
          d["output"] = r.output;
          out.append(d);
        }
        return out;
      },
      py::arg("pairs"), py::kw_only(), py::arg("prompt_builder") = py::none(), py::arg("format") = "alpaca",
      py::arg("mode") = "joint", py::arg("answer_with_option_text") = false, py::arg("validation_fraction") = 0.0,
      py::arg("subsample_fraction") = 1.0, py::arg("seed") = 0, py::arg("name") = "culturespa",
      py::arg("templates") = py::none(),
      "The training records dataset_export would write, without writing them.");
  m.def("dataset_hash_unit", &dataset_hash_unit, py::arg("key"),
        "Where a key falls in [0, 1): FNV-1a 64 + fmix64, (hash >> 11) / 2**53.");
}

}  // namespace culturespa::bindings

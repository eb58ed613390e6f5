// LoraConfig, LoraAdapter and the PEFT-folder functions (culturespa/model/lora.h).
#include <torch/python.h>

#include "common.h"
#include "culturespa/model/lora.h"
#include "culturespa/model/model.h"

namespace culturespa::bindings {
namespace {

std::vector<std::string> target_names(const std::vector<LoraTarget>& targets) {
  std::vector<std::string> names;
  for (const LoraTarget t : targets) names.push_back(lora_target_name(t));
  return names;
}

std::vector<LoraTarget> targets_from(const std::vector<std::string>& names) {
  std::vector<LoraTarget> targets;
  for (const auto& n : names) targets.push_back(lora_target_from_name(n));
  return targets;
}

}  // namespace

void register_lora(py::module_& m) {
  const LoraConfig defaults;
  py::class_<LoraConfig>(m, "LoraConfig", R"pbdoc(A LoRA adapter's settings, as PEFT's adapter_config.json holds them.

r: rank; lora_alpha: scale numerator (scale = alpha / r, or alpha / sqrt(r)
with use_rslora); target_modules: among q_proj, k_proj, v_proj, o_proj,
gate_proj, up_proj, down_proj; rank_pattern / alpha_pattern: per-module
overrides keyed by a module-name suffix.)pbdoc")
      .def(py::init([](int64_t r, double lora_alpha, double lora_dropout, bool use_rslora,
                       const std::vector<std::string>& target_modules, std::map<std::string, int64_t> rank_pattern,
                       std::map<std::string, double> alpha_pattern) {
             LoraConfig c;
             c.r = r;
             c.alpha = lora_alpha;
             c.dropout = lora_dropout;
             c.use_rslora = use_rslora;
             c.targets = targets_from(target_modules);
             c.rank_pattern = std::move(rank_pattern);
             c.alpha_pattern = std::move(alpha_pattern);
             return c;
           }),
           py::kw_only(), py::arg("r") = defaults.r, py::arg("lora_alpha") = defaults.alpha,
           py::arg("lora_dropout") = defaults.dropout, py::arg("use_rslora") = defaults.use_rslora,
           py::arg("target_modules") = target_names(defaults.targets),
           py::arg("rank_pattern") = defaults.rank_pattern, py::arg("alpha_pattern") = defaults.alpha_pattern)
      .def_readonly("r", &LoraConfig::r)
      .def_readonly("lora_alpha", &LoraConfig::alpha)
      .def_readonly("lora_dropout", &LoraConfig::dropout)
      .def_readonly("use_rslora", &LoraConfig::use_rslora)
      .def_property_readonly("target_modules", [](const LoraConfig& c) { return target_names(c.targets); })
      .def_readonly("rank_pattern", &LoraConfig::rank_pattern)
      .def_readonly("alpha_pattern", &LoraConfig::alpha_pattern)
      .def("to_json", &lora_config_json, "The adapter_config.json PEFT 0.13 writes for these settings.");

  py::class_<LoraAdapter>(m, "LoraAdapter", "A LoRA adapter's settings and tensors (read-only).")
      .def_readonly("config", &LoraAdapter::config)
      .def_readonly("path", &LoraAdapter::path)
      .def_property_readonly("parameter_count", &LoraAdapter::parameter_count)
      .def(
          "tensors",
          [](const LoraAdapter& a) {
            std::map<std::string, at::Tensor> out;
            for (const LoraModule& mod : a.modules) {
              out[lora_tensor_name(mod.layer, mod.target, false)] = mod.a.detach().clone();
              out[lora_tensor_name(mod.layer, mod.target, true)] = mod.b.detach().clone();
            }
            return out;
          },
          "The tensors by their PEFT names (copies).")
      .def("__len__", [](const LoraAdapter& a) { return a.modules.size(); });

  // Bound here, after LoraAdapter, so that its signature names the Python class.
  py::reinterpret_borrow<py::class_<Model>>(m.attr("Model"))
      .def("adapter_add", &Model::adapter_add, py::arg("name"), py::arg("adapter"),
           "Adds an adapter held in memory (e.g. LoraTrainer.adapter) as ``name``.");

  m.def(
      "lora_adapter_read",
      [](const std::string& path, const Model& model) { return lora_adapter_read(path, model.config()); },
      py::arg("path"), py::arg("model"), "Reads a PEFT LoRA folder, checked against `model`'s shapes.");
  m.def(
      "lora_adapter_write",
      [](const std::string& path, const LoraAdapter& adapter) {
        py::gil_scoped_release release;
        lora_adapter_write(path, adapter);
      },
      py::arg("path"), py::arg("adapter"), "Writes a PEFT LoRA folder atomically.");
  m.def(
      "lora_adapter_init",
      [](const Model& model, const LoraConfig& config, uint64_t seed, double b_std) {
        return lora_adapter_init(model.config(), config, seed, b_std);
      },
      py::arg("model"), py::arg_v("config", LoraConfig{}, "LoraConfig()"), py::kw_only(), py::arg("seed") = 0, py::arg("b_std") = 0.0,
      R"pbdoc(A new adapter initialised as PEFT does (A uniform in +-1/sqrt(in), B = 0);
``b_std`` > 0 draws B from N(0, b_std^2) instead.)pbdoc");
}

}  // namespace culturespa::bindings

#include "common.h"

#include "culturespa/survey/prompts.h"

namespace culturespa::bindings {

namespace {

py::list messages_list(const Conversation& conversation) {
  py::list out;
  for (const auto& message : conversation) {
    py::dict d;
    d["role"] = message.role;
    d["content"] = message.content;
    out.append(d);
  }
  return out;
}

PromptMethod method_from(const py::object& method) {
  if (py::isinstance<PromptMethod>(method)) return py::cast<PromptMethod>(method);
  return prompt_method_from_name(py::cast<std::string>(method));
}

const PromptTemplates& templates_or_reference(const std::optional<PromptTemplates>& templates) {
  return templates ? *templates : PromptTemplates::reference();
}

}  // namespace

void register_prompts(py::module_& m) {
  py::enum_<PromptMethod> method(m, "PromptMethod");
  for (const PromptMethod value : prompt_methods_all()) method.value(prompt_method_name(value), value);

  py::class_<PromptTemplates>(m, "PromptTemplates",
                              "Prompt templates (str.format style); reference() is the paper's.")
      .def_static("reference", &PromptTemplates::reference)
      .def_static("load", &PromptTemplates::load, py::arg("path"))
      .def_static("from_json", &PromptTemplates::from_json, py::arg("text"), py::kw_only(),
                  py::arg("source") = "<string>")
      .def("to_json", &PromptTemplates::to_json)
      .def_readwrite("answer_system_culture_unaware", &PromptTemplates::answer_system_culture_unaware)
      .def_readwrite("answer_system_culture_aware", &PromptTemplates::answer_system_culture_aware)
      .def_readwrite("answer_system_cross_culture_thinking", &PromptTemplates::answer_system_cross_culture_thinking)
      .def_readwrite("answer_user", &PromptTemplates::answer_user)
      .def_readwrite("answer_user_self_alignment", &PromptTemplates::answer_user_self_alignment)
      .def_readwrite("self_alignment_example", &PromptTemplates::self_alignment_example)
      .def_readwrite("generate_system", &PromptTemplates::generate_system)
      .def_readwrite("generate_user_topic", &PromptTemplates::generate_user_topic)
      .def_readwrite("generate_example_topic", &PromptTemplates::generate_example_topic);

  py::class_<SurveyPrompt>(m, "SurveyPrompt",
                           "One question asked one way: messages (system, user) and answer labels.")
      .def_readonly("question_id", &SurveyPrompt::question_id)
      .def_readonly("culture", &SurveyPrompt::culture)
      .def_readonly("method", &SurveyPrompt::method)
      .def_readonly("labels", &SurveyPrompt::labels)
      .def_property_readonly("messages", [](const SurveyPrompt& p) { return messages_list(p.conversation); })
      .def("__repr__", [](const SurveyPrompt& p) {
        return "SurveyPrompt(question_id='" + p.question_id + "', method='" +
               prompt_method_name(p.method) + "', culture='" + p.culture + "')";
      });

  m.def(
      "prompt_build",
      [](const Survey& survey, const py::object& question, const py::object& method,
         const std::string& culture, const std::optional<PromptTemplates>& templates,
         std::size_t examples) {
        const PromptMethod m = method_from(method);
        if (py::isinstance<Question>(question)) {
          return prompt_build(survey, py::cast<const Question&>(question), m, culture,
                              templates_or_reference(templates), examples);
        }
        return prompt_build(survey, py::cast<std::string>(question), m, culture,
                            templates_or_reference(templates), examples);
      },
      py::arg("survey"), py::arg("question"), py::kw_only(), py::arg("method") = "culture_aware",
      py::arg("culture") = "", py::arg("templates") = py::none(), py::arg("examples") = 5,
      "The prompt for a question id of the survey or a Question object.");
  m.def(
      "prompt_build_all",
      [](const Survey& survey, const py::object& method, const std::string& culture,
         const std::optional<PromptTemplates>& templates, std::size_t examples) {
        const PromptMethod m = method_from(method);
        py::gil_scoped_release release;
        return prompt_build_all(survey, m, culture, templates_or_reference(templates), examples);
      },
      py::arg("survey"), py::kw_only(), py::arg("method") = "culture_aware", py::arg("culture") = "",
      py::arg("templates") = py::none(), py::arg("examples") = 5,
      "One prompt per evaluated question, in survey order.");
  m.def(
      "prompt_system",
      [](const Survey& survey, const py::object& method, const std::string& culture,
         const std::optional<PromptTemplates>& templates) {
        return prompt_system(survey, method_from(method), culture, templates_or_reference(templates));
      },
      py::arg("survey"), py::kw_only(), py::arg("method") = "culture_aware", py::arg("culture") = "",
      py::arg("templates") = py::none());
  m.def("prompt_options_text", &prompt_options_text, py::arg("question"));
  m.def(
      "culture_contrast",
      [](const Survey& survey, const std::string& culture, std::size_t count) {
        const CultureContrast c = culture_contrast(survey, culture, count);
        return py::make_tuple(c.similar, c.different);
      },
      py::arg("survey"), py::arg("culture"), py::kw_only(), py::arg("count") = 3,
      "(most similar first, least similar first) culture codes, as the cross-culture prompt uses them.");
  m.def("template_format", &template_format, py::arg("pattern"), py::arg("args"),
        py::kw_only(), py::arg("where") = "template");
  m.def("python_repr_list", &python_repr_list, py::arg("items"));
  m.def(
      "prompt_generate",
      [](const std::string& topic, const std::vector<Question>& examples,
         const std::optional<PromptTemplates>& templates) {
        return messages_list(prompt_generate(topic, examples, templates_or_reference(templates)));
      },
      py::arg("topic"), py::arg("examples"), py::kw_only(), py::arg("templates") = py::none(),
      "[system, user] messages asking for a new question on `topic` with the given examples.");
}

}  // namespace culturespa::bindings

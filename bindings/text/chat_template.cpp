#include "culturespa/text/chat_template.h"

#include "common.h"
#include "text/conversation.h"

namespace culturespa::bindings {

void register_chat_template(py::module_& m) {
  m.def(
      "chat_render",
      [](const std::string& format, const py::handle& messages, bool add_generation_prompt,
         std::optional<bool> enable_thinking, const std::string& bos_token, const std::string& eos_token,
         const std::string& date_string) {
        return chat_render(format, conversation_from_python(messages),
                           chat_options(format, add_generation_prompt, enable_thinking, bos_token,
                                        eos_token, date_string));
      },
      py::arg("format"), py::arg("messages"), py::kw_only(), py::arg("add_generation_prompt") = true,
      py::arg("enable_thinking") = py::none(), py::arg("bos_token") = "", py::arg("eos_token") = "",
      py::arg("date_string") = "26 Jul 2024",
      "Renders messages ([{'role', 'content'}, ...]) with a named chat format.");
  m.def(
      "chat_format_register",
      [](const std::string& name, py::function render, const std::vector<std::string>& template_sources) {
        // Deliberately never freed: the registry outlives the interpreter, and
        // dropping a Python object after finalization would crash at exit.
        auto* function = new py::function(std::move(render));
        chat_format_register(
            name,
            [function](const Conversation& conversation, const ChatTemplateOptions& options) {
              py::gil_scoped_acquire acquire;
              py::object result = (*function)(
                  conversation_to_python(conversation), py::arg("add_generation_prompt") = options.add_generation_prompt,
                  py::arg("enable_thinking") = options.enable_thinking,
                  py::arg("bos_token") = options.bos_token.value_or(""),
                  py::arg("eos_token") = options.eos_token.value_or(""),
                  py::arg("date_string") = options.date_string);
              if (!py::isinstance<py::str>(result)) {
                throw ValueError("chat format function must return str");
              }
              return result.cast<std::string>();
            },
            template_sources);
      },
      py::arg("name"), py::arg("render"), py::kw_only(),
      py::arg("template_sources") = std::vector<std::string>{},
      "Registers a chat format: render(messages, *, add_generation_prompt, enable_thinking, "
      "bos_token, eos_token, date_string) -> str. template_sources are chat_template texts to "
      "recognise as this format.");
  m.def("chat_format_detect", &chat_format_detect, py::arg("template_source"));
  m.def("chat_format_names", &chat_format_names);
  m.def("chat_format_stop_tokens", &chat_format_stop_tokens, py::arg("format"));
}

}  // namespace culturespa::bindings

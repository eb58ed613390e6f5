// Python messages ([{"role": ..., "content": ...}, ...]) <-> Conversation,
// shared by the tokenizer and chat-template bindings.
#pragma once

#include <string>

#include "common.h"
#include "culturespa/core/error.h"
#include "culturespa/text/chat_template.h"
#include "culturespa/text/conversation.h"

namespace culturespa::bindings {

inline Conversation conversation_from_python(const py::handle& messages) {
  Conversation conversation;
  std::size_t index = 0;
  for (const auto& item : py::iter(messages)) {
    if (!py::isinstance<py::dict>(item)) {
      throw ValueError("message " + std::to_string(index) + " is not a dict with 'role' and 'content'");
    }
    const auto message = py::reinterpret_borrow<py::dict>(item);
    if (!message.contains("role") || !message.contains("content")) {
      throw ValueError("message " + std::to_string(index) + " lacks 'role' or 'content'");
    }
    const py::object role = message["role"], content = message["content"];
    if (!py::isinstance<py::str>(role) || !py::isinstance<py::str>(content)) {
      throw ValueError("message " + std::to_string(index) + ": 'role' and 'content' must be str");
    }
    conversation.push_back({role.cast<std::string>(), content.cast<std::string>()});
    ++index;
  }
  return conversation;
}

inline py::list conversation_to_python(const Conversation& conversation) {
  py::list messages;
  for (const auto& m : conversation) {
    py::dict d;
    d["role"] = m.role;
    d["content"] = m.content;
    messages.append(d);
  }
  return messages;
}

inline ChatTemplateOptions chat_options(const std::string& format, bool add_generation_prompt,
                                        std::optional<bool> enable_thinking,
                                        std::optional<std::string> bos_token,
                                        std::optional<std::string> eos_token,
                                        const std::string& date_string) {
  ChatTemplateOptions options;
  options.format = format;
  options.add_generation_prompt = add_generation_prompt;
  options.enable_thinking = enable_thinking;
  options.bos_token = std::move(bos_token);
  options.eos_token = std::move(eos_token);
  options.date_string = date_string;
  return options;
}

}  // namespace culturespa::bindings

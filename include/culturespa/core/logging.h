// culturespa/core/logging.h: levelled logging that a host can redirect.
//
// By default messages at `warning` and above go to stderr. A C++ host installs
// its own sink with log_set_sink(); the Python package installs one that
// forwards to the standard `logging` module (logger "culturespa").
#pragma once

#include <functional>
#include <sstream>
#include <string>
#include <string_view>
#include "culturespa/core/export.h"

namespace culturespa {

enum class LogLevel { debug = 0, info = 1, warning = 2, error = 3, off = 4 };

// Receives every message at or above the current level. Called from whichever
// thread logs; a sink must be thread-safe.
using LogSink = std::function<void(LogLevel level, std::string_view message)>;

// Replaces the sink; an empty function restores the default stderr sink.
CULTURESPA_API void log_set_sink(LogSink sink);
// Messages below `level` are dropped before formatting reaches the sink.
CULTURESPA_API void log_set_level(LogLevel level);
CULTURESPA_API LogLevel log_level();
CULTURESPA_API bool log_enabled(LogLevel level);

CULTURESPA_API void log_message(LogLevel level, std::string_view message);

// "debug", "info", "warning", "error", "off"; throws ValueError otherwise.
CULTURESPA_API LogLevel log_level_from_name(std::string_view name);
CULTURESPA_API const char* log_level_name(LogLevel level);

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
}  // namespace detail

// log_info("loaded ", n, " tensors from ", path): formats only when enabled.
template <typename... Args>
void log_debug(const Args&... args) {
  if (log_enabled(LogLevel::debug)) log_message(LogLevel::debug, detail::concat(args...));
}
template <typename... Args>
void log_info(const Args&... args) {
  if (log_enabled(LogLevel::info)) log_message(LogLevel::info, detail::concat(args...));
}
template <typename... Args>
void log_warning(const Args&... args) {
  if (log_enabled(LogLevel::warning)) log_message(LogLevel::warning, detail::concat(args...));
}
template <typename... Args>
void log_error(const Args&... args) {
  if (log_enabled(LogLevel::error)) log_message(LogLevel::error, detail::concat(args...));
}

}  // namespace culturespa

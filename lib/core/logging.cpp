#include "culturespa/core/logging.h"

#include <atomic>
#include <iostream>
#include <memory>
#include <mutex>

#include "culturespa/core/enum_names.h"
#include "culturespa/core/error.h"

namespace culturespa {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::warning)};
std::mutex g_sink_mutex;
// Held by shared_ptr so that a message being delivered keeps its sink alive
// while another thread replaces it.
std::shared_ptr<LogSink> g_sink;

void stderr_sink(LogLevel level, std::string_view message) {
  static std::mutex stderr_mutex;
  std::lock_guard<std::mutex> lock(stderr_mutex);
  std::cerr << "[culturespa " << log_level_name(level) << "] " << message << '\n';
}

}  // namespace

void log_set_sink(LogSink sink) {
  std::lock_guard<std::mutex> lock(g_sink_mutex);
  g_sink = sink ? std::make_shared<LogSink>(std::move(sink)) : nullptr;
}

void log_set_level(LogLevel level) { g_level.store(static_cast<int>(level)); }

LogLevel log_level() { return static_cast<LogLevel>(g_level.load()); }

bool log_enabled(LogLevel level) {
  return level != LogLevel::off && static_cast<int>(level) >= g_level.load();
}

void log_message(LogLevel level, std::string_view message) {
  if (!log_enabled(level)) return;
  std::shared_ptr<LogSink> sink;
  {
    std::lock_guard<std::mutex> lock(g_sink_mutex);
    sink = g_sink;
  }
  if (sink) {
    (*sink)(level, message);
  } else {
    stderr_sink(level, message);
  }
}

namespace {

constexpr auto kLogLevels = enum_names<LogLevel>("log level", {{LogLevel::debug, "debug"},
                                                              {LogLevel::info, "info"},
                                                              {LogLevel::warning, "warning"},
                                                              {LogLevel::error, "error"},
                                                              {LogLevel::off, "off"}});

}  // namespace

LogLevel log_level_from_name(std::string_view name) { return kLogLevels.from_name(name); }

const char* log_level_name(LogLevel level) { return kLogLevels.name(level); }

}  // namespace culturespa

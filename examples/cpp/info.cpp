// Prints what culturespa was built with and what it runs on.
//   ./culturespa_info_example
#include <culturespa/core/logging.h>
#include <culturespa/core/version.h>
#include <culturespa/model/runtime.h>

#include <iostream>

int main() {
  // A host application routes the library's messages into its own logging.
  culturespa::log_set_level(culturespa::LogLevel::info);
  culturespa::log_set_sink([](culturespa::LogLevel level, std::string_view message) {
    std::cout << "[host log, " << culturespa::log_level_name(level) << "] " << message << '\n';
  });
  culturespa::runtime_init();

  const auto build = culturespa::build_info();
  const auto runtime = culturespa::runtime_info();
  std::cout << "culturespa " << culturespa::version() << " (" << build.compiler << ")\n"
            << "LibTorch   " << runtime.torch_version << "\n"
            << "BLAS       " << runtime.blas << "\n"
            << "threads    " << runtime.num_threads << " of " << runtime.hardware_threads << "\n"
            << "devices   ";
  for (const auto& device : runtime.devices) std::cout << ' ' << device;
  std::cout << '\n';
  culturespa::log_set_sink(nullptr);
  return 0;
}

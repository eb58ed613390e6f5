// The whole CultureSPA loop from C++: a preset or a config file, one run
// folder, Ctrl-C stops cleanly and a second run resumes (docs/pipeline.md,
// "One command").
//
//   culturespa_pipeline_run_example RUN_DIR [CONFIG.toml|CONFIG.json|PRESET]
//
// Without a config: the quick preset (SmolLM2-135M-Instruct from the cache:
// `culturespa model fetch smollm2-135m-instruct`; the WVS-7 data: `culturespa
// data fetch wvs7`). The report stage is Python's: this program passes a hook
// that writes a small report.md of its own.
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "culturespa/core/error.h"
#include "culturespa/core/logging.h"
#include "culturespa/pipeline/pipeline.h"

namespace {
std::atomic<bool> interrupted{false};
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " RUN_DIR [CONFIG.toml|CONFIG.json|quick|demo|paper]\n";
    return 2;
  }
  std::signal(SIGINT, [](int) { interrupted = true; });
  culturespa::log_set_level(culturespa::LogLevel::info);
  try {
    const std::string choice = argc > 2 ? argv[2] : "quick";
    const culturespa::PipelineConfig config = std::filesystem::exists(choice)
                                                  ? culturespa::pipeline_config_load(choice)
                                                  : culturespa::pipeline_config_preset(choice);
    culturespa::PipelineRunOptions options;
    options.report = [](const std::string& run_dir) {
      std::ofstream out(std::filesystem::path(run_dir) / "report.md");
      out << "# CultureSPA run\n\nSee evaluate/base, evaluate/joint and evaluate/specific "
             "(`culturespa evaluate --compare`).\n";
    };
    const culturespa::PipelineResult result =
        culturespa::Pipeline(config).run(argv[1], options, [](const culturespa::Progress&) { return !interrupted; });
    if (result.nothing_to_do) {
      std::cout << result.run_dir << " is finished: nothing to do\n";
      return 0;
    }
    for (const auto& stage : result.stages)
      std::cout << stage.stage << "\t" << stage.status << "\t" << stage.seconds << " s\n";
  } catch (const culturespa::CancelledError&) {
    std::cerr << "interrupted: finished work is kept; run again to resume\n";
    return 130;
  } catch (const culturespa::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

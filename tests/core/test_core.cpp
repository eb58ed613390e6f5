#include "culturespa/core/error.h"
#include "culturespa/core/logging.h"
#include "culturespa/core/progress.h"
#include "culturespa/core/version.h"

#include "support.h"

#include <fstream>
#include <mutex>
#include <vector>

using namespace culturespa;

TEST_CASE("errors carry the path and map to one hierarchy") {
  const auto dir = testing::scratch_dir("core-errors");
  const std::string missing = (dir / "nope.json").string();
  try {
    file_read_text(missing);
    FAIL("no exception");
  } catch (const FileError& e) {
    CHECK(e.kind() == FileError::Kind::not_found);
    CHECK(e.path() == missing);
    CHECK(std::string(e.what()).find(missing) != std::string::npos);
  }
  CHECK_THROWS_AS(file_require_exists(missing, "survey questions"), FileError);
  CHECK_THROWS_WITH(file_require_exists(missing, "survey questions"),
                    Catch::Contains("survey questions not found") && Catch::Contains("nope.json"));
  // Every type is a culturespa::Error and a std::runtime_error.
  CHECK_THROWS_AS(throw FormatError("x"), Error);
  CHECK_THROWS_AS(throw ConfigError("x"), Error);
  CHECK_THROWS_AS(throw ValueError("x"), std::runtime_error);
}

TEST_CASE("atomic writes replace the whole file and leave no temporary") {
  const auto dir = testing::scratch_dir("core-atomic");
  const std::string path = (dir / "stage.jsonl").string();
  file_write_atomic(path, "first\n");
  file_write_atomic(path, "second\n");
  CHECK(file_read_text(path) == "second\n");
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir)) ++entries;
  CHECK(entries == 1);
  CHECK_THROWS_AS(file_write_atomic((dir / "no" / "such" / "dir").string(), "x"), FileError);
}

TEST_CASE("log messages reach a host sink at or above the level") {
  std::vector<std::pair<LogLevel, std::string>> seen;
  std::mutex mutex;
  log_set_sink([&](LogLevel level, std::string_view message) {
    std::lock_guard<std::mutex> lock(mutex);
    seen.emplace_back(level, std::string(message));
  });
  log_set_level(LogLevel::info);
  log_debug("hidden ", 1);
  log_info("loaded ", 3, " tensors");
  log_warning("slow BLAS");
  log_set_level(LogLevel::off);
  log_error("dropped");
  log_set_sink(nullptr);
  log_set_level(LogLevel::warning);

  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == std::make_pair(LogLevel::info, std::string("loaded 3 tensors")));
  CHECK(seen[1].first == LogLevel::warning);
  CHECK(log_level_from_name("debug") == LogLevel::debug);
  CHECK_THROWS_AS(log_level_from_name("loud"), ValueError);
}

TEST_CASE("a progress callback sees the work and can cancel it") {
  std::vector<std::size_t> reported;
  ProgressReporter reporter(
      [&](const Progress& p) {
        reported.push_back(p.done);
        CHECK(p.stage == "answer");
        CHECK(p.total == 10);
        return p.done < 6;
      },
      "answer", 10, 2);
  std::size_t finished = 0;
  try {
    for (int i = 0; i < 10; ++i) {
      reporter.advance();
      ++finished;
    }
    FAIL("not cancelled");
  } catch (const CancelledError& e) {
    CHECK(std::string(e.what()).find("answer") != std::string::npos);
  }
  // Reports at 0 (start), 2, 4, 6: cancelled when reporting 6.
  CHECK(reported == std::vector<std::size_t>{0, 2, 4, 6});
  CHECK(finished == 5);
}

TEST_CASE("version and build info") {
  const BuildInfo info = build_info();
  CHECK(info.version == version());
  CHECK(info.version.find('.') != std::string::npos);
  CHECK_FALSE(info.torch_version.empty());
  CHECK((info.sentencepiece == "debian-source" || info.sentencepiece == "system" ||
         info.sentencepiece == "off"));
}

// Included by every C++ test after the culturespa headers: Debian's LibTorch
// is built with glog, whose CHECK macro would replace Catch2's.
#pragma once

#ifdef CHECK
#undef CHECK
#endif
#include <catch2/catch.hpp>

#include <cstdlib>
#include <initializer_list>
#include <filesystem>
#include <optional>
#include <string>

namespace culturespa::testing {

// ../shared beside the checkout (or $CULTURESPA_SHARED_DIR), when present.
inline std::optional<std::filesystem::path> shared_dir() {
  if (const char* env = std::getenv("CULTURESPA_SHARED_DIR")) {
    if (std::filesystem::is_directory(env)) return std::filesystem::path(env);
    return std::nullopt;
  }
  const auto path = std::filesystem::path(CULTURESPA_SOURCE_DIR) / ".." / "shared";
  if (std::filesystem::is_directory(path)) return std::filesystem::canonical(path);
  return std::nullopt;
}

// A scratch folder unique to the calling test, removed first if present.
inline std::filesystem::path scratch_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("culturespa-test-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Runs `body`, which must throw E, and checks that the message names every
// one of `parts` (a file, field, item or value).
template <typename E, typename Body>
void require_throws_naming(Body&& body, std::initializer_list<std::string> parts) {
  try {
    body();
  } catch (const E& e) {
    const std::string message = e.what();
    INFO(message);
    for (const auto& part : parts) CHECK(message.find(part) != std::string::npos);
    return;
  }
  FAIL("no exception of the expected type was thrown");
}

}  // namespace culturespa::testing

// Ends the current test case with a visible message when ../shared is absent.
#define CULTURESPA_REQUIRE_SHARED(dir_var)                                            \
  const auto dir_var##_opt = ::culturespa::testing::shared_dir();                     \
  if (!dir_var##_opt) {                                                               \
    WARN("skipped: ../shared (the read-only data beside the checkout) is absent; "    \
         "set CULTURESPA_SHARED_DIR to run this test");                               \
    return;                                                                           \
  }                                                                                   \
  const std::filesystem::path dir_var = *dir_var##_opt

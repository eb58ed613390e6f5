#include <catch2/catch.hpp>

#include "culturespa/core/enum_names.h"
#include "culturespa/core/logging.h"
#include "culturespa/pipeline/contrast.h"
#include "culturespa/pipeline/dataset_export.h"
#include "culturespa/survey/prompts.h"

using namespace culturespa;

namespace {

enum class Colour { red, green, blue };
constexpr auto kColours =
    enum_names<Colour>("colour", {{Colour::red, "red"}, {Colour::green, "green"}, {Colour::blue, "blue"}});

}  // namespace

TEST_CASE("an enum names table maps both ways and names the valid names on unknown input") {
  static_assert(kColours.find("green") == Colour::green);
  CHECK(std::string(kColours.name(Colour::blue)) == "blue");
  CHECK(std::string(kColours.name(static_cast<Colour>(7))) == "unknown");
  CHECK(kColours.from_name("red") == Colour::red);
  CHECK_FALSE(kColours.find("Red"));
  CHECK_THROWS_AS(kColours.from_name("purple"), ValueError);
  CHECK_THROWS_WITH(kColours.from_name("purple"), "unknown colour 'purple' (valid: red, green, blue)");
  CHECK(kColours.names() == std::vector<std::string>{"red", "green", "blue"});
}

TEST_CASE("the library's name pairs round-trip and share the unknown-name error") {
  for (const auto level : {LogLevel::debug, LogLevel::info, LogLevel::warning, LogLevel::error, LogLevel::off})
    CHECK(log_level_from_name(log_level_name(level)) == level);
  for (const auto method : prompt_methods_all()) CHECK(prompt_method_from_name(prompt_method_name(method)) == method);
  CHECK(contrast_rule_from_name(contrast_rule_name(ContrastRule::distributional)) == ContrastRule::distributional);
  CHECK_THROWS_WITH(log_level_from_name("loud"), Catch::Contains("unknown log level 'loud' (valid: debug, info"));
  CHECK_THROWS_WITH(dataset_format_from_name("csv"),
                    "unknown dataset format 'csv' (valid: alpaca, sharegpt, culturespa)");
  CHECK_THROWS_WITH(prompt_method_from_name("loud"), Catch::Contains("unknown prompt method 'loud' (valid: culture_unaware"));
}

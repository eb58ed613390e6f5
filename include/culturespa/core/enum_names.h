// culturespa/core/enum_names.h: one table per enum of its values and their
// names, so that `<enum>_name` and `<enum>_from_name` pairs share one
// implementation and every unknown name gets the same error:
//
//   constexpr auto kAnswerModes = enum_names<AnswerMode>(
//       "answer mode", {{AnswerMode::sampled, "sampled"}, {AnswerMode::scored, "scored"}});
//   kAnswerModes.name(AnswerMode::scored)  // "scored"
//   kAnswerModes.from_name("loud")         // ValueError: unknown answer mode 'loud' (valid: sampled, scored)
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "culturespa/core/error.h"

namespace culturespa {

template <typename Enum>
struct EnumName {
  Enum value;
  const char* name;
};

template <typename Enum, std::size_t N>
struct EnumNames {
  const char* what;  // the enum in words, for errors: "answer mode"
  std::array<EnumName<Enum>, N> entries;

  // The value's name; "unknown" for a value outside the table (a cast int).
  constexpr const char* name(Enum value) const {
    for (const auto& entry : entries)
      if (entry.value == value) return entry.name;
    return "unknown";
  }
  constexpr std::optional<Enum> find(std::string_view name) const {
    for (const auto& entry : entries)
      if (name == entry.name) return entry.value;
    return std::nullopt;
  }
  // The value named `name`; ValueError naming it and listing the valid names.
  Enum from_name(std::string_view name) const {
    if (const auto value = find(name)) return *value;
    throw ValueError("unknown " + std::string(what) + " '" + std::string(name) + "' (valid: " + joined() + ")");
  }
  // Every value, in table order.
  std::vector<Enum> values() const {
    std::vector<Enum> out;
    for (const auto& entry : entries) out.push_back(entry.value);
    return out;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& entry : entries) out.emplace_back(entry.name);
    return out;
  }
  // "a, b, c"
  std::string joined() const {
    std::string out;
    for (const auto& entry : entries) out += (out.empty() ? "" : ", ") + std::string(entry.name);
    return out;
  }
};

template <typename Enum, std::size_t N>
constexpr EnumNames<Enum, N> enum_names(const char* what, const EnumName<Enum> (&entries)[N]) {
  EnumNames<Enum, N> table{what, {}};
  for (std::size_t i = 0; i < N; ++i) table.entries[i] = entries[i];
  return table;
}

}  // namespace culturespa

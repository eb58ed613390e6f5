// culturespa/core/utf8.h: UTF-8 well-formedness, as Unicode defines it
// (Table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include "culturespa/core/export.h"

namespace culturespa {

// Length of the well-formed UTF-8 sequence starting at text[i], or 0 when
// the bytes there are ill-formed; then `*consumed` (when given) is the
// length of the maximal ill-formed subpart (>= 1), the unit that one U+FFFD
// replaces.
CULTURESPA_API std::size_t utf8_sequence_length(std::string_view text, std::size_t i, std::size_t* consumed = nullptr);

// utf8_escape_invalid (core/error.h) builds on it.

}  // namespace culturespa

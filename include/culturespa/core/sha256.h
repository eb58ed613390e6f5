// culturespa/core/sha256.h: SHA-256 (FIPS 180-4), for pinned downloads.
#pragma once

#include <string>
#include <string_view>
#include "culturespa/core/export.h"

namespace culturespa {

// The SHA-256 of `bytes` as 64 lowercase hex digits.
CULTURESPA_API std::string sha256_hex(std::string_view bytes);
// The SHA-256 of a file's bytes; FileError naming the file when it cannot be read.
CULTURESPA_API std::string sha256_file(const std::string& path);

}  // namespace culturespa

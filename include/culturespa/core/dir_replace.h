// culturespa/core/dir_replace.h: replacing a whole folder at once.
#pragma once

#include <string>
#include "culturespa/core/export.h"

namespace culturespa {

// Replaces the folder `target` (when present) by the finished folder
// `staging` (beside it, same file system) with renames, so that a reader
// sees the old folder or the new one, never a mix; FileError on failure.
CULTURESPA_API void dir_replace_atomic(const std::string& staging, const std::string& target);

}  // namespace culturespa

// culturespa/core/error.h: the one error hierarchy of the library.
//
// Every function of the public API reports bad input by throwing one of these
// types (never by crashing or returning a silently wrong result). The message
// always names the offending file, field or value. The Python bindings map
// them in one place (bindings/core/errors.cpp):
//
//   culturespa::FileError      -> FileNotFoundError (missing) / OSError (unreadable)
//   culturespa::FormatError    -> ValueError   (a file's content is malformed)
//   culturespa::ConfigError    -> ValueError   (a setting or config field is invalid or unsupported)
//   culturespa::ValueError     -> ValueError   (an argument is out of range or inconsistent)
//   culturespa::CancelledError -> KeyboardInterrupt when Ctrl-C caused it, else culturespa.Cancelled
//   culturespa::Error          -> RuntimeError (anything else)
#pragma once

#include <stdexcept>
#include <string>
#include "culturespa/core/export.h"

namespace culturespa {

// Messages are always valid UTF-8: a message quoting bytes that are not
// (a bad file's content) has each ill-formed byte written as \xNN, so that
// every binding and log can show it.
class CULTURESPA_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what);
  explicit Error(const char* what) : Error(std::string(what)) {}
};

// `text` with every byte that is not part of well-formed UTF-8 written as
// \xNN (valid text comes back unchanged).
CULTURESPA_API std::string utf8_escape_invalid(const std::string& text);

// A file or directory that is missing or cannot be read or written.
class CULTURESPA_API FileError : public Error {
 public:
  enum class Kind { not_found, io };
  FileError(Kind kind, std::string path, const std::string& what);
  Kind kind() const noexcept { return kind_; }
  const std::string& path() const noexcept { return path_; }

 private:
  Kind kind_;
  std::string path_;
};

// A file whose bytes do not follow its format (bad JSON, a truncated
// safetensors file, a tokenizer.json with unknown merges, ...).
class CULTURESPA_API FormatError : public Error {
 public:
  using Error::Error;
};

// A configuration value that is missing, invalid or unsupported.
class CULTURESPA_API ConfigError : public Error {
 public:
  using Error::Error;
};

// An argument that is out of range or inconsistent with the others.
class CULTURESPA_API ValueError : public Error {
 public:
  using Error::Error;
};

// A long operation stopped because its progress callback asked it to.
class CULTURESPA_API CancelledError : public Error {
 public:
  using Error::Error;
};

// Throws FileError(not_found) unless `path` exists; `what` says which file
// the caller expected ("checkpoint config", "survey questions", ...).
CULTURESPA_API void file_require_exists(const std::string& path, const std::string& what);

// Reads a whole file, throwing FileError with the path on failure.
CULTURESPA_API std::string file_read_text(const std::string& path);

// Writes `contents` to `path` atomically: a temporary file in the same
// directory is written, flushed and renamed over the target, so a reader (or
// a resumed run) never sees a half-written file.
CULTURESPA_API void file_write_atomic(const std::string& path, const std::string& contents);

}  // namespace culturespa

// culturespa/core/mapped_file.h: a whole file mapped read-only (or read into
// memory), as the GGUF and safetensors readers hold their files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "culturespa/core/export.h"

namespace culturespa {

struct CULTURESPA_API MappedFile {
  void* data = nullptr;
  std::size_t size = 0;
  bool owned = false;  // read into a malloc'ed buffer, not mapped

  MappedFile() = default;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  // Maps `path`; FileError naming `kind` ("safetensors file") and the path
  // when it is missing, not a regular file or cannot be mapped. With `map`
  // false the file is read into memory instead (ModelOptions::mmap): a file
  // truncated while mapped raises SIGBUS at the first touch of a lost page,
  // a file read up front cannot change under the reader.
  void map(const std::string& path, const std::string& kind, bool map = true);
  const char* bytes() const { return static_cast<const char*>(data); }
  // Tells the kernel that the whole pages of [offset, offset + length) are
  // not needed again (after they were copied).
  void release(uint64_t offset, uint64_t length) const;
};

}  // namespace culturespa

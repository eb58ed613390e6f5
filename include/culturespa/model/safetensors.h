// culturespa/model/safetensors.h: the safetensors checkpoint format.
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of
// JSON ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
// optional "__metadata__": {string: string}}), then the data area that the
// offsets index. The reader maps the file (mmap) and validates the header
// strictly before any tensor is touched: header length within the file and
// below 100 MB, well-formed JSON, known dtype names, shape x dtype size equal
// to each byte range, ranges inside the data area and not overlapping. Every
// error is a FormatError naming the file and the tensor or field.
//
// Tensors are wrapped without copying (the mapping stays alive as long as any
// tensor taken from it) when their data is aligned to their element size, and
// copied otherwise.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>
#include "culturespa/core/export.h"

namespace culturespa {

struct CULTURESPA_API SafetensorsEntry {
  std::string name;
  std::string dtype;             // as in the file: "F32", "F16", "BF16", "I64", ...
  at::ScalarType scalar_type{};  // the matching LibTorch type
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte range [begin, end) relative to the data area
  uint64_t end = 0;
};

struct CULTURESPA_API SafetensorsHeader {
  std::vector<SafetensorsEntry> tensors;  // in file order of their data
  std::map<std::string, std::string> metadata;
  uint64_t data_offset = 0;  // where the data area starts in the file (8 + N)
};

// Largest header accepted (the format's reference implementation uses the same bound).
constexpr uint64_t safetensors_max_header_bytes = 100'000'000;

// Parses and validates the header of a whole safetensors file held in
// `bytes` (`size` bytes; only the header is read, the data area is only
// bounds-checked). `path` names the file in error messages.
CULTURESPA_API SafetensorsHeader safetensors_header_parse(const char* bytes, std::size_t size,
                                                          const std::string& path);

// Element size in bytes of a safetensors dtype name; ConfigError when unknown.
CULTURESPA_API std::size_t safetensors_dtype_size(const std::string& dtype);
// The safetensors dtype name of a LibTorch type; ValueError when it has none.
CULTURESPA_API std::string safetensors_dtype_name(at::ScalarType type);

// One memory-mapped safetensors file.
class CULTURESPA_API SafetensorsFile {
 public:
  // `map` false reads the file into memory instead of mapping it
  // (ModelOptions::mmap has why).
  explicit SafetensorsFile(const std::string& path, bool map = true);

  const std::string& path() const noexcept { return path_; }
  const std::vector<SafetensorsEntry>& tensors() const noexcept { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const noexcept { return header_.metadata; }
  // nullptr when the file has no tensor of that name.
  const SafetensorsEntry* find(const std::string& name) const;
  // The tensor on the CPU, in the file's dtype; FormatError naming the file
  // when there is no such tensor.
  at::Tensor tensor(const std::string& name) const;
  // Tells the kernel that the tensor's pages will not be needed again (after
  // they were copied), so loading does not keep both copies resident.
  void release(const std::string& name) const;

 private:
  struct Mapping;
  std::string path_;
  std::shared_ptr<Mapping> mapping_;
  SafetensorsHeader header_;
  std::unordered_map<std::string, std::size_t> index_;
};

// Writes `tensors` (any device; written contiguous, in the given order) and
// `metadata` atomically: a temporary beside `path` is written, flushed and
// renamed over it. Header padded to 8 bytes as the reference writer does.
CULTURESPA_API void safetensors_write(const std::string& path,
                                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                                      const std::map<std::string, std::string>& metadata = {});

// The weights of a checkpoint folder: model.safetensors, or the shards listed
// in model.safetensors.index.json ("weight_map": {tensor: file}).
class CULTURESPA_API SafetensorsCheckpoint {
 public:
  explicit SafetensorsCheckpoint(const std::string& dir, bool map = true);

  bool contains(const std::string& name) const;
  // FormatError naming the tensor and the checkpoint (or index) when absent.
  const SafetensorsEntry& entry(const std::string& name) const;
  at::Tensor tensor(const std::string& name) const;
  void release(const std::string& name) const;
  // The file that holds `name` (for error messages).
  const std::string& file_of(const std::string& name) const;
  std::vector<std::string> names() const;
  // Sum of all tensors' byte sizes.
  uint64_t total_bytes() const;
  const std::string& dir() const noexcept { return dir_; }

 private:
  const SafetensorsFile& file_for(const std::string& name) const;
  std::string dir_;
  std::string source_;  // model.safetensors or the index file, for messages
  std::vector<SafetensorsFile> files_;
  std::unordered_map<std::string, std::size_t> file_index_;  // tensor -> files_
};

}  // namespace culturespa

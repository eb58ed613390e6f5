// culturespa/core/gguf.h: GGUF files (llama.cpp's model format), read
// directly: metadata and tensor directory. The model layer dequantises the
// tensors (culturespa/model/gguf.h); the text layer reads the tokenizer a
// GGUF file carries (Tokenizer::from_gguf). Nothing here needs LibTorch.
//
// A GGUF v2/v3 file is: magic "GGUF", uint32 version, uint64 tensor count,
// uint64 metadata count, the metadata key/value pairs, the tensor infos
// (name, dims innermost first, ggml type, offset), padding to the alignment
// (`general.alignment`, default 32), then the tensor data. Everything is
// little-endian. The reader maps the file (mmap) and validates it before any
// tensor is read: every length and count against the bytes left, known value
// and tensor types, dims and byte sizes without overflow, each tensor's data
// aligned, inside the file and not overlapping another. Every error is a
// FormatError naming the file and the key or tensor at fault.
//
// Threads: a GgufFile is immutable once opened; its const calls may run from
// several threads at once.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "culturespa/core/export.h"

namespace culturespa {

// GGUF metadata value types (the numbers stored in the file).
enum class GgufValueType : uint32_t {
  uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6,
  boolean = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12,
};
CULTURESPA_API std::string gguf_value_type_name(GgufValueType type);  // "uint32", "string", ...

// One metadata value. Scalars fill `integer` (integer and bool types),
// `number` (every numeric type, integers converted) or `string`; arrays fill
// the vector matching their element type (`integers` also holds bools, and
// integer arrays fill `numbers` too). Arrays of arrays are accepted and
// skipped (their elements are not kept).
struct CULTURESPA_API GgufValue {
  GgufValueType type = GgufValueType::uint32;
  GgufValueType element_type = GgufValueType::uint32;  // arrays only
  uint64_t count = 0;                                  // arrays only: elements in the file
  int64_t integer = 0;
  double number = 0.0;
  std::string string;
  std::vector<int64_t> integers;
  std::vector<double> numbers;
  std::vector<std::string> strings;

  bool is_integer() const;  // any integer type or bool
  bool is_number() const;   // any integer or float type
};

// ggml tensor types (the numbers stored in the file).
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
  IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
};
CULTURESPA_API std::string ggml_type_name(GgmlType type);  // "Q4_1", ...
// ggml's block layout of a type: elements per block and bytes per block (1
// and the element size for unquantised types); 0 for an unknown type.
CULTURESPA_API uint64_t ggml_block_elements(GgmlType type);
CULTURESPA_API uint64_t ggml_block_bytes(GgmlType type);

struct CULTURESPA_API GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> dims;   // as stored: innermost (row length) first
  std::vector<int64_t> shape;  // row-major, as a LibTorch / numpy array: dims reversed
  uint64_t offset = 0;         // from the start of the data section
  uint64_t bytes = 0;
};

// Largest counts accepted before the bytes-left check (a defence against
// absurd counts that would allocate before failing).
constexpr uint64_t gguf_max_tensors = 1'000'000;
constexpr uint64_t gguf_max_dims = 4;

// One memory-mapped GGUF file.
class CULTURESPA_API GgufFile {
 public:
  // FileError when it cannot be opened; FormatError naming the file and the
  // key or tensor when its content is malformed.
  // `map` false reads the file into memory instead of mapping it
  // (ModelOptions::mmap has why).
  explicit GgufFile(const std::string& path, bool map = true);

  const std::string& path() const noexcept { return path_; }
  uint32_t version() const noexcept { return version_; }
  uint64_t alignment() const noexcept { return alignment_; }
  uint64_t data_offset() const noexcept { return data_offset_; }

  // Metadata in file order of keys (a std::map: sorted by key).
  const std::map<std::string, GgufValue>& metadata() const noexcept { return metadata_; }
  // nullptr when absent.
  const GgufValue* find(const std::string& key) const;
  // Typed access: ConfigError naming the file and the key when the key is
  // absent (and no fallback is given) or has another type.
  std::string get_string(const std::string& key) const;
  int64_t get_integer(const std::string& key) const;
  int64_t get_integer(const std::string& key, int64_t fallback) const;
  double get_number(const std::string& key) const;
  double get_number(const std::string& key, double fallback) const;
  // An array of `element` values (string: `strings`, integer types and bool:
  // `integers`, float types: `numbers`); ConfigError naming the file and the
  // key when it is absent or another type.
  const GgufValue& get_array(const std::string& key, GgufValueType element) const;

  // The tensor directory, in file order.
  const std::vector<GgufTensorInfo>& tensors() const noexcept { return tensors_; }
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  // The tensor's bytes as stored (`bytes` of them, laid out as its ggml
  // type), inside the mapping: valid while the GgufFile lives. FormatError
  // naming the file and the tensor when it is absent. gguf_tensor
  // (culturespa/model/gguf.h) dequantises them.
  std::string_view tensor_bytes(const std::string& name) const;
  // Tells the kernel the tensor's pages are not needed again.
  void release(const std::string& name) const;

 private:
  struct Mapping;
  std::string path_;
  std::shared_ptr<Mapping> mapping_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, std::size_t> index_;
};

// Whether `path` names a GGUF file rather than a checkpoint folder: a
// regular file whose first four bytes are "GGUF".
CULTURESPA_API bool gguf_is_file(const std::string& path);

}  // namespace culturespa

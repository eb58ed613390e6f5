// A minimal GGUF writer for the tests, written from the format description
// (culturespa/core/gguf.h): header fields, metadata entries and raw bytes in
// the order the caller puts them.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace culturespa::testing {

class GgufBytes {
 public:
  explicit GgufBytes(uint32_t version = 3) {
    bytes_ = "GGUF";
    put<uint32_t>(version);
  }
  template <typename T>
  void put(T value) {
    char raw[sizeof(T)];
    std::memcpy(raw, &value, sizeof(T));
    bytes_.append(raw, sizeof(T));
  }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    bytes_ += s;
  }
  void raw(const std::string& s) { bytes_ += s; }
  void pad(uint64_t alignment = 32) {
    while (bytes_.size() % alignment) bytes_ += '\0';
  }
  std::string& bytes() { return bytes_; }

  // Metadata entries: the key, the value type (GgufValueType's numbers), the value.
  void kv_string(const std::string& key, const std::string& value) {
    str(key);
    put<uint32_t>(8);
    str(value);
  }
  void kv_u32(const std::string& key, uint32_t value) {
    str(key);
    put<uint32_t>(4);
    put<uint32_t>(value);
  }
  void kv_bool(const std::string& key, bool value) {
    str(key);
    put<uint32_t>(7);
    put<uint8_t>(value ? 1 : 0);
  }
  void kv_strings(const std::string& key, const std::vector<std::string>& values) {
    array_start(key, 8, values.size());
    for (const auto& value : values) str(value);
  }
  void kv_i32s(const std::string& key, const std::vector<int32_t>& values) {
    array_start(key, 5, values.size());
    for (int32_t value : values) put<int32_t>(value);
  }

 private:
  void array_start(const std::string& key, uint32_t element_type, std::size_t count) {
    str(key);
    put<uint32_t>(9);
    put<uint32_t>(element_type);
    put<uint64_t>(count);
  }
  std::string bytes_;
};

}  // namespace culturespa::testing

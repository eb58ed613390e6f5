// The GGUF container: header, metadata and tensor directory, validated
// before anything is read (culturespa/core/gguf.h).
#include "culturespa/core/gguf.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include "culturespa/core/error.h"
#include "culturespa/core/mapped_file.h"

namespace culturespa {
namespace {

[[noreturn]] void gguf_error(const std::string& path, const std::string& what) {
  throw FormatError("GGUF file " + path + ": " + what);
}

struct TypeTraits {
  GgmlType type;
  const char* name;
  uint64_t block_size;  // elements per block
  uint64_t type_size;   // bytes per block
};

// ggml's type table (ggml.c, type_traits): every type a GGUF file may hold.
constexpr TypeTraits type_table[] = {
    {GgmlType::F32, "F32", 1, 4},           {GgmlType::F16, "F16", 1, 2},
    {GgmlType::Q4_0, "Q4_0", 32, 18},       {GgmlType::Q4_1, "Q4_1", 32, 20},
    {GgmlType::Q5_0, "Q5_0", 32, 22},       {GgmlType::Q5_1, "Q5_1", 32, 24},
    {GgmlType::Q8_0, "Q8_0", 32, 34},       {GgmlType::Q8_1, "Q8_1", 32, 36},
    {GgmlType::Q2_K, "Q2_K", 256, 84},      {GgmlType::Q3_K, "Q3_K", 256, 110},
    {GgmlType::Q4_K, "Q4_K", 256, 144},     {GgmlType::Q5_K, "Q5_K", 256, 176},
    {GgmlType::Q6_K, "Q6_K", 256, 210},     {GgmlType::Q8_K, "Q8_K", 256, 292},
    {GgmlType::IQ2_XXS, "IQ2_XXS", 256, 66}, {GgmlType::IQ2_XS, "IQ2_XS", 256, 74},
    {GgmlType::IQ3_XXS, "IQ3_XXS", 256, 98}, {GgmlType::IQ1_S, "IQ1_S", 256, 50},
    {GgmlType::IQ4_NL, "IQ4_NL", 32, 18},   {GgmlType::IQ3_S, "IQ3_S", 256, 110},
    {GgmlType::IQ2_S, "IQ2_S", 256, 82},    {GgmlType::IQ4_XS, "IQ4_XS", 256, 136},
    {GgmlType::I8, "I8", 1, 1},             {GgmlType::I16, "I16", 1, 2},
    {GgmlType::I32, "I32", 1, 4},           {GgmlType::I64, "I64", 1, 8},
    {GgmlType::F64, "F64", 1, 8},           {GgmlType::IQ1_M, "IQ1_M", 256, 56},
    {GgmlType::BF16, "BF16", 1, 2},
};

const TypeTraits* type_find(uint32_t type) {
  for (const auto& traits : type_table)
    if (static_cast<uint32_t>(traits.type) == type) return &traits;
  return nullptr;
}

// Reads the header sequentially, checking every read against the bytes left.
class Cursor {
 public:
  Cursor(const unsigned char* data, uint64_t size, const std::string& path) : data_(data), size_(size), path_(path) {}

  uint64_t position() const { return position_; }
  uint64_t left() const { return size_ - position_; }

  void need(uint64_t bytes, const std::string& what) const {
    if (bytes > left())
      gguf_error(path_, "truncated: " + what + " needs " + std::to_string(bytes) + " bytes at offset " +
                            std::to_string(position_) + ", the file has " + std::to_string(left()) + " left");
  }
  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T value;
    std::memcpy(&value, data_ + position_, sizeof(T));  // the host is little-endian, as GGUF
    position_ += sizeof(T);
    return value;
  }
  std::string string(const std::string& what) {
    const uint64_t length = read<uint64_t>(what + " (length)");
    need(length, what);
    std::string value(reinterpret_cast<const char*>(data_ + position_), length);
    position_ += length;
    return value;
  }
  void skip(uint64_t bytes, const std::string& what) {
    need(bytes, what);
    position_ += bytes;
  }

 private:
  const unsigned char* data_;
  uint64_t size_;
  uint64_t position_ = 0;
  const std::string& path_;
};

uint64_t scalar_size(GgufValueType type) {
  switch (type) {
    case GgufValueType::uint8: case GgufValueType::int8: case GgufValueType::boolean: return 1;
    case GgufValueType::uint16: case GgufValueType::int16: return 2;
    case GgufValueType::uint32: case GgufValueType::int32: case GgufValueType::float32: return 4;
    case GgufValueType::uint64: case GgufValueType::int64: case GgufValueType::float64: return 8;
    case GgufValueType::string: return 8;  // the length at least
    case GgufValueType::array: return 12;  // type and count at least
  }
  return 0;
}

GgufValueType value_type_check(uint32_t raw, const std::string& path, const std::string& where) {
  if (raw > static_cast<uint32_t>(GgufValueType::float64))
    gguf_error(path, where + " has unknown value type " + std::to_string(raw));
  return static_cast<GgufValueType>(raw);
}

// Reads one scalar into `value` (integer, number or string); numbers only
// into `number`/`integer`.
void scalar_read(Cursor& in, GgufValueType type, GgufValue& value, const std::string& path,
                 const std::string& where) {
  switch (type) {
    case GgufValueType::uint8: value.integer = in.read<uint8_t>(where); break;
    case GgufValueType::int8: value.integer = in.read<int8_t>(where); break;
    case GgufValueType::uint16: value.integer = in.read<uint16_t>(where); break;
    case GgufValueType::int16: value.integer = in.read<int16_t>(where); break;
    case GgufValueType::uint32: value.integer = in.read<uint32_t>(where); break;
    case GgufValueType::int32: value.integer = in.read<int32_t>(where); break;
    case GgufValueType::uint64: {
      const uint64_t raw = in.read<uint64_t>(where);
      if (raw > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        gguf_error(path, where + " is a uint64 above 2^63-1 (" + std::to_string(raw) + ")");
      value.integer = static_cast<int64_t>(raw);
      break;
    }
    case GgufValueType::int64: value.integer = in.read<int64_t>(where); break;
    case GgufValueType::boolean: {
      const uint8_t raw = in.read<uint8_t>(where);
      if (raw > 1) gguf_error(path, where + " is a bool stored as " + std::to_string(raw));
      value.integer = raw;
      break;
    }
    case GgufValueType::float32: value.number = in.read<float>(where); return;
    case GgufValueType::float64: value.number = in.read<double>(where); return;
    case GgufValueType::string: value.string = in.string(where); return;
    case GgufValueType::array: gguf_error(path, where + ": internal error, array read as a scalar");
  }
  value.number = static_cast<double>(value.integer);
}

GgufValue value_read(Cursor& in, GgufValueType type, const std::string& path, const std::string& where,
                     int depth = 0) {
  GgufValue value;
  value.type = type;
  if (type != GgufValueType::array) {
    scalar_read(in, type, value, path, where);
    return value;
  }
  if (depth > 8) gguf_error(path, where + " nests arrays more than 8 deep");
  value.element_type = value_type_check(in.read<uint32_t>(where + " (array type)"), path, where);
  value.count = in.read<uint64_t>(where + " (array length)");
  // Every element takes at least scalar_size bytes: an absurd count fails here, before allocating.
  const uint64_t least = scalar_size(value.element_type);
  if (value.count > in.left() / least)
    gguf_error(path, where + " claims " + std::to_string(value.count) + " elements of type " +
                         gguf_value_type_name(value.element_type) + ", more than the " +
                         std::to_string(in.left()) + " bytes left can hold");
  for (uint64_t i = 0; i < value.count; ++i) {
    const std::string item = where + "[" + std::to_string(i) + "]";
    if (value.element_type == GgufValueType::array) {
      value_read(in, GgufValueType::array, path, item, depth + 1);  // kept out: skipped
      continue;
    }
    GgufValue element;
    scalar_read(in, value.element_type, element, path, item);
    if (value.element_type == GgufValueType::string) {
      value.strings.push_back(std::move(element.string));
    } else {
      if (element.type != GgufValueType::float32 && value.element_type != GgufValueType::float32 &&
          value.element_type != GgufValueType::float64)
        value.integers.push_back(element.integer);
      value.numbers.push_back(element.number);
    }
  }
  return value;
}

}  // namespace

std::string gguf_value_type_name(GgufValueType type) {
  static const char* names[] = {"uint8", "int8",  "uint16", "int16", "uint32", "int32",  "float32",
                                "bool",  "string", "array", "uint64", "int64", "float64"};
  const auto index = static_cast<uint32_t>(type);
  return index < sizeof(names) / sizeof(names[0]) ? names[index] : "type " + std::to_string(index);
}

bool GgufValue::is_integer() const {
  return type != GgufValueType::float32 && type != GgufValueType::float64 && type != GgufValueType::string &&
         type != GgufValueType::array;
}
bool GgufValue::is_number() const { return type != GgufValueType::string && type != GgufValueType::array; }

std::string ggml_type_name(GgmlType type) {
  const TypeTraits* traits = type_find(static_cast<uint32_t>(type));
  return traits ? traits->name : "type " + std::to_string(static_cast<uint32_t>(type));
}

uint64_t ggml_block_elements(GgmlType type) {
  const TypeTraits* traits = type_find(static_cast<uint32_t>(type));
  return traits ? traits->block_size : 0;
}

uint64_t ggml_block_bytes(GgmlType type) {
  const TypeTraits* traits = type_find(static_cast<uint32_t>(type));
  return traits ? traits->type_size : 0;
}

bool gguf_is_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

// ---------------------------------------------------------------------------

struct CULTURESPA_HIDDEN GgufFile::Mapping : MappedFile {};

GgufFile::GgufFile(const std::string& path, bool map) : path_(path) {
  mapping_ = std::make_shared<Mapping>();
  mapping_->map(path, "GGUF file", map);

  Cursor in(static_cast<const unsigned char*>(mapping_->data), mapping_->size, path);
  if (mapping_->size < 4 || std::memcmp(mapping_->data, "GGUF", 4) != 0)
    gguf_error(path, "does not start with the magic 'GGUF' (not a GGUF file)");
  in.skip(4, "magic");
  version_ = in.read<uint32_t>("version");
  if (version_ != 2 && version_ != 3) {
    if (version_ == 1) gguf_error(path, "GGUF version 1 is not supported (only 2 and 3)");
    if ((version_ & 0xFFFF) == 0) gguf_error(path, "is big-endian (version bytes " + std::to_string(version_) +
                                                       "); only little-endian GGUF is supported");
    gguf_error(path, "unsupported GGUF version " + std::to_string(version_) + " (only 2 and 3)");
  }
  const uint64_t tensor_count = in.read<uint64_t>("tensor count");
  const uint64_t kv_count = in.read<uint64_t>("metadata count");
  // A key/value pair takes at least 8 + 1 + 4 bytes, a tensor info 8 + 1 + 4 + 4 + 8 + 8.
  if (kv_count > in.left() / 13)
    gguf_error(path, "metadata count " + std::to_string(kv_count) + " is more than the file's " +
                         std::to_string(in.left()) + " remaining bytes can hold (truncated or corrupt file)");
  if (tensor_count > gguf_max_tensors || tensor_count > in.left() / 33)
    gguf_error(path, "tensor count " + std::to_string(tensor_count) + " is more than the file's " +
                         std::to_string(in.left()) + " remaining bytes can hold (truncated or corrupt file)");

  for (uint64_t i = 0; i < kv_count; ++i) {
    const std::string where = "metadata entry " + std::to_string(i);
    std::string key = in.string(where + " key");
    if (key.empty()) gguf_error(path, where + " has an empty key");
    const std::string named = "metadata key '" + key + "'";
    const GgufValueType type = value_type_check(in.read<uint32_t>(named + " (type)"), path, named);
    GgufValue value = value_read(in, type, path, named);
    if (!metadata_.emplace(key, std::move(value)).second) gguf_error(path, named + " appears twice");
  }

  if (const GgufValue* alignment = find("general.alignment")) {
    if (alignment->type != GgufValueType::uint32 || alignment->integer <= 0 ||
        (alignment->integer & (alignment->integer - 1)) != 0)
      gguf_error(path, "metadata key 'general.alignment' must be a uint32 power of two");
    alignment_ = static_cast<uint64_t>(alignment->integer);
  }

  for (uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensorInfo info;
    info.name = in.string("tensor info " + std::to_string(i) + " name");
    const std::string where = "tensor '" + info.name + "'";
    if (index_.count(info.name)) gguf_error(path, where + " appears twice");
    const uint32_t n_dims = in.read<uint32_t>(where + " (dimension count)");
    if (n_dims == 0 || n_dims > gguf_max_dims)
      gguf_error(path, where + " has " + std::to_string(n_dims) + " dimensions (1 to " +
                           std::to_string(gguf_max_dims) + " allowed)");
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim = in.read<uint64_t>(where + " (dimension " + std::to_string(d) + ")");
      if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          elements > std::numeric_limits<uint64_t>::max() / dim || elements * dim > (uint64_t{1} << 50))
        gguf_error(path, where + " has an invalid or absurd dimension " + std::to_string(dim));
      elements *= dim;
      info.dims.push_back(static_cast<int64_t>(dim));
    }
    info.shape.assign(info.dims.rbegin(), info.dims.rend());
    const uint32_t raw_type = in.read<uint32_t>(where + " (type)");
    const TypeTraits* traits = type_find(raw_type);
    if (!traits) gguf_error(path, where + " has unknown ggml type " + std::to_string(raw_type));
    info.type = traits->type;
    if (info.dims[0] % static_cast<int64_t>(traits->block_size) != 0)
      gguf_error(path, where + " of type " + traits->name + " has rows of " + std::to_string(info.dims[0]) +
                           " elements, not a multiple of its block size " + std::to_string(traits->block_size));
    info.bytes = elements / traits->block_size * traits->type_size;
    info.offset = in.read<uint64_t>(where + " (offset)");
    if (info.offset % alignment_ != 0)
      gguf_error(path, where + " data offset " + std::to_string(info.offset) + " is not a multiple of the alignment " +
                           std::to_string(alignment_));
    index_[info.name] = tensors_.size();
    tensors_.push_back(std::move(info));
  }

  data_offset_ = (in.position() + alignment_ - 1) / alignment_ * alignment_;
  const uint64_t file_size = mapping_->size;
  if (!tensors_.empty() && data_offset_ > file_size)
    gguf_error(path, "truncated: the tensor data would start at byte " + std::to_string(data_offset_) +
                         " of a " + std::to_string(file_size) + "-byte file");
  const uint64_t data_size = tensors_.empty() ? 0 : file_size - data_offset_;
  std::vector<const GgufTensorInfo*> by_offset;
  for (const auto& info : tensors_) {
    if (info.offset > data_size || info.bytes > data_size - info.offset)
      gguf_error(path, "tensor '" + info.name + "' data [" + std::to_string(info.offset) + ", " +
                           std::to_string(info.offset + info.bytes) + ") lies outside the " +
                           std::to_string(data_size) + "-byte data section (truncated file?)");
    by_offset.push_back(&info);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i - 1]->offset + by_offset[i - 1]->bytes > by_offset[i]->offset)
      gguf_error(path, "tensor '" + by_offset[i]->name + "' data overlaps tensor '" + by_offset[i - 1]->name + "'");
  }
}

const GgufValue* GgufFile::find(const std::string& key) const {
  const auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

namespace {

// The value of `key` when `fits` it; ConfigError naming the file, the key and
// what it holds instead (`expected`: "a string", ...).
template <class Fits>
const GgufValue& value_checked(const GgufFile& file, const std::string& key, Fits fits, const std::string& expected) {
  const GgufValue* value = file.find(key);
  if (!value) throw ConfigError("GGUF file " + file.path() + " has no metadata key '" + key + "'");
  if (!fits(*value)) {
    std::string held = gguf_value_type_name(value->type);
    if (value->type == GgufValueType::array) held += " of " + gguf_value_type_name(value->element_type);
    throw ConfigError("GGUF file " + file.path() + ": metadata key '" + key + "' is a " + held + ", expected " +
                      expected);
  }
  return *value;
}

}  // namespace

std::string GgufFile::get_string(const std::string& key) const {
  return value_checked(*this, key, [](const GgufValue& v) { return v.type == GgufValueType::string; }, "a string")
      .string;
}

int64_t GgufFile::get_integer(const std::string& key) const {
  return value_checked(*this, key, [](const GgufValue& v) { return v.is_integer(); }, "an integer").integer;
}

int64_t GgufFile::get_integer(const std::string& key, int64_t fallback) const {
  return find(key) ? get_integer(key) : fallback;
}

double GgufFile::get_number(const std::string& key) const {
  return value_checked(*this, key, [](const GgufValue& v) { return v.is_number(); }, "a number").number;
}

double GgufFile::get_number(const std::string& key, double fallback) const {
  return find(key) ? get_number(key) : fallback;
}

const GgufValue& GgufFile::get_array(const std::string& key, GgufValueType element) const {
  const auto fits = [element](const GgufValue& v) {
    return v.type == GgufValueType::array && v.element_type == element;
  };
  return value_checked(*this, key, fits, "an array of " + gguf_value_type_name(element));
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::string_view GgufFile::tensor_bytes(const std::string& name) const {
  const GgufTensorInfo* info = find_tensor(name);
  if (!info) gguf_error(path_, "has no tensor '" + name + "'");
  return {mapping_->bytes() + data_offset_ + info->offset, static_cast<std::size_t>(info->bytes)};
}

void GgufFile::release(const std::string& name) const {
  const GgufTensorInfo* info = find_tensor(name);
  if (info) mapping_->release(data_offset_ + info->offset, info->bytes);
}

}  // namespace culturespa

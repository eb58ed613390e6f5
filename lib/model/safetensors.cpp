#include "culturespa/model/safetensors.h"

#include <ATen/Functions.h>
#include <ATen/ops/from_blob.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

#include "culturespa/core/error.h"
#include "culturespa/core/mapped_file.h"

namespace culturespa {
namespace {

using json = nlohmann::json;

struct DtypeInfo {
  const char* name;
  at::ScalarType type;
  std::size_t size;
};

constexpr DtypeInfo dtype_table[] = {
    {"F64", at::kDouble, 8}, {"F32", at::kFloat, 4},   {"F16", at::kHalf, 2},
    {"BF16", at::kBFloat16, 2}, {"I64", at::kLong, 8}, {"I32", at::kInt, 4},
    {"I16", at::kShort, 2},  {"I8", at::kChar, 1},     {"U8", at::kByte, 1},
    {"BOOL", at::kBool, 1},
};

const DtypeInfo* dtype_find(const std::string& name) {
  for (const auto& info : dtype_table)
    if (name == info.name) return &info;
  return nullptr;
}

[[noreturn]] void header_error(const std::string& path, const std::string& what) {
  throw FormatError("safetensors file " + path + ": " + what);
}

uint64_t read_u64_le(const char* p) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(p[i]);
  return value;
}

uint64_t json_to_u64(const json& value, const std::string& path, const std::string& where) {
  if (!value.is_number_unsigned() && !(value.is_number_integer() && value.get<int64_t>() >= 0)) {
    header_error(path, where + " must be a non-negative integer, got " + value.dump());
  }
  return value.get<uint64_t>();
}

SafetensorsEntry entry_parse(const std::string& name, const json& spec, const std::string& path) {
  const std::string where = "tensor '" + name + "'";
  if (!spec.is_object()) header_error(path, where + " is not a JSON object");
  SafetensorsEntry entry;
  entry.name = name;
  const auto dtype = spec.find("dtype");
  if (dtype == spec.end() || !dtype->is_string()) header_error(path, where + " has no string 'dtype'");
  entry.dtype = dtype->get<std::string>();
  const DtypeInfo* info = dtype_find(entry.dtype);
  if (!info) header_error(path, where + " has unknown dtype '" + entry.dtype + "'");
  entry.scalar_type = info->type;

  const auto shape = spec.find("shape");
  if (shape == spec.end() || !shape->is_array()) header_error(path, where + " has no 'shape' array");
  // numel * element size is checked for overflow: a hostile header must not
  // make a small byte range look like a valid huge tensor.
  uint64_t bytes = info->size;
  for (const auto& dim : *shape) {
    const uint64_t d = json_to_u64(dim, path, where + " shape entry");
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      header_error(path, where + " has a dimension too large: " + dim.dump());
    if (d != 0 && bytes > std::numeric_limits<uint64_t>::max() / d)
      header_error(path, where + " shape " + shape->dump() + " overflows");
    bytes *= d;
    entry.shape.push_back(static_cast<int64_t>(d));
  }

  const auto offsets = spec.find("data_offsets");
  if (offsets == spec.end() || !offsets->is_array() || offsets->size() != 2)
    header_error(path, where + " has no 'data_offsets' pair");
  entry.begin = json_to_u64((*offsets)[0], path, where + " data_offsets");
  entry.end = json_to_u64((*offsets)[1], path, where + " data_offsets");
  if (entry.end < entry.begin)
    header_error(path, where + " data_offsets end before begin: " + offsets->dump());
  if (entry.end - entry.begin != bytes) {
    header_error(path, where + " holds " + std::to_string(entry.end - entry.begin) +
                           " bytes but dtype " + entry.dtype + " and shape " + shape->dump() +
                           " need " + std::to_string(bytes));
  }
  return entry;
}

}  // namespace

std::size_t safetensors_dtype_size(const std::string& dtype) {
  const DtypeInfo* info = dtype_find(dtype);
  if (!info) throw ConfigError("unknown safetensors dtype '" + dtype + "'");
  return info->size;
}

std::string safetensors_dtype_name(at::ScalarType type) {
  for (const auto& info : dtype_table)
    if (info.type == type) return info.name;
  throw ValueError(std::string("no safetensors dtype for tensor type ") + c10::toString(type));
}

SafetensorsHeader safetensors_header_parse(const char* bytes, std::size_t size,
                                           const std::string& path) {
  if (size < 8) header_error(path, "truncated: " + std::to_string(size) + " bytes, no header length");
  const uint64_t header_size = read_u64_le(bytes);
  if (header_size > safetensors_max_header_bytes)
    header_error(path, "absurd header length " + std::to_string(header_size) + " bytes");
  if (header_size > size - 8) {
    header_error(path, "truncated: header length " + std::to_string(header_size) +
                           " exceeds the " + std::to_string(size - 8) + " bytes after it");
  }
  SafetensorsHeader header;
  header.data_offset = 8 + header_size;
  const uint64_t data_size = size - header.data_offset;

  json root;
  try {
    root = json::parse(bytes + 8, bytes + 8 + header_size);
  } catch (const json::exception& e) {
    header_error(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!root.is_object()) header_error(path, "header is not a JSON object");
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) header_error(path, "'__metadata__' is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) header_error(path, "'__metadata__' value '" + m.key() + "' is not a string");
        header.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    header.tensors.push_back(entry_parse(it.key(), *it, path));
  }

  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
              return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
            });
  const SafetensorsEntry* previous = nullptr;
  for (const auto& entry : header.tensors) {
    if (entry.end > data_size) {
      header_error(path, "tensor '" + entry.name + "' data [" + std::to_string(entry.begin) + ", " +
                             std::to_string(entry.end) + ") lies beyond the " +
                             std::to_string(data_size) + "-byte data area (file truncated?)");
    }
    // Empty tensors occupy no bytes and cannot overlap anything.
    if (entry.begin == entry.end) continue;
    if (previous && entry.begin < previous->end) {
      header_error(path, "tensors '" + previous->name + "' and '" + entry.name +
                             "' have overlapping data ranges");
    }
    previous = &entry;
  }
  return header;
}

// ---------------------------------------------------------------------------

struct CULTURESPA_HIDDEN SafetensorsFile::Mapping : MappedFile {};

SafetensorsFile::SafetensorsFile(const std::string& path, bool map) : path_(path) {
  mapping_ = std::make_shared<Mapping>();
  mapping_->map(path, "safetensors file", map);
  header_ = safetensors_header_parse(static_cast<const char*>(mapping_->data), mapping_->size, path);
  for (std::size_t i = 0; i < header_.tensors.size(); ++i) index_[header_.tensors[i].name] = i;
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry* entry = find(name);
  if (!entry) throw FormatError("safetensors file " + path_ + " has no tensor '" + name + "'");
  char* data = static_cast<char*>(mapping_->data) + header_.data_offset + entry->begin;
  const auto options = at::TensorOptions().dtype(entry->scalar_type).device(at::kCPU);
  const std::size_t element_size = safetensors_dtype_size(entry->dtype);
  if (entry->begin == entry->end) return at::empty(entry->shape, options);
  if (reinterpret_cast<std::uintptr_t>(data) % element_size != 0) {
    // Misaligned data (legal in the format): copy into an aligned tensor.
    at::Tensor copy = at::empty(entry->shape, options);
    std::memcpy(copy.data_ptr(), data, entry->end - entry->begin);
    return copy;
  }
  // The mapping is read-only; the tensor must not be written to (callers
  // copy before modifying). Its deleter keeps the mapping alive.
  auto keep_alive = mapping_;
  return at::from_blob(data, entry->shape, [keep_alive](void*) {}, options);
}

void SafetensorsFile::release(const std::string& name) const {
  const SafetensorsEntry* entry = find(name);
  if (entry) mapping_->release(header_.data_offset + entry->begin, entry->end - entry->begin);
}

// ---------------------------------------------------------------------------

void safetensors_write(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  c10::InferenceMode guard;
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> contiguous;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == "__metadata__") throw ValueError("safetensors tensor name '__metadata__' is reserved");
    if (header.contains(name)) throw ValueError("safetensors tensor '" + name + "' given twice");
    at::Tensor cpu = tensor.to(at::kCPU).contiguous();
    const uint64_t bytes = cpu.numel() * cpu.element_size();
    header[name] = {{"dtype", safetensors_dtype_name(cpu.scalar_type())},
                    {"shape", cpu.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    contiguous.push_back(cpu);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);

  // Streamed rather than assembled in memory: a checkpoint may be large.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw FileError(FileError::Kind::io, path, "cannot write " + path + ": " + std::strerror(errno));
  bool ok = std::fwrite(length, 1, 8, f) == 8 && std::fwrite(text.data(), 1, text.size(), f) == text.size();
  for (const auto& t : contiguous) {
    const std::size_t bytes = t.numel() * t.element_size();
    if (!ok) break;
    ok = std::fwrite(t.data_ptr(), 1, bytes, f) == bytes;
  }
  ok = ok && std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    throw FileError(FileError::Kind::io, path, "cannot write " + path + ": " + std::strerror(err));
  }
}

// ---------------------------------------------------------------------------

SafetensorsCheckpoint::SafetensorsCheckpoint(const std::string& dir, bool map) : dir_(dir) {
  namespace fs = std::filesystem;
  const std::string single = (fs::path(dir) / "model.safetensors").string();
  const std::string index_path = (fs::path(dir) / "model.safetensors.index.json").string();
  if (fs::exists(single)) {
    source_ = single;
    files_.emplace_back(single, map);
    for (const auto& entry : files_[0].tensors()) file_index_[entry.name] = 0;
    return;
  }
  if (!fs::exists(index_path)) {
    throw FileError(FileError::Kind::not_found, single,
                    "no weights in " + dir + ": neither model.safetensors nor "
                    "model.safetensors.index.json exists");
  }
  source_ = index_path;
  json index;
  try {
    index = json::parse(file_read_text(index_path));
  } catch (const json::exception& e) {
    throw FormatError("checkpoint index " + index_path + " is not valid JSON: " + e.what());
  }
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    throw FormatError("checkpoint index " + index_path + " has no 'weight_map' object");
  std::map<std::string, std::size_t> opened;
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    if (!it->is_string())
      throw FormatError("checkpoint index " + index_path + ": weight_map entry '" + it.key() +
                        "' is not a file name");
    const std::string file = it->get<std::string>();
    if (file.find('/') != std::string::npos || file == "..")
      throw FormatError("checkpoint index " + index_path + ": weight_map entry '" + it.key() +
                        "' names a file outside the folder: " + file);
    auto found = opened.find(file);
    if (found == opened.end()) {
      files_.emplace_back((fs::path(dir) / file).string(), map);
      found = opened.emplace(file, files_.size() - 1).first;
    }
    if (!files_[found->second].find(it.key()))
      throw FormatError("checkpoint index " + index_path + " maps tensor '" + it.key() + "' to " +
                        files_[found->second].path() + ", which does not contain it");
    file_index_[it.key()] = found->second;
  }
}

bool SafetensorsCheckpoint::contains(const std::string& name) const {
  return file_index_.count(name) != 0;
}

const SafetensorsFile& SafetensorsCheckpoint::file_for(const std::string& name) const {
  const auto it = file_index_.find(name);
  if (it == file_index_.end())
    throw FormatError("checkpoint " + source_ + " has no tensor '" + name + "'");
  return files_[it->second];
}

const SafetensorsEntry& SafetensorsCheckpoint::entry(const std::string& name) const {
  return *file_for(name).find(name);
}

at::Tensor SafetensorsCheckpoint::tensor(const std::string& name) const {
  return file_for(name).tensor(name);
}

void SafetensorsCheckpoint::release(const std::string& name) const { file_for(name).release(name); }

const std::string& SafetensorsCheckpoint::file_of(const std::string& name) const {
  return file_for(name).path();
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> names;
  for (const auto& [name, _] : file_index_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

uint64_t SafetensorsCheckpoint::total_bytes() const {
  uint64_t total = 0;
  for (const auto& [name, file] : file_index_) {
    const SafetensorsEntry* e = files_[file].find(name);
    total += e->end - e->begin;
  }
  return total;
}

}  // namespace culturespa

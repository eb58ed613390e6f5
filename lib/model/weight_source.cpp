#include "weight_source.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <map>

#include "culturespa/core/error.h"
#include "culturespa/model/gguf.h"
#include "culturespa/model/safetensors.h"

namespace culturespa {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

class SafetensorsSource : public WeightSource {
 public:
  SafetensorsSource(const std::string& dir, bool map) : config_(model_config_load(dir)), ckpt_(dir, map) {}
  const ModelConfig& config() const override { return config_; }
  bool contains(const std::string& name) const override { return ckpt_.contains(name); }
  at::Tensor read(const std::string& name, const std::vector<int64_t>& shape) const override {
    const SafetensorsEntry& entry = ckpt_.entry(name);
    if (entry.shape != shape)
      throw FormatError(ckpt_.file_of(name) + ": tensor '" + name + "' has shape " + shape_text(entry.shape) +
                        ", config.json implies " + shape_text(shape));
    if (entry.dtype != "F32" && entry.dtype != "F16" && entry.dtype != "BF16")
      throw FormatError(ckpt_.file_of(name) + ": tensor '" + name + "' has dtype " + entry.dtype +
                        " (weights must be F32, F16 or BF16)");
    return ckpt_.tensor(name);
  }
  std::string file_type(const std::string& name) const override { return ckpt_.entry(name).dtype; }
  void release(const std::string& name) const override { ckpt_.release(name); }
  std::vector<std::string> names() const override { return ckpt_.names(); }
  std::string where() const override { return ckpt_.dir(); }
  std::string config_source() const override { return "config.json"; }

 private:
  ModelConfig config_;
  SafetensorsCheckpoint ckpt_;
};

// Tensors dequantised to float32 on load, renamed to Hugging Face names, and
// q/k rows put back in Hugging Face order (gguf_hf_tensor).
class GgufSource : public WeightSource {
 public:
  GgufSource(const std::string& path, bool map) : file_(path, map), config_(gguf_model_config(file_)) {
    for (const auto& info : file_.tensors()) {
      const std::string hf = gguf_hf_tensor_name(info.name);
      if (hf.empty())
        throw FormatError("GGUF file " + path + ": tensor '" + info.name + "' has no Hugging Face LLaMA counterpart");
      names_[hf] = info.name;
    }
  }
  const ModelConfig& config() const override { return config_; }
  bool contains(const std::string& name) const override { return names_.count(name) > 0; }
  at::Tensor read(const std::string& name, const std::vector<int64_t>& shape) const override {
    const auto it = names_.find(name);
    if (it == names_.end())
      throw FormatError("GGUF file " + file_.path() + " has no tensor for '" + name + "'");
    const GgufTensorInfo& info = *file_.find_tensor(it->second);
    if (info.shape != shape)
      throw FormatError("GGUF file " + file_.path() + ": tensor '" + info.name + "' has shape " +
                        shape_text(info.shape) + ", the metadata implies " + shape_text(shape));
    return gguf_hf_tensor(file_, info.name, config_);
  }
  std::string file_type(const std::string& name) const override {
    const auto it = names_.find(name);
    return it == names_.end() ? "" : ggml_type_name(file_.find_tensor(it->second)->type);
  }
  void release(const std::string& name) const override {
    const auto it = names_.find(name);
    if (it != names_.end()) file_.release(it->second);
  }
  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const auto& [hf, gguf] : names_) out.push_back(hf);
    return out;
  }
  std::string where() const override { return file_.path(); }
  std::string config_source() const override { return "the GGUF metadata (llama.block_count, ...)"; }

 private:
  GgufFile file_;
  ModelConfig config_;
  std::map<std::string, std::string> names_;  // Hugging Face name -> GGUF name
};

}  // namespace

std::unique_ptr<WeightSource> weight_source_open(const std::string& path, bool map) {
  // Any regular file is taken for a GGUF file, so that a bad magic or an
  // empty file is reported as such, not as a missing checkpoint folder.
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec)) {
    const std::string name = std::filesystem::path(path).filename().string();
    if (name.size() > 12 && name.compare(name.size() - 12, 12, ".safetensors") == 0)
      throw FileError(FileError::Kind::io, path,
                      path + " is a safetensors file: give the checkpoint folder that holds it and config.json");
    return std::make_unique<GgufSource>(path, map);
  }
  return std::make_unique<SafetensorsSource>(path, map);
}

}  // namespace culturespa

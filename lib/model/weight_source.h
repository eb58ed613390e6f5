// lib/model/weight_source.h (private to the model layer): where Model's
// weights come from, a Hugging Face safetensors folder or a GGUF file, behind
// one small interface, so the loading code does not care which.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "culturespa/model/config.h"

namespace culturespa {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // The model configuration (config.json and generation_config.json, or the GGUF metadata).
  virtual const ModelConfig& config() const = 0;
  // Whether the checkpoint holds a tensor of this Hugging Face name.
  virtual bool contains(const std::string& name) const = 0;
  // The tensor on the CPU (F32, F16 or BF16), in Hugging Face layout,
  // checked against `shape`; FormatError naming the file and the tensor.
  virtual at::Tensor read(const std::string& name, const std::vector<int64_t>& shape) const = 0;
  // How the file stores the tensor: a safetensors dtype ("F32", "BF16", ...)
  // or a ggml type ("Q8_0", "Q4_1", ...).
  virtual std::string file_type(const std::string& name) const = 0;
  // The tensor's file pages are not needed again.
  virtual void release(const std::string& name) const = 0;
  // Every tensor of the checkpoint, by Hugging Face name (the loader checks
  // it used them all: a config that drops layers must not load silently).
  virtual std::vector<std::string> names() const = 0;
  // The file or folder named in errors, and what holds the configuration
  // ("config.json", "the GGUF metadata").
  virtual std::string where() const = 0;
  virtual std::string config_source() const = 0;
};

// `path` is a checkpoint folder, or a model file: a regular file is read as
// GGUF (FormatError when its magic is not "GGUF"). `map`: ModelOptions::mmap.
std::unique_ptr<WeightSource> weight_source_open(const std::string& path, bool map = true);

}  // namespace culturespa

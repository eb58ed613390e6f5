#include "culturespa/core/error.h"
#include "culturespa/model/gguf.h"

#include <ATen/ATen.h>

#include "gguf_writer.h"
#include "support.h"

#include <cstring>
#include <fstream>
#include <vector>

using namespace culturespa;

namespace {

using testing::GgufBytes;

struct TensorSpec {
  std::string name;
  uint32_t type;
  std::vector<uint64_t> dims;  // innermost first
  std::string data;
};

// A file with one string key (general.architecture) and the given tensors.
std::string gguf_file(const std::vector<TensorSpec>& tensors, uint64_t alignment = 32) {
  GgufBytes out;
  out.put<uint64_t>(tensors.size());
  out.put<uint64_t>(2);
  out.str("general.architecture");
  out.put<uint32_t>(8);
  out.str("llama");
  out.str("general.alignment");
  out.put<uint32_t>(4);
  out.put<uint32_t>(static_cast<uint32_t>(alignment));
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    out.str(t.name);
    out.put<uint32_t>(static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims) out.put<uint64_t>(d);
    out.put<uint32_t>(t.type);
    out.put<uint64_t>(offset);
    offset += (t.data.size() + alignment - 1) / alignment * alignment;
  }
  out.pad(alignment);
  for (const auto& t : tensors) {
    out.raw(t.data);
    out.pad(alignment);
  }
  return out.bytes();
}

// A file without metadata holding one 4-element F32 tensor whose data
// offset is `offset` (followed by 64 bytes of data).
std::string one_f32_tensor(const std::string& name, uint64_t offset) {
  GgufBytes out;
  out.put<uint64_t>(1);
  out.put<uint64_t>(0);
  out.str(name);
  out.put<uint32_t>(1);
  out.put<uint64_t>(4);
  out.put<uint32_t>(0);
  out.put<uint64_t>(offset);
  out.pad();
  out.raw(std::string(64, '\0'));
  return out.bytes();
}

std::string write(const std::string& name, const std::string& bytes) {
  const auto path = (testing::scratch_dir("gguf-" + name) / (name + ".gguf")).string();
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

template <typename T>
std::string bytes_of(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

uint16_t half_bits(float value) {
  const at::Tensor h = at::tensor({value}).to(at::kHalf);
  uint16_t bits;
  std::memcpy(&bits, h.data_ptr(), 2);
  return bits;
}

}  // namespace

TEST_CASE("gguf: metadata and tensor directory are read") {
  const std::vector<float> values = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -0.5f};
  const auto path = write("meta", gguf_file({{"a", 0, {3, 2}, bytes_of(values)}}));
  const GgufFile file(path);
  CHECK(file.version() == 3);
  CHECK(file.get_string("general.architecture") == "llama");
  CHECK(file.get_integer("general.alignment") == 32);
  CHECK(file.get_integer("missing.key", 7) == 7);
  testing::require_throws_naming<ConfigError>([&] { file.get_integer("general.architecture"); },
                                              {path, "general.architecture"});
  REQUIRE(file.tensors().size() == 1);
  CHECK(file.tensors()[0].shape == std::vector<int64_t>{2, 3});
  const at::Tensor a = gguf_tensor(file, "a");
  CHECK(a.sizes() == at::IntArrayRef({2, 3}));
  CHECK(at::equal(a, at::tensor(values).view({2, 3})));
}

TEST_CASE("gguf: F16, BF16, Q8_0, Q4_0 and Q4_1 blocks dequantise as ggml defines them") {
  // F16 and BF16: exact conversions.
  std::vector<uint16_t> f16 = {half_bits(0.5f), half_bits(-3.0f)};
  std::vector<uint16_t> bf16 = {0x3F80, 0xC040};  // 1.0, -3.0
  // Q8_0: one block, d = 0.5, q = -16..15.
  std::string q8(34, '\0');
  const uint16_t half = half_bits(0.5f);
  std::memcpy(&q8[0], &half, 2);
  for (int j = 0; j < 32; ++j) q8[2 + j] = static_cast<char>(j - 16);
  // Q4_0: d = 2, byte j holds element j (low nibble) and j + 16 (high nibble).
  std::string q40(18, '\0');
  const uint16_t two = half_bits(2.0f);
  std::memcpy(&q40[0], &two, 2);
  for (int j = 0; j < 16; ++j) q40[2 + j] = static_cast<char>((j & 0xF) | ((15 - j) << 4));
  // Q4_1: d = 0.25, m = -1.
  std::string q41(20, '\0');
  const uint16_t quarter = half_bits(0.25f), minus_one = half_bits(-1.0f);
  std::memcpy(&q41[0], &quarter, 2);
  std::memcpy(&q41[2], &minus_one, 2);
  for (int j = 0; j < 16; ++j) q41[4 + j] = static_cast<char>(j | (j << 4));

  const auto path = write("blocks", gguf_file({{"f16", 1, {2}, bytes_of(f16)},
                                               {"bf16", 30, {2}, bytes_of(bf16)},
                                               {"q8", 8, {32}, q8},
                                               {"q40", 2, {32}, q40},
                                               {"q41", 3, {32}, q41}}));
  const GgufFile file(path);
  CHECK(at::equal(gguf_tensor(file, "f16"), at::tensor({0.5f, -3.0f})));
  CHECK(at::equal(gguf_tensor(file, "bf16"), at::tensor({1.0f, -3.0f})));
  std::vector<float> expect8, expect40, expect41;
  for (int j = 0; j < 32; ++j) expect8.push_back(0.5f * static_cast<float>(j - 16));
  for (int j = 0; j < 16; ++j) expect40.push_back(2.0f * static_cast<float>(j - 8));
  for (int j = 0; j < 16; ++j) expect40.push_back(2.0f * static_cast<float>(15 - j - 8));
  for (int k = 0; k < 2; ++k)
    for (int j = 0; j < 16; ++j) expect41.push_back(0.25f * static_cast<float>(j) - 1.0f);
  CHECK(at::equal(gguf_tensor(file, "q8"), at::tensor(expect8)));
  CHECK(at::equal(gguf_tensor(file, "q40"), at::tensor(expect40)));
  CHECK(at::equal(gguf_tensor(file, "q41"), at::tensor(expect41)));
}

TEST_CASE("gguf: malformed files are refused with errors naming the file") {
  const std::string good = gguf_file({{"weight", 0, {4}, std::string(16, '\0')}});
  SECTION("bad magic") {
    std::string bad = good;
    bad[0] = 'X';
    const auto path = write("magic", bad);
    testing::require_throws_naming<FormatError>([&] { GgufFile f(path); }, {path, "magic"});
  }
  SECTION("unsupported version") {
    std::string bad = good;
    bad[4] = 7;
    const auto path = write("version", bad);
    testing::require_throws_naming<FormatError>([&] { GgufFile f(path); }, {path, "version 7"});
  }
  SECTION("truncated header") {
    const auto path = write("truncated", good.substr(0, 40));
    testing::require_throws_naming<FormatError>([&] { GgufFile f(path); }, {path, "truncated"});
  }
  SECTION("truncated data") {
    const auto path = write("short-data", good.substr(0, good.size() - 24));
    testing::require_throws_naming<FormatError>([&] { GgufFile f(path); }, {path, "weight", "outside"});
  }
  SECTION("absurd tensor count") {
    std::string bad = good;
    const uint64_t huge = uint64_t{1} << 40;
    std::memcpy(&bad[8], &huge, 8);
    const auto path = write("count", bad);
    testing::require_throws_naming<FormatError>([&] { GgufFile f(path); }, {path, "tensor count"});
  }
  SECTION("absurd metadata count") {
    std::string bad = good;
    const uint64_t huge = uint64_t{1} << 60;
    std::memcpy(&bad[16], &huge, 8);
    const auto path = write("kv-count", bad);
    testing::require_throws_naming<FormatError>([&] { GgufFile f(path); }, {path, "metadata count"});
  }
  SECTION("unknown tensor type") {
    const auto path = write("type", gguf_file({{"weight", 99, {4}, std::string(16, '\0')}}));
    testing::require_throws_naming<FormatError>([&] { GgufFile f(path); }, {path, "weight", "99"});
  }
  SECTION("tensor data outside the file") {
    const auto path = write("outside", one_f32_tensor("far", uint64_t{1} << 20));  // aligned, far beyond the end
    testing::require_throws_naming<FormatError>([&] { GgufFile f(path); }, {path, "far", "outside"});
  }
  SECTION("misaligned tensor data") {
    const auto path = write("misaligned", one_f32_tensor("odd", 4));
    testing::require_throws_naming<FormatError>([&] { GgufFile f(path); }, {path, "odd", "alignment"});
  }
  SECTION("row length not a multiple of the block size") {
    const auto path = write("block", gguf_file({{"q", 8, {31}, std::string(34, '\0')}}));
    testing::require_throws_naming<FormatError>([&] { GgufFile f(path); }, {path, "'q'", "block size"});
  }
  SECTION("a type that is not dequantised") {
    const auto path = write("q6k", gguf_file({{"k", 14, {256}, std::string(210, '\0')}}));
    const GgufFile file(path);
    testing::require_throws_naming<FormatError>([&] { gguf_tensor(file, "k"); }, {path, "'k'", "Q6_K"});
  }
  SECTION("missing file") {
    CHECK_THROWS_AS(GgufFile("/nonexistent/model.gguf"), FileError);
  }
}

TEST_CASE("gguf: tensor names map to Hugging Face LLaMA names") {
  CHECK(gguf_hf_tensor_name("token_embd.weight") == "model.embed_tokens.weight");
  CHECK(gguf_hf_tensor_name("blk.12.attn_q.weight") == "model.layers.12.self_attn.q_proj.weight");
  CHECK(gguf_hf_tensor_name("blk.0.ffn_down.weight") == "model.layers.0.mlp.down_proj.weight");
  CHECK(gguf_hf_tensor_name("rope_freqs.weight").empty());
}

TEST_CASE("gguf: q/k rows go back to Hugging Face order") {
  // One head, Hugging Face rows r0..r3; llama.cpp stores the rotation pairs interleaved: r0, r2, r1, r3.
  const at::Tensor stored = at::tensor({0.0f, 2.0f, 1.0f, 3.0f}).view({4, 1});
  CHECK(at::equal(gguf_qk_unpermute(stored, 1), at::tensor({0.0f, 1.0f, 2.0f, 3.0f}).view({4, 1})));
  // llama.cpp's permute (w.reshape(heads, 2, rows / heads / 2, cols).swapaxes(1, 2)), then this: the identity.
  const at::Tensor hf = at::randn({3 * 8, 5});
  const at::Tensor permuted = hf.reshape({3, 2, 4, 5}).transpose(1, 2).reshape({24, 5});
  CHECK(at::equal(gguf_qk_unpermute(permuted, 3), hf));
  testing::require_throws_naming<ValueError>([&] { gguf_qk_unpermute(hf.narrow(0, 0, 22), 3); }, {"22", "3 heads"});
}

#include "culturespa/core/error.h"
#include "culturespa/model/safetensors.h"

#include <ATen/ATen.h>

#include "support.h"

#include <cstring>
#include <fstream>

using namespace culturespa;
using Catch::Matchers::Contains;

namespace {

std::string raw_file(const std::string& header, const std::string& data, uint64_t length = UINT64_MAX) {
  if (length == UINT64_MAX) length = header.size();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return out + header + data;
}

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace

TEST_CASE("safetensors round trip keeps names, dtypes, values and metadata") {
  const auto dir = testing::scratch_dir("safetensors-roundtrip");
  const auto path = (dir / "t.safetensors").string();
  const at::Tensor a = at::randn({3, 5});
  const at::Tensor b = at::arange(7, at::kLong);
  const at::Tensor c = at::randn({4}).to(at::kBFloat16);
  const at::Tensor d = at::randn({2, 2}).to(at::kHalf);
  safetensors_write(path, {{"a", a}, {"b", b}, {"c", c}, {"d", d}}, {{"format", "pt"}});
  const SafetensorsFile file(path);
  REQUIRE(file.tensors().size() == 4);
  CHECK(file.metadata().at("format") == "pt");
  CHECK(file.find("c")->dtype == "BF16");
  CHECK(file.tensor("a").equal(a));
  CHECK(file.tensor("b").equal(b));
  CHECK(file.tensor("c").equal(c));
  CHECK(file.tensor("d").equal(d));
  CHECK(file.find("missing") == nullptr);
  CHECK_THROWS_WITH(file.tensor("missing"), Contains("t.safetensors") && Contains("'missing'"));
}

TEST_CASE("safetensors header validation names the file and the tensor") {
  const std::string path = "x.safetensors";
  auto parse = [&](const std::string& bytes) { return safetensors_header_parse(bytes.data(), bytes.size(), path); };
  CHECK_THROWS_AS(parse("abc"), FormatError);
  CHECK_THROWS_WITH(parse(raw_file("{}", "", 1ull << 60)), Contains("x.safetensors") && Contains("absurd"));
  CHECK_THROWS_WITH(parse(raw_file("{}", "", 100)), Contains("truncated"));
  CHECK_THROWS_WITH(parse(raw_file("{oops", "")), Contains("not valid JSON"));
  CHECK_THROWS_WITH(parse(raw_file("[]", "")), Contains("not a JSON object"));
  CHECK_THROWS_WITH(parse(raw_file(R"({"w":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}})", std::string(4, 0))),
                    Contains("'w'") && Contains("F99"));
  CHECK_THROWS_WITH(parse(raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", std::string(4, 0))),
                    Contains("'w'") && Contains("need 8"));
  CHECK_THROWS_WITH(parse(raw_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", std::string(4, 0))),
                    Contains("'w'") && Contains("beyond"));
  CHECK_THROWS_WITH(
      parse(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                     R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, 0))),
      Contains("'a' and 'b'") && Contains("overlapping"));
  CHECK_THROWS_WITH(parse(raw_file(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
                                   std::string(8, 0))),
                    Contains("overflows"));
  CHECK_THROWS_WITH(parse(raw_file(R"({"__metadata__":{"k":1}})", "")), Contains("__metadata__"));
  const SafetensorsHeader ok = parse(raw_file(
      R"({"__metadata__":{"k":"v"},"b":{"dtype":"I64","shape":[1],"data_offsets":[4,12]},)"
      R"("a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})", std::string(12, 0)));
  REQUIRE(ok.tensors.size() == 2);
  CHECK(ok.tensors[0].name == "a");  // sorted by offset
  CHECK(ok.metadata.at("k") == "v");
}

TEST_CASE("safetensors files: missing, truncated, misaligned") {
  const auto dir = testing::scratch_dir("safetensors-files");
  CHECK_THROWS_AS(SafetensorsFile((dir / "none.safetensors").string()), FileError);
  const auto path = dir / "t.safetensors";
  safetensors_write(path.string(), {{"w", at::arange(16, at::kFloat)}});
  const std::string bytes = [&] {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  write_bytes(path, bytes.substr(0, bytes.size() - 4));
  CHECK_THROWS_WITH(SafetensorsFile(path.string()), Contains("t.safetensors") && Contains("'w'"));
  // A header whose length is not a multiple of 4 leaves the data misaligned: still read correctly.
  std::string data(12, 0);
  const float values[3] = {1.5f, -2.0f, 3.25f};
  std::memcpy(data.data(), values, 12);
  write_bytes(path, raw_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}} )", data));
  const at::Tensor w = SafetensorsFile(path.string()).tensor("w");
  CHECK(w[2].item<float>() == 3.25f);
}

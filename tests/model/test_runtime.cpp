#include "culturespa/core/error.h"
#include "culturespa/model/runtime.h"

#include "support.h"

using namespace culturespa;

TEST_CASE("runtime reports BLAS, threads and devices") {
  runtime_init();
  const RuntimeInfo info = runtime_info();
  CHECK_FALSE(info.torch_version.empty());
  CHECK_FALSE(info.blas.empty());
  REQUIRE_FALSE(info.devices.empty());
  CHECK(info.devices.front() == "cpu");
  CHECK(info.num_threads >= 1);
}

TEST_CASE("thread count is settable and validated") {
  const int before = runtime_num_threads();
  runtime_set_num_threads(1);
  CHECK(runtime_num_threads() == 1);
  runtime_set_num_threads(before);
  CHECK(runtime_num_threads() == before);
  CHECK_THROWS_AS(runtime_set_num_threads(0), ValueError);
}

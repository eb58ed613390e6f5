// Process groups through c10d (culturespa/model/distributed.h): two ranks as
// two threads of this process on 127.0.0.1 with gloo. The stages' sharding
// runs under torchrun in tests/pipeline/test_distributed.py.
#include <ATen/ATen.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <thread>

#include "culturespa/core/error.h"
#include "culturespa/model/distributed.h"

#include "support.h"

using namespace culturespa;

namespace {

// A port that was free a moment ago (the kernel's pick for port 0).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

DistributedOptions two_ranks(int rank, int port, const std::string& config = "same") {
  DistributedOptions o;
  o.rank = rank;
  o.world_size = 2;
  o.master_addr = "127.0.0.1";
  o.master_port = port;
  o.join_timeout = 20;
  o.timeout = 60;
  o.config = config;
  return o;
}

struct Outcome {
  std::string error;  // what() of the exception, "" when none
  bool config_error = false;
};

// Runs body(rank) for ranks 0 and 1 on two threads; each outcome records its exception.
std::vector<Outcome> on_two_ranks(const std::function<void(int)>& body) {
  std::vector<Outcome> out(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] {
      try {
        body(r);
      } catch (const ConfigError& e) {
        out[static_cast<std::size_t>(r)] = {e.what(), true};
      } catch (const std::exception& e) {
        out[static_cast<std::size_t>(r)] = {e.what(), false};
      }
    });
  for (auto& t : threads) t.join();
  return out;
}

}  // namespace

TEST_CASE("distributed: one process makes no group") {
  ::unsetenv("WORLD_SIZE");
  CHECK_FALSE(distributed_requested());
  CHECK(distributed_init() == nullptr);
  CHECK(distributed_group() == nullptr);
  distributed_shutdown();  // nothing to leave
}

TEST_CASE("distributed: WORLD_SIZE without MASTER_ADDR is refused") {
  ::unsetenv("MASTER_ADDR");
  DistributedOptions o;
  o.rank = 0;
  o.world_size = 2;
  testing::require_throws_naming<ConfigError>([&] { Distributed d(o); }, {"WORLD_SIZE=2", "MASTER_ADDR"});
  o.master_addr = "127.0.0.1";
  o.rank = 2;
  testing::require_throws_naming<ConfigError>([&] { Distributed d(o); }, {"RANK=2", "0..1"});
  o.rank = 0;
  o.backend = "mpi";
  testing::require_throws_naming<ConfigError>([&] { Distributed d(o); }, {"mpi", "gloo"});
  if (!distributed_has_nccl()) {
    o.backend = "nccl";
    testing::require_throws_naming<ConfigError>([&] { Distributed d(o); }, {"nccl", "use backend gloo"});
  }
}

TEST_CASE("distributed: two ranks barrier, all-reduce and gather through gloo") {
  const int port = free_port();
  std::vector<std::vector<float>> reduced(2);
  std::vector<std::vector<std::string>> gathered(2);
  std::vector<int> seen_rank(2, -1);
  const auto outcomes = on_two_ranks([&](int r) {
    Distributed d(two_ranks(r, port));
    seen_rank[static_cast<std::size_t>(r)] = d.rank();
    d.barrier("test");
    std::vector<at::Tensor> t{at::full({2}, static_cast<float>(r + 1)), at::full({1, 1}, 10.0f * static_cast<float>(r + 1))};
    d.all_reduce_sum(t);
    reduced[static_cast<std::size_t>(r)] = {t[0][0].item<float>(), t[0][1].item<float>(), t[1][0][0].item<float>()};
    gathered[static_cast<std::size_t>(r)] = d.all_gather_text("names", "rank" + std::to_string(r));
    d.require_same("agreed text", "x");
    d.barrier("the end");
  });
  for (int r = 0; r < 2; ++r) {
    INFO("rank " << r << ": " << outcomes[static_cast<std::size_t>(r)].error);
    CHECK(outcomes[static_cast<std::size_t>(r)].error.empty());
    CHECK(seen_rank[static_cast<std::size_t>(r)] == r);
    CHECK(reduced[static_cast<std::size_t>(r)] == std::vector<float>{3.0f, 3.0f, 30.0f});
    CHECK(gathered[static_cast<std::size_t>(r)] == std::vector<std::string>{"rank0", "rank1"});
  }
}

TEST_CASE("distributed: ranks that disagree are refused on every rank") {
  SECTION("at start: different configs") {
    const int port = free_port();
    const auto outcomes = on_two_ranks([&](int r) { Distributed d(two_ranks(r, port, r == 0 ? "lr=1" : "lr=2")); });
    for (const auto& o : outcomes) {
      INFO(o.error);
      CHECK(o.config_error);
      CHECK(o.error.find("different configs") != std::string::npos);
    }
  }
  SECTION("later: require_same") {
    const int port = free_port();
    const auto outcomes = on_two_ranks([&](int r) {
      Distributed d(two_ranks(r, port));
      d.require_same("answer settings", r == 0 ? "seed=1" : "seed=2");
    });
    for (const auto& o : outcomes) {
      INFO(o.error);
      CHECK(o.config_error);
      CHECK(o.error.find("answer settings") != std::string::npos);
    }
  }
}

TEST_CASE("distributed: a rank that never joins times out with a message") {
  DistributedOptions o = two_ranks(0, free_port());
  o.join_timeout = 1;
  testing::require_throws_naming<Error>([&] { Distributed d(o); }, {"rank(s) 1", "did not join", "MASTER_PORT"});
}

TEST_CASE("distributed: a group of one needs no address") {
  DistributedOptions o;
  o.rank = 0;
  o.world_size = 1;
  Distributed d(o);
  CHECK(d.world_size() == 1);
  CHECK(d.owns(0));
  CHECK(d.owns(7));
  d.barrier("alone");
  std::vector<at::Tensor> t{at::ones({3})};
  d.all_reduce_sum(t);
  CHECK(t[0].sum().item<float>() == 3.0f);
}

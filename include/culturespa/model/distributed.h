// culturespa/model/distributed.h: several processes (ranks) working on one
// stage, through PyTorch's distributed runtime (c10d), as launched by
// `torchrun` or Slurm (docs/distributed.md).
//
// A Distributed is a process group made from the standard environment
// (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT): c10d's TCPStore
// at MASTER_ADDR:MASTER_PORT for the rendezvous and ProcessGroupGloo for the
// collectives (plus ProcessGroupNCCL for tensors when asked for and the
// LibTorch build has it). Nothing home-made: no own sockets, no own
// rendezvous.
//
// Like torch.distributed, the process has one default group
// (distributed_group()): distributed_init() makes it, and the sharded
// pipeline stages (QuestionAnswerer, SurveyEvaluator) split their work by
// it. No group (the default, WORLD_SIZE unset or 1) is one process: no store,
// no thread, no overhead.
//
// Errors (culturespa::ConfigError unless said otherwise), each naming the
// cause, and no rank waits forever:
// - WORLD_SIZE > 1 without MASTER_ADDR (or MASTER_PORT), RANK outside
//   0..WORLD_SIZE-1, or a backend this build lacks (nccl without NCCL);
// - ranks started with different configs: every rank's `config` hash is
//   compared at start, and every rank refuses the run naming both hashes;
// - a rank that never joins: culturespa::Error after join_timeout seconds,
//   naming the ranks that are missing;
// - a rank that dies while others wait for it (barrier): culturespa::Error
//   as soon as gloo sees its connection close, or after `timeout`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "culturespa/core/export.h"

namespace culturespa {

struct CULTURESPA_API DistributedOptions {
  // -1 / "" / 0: read from the environment (RANK, WORLD_SIZE, LOCAL_RANK,
  // MASTER_ADDR, MASTER_PORT), as torch.distributed's env:// does.
  int rank = -1;
  int world_size = -1;
  int local_rank = -1;
  std::string master_addr;
  int master_port = 0;
  // "gloo" (CPU and CUDA tensors), or "nccl" (CUDA tensors through NCCL;
  // only when LibTorch was built with it: ConfigError otherwise). Barriers
  // and the start-up checks always go through gloo.
  std::string backend = "gloo";
  double join_timeout = 120;  // seconds for every rank to join (store, config check, group)
  double timeout = 86400;     // seconds one collective may wait (a barrier waits for the slowest rank's share)
  // Text every rank must agree on (the command line, a config file's text):
  // its hash is compared across ranks at start.
  std::string config;
  // The store at MASTER_ADDR:MASTER_PORT is already served (by torchrun's
  // agent, or by torch.distributed's rank 0 in this job): every rank joins it
  // as a client under the key prefix "culturespa/". Under torchrun
  // (TORCHELASTIC_USE_AGENT_STORE=True) this is detected; otherwise rank 0
  // serves the store.
  bool store_hosted = false;
  // The group's keys in the store: every rank of one group gives the same
  // name, and two groups on one store need different names. "": "default<n>"
  // for the n-th group distributed_init() makes in this process, "group" for
  // a Distributed made directly.
  std::string name;
};

class CULTURESPA_API Distributed {
 public:
  // Joins the group of `options` (see the errors above). Blocks until every
  // rank has joined. A world size of 1 makes a valid group of one.
  explicit Distributed(const DistributedOptions& options);
  ~Distributed();
  Distributed(const Distributed&) = delete;
  Distributed& operator=(const Distributed&) = delete;

  int rank() const;
  int world_size() const;
  int local_rank() const;
  const std::string& backend() const;
  const std::string& config_hash() const;  // 16 hex digits of options.config

  // Whether work item `index` (of a list every rank builds alike) is this
  // rank's: index % world_size == rank.
  bool owns(std::size_t index) const { return static_cast<int>(index % static_cast<std::size_t>(world_size())) == rank(); }

  // Waits until every rank has reached the same barrier. `what` names it in
  // the error when a rank died or the wait timed out.
  void barrier(const std::string& what);

  // Sums `tensors` over the ranks, in place (each tensor on this rank's
  // device; the same shapes and order on every rank).
  void all_reduce_sum(std::vector<at::Tensor>& tensors);

  // Every rank's `text`, in rank order, through the store; every rank must
  // call it with the same `key` in the same order.
  std::vector<std::string> all_gather_text(const std::string& key, const std::string& text);

  // ConfigError naming `what` and the first rank whose `text` differs from
  // rank 0's (by hash), on every rank.
  void require_same(const std::string& what, const std::string& text);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Whether the environment asks for more than one process (WORLD_SIZE > 1).
CULTURESPA_API bool distributed_requested();

// Makes the process's default group from `options` (and the environment)
// and returns it; nullptr, and no group, when the world size is 1. A second
// call returns the existing group.
CULTURESPA_API std::shared_ptr<Distributed> distributed_init(const DistributedOptions& options = {});
// The default group, nullptr when there is none (one process).
CULTURESPA_API std::shared_ptr<Distributed> distributed_group();
// Leaves the default group (after a last barrier when `wait`), so that
// distributed_init() may make another one.
CULTURESPA_API void distributed_shutdown(bool wait = true);

// Whether this LibTorch build has NCCL (the "nccl" backend).
CULTURESPA_API bool distributed_has_nccl();

}  // namespace culturespa

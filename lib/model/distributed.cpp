#include "culturespa/model/distributed.h"

#include <chrono>
#include <cstdlib>
#include <mutex>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#if CULTURESPA_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "culturespa/core/error.h"
#include "culturespa/core/logging.h"


namespace culturespa {

namespace {

using Milliseconds = std::chrono::milliseconds;

Milliseconds to_milliseconds(double seconds, const char* name) {
  if (!(seconds > 0)) throw ValueError(std::string("distributed: ") + name + " must be > 0 seconds");
  return Milliseconds(static_cast<std::int64_t>(seconds * 1000));
}

std::string env_text(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// An integer environment variable; `fallback` when unset.
int env_int(const char* name, int fallback) {
  const std::string text = env_text(name);
  if (text.empty()) return fallback;
  std::size_t used = 0;
  int value = 0;
  try {
    value = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || value < 0)
    throw ConfigError(std::string("distributed: ") + name + "=" + text + " is not a non-negative integer");
  return value;
}

// The text of an exception from LibTorch, without its C++ backtrace.
std::string error_text(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return c10->what_without_backtrace();
  return e.what();
}

// FNV-1a 64, as 16 hex digits (the stage settings' hash).
std::string text_hash(const std::string& text) {
  std::uint64_t h = 1469598103934665603ull;
  for (const unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  static const char* digits = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<std::size_t>(i)] = digits[h & 15];
  return out;
}

std::string text_of(const std::vector<std::uint8_t>& bytes) { return std::string(bytes.begin(), bytes.end()); }
std::vector<std::uint8_t> bytes_of(const std::string& text) { return std::vector<std::uint8_t>(text.begin(), text.end()); }

struct Resolved {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr;
  int master_port = 0;
};

Resolved resolve(const DistributedOptions& o) {
  Resolved r;
  r.world_size = o.world_size >= 0 ? o.world_size : env_int("WORLD_SIZE", 1);
  if (r.world_size < 1) throw ConfigError("distributed: WORLD_SIZE must be >= 1, got " + std::to_string(r.world_size));
  r.rank = o.rank >= 0 ? o.rank : env_int("RANK", r.world_size == 1 ? 0 : -1);
  if (r.rank < 0)
    throw ConfigError("distributed: WORLD_SIZE=" + std::to_string(r.world_size) +
                      " is set but RANK is not: launch every rank with torchrun (or srun) or set RANK");
  if (r.rank >= r.world_size)
    throw ConfigError("distributed: RANK=" + std::to_string(r.rank) + " is outside 0.." +
                      std::to_string(r.world_size - 1) + " (WORLD_SIZE=" + std::to_string(r.world_size) + ")");
  r.local_rank = o.local_rank >= 0 ? o.local_rank : env_int("LOCAL_RANK", r.rank);
  r.master_addr = o.master_addr.empty() ? env_text("MASTER_ADDR") : o.master_addr;
  r.master_port = o.master_port > 0 ? o.master_port : env_int("MASTER_PORT", 0);
  if (r.world_size > 1 && r.master_addr.empty())
    throw ConfigError("distributed: WORLD_SIZE=" + std::to_string(r.world_size) +
                      " is set but MASTER_ADDR is not: set MASTER_ADDR and MASTER_PORT to rank 0's host and a free "
                      "port, or launch with torchrun");
  if (r.world_size > 1 && (r.master_port <= 0 || r.master_port > 65535))
    throw ConfigError("distributed: WORLD_SIZE=" + std::to_string(r.world_size) + " and MASTER_ADDR=" + r.master_addr +
                      " are set but MASTER_PORT is not a port (1..65535): set it to a free port on rank 0's host");
  return r;
}


}  // namespace

struct CULTURESPA_HIDDEN Distributed::Impl {
  Resolved where;
  std::string backend;
  std::string hash;
  Milliseconds join_timeout{0};
  Milliseconds timeout{0};
  c10::intrusive_ptr<c10d::Store> store;  // prefixed with this group's keys
#if CULTURESPA_WITH_GLOO
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#endif
#ifdef USE_C10D_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
  std::size_t gathers = 0;

  std::string who() const {
    return "rank " + std::to_string(where.rank) + " of " + std::to_string(where.world_size);
  }
  std::string rank_key(const std::string& name, int rank) const { return name + "/" + std::to_string(rank); }

  // Waits for `name/<r>` of every rank; Error naming the missing ranks after `limit`.
  void wait_all(const std::string& name, Milliseconds limit, const std::string& what) {
    std::vector<std::string> keys;
    for (int r = 0; r < where.world_size; ++r) keys.push_back(rank_key(name, r));
    try {
      store->wait(keys, limit);
    } catch (const std::exception& e) {
      std::string missing;
      try {
        for (int r = 0; r < where.world_size; ++r)
          if (!store->check({keys[static_cast<std::size_t>(r)]})) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
      } catch (const std::exception&) {
        missing = "(unknown: the store is gone)";
      }
      throw Error("distributed: " + who() + ": rank(s) " + missing + " did not " + what + " within " +
                  std::to_string(limit.count() / 1000) + " s: start every rank with the same MASTER_ADDR:MASTER_PORT (" +
                  where.master_addr + ":" + std::to_string(where.master_port) + ") and WORLD_SIZE (" +
                  error_text(e) + ")");
    }
  }
};

Distributed::Distributed(const DistributedOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& d = *impl_;
  // The settings first, then the environment: a wrong backend is named whatever the environment says.
  d.backend = options.backend;
  if (d.backend != "gloo" && d.backend != "nccl")
    throw ConfigError("distributed: backend '" + d.backend + "' is not one of gloo, nccl");
  if (d.backend == "nccl" && !distributed_has_nccl())
    throw ConfigError("distributed: backend nccl, but this build of culturespa has no NCCL (its LibTorch " +
                      std::string(CULTURESPA_TORCH_VERSION) +
                      " was built without it, or culturespa without USE_C10D_NCCL): use backend gloo");
  d.where = resolve(options);
  d.join_timeout = to_milliseconds(options.join_timeout, "join_timeout");
  d.timeout = to_milliseconds(options.timeout, "timeout");
  d.hash = text_hash(options.config);
  const int rank = d.where.rank;
  const int world = d.where.world_size;
#if !CULTURESPA_WITH_GLOO
  if (world > 1)
    throw ConfigError("distributed: this build of culturespa has no process groups (gloo's headers were not found "
                      "when it was built: install libgloo-dev, or use a LibTorch that ships them, and rebuild)");
#endif

  // The store: rank 0 serves it unless torchrun's agent (or torch.distributed) already does.
  const bool hosted = options.store_hosted || env_text("TORCHELASTIC_USE_AGENT_STORE") == "True";
  const std::string prefix = "culturespa/" + env_text("TORCHELASTIC_RESTART_COUNT") + "/" +
                             (options.name.empty() ? std::string("group") : options.name);
  c10::intrusive_ptr<c10d::Store> base;
  if (world == 1) {
    base = c10::make_intrusive<c10d::HashStore>();
  } else {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(d.where.master_port);
    so.isServer = !hosted && rank == 0;
    so.numWorkers = c10::nullopt;
    so.waitWorkers = false;  // the join check below names who is missing
    so.timeout = d.join_timeout;
    try {
      base = c10::make_intrusive<c10d::TCPStore>(d.where.master_addr, so);
    } catch (const std::exception& e) {
      if (so.isServer)
        throw Error("distributed: " + d.who() + " could not serve the store on port " +
                    std::to_string(d.where.master_port) + " (" + error_text(e) +
                    "): choose a free MASTER_PORT");
      throw Error("distributed: " + d.who() + " could not reach the store at " + d.where.master_addr + ":" +
                  std::to_string(d.where.master_port) + " within " + std::to_string(d.join_timeout.count() / 1000) +
                  " s (" + error_text(e) + "): is rank 0 running, and MASTER_ADDR:MASTER_PORT its address?");
    }
  }
  d.store = c10::make_intrusive<c10d::PrefixStore>(prefix, base);

  // Join and compare the configs: every rank reads every hash, and says so
  // before rank 0 (which may serve the store) can leave.
  d.store->set(d.rank_key("config", rank), bytes_of(d.hash));
  d.wait_all("config", d.join_timeout, "join");
  std::vector<std::string> hashes;
  for (int r = 0; r < world; ++r) hashes.push_back(text_of(d.store->get(d.rank_key("config", r))));
  d.store->set(d.rank_key("checked", rank), bytes_of("1"));
  for (int r = 1; r < world; ++r)
    if (hashes[static_cast<std::size_t>(r)] != hashes[0]) {
      if (rank == 0) d.wait_all("checked", d.join_timeout, "read the configs");
      throw ConfigError("distributed: ranks started with different configs: rank 0's config hash is " + hashes[0] +
                        ", rank " + std::to_string(r) + "'s is " + hashes[static_cast<std::size_t>(r)] +
                        ": start every rank with the same command and settings");
    }

#if CULTURESPA_WITH_GLOO
  try {
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(d.timeout);
    const std::string interface = env_text("GLOO_SOCKET_IFNAME");
    gloo_options->devices.push_back(interface.empty() ? c10d::ProcessGroupGloo::createDefaultDevice()
                                                      : c10d::ProcessGroupGloo::createDeviceForInterface(interface));
    d.gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("gloo", d.store), rank, world, gloo_options);
#ifdef USE_C10D_NCCL
    if (d.backend == "nccl")
      d.nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("nccl", d.store),
                                                           rank, world, c10d::ProcessGroupNCCL::Options::create());
#endif
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("distributed: " + d.who() + " could not make the " + d.backend + " process group: " + error_text(e));
  }
#endif
  log_info("distributed: ", d.who(), " joined (", d.backend, ", store ", d.where.master_addr, ":",
           d.where.master_port, ")");
}

Distributed::~Distributed() = default;

int Distributed::rank() const { return impl_->where.rank; }
int Distributed::world_size() const { return impl_->where.world_size; }
int Distributed::local_rank() const { return impl_->where.local_rank; }
const std::string& Distributed::backend() const { return impl_->backend; }
const std::string& Distributed::config_hash() const { return impl_->hash; }

void Distributed::barrier(const std::string& what) {
  if (world_size() == 1) return;
  try {
#if CULTURESPA_WITH_GLOO
    impl_->gloo->barrier()->wait();
#endif
  } catch (const std::exception& e) {
    throw Error("distributed: " + impl_->who() + ": waiting for every rank at " + what + " failed (" + error_text(e) +
                "): another rank stopped or took longer than the timeout; see its log, then rerun the same command "
                "(finished work is kept)");
  }
}

void Distributed::all_reduce_sum(std::vector<at::Tensor>& tensors) {
  if (tensors.empty() || world_size() == 1) return;
  // One flat buffer: one collective instead of one per tensor.
  std::vector<at::Tensor> flat;
  for (const auto& t : tensors) flat.push_back(t.detach().reshape({-1}));
  std::vector<at::Tensor> buffer{at::cat(flat)};
  try {
#ifdef USE_C10D_NCCL
    if (impl_->nccl && buffer[0].is_cuda()) {
      impl_->nccl->allreduce(buffer)->wait();
    } else
#endif
    {
#if CULTURESPA_WITH_GLOO
      impl_->gloo->allreduce(buffer)->wait();
#endif
    }
  } catch (const std::exception& e) {
    throw Error("distributed: " + impl_->who() + ": all_reduce failed (" + error_text(e) +
                "): another rank stopped or took longer than the timeout");
  }
  std::int64_t offset = 0;
  for (auto& t : tensors) {
    const std::int64_t n = t.numel();
    at::NoGradGuard no_grad;
    t.copy_(buffer[0].narrow(0, offset, n).view(t.sizes()));
    offset += n;
  }
}

std::vector<std::string> Distributed::all_gather_text(const std::string& key, const std::string& text) {
  Impl& d = *impl_;
  const std::string name = "gather/" + std::to_string(d.gathers++) + "/" + key;
  d.store->set(d.rank_key(name, d.where.rank), bytes_of(text));
  // The barrier, not a store wait, so that a dead rank is an error at once.
  barrier(key);
  std::vector<std::string> out;
  for (int r = 0; r < d.where.world_size; ++r) out.push_back(text_of(d.store->get(d.rank_key(name, r))));
  // No rank leaves (rank 0 may serve the store) before every rank has read.
  barrier(key);
  return out;
}

void Distributed::require_same(const std::string& what, const std::string& text) {
  const std::vector<std::string> hashes = all_gather_text(what, text_hash(text));
  for (std::size_t r = 1; r < hashes.size(); ++r)
    if (hashes[r] != hashes[0])
      throw ConfigError("distributed: the ranks disagree on the " + what + ": rank 0's hash is " + hashes[0] +
                        ", rank " + std::to_string(r) + "'s is " + hashes[r] +
                        ": start every rank with the same command, inputs and settings");
}

// --- the default group --------------------------------------------------------------------

namespace {

std::mutex& group_mutex() {
  static std::mutex mutex;
  return mutex;
}
std::shared_ptr<Distributed>& group_slot() {
  static std::shared_ptr<Distributed> group;
  return group;
}

}  // namespace

bool distributed_requested() { return env_int("WORLD_SIZE", 1) > 1; }

std::shared_ptr<Distributed> distributed_init(const DistributedOptions& options) {
  std::lock_guard<std::mutex> lock(group_mutex());
  if (group_slot()) return group_slot();
  if (resolve(options).world_size == 1) return nullptr;
  // A second default group (after distributed_shutdown) must not meet the
  // first one's keys in a store that outlives it (torchrun's).
  static int made = 0;
  DistributedOptions named = options;
  if (named.name.empty()) named.name = "default" + std::to_string(made++);
  group_slot() = std::make_shared<Distributed>(named);
  return group_slot();
}

std::shared_ptr<Distributed> distributed_group() {
  std::lock_guard<std::mutex> lock(group_mutex());
  return group_slot();
}

void distributed_shutdown(bool wait) {
  std::shared_ptr<Distributed> group;
  {
    std::lock_guard<std::mutex> lock(group_mutex());
    group.swap(group_slot());
  }
  if (group && wait) group->barrier("shutdown");
}

bool distributed_has_nccl() {
#ifdef USE_C10D_NCCL
  return true;
#else
  return false;
#endif
}

}  // namespace culturespa

#include "thread_pool.h"

#include <ATen/Parallel.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CULTURESPA_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CULTURESPA_CPU_RELAX() asm volatile("yield" ::: "memory")
#else
#define CULTURESPA_CPU_RELAX() ((void)0)
#endif

namespace culturespa::thread_pool {
namespace {

using Clock = std::chrono::steady_clock;

// Busy-waits politely: pause instructions first (microsecond hand-over on an
// idle machine), then yielding the core every round, so that on an
// oversubscribed machine a waiting thread does not hold a core that the
// thread it waits for needs.
class Backoff {
 public:
  void pause() {
    if (++rounds_ < 1024) {
      CULTURESPA_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }

 private:
  uint32_t rounds_ = 0;
};

// Set on the pool's workers, and on a caller while it runs a job: a nested
// parallel_for from there runs serially.
thread_local bool in_job = false;

struct Job {
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  int64_t n = 0, chunk = 1, chunks = 0;
  std::atomic<int64_t> next{0}, done{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;  // written once, by whoever sets `failed`
};

void job_work(Job& job) {
  for (;;) {
    const int64_t c = job.next.fetch_add(1, std::memory_order_relaxed);
    if (c >= job.chunks) return;
    const int64_t begin = c * job.chunk;
    try {
      (*job.fn)(begin, std::min(job.n, begin + job.chunk));
    } catch (...) {
      bool expected = false;
      if (job.failed.compare_exchange_strong(expected, true)) job.error = std::current_exception();
    }
    job.done.fetch_add(1, std::memory_order_acq_rel);
  }
}

int64_t spin_from_environment() {
  if (const char* value = std::getenv("CULTURESPA_SPIN_US")) {
    char* end = nullptr;
    const long us = std::strtol(value, &end, 10);
    if (end != value && *end == '\0' && us >= 0 && us <= 1'000'000) return us * 1000;
  }
  return 200'000;  // ns: spans the gaps between a decode step's kernels, short next to a prefill GEMM
}

class Pool {
 public:
  ~Pool() = delete;  // leaked on purpose: workers may still run during static destruction

  void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    const int threads = std::max(1, at::get_num_threads());
    grain = std::max<int64_t>(1, grain);
    if (threads == 1 || in_job || n <= grain) return fn(0, n);
    std::unique_lock<std::mutex> lock(run_mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return fn(0, n);  // another thread's job is running
    resize(threads - 1);

    Job job;
    job.fn = &fn;
    job.n = n;
    // About 4 chunks per thread: even shares, and slack for a preempted thread.
    job.chunk = std::max(grain, (n + 4 * threads - 1) / (4 * threads));
    job.chunks = (n + job.chunk - 1) / job.chunk;
    current_.store(&job, std::memory_order_seq_cst);
    generation_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> guard(sleep_mutex_);
      wake_.notify_all();
    }
    in_job = true;
    job_work(job);
    in_job = false;
    Backoff backoff;
    while (job.done.load(std::memory_order_acquire) < job.chunks) backoff.pause();
    // A worker that read `current_` before this store is counted in `active_`
    // (it incremented first), so once active_ is 0 none holds `job` any more.
    current_.store(nullptr, std::memory_order_seq_cst);
    while (active_.load(std::memory_order_seq_cst) != 0) backoff.pause();
    if (job.failed.load()) std::rethrow_exception(job.error);
  }

  int size() const { return static_cast<int>(workers_.size()); }

 private:
  void resize(int workers) {
    if (static_cast<int>(workers_.size()) == workers) return;
    stop_workers();
    for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { worker_main(); });
  }

  void stop_workers() {
    if (workers_.empty()) return;
    {
      std::lock_guard<std::mutex> guard(sleep_mutex_);
      stop_.store(true);
      generation_.fetch_add(1, std::memory_order_seq_cst);
      wake_.notify_all();
    }
    for (auto& worker : workers_) worker.join();
    workers_.clear();
    stop_.store(false);
  }

  void worker_main() {
    in_job = true;
    uint64_t seen = generation_.load(std::memory_order_acquire);
    while (wait_for_job(seen)) {
      seen = generation_.load(std::memory_order_acquire);
      active_.fetch_add(1, std::memory_order_seq_cst);
      if (Job* job = current_.load(std::memory_order_seq_cst)) job_work(*job);
      active_.fetch_sub(1, std::memory_order_seq_cst);
    }
  }

  // Spins until the generation moves past `seen`, then sleeps; false on stop.
  bool wait_for_job(uint64_t seen) {
    const auto start = Clock::now();
    Backoff backoff;
    for (uint32_t i = 1;; ++i) {
      if (stop_.load(std::memory_order_relaxed)) return false;
      if (generation_.load(std::memory_order_acquire) != seen) return true;
      backoff.pause();
      if (i % 64 == 0 && Clock::now() - start > std::chrono::nanoseconds(spin_ns_)) break;
    }
    std::unique_lock<std::mutex> lock(sleep_mutex_);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    wake_.wait(lock, [&] { return stop_.load() || generation_.load(std::memory_order_seq_cst) != seen; });
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    return !stop_.load();
  }

  std::mutex run_mutex_;  // one job at a time
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<Job*> current_{nullptr};
  std::atomic<int> active_{0}, sleepers_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
  const int64_t spin_ns_ = spin_from_environment();
};

std::atomic<Pool*> instance{nullptr};
std::once_flag instance_once;

// A forked child has none of the parent's threads: it starts a fresh pool
// (the parent's is abandoned, never destroyed).
void after_fork_in_child() { instance.store(new Pool); }

Pool& pool() {
  std::call_once(instance_once, [] {
    instance.store(new Pool);
    pthread_atfork(nullptr, nullptr, after_fork_in_child);
  });
  return *instance.load();
}

}  // namespace

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  pool().run(n, grain, fn);
}

int threads() { return std::max(1, at::get_num_threads()); }

}  // namespace culturespa::thread_pool

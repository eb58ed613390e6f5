// A persistent worker pool for the batch-1 kernels (internal to lib/model).
//
// Decoding one token runs ~200 small kernels (the skinny matrix products
// that stream the weights, and the norms, RoPE and attention between them),
// each a few to a few hundred microseconds long. Handing such a kernel to
// OpenMP's threads costs tens of microseconds (far more on a loaded
// machine), so a second thread used to make decode no faster. This pool's
// workers stay alive between calls and spin on a generation counter for a
// short while after each job (`CULTURESPA_SPIN_US`, default 200 µs), so a
// job reaches them in well under a microsecond while the decode loop keeps
// them busy; past that they sleep on a condition variable and give the cores
// back to LibTorch's OpenMP pool (prefill's large matrix products run there).
//
// Size: at::get_num_threads() threads in all, the calling thread included
// (so the same thread setting governs both pools and they never run more
// threads than it says at once: a job runs only while OpenMP's threads idle).
// The pool follows changes of that setting at the next call.
//
// Work is split into chunks taken from an atomic counter, so a worker that
// the OS preempts leaves its share to the others. A call made while another
// thread is using the pool, or from inside a job, runs serially on the
// calling thread: never a deadlock, never a wrong result.
#pragma once

#include <cstdint>
#include <functional>

namespace culturespa::thread_pool {

// Runs fn(begin, end) over [0, n) in chunks of at least `grain` items, on the
// pool's threads and the caller's; returns when every chunk has run. The
// chunks are disjoint and cover [0, n) exactly once. An exception thrown by
// fn is rethrown here (the first one; the remaining chunks still run).
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Threads a parallel_for may use now (the caller included).
int threads();

}  // namespace culturespa::thread_pool

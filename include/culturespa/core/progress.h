// culturespa/core/progress.h: progress reporting and cancellation.
//
// Every long operation of the library (loading, generating, scoring a survey,
// running a pipeline stage) takes a ProgressCallback. It is called with the
// work done so far; returning false asks the operation to stop, which it does
// at the next safe point by throwing CancelledError, after any finished work
// has been saved. The Python bindings turn it into a tqdm bar and make Ctrl-C
// return false.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include "culturespa/core/export.h"

namespace culturespa {

struct CULTURESPA_API Progress {
  std::string stage;      // what is being done, e.g. "prefill", "contrast"
  std::size_t done = 0;   // units finished so far
  std::size_t total = 0;  // units in all (0 when unknown)
};

// Return true to continue, false to cancel.
using ProgressCallback = std::function<bool(const Progress& progress)>;

// Wraps an optional callback for a loop: reports at most every `every` units
// (and always at the start and end), and throws CancelledError when the
// callback returns false.
class CULTURESPA_API ProgressReporter {
 public:
  ProgressReporter(ProgressCallback callback, std::string stage, std::size_t total,
                   std::size_t every = 1);

  // Adds `units` to the count and reports when due.
  void advance(std::size_t units = 1);
  // Reports unconditionally (e.g. the final state).
  void report();
  // Re-reports without progress: a cancellation point inside a long unit.
  void check();

  std::size_t done() const noexcept { return progress_.done; }

 private:
  void call();

  ProgressCallback callback_;
  Progress progress_;
  std::size_t every_;
  std::size_t last_reported_ = 0;
};

}  // namespace culturespa

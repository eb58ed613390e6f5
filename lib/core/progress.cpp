#include "culturespa/core/progress.h"

#include "culturespa/core/error.h"

namespace culturespa {

ProgressReporter::ProgressReporter(ProgressCallback callback, std::string stage,
                                   std::size_t total, std::size_t every)
    : callback_(std::move(callback)), every_(every == 0 ? 1 : every) {
  progress_.stage = std::move(stage);
  progress_.total = total;
  call();
}

void ProgressReporter::advance(std::size_t units) {
  progress_.done += units;
  if (progress_.done - last_reported_ >= every_ ||
      (progress_.total != 0 && progress_.done >= progress_.total)) {
    call();
  }
}

void ProgressReporter::report() { call(); }

void ProgressReporter::check() { call(); }

void ProgressReporter::call() {
  last_reported_ = progress_.done;
  if (callback_ && !callback_(progress_)) {
    throw CancelledError("cancelled during " + progress_.stage + " after " +
                         std::to_string(progress_.done) + " of " +
                         std::to_string(progress_.total));
  }
}

}  // namespace culturespa

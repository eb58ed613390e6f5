// A ReplySource from Python arguments, shared by the question generator and
// answerer bindings: a culturespa Generator, or Python
// callables replies(prompts, seeds, sampling) -> [str] and optionally
// scores(prompts, labels) -> [[float]] (canned replies, another backend).
#pragma once

#include <memory>

#include "common.h"
#include "culturespa/pipeline/reply_source.h"

namespace culturespa::bindings {

// Keeps the Python objects it calls alive.
struct PyReplySource {
  py::object generator;  // the Generator, or None
  std::unique_ptr<ReplySource> source;
};

// ValueError when neither a generator nor `replies` is given, or both.
std::shared_ptr<PyReplySource> reply_source_from_py(py::object generator, py::object replies, py::object scores);

}  // namespace culturespa::bindings

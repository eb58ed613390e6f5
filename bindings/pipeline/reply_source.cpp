#include "reply_source.h"

#include "../text/conversation.h"
#include "culturespa/core/error.h"

namespace culturespa::bindings {
namespace {

// A Python callable held so that it is released with the GIL.
std::shared_ptr<py::object> held(py::object o) {
  return std::shared_ptr<py::object>(new py::object(std::move(o)), [](py::object* p) {
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    delete p;
  });
}

py::list conversations_to_py(const std::vector<Conversation>& prompts) {
  py::list out;
  for (const auto& c : prompts) out.append(conversation_to_python(c));
  return out;
}

}  // namespace

std::shared_ptr<PyReplySource> reply_source_from_py(py::object generator, py::object replies, py::object scores) {
  auto out = std::make_shared<PyReplySource>();
  if (!generator.is_none()) {
    if (!replies.is_none() || !scores.is_none())
      throw ValueError("give a generator or replies=/scores= callables, not both");
    if (!py::isinstance<Generator>(generator))
      throw py::type_error("generator must be a culturespa.Generator, not " +
                           py::str(py::type::of(generator).attr("__name__")).cast<std::string>());
    const Generator& g = generator.cast<const Generator&>();
    out->generator = generator;
    out->source = std::make_unique<GeneratorReplySource>(g);
    return out;
  }
  if (replies.is_none()) throw ValueError("no model: give a generator, or a replies=(prompts, seeds, sampling) callable");
  auto reply_fn = held(std::move(replies));
  FunctionReplySource::ReplyFunction reply = [reply_fn](const std::vector<Conversation>& prompts,
                                                        const GenerateOptions& o) {
    py::gil_scoped_acquire gil;
    py::dict sampling;
    sampling["temperature"] = o.temperature;
    sampling["top_p"] = o.top_p;
    sampling["max_new_tokens"] = o.max_new_tokens;
    py::object result = (*reply_fn)(conversations_to_py(prompts), py::cast(o.prompt_seeds), sampling);
    return result.cast<std::vector<std::string>>();
  };
  FunctionReplySource::ScoreFunction score;
  if (!scores.is_none()) {
    auto score_fn = held(std::move(scores));
    score = [score_fn](const std::vector<Conversation>& prompts, const std::vector<std::vector<std::string>>& labels) {
      py::gil_scoped_acquire gil;
      py::object result = (*score_fn)(conversations_to_py(prompts), py::cast(labels));
      std::vector<std::vector<double>> out;
      for (const auto& row : result) out.push_back(py::reinterpret_borrow<py::object>(row).cast<std::vector<double>>());
      return out;
    };
  }
  out->source = std::make_unique<FunctionReplySource>(std::move(reply), std::move(score));
  return out;
}

}  // namespace culturespa::bindings

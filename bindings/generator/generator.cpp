#include "common.h"

#include <pybind11/numpy.h>

#include <cmath>
#include <limits>
#include <variant>

#include "../text/conversation.h"
#include "culturespa/generator/generator.h"
#include "culturespa/generator/testing.h"

namespace culturespa::bindings {
namespace {

// A list of prompts: raw texts, conversations (lists of message dicts) or
// token id lists; one kind per call.
using Prompts = std::variant<std::vector<std::string>, std::vector<Conversation>, std::vector<std::vector<int>>>;

Prompts prompts_from_python(const py::handle& items) {
  if (py::isinstance<py::str>(items))
    throw ValueError("prompts must be a list of prompts, got one str (wrap it in a list)");
  std::vector<py::object> list;
  for (const auto& item : py::iter(items)) list.push_back(py::reinterpret_borrow<py::object>(item));
  if (list.empty()) return std::vector<std::string>{};
  if (py::isinstance<py::str>(list[0])) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (!py::isinstance<py::str>(list[i])) throw ValueError("prompt " + std::to_string(i) + " is not a str like prompt 0");
      out.push_back(list[i].cast<std::string>());
    }
    return out;
  }
  // A conversation is a list of dicts; token ids a list of ints.
  const py::object first = list[0];
  bool tokens = false;
  for (const auto& x : py::iter(first)) {
    tokens = !py::isinstance<py::dict>(x);
    break;
  }
  if (tokens) {
    std::vector<std::vector<int>> out;
    for (const auto& item : list) out.push_back(item.cast<std::vector<int>>());
    return out;
  }
  std::vector<Conversation> out;
  for (const auto& item : list) out.push_back(conversation_from_python(item));
  return out;
}

std::vector<std::vector<std::string>> labels_from_python(const py::handle& labels) {
  std::vector<py::object> list;
  for (const auto& item : py::iter(labels)) list.push_back(py::reinterpret_borrow<py::object>(item));
  if (!list.empty() && py::isinstance<py::str>(list[0])) return {labels.cast<std::vector<std::string>>()};
  return labels.cast<std::vector<std::vector<std::string>>>();
}

TokenCallback token_callback(py::object on_token) {
  if (on_token.is_none()) return {};
  auto held = std::shared_ptr<py::object>(new py::object(std::move(on_token)), [](py::object* o) {
    if (!Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    delete o;
  });
  return [held](std::size_t prompt, int token, const std::string& text) {
    py::gil_scoped_acquire gil;
    (*held)(prompt, token, py::bytes(text).attr("decode")("utf-8", "replace"));
  };
}

// Rows of a ragged table as a 2-D array, NaN where a row is shorter.
py::array_t<double> table_to_numpy(const std::vector<std::vector<double>>& rows) {
  std::size_t width = 0;
  for (const auto& r : rows) width = std::max(width, r.size());
  py::array_t<double> out({rows.size(), width});
  auto a = out.mutable_unchecked<2>();
  for (std::size_t i = 0; i < rows.size(); ++i)
    for (std::size_t j = 0; j < width; ++j)
      a(i, j) = j < rows[i].size() ? rows[i][j] : std::numeric_limits<double>::quiet_NaN();
  return out;
}

}  // namespace

void register_generator(py::module_& m) {
  m.def(
      "testing_tokenizer_write",
      [](const std::filesystem::path& dir) { testing_tokenizer_write(dir.string()); }, py::arg("dir"),
        "Writes a small byte-level BPE tokenizer (ChatML special tokens, ids < 272) into dir.");

  py::class_<GenerateResult>(m, "GenerateResult", "One prompt's generation.")
      .def_readonly("text", &GenerateResult::text)
      .def_readonly("tokens", &GenerateResult::tokens)
      .def_property_readonly("stop_reason", [](const GenerateResult& r) { return stop_reason_name(r.stop_reason); })
      .def_property_readonly("logprobs",
                             [](const GenerateResult& r) -> py::object {
                               if (r.logprobs.empty() && !r.tokens.empty()) return py::none();
                               return py::array_t<float>(r.logprobs.size(), r.logprobs.data());
                             })
      .def_readonly("prompt_tokens", &GenerateResult::prompt_tokens)
      .def("__repr__", [](const GenerateResult& r) {
        return "GenerateResult(text=" + py::repr(py::str(r.text)).cast<std::string>() +
               ", tokens=" + std::to_string(r.tokens.size()) + ", stop_reason='" + stop_reason_name(r.stop_reason) +
               "')";
      });

  py::class_<OptionScores>(m, "OptionScores", "Label probabilities of a batch of multiple-choice prompts.")
      .def_property_readonly("probs", [](const OptionScores& s) { return table_to_numpy(s.probs); })
      .def_property_readonly("logprobs", [](const OptionScores& s) { return table_to_numpy(s.logprobs); })
      .def_property_readonly("allowed_mass",
                             [](const OptionScores& s) {
                               return py::array_t<double>(s.allowed_mass.size(), s.allowed_mass.data());
                             })
      .def_property_readonly("argmax",
                             [](const OptionScores& s) { return py::array_t<int64_t>(s.argmax.size(), s.argmax.data()); })
      .def_readonly("label_tokens", &OptionScores::label_tokens)
      .def_property_readonly("reused_tokens",
                             [](const OptionScores& s) {
                               return py::array_t<int64_t>(s.reused_tokens.size(), s.reused_tokens.data());
                             })
      .def("__len__", [](const OptionScores& s) { return s.probs.size(); });

  py::class_<ContinuationScore>(m, "ContinuationScore")
      .def_readonly("logprob", &ContinuationScore::logprob)
      .def_readonly("tokens", &ContinuationScore::tokens)
      .def("__repr__", [](const ContinuationScore& s) {
        return "ContinuationScore(logprob=" + std::to_string(s.logprob) + ", tokens=" + std::to_string(s.tokens) + ")";
      });

  py::class_<Prefix>(m, "Prefix",
                    "A shared prompt start whose KV cache is kept for reuse; made by Generator.prefix().")
      .def_property_readonly("tokens", &Prefix::tokens)
      .def_property_readonly("capacity", &Prefix::capacity);

  const GeneratorOptions generator_defaults;
  const GenerateOptions generate_defaults;
  py::class_<Generator>(m, "Generator", R"pbdoc(
Batched generation, option scoring and continuation scoring over a Model and its Tokenizer.

Prompts are raw texts, conversations (lists of ``{"role", "content"}`` dicts,
rendered with the chat format) or token-id lists, one kind per call. Work
runs in C++ without the GIL, batched with the KV cache; a start shared by
several prompts is computed once (automatically, or through a kept
``Prefix``). Every long call takes ``progress=`` (None, True for a bar, or a
callable); Ctrl-C stops it with KeyboardInterrupt. See docs/generator.md.

Args:
    model: the Model (kept alive by the generator).
    tokenizer: its Tokenizer.
    chat_format: how conversations are rendered; "" or None = the
        tokenizer's own template.
    batch_size: sequences per forward pass.
    prefix_reuse: compute a start shared by several prompts once.
    min_prefix_tokens: the shortest shared start worth reusing.

Raises:
    ConfigError: the tokenizer's vocabulary does not fit the model's.

Example:
    >>> generator = culturespa.Generator(model, tokenizer)
    >>> generator.generate(["The capital of France is"], max_new_tokens=8)[0].text
)pbdoc")
      .def(py::init([](const Model& model, const Tokenizer& tokenizer, const std::optional<std::string>& chat_format,
                       int64_t batch_size, bool prefix_reuse, int64_t min_prefix_tokens) {
             GeneratorOptions options;
             if (chat_format) options.chat_format = *chat_format;
             options.batch_size = batch_size;
             options.prefix_reuse = prefix_reuse;
             options.min_prefix_tokens = min_prefix_tokens;
             return std::make_unique<Generator>(model, tokenizer, options);
           }),
           py::arg("model"), py::arg("tokenizer"), py::kw_only(),
           py::arg("chat_format") = generator_defaults.chat_format,
           py::arg("batch_size") = generator_defaults.batch_size,
           py::arg("prefix_reuse") = generator_defaults.prefix_reuse,
           py::arg("min_prefix_tokens") = generator_defaults.min_prefix_tokens, py::keep_alive<1, 2>(),
           py::keep_alive<1, 3>())
      .def_property_readonly("model", &Generator::model, py::return_value_policy::reference_internal,
                             "The Model it runs.")
      .def_property_readonly("tokenizer", &Generator::tokenizer, py::return_value_policy::reference_internal,
                             "The Tokenizer it encodes with.")
      .def_property_readonly("chat_format", &Generator::chat_format, R"pbdoc(
The chat format conversations are rendered with.

Raises:
    ConfigError: none was given and the tokenizer has no recognised template.
)pbdoc")
      .def(
          "encode",
          [](const Generator& g, const py::object& prompt) {
            if (py::isinstance<py::str>(prompt)) return g.encode(prompt.cast<std::string>());
            return g.encode(conversation_from_python(prompt));
          },
          py::arg("prompt"), "The token ids the model sees for a raw prompt (str) or a conversation.")
      .def(
          "generate",
          [](const Generator& g, const py::object& prompts, int64_t max_new_tokens, double temperature, double top_p,
             int64_t top_k, double min_p, double repetition_penalty, std::optional<std::vector<int>> stop_ids,
             std::vector<std::string> stop_strings, uint64_t seed, bool logprobs, py::object progress,
             py::object on_token, const Prefix* prefix, std::vector<std::string> adapters) {
            GenerateOptions o;
            o.adapters = std::move(adapters);
            o.max_new_tokens = max_new_tokens;
            o.temperature = temperature;
            o.top_p = top_p;
            o.top_k = top_k;
            o.min_p = min_p;
            o.repetition_penalty = repetition_penalty;
            o.stop_ids = std::move(stop_ids);
            o.stop_strings = std::move(stop_strings);
            o.seed = seed;
            o.logprobs = logprobs;
            const Prompts items = prompts_from_python(prompts);
            const auto callback = progress_callback(progress);
            const auto tokens = token_callback(on_token);
            py::gil_scoped_release release;
            return std::visit(
                [&](const auto& list) {
                  using T = std::decay_t<decltype(list)>;
                  if constexpr (std::is_same_v<T, std::vector<std::vector<int>>>)
                    return g.generate_tokens(list, o, callback, tokens, prefix);
                  else
                    return g.generate(list, o, callback, tokens, prefix);
                },
                items);
          },
          py::arg("prompts"), py::kw_only(), py::arg("max_new_tokens") = generate_defaults.max_new_tokens,
          py::arg("temperature") = generate_defaults.temperature, py::arg("top_p") = generate_defaults.top_p,
          py::arg("top_k") = generate_defaults.top_k, py::arg("min_p") = generate_defaults.min_p,
          py::arg("repetition_penalty") = generate_defaults.repetition_penalty,
          py::arg("stop_ids") = generate_defaults.stop_ids, py::arg("stop_strings") = generate_defaults.stop_strings,
          py::arg("seed") = generate_defaults.seed, py::arg("logprobs") = generate_defaults.logprobs,
          py::arg("progress") = py::none(), py::arg("on_token") = py::none(), py::arg("prefix") = nullptr,
          py::arg("adapters") = generate_defaults.adapters, R"pbdoc(
Generates for every prompt; results (``GenerateResult``) in the prompts' order.

Args:
    prompts: raw texts, conversations or token-id lists (one kind per call).
    max_new_tokens: new tokens at most per prompt.
    temperature: 0 is greedy.
    top_p, top_k, min_p: nucleus, top-k (0 = all) and min-p filtering.
    repetition_penalty: Hugging Face's rule over prompt and new tokens; 1 = off.
    stop_ids: None = the tokenizer's stop ids and the chat format's
        end-of-turn tokens.
    stop_strings: end when the text contains one (cut before it).
    seed: prompt i draws from a stream fixed by (seed, i).
    logprobs: also return each new token's log-probability.
    progress: None, True (a bar) or a callable returning False to cancel.
    on_token: ``on_token(prompt_index, token_id, text)`` streams every new token.
    prefix: a ``Prefix`` whose cache the prompts start from (not used when
        ``adapters`` names any).
    adapters: empty, or per prompt the model's LoRA adapter that generates it
        ("" = none); prompts of different adapters share batches.

Raises:
    ValueError: mixed prompt kinds or options out of range.
    KeyboardInterrupt: Ctrl-C.
)pbdoc")
      .def(
          "score_options",
          [](const Generator& g, const py::object& prompts, const py::object& labels, py::object progress,
             const Prefix* prefix, const std::vector<std::string>& adapters) {
            const Prompts items = prompts_from_python(prompts);
            const auto names = labels_from_python(labels);
            const auto callback = progress_callback(progress);
            py::gil_scoped_release release;
            if (const auto* raw = std::get_if<std::vector<std::string>>(&items))
              return g.score_options_raw(*raw, names, callback, prefix, adapters);
            if (const auto* conv = std::get_if<std::vector<Conversation>>(&items))
              return g.score_options(*conv, names, callback, prefix, adapters);
            throw ValueError("score_options: prompts must be raw texts or conversations, not token ids");
          },
          py::arg("prompts"), py::arg("labels"), py::kw_only(), py::arg("progress") = py::none(),
          py::arg("prefix") = nullptr, py::arg("adapters") = std::vector<std::string>{}, R"pbdoc(
Probability of each answer label at the first answer position (``OptionScores``).

Args:
    prompts: raw texts or conversations.
    labels: one list for all prompts (e.g. ``["1", "2", "3", "4"]``) or one
        list per prompt.
    adapters: empty, or per prompt the model's LoRA adapter that scores it
        ("" = none); prompts of different adapters share batches.

Returns:
    ``.probs`` (numpy [n, k], normalised; NaN-padded when prompts have
    different label counts), ``.logprobs``, ``.allowed_mass``, ``.argmax``
    and ``.reused_tokens`` (per prompt, the tokens read from a shared
    prefix's cache instead of computed).
)pbdoc")
      .def(
          "score_continuations",
          [](const Generator& g, const py::object& prompt, const std::vector<std::string>& continuations,
             py::object progress) {
            const auto callback = progress_callback(progress);
            std::vector<ContinuationScore> scores;
            if (py::isinstance<py::str>(prompt)) {
              const std::string raw = prompt.cast<std::string>();
              py::gil_scoped_release release;
              scores = g.score_continuations_raw(raw, continuations, callback);
            } else {
              const Conversation conversation = conversation_from_python(prompt);
              py::gil_scoped_release release;
              scores = g.score_continuations(conversation, continuations, callback);
            }
            return scores;
          },
          py::arg("prompt"), py::arg("continuations"), py::kw_only(), py::arg("progress") = py::none(),
          "log P(continuation | prompt) and the token count of each continuation (``ContinuationScore``).")
      .def(
          "prefix",
          [](const Generator& g, const py::object& start, int64_t capacity) {
            if (py::isinstance<py::str>(start)) {
              const std::string text = start.cast<std::string>();
              py::gil_scoped_release release;
              return g.prefix_create(text, capacity);
            }
            const auto tokens = start.cast<std::vector<int>>();
            py::gil_scoped_release release;
            return g.prefix_create(tokens, capacity);
          },
          py::arg("start"), py::kw_only(), py::arg("capacity") = 0, R"pbdoc(
Computes a prompt start's KV cache once, for ``prefix=`` of later calls.

Args:
    start: a str (encoded as the start of a raw prompt) or token ids.
    capacity: bounds the prompt plus new tokens of the calls that reuse it;
        0 = the prefix plus 512, at most the model's context.
)pbdoc")
      .def("__repr__", [](const py::object& self) {
        return "Generator(" + py::repr(self.attr("model")).cast<std::string>() + ", " +
               py::repr(self.attr("tokenizer")).cast<std::string>() + ")";
      });
}

}  // namespace culturespa::bindings

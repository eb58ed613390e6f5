#include "common.h"

#include <pybind11/numpy.h>

#include "culturespa/generator/json_constraint.h"

namespace culturespa::bindings {

void register_json_constraint(py::module_& m) {
  using State = JsonConstraint::State;
  py::class_<State>(m, "JsonConstraintState", R"pbdoc(
The automaton state of one constrained sequence (copy with copy.copy).)pbdoc")
      .def_property_readonly("complete", &State::complete, "Whether the document is complete.")
      .def("__copy__", [](const State& s) { return State(s); })
      .def("__eq__", [](const State& a, const State& b) { return a.stack == b.stack; })
      .def("__repr__", [](const State& s) {
        return "JsonConstraintState(depth=" + std::to_string(s.stack.size()) +
               (s.complete() ? ", complete)" : ")");
      });

  py::class_<JsonConstraint, std::shared_ptr<JsonConstraint>>(m, "JsonConstraint", R"pbdoc(
Constrained decoding to a JSON schema (a subset: objects with properties in
order, arrays with minItems/maxItems, strings with minLength/maxLength,
integers, booleans, string enums), over a tokenizer's vocabulary.

Pass it as ``Generator.generate(..., constraint=c)``: every new token then
keeps the text a prefix of a document of the schema, written in
``json.dumps`` layout, and a sequence ends when its document is complete
(``stop_reason == "complete"``). Token masks are computed per automaton
state from a trie of the vocabulary and cached.

Args:
    schema: JSON Schema text.
    tokenizer: the Tokenizer of the model that will generate.
    end_ids: tokens allowed once a document is complete (default: the
        tokenizer's stop ids).

Raises:
    ConfigError: a schema outside the subset, or one that no token sequence of
        this vocabulary can complete (the message says why).

Example:
    >>> c = JsonConstraint(JsonConstraint.question_schema(), tokenizer)
    >>> generator.generate(prompts, constraint=c, temperature=0.6)
)pbdoc")
      .def(py::init([](const std::string& schema, const Tokenizer& tokenizer, std::vector<int> end_ids) {
             py::gil_scoped_release release;
             return std::make_shared<JsonConstraint>(schema, tokenizer, std::move(end_ids));
           }),
           py::arg("schema"), py::arg("tokenizer"), py::kw_only(), py::arg("end_ids") = std::vector<int>{})
      .def_static("question_schema", &JsonConstraint::question_schema, py::kw_only(), py::arg("min_options") = 2,
                  py::arg("max_options") = 11,
                  "The schema of one generated survey question: {\"Question\": str, \"Options\": [str, ...]}.")
      .def("start", &JsonConstraint::start, "The state before any token.")
      .def(
          "allowed",
          [](const JsonConstraint& c, const State& state) {
            const std::vector<uint8_t>* mask = nullptr;
            {
              py::gil_scoped_release release;
              mask = &c.allowed(state);
            }
            py::array_t<bool> out(static_cast<py::ssize_t>(mask->size()));
            std::copy(mask->begin(), mask->end(), out.mutable_data());
            return out;
          },
          py::arg("state"), "A bool array over the vocabulary: the tokens that may come next.")
      .def("advance", &JsonConstraint::advance, py::arg("state"), py::arg("token"),
           "Advances `state` by one token; False (state unchanged) when the token is not allowed.")
      .def(
          "advance_bytes",
          [](const JsonConstraint& c, State& state, const py::bytes& data) {
            return c.advance_bytes(state, std::string(data));
          },
          py::arg("state"), py::arg("data"), "Advances `state` by raw bytes; False when they leave the schema.")
      .def_property_readonly("vocab_size", &JsonConstraint::vocab_size)
      .def_property_readonly("cached_states", &JsonConstraint::cached_states,
                             "Distinct states whose token mask has been computed.");
}

}  // namespace culturespa::bindings

// Answer files and answer records from Python.
#include "answers.h"

#include <optional>

#include "culturespa/core/error.h"

namespace culturespa::bindings {

namespace {

// The value of the first of `keys` that `d` holds, or nullopt (None counts
// as a value: callers decide what it means).
std::optional<py::object> lookup(const py::dict& d, std::initializer_list<const char*> keys, const char*& key) {
  for (const char* candidate : keys) {
    if (d.contains(candidate)) {
      key = candidate;
      return py::reinterpret_borrow<py::object>(d[candidate]);
    }
  }
  key = *keys.begin();
  return std::nullopt;
}

std::string type_name(const py::handle& value) { return py::str(py::type::of(value).attr("__name__")); }

std::string reply_from_py(const py::object& value, const std::string& where, const char* key) {
  if (value.is_none()) return {};
  if (py::isinstance<py::str>(value)) return value.cast<std::string>();
  if (py::isinstance<py::int_>(value) && !py::isinstance<py::bool_>(value)) return py::str(value);
  throw FormatError(where + ": \"" + key + "\" is " + type_name(value) + ", expected a str or an int");
}

ModelAnswer answer_from_dict(const py::dict& d, const std::string& where) {
  const char* key = nullptr;
  ModelAnswer a;
  const auto id = lookup(d, {"question_id", "Q_id"}, key);
  if (!id || !py::isinstance<py::str>(*id)) throw FormatError(where + ": needs a str \"question_id\" (or \"Q_id\")");
  a.question_id = id->cast<std::string>();
  const std::string at = where + " (" + a.question_id + ")";
  const auto reply = lookup(d, {"reply", "answer"}, key);
  if (reply) a.reply = reply_from_py(*reply, at, key);
  const auto distribution = lookup(d, {"distribution"}, key);
  if (distribution && !distribution->is_none()) {
    py::object values = *distribution;
    // numpy arrays and torch tensors come as sequences of floats.
    if (py::hasattr(values, "tolist")) values = values.attr("tolist")();
    try {
      a.distribution = values.cast<std::vector<double>>();
    } catch (const py::cast_error&) {
      throw FormatError(at + ": \"distribution\" is not a sequence of numbers");
    }
  }
  if (!reply && a.distribution.empty()) throw FormatError(at + ": needs \"reply\" (or \"answer\") or \"distribution\"");
  return a;
}

}  // namespace

std::vector<ModelAnswer> model_answers_from_py(const py::iterable& records, const std::string& source) {
  std::vector<ModelAnswer> answers;
  std::size_t index = 0;
  for (const py::handle record : records) {
    const std::string where = source + ": item " + std::to_string(index++);
    if (py::isinstance<py::dict>(record)) {
      answers.push_back(answer_from_dict(py::reinterpret_borrow<py::dict>(record), where));
      continue;
    }
    try {
      auto [id, reply] = record.cast<std::pair<std::string, std::string>>();
      answers.push_back({std::move(id), std::move(reply), {}});
    } catch (const py::cast_error&) {
      throw FormatError(where + ": expected a dict or a (question_id, reply) pair, got " + type_name(record));
    }
  }
  return answers;
}

py::list model_answers_to_py(const std::vector<ModelAnswer>& answers) {
  py::list out;
  for (const auto& a : answers) {
    py::dict d;
    d["question_id"] = a.question_id;
    d["reply"] = a.reply;
    if (!a.distribution.empty()) d["distribution"] = a.distribution;
    out.append(d);
  }
  return out;
}

void register_answers(py::module_& m) {
  m.def(
      "answer_file_load",
      [](const py::object& path) {
        const std::string file = py::str(py::module_::import("os").attr("fspath")(path));
        AnswerFile answers;
        {
          py::gil_scoped_release release;
          answers = answer_file_load(file);
        }
        py::list questions;
        for (const auto& q : answers.questions) questions.append(py::cast(q));
        return py::make_tuple(questions, model_answers_to_py(answers.answers));
      },
      py::arg("path"),
      "Reads an answer file (a JSON list such as the reference's wvs_result_*.json, or JSONL); "
      "returns (questions the items carry, answer dicts {'question_id', 'reply'[, 'distribution']}).");
  m.def(
      "culture_from_file_name",
      [](const py::object& path, const std::optional<std::vector<Culture>>& cultures) {
        return culture_from_file_name(py::str(py::module_::import("os").attr("fspath")(path)),
                                      cultures ? *cultures : cultures_builtin());
      },
      py::arg("path"), py::arg("cultures") = py::none(),
      "The culture code a file name names (a `_<CODE>_` or `_<Adjective>_` part), or None; "
      "among `cultures` (default: the 18 built-in ones). ValueError when it names two.");
}

}  // namespace culturespa::bindings

#include "records.h"

#include "survey/answers.h"

#include <cmath>

#include "culturespa/core/error.h"

namespace culturespa::bindings {

namespace {

py::object get(const py::dict& d, std::initializer_list<const char*> keys) {
  for (const char* key : keys)
    if (d.contains(key) && !d[key].is_none()) return d[key];
  return py::none();
}

py::dict as_dict(const py::handle& record, const char* what) {
  if (!py::isinstance<py::dict>(record))
    throw ValueError(std::string(what) + " records must be dicts (or Question objects), got " +
                     std::string(py::str(py::type::of(record).attr("__name__"))));
  return py::reinterpret_borrow<py::dict>(record);
}

std::string required_string(const py::dict& d, std::initializer_list<const char*> keys, const char* what) {
  py::object v = get(d, keys);
  if (v.is_none()) throw ValueError(std::string(what) + " record lacks \"" + *keys.begin() + "\"");
  return py::cast<std::string>(py::str(v));
}

}  // namespace

Question question_from_py(const py::handle& record) {
  if (py::isinstance<Question>(record)) return py::cast<Question>(record);
  const py::dict d = as_dict(record, "question");
  Question q;
  q.id = required_string(d, {"id", "Q_id", "question_id"}, "question");
  q.text = required_string(d, {"text", "question"}, ("question '" + q.id + "'").c_str());
  py::object options = get(d, {"options", "option_lst"});
  if (options.is_none()) throw ValueError("question '" + q.id + "' has no \"options\"");
  q.options = py::cast<std::vector<std::string>>(options);
  py::object topic = get(d, {"topic", "class"});
  if (!topic.is_none()) q.topic = py::cast<std::string>(topic);
  py::object zero = get(d, {"zero_based"});
  if (!zero.is_none()) q.zero_based = py::cast<bool>(zero);
  return q;
}

py::object question_to_py(const Question& q) { return py::cast(q); }

std::vector<Question> questions_from_py(const py::iterable& records) {
  std::vector<Question> out;
  for (const auto& r : records) out.push_back(question_from_py(r));
  return out;
}

py::list questions_to_py(const std::vector<Question>& questions) {
  py::list out;
  for (const auto& q : questions) out.append(question_to_py(q));
  return out;
}

AnswerSet answer_set_from_py(const py::iterable& records, const std::string& culture) {
  return AnswerSet{culture, model_answers_from_py(records, culture.empty() ? "culture-unaware answers"
                                                                         : "answers of " + culture)};
}

py::dict contrast_pair_to_py(const ContrastPair& p) {
  py::dict d;
  d["question_id"] = p.question.id;
  d["topic"] = p.question.topic;
  d["question"] = p.question.text;
  d["options"] = p.question.options;
  d["zero_based"] = p.question.zero_based;
  d["culture"] = p.culture;
  d["aware_answer"] = p.aware_answer;
  d["unaware_answer"] = p.unaware_answer;
  d["aware_reply"] = p.aware_reply;
  d["unaware_reply"] = p.unaware_reply;
  d["rule"] = contrast_rule_name(p.rule);
  d["score"] = p.score;
  d["probability"] = std::isnan(p.probability) ? py::object(py::none()) : py::object(py::float_(p.probability));
  return d;
}

ContrastPair contrast_pair_from_py(const py::handle& record) {
  if (py::isinstance<ContrastPair>(record)) return record.cast<ContrastPair>();
  const py::dict d = as_dict(record, "contrast pair");
  ContrastPair p;
  p.question.id = required_string(d, {"question_id"}, "contrast pair");
  const std::string what = "contrast pair '" + p.question.id + "'";
  p.question.text = required_string(d, {"question"}, what.c_str());
  p.question.options = py::cast<std::vector<std::string>>(get(d, {"options"}));
  py::object topic = get(d, {"topic"});
  if (!topic.is_none()) p.question.topic = py::cast<std::string>(topic);
  py::object zero = get(d, {"zero_based"});
  if (!zero.is_none()) p.question.zero_based = py::cast<bool>(zero);
  p.culture = required_string(d, {"culture"}, what.c_str());
  p.aware_answer = py::cast<int>(get(d, {"aware_answer"}));
  p.unaware_answer = py::cast<int>(get(d, {"unaware_answer"}));
  py::object v;
  if (!(v = get(d, {"aware_reply"})).is_none()) p.aware_reply = py::cast<std::string>(v);
  if (!(v = get(d, {"unaware_reply"})).is_none()) p.unaware_reply = py::cast<std::string>(v);
  if (!(v = get(d, {"rule"})).is_none()) p.rule = contrast_rule_from_name(py::cast<std::string>(v));
  if (!(v = get(d, {"score"})).is_none()) p.score = py::cast<double>(v);
  if (!(v = get(d, {"probability"})).is_none()) p.probability = py::cast<double>(v);
  return p;
}

std::vector<ContrastPair> contrast_pairs_from_py(const py::iterable& records) {
  std::vector<ContrastPair> out;
  for (const auto& r : records) out.push_back(contrast_pair_from_py(r));
  return out;
}

py::list contrast_pairs_to_py(const std::vector<ContrastPair>& pairs) {
  py::list out;
  for (const auto& p : pairs) out.append(contrast_pair_to_py(p));
  return out;
}

}  // namespace culturespa::bindings

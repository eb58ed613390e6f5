#include "common.h"

#include "culturespa/survey/survey.h"
#include "culturespa/survey/culture_lookup.h"

namespace culturespa::bindings {

namespace {

// HumanAnswers as an insertion-ordered dict {option_id: share}.
py::object shares_dict(const HumanAnswers& answers) {
  py::dict out;
  for (const auto& [option, share] : answers.shares) out[py::int_(option)] = share;
  return std::move(out);
}

HumanAnswers shares_from_dict(const py::dict& shares) {
  HumanAnswers answers;
  for (const auto& [key, value] : shares) {
    answers.shares.emplace_back(py::cast<int>(key), py::cast<double>(value));
  }
  return answers;
}

std::string question_repr(const Question& q) {
  return "Question(id='" + q.id + "', options=" + std::to_string(q.options.size()) +
         (q.zero_based ? ", zero_based=True" : "") + (q.topic.empty() ? "" : ", topic='" + q.topic + "'") + ")";
}

}  // namespace

void register_survey(py::module_& m) {
  py::class_<Culture>(m, "Culture", "A culture a model is asked to speak for: code, adjective, article.")
      .def(py::init([](std::string code, std::string adjective, std::string article) {
             return Culture{std::move(code), std::move(adjective), std::move(article)};
           }),
           py::kw_only(), py::arg("code"), py::arg("adjective"), py::arg("article") = "a")
      .def_readwrite("code", &Culture::code)
      .def_readwrite("adjective", &Culture::adjective)
      .def_readwrite("article", &Culture::article)
      .def("__eq__", [](const Culture& a, const Culture& b) {
        return a.code == b.code && a.adjective == b.adjective && a.article == b.article;
      })
      .def("__repr__", [](const Culture& c) {
        return "Culture(code='" + c.code + "', adjective='" + c.adjective + "', article='" + c.article + "')";
      });
  m.def("cultures_builtin", &cultures_builtin, "The 18 cultures of the paper, in its order.");
  m.def("culture_from_code", &culture_from_code, py::arg("code"));
  m.def("culture_country", &culture_country, py::arg("code"),
        R"pbdoc(The country of a culture code ("KEN" -> "Kenya") for the paper's 18
cultures and JPN; "" for any other code.)pbdoc");
  m.def("culture_resolve", &culture_resolve, py::arg("survey"), py::arg("name"),
        py::return_value_policy::copy,
        R"pbdoc(The culture of ``survey`` named by its code (KEN), adjective (Kenyan) or
country (Kenya), case-insensitive. ValueError listing the survey's cultures otherwise.

Example::

    culturespa.culture_resolve(survey, "kenya").code  # "KEN")pbdoc");

  py::class_<Question>(m, "Question", "A survey question: id, text, options, topic, zero_based.")
      .def(py::init([](std::string id, std::string text, std::vector<std::string> options,
                       std::string topic, bool zero_based) {
             return Question{std::move(id), std::move(text), std::move(options), std::move(topic), zero_based};
           }),
           py::kw_only(), py::arg("id"), py::arg("text"), py::arg("options"), py::arg("topic") = "",
           py::arg("zero_based") = false)
      .def_readwrite("id", &Question::id)
      .def_readwrite("text", &Question::text)
      .def_readwrite("options", &Question::options)
      .def_readwrite("topic", &Question::topic)
      .def_readwrite("zero_based", &Question::zero_based)
      .def_property_readonly("labels", &Question::labels, "Answer labels: '1'..'n' or '0'..'n-1'.")
      .def_property_readonly("first_option_id", &Question::first_option_id)
      .def_property_readonly("last_option_id", &Question::last_option_id)
      .def("is_option_id", &Question::is_option_id, py::arg("option_id"))
      .def("option_text", &Question::option_text, py::arg("option_id"))
      .def("__eq__", [](const Question& a, const Question& b) {
        return a.id == b.id && a.text == b.text && a.options == b.options && a.topic == b.topic &&
               a.zero_based == b.zero_based;
      })
      .def("__repr__", &question_repr);

  py::class_<SurveyTopic>(m, "SurveyTopic")
      .def(py::init([](std::string name, std::vector<std::string> ids) {
             return SurveyTopic{std::move(name), std::move(ids)};
           }),
           py::kw_only(), py::arg("name"), py::arg("question_ids"))
      .def_readwrite("name", &SurveyTopic::name)
      .def_readwrite("question_ids", &SurveyTopic::question_ids);

  py::class_<SurveyConventions>(m, "SurveyConventions",
                                "How a survey in the reference release's format is read.")
      .def(py::init([](std::string name, std::vector<std::string> zero_based,
                       std::vector<std::string> excluded, std::vector<SurveyTopic> topics,
                       std::optional<std::vector<Culture>> cultures,
                       std::vector<std::string> ignored_cultures) {
             return SurveyConventions{std::move(name), std::move(zero_based), std::move(excluded),
                                      std::move(topics), cultures ? *cultures : cultures_builtin(),
                                      std::move(ignored_cultures)};
           }),
           py::kw_only(), py::arg("name") = "", py::arg("zero_based") = std::vector<std::string>{},
           py::arg("excluded") = std::vector<std::string>{},
           py::arg("topics") = std::vector<SurveyTopic>{}, py::arg("cultures") = py::none(),
           py::arg("ignored_cultures") = std::vector<std::string>{})
      .def_static("wvs7", &survey_conventions_wvs7)
      .def_readwrite("name", &SurveyConventions::name)
      .def_readwrite("zero_based", &SurveyConventions::zero_based)
      .def_readwrite("excluded", &SurveyConventions::excluded)
      .def_readwrite("topics", &SurveyConventions::topics)
      .def_readwrite("cultures", &SurveyConventions::cultures)
      .def_readwrite("ignored_cultures", &SurveyConventions::ignored_cultures);
  m.def("topics_wvs7", &topics_wvs7, "The 13 WVS topics in the reference's order.");

  py::class_<Survey>(m, "Survey",
                     "Survey questions, cultures, human answers, culture similarity and "
                     "self-alignment example lists.")
      .def(py::init([](std::string name, std::optional<std::vector<Question>> questions,
                       std::optional<std::vector<Culture>> cultures,
                       std::vector<std::string> topics) {
             Survey s;
             s.name = std::move(name);
             for (auto& c : cultures ? *cultures : cultures_builtin()) s.add_culture(c);
             for (const auto& t : topics) s.add_topic(t);
             if (questions) {
               for (auto& q : *questions) s.add_question(q, !q.options.empty());
             }
             return s;
           }),
           py::kw_only(), py::arg("name") = "", py::arg("questions") = py::none(),
           py::arg("cultures") = py::none(), py::arg("topics") = std::vector<std::string>{},
           "A survey; cultures=None gives the 18 built-in cultures. Questions without "
           "options are added as not evaluated.")
      .def_static(
          "load",
          [](const std::string& path) {
            py::gil_scoped_release release;
            return survey_load(path);
          },
          py::arg("path"),
          "A reference-release folder (read with the wvs7 conventions) or a culturespa survey file.")
      .def_static(
          "load_reference",
          [](const std::string& dir, std::optional<SurveyConventions> conventions) {
            const SurveyConventions c = conventions ? *conventions : survey_conventions_wvs7();
            py::gil_scoped_release release;
            return survey_load_reference(dir, c);
          },
          py::arg("dir"), py::kw_only(), py::arg("conventions") = py::none())
      .def_static(
          "wvs7",
          [](const std::string& dir) {
            py::gil_scoped_release release;
            return survey_load_wvs7(dir);
          },
          py::arg("dir"), "The reference release's folder with the wvs7 conventions.")
      .def_static("from_json", &survey_from_json, py::arg("text"), py::kw_only(),
                  py::arg("source") = "<string>")
      .def("to_json", &survey_to_json)
      .def("save", &survey_save, py::arg("path"), "Writes the culturespa format atomically.")
      .def_readwrite("name", &Survey::name)
      // questions
      .def_property_readonly("questions", &Survey::questions, "All questions, in survey order.")
      .def("__len__", [](const Survey& s) { return s.questions().size(); })
      .def("__iter__", [](const Survey& s) { return py::iter(py::cast(s.questions())); })
      .def("__contains__", &Survey::has_question, py::arg("question_id"))
      .def("add_question", &Survey::add_question, py::arg("question"), py::kw_only(),
           py::arg("evaluated") = true)
      .def("has_question", &Survey::has_question, py::arg("question_id"))
      .def("question", &Survey::question, py::arg("question_id"))
      .def_property_readonly("topics", &Survey::topics)
      .def("add_topic", &Survey::add_topic, py::arg("topic"))
      .def("questions_of_topic", &Survey::questions_of_topic, py::arg("topic"))
      .def_property_readonly("evaluated_questions", &Survey::evaluated_questions)
      .def_property_readonly("evaluated_ids", &Survey::evaluated_ids)
      .def("is_evaluated", &Survey::is_evaluated, py::arg("question_id"))
      .def("set_evaluated", &Survey::set_evaluated, py::arg("question_id"), py::arg("evaluated"))
      // cultures
      .def_property_readonly("cultures", &Survey::cultures)
      .def("add_culture", &Survey::add_culture, py::arg("culture"))
      .def("has_culture", &Survey::has_culture, py::arg("code"))
      .def("culture", &Survey::culture, py::arg("code"))
      // human answers
      .def(
          "human_answers",
          [](const Survey& s, const std::string& culture, const std::string& question_id) -> py::object {
            const HumanAnswers* answers = s.human_answers(culture, question_id);
            return answers ? shares_dict(*answers) : py::none();
          },
          py::arg("culture"), py::arg("question_id"),
          "{option_id: share} in stored order (the first key is the gold answer), or None.")
      .def("set_human_answers",
           [](Survey& s, const std::string& culture, const std::string& question_id,
              const py::dict& shares) { s.set_human_answers(culture, question_id, shares_from_dict(shares)); },
           py::arg("culture"), py::arg("question_id"), py::arg("shares"))
      .def("gold", &Survey::gold, py::arg("culture"), py::arg("question_id"))
      .def("answered_ids", &Survey::answered_ids, py::arg("culture"))
      // similarity
      .def("similarity", &Survey::similarity, py::arg("culture"), py::arg("other"))
      .def("set_similarity", &Survey::set_similarity, py::arg("culture"), py::arg("other"), py::arg("score"))
      .def("similarity_ranking", &Survey::similarity_ranking, py::arg("culture"))
      .def("similarity_row",
           [](const Survey& s, const std::string& culture) {
             py::dict out;
             for (const auto& [other, score] : s.similarity_row(culture)) out[py::str(other)] = score;
             return out;
           },
           py::arg("culture"))
      // self-alignment
      .def("self_alignment_examples", &Survey::self_alignment_examples, py::arg("question_id"))
      .def("set_self_alignment_examples", &Survey::set_self_alignment_examples,
           py::arg("question_id"), py::arg("ids"))
      .def("self_alignment_example_ids", &Survey::self_alignment_example_ids,
           py::arg("question_id"), py::arg("culture"), py::kw_only(), py::arg("count") = 5)
      .def("__repr__", [](const Survey& s) {
        return "Survey(name='" + s.name + "', questions=" + std::to_string(s.questions().size()) +
               ", evaluated=" + std::to_string(s.evaluated_ids().size()) +
               ", cultures=" + std::to_string(s.cultures().size()) + ")";
      });

  m.def(
      "question_bank_load",
      [](const std::string& path) {
        py::gil_scoped_release release;
        return question_bank_load(path);
      },
      py::arg("path"), "A generated-question file as a list of Question.");
  m.def("question_bank_from_json", &question_bank_from_json, py::arg("text"), py::kw_only(),
        py::arg("source") = "<string>");
  m.def("question_bank_to_json", &question_bank_to_json, py::arg("questions"));
  m.def("question_bank_save", &question_bank_save, py::arg("questions"), py::arg("path"),
        "Writes the questions in the reference's bank format, atomically.");
}

}  // namespace culturespa::bindings

// culturespa/survey/survey.h: survey questions, cultures and human answers.
//
// Needs no model. Loads the reference release's WVS files (see docs/survey.md)
// and culturespa's own survey format, and the reference's generated-question
// banks into the same Question type.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include "culturespa/core/export.h"

namespace culturespa {

// A culture a model is asked to speak for: "KEN", "Kenyan", "a".
struct CULTURESPA_API Culture {
  std::string code;       // ISO 3166 alpha-3, e.g. "KEN"
  std::string adjective;  // as the prompts use it, e.g. "Kenyan", "New Zealand"
  std::string article;    // "a" or "an", as in "with a Kenyan cultural background"
};

// The 18 cultures of the paper, in its order (USA, CAN, BOL, ...).
CULTURESPA_API const std::vector<Culture>& cultures_builtin();
// A built-in culture by code; ValueError naming the code when unknown.
CULTURESPA_API const Culture& culture_from_code(std::string_view code);

struct CULTURESPA_API Question {
  std::string id;                    // "Q1", "Q234A", or a generated "Q0".."Q12999"
  std::string text;
  std::vector<std::string> options;  // option texts in id order
  std::string topic;                 // one of the survey's topics, or empty
  bool zero_based = false;           // option ids 0..n-1 (else 1..n)

  int first_option_id() const { return zero_based ? 0 : 1; }
  int last_option_id() const { return first_option_id() + static_cast<int>(options.size()) - 1; }
  bool is_option_id(int id) const { return id >= first_option_id() && id <= last_option_id(); }
  // The text of option `id`; ValueError naming the question when out of range.
  const std::string& option_text(int id) const;
  // The answer labels, "1".."n" or "0".."n-1".
  std::vector<std::string> labels() const;
};

// The human answers of one culture to one question: option id -> share, in
// the stored order. The first entry is the gold (majority) answer, also on
// ties (the stored order decides, never a recomputed maximum).
struct CULTURESPA_API HumanAnswers {
  std::vector<std::pair<int, double>> shares;
  bool has_gold() const { return !shares.empty(); }
  int gold() const { return shares.front().first; }
};

// A named group of questions ("Economic Values"), in the survey's topic order.
struct CULTURESPA_API SurveyTopic {
  std::string name;
  std::vector<std::string> question_ids;
};

// A survey: questions, the cultures it covers, each culture's human answers,
// the culture x culture similarity table and, per question, the questions the
// self-alignment prompt draws its in-context examples from.
//
// Every accessor taking an id throws ValueError naming the id when it is
// unknown; every setter validates against what the survey holds (a gold map
// naming an option the question lacks, an unknown culture, ...).
class CULTURESPA_API Survey {
 public:
  std::string name;  // e.g. "wvs7"; free text

  // --- questions ---------------------------------------------------------
  // Adds a question (evaluated unless `evaluated` is false). ValueError when
  // the id is empty or already present, or an evaluated question has no
  // options (free-answer questions, e.g. WVS demographics, are kept unevaluated).
  // A non-empty topic that the survey does not know yet is appended to topics().
  void add_question(Question question, bool evaluated = true);
  const std::vector<Question>& questions() const { return questions_; }
  bool has_question(std::string_view id) const;
  const Question& question(std::string_view id) const;

  // Topic names in the survey's order.
  std::vector<std::string> topics() const;
  // Declares a topic (kept in declaration order even when no question has it
  // yet); a no-op when present.
  void add_topic(const std::string& topic);
  // The questions of a topic in survey order; ValueError when the topic is unknown.
  std::vector<Question> questions_of_topic(std::string_view topic) const;

  // The evaluated questions (in survey order): those scored and asked.
  std::vector<Question> evaluated_questions() const;
  std::vector<std::string> evaluated_ids() const;
  bool is_evaluated(std::string_view id) const;
  void set_evaluated(std::string_view id, bool evaluated);

  // --- cultures ----------------------------------------------------------
  // Adds a culture; ValueError when the code is empty or already present.
  void add_culture(Culture culture);
  const std::vector<Culture>& cultures() const { return cultures_; }
  bool has_culture(std::string_view code) const;
  const Culture& culture(std::string_view code) const;

  // --- human answers -----------------------------------------------------
  // ValueError for an unknown culture or question, an option id the question
  // does not have, a repeated option id or a negative or non-finite share.
  void set_human_answers(std::string_view culture, std::string_view question_id,
                         HumanAnswers answers);
  // The stored answers, or nullptr when the culture has none for the question
  // (ValueError for an unknown culture or question).
  const HumanAnswers* human_answers(std::string_view culture, std::string_view question_id) const;
  // The gold option id, or nullopt when there is none (no answers or an empty map).
  std::optional<int> gold(std::string_view culture, std::string_view question_id) const;
  // Question ids with stored answers for the culture (maybe empty maps), in stored order.
  std::vector<std::string> answered_ids(std::string_view culture) const;

  // --- culture similarity ------------------------------------------------
  // Similarity of `culture` to `other` as stored (the reference: alignment
  // score between gold answers x 100). Both cultures must be known.
  void set_similarity(std::string_view culture, std::string_view other, double score);
  std::optional<double> similarity(std::string_view culture, std::string_view other) const;
  // The other cultures with a stored similarity to `culture`, most similar
  // first. Equal scores come in reverse stored order: the reference sorts the
  // row ascending (stably) and reads it backwards. Empty without a row.
  std::vector<std::string> similarity_ranking(std::string_view culture) const;
  // The stored row of `culture` in stored order.
  std::vector<std::pair<std::string, double>> similarity_row(std::string_view culture) const;

  // --- self-alignment example lists ----------------------------------------
  // Candidate example questions for `question_id`, in the order the prompt
  // takes them. ValueError when an id is unknown.
  void set_self_alignment_examples(std::string_view question_id, std::vector<std::string> ids);
  // Empty when none are stored.
  const std::vector<std::string>& self_alignment_examples(std::string_view question_id) const;
  // The first `count` candidates that have a gold answer for `culture`.
  std::vector<std::string> self_alignment_example_ids(std::string_view question_id,
                                                      std::string_view culture,
                                                      std::size_t count = 5) const;

 private:
  std::size_t question_index(std::string_view id) const;
  std::size_t culture_index(std::string_view code) const;

  std::vector<Question> questions_;
  std::map<std::string, std::size_t, std::less<>> question_index_;
  std::vector<bool> evaluated_;
  std::vector<std::string> topics_;
  std::vector<Culture> cultures_;
  // answers_[culture index]: question id -> answers, plus the stored order.
  struct CULTURESPA_API CultureAnswers {
    std::map<std::string, HumanAnswers, std::less<>> by_question;
    std::vector<std::string> order;
  };
  std::vector<CultureAnswers> answers_;
  std::vector<std::vector<std::pair<std::string, double>>> similarity_;  // by culture index
  std::map<std::string, std::vector<std::string>, std::less<>> self_alignment_;
};

// How a survey in the reference release's format is read: which questions
// are zero-based, which are not evaluated, the topics, the cultures.
struct CULTURESPA_API SurveyConventions {
  std::string name;                      // the Survey's name, e.g. "wvs7"
  std::vector<std::string> zero_based;   // ids whose option ids are 0..n-1
  std::vector<std::string> excluded;     // ids loaded but not evaluated
  std::vector<SurveyTopic> topics;       // topic order and membership
  std::vector<Culture> cultures;         // the survey's cultures, in order
  // Cultures of the proportions file that are skipped (the release's MEX is
  // not one of the paper's 18); any other unknown culture is a FormatError.
  std::vector<std::string> ignored_cultures;
};

// The reference evaluation's conventions for WVS wave 7: 259 evaluated
// questions (all but Q260..Q290 and Q223), the zero-based questions, the 13
// topics by Q ranges (Q234A in Political Interest & Political Participation),
// the 18 built-in cultures, MEX ignored.
CULTURESPA_API SurveyConventions survey_conventions_wvs7();

// The 13 WVS topic names, in the reference's order (topic index k of the
// generated-question files is topics_wvs7()[k]).
CULTURESPA_API const std::vector<std::string>& topics_wvs7();

// Loads the reference release's folder: wvs_questions.json,
// proportions_group_by_country.json and, when present, country_similarity.json
// and self_alignment_examples.json. FileError when a required file is
// missing; FormatError naming the file and the item for malformed content.
CULTURESPA_API Survey survey_load_reference(const std::string& dir, const SurveyConventions& conventions);

// survey_load_reference(dir, survey_conventions_wvs7()).
CULTURESPA_API Survey survey_load_wvs7(const std::string& dir);

// Loads a survey from `path`: a folder holding wvs_questions.json is read as
// the reference release with the wvs7 conventions; a file as the culturespa
// survey format (docs/survey.md).
CULTURESPA_API Survey survey_load(const std::string& path);

// The culturespa survey format: one JSON document (docs/survey.md).
CULTURESPA_API Survey survey_from_json(const std::string& text, const std::string& source = "<string>");
CULTURESPA_API std::string survey_to_json(const Survey& survey);
// Writes survey_to_json atomically.
CULTURESPA_API void survey_save(const Survey& survey, const std::string& path);

// A generated-question bank: a JSON list of {"Q_id", "question",
// "option_lst", "class", "prompt"} as the reference's generated-question files
// hold it. Each item becomes a Question keeping its Q_id, one-based unless its
// first option is the number 0 ("0": the reference's rule); its topic
// is `class`, else the WVS topic of the file name's "topic_<k>" index, else
// empty. FormatError naming the file and the item for malformed items or a
// repeated Q_id.
CULTURESPA_API std::vector<Question> question_bank_load(const std::string& path);
CULTURESPA_API std::vector<Question> question_bank_from_json(const std::string& text,
                                              const std::string& source = "<string>");
// The reference's bank format for `questions` ({"Q_id", "question",
// "option_lst", "class"} per item; "class" only when the topic is set), which
// question_bank_load reads back; question_bank_save writes it atomically.
CULTURESPA_API std::string question_bank_to_json(const std::vector<Question>& questions);
CULTURESPA_API void question_bank_save(const std::vector<Question>& questions, const std::string& path);

}  // namespace culturespa

// culturespa/survey/prompts.h: the prompts that ask a model the survey's
// questions (and write new ones), byte for byte as the reference release
// builds them (docs/survey.md, "Prompt builders").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "culturespa/survey/survey.h"
#include "culturespa/text/conversation.h"
#include "culturespa/core/export.h"

namespace culturespa {

// How a question is asked; the names are those of the reference's run files.
enum class PromptMethod {
  culture_unaware,                        // no culture in the prompt
  culture_aware,                          // "You are a real person with a Kenyan cultural background..."
  cross_culture_thinking,                 // + the 3 most and 3 least similar cultures
  self_alignment,                         // culture-unaware system, 5 in-context gold answers
  culture_aware_self_alignment,           // culture-aware system, 5 in-context gold answers
  cross_culture_thinking_self_alignment,  // cross-culture system, 5 in-context gold answers
};

// "culture_unaware", "culture_aware", ...
CULTURESPA_API const char* prompt_method_name(PromptMethod method);
// The inverse of prompt_method_name; ValueError listing the names when unknown.
CULTURESPA_API PromptMethod prompt_method_from_name(std::string_view name);
CULTURESPA_API const std::vector<PromptMethod>& prompt_methods_all();
// Every method but culture_unaware needs a target culture (plain
// self_alignment takes that culture's gold answers as its examples).
CULTURESPA_API bool prompt_method_needs_culture(PromptMethod method);

// The prompt templates, Python str.format style: each "{}" takes the next
// argument, "{{" and "}}" are literal braces. The reference's are built in.
struct CULTURESPA_API PromptTemplates {
  std::string answer_system_culture_unaware;         // 0 placeholders
  std::string answer_system_culture_aware;           // article, adjective
  std::string answer_system_cross_culture_thinking;  // 10, see docs/survey.md
  std::string answer_user;                           // question, options
  std::string answer_user_self_alignment;            // examples, question, options
  std::string self_alignment_example;                // question, options, gold "ID.TEXT"
  std::string generate_system;                       // 0 placeholders
  std::string generate_user_topic;                   // topic, examples, topic
  std::string generate_example_topic;                // number, question, option list repr

  // The reference release's templates (../shared/wvs/prompts.json).
  static const PromptTemplates& reference();
  // A JSON object of the shape of prompts.json. Keys it lacks keep the
  // reference template; keys starting with "_", "notes" and the reference's
  // unused "*_zh" variants are ignored; any other key, a non-string value or
  // a template with the wrong number of placeholders is a ConfigError naming
  // the file and the key.
  static PromptTemplates load(const std::string& path);
  static PromptTemplates from_json(const std::string& text, const std::string& source = "<string>");
  // The JSON object load() reads (the nine keys).
  std::string to_json() const;
};

// Formats `pattern` as Python's str.format with positional "{}" only.
// ConfigError naming `where` when the placeholders do not match `args` or a
// brace is unbalanced or names a field ("{0}", "{name}").
CULTURESPA_API std::string template_format(std::string_view pattern, const std::vector<std::string>& args,
                                           std::string_view where = "template");

// One question asked one way: the (system, user) conversation for the chat
// template, and the answer labels option scoring compares ("1".."n", or
// "0".."n-1" for a zero-based question).
struct CULTURESPA_API SurveyPrompt {
  std::string question_id;
  std::string culture;  // the target culture's code; empty for culture_unaware
  PromptMethod method = PromptMethod::culture_unaware;
  Conversation conversation;
  std::vector<std::string> labels;
};

// The options as the reference renders them: "1.Yes 2.No" (ids 0.. for a
// zero-based question), joined by single spaces.
CULTURESPA_API std::string prompt_options_text(const Question& question);

// The culture names the cross-culture thinking prompt uses: the `count` most
// similar cultures (most similar first) and the `count` least similar (least
// similar first), from the survey's similarity table. As the reference, both
// come from one stable ascending sort of the culture's row: the least similar
// are its head, the most similar its tail read backwards. ValueError when the
// culture has fewer than `count` other cultures in the table.
struct CULTURESPA_API CultureContrast {
  std::vector<std::string> similar;    // culture codes
  std::vector<std::string> different;  // culture codes
};
CULTURESPA_API CultureContrast culture_contrast(const Survey& survey, std::string_view culture,
                                                std::size_t count = 3);

// The system prompt of `method` for `culture` (ignored by culture_unaware and
// self_alignment). ValueError for an unknown culture or a missing one.
CULTURESPA_API std::string prompt_system(const Survey& survey, PromptMethod method, std::string_view culture,
                                         const PromptTemplates& templates = PromptTemplates::reference());

// Builds the prompt for one question. `question` may be a survey question or
// any other (e.g. a generated one); the self-alignment methods need the
// question's example list from the survey (ValueError when it has none, or
// fewer than `examples` of its candidates have a gold answer for the culture).
CULTURESPA_API SurveyPrompt prompt_build(const Survey& survey, const Question& question, PromptMethod method,
                                         std::string_view culture = {},
                                         const PromptTemplates& templates = PromptTemplates::reference(),
                                         std::size_t examples = 5);
// The survey question `question_id` (ValueError naming it when unknown).
CULTURESPA_API SurveyPrompt prompt_build(const Survey& survey, std::string_view question_id, PromptMethod method,
                                         std::string_view culture = {},
                                         const PromptTemplates& templates = PromptTemplates::reference(),
                                         std::size_t examples = 5);
// One prompt per evaluated question, in survey order.
CULTURESPA_API std::vector<SurveyPrompt> prompt_build_all(const Survey& survey, PromptMethod method,
                                                          std::string_view culture = {},
                                                          const PromptTemplates& templates = PromptTemplates::reference(),
                                                          std::size_t examples = 5);

// --- question generation ---------------------------------------------------

// Python's repr() of a list of strings, e.g. ['Yes', "Don't know"], as the
// reference writes option lists into the generation prompt.
CULTURESPA_API std::string python_repr_list(const std::vector<std::string>& items);

// The user prompt asking for a new question on `topic`, with the examples in
// the given order (the reference samples and shuffles them; the caller does).
CULTURESPA_API std::string prompt_generate_user(std::string_view topic, const std::vector<Question>& examples,
                                                const PromptTemplates& templates = PromptTemplates::reference());
// (generate_system, prompt_generate_user) as a conversation.
CULTURESPA_API Conversation prompt_generate(std::string_view topic, const std::vector<Question>& examples,
                                            const PromptTemplates& templates = PromptTemplates::reference());

}  // namespace culturespa

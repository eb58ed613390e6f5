#include "culturespa/survey/prompts.h"

#include <algorithm>
#include <cstdio>

#include "culturespa/core/enum_names.h"
#include "culturespa/core/error.h"
#include "json_read.h"

namespace culturespa {

namespace {

constexpr auto kMethodNames = enum_names<PromptMethod>(
    "prompt method", {{PromptMethod::culture_unaware, "culture_unaware"},
                      {PromptMethod::culture_aware, "culture_aware"},
                      {PromptMethod::cross_culture_thinking, "cross_culture_thinking"},
                      {PromptMethod::self_alignment, "self_alignment"},
                      {PromptMethod::culture_aware_self_alignment, "culture_aware_self_alignment"},
                      {PromptMethod::cross_culture_thinking_self_alignment, "cross_culture_thinking_self_alignment"}});

// The template fields with the placeholder count each must have.
struct TemplateField {
  const char* key;
  std::string PromptTemplates::*member;
  std::size_t placeholders;
};

const TemplateField kTemplateFields[] = {
    {"answer_system_culture_unaware", &PromptTemplates::answer_system_culture_unaware, 0},
    {"answer_system_culture_aware", &PromptTemplates::answer_system_culture_aware, 2},
    {"answer_system_cross_culture_thinking", &PromptTemplates::answer_system_cross_culture_thinking, 10},
    {"answer_user", &PromptTemplates::answer_user, 2},
    {"answer_user_self_alignment", &PromptTemplates::answer_user_self_alignment, 3},
    {"self_alignment_example", &PromptTemplates::self_alignment_example, 3},
    {"generate_system", &PromptTemplates::generate_system, 0},
    {"generate_user_topic", &PromptTemplates::generate_user_topic, 3},
    {"generate_example_topic", &PromptTemplates::generate_example_topic, 3},
};

// The number of "{}" in `pattern`; ConfigError naming `where` for anything
// str.format would read differently.
std::size_t template_placeholders(std::string_view pattern, std::string_view where) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    const bool next_same = i + 1 < pattern.size() && pattern[i + 1] == c;
    if (c == '{') {
      if (next_same) {
        ++i;
      } else if (i + 1 < pattern.size() && pattern[i + 1] == '}') {
        ++count;
        ++i;
      } else {
        throw ConfigError(std::string(where) + ": unsupported placeholder at offset " +
                          std::to_string(i) + " (only \"{}\" and the literal braces \"{{\", \"}}\")");
      }
    } else if (c == '}') {
      if (!next_same) {
        throw ConfigError(std::string(where) + ": single '}' at offset " + std::to_string(i) +
                          " (write \"}}\" for a literal brace)");
      }
      ++i;
    }
  }
  return count;
}

const Culture& target_culture(const Survey& survey, PromptMethod method, std::string_view culture) {
  if (culture.empty()) {
    throw ValueError(std::string("prompt method ") + prompt_method_name(method) +
                     " needs a target culture");
  }
  return survey.culture(culture);
}

bool uses_self_alignment(PromptMethod method) {
  return method == PromptMethod::self_alignment ||
         method == PromptMethod::culture_aware_self_alignment ||
         method == PromptMethod::cross_culture_thinking_self_alignment;
}

std::string self_alignment_examples_text(const Survey& survey, const Question& question,
                                         std::string_view culture, const PromptTemplates& templates,
                                         std::size_t count) {
  // Generated questions reuse ids such as "Q5": the example list belongs to
  // the survey's question of that id, never to a different question.
  if (!survey.has_question(question.id) || survey.question(question.id).text != question.text ||
      survey.question(question.id).options != question.options) {
    throw ValueError("self-alignment prompt for question " + question.id +
                     ": it is not a question of survey '" + survey.name +
                     "', whose example lists the prompt needs");
  }
  const auto ids = survey.self_alignment_example_ids(question.id, culture, count);
  if (ids.size() < count) {
    throw ValueError("self-alignment prompt for " + question.id + " and culture " +
                     std::string(culture) + ": only " + std::to_string(ids.size()) + " of " +
                     std::to_string(count) + " example questions have a gold answer (" +
                     std::to_string(survey.self_alignment_examples(question.id).size()) +
                     " candidates)");
  }
  std::string out;
  for (const auto& id : ids) {
    const Question& example = survey.question(id);
    const int gold = *survey.gold(culture, id);
    if (!out.empty()) out += '\n';
    out += template_format(templates.self_alignment_example,
                           {example.text, prompt_options_text(example),
                            std::to_string(gold) + "." + example.option_text(gold)},
                           "self_alignment_example");
  }
  return out;
}

void append_utf8_escape(std::string& out, char32_t code) {
  char buffer[12];
  if (code < 0x100) {
    std::snprintf(buffer, sizeof buffer, "\\x%02x", static_cast<unsigned>(code));
  } else if (code < 0x10000) {
    std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(code));
  } else {
    std::snprintf(buffer, sizeof buffer, "\\U%08x", static_cast<unsigned>(code));
  }
  out += buffer;
}

// Code points Python's str.isprintable() rejects that text may plausibly
// hold: controls, no-break and other special spaces, format characters.
bool python_non_printable(char32_t c) {
  return c < 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad || (c >= 0x2000 && c <= 0x200f) ||
         (c >= 0x2028 && c <= 0x202f) || (c >= 0x205f && c <= 0x206f) || c == 0x3000 ||
         c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb) || (c >= 0xd800 && c <= 0xdfff);
}

std::string python_repr_string(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (std::size_t i = 0; i < s.size();) {
    const auto byte = static_cast<unsigned char>(s[i]);
    // Decode one UTF-8 sequence (invalid bytes pass through as they are).
    std::size_t length = byte < 0x80 ? 1 : (byte >> 5) == 0x6 ? 2 : (byte >> 4) == 0xe ? 3 : (byte >> 3) == 0x1e ? 4 : 1;
    if (i + length > s.size()) length = 1;
    char32_t code = length == 1 ? byte : byte & (0x3f >> (length - 1));
    for (std::size_t k = 1; k < length; ++k) code = (code << 6) | (s[i + k] & 0x3f);
    if (code == '\\') {
      out += "\\\\";
    } else if (code == static_cast<char32_t>(quote)) {
      out += '\\';
      out += quote;
    } else if (code == '\n') {
      out += "\\n";
    } else if (code == '\r') {
      out += "\\r";
    } else if (code == '\t') {
      out += "\\t";
    } else if (python_non_printable(code)) {
      append_utf8_escape(out, code);
    } else {
      out.append(s, i, length);
    }
    i += length;
  }
  out += quote;
  return out;
}

}  // namespace

// --- methods ---------------------------------------------------------------------

const char* prompt_method_name(PromptMethod method) { return kMethodNames.name(method); }

PromptMethod prompt_method_from_name(std::string_view name) { return kMethodNames.from_name(name); }

const std::vector<PromptMethod>& prompt_methods_all() {
  static const std::vector<PromptMethod> methods = kMethodNames.values();
  return methods;
}

bool prompt_method_needs_culture(PromptMethod method) {
  return method != PromptMethod::culture_unaware;
}

// --- templates ---------------------------------------------------------------------

const PromptTemplates& PromptTemplates::reference() {
  // Verbatim from the reference release (utils.py, GDCRQ_utils.py at commit
  // 4e128c9); tests compare them with ../shared/wvs/prompts.json.
  static const PromptTemplates templates{
      /*answer_system_culture_unaware=*/R"(You are a real person with your own set of values. Please fill out the World Values Survey and answer the questions honestly according to your own value system.)",
      /*answer_system_culture_aware=*/R"(You are a real person with {} {} cultural background. Please fill out the World Values Survey and answer the questions honestly according to your own value system.)",
      /*answer_system_cross_culture_thinking=*/R"(You are a real person with {} {} cultural background. Please fill out the World Values Survey and answer the questions honestly according to your own value system. Before you respond, take a moment to think about how {} culture is similar to {}, {}, and {} cultures, and how {} culture is different from {}, {}, and {} cultures.)",
      /*answer_user=*/R"(Given a #Question and #Options, choose the option that best aligns with your own value system to answer the question.
#Question: {}
#Options: {}
Please return the number of the selected option only.)",
      /*answer_user_self_alignment=*/R"(Given a #Question and #Options, choose the option that best aligns with your own value system to answer the question.
Here are some answered questions, which can reflect your value system:
{}
Below are the #Question and #Options. Please return the number of the selected option only.
#Question: {}
#Options: {}
#Answer:)",
      /*self_alignment_example=*/R"(Question: {} Options: {} Answer: {})",
      /*generate_system=*/R"(You are a social scientist on the World Values Survey team, dedicated to studying and understanding shifts in human values across nearly 100 countries. Your work involves rigorous research designs and aims to capture a comprehensive view of human beliefs through nationally representative surveys.)",
      /*generate_user_topic=*/R"(Please come up with one new survey question.
Make sure your question addresses the topic of {}.
For reference, here are some example questions:
{}
Note that your question should be clearly different from the example questions provided and must pertain to the topic of {}.
Please return your question in JSON format, for example:{{"Question:" ..., "Options": [..., ..., ...]}}.
Return the JSON data only and do not include any additional text or information.
)",
      /*generate_example_topic=*/R"(#Example {}:
Question: {}
Options: {}
)",
  };
  return templates;
}

PromptTemplates PromptTemplates::from_json(const std::string& text, const std::string& source) {
  using namespace json_read;
  const Json doc = json_parse(text, source);
  json_expect(doc, Json::value_t::object, source, "an object {template name: template}");
  PromptTemplates templates = reference();
  for (const auto& [key, value] : doc.items()) {
    const std::string& name = key;  // lambdas cannot capture structured bindings before C++20 (clang)
    const auto field = std::find_if(std::begin(kTemplateFields), std::end(kTemplateFields),
                                    [&](const TemplateField& f) { return name == f.key; });
    if (field == std::end(kTemplateFields)) {
      const bool ignored = key.rfind('_', 0) == 0 || key == "notes" ||
                           (key.size() > 3 && key.compare(key.size() - 3, 3, "_zh") == 0);
      if (ignored) continue;
      throw ConfigError(source + ": unknown prompt template \"" + key + "\"");
    }
    const std::string where = source + ": template \"" + key + "\"";
    if (!value.is_string()) {
      throw ConfigError(where + ": expected a string, found " + value.type_name());
    }
    const std::string pattern = value.get<std::string>();
    const std::size_t found = template_placeholders(pattern, where);
    if (found != field->placeholders) {
      throw ConfigError(where + " has " + std::to_string(found) + " placeholders \"{}\", expected " +
                        std::to_string(field->placeholders));
    }
    templates.*(field->member) = pattern;
  }
  return templates;
}

PromptTemplates PromptTemplates::load(const std::string& path) {
  file_require_exists(path, "prompt templates");
  return from_json(file_read_text(path), path);
}

std::string PromptTemplates::to_json() const {
  json_read::Json doc = json_read::Json::object();
  for (const auto& field : kTemplateFields) doc[field.key] = this->*(field.member);
  return doc.dump(2) + "\n";
}

std::string template_format(std::string_view pattern, const std::vector<std::string>& args,
                            std::string_view where) {
  const std::size_t count = template_placeholders(pattern, where);
  if (count != args.size()) {
    throw ConfigError(std::string(where) + " has " + std::to_string(count) +
                      " placeholders \"{}\" but " + std::to_string(args.size()) +
                      " values were given");
  }
  std::string out;
  std::size_t next = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '{' && pattern[i + 1] == '}') {
      out += args[next++];
    } else {
      out += c;
    }
    if (c == '{' || c == '}') ++i;  // "{}" , "{{" and "}}" are two characters
  }
  return out;
}

// --- answering prompts -----------------------------------------------------------------

std::string prompt_options_text(const Question& question) {
  std::string out;
  for (int id = question.first_option_id(); id <= question.last_option_id(); ++id) {
    if (!out.empty()) out += ' ';
    out += std::to_string(id) + "." + question.option_text(id);
  }
  return out;
}

CultureContrast culture_contrast(const Survey& survey, std::string_view culture, std::size_t count) {
  const auto ranking = survey.similarity_ranking(culture);
  if (ranking.size() < count) {
    throw ValueError("culture " + std::string(culture) + " has " + std::to_string(ranking.size()) +
                     " other cultures in the similarity table; the cross-culture prompt needs " +
                     std::to_string(count));
  }
  CultureContrast contrast;
  contrast.similar.assign(ranking.begin(), ranking.begin() + count);
  contrast.different.assign(ranking.rbegin(), ranking.rbegin() + count);
  return contrast;
}

std::string prompt_system(const Survey& survey, PromptMethod method, std::string_view culture,
                          const PromptTemplates& templates) {
  switch (method) {
    case PromptMethod::culture_unaware:
    case PromptMethod::self_alignment:
      return template_format(templates.answer_system_culture_unaware, {},
                             "answer_system_culture_unaware");
    case PromptMethod::culture_aware:
    case PromptMethod::culture_aware_self_alignment: {
      const Culture& c = target_culture(survey, method, culture);
      return template_format(templates.answer_system_culture_aware, {c.article, c.adjective},
                             "answer_system_culture_aware");
    }
    case PromptMethod::cross_culture_thinking:
    case PromptMethod::cross_culture_thinking_self_alignment: {
      const Culture& c = target_culture(survey, method, culture);
      const CultureContrast contrast = culture_contrast(survey, c.code);
      auto adjective = [&](const std::string& code) { return survey.culture(code).adjective; };
      return template_format(
          templates.answer_system_cross_culture_thinking,
          {c.article, c.adjective, c.adjective, adjective(contrast.similar[0]),
           adjective(contrast.similar[1]), adjective(contrast.similar[2]), c.adjective,
           adjective(contrast.different[0]), adjective(contrast.different[1]),
           adjective(contrast.different[2])},
          "answer_system_cross_culture_thinking");
    }
  }
  throw ValueError("unknown prompt method");
}

SurveyPrompt prompt_build(const Survey& survey, const Question& question, PromptMethod method,
                          std::string_view culture, const PromptTemplates& templates,
                          std::size_t examples) {
  if (question.options.empty()) {
    throw ValueError("question " + question.id + " has no options to ask");
  }
  SurveyPrompt prompt;
  prompt.question_id = question.id;
  prompt.method = method;
  if (prompt_method_needs_culture(method)) prompt.culture = target_culture(survey, method, culture).code;
  const std::string system = prompt_system(survey, method, prompt.culture, templates);
  std::string user;
  if (uses_self_alignment(method)) {
    user = template_format(templates.answer_user_self_alignment,
                           {self_alignment_examples_text(survey, question, prompt.culture, templates, examples),
                            question.text, prompt_options_text(question)},
                           "answer_user_self_alignment");
  } else {
    user = template_format(templates.answer_user, {question.text, prompt_options_text(question)},
                           "answer_user");
  }
  prompt.conversation = {{"system", system}, {"user", user}};
  prompt.labels = question.labels();
  return prompt;
}

SurveyPrompt prompt_build(const Survey& survey, std::string_view question_id, PromptMethod method,
                          std::string_view culture, const PromptTemplates& templates,
                          std::size_t examples) {
  return prompt_build(survey, survey.question(question_id), method, culture, templates, examples);
}

std::vector<SurveyPrompt> prompt_build_all(const Survey& survey, PromptMethod method,
                                           std::string_view culture, const PromptTemplates& templates,
                                           std::size_t examples) {
  std::vector<SurveyPrompt> out;
  for (const auto& question : survey.evaluated_questions()) {
    out.push_back(prompt_build(survey, question, method, culture, templates, examples));
  }
  return out;
}

// --- question generation --------------------------------------------------------------

std::string python_repr_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += python_repr_string(items[i]);
  }
  return out + "]";
}

std::string prompt_generate_user(std::string_view topic, const std::vector<Question>& examples,
                                 const PromptTemplates& templates) {
  std::string joined;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    if (i) joined += '\n';
    joined += template_format(templates.generate_example_topic,
                              {std::to_string(i + 1), examples[i].text, python_repr_list(examples[i].options)},
                              "generate_example_topic");
  }
  const std::string topic_text(topic);
  return template_format(templates.generate_user_topic, {topic_text, joined, topic_text},
                         "generate_user_topic");
}

Conversation prompt_generate(std::string_view topic, const std::vector<Question>& examples,
                             const PromptTemplates& templates) {
  return {{"system", template_format(templates.generate_system, {}, "generate_system")},
          {"user", prompt_generate_user(topic, examples, templates)}};
}

}  // namespace culturespa

#include "culturespa/survey/answer_parser.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <limits>
#include <set>
#include <vector>

#include "culturespa/core/enum_names.h"
#include "culturespa/core/error.h"
#include "culturespa/survey/survey.h"

namespace culturespa {
namespace {

constexpr auto kParseModes =
    enum_names<ParseMode>("parse mode", {{ParseMode::reference, "reference"}, {ParseMode::robust, "robust"}});
constexpr auto kParseFailures = enum_names<ParseFailure>("parse failure", {{ParseFailure::none, "none"},
                                                                           {ParseFailure::empty, "empty"},
                                                                           {ParseFailure::no_answer, "no_answer"},
                                                                           {ParseFailure::refusal, "refusal"},
                                                                           {ParseFailure::ambiguous, "ambiguous"},
                                                                           {ParseFailure::not_an_option, "not_an_option"},
                                                                           {ParseFailure::out_of_range, "out_of_range"}});

}  // namespace

std::optional<int> answer_parse_reference(std::string_view reply) {
  std::size_t i = 0;
  while (i < reply.size() && !(reply[i] >= '0' && reply[i] <= '9')) ++i;
  if (i == reply.size()) return std::nullopt;
  long long value = 0;
  for (; i < reply.size() && reply[i] >= '0' && reply[i] <= '9'; ++i) {
    // A run too long for an int is no option id; saturate so that every
    // range check rejects it.
    value = value * 10 + (reply[i] - '0');
    if (value > std::numeric_limits<int>::max()) value = std::numeric_limits<int>::max();
  }
  return static_cast<int>(value);
}

ParseMode parse_mode_from_name(std::string_view name) { return kParseModes.from_name(name); }

const char* parse_mode_name(ParseMode mode) { return kParseModes.name(mode); }

const char* parse_failure_name(ParseFailure failure) {
  return kParseFailures.name(failure);
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Lower case, markdown emphasis removed, runs of white space made one space,
// curly apostrophes made straight: the form every rule below reads.
std::string normalise(std::string_view reply) {
  std::string out;
  out.reserve(reply.size());
  for (std::size_t i = 0; i < reply.size(); ++i) {
    const char c = reply[i];
    if (c == '*' || c == '`') continue;
    if (c == '_' && (i == 0 || !is_alnum(reply[i - 1]) || i + 1 == reply.size() ||
                     !is_alnum(reply[i + 1]))) {
      continue;  // __bold__ but not snake_case
    }
    // U+2019 RIGHT SINGLE QUOTATION MARK, as in "I’m".
    if (static_cast<unsigned char>(c) == 0xE2 && i + 2 < reply.size() &&
        static_cast<unsigned char>(reply[i + 1]) == 0x80 &&
        static_cast<unsigned char>(reply[i + 2]) == 0x99) {
      out += '\'';
      i += 2;
      continue;
    }
    if (is_space(c)) {
      if (!out.empty() && out.back() != ' ') out += ' ';
      continue;
    }
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string excerpt(std::string_view reply) {
  std::string text(reply.substr(0, 60));
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return "\"" + text + (reply.size() > 60 ? "...\"" : "\"");
}

// A word or number of the reply, with where it stands.
struct Token {
  enum Kind { word, number, punct } kind;
  std::string text;
  long long value = 0;  // numbers only (saturated)
  bool excluded = false;  // a number that describes the scale, not an answer
  bool decimal = false;   // "3.5": no option label
};

std::vector<Token> tokenise(const std::string& text, const Question& question) {
  std::vector<Token> tokens;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ') {
      ++i;
    } else if (is_digit(c)) {
      std::size_t j = i;
      long long value = 0;
      while (j < text.size() && is_digit(text[j])) {
        value = std::min<long long>(value * 10 + (text[j] - '0'), std::numeric_limits<int>::max());
        ++j;
      }
      Token token{Token::number, text.substr(i, j - i), value};
      // "N.M": the option label N followed by its text M on numeric scales
      // ("5.5", "10.10", the prompt's "ID.TEXT" form), else a decimal.
      if (j + 1 < text.size() && text[j] == '.' && is_digit(text[j + 1])) {
        std::size_t k = j + 1;
        while (k < text.size() && is_digit(text[k])) ++k;
        const std::string fraction = text.substr(j + 1, k - j - 1);
        const long long index = value - question.first_option_id();
        const bool label_text = question.is_option_id(static_cast<int>(value)) &&
                                lower(question.options[static_cast<std::size_t>(index)]) == fraction;
        token.decimal = !label_text;
        token.text = text.substr(i, k - i);
        j = k;
      }
      tokens.push_back(std::move(token));
      i = j;
    } else if (is_alnum(c) || c == '\'') {
      std::size_t j = i;
      while (j < text.size() && (is_alnum(text[j]) || text[j] == '\'')) ++j;
      tokens.push_back(Token{Token::word, text.substr(i, j - i)});
      i = j;
    } else {
      tokens.push_back(Token{Token::punct, std::string(1, c)});
      ++i;
    }
  }
  return tokens;
}

bool is_word(const std::vector<Token>& tokens, std::size_t i, std::initializer_list<const char*> words) {
  if (i >= tokens.size() || tokens[i].kind != Token::word) return false;
  for (const char* w : words) {
    if (tokens[i].text == w) return true;
  }
  return false;
}

bool is_punct(const std::vector<Token>& tokens, std::size_t i, const char* chars) {
  return i < tokens.size() && tokens[i].kind == Token::punct &&
         std::string_view(chars).find(tokens[i].text[0]) != std::string_view::npos;
}

// Marks numbers that describe the scale or are not answers at all: ranges
// ("1 to 4", "1-10", "between 1 and 10", phone numbers "1-800-273"), anchors
// ("1 means", "10 being", "out of 10") and quantities ("50%").
void exclude_scale_numbers(std::vector<Token>& tokens) {
  const std::size_t n = tokens.size();
  auto number = [&](std::size_t i) { return i < n && tokens[i].kind == Token::number; };
  for (std::size_t i = 0; i < n; ++i) {
    if (!number(i)) continue;
    // X to Y, X-Y, X–Y (the dash arrives as bytes; any non-ASCII punct counts)
    if (number(i + 2) && (is_word(tokens, i + 1, {"to", "through"}) || is_punct(tokens, i + 1, "-/"))) {
      tokens[i].excluded = tokens[i + 2].excluded = true;
    }
    if (number(i + 2) && is_word(tokens, i + 1, {"and"}) && i > 0 && is_word(tokens, i - 1, {"between"})) {
      tokens[i].excluded = tokens[i + 2].excluded = true;
    }
    if (is_word(tokens, i + 1, {"means", "mean", "meaning", "being", "is", "represents", "indicates",
                                 "percent", "years", "year", "times", "hours", "days", "people"})) {
      // "1 is" is an anchor only after "where"/"with"/"and" ("where 1 is ...");
      // "my answer is 3" puts the number after "is", never before it.
      if (tokens[i + 1].text != "is" || (i > 0 && is_word(tokens, i - 1, {"where", "with", "and", "while"}))) {
        tokens[i].excluded = true;
      }
    }
    if (is_punct(tokens, i + 1, "%")) tokens[i].excluded = true;
    if (i >= 2 && is_word(tokens, i - 1, {"of"}) && is_word(tokens, i - 2, {"out"})) tokens[i].excluded = true;
    if (i >= 1 && is_punct(tokens, i - 1, "-/") && number(i - 2)) tokens[i].excluded = true;
  }
}

// Words that announce the chosen number, and words that may stand between
// the cue and the number ("I would choose option: 3", "my answer is... 5").
bool is_cue(const Token& token) {
  static const std::set<std::string> cues = {
      "choose", "chose", "choosing", "choice", "pick", "picking", "picked", "select", "selected",
      "selecting", "selection", "answer", "answered", "answering", "option", "say", "go", "rate",
      "rating", "vote", "opt", "response"};
  return token.kind == Token::word && cues.count(token.text) > 0;
}

bool is_filler(const std::vector<Token>& tokens, std::size_t i) {
  if (tokens[i].kind == Token::punct) return std::string_view(":.,-#(\"'=>[").find(tokens[i].text[0]) != std::string_view::npos ||
                                             static_cast<unsigned char>(tokens[i].text[0]) >= 0x80;
  return is_word(tokens, i, {"option", "the", "number", "with", "a", "an", "is", "be", "would", "it",
                             "as", "my", "for", "this", "question", "i'd", "i", "will", "i'll", "final"});
}

// The first number announced by a cue word, if any.
const Token* cued_number(const std::vector<Token>& tokens) {
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].kind != Token::number || tokens[i].excluded) continue;
    for (std::size_t back = 1; back <= 8 && back <= i; ++back) {
      const std::size_t j = i - back;
      if (is_cue(tokens[j])) return &tokens[i];
      if (!is_filler(tokens, j)) break;
    }
  }
  return nullptr;
}

bool is_refusal(const std::string& text) {
  static const char* const phrases[] = {
      "i cannot", "i can't", "i can not", "i'm unable", "i am unable", "i'm not able",
      "i am not able", "i won't", "i will not", "i'm sorry", "i am sorry", "i apologize",
      "as an ai", "as a language model", "i don't have personal", "i do not have personal",
      "i prefer not", "i'd rather not", "i would rather not", "i must decline", "i decline"};
  for (const char* phrase : phrases) {
    const auto at = text.find(phrase);
    if (at != std::string::npos && (at == 0 || !is_alnum(text[at - 1]))) return true;
  }
  return false;
}

// Options whose text occurs in `text` as whole words; an occurrence inside a
// longer one ("agree" in "strongly agree") does not count.
std::set<int> options_named(const std::string& text, const Question& question) {
  struct Span {
    std::size_t begin, end;
    int id;
  };
  std::vector<Span> spans;
  for (std::size_t k = 0; k < question.options.size(); ++k) {
    const std::string option = normalise(question.options[k]);
    if (option.empty() || std::all_of(option.begin(), option.end(), is_digit)) continue;
    for (auto at = text.find(option); at != std::string::npos; at = text.find(option, at + 1)) {
      const std::size_t end = at + option.size();
      if ((at > 0 && is_alnum(text[at - 1])) || (end < text.size() && is_alnum(text[end]))) continue;
      spans.push_back({at, end, question.first_option_id() + static_cast<int>(k)});
    }
  }
  std::set<int> ids;
  for (const Span& s : spans) {
    const bool inside_longer = std::any_of(spans.begin(), spans.end(), [&](const Span& o) {
      return o.begin <= s.begin && s.end <= o.end && (o.end - o.begin) > (s.end - s.begin);
    });
    if (!inside_longer) ids.insert(s.id);
  }
  return ids;
}

ParsedAnswer failure(ParseFailure reason, const Question& question, std::string_view reply,
                     const std::string& why) {
  ParsedAnswer parsed;
  parsed.failure = reason;
  parsed.message = question.id + ": " + why + " in reply " + excerpt(reply);
  return parsed;
}

ParsedAnswer option_or_failure(long long value, bool decimal, const Question& question,
                               std::string_view reply) {
  if (decimal || !question.is_option_id(static_cast<int>(std::min<long long>(value, std::numeric_limits<int>::max())))) {
    return failure(ParseFailure::not_an_option, question, reply,
                   "the answer is not an option id (ids " + std::to_string(question.first_option_id()) +
                       ".." + std::to_string(question.last_option_id()) + ")");
  }
  ParsedAnswer parsed;
  parsed.option = static_cast<int>(value);
  return parsed;
}

ParsedAnswer parse_robust(std::string_view reply, const Question& question, int depth);

// {"answer": 3}, {"option": "3"}, {"Answer": "Very important"}: the value of
// an answer-like key (or of the only key), read again as a reply.
std::optional<ParsedAnswer> parse_json(std::string_view reply, const Question& question, int depth) {
  const auto open = reply.find('{');
  const auto close = reply.rfind('}');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return std::nullopt;
  const auto json = nlohmann::json::parse(reply.substr(open, close - open + 1), nullptr, false);
  if (json.is_discarded() || !json.is_object() || json.empty()) return std::nullopt;
  static const char* const keys[] = {"answer", "option", "choice", "selected_option", "selection",
                                     "option_id", "selected", "response", "id"};
  const nlohmann::json* value = nullptr;
  for (auto it = json.begin(); it != json.end() && value == nullptr; ++it) {
    for (const char* key : keys) {
      if (lower(it.key()) == key) value = &it.value();
    }
  }
  if (value == nullptr && json.size() == 1) value = &json.begin().value();
  if (value == nullptr) return std::nullopt;
  if (value->is_number_integer()) return option_or_failure(value->get<long long>(), false, question, reply);
  if (value->is_number()) return option_or_failure(0, true, question, reply);
  if (value->is_string() && depth < 1) return parse_robust(value->get<std::string>(), question, depth + 1);
  return std::nullopt;
}

ParsedAnswer parse_robust(std::string_view reply, const Question& question, int depth) {
  const std::string text = normalise(reply);
  if (text.empty()) return failure(ParseFailure::empty, question, reply, "empty reply");

  if (auto from_json = parse_json(reply, question, depth)) return *from_json;

  // The whole reply is the option's text ("Very important."). A bare number
  // is a label, never the text of a numeric option.
  std::string bare = text;
  while (!bare.empty() && std::string_view(".!;,\"' )").find(bare.back()) != std::string_view::npos) bare.pop_back();
  const bool bare_number = !bare.empty() && std::all_of(bare.begin(), bare.end(), is_digit);
  for (std::size_t k = 0; k < question.options.size() && !bare_number; ++k) {
    if (normalise(question.options[k]) == bare) {
      ParsedAnswer parsed;
      parsed.option = question.first_option_id() + static_cast<int>(k);
      return parsed;
    }
  }

  std::vector<Token> tokens = tokenise(text, question);
  exclude_scale_numbers(tokens);

  // A label first, with or without punctuation and a lead-in word:
  // "3", "(3)", "Option 3", "Answer: 3", "#Answer: 5.5", "2.Agree", "4. Strongly disagree".
  std::size_t first = 0;
  while (first < tokens.size() &&
         (is_punct(tokens, first, "([#:\"'-") || is_word(tokens, first, {"option", "answer", "choice"}))) {
    ++first;
  }
  if (first < tokens.size() && tokens[first].kind == Token::number && !tokens[first].excluded) {
    const Token& label = tokens[first];
    const bool alone = std::all_of(tokens.begin() + static_cast<long>(first) + 1, tokens.end(),
                                   [](const Token& t) { return t.kind == Token::punct; });
    const bool label_then_text = first + 1 < tokens.size() && is_punct(tokens, first + 1, ".):-");
    if (alone || label_then_text) return option_or_failure(label.value, label.decimal, question, reply);
  }

  if (const Token* cued = cued_number(tokens)) return option_or_failure(cued->value, cued->decimal, question, reply);

  if (is_refusal(text)) return failure(ParseFailure::refusal, question, reply, "the model declined to answer");

  std::set<long long> numbers;
  const Token* only = nullptr;
  for (const Token& token : tokens) {
    if (token.kind == Token::number && !token.excluded) {
      numbers.insert(token.decimal ? -1 : token.value);
      only = &token;
    }
  }
  if (numbers.size() == 1) return option_or_failure(only->value, only->decimal, question, reply);
  if (numbers.size() > 1) {
    return failure(ParseFailure::ambiguous, question, reply,
                   std::to_string(numbers.size()) + " different numbers and no cue to the chosen one");
  }

  const std::set<int> named = options_named(text, question);
  if (named.size() == 1) {
    ParsedAnswer parsed;
    parsed.option = *named.begin();
    return parsed;
  }
  if (named.size() > 1) {
    return failure(ParseFailure::ambiguous, question, reply,
                   "the texts of " + std::to_string(named.size()) + " different options");
  }
  return failure(ParseFailure::no_answer, question, reply, "no option number or option text");
}

}  // namespace

ParsedAnswer answer_parse(std::string_view reply, const Question& question,
                          const AnswerParseOptions& options) {
  if (options.mode == ParseMode::robust) return parse_robust(reply, question, 0);
  const auto value = answer_parse_reference(reply);
  if (!value) {
    if (normalise(reply).empty()) return failure(ParseFailure::empty, question, reply, "empty reply");
    return failure(ParseFailure::no_answer, question, reply, "no digit");
  }
  if (*value > options.reference_max) {
    return failure(ParseFailure::out_of_range, question, reply,
                   "the first number " + std::to_string(*value) + " is outside 0.." +
                       std::to_string(options.reference_max));
  }
  ParsedAnswer parsed;
  parsed.option = *value;
  return parsed;
}

}  // namespace culturespa

#include "culturespa/core/error.h"
#include "culturespa/survey/answer_parser.h"
#include "culturespa/survey/survey.h"

#include "support.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <tuple>

using namespace culturespa;

namespace {

Question make_question(std::string id, std::vector<std::string> options, bool zero_based = false) {
  Question q;
  q.id = std::move(id);
  q.text = "a question";
  q.options = std::move(options);
  q.zero_based = zero_based;
  return q;
}

const Question importance = make_question(
    "Q1", {"Very important", "Rather important", "Not very important", "Not at all important"});
const Question agreement = make_question(
    "Q29", {"Strongly agree", "Agree", "Disagree", "Strongly disagree"});
const Question membership = make_question("Q94", {"Don't belong", "Inactive member", "Active member"}, true);
const Question scale10 = make_question("Q106", {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"});

ParsedAnswer robust(std::string_view reply, const Question& q) {
  return answer_parse(reply, q, {ParseMode::robust});
}

}  // namespace

TEST_CASE("reference parse takes the first run of digits") {
  CHECK(answer_parse_reference("3") == 3);
  CHECK(answer_parse_reference("I would choose 2. Quite important") == 2);
  CHECK(answer_parse_reference("10 - Always justifiable") == 10);
  CHECK(answer_parse_reference("Option 12, then 3") == 12);
  CHECK_FALSE(answer_parse_reference("I cannot answer that.").has_value());
  CHECK_FALSE(answer_parse_reference("").has_value());
  CHECK(answer_parse_reference("99999999999999999999") == std::numeric_limits<int>::max());
}

TEST_CASE("reference mode applies the range of its use and nothing else") {
  CHECK(answer_parse("7", importance).option == 7);  // not an option of Q1: the reference keeps it
  CHECK(answer_parse("0", importance).option == 0);
  const auto eleven = answer_parse("11", importance);
  CHECK_FALSE(eleven.ok());
  CHECK(eleven.failure == ParseFailure::out_of_range);
  CHECK(eleven.message.find("Q1") != std::string::npos);
  CHECK(answer_parse("11", importance, {ParseMode::reference, kReferenceContrastMax}).option == 11);
  CHECK(answer_parse("16", importance, {ParseMode::reference, kReferenceContrastMax}).failure ==
        ParseFailure::out_of_range);
  CHECK(answer_parse("I cannot answer", importance).failure == ParseFailure::no_answer);
  CHECK(answer_parse("  \n", importance).failure == ParseFailure::empty);
}

TEST_CASE("robust mode reads labels with punctuation") {
  for (const char* reply : {"3", "3.", "(3)", "**3**", "Option 3", "Answer: 3", "option (3)", " 3 \n",
                            "#Answer: 3", "__3__", "[3]", "3)"}) {
    INFO(reply);
    CHECK(robust(reply, importance).option == 3);
  }
  CHECK(robust("2.Rather important", importance).option == 2);
  CHECK(robust("4. Not at all important", importance).option == 4);
  CHECK(robust("0.Don't belong", membership).option == 0);
  CHECK(robust("5.5", scale10).option == 5);
  CHECK(robust("10.10", scale10).option == 10);
}

TEST_CASE("robust mode reads the option text instead of the number") {
  CHECK(robust("Very important", importance).option == 1);
  CHECK(robust("not very important.", importance).option == 3);
  CHECK(robust("I think family is rather important to me.", importance).option == 2);
  CHECK(robust("Strongly agree!", agreement).option == 1);
  CHECK(robust("I agree with this", agreement).option == 2);
  CHECK(robust("I would say I disagree", agreement).option == 3);
  CHECK(robust("Active member", membership).option == 2);
  const auto both = robust("Somewhere between agree and disagree", agreement);
  CHECK(both.failure == ParseFailure::ambiguous);
}

TEST_CASE("robust mode reads JSON") {
  CHECK(robust(R"({"answer": 3})", importance).option == 3);
  CHECK(robust(R"({"Answer": "2"})", importance).option == 2);
  CHECK(robust(R"(```json
{"option": "Very important"}
```)", importance).option == 1);
  CHECK(robust(R"({"answer": 9})", importance).failure == ParseFailure::not_an_option);
  CHECK(robust(R"({"answer": 2.5})", importance).failure == ParseFailure::not_an_option);
}

TEST_CASE("robust mode rejects numbers that are not option ids") {
  const auto seven = robust("7", importance);
  CHECK(seven.failure == ParseFailure::not_an_option);
  CHECK(seven.message.find("Q1") != std::string::npos);
  CHECK(seven.message.find("1..4") != std::string::npos);
  CHECK(robust("0", importance).failure == ParseFailure::not_an_option);
  CHECK(robust("3", membership).failure == ParseFailure::not_an_option);
  CHECK(robust("3.5", scale10).failure == ParseFailure::not_an_option);
}

TEST_CASE("robust mode skips the scale and takes the announced number") {
  CHECK(robust("On a scale of 1 to 4, I'd pick 3", importance).option == 3);
  CHECK(robust("on a scale from 1-10 where 1 means never, I would say 6.", scale10).option == 6);
  CHECK(robust("Between 1 and 10, my answer is 8", scale10).option == 8);
  CHECK(robust("I'd say... 5.5. I think there should be a balance", scale10).option == 5);
  CHECK(robust("I would choose option 2.2, which means I agree somewhat", scale10).option == 2);
  CHECK(robust("G'day! I'd go with... 1!", scale10).option == 1);
  CHECK(robust("I'll be honest! 6", scale10).option == 6);
  CHECK(robust("I'll answer honestly.\n\nMy answer is: 10", scale10).option == 10);
  CHECK(robust("I choose 2 and then 3", scale10).option == 2);
  CHECK(robust("It is 3 or maybe 4", scale10).failure == ParseFailure::ambiguous);
}

TEST_CASE("robust mode recognises refusals, also around phone numbers") {
  const auto refusal = robust(
      "I cannot provide a response that condones suicide. Call the National Suicide Prevention "
      "Lifeline (1-800-273-TALK (8255)).",
      scale10);
  CHECK(refusal.failure == ParseFailure::refusal);
  CHECK(robust("I'm sorry, but I can't answer that.", importance).failure == ParseFailure::refusal);
  CHECK(robust("I cannot answer this question. Resources:\n\n1. National hotline", scale10).failure ==
        ParseFailure::refusal);
  CHECK(robust("", importance).failure == ParseFailure::empty);
  CHECK(robust("I'd be happy to answer!", scale10).failure == ParseFailure::no_answer);
}

TEST_CASE("parse mode and failure names") {
  CHECK(parse_mode_from_name("robust") == ParseMode::robust);
  CHECK(std::string(parse_mode_name(ParseMode::reference)) == "reference");
  CHECK_THROWS_AS(parse_mode_from_name("fuzzy"), ValueError);
  CHECK(std::string(parse_failure_name(ParseFailure::not_an_option)) == "not_an_option");
}

TEST_CASE("any reply ends as an option id or a failure and never throws") {
  // Deterministic random replies built from the pieces real replies are made of.
  const std::vector<std::string> pieces = {
      "1", "3", "10", "0", "99999999999999999999", ".", ". ", ":", "(", ")", "{", "}", "\"answer\"", "-", "–",
      "…", "*", "_", " ", "\n", "option", "Answer", "I'd say", "I cannot", "scale of", "to", "means", "between",
      "and", "Very important", "agree", "{\"answer\": ", "null", "[", "]", "\xff", "\xe2\x80", "%", "out of", "2.2"};
  std::uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::size_t>(state >> 33);
  };
  for (int i = 0; i < 3000; ++i) {
    std::string reply;
    const std::size_t length = next() % 12;
    for (std::size_t k = 0; k < length; ++k) reply += pieces[next() % pieces.size()];
    for (const Question* q : {&importance, &membership, &scale10}) {
      INFO(reply);
      ParsedAnswer robust_parsed, reference_parsed;
      REQUIRE_NOTHROW(robust_parsed = robust(reply, *q));
      REQUIRE_NOTHROW(reference_parsed = answer_parse(reply, *q));
      if (robust_parsed.ok()) {
        CHECK(q->is_option_id(*robust_parsed.option));
      } else {
        CHECK(robust_parsed.failure != ParseFailure::none);
        CHECK_FALSE(robust_parsed.message.empty());
      }
      if (reference_parsed.ok()) CHECK(*reference_parsed.option <= kReferenceScoringMax);
    }
  }
}

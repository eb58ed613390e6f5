// Both parse modes on every real reply of the reference LLaMA-3 runs.
#include "culturespa/survey/answer_parser.h"
#include "culturespa/survey/survey.h"

#include "support.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <map>
#include <set>

using namespace culturespa;
namespace fs = std::filesystem;

namespace {

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

// The questions of ../shared/wvs, zero-based as its README says, built here
// from the file so that this test does not depend on the survey loader.
std::map<std::string, Question> wvs_questions(const fs::path& shared) {
  std::set<std::string> zero_based = {"Q119"};
  for (int i = 94; i <= 105; ++i) zero_based.insert("Q" + std::to_string(i));
  for (int i = 122; i <= 129; ++i) zero_based.insert("Q" + std::to_string(i));
  for (int i = 241; i <= 249; ++i) zero_based.insert("Q" + std::to_string(i));
  std::map<std::string, Question> questions;
  for (const auto& item : read_json(shared / "wvs" / "wvs_questions.json")) {
    Question q;
    q.id = item.at("Q_id").get<std::string>();
    q.text = item.at("question").get<std::string>();
    q.options = item.at("option_lst").get<std::vector<std::string>>();
    q.zero_based = zero_based.count(q.id) > 0;
    questions[q.id] = q;
  }
  return questions;
}

std::string show(const ParsedAnswer& p) {
  return p.ok() ? std::to_string(*p.option) : std::string("fail:") + parse_failure_name(p.failure);
}

struct Disagreement {
  std::string reference, robust;
};

}  // namespace

TEST_CASE("the two parse modes on every reply of the reference runs") {
  CULTURESPA_REQUIRE_SHARED(shared);
  const auto questions = wvs_questions(shared);
  const fs::path runs = shared / "reference-runs" / "llama3-8b-instruct" / "wvs";

  // (file, Q_id) -> both parses, for every reply where they differ.
  std::map<std::pair<std::string, std::string>, Disagreement> disagreements;
  std::size_t replies = 0, robust_ok = 0, reference_ok = 0;
  std::map<std::string, std::size_t> robust_failures;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(runs)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() == 24);
  for (const auto& path : files) {
    for (const auto& item : read_json(path)) {
      const std::string id = item.at("Q_id").get<std::string>();
      const std::string reply = item.at("answer").get<std::string>();
      const Question& q = questions.at(id);
      const ParsedAnswer reference = answer_parse(reply, q, {ParseMode::reference});
      const ParsedAnswer robust = answer_parse(reply, q, {ParseMode::robust});
      ++replies;
      reference_ok += reference.ok();
      robust_ok += robust.ok();
      // Every robust reply is a valid option id or a failure with its reason.
      if (robust.ok()) {
        CHECK(q.is_option_id(*robust.option));
        CHECK(robust.failure == ParseFailure::none);
      } else {
        CHECK(robust.failure != ParseFailure::none);
        CHECK(robust.message.find(id) != std::string::npos);
        ++robust_failures[parse_failure_name(robust.failure)];
      }
      if (reference.option != robust.option) {
        disagreements[{path.filename().string(), id}] = {show(reference), show(robust)};
        std::cout << "DISAGREE " << path.filename().string() << " " << id << " reference=" << show(reference)
                  << " robust=" << show(robust) << " reply=" << nlohmann::json(reply.substr(0, 160)).dump()
                  << "\n";
      }
    }
  }
  std::cout << replies << " replies; parsed: reference " << reference_ok << ", robust " << robust_ok << "; "
            << disagreements.size() << " disagreements; robust failures:";
  for (const auto& [reason, count] : robust_failures) std::cout << " " << reason << "=" << count;
  std::cout << "\n";
  CHECK(replies == 24 * 259);

  // Checked by hand, reading each reply: the only disagreements on this data
  // are refusals to Q187 (suicide) whose help text carries a number, either
  // the helpline "1-800-273-TALK (8255)" or a list item "1. National Suicide
  // Prevention Lifeline". The reference reads that 1 as an answer; robust
  // reports a refusal.
  const std::set<std::string> refusals_to_q187 = {
      "BRA", "CAN", "DEU", "ETH", "IND", "NLD", "RUS", "USA", "ZWE", "self_alignment_USA"};
  CHECK(disagreements.size() == refusals_to_q187.size());
  for (const auto& culture : refusals_to_q187) {
    const auto found = disagreements.find({"wvs_result_culture_aware_" + culture + "_0.json", "Q187"});
    REQUIRE(found != disagreements.end());
    CHECK(found->second.reference == "1");
    CHECK(found->second.robust == "fail:refusal");
  }
}

TEST_CASE("robust mode on prose replies of the reference runs, checked by hand") {
  CULTURESPA_REQUIRE_SHARED(shared);
  const auto questions = wvs_questions(shared);
  const fs::path runs = shared / "reference-runs" / "llama3-8b-instruct" / "wvs";
  // (file, Q_id, expected): each reply read by hand.
  struct Fact {
    const char* file;
    const char* id;
    std::string expected;
  };
  const Fact facts[] = {
      // "... I'll choose:\n\n7"
      {"wvs_result_culture_aware_UKR_0.json", "Q107", "7"},
      // restates the question ('Competition is good' ...) and ends "I would choose:\n\n7"
      {"wvs_result_culture_aware_UKR_0.json", "Q109", "7"},
      // "I'm gonna go with... 5.5": label 5 with its text "5"
      {"wvs_result_culture_aware_CAN_0.json", "Q183", "5"},
      // "I would choose option 0.0. As a Bolivian ..."
      {"wvs_result_culture_aware_BOL_0.json", "Q245", "0"},
      // "Cheat on me taxes? No way" after "I'd have to go with... 1.1."
      {"wvs_result_culture_aware_AUS_0.json", "Q180", "1"},
      // "I'd be happy to answer!": no answer at all
      {"wvs_result_culture_aware_CAN_0.json", "Q106", "fail:no_answer"},
      // "I think political violence can never be justified. ...": no number
      {"wvs_result_culture_aware_NZL_0.json", "Q194", "fail:no_answer"},
      // "I cannot provide information that could be used to facilitate sexual harassment."
      {"wvs_result_culture_unaware_0.json", "Q138", "fail:refusal"},
      // "0.Don't belong" on a zero-based question
      {"wvs_result_cross_culture_thinking_self_alignment_CAN_0.json", "Q96", "0"},
      // "3. India"
      {"wvs_result_cross_culture_thinking_self_alignment_CAN_0.json", "Q91", "3"},
  };
  for (const Fact& fact : facts) {
    INFO(fact.file << " " << fact.id);
    std::string reply;
    for (const auto& item : read_json(runs / fact.file)) {
      if (item.at("Q_id") == fact.id) reply = item.at("answer").get<std::string>();
    }
    REQUIRE_FALSE(reply.empty());
    CHECK(show(answer_parse(reply, questions.at(fact.id), {ParseMode::robust})) == fact.expected);
  }
}

#include "culturespa/core/error.h"
#include "culturespa/pipeline/question_generator.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "support.h"

using namespace culturespa;

namespace {

Question seed_question(const std::string& topic, int n) {
  Question q;
  q.id = topic + "-seed" + std::to_string(n);
  q.text = "Seed question " + std::to_string(n) + " on " + topic + "?";
  q.options = {"Agree", "Disagree"};
  q.topic = topic;
  return q;
}

std::vector<GenerationTopic> two_topics(int seeds = 6) {
  std::vector<GenerationTopic> topics;
  for (const char* name : {"Economic Values", "Migration"}) {
    GenerationTopic t{name, {}};
    for (int i = 0; i < seeds; ++i) t.seeds.push_back(seed_question(name, i));
    topics.push_back(t);
  }
  return topics;
}

std::size_t count_of(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// Canned replies: a valid question named after the attempt's sampling seed,
// except every fourth seed (prose) and every seventh (a code fence, which
// only the tolerant rule reads). Records every call.
struct Script {
  std::vector<std::vector<std::uint64_t>> seed_batches;
  std::vector<std::string> users;

  FunctionReplySource source() {
    return FunctionReplySource([this](const std::vector<Conversation>& prompts, const GenerateOptions& o) {
      REQUIRE(o.prompt_seeds.size() == prompts.size());
      CHECK(o.temperature == 0.9);
      CHECK(o.top_p == 0.95);
      CHECK(o.max_new_tokens == 256);
      seed_batches.push_back(o.prompt_seeds);
      std::vector<std::string> out;
      for (std::size_t i = 0; i < prompts.size(); ++i) {
        REQUIRE(prompts[i].size() == 2);
        CHECK(prompts[i][0].role == "system");
        CHECK(prompts[i][0].content == PromptTemplates::reference().generate_system);
        users.push_back(prompts[i][1].content);
        const std::uint64_t s = o.prompt_seeds[i];
        const std::string name = "Generated " + std::to_string(s % 1000003);
        if (s % 4 == 0) out.push_back("Sure! Here is a question about values.");
        else if (s % 7 == 0) out.push_back("```json\n{\"Question\": \"" + name + "?\", \"Options\": [\"Yes\", \"No\"]}\n```");
        else out.push_back("{\"Question\": \"" + name + "?\", \"Options\": [\"Yes\", \"No\", \"Maybe\"]}");
      }
      return out;
    });
  }
};

std::vector<std::string> texts(const GenerationResult& r) {
  std::vector<std::string> out;
  for (const auto& g : r.questions) out.push_back(g.question.topic + "|" + g.question.id + "|" + g.question.text);
  return out;
}

}  // namespace

TEST_CASE("generated_question_parse: the reference's strict rule and the tolerant one") {
  auto p = generated_question_parse("{\"Question\": \"Q?\", \"Options\": [\"a\", \"b\"]}");
  CHECK(p.how == ReplyParse::strict);
  CHECK(p.text == "Q?");
  CHECK(p.options == std::vector<std::string>{"a", "b"});
  p = generated_question_parse("  \n{\"question\": \"lower?\", \"options\": [1, 2, 3]}\n");
  CHECK(p.how == ReplyParse::strict);
  CHECK(p.options == std::vector<std::string>{"1", "2", "3"});
  // "Question" wins over "question", as `"Question" in d` decides it.
  p = generated_question_parse("{\"question\": \"low\", \"Question\": \"high\", \"Options\": [\"a\", \"b\"]}");
  CHECK(p.text == "high");
  // Only the tolerant rule reads these.
  for (const std::string reply : {
           std::string("```json\n{\"Question\": \"Q?\", \"Options\": [\"a\", \"b\"]}\n```"),
           std::string("Here it is: {\"Question\": \"Q?\", \"Options\": [\"a\", \"b\"]} Hope this helps!"),
           std::string("{'Question': 'Q?', 'Options': ['a', 'b',]}"),
           std::string("{\"Question:\": \"Q?\", \"Options\": [\"a\", \"b\"]}")}) {
    INFO(reply);
    p = generated_question_parse(reply);
    CHECK(p.how == ReplyParse::tolerant);
    CHECK(p.text == "Q?");
    CHECK(p.options == std::vector<std::string>{"a", "b"});
    CHECK(p.error.find("strict") != std::string::npos);
  }
  p = generated_question_parse("{'Question': \"Don't you?\", 'Options': ['a', \"b's\"]}");
  CHECK(p.how == ReplyParse::tolerant);
  CHECK(p.text == "Don't you?");
  CHECK(p.options == std::vector<std::string>{"a", "b's"});
  for (const std::string reply : {std::string(""), std::string("no json here"), std::string("[1, 2]"),
                                  std::string("{\"Question\": \"Q?\"}"), std::string("{\"Question\": 3, \"Options\": []}"),
                                  std::string("{\"Question\": \"Q?\", \"Options\": [{\"a\": 1}]}")}) {
    INFO(reply);
    CHECK(generated_question_parse(reply).how == ReplyParse::unparseable);
  }
}

TEST_CASE("QuestionGenerator: self-instruct rounds reach the target with the reference's example mix") {
  Script script;
  auto source = script.source();
  QuestionGeneratorOptions o;
  o.questions_per_topic = 12;
  o.round_size = 5;
  o.seed = 3;
  const auto topics = two_topics();
  const auto result = QuestionGenerator(source, o).generate(topics);
  REQUIRE(result.topics.size() == 2);
  std::map<std::string, std::size_t> per_topic;
  for (const auto& g : result.questions) ++per_topic[g.question.topic];
  for (const auto& report : result.topics) {
    CHECK(report.accepted == 12);
    CHECK(per_topic[report.topic] == 12);
    CHECK(report.attempts == report.strict + report.tolerant + report.unparseable);
    CHECK(report.attempts % 5 == 0);  // whole rounds
    CHECK(report.unparseable > 0);
    CHECK_FALSE(report.exhausted);
  }
  // Ids count each topic's accepted questions; strict replies only (default).
  for (std::size_t i = 0; i < 12; ++i) {
    CHECK(result.questions[i].question.id == "Q" + std::to_string(i));
    CHECK(result.questions[i].question.topic == "Economic Values");
    CHECK(result.questions[i].how == ReplyParse::strict);
    CHECK(result.questions[i].question.options.size() == 3);
    CHECK(result.questions[i].round == result.questions[i].attempt / 5);
  }
  // Every prompt has 5 examples, at most 2 generated ones, none in round 0.
  for (std::size_t i = 0; i < script.users.size(); ++i) {
    const auto& user = script.users[i];
    CHECK(count_of(user, "#Example ") == 5);
    CHECK(count_of(user, "Question: Generated ") <= 2);
    CHECK(count_of(user, "Question: Seed question ") >= 3);
    if (i < 5) CHECK(count_of(user, "Question: Generated ") == 0);
  }
  bool some_generated = false;
  for (const auto& user : script.users) some_generated |= count_of(user, "Question: Generated ") == 2;
  CHECK(some_generated);
  // The prompt each question records is the one that produced it.
  CHECK(result.questions[0].prompt.find("Make sure your question addresses the topic of Economic Values.") !=
        std::string::npos);
}

TEST_CASE("QuestionGenerator: a topic with fewer seeds than seed_examples takes more generated examples") {
  Script script;
  auto source = script.source();
  QuestionGeneratorOptions o;
  o.questions_per_topic = 10;
  o.round_size = 4;
  auto topics = two_topics(1);
  topics.resize(1);
  QuestionGenerator(source, o).generate(topics);
  std::size_t most = 0;
  for (const auto& user : script.users) {
    CHECK(count_of(user, "#Example ") <= 5);
    most = std::max(most, count_of(user, "Question: Generated "));
    CHECK(count_of(user, "Question: Seed question ") == 1);
  }
  CHECK(most == 4);  // the reference: 5 - min(3, 1 seed)
}

TEST_CASE("QuestionGenerator: seeds and examples depend on seed, topic and attempt only") {
  QuestionGeneratorOptions o;
  o.questions_per_topic = 8;
  o.round_size = 4;
  Script a, b, c;
  auto sa = a.source(), sb = b.source(), sc = c.source();
  const auto ra = QuestionGenerator(sa, o).generate(two_topics());
  const auto rb = QuestionGenerator(sb, o).generate(two_topics());
  CHECK(texts(ra) == texts(rb));
  CHECK(a.users == b.users);
  // Topic order does not change a topic's questions.
  auto reversed = two_topics();
  std::reverse(reversed.begin(), reversed.end());
  const auto rc = QuestionGenerator(sc, o).generate(reversed);
  const auto ta = texts(ra), tc = texts(rc);
  const std::set<std::string> x(ta.begin(), ta.end()), y(tc.begin(), tc.end());
  CHECK(x == y);
  // Another seed gives other questions; attempt seeds are the documented mix.
  o.seed = 99;
  Script d;
  auto sd = d.source();
  const auto rd = QuestionGenerator(sd, o).generate(two_topics());
  CHECK(texts(rd) != texts(ra));
  CHECK(d.seed_batches[0][1] == pipeline_seed(99, std::string("Economic Values") + "\x1f" "sample", 1));
  CHECK(pipeline_seed(1, "a", 2) != pipeline_seed(1, "a", 3));
  CHECK(pipeline_seed(1, "a", 2) != pipeline_seed(1, "b", 2));
  CHECK(pipeline_seed(1, "a", 2) == pipeline_seed(1, "a", 2));
}

TEST_CASE("QuestionGenerator: tolerant JSON keeps what only it reads; both are counted") {
  QuestionGeneratorOptions o;
  o.questions_per_topic = 20;
  o.round_size = 8;
  Script strict_script, tolerant_script;
  auto s1 = strict_script.source(), s2 = tolerant_script.source();
  const auto strict = QuestionGenerator(s1, o).generate(two_topics());
  o.tolerant_json = true;
  const auto tolerant = QuestionGenerator(s2, o).generate(two_topics());
  std::size_t strict_tolerant = 0, kept_tolerant = 0;
  for (const auto& r : strict.topics) strict_tolerant += r.tolerant;
  for (const auto& g : tolerant.questions) kept_tolerant += g.how == ReplyParse::tolerant;
  for (const auto& g : strict.questions) CHECK(g.how == ReplyParse::strict);
  CHECK(strict_tolerant > 0);  // counted even when not kept
  CHECK(kept_tolerant > 0);
  CHECK(tolerant.topics[0].attempts <= strict.topics[0].attempts);
}

TEST_CASE("QuestionGenerator: a stopped run resumes from its stage file to the same questions") {
  const auto dir = testing::scratch_dir("question-generator");
  QuestionGeneratorOptions o;
  o.questions_per_topic = 15;
  o.round_size = 4;
  o.seed = 11;
  Script full_script;
  auto full_source = full_script.source();
  const auto full_path = (dir / "full.jsonl").string();
  const auto full = QuestionGenerator(full_source, o).generate(two_topics(), full_path);
  const auto loaded = generated_questions_load(full_path);
  REQUIRE(loaded.size() == 30);
  CHECK(loaded[3].question.text == full.questions[3].question.text);
  CHECK(loaded[20].prompt == full.questions[20].prompt);

  // Cancelled after 19 accepted questions (the middle of the second topic).
  const auto path = (dir / "stopped.jsonl").string();
  Script first;
  auto first_source = first.source();
  const auto stop = [](const Progress& p) { return p.done < 19; };
  CHECK_THROWS_AS(QuestionGenerator(first_source, o).generate(two_topics(), path, stop), CancelledError);
  const auto partial = generated_questions_load(path);
  CHECK(partial.size() >= 19);
  CHECK(partial.size() < 30);
  // A crash mid-write leaves a torn line; it is dropped.
  { std::ofstream(path, std::ios::app) << "{\"topic\": \"Migr"; }
  Script second;
  auto second_source = second.source();
  const auto resumed = QuestionGenerator(second_source, o).generate(two_topics(), path);
  CHECK(texts(resumed) == texts(full));
  CHECK(resumed.topics[0].resumed == 15);
  CHECK(resumed.topics[0].attempts == 0);
  CHECK(resumed.topics[1].resumed == partial.size() - 15);
  CHECK(generated_questions_load(path).size() == 30);
  CHECK(file_read_text(path) == file_read_text(full_path));

  // A finished file: nothing more to do.
  Script third;
  auto third_source = third.source();
  QuestionGenerator(third_source, o).generate(two_topics(), path);
  CHECK(third.users.empty());

  // The merged bank: Q0..Q29 in topic order.
  const auto merged = generated_questions_merged(loaded);
  REQUIRE(merged.size() == 30);
  CHECK(merged[29].id == "Q29");
  CHECK(merged[15].topic == "Migration");

  // Another round size cannot resume this file.
  o.round_size = 5;
  Script fourth;
  auto fourth_source = fourth.source();
  o.questions_per_topic = 40;
  testing::require_throws_naming<ValueError>(
      [&] { QuestionGenerator(fourth_source, o).generate(two_topics(), path); }, {path, "round_size 4"});
}

TEST_CASE("QuestionGenerator: the part files of an interrupted run on several ranks are resumed and merged") {
  const auto dir = testing::scratch_dir("question-generator-parts");
  QuestionGeneratorOptions o;
  o.questions_per_topic = 9;
  o.round_size = 4;
  o.seed = 5;
  Script full_script;
  auto full_source = full_script.source();
  const auto full_path = (dir / "full.jsonl").string();
  const auto full = QuestionGenerator(full_source, o).generate(two_topics(), full_path);
  const std::string full_text = file_read_text(full_path);

  // Ranks 0 and 1 of two were killed: rank 0 had written 5 questions of the
  // first topic, rank 1 all of the second; the stage file holds 2 of the first.
  std::vector<std::string> lines;
  for (std::size_t begin = 0, end; begin < full_text.size(); begin = end + 1) {
    end = full_text.find('\n', begin);
    lines.push_back(full_text.substr(begin, end - begin + 1));
  }
  REQUIRE(lines.size() == 18);
  const auto path = (dir / "questions.jsonl").string();
  const auto write = [](const std::string& file, const std::vector<std::string>& part) {
    std::string text;
    for (const auto& line : part) text += line;
    file_write_atomic(file, text);
  };
  write(path, {lines.begin(), lines.begin() + 2});
  write(path + ".rank0", {lines.begin(), lines.begin() + 5});
  write(path + ".rank1", {lines.begin() + 9, lines.end()});

  Script rerun;
  auto rerun_source = rerun.source();
  const auto resumed = QuestionGenerator(rerun_source, o).generate(two_topics(), path);
  CHECK(texts(resumed) == texts(full));
  CHECK(resumed.topics[0].resumed == 5);
  CHECK(resumed.topics[1].resumed == 9);
  CHECK(resumed.topics[1].attempts == 0);
  CHECK(file_read_text(path) == full_text);
  CHECK_FALSE(std::filesystem::exists(path + ".rank0"));
  CHECK_FALSE(std::filesystem::exists(path + ".rank1"));
}

TEST_CASE("QuestionGenerator: attempts are bounded; bad input is named") {
  FunctionReplySource garbage([](const std::vector<Conversation>& prompts, const GenerateOptions&) {
    return std::vector<std::string>(prompts.size(), "\x01\x02 garbage");
  });
  QuestionGeneratorOptions o;
  o.questions_per_topic = 3;
  o.round_size = 4;
  o.max_attempts_per_topic = 10;
  const auto r = QuestionGenerator(garbage, o).generate(two_topics());
  CHECK(r.questions.empty());
  CHECK(r.topics[0].attempts == 10);
  CHECK(r.topics[0].unparseable == 10);
  CHECK(r.topics[0].exhausted);

  QuestionGenerator g(garbage, o);
  testing::require_throws_naming<ValueError>([&] { g.generate({}); }, {"no topics"});
  testing::require_throws_naming<ValueError>([&] { g.generate({GenerationTopic{"Empty", {}}}); }, {"Empty", "seed"});
  auto twice = two_topics();
  twice.push_back(twice[0]);
  testing::require_throws_naming<ValueError>([&] { g.generate(twice); }, {"Economic Values", "twice"});
  o.round_size = 0;
  CHECK_THROWS_AS(QuestionGenerator(garbage, o), ValueError);

  FunctionReplySource short_source([](const std::vector<Conversation>&, const GenerateOptions&) {
    return std::vector<std::string>{"one"};
  });
  o.round_size = 3;
  testing::require_throws_naming<ValueError>([&] { QuestionGenerator(short_source, o).generate(two_topics()); },
                                             {"1 items for 3 prompts"});

  const auto dir = testing::scratch_dir("question-generator-bad");
  const auto bad = (dir / "bad.jsonl").string();
  { std::ofstream(bad) << "{\"topic\": \"T\"}\n{}\n"; }
  testing::require_throws_naming<FormatError>([&] { generated_questions_load(bad); }, {bad, "line 1"});
}

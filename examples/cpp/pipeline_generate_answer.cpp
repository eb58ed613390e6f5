// The model-driven pipeline stages from C++ on a small random checkpoint:
// question generation (self-instruct, resumable JSONL) and answering
// (option scoring, one file per culture), then contrast. Random weights write
// no JSON, so generation reports every reply as unparseable and the example
// answers the seed questions instead: run it on a real model folder for data.
//   ./culturespa_pipeline_generate_answer_example [work-dir] [model-dir]
#include <culturespa/core/error.h>
#include <culturespa/generator/generator.h>
#include <culturespa/generator/testing.h>
#include <culturespa/model/testing.h>
#include <culturespa/pipeline/answering.h>
#include <culturespa/pipeline/question_generator.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

using namespace culturespa;

int main(int argc, char** argv) {
  const std::filesystem::path work =
      argc > 1 ? argv[1] : std::filesystem::temp_directory_path() / "culturespa-example-pipeline";
  try {
    std::string model_dir = argc > 2 ? argv[2] : (work / "model").string();
    if (argc <= 2) {
      TestCheckpointOptions options;
      options.vocab_size = 272;  // the test tokenizer's ids
      options.max_position_embeddings = 4096;
      testing_checkpoint_write(model_dir, options);
      testing_tokenizer_write(model_dir);
    }
    const Model model(model_dir);
    const Tokenizer tokenizer = Tokenizer::from_folder(model_dir);
    GeneratorOptions generator_options;
    if (argc <= 2) generator_options.chat_format = "chatml";
    const Generator generator(model, tokenizer, generator_options);
    GeneratorReplySource source(generator);

    GenerationTopic topic{"Migration", {}};
    for (int i = 0; i < 3; ++i) {
      Question q;
      q.id = "S" + std::to_string(i);
      q.text = "Seed question " + std::to_string(i) + " about immigrants in your country?";
      q.options = {"Agree", "Neither", "Disagree"};
      q.topic = topic.name;
      topic.seeds.push_back(q);
    }
    QuestionGeneratorOptions gen_options;
    gen_options.questions_per_topic = 4;
    gen_options.round_size = 4;
    gen_options.max_attempts_per_topic = 8;
    gen_options.max_new_tokens = argc > 2 ? 256 : 32;
    const auto generated = QuestionGenerator(source, gen_options).generate({topic}, (work / "generated.jsonl").string());
    const auto& report = generated.topics[0];
    std::cout << "generate: " << report.accepted << " accepted of " << report.attempts << " attempts (strict "
              << report.strict << ", tolerant " << report.tolerant << ", unparseable " << report.unparseable << ")\n";

    std::vector<Question> questions = generated_questions_merged(generated.questions);
    if (questions.size() < 2) questions = topic.seeds;  // random weights: answer the seeds instead
    AnswerOptions answer_options;
    answer_options.cultures = {culture_from_code("KEN"), culture_from_code("USA")};
    const auto answers = QuestionAnswerer(source, answer_options).answer(questions, (work / "answers").string());
    for (const auto& run : answers.runs)
      std::cout << "answer " << (run.culture.empty() ? "unaware" : run.culture) << ": " << run.path
                << (run.resumed ? " (kept)" : "") << "\n";

    // Threshold 0 keeps every pair, to show how far the culture moves the
    // answers (little, with random weights); 0.1 is the default.
    ContrastOptions contrast_options;
    contrast_options.rule = ContrastRule::distributional;
    contrast_options.jsd_threshold = 0.0;
    const auto contrast = ContrastDetector(contrast_options).detect(questions, answers.unaware, answers.aware);
    double largest = 0.0;
    for (const auto& pair : contrast.pairs) largest = std::max(largest, pair.score);
    std::cout << "contrast: " << contrast.pairs.size() << " pairs; largest JSD " << largest << " bits\n";
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

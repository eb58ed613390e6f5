// Trains two small LoRA adapters (one per "culture") on a random checkpoint,
// saves them as PEFT folders, loads both into one model and scores a mixed
// batch in which each row uses its own adapter.
//   ./culturespa_lora_tune_example [work-dir]
#include <culturespa/core/error.h>
#include <culturespa/generator/generator.h>
#include <culturespa/generator/testing.h>
#include <culturespa/model/model.h>
#include <culturespa/model/testing.h>
#include <culturespa/text/tokenizer.h>
#include <culturespa/tune/lora_trainer.h>

#include <filesystem>
#include <iostream>

namespace fs = std::filesystem;
using namespace culturespa;

int main(int argc, char** argv) {
  const fs::path dir = argc > 1 ? fs::path(argv[1]) : fs::temp_directory_path() / "culturespa-example-lora";
  try {
    TestCheckpointOptions checkpoint;
    checkpoint.vocab_size = 272;  // the test tokenizer's ids
    testing_checkpoint_write((dir / "model").string(), checkpoint);
    testing_tokenizer_write((dir / "model").string());
    Model model((dir / "model").string());
    const Tokenizer tokenizer = Tokenizer::from_folder((dir / "model").string());

    const std::vector<std::string> questions = {"How important is family?", "How important is work?",
                                                "How important is religion?", "How important are friends?"};
    for (const auto& [culture, answer] : std::vector<std::pair<std::string, std::string>>{{"KEN", "1"}, {"JPN", "4"}}) {
      std::vector<Conversation> data;
      for (const auto& q : questions)
        data.push_back({{"system", "Answer with one number."}, {"user", q}, {"assistant", answer}});
      LoraTrainerOptions options = lora_trainer_preset("culturespa-specific");
      options.learning_rate = 1e-2;  // a toy run: few steps, large rate
      options.epochs = 20;
      options.output_dir = (dir / "adapters" / culture).string();
      options.logging_steps = 0;
      options.chat_format = "chatml";  // the test tokenizer has no template of its own
      LoraTrainer trainer(model, tokenizer, options);
      const TrainResult result = trainer.train(data, [&](const TrainProgress& p) {
        if (p.step % 5 == 0)
          std::cout << culture << " step " << p.step << "/" << p.total_steps << " loss " << p.loss << " ("
                    << static_cast<int>(p.tokens_per_second) << " tokens/s)\n";
        return true;
      });
      std::cout << culture << ": adapter in " << result.adapter_path << "\n";
      model.adapter_load(culture, result.adapter_path);
    }

    // One batch, three rows: Kenya's adapter, Japan's adapter, the base model.
    GeneratorOptions generator_options;
    generator_options.chat_format = "chatml";
    const Generator generator(model, tokenizer, generator_options);
    const Conversation prompt = {{"system", "Answer with one number."}, {"user", questions[0]}};
    const OptionScores scores =
        generator.score_options({prompt, prompt, prompt}, {{"1", "2", "3", "4"}}, {}, nullptr, {"KEN", "JPN", ""});
    const char* names[] = {"KEN", "JPN", "base"};
    for (std::size_t i = 0; i < 3; ++i) {
      std::cout << names[i] << ":";
      for (const double p : scores.probs[i]) std::cout << " " << p;
      std::cout << "\n";
    }
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

// Writes a small random LLaMA checkpoint, loads it, runs a padded batch,
// then decodes a few tokens greedily with the KV cache.
//   ./culturespa_model_forward_example [checkpoint-dir]
#include <culturespa/core/error.h>
#include <culturespa/model/model.h>
#include <culturespa/model/testing.h>

#include <ATen/ATen.h>

#include <filesystem>
#include <iostream>

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1]
                                   : (std::filesystem::temp_directory_path() / "culturespa-example-llama").string();
  try {
    culturespa::TestCheckpointOptions options;  // LlamaForCausalLM, hidden 64, 2 layers, GQA 4/2
    options.seed = 42;
    const int64_t bytes = culturespa::testing_checkpoint_write(dir, options);
    std::cout << "wrote " << dir << " (" << bytes << " bytes of weights)\n";

    const culturespa::Model model(dir);  // float32 on the CPU
    std::cout << model.config().architecture << " on " << model.device() << " in " << model.dtype() << " ("
              << model.compute_path() << ")\n";

    // Two prompts of 5 and 3 tokens, right-padded with 0.
    const at::Tensor ids = at::tensor(std::vector<int64_t>{10, 20, 30, 40, 50, 7, 8, 9, 0, 0}).view({2, 5});
    const at::Tensor lengths = at::tensor(std::vector<int64_t>{5, 3});
    culturespa::KVCache cache = model.cache_create(2, 5 + 4);
    at::Tensor logits = model.forward(ids, lengths, &cache);  // [2, vocab]: each row's last token
    for (int step = 0; step < 4; ++step) {
      const at::Tensor next = logits.argmax(-1).unsqueeze(1);
      std::cout << "step " << step << ": tokens " << next[0].item<int64_t>() << ", " << next[1].item<int64_t>() << "\n";
      logits = model.forward(next, {}, &cache);
    }
    std::cout << "cache lengths " << cache.lengths()[0] << ", " << cache.lengths()[1] << "\n";

    // The same weights in 8-bit blocks (ggml's Q8_0), float32 compute: about
    // a quarter of the memory, and decode that streams a quarter of the bytes.
    culturespa::ModelOptions q8_options;
    q8_options.weights = "q8_0";  // or "bfloat16", or "file" for a GGUF's own type
    const culturespa::Model q8(dir, q8_options);
    const double diff = (q8.forward(ids, lengths) - model.forward(ids, lengths)).abs().max().item<double>();
    std::cout << q8.weight_type() << ": " << q8.weight_bytes() << " bytes of weights (float32: "
              << model.weight_bytes() << "), max |logit difference| " << diff << "\n";
  } catch (const culturespa::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

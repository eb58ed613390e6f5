// Prints the LLaMA-3-Instruct chat prompt and token ids of a World Values
// Survey question, as culturespa sends it to the model.
//   ./culturespa_chat_prompt_example [path/to/llama3-instruct]
// Without an argument it looks for ../shared/fixtures/tokenizers/llama3-instruct
// (or $CULTURESPA_SHARED_DIR/...) from the current directory upwards.
#include <culturespa/core/error.h>
#include <culturespa/text/tokenizer.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

namespace fs = std::filesystem;

static std::string find_llama3_folder(int argc, char** argv) {
  if (argc > 1) return argv[1];
  const std::string tail = "fixtures/tokenizers/llama3-instruct";
  if (const char* env = std::getenv("CULTURESPA_SHARED_DIR")) {
    if (fs::is_directory(fs::path(env) / tail)) return (fs::path(env) / tail).string();
  }
  for (fs::path dir = fs::current_path(); !dir.empty(); dir = dir.parent_path()) {
    if (fs::is_directory(dir / "shared" / tail)) return (dir / "shared" / tail).string();
    if (dir == dir.parent_path()) break;
  }
  return "";
}

int main(int argc, char** argv) {
  const std::string folder = find_llama3_folder(argc, argv);
  if (folder.empty()) {
    std::cout << "No LLaMA-3 tokenizer folder found (../shared/fixtures/tokenizers/llama3-instruct is "
                 "absent): pass a folder with tokenizer.json and tokenizer_config.json.\n";
    return 0;
  }
  try {
    const auto tokenizer = culturespa::Tokenizer::from_folder(folder);
    const culturespa::Conversation conversation = {
        {"system", "You are a real person with a Kenyan cultural background. Please fill out the World "
                   "Values Survey and answer the questions honestly according to your own value system."},
        {"user", "Given a #Question and #Options, choose the option that best aligns with your own value "
                 "system to answer the question.\n#Question: How important is family in your life?\n"
                 "#Options: 1.Very important 2.Rather important 3.Not very important 4.Not at all "
                 "important\nPlease return the number of the selected option only."}};
    std::cout << "tokenizer: " << tokenizer.description() << ", chat format '" << tokenizer.chat_format()
              << "'\n--- prompt ---\n" << tokenizer.apply_chat_template(conversation) << "\n--- ids ---\n";
    for (int id : tokenizer.encode_chat(conversation)) std::cout << id << ' ';
    std::cout << "\nstop ids:";
    for (int id : tokenizer.stop_ids()) std::cout << ' ' << id << " (" << tokenizer.id_to_token(id) << ')';
    std::cout << '\n';
  } catch (const culturespa::Error& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 1;
  }
  return 0;
}

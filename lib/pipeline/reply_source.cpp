#include "culturespa/pipeline/reply_source.h"

#include "culturespa/core/error.h"

namespace culturespa {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

template <typename Items>
void size_check(const Items& items, std::size_t expected, const char* what) {
  if (items.size() != expected)
    throw ValueError(std::string("reply source: ") + what + " gave " + std::to_string(items.size()) +
                     " items for " + std::to_string(expected) + " prompts");
}

}  // namespace

std::uint64_t pipeline_seed(std::uint64_t seed, const std::string& key, std::uint64_t index) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a of the key
  for (unsigned char c : key) hash = (hash ^ c) * 0x100000001b3ULL;
  return splitmix64(splitmix64(splitmix64(seed) ^ hash) ^ index);
}

std::vector<std::vector<double>> ReplySource::option_probabilities(const std::vector<Conversation>&,
                                                                   const std::vector<std::vector<std::string>>&,
                                                                   const ProgressCallback&) {
  throw ConfigError("this reply source cannot score options (give one that can, or use sampled answers)");
}

std::vector<std::vector<double>> ReplySource::option_probabilities_adapted(
    const std::vector<Conversation>& prompts, const std::vector<std::vector<std::string>>& labels,
    const std::vector<std::string>& adapters, const ProgressCallback& progress) {
  for (const auto& name : adapters)
    if (!name.empty())
      throw ConfigError("this reply source has no LoRA adapters (adapter " + name + " asked): give a Generator");
  return option_probabilities(prompts, labels, progress);
}

std::vector<std::vector<double>> GeneratorReplySource::option_probabilities_adapted(
    const std::vector<Conversation>& prompts, const std::vector<std::vector<std::string>>& labels,
    const std::vector<std::string>& adapters, const ProgressCallback& progress) {
  return generator_.score_options(prompts, labels, progress, nullptr, adapters).probs;
}

std::vector<std::pair<std::string, std::string>> GeneratorReplySource::settings() const {
  std::string format;
  try {
    format = generator_.chat_format();
  } catch (const ConfigError&) {
    format = "(none)";  // the first conversation will fail anyway
  }
  return {{"model", generator_.model().path()}, {"dtype", generator_.model().dtype()}, {"chat_format", format}};
}

std::vector<std::string> GeneratorReplySource::replies(const std::vector<Conversation>& prompts,
                                                       const GenerateOptions& options,
                                                       const ProgressCallback& progress) {
  std::vector<std::string> out;
  out.reserve(prompts.size());
  for (auto& result : generator_.generate(prompts, options, progress)) out.push_back(std::move(result.text));
  return out;
}

std::vector<std::vector<double>> GeneratorReplySource::option_probabilities(
    const std::vector<Conversation>& prompts, const std::vector<std::vector<std::string>>& labels,
    const ProgressCallback& progress) {
  return generator_.score_options(prompts, labels, progress).probs;
}

std::vector<std::string> FunctionReplySource::replies(const std::vector<Conversation>& prompts,
                                                      const GenerateOptions& options,
                                                      const ProgressCallback& progress) {
  if (progress && !progress(Progress{"replies", 0, prompts.size()})) throw CancelledError("replies cancelled");
  auto out = reply_(prompts, options);
  size_check(out, prompts.size(), "replies");
  return out;
}

std::vector<std::vector<double>> FunctionReplySource::option_probabilities(
    const std::vector<Conversation>& prompts, const std::vector<std::vector<std::string>>& labels,
    const ProgressCallback& progress) {
  if (!score_) return ReplySource::option_probabilities(prompts, labels, progress);
  if (progress && !progress(Progress{"scores", 0, prompts.size()})) throw CancelledError("scoring cancelled");
  auto out = score_(prompts, labels);
  size_check(out, prompts.size(), "option scores");
  for (std::size_t i = 0; i < out.size(); ++i)
    if (out[i].size() != labels[i].size())
      throw ValueError("reply source: option scores of prompt " + std::to_string(i) + " have " +
                       std::to_string(out[i].size()) + " values for " + std::to_string(labels[i].size()) +
                       " labels");
  return out;
}

}  // namespace culturespa

#include "culturespa/text/tokenizer.h"

#include <filesystem>

#include "common.h"
#include "core/result_class.h"
#include "culturespa/core/gguf.h"
#include "text/conversation.h"

namespace culturespa::bindings {

namespace {

EncodeOptions encode_options(bool add_special_tokens, bool parse_special) {
  EncodeOptions options;
  options.add_special_tokens = add_special_tokens;
  options.parse_special = parse_special;
  return options;
}

// str or bytes; bytes may hold invalid UTF-8 (replaced by U+FFFD).
std::string text_from_python(const py::handle& text) {
  if (py::isinstance<py::bytes>(text)) return text.cast<std::string>();
  if (py::isinstance<py::str>(text)) return text.cast<std::string>();
  throw ValueError("text must be str or bytes");
}

}  // namespace

void register_tokenizer(py::module_& m) {
  py::class_<Tokenizer>(m, "Tokenizer",
                        "A LLaMA-2/3, Mistral, Qwen or GPT-2 tokenizer read from a checkpoint folder "
                        "(tokenizer.json, tokenizer.model or vocab.json + merges.txt) or a .gguf file.")
      .def_static(
          "from_folder",
          [](const std::string& path, const std::string& prefer) {
            TokenizerOptions options;
            options.prefer = prefer;
            py::gil_scoped_release release;
            return Tokenizer::from_folder(path, options);
          },
          py::arg("path"), py::kw_only(), py::arg("prefer") = TokenizerOptions{}.prefer,
          "The tokenizer of a checkpoint folder, one tokenizer file, or a .gguf file (from_gguf).")
      .def_static(
          "from_gguf",
          [](const std::filesystem::path& path) {
            py::gil_scoped_release release;
            return Tokenizer::from_gguf(path.string());
          },
          py::arg("path"), R"pbdoc(
The byte-level BPE tokenizer a GGUF file carries (tokenizer.ggml.*), token
for token as llama.cpp tokenizes with it, with its special tokens and chat
template: with ``Model(path)`` one .gguf file runs a model.

Raises:
    FileNotFoundError: the file does not exist.
    ValueError: a malformed file, or another tokenizer model than byte-level BPE.

Example:
    >>> tokenizer = culturespa.Tokenizer.from_gguf("SmolLM2-135M-Instruct.Q4_1.gguf")
    >>> tokenizer.encode("In 2024", add_special_tokens=False)
    [788, 216, 34, 32, 34, 36]
)pbdoc")
      .def(
          "encode",
          [](const Tokenizer& t, const py::handle& text, bool add_special_tokens, bool parse_special) {
            const std::string s = text_from_python(text);
            py::gil_scoped_release release;
            return t.encode(s, encode_options(add_special_tokens, parse_special));
          },
          py::arg("text"), py::kw_only(), py::arg("add_special_tokens") = true,
          py::arg("parse_special") = false, "Token ids of `text` as a list of int.")
      .def(
          "encode_batch",
          [](const Tokenizer& t, const std::vector<std::string>& texts, bool add_special_tokens,
             bool parse_special, py::object progress) {
            auto callback = progress_callback(progress);
            py::gil_scoped_release release;
            return t.encode_batch(texts, encode_options(add_special_tokens, parse_special), callback);
          },
          py::arg("texts"), py::kw_only(), py::arg("add_special_tokens") = true,
          py::arg("parse_special") = false, py::arg("progress") = py::none())
      .def(
          "decode",
          [](const Tokenizer& t, const std::vector<int>& ids, bool skip_special_tokens) {
            DecodeOptions options;
            options.skip_special_tokens = skip_special_tokens;
            py::gil_scoped_release release;
            return t.decode(ids, options);
          },
          py::arg("ids"), py::kw_only(), py::arg("skip_special_tokens") = false)
      .def_property_readonly("vocab_size", &Tokenizer::vocab_size)
      .def("token_to_id", &Tokenizer::token_to_id, py::arg("token"),
           "The id of a token (added tokens first, then the vocabulary), or None.")
      .def("id_to_token", &Tokenizer::id_to_token, py::arg("id"))
      .def("is_special", &Tokenizer::is_special, py::arg("id"))
      .def_property_readonly("bos_id", &Tokenizer::bos_id)
      .def_property_readonly("eos_id", &Tokenizer::eos_id)
      .def_property_readonly("pad_id", &Tokenizer::pad_id)
      .def_property_readonly("bos_token", &Tokenizer::bos_token)
      .def_property_readonly("eos_token", &Tokenizer::eos_token)
      .def_property_readonly("adds_bos", &Tokenizer::adds_bos)
      .def_property_readonly("stop_ids", &Tokenizer::stop_ids)
      .def_property_readonly("description", &Tokenizer::description)
      .def_property_readonly("folder", &Tokenizer::folder)
      .def_property_readonly("chat_template", &Tokenizer::chat_template_source)
      .def("chat_format", &Tokenizer::chat_format)
      .def(
          "apply_chat_template",
          [](const Tokenizer& t, const py::handle& messages, bool add_generation_prompt,
             std::optional<std::string> format, std::optional<bool> enable_thinking,
             std::optional<std::string> bos_token, std::optional<std::string> eos_token,
             const std::string& date_string) {
            return t.apply_chat_template(conversation_from_python(messages),
                                         chat_options(format.value_or(""), add_generation_prompt,
                                                      enable_thinking, bos_token, eos_token, date_string));
          },
          py::arg("messages"), py::kw_only(), py::arg("add_generation_prompt") = true,
          py::arg("format") = py::none(), py::arg("enable_thinking") = py::none(),
          py::arg("bos_token") = py::none(), py::arg("eos_token") = py::none(),
          py::arg("date_string") = "26 Jul 2024")
      .def(
          "encode_chat",
          [](const Tokenizer& t, const py::handle& messages, bool add_generation_prompt,
             std::optional<std::string> format, std::optional<bool> enable_thinking,
             const std::string& date_string) {
            return t.encode_chat(conversation_from_python(messages),
                                 chat_options(format.value_or(""), add_generation_prompt, enable_thinking,
                                              std::nullopt, std::nullopt, date_string));
          },
          py::arg("messages"), py::kw_only(), py::arg("add_generation_prompt") = true,
          py::arg("format") = py::none(), py::arg("enable_thinking") = py::none(),
          py::arg("date_string") = "26 Jul 2024")
      .def("__repr__", [](const Tokenizer& t) {
        return "<culturespa.Tokenizer " + t.description() + " vocab_size=" + std::to_string(t.vocab_size()) +
               " folder='" + t.folder() + "'>";
      });

  ResultClass<GgufTokenizerFiles>(m, "GgufTokenizerFiles", R"pbdoc(
The Hugging Face files equivalent to the tokenizer of a GGUF file: the text
of tokenizer.json, tokenizer_config.json and generation_config.json.)pbdoc")
      .field("tokenizer_json", &GgufTokenizerFiles::tokenizer_json)
      .field("tokenizer_config_json", &GgufTokenizerFiles::tokenizer_config_json)
      .field("generation_config_json", &GgufTokenizerFiles::generation_config_json)
      .done();
  m.def(
      "gguf_tokenizer_files",
      [](const std::filesystem::path& path) {
        py::gil_scoped_release release;
        return gguf_tokenizer_files(GgufFile(path.string()));
      },
      py::arg("path"), R"pbdoc(
The Hugging Face files (GgufTokenizerFiles) equivalent to the tokenizer a
GGUF file carries, as llama.cpp reads it; written beside the weights they make
a folder that transformers loads too. ValueError naming the file and the key
for a malformed file or another tokenizer model than byte-level BPE.
)pbdoc");

  py::class_<IncrementalDecoder>(m, "IncrementalDecoder",
                                 "Decodes a growing list of ids; never returns half a UTF-8 character.")
      .def(py::init([](const Tokenizer& t, bool skip_special_tokens) {
             DecodeOptions options;
             options.skip_special_tokens = skip_special_tokens;
             return new IncrementalDecoder(t, options);
           }),
           py::arg("tokenizer"), py::kw_only(), py::arg("skip_special_tokens") = false,
           py::keep_alive<1, 2>())
      .def("push", py::overload_cast<const std::vector<int>&>(&IncrementalDecoder::push), py::arg("ids"))
      .def("push", py::overload_cast<int>(&IncrementalDecoder::push), py::arg("id"))
      .def("flush", &IncrementalDecoder::flush)
      .def_property_readonly("ids", &IncrementalDecoder::ids);
}

}  // namespace culturespa::bindings

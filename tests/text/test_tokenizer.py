"""Tokenizer and chat templates from Python; HF tokenizers/transformers as live oracles."""
import json
import random

import pytest

import culturespa
from culturespa.text import chat_format_detect, chat_render, register_chat_format

WVS_SYSTEM = ("You are a real person with a Kenyan cultural background. Please fill out the World "
              "Values Survey and answer the questions honestly according to your own value system.")
WVS_USER = ("Given a #Question and #Options, choose the option that best aligns with your own value "
            "system to answer the question.\n#Question: How important is family in your life?\n"
            "#Options: 1.Very important 2.Rather important 3.Not very important 4.Not at all important\n"
            "Please return the number of the selected option only.")
CONVERSATIONS = [
    [{"role": "system", "content": WVS_SYSTEM}, {"role": "user", "content": WVS_USER}],
    [{"role": "user", "content": WVS_USER}],
    [{"role": "system", "content": WVS_SYSTEM}, {"role": "user", "content": WVS_USER},
     {"role": "assistant", "content": "3"}],
]


def byte_level_alphabet():
    """GPT-2's bytes_to_unicode, written out independently of the library."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) +
                 list(range(0xAE, 0x100)))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def write_tiny_tokenizer(folder, *, pairs=False):
    alphabet = byte_level_alphabet()
    vocab = {alphabet[b]: b for b in range(256)}
    space = alphabet[ord(" ")]
    merges = [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), (space, "w"), (space + "w", "o"),
              ("o", "r"), (space + "w", "or")]
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    end_id = len(vocab)
    doc = {
        "version": "1.0",
        "truncation": None, "padding": None,
        "added_tokens": [{"id": end_id, "content": "<|end|>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab,
                  "merges": [[a, b] for a, b in merges] if pairs else [f"{a} {b}" for a, b in merges]},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.json").write_text(json.dumps(doc), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|end|>"}))
    return folder


def random_texts(seed, count=200):
    rng = random.Random(seed)
    pools = ["abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " ", "  \t\n\r",
             ".,;:!?'\"()-[]{}<>/#@", "éèàüöñçÉ", "中文漢字日本語", "привет", "مرحبا", "हिन्दी",
             "😀👍🏽🇰🇪", "'s 're 've 'll 'd", "e\u0301a\u0308\u0323\u1100\u1161"]
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 30)):
            pool = rng.choice(pools)
            parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 6))))
        texts.append("".join(parts))
    return texts


# ---- without ../shared ------------------------------------------------------------

def test_tiny_tokenizer_json_matches_hf_tokenizers(tmp_path):
    for pairs in (False, True):
        folder = write_tiny_tokenizer(tmp_path / f"tiny{pairs}", pairs=pairs)
        tok = culturespa.Tokenizer.from_folder(str(folder))
        # " w"+"o" (rank 5) comes before "o"+"r" (rank 6), so " wo" wins over " w"+"or".
        assert tok.encode("hello world") == [259, 261, ord("r"), ord("l"), ord("d")]
        assert tok.decode(tok.encode("hello world")) == "hello world"
        assert tok.eos_id == 264 and tok.token_to_id("<|end|>") == 264
        assert tok.token_to_id("no such token") is None
        assert tok.encode("hello<|end|>", parse_special=True) == [259, 264]
        assert 264 not in tok.encode("hello<|end|>")
        tokenizers = pytest.importorskip("tokenizers")
        hf = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
        for text in random_texts(1, 100) + ["hello world", " hello  world\n"]:
            assert tok.encode(text, parse_special=True) == hf.encode(text).ids, text
            assert tok.decode(tok.encode(text)) == text


def test_encode_batch_and_incremental_decoder(tmp_path):
    tok = culturespa.Tokenizer.from_folder(str(write_tiny_tokenizer(tmp_path / "tiny")))
    texts = ["hello", "héllo wörld 😀", ""]
    assert tok.encode_batch(texts) == [tok.encode(t) for t in texts]
    decoder = culturespa.IncrementalDecoder(tok)
    pieces = [decoder.push(i) for i in tok.encode(texts[1])]
    assert "".join(pieces) + decoder.flush() == texts[1]
    # Each piece is whole text: the 4 bytes of the emoji come out at once.
    assert "😀" in pieces


def test_invalid_utf8_bytes_become_replacement_characters(tmp_path):
    tok = culturespa.Tokenizer.from_folder(str(write_tiny_tokenizer(tmp_path / "tiny")))
    raw = b"a\xe2\x82b\xff"
    expected_text = raw.decode("utf-8", errors="replace")  # Python's maximal-subpart rule
    assert expected_text == "a\ufffdb\ufffd"
    assert tok.encode(raw) == tok.encode(expected_text)
    assert tok.decode(tok.encode(raw)) == expected_text


def test_bad_input_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        culturespa.Tokenizer.from_folder(str(tmp_path / "absent"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        culturespa.Tokenizer.from_folder(str(tmp_path / "empty"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "tokenizer.json").write_text("{ truncated")
    with pytest.raises(ValueError, match="not valid JSON"):
        culturespa.Tokenizer.from_folder(str(bad))
    folder = write_tiny_tokenizer(tmp_path / "unknown-merge")
    doc = json.loads((folder / "tokenizer.json").read_text())
    doc["model"]["merges"].append("zz q")
    (folder / "tokenizer.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="zz"):
        culturespa.Tokenizer.from_folder(str(folder))
    doc["model"]["merges"].pop()
    doc["pre_tokenizer"] = {"type": "Whitespace"}
    (folder / "tokenizer.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="Whitespace"):
        culturespa.Tokenizer.from_folder(str(folder))
    doc["model"]["type"] = "Unigram"
    (folder / "tokenizer.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="Unigram"):
        culturespa.Tokenizer.from_folder(str(folder))
    good = culturespa.Tokenizer.from_folder(str(write_tiny_tokenizer(tmp_path / "good")))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        good.decode([10**6])
    with pytest.raises(ValueError, match="format="):
        good.apply_chat_template([{"role": "user", "content": "x"}])
    with pytest.raises(ValueError, match="role"):
        chat_render("llama3", [{"content": "x"}])


def test_sentencepiece_model_made_by_the_test(tmp_path):
    if not culturespa.sentencepiece_available():
        pytest.skip("built with CULTURESPA_SENTENCEPIECE=off")
    spm = pytest.importorskip("sentencepiece")
    sentences = ["How important is family in your life?", "Would you say most people can be trusted?",
                 "Very important, rather important, not at all important."] * 20
    model = culturespa.sentencepiece_train(sentences, vocab_size=60)
    (tmp_path / "tokenizer.model").write_bytes(model)
    tok = culturespa.Tokenizer.from_folder(str(tmp_path))
    theirs = spm.SentencePieceProcessor(model_proto=model)
    for text in sentences[:3] + ["Ünïcödé family 3"]:  # the last has characters outside the model
        assert tok.encode(text, add_special_tokens=False) == theirs.encode(text)
        assert tok.encode(text)[0] == tok.bos_id
        assert tok.decode(theirs.encode(text)) == theirs.decode(theirs.encode(text))


def test_chat_format_registration_from_python():
    def render(messages, **options):
        return "".join(f"[{m['role']}] {m['content']}\n" for m in messages) + (
            "[assistant] " if options["add_generation_prompt"] else "")

    register_chat_format("bracket", render, template_sources=["{# bracket #}"])
    assert chat_format_detect("{# bracket #}\n") == "bracket"
    assert chat_render("bracket", [{"role": "user", "content": "hi"}]) == "[user] hi\n[assistant] "
    assert "bracket" in culturespa.text.chat_format_names()


# ---- with ../shared -----------------------------------------------------------------

FOLDERS = ["llama3-instruct", "qwen3", "mistral", "gpt2"]


@pytest.fixture(scope="module")
def fixtures(shared_dir):
    return shared_dir / "fixtures/tokenizers"


@pytest.fixture(scope="module")
def loaded(fixtures):
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = culturespa.Tokenizer.from_folder(str(fixtures / name))
        return cache[name]
    return get


def test_extra_jsonl_rows(fixtures, loaded):
    rows = [json.loads(line) for line in (fixtures / "vectors/extra.jsonl").read_text().splitlines()]
    assert len(rows) == 565
    checked = 0
    for row in rows:
        if row["tokenizer"] == "llama2" and not culturespa.sentencepiece_available():
            continue
        ids = loaded(row["tokenizer"]).encode(row["text"], add_special_tokens=row["add_special_tokens"],
                                              parse_special=row["parse_special"])
        assert ids == row["ids"], (row["tokenizer"], row["text"])
        checked += 1
    assert checked >= 565 - 118


def survey_texts(shared_dir):
    questions = json.loads((shared_dir / "wvs/wvs_questions.json").read_text())
    texts = [WVS_SYSTEM, WVS_USER]
    for q in questions:
        options = " ".join(f"{i + 1}.{o}" for i, o in enumerate(q["option_lst"]))
        texts.append(f"#Question: {q['question']}\n#Options: {options}\n")
    return texts


@pytest.mark.parametrize("name", FOLDERS)
def test_live_oracle_hf_tokenizers(name, fixtures, loaded, shared_dir):
    tokenizers = pytest.importorskip("tokenizers")
    if name == "gpt2":
        from tokenizers import decoders, models, pre_tokenizers
        hf = tokenizers.Tokenizer(models.BPE.from_file(str(fixtures / "gpt2/vocab.json"),
                                                       str(fixtures / "gpt2/merges.txt")))
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        hf.decoder = decoders.ByteLevel()
    else:
        hf = tokenizers.Tokenizer.from_file(str(fixtures / name / "tokenizer.json"))
    ours = loaded(name)
    texts = survey_texts(shared_dir) + random_texts(7)
    for text in texts:
        # HF tokenizers always matches added tokens: parse_special=True is the same mode.
        expected = hf.encode(text, add_special_tokens=True).ids
        got = ours.encode(text, add_special_tokens=True, parse_special=name != "gpt2")
        assert got == expected, text
        assert ours.decode(got) == hf.decode(expected, skip_special_tokens=False), text
    assert ours.vocab_size == hf.get_vocab_size(with_added_tokens=True)


@pytest.mark.parametrize("name", ["llama3-instruct", "qwen3"])
def test_live_oracle_transformers_chat_template(name, fixtures, loaded):
    transformers = pytest.importorskip("transformers")
    hf = transformers.AutoTokenizer.from_pretrained(str(fixtures / name))
    ours = loaded(name)
    for messages in CONVERSATIONS:
        add = messages[-1]["role"] != "assistant"
        for thinking in ([None, False, True] if name == "qwen3" else [None]):
            extra = {} if thinking is None else {"enable_thinking": thinking}
            expected = hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=add, **extra)
            assert ours.apply_chat_template(messages, add_generation_prompt=add,
                                            enable_thinking=thinking) == expected
            # transformers tokenizes its render with add_special_tokens=False.
            ids = hf.apply_chat_template(messages, tokenize=True, add_generation_prompt=add, **extra)
            assert ours.encode_chat(messages, add_generation_prompt=add, enable_thinking=thinking) == ids


@pytest.mark.parametrize("template,format_name", [
    ("meta-llama-Llama-3.1-8B-Instruct.jinja", "llama3.1"),
    ("Qwen-Qwen2.5-7B-Instruct.jinja", "qwen2.5"),
    ("llama2-chat-vigogne.jinja", "llama2-vigogne"),
])
def test_live_oracle_transformers_template_files(template, format_name, fixtures, loaded):
    transformers = pytest.importorskip("transformers")
    source = (fixtures / "chat/templates" / template).read_text(encoding="utf-8")
    assert chat_format_detect(source) == format_name
    folder = "qwen3" if format_name == "qwen2.5" else "llama3-instruct"
    hf = transformers.AutoTokenizer.from_pretrained(str(fixtures / folder))
    bos, eos = ("<s>", "</s>") if format_name.startswith("llama2") else (hf.bos_token or "", hf.eos_token)
    for messages in CONVERSATIONS:
        add = messages[-1]["role"] != "assistant"
        expected = hf.apply_chat_template(messages, chat_template=source, tokenize=False,
                                          add_generation_prompt=add, bos_token=bos, eos_token=eos)
        assert chat_render(format_name, messages, add_generation_prompt=add, bos_token=bos,
                           eos_token=eos) == expected


def test_chat_cases_jsonl(fixtures, loaded):
    formats = {"llama3-instruct": "llama3", "qwen3": "qwen3", "meta-llama-Llama-3.1-8B-Instruct": "llama3.1",
               "Qwen-Qwen2.5-7B-Instruct": "qwen2.5", "llama2-chat-vigogne": "llama2-vigogne",
               "llama.cpp-builtin-llama2-sys-strip": "llama2-llamacpp"}
    rows = [json.loads(line) for line in (fixtures / "chat/cases.jsonl").read_text().splitlines()]
    assert len(rows) == 23
    for row in rows:
        context = row.get("context") or {}
        rendered = chat_render(formats[row["template"]], row["messages"],
                               add_generation_prompt=row["add_generation_prompt"],
                               enable_thinking=context.get("enable_thinking"),
                               bos_token=context.get("bos_token", ""), eos_token=context.get("eos_token", ""),
                               date_string=context.get("date_string", "26 Jul 2024"))
        assert rendered == row["rendered"], (row["template"], row["case"])
        if "ids" in row and not (row["tokenizer"] == "llama2" and not culturespa.sentencepiece_available()):
            ids = loaded(row["tokenizer"]).encode(rendered, add_special_tokens=row["add_special_tokens"],
                                                  parse_special=True)
            assert ids == row["ids"], (row["template"], row["case"])


def test_folder_metadata_and_incremental_decoding(loaded):
    llama3 = loaded("llama3-instruct")
    assert llama3.chat_format() == "llama3"
    assert {128009, 128001} <= set(llama3.stop_ids)
    assert llama3.bos_id == 128000 and llama3.adds_bos
    text = "Kenya 🇰🇪 中文 — café\n3"
    decoder = culturespa.IncrementalDecoder(llama3)
    streamed = "".join(decoder.push(i) for i in llama3.encode(text, add_special_tokens=False))
    assert streamed + decoder.flush() == text
    mistral = loaded("mistral")
    with pytest.raises(ValueError, match="format"):
        mistral.chat_format()
    prompt = mistral.apply_chat_template(CONVERSATIONS[1], format="mistral")
    assert prompt == "<s>[INST] " + WVS_USER + " [/INST]"
    assert mistral.encode_chat(CONVERSATIONS[1], format="mistral")[:2] == [1, 733]  # <s>, "▁["


def test_prefer_chooses_between_tokenizer_json_and_model(tmp_path):
    folder = write_tiny_tokenizer(tmp_path / "both")
    (folder / "tokenizer.model").write_bytes(b"not a sentencepiece model")
    assert "tokenizer.json" in culturespa.Tokenizer.from_folder(str(folder)).description
    with pytest.raises(ValueError):  # corrupt model, or a build without sentencepiece: both say so
        culturespa.Tokenizer.from_folder(str(folder), prefer="tokenizer.model")
    with pytest.raises(ValueError, match="prefer"):
        culturespa.Tokenizer.from_folder(str(folder), prefer="vocab.txt")


def test_decode_takes_numpy_arrays(tmp_path):
    np = pytest.importorskip("numpy")
    tok = culturespa.Tokenizer.from_folder(str(write_tiny_tokenizer(tmp_path / "tiny")))
    ids = tok.encode("hello world")
    assert tok.decode(np.asarray(ids, dtype=np.int64)) == "hello world"


def test_metaspace_variant_of_mistral_matches_hf_tokenizers(fixtures, tmp_path, shared_dir):
    """Newer LLaMA/Mistral conversions use a Metaspace pre-tokenizer instead of Prepend/Replace."""
    tokenizers = pytest.importorskip("tokenizers")
    doc = json.loads((fixtures / "mistral/tokenizer.json").read_text(encoding="utf-8"))
    doc["normalizer"] = None
    for scheme in ("first", "always"):
        doc["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme,
                                "split": False}
        doc["decoder"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme,
                          "split": False}
        folder = tmp_path / scheme
        folder.mkdir()
        (folder / "tokenizer.json").write_text(json.dumps(doc), encoding="utf-8")
        ours = culturespa.Tokenizer.from_folder(str(folder))
        hf = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
        for text in survey_texts(shared_dir)[:20] + random_texts(3, 50) + ["<s>[INST] Hi [/INST]"]:
            expected = hf.encode(text, add_special_tokens=True).ids
            assert ours.encode(text, parse_special=True) == expected, (scheme, text)
            assert ours.decode(expected) == hf.decode(expected, skip_special_tokens=False), (scheme, text)


def test_live_oracle_python_sentencepiece_llama2(fixtures, shared_dir):
    if not culturespa.sentencepiece_available():
        pytest.skip("built with CULTURESPA_SENTENCEPIECE=off")
    spm = pytest.importorskip("sentencepiece")
    model = str(fixtures / "llama2/tokenizer.model")
    theirs = spm.SentencePieceProcessor(model_file=model)
    ours = culturespa.Tokenizer.from_folder(str(fixtures / "llama2"))
    assert ours.bos_id == 1 and ours.eos_id == 2 and ours.adds_bos
    for text in survey_texts(shared_dir) + random_texts(11):
        expected = theirs.encode(text)
        assert ours.encode(text, add_special_tokens=False) == expected, text
        assert ours.encode(text) == [1] + expected
        assert ours.decode(expected) == theirs.decode(expected), text
    decoder = culturespa.IncrementalDecoder(ours)
    text = "Kenya 🇰🇪 中文 — café\n3"
    streamed = "".join(decoder.push(i) for i in theirs.encode(text))
    assert streamed + decoder.flush() == text


# Meta's Llama-2-chat template and Mistral-7B-Instruct-v0.1's, as their tokenizer_config.json files
# publish them (no copy in ../shared). culturespa recognises these texts as "llama2" and "mistral".
LLAMA2_CHAT_TEMPLATE = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'system' %}{{ '<<SYS>>\\n' + content.strip() + '\\n<</SYS>>\\n\\n' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
MISTRAL_INSTRUCT_TEMPLATE = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"


@pytest.mark.parametrize("source,format_name,with_system", [
    (LLAMA2_CHAT_TEMPLATE, "llama2", True),
    (MISTRAL_INSTRUCT_TEMPLATE, "mistral", False),
])
def test_llama2_and_mistral_formats_match_their_jinja_templates(source, format_name, with_system):
    jinja2 = pytest.importorskip("jinja2")
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    template = env.from_string(source)
    assert chat_format_detect(source) == format_name
    conversations = [c for c in CONVERSATIONS if with_system or c[0]["role"] != "system"]
    conversations.append([{"role": "user", "content": " Hello "}, {"role": "assistant", "content": "Hi there"},
                          {"role": "user", "content": "Who are you?"}])
    for messages in conversations:
        expected = template.render(messages=messages, bos_token="<s>", eos_token="</s>",
                                   add_generation_prompt=True)
        assert chat_render(format_name, messages, bos_token="<s>", eos_token="</s>") == expected


@pytest.mark.parametrize("bad_id", [-1, 10**8, 10**9])
def test_added_token_ids_are_bounded_by_the_vocabulary(tmp_path, bad_id):
    """Issue #16: id -1 wrote out of bounds, 1e8 allocated 3.4 GB, 1e9 gave a traceback."""
    folder = write_tiny_tokenizer(tmp_path / "tok")
    doc = json.loads((folder / "tokenizer.json").read_text())
    doc["added_tokens"][0]["id"] = bad_id
    (folder / "tokenizer.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=rf"tokenizer.json: added_tokens entry '<\|end\|>' has id {bad_id}, "
                                         r"outside the vocabulary"):
        culturespa.Tokenizer.from_folder(str(folder))


def test_invalid_utf8_tokenizer_json_gives_a_readable_message(tmp_path):
    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "tokenizer.json").write_bytes(b'{"model": {"type": "BPE", "vocab": {"\xff": 0}}}')
    with pytest.raises(ValueError) as error:
        culturespa.Tokenizer.from_folder(str(folder))
    assert "tokenizer.json" in str(error.value)

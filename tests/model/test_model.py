"""Model correctness against independent implementations: Hugging Face
transformers (the reference, when installed) and the plain PyTorch
reference in reference_llama.py (written from the published model
definitions, not from culturespa's C++).

CULTURESPA_TEST_DEVICE (default "cpu") and CULTURESPA_TEST_DTYPE (default
"float32") select where culturespa runs; references always run in float32
on the CPU. Tolerances: 1e-4 for float32 on the CPU, 1e-3 for float32 on
CUDA (TF32 and other kernels), 0.15 for bfloat16 (8-bit mantissa)."""
import json
import os
import sys
import zlib
from pathlib import Path

import pytest
import torch

import culturespa
from culturespa import testing

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_llama import ReferenceLM  # noqa: E402

DEVICE = os.environ.get("CULTURESPA_TEST_DEVICE", "cpu")
DTYPE = os.environ.get("CULTURESPA_TEST_DTYPE", "float32")
if DTYPE == "float32":
    TOL = 1e-4 if DEVICE == "cpu" else 1e-3
else:
    # bfloat16 keeps 8 significant bits: one unit in the last place of a logit
    # near 20 is 0.125, so differences against the float32 reference are
    # judged relative to the logits' scale (3%, about two ulps there).
    TOL = 0.15
BF16_RELATIVE_TOL = 0.03
EXACT = DTYPE == "float32"  # token-for-token greedy agreement expected

VARIANTS = {
    "llama": dict(),
    "llama_gqa1": dict(num_key_value_heads=1, hidden_size=48, num_attention_heads=2, head_dim=24),
    "llama3_rope": dict(rope_scaling="llama3", rope_scaling_factor=8.0, max_position_embeddings=512),
    "linear_rope": dict(rope_scaling="linear", rope_scaling_factor=4.0),
    "llama_bias": dict(attention_bias=True),
    "mistral": dict(architecture="MistralForCausalLM", sliding_window=6),
    "qwen2": dict(architecture="Qwen2ForCausalLM", hidden_size=96, rope_theta=1e6),
    "qwen3": dict(architecture="Qwen3ForCausalLM", head_dim=24),
    "tied": dict(tie_word_embeddings=True, num_key_value_heads=4),
}


def _checkpoint(tmp_path_factory, name, **extra):
    path = tmp_path_factory.mktemp(name)
    testing.write_checkpoint(path, seed=zlib.crc32(name.encode()) % 1000, **{**VARIANTS.get(name, {}), **extra})
    return path


def _model(path, **kw):
    return culturespa.Model(path, device=DEVICE, dtype=DTYPE, **kw)


def _hf(path):
    try:
        import transformers
    except ImportError:  # the plain reference stands in
        return None
    arch = json.loads((path / "config.json").read_text())["architectures"][0]
    if not hasattr(transformers, arch):
        return None  # e.g. Qwen3 in transformers 4.45: the plain reference checks it
    return transformers.AutoModelForCausalLM.from_pretrained(
        path, torch_dtype=torch.float32, attn_implementation="eager").eval()


def _reference_logits(path, ids):
    hf = _hf(path)
    with torch.no_grad():
        if hf is not None:
            return hf(ids).logits.float()
        return ReferenceLM(path).forward(ids)[0]


def _greedy(model, prompt, steps):
    cache = model.cache_create(1, len(prompt) + steps)
    logits = model.forward([prompt], cache=cache)
    out = []
    for _ in range(steps):
        token = int(logits[0].argmax())
        out.append(token)
        logits = model.forward(torch.tensor([[token]]), cache=cache)
    return out


def _greedy_reference(path, prompt, steps):
    hf = _hf(path)
    ids = torch.tensor([prompt])
    tokens = []
    with torch.no_grad():
        if hf is not None:  # the same greedy loop over HF's forward and its own cache
            # (not hf.generate: min_new_tokens would suppress the eos token)
            out = hf(ids, use_cache=True)
            for _ in range(steps):
                token = int(out.logits[0, -1].argmax())
                tokens.append(token)
                out = hf(torch.tensor([[token]]), past_key_values=out.past_key_values, use_cache=True)
            return tokens
        ref = ReferenceLM(path)
        logits, past = ref.forward(ids)
        for _ in range(steps):
            token = int(logits[0, -1].argmax())
            tokens.append(token)
            logits, past = ref.forward(torch.tensor([[token]]), past)
    return tokens


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_logits_match_reference(tmp_path_factory, variant):
    path = _checkpoint(tmp_path_factory, variant)
    ids = torch.randint(0, 256, (3, 17), generator=torch.Generator().manual_seed(1))
    expected = _reference_logits(path, ids)
    ours = _model(path).forward(ids, logits_at=torch.arange(17).repeat(3, 1)).cpu()
    assert ours.shape == expected.shape == (3, 17, 256)
    tolerance = TOL if EXACT else max(TOL, BF16_RELATIVE_TOL * expected.abs().max().item())
    assert (ours - expected).abs().max().item() <= tolerance


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_greedy_generation_matches_reference(tmp_path_factory, variant):
    path = _checkpoint(tmp_path_factory, variant)
    prompt = [5, 17, 99, 3, 250, 42, 7]
    ours = _greedy(_model(path), prompt, 12)
    expected = _greedy_reference(path, prompt, 12)
    if EXACT:
        assert ours == expected
    else:  # bf16 drifts: our first token must be an argmax within tolerance
        first = _reference_logits(path, torch.tensor([prompt]))[0, -1]
        assert first[ours[0]] >= first.max() - TOL


def test_plain_reference_agrees_with_transformers(tmp_path_factory):
    # Guards the reference itself, so that it can stand in where transformers is absent.
    path = _checkpoint(tmp_path_factory, "llama3_rope")
    ids = torch.randint(0, 256, (2, 9), generator=torch.Generator().manual_seed(2))
    hf = _hf(path)
    if hf is None:
        pytest.skip("transformers is not installed")
    with torch.no_grad():
        diff = (hf(ids).logits - ReferenceLM(path).forward(ids)[0]).abs().max().item()
    assert diff <= 1e-4


def test_rope_scaling_changes_the_result(tmp_path_factory):
    # Without this the rope_scaling variants could pass while ignoring the field.
    a = tmp_path_factory.mktemp("scaled_a")
    b = tmp_path_factory.mktemp("scaled_b")
    testing.write_checkpoint(a, seed=3)
    testing.write_checkpoint(b, seed=3, rope_scaling="linear", rope_scaling_factor=4.0)
    ids = torch.arange(1, 30).reshape(1, -1)
    assert (_model(a).forward(ids) - _model(b).forward(ids)).abs().max().item() > 1e-3


def test_incremental_decode_equals_full_forward(tmp_path_factory):
    path = _checkpoint(tmp_path_factory, "mistral")
    model = _model(path)
    ids = torch.randint(0, 256, (2, 14), generator=torch.Generator().manual_seed(3))
    full = model.forward(ids, logits_at=torch.arange(14).repeat(2, 1))
    cache = model.cache_create(2, 14)
    first = model.forward(ids[:, :5], cache=cache, logits_at=torch.arange(5).repeat(2, 1))
    steps = [model.forward(ids[:, t:t + 1], cache=cache) for t in range(5, 14)]
    incremental = torch.cat([first] + [s.unsqueeze(1) for s in steps], dim=1)
    assert cache.lengths == [14, 14]
    assert (incremental - full).abs().max().item() <= TOL


def test_padded_batch_equals_each_sequence_alone(tmp_path_factory):
    path = _checkpoint(tmp_path_factory, "qwen2")
    model = _model(path)
    g = torch.Generator().manual_seed(4)
    seqs = [torch.randint(0, 256, (n,), generator=g).tolist() for n in (3, 11, 7)]
    cache = model.cache_create(3, 16)
    batch = model.forward(seqs, cache=cache)
    assert cache.lengths == [3, 11, 7]
    nxt = model.forward(torch.tensor([[1], [2], [3]]), cache=cache)
    for i, seq in enumerate(seqs):
        alone_cache = model.cache_create(1, 16)
        alone = model.forward([seq], cache=alone_cache)
        assert (batch[i] - alone[0]).abs().max().item() <= TOL
        alone_next = model.forward(torch.tensor([[i + 1]]), cache=alone_cache)
        assert (nxt[i] - alone_next[0]).abs().max().item() <= TOL


def test_copy_prefix_and_keep(tmp_path_factory):
    path = _checkpoint(tmp_path_factory, "llama")
    model = _model(path)
    prefix, tails = [9, 8, 7, 6, 5], [[1, 2], [3], [4, 4, 4]]
    cache = model.cache_create(3, 16)
    model.forward(torch.tensor([prefix] * 3), cache=cache, lengths=torch.tensor([5, 1, 1]))
    cache.copy_prefix(0, [1, 2], 5)
    assert cache.lengths == [5, 5, 5]
    shared = model.forward(tails, cache=cache)
    for i, tail in enumerate(tails):
        alone = model.forward([prefix + tail])
        assert (shared[i] - alone[0]).abs().max().item() <= TOL
    cache.keep([2, 0])
    assert cache.batch == 2 and cache.lengths == [8, 7]
    after = model.forward(torch.tensor([[11], [12]]), cache=cache)
    assert (after[0] - model.forward([prefix + tails[2] + [11]])[0]).abs().max().item() <= TOL
    assert (after[1] - model.forward([prefix + tails[0] + [12]])[0]).abs().max().item() <= TOL


def test_sharded_equals_single_file(tmp_path_factory):
    single = _checkpoint(tmp_path_factory, "qwen3")
    sharded = _checkpoint(tmp_path_factory, "qwen3", shards=3)
    assert (sharded / "model.safetensors.index.json").exists()
    assert not (sharded / "model.safetensors").exists()
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    assert torch.equal(_model(single).forward(ids), _model(sharded).forward(ids))


@pytest.mark.parametrize("file_dtype,torch_dtype", [("F16", torch.float16), ("BF16", torch.bfloat16)])
def test_half_precision_files_load_to_expected_values(tmp_path_factory, file_dtype, torch_dtype):
    path = _checkpoint(tmp_path_factory, "llama", dtype=file_dtype)
    weights, _ = culturespa.safetensors_read(path / "model.safetensors")
    assert weights["model.norm.weight"].dtype == torch_dtype
    ids = torch.tensor([[3, 1, 4, 1, 5, 9]])
    # The reference upcasts the same half-precision values to float32.
    expected = ReferenceLM(path).forward(ids)[0][:, -1]
    assert (_model(path).forward(ids).cpu() - expected).abs().max().item() <= TOL


def test_config_and_properties(tmp_path_factory):
    path = _checkpoint(tmp_path_factory, "qwen2")
    model = _model(path, threads=1)
    assert model.config["architectures"] == ["Qwen2ForCausalLM"]
    assert model.architecture == "Qwen2ForCausalLM"
    assert model.eos_token_ids == [2]
    assert model.dtype == DTYPE
    assert culturespa.runtime_num_threads() == 1


def test_forward_argument_errors(tmp_path_factory):
    path = _checkpoint(tmp_path_factory, "llama")
    model = _model(path)
    with pytest.raises(ValueError, match="vocabulary"):
        model.forward([[1, 256]])
    with pytest.raises(ValueError, match="capacity"):
        model.forward([[1, 2, 3]], cache=model.cache_create(1, 2))
    with pytest.raises(ValueError, match="lengths"):
        model.forward(torch.tensor([[1, 2]]), lengths=torch.tensor([3]))
    with pytest.raises(ValueError, match="logits_at"):
        model.forward(torch.tensor([[1, 2]]), logits_at=torch.tensor([[2]]))
    with pytest.raises(ValueError, match="device"):
        culturespa.Model(path, device="tpu")
    with pytest.raises(ValueError, match="dtype"):
        culturespa.Model(path, dtype="int8")


def test_kv_cache_of_another_model_is_refused(tmp_path_factory):
    # The fused kernels wrote a foreign (smaller) cache out of its bounds: a
    # heap overflow that could end in a crash or in wrong logits.
    small = _model(_checkpoint(tmp_path_factory, "llama"))
    wide = _model(_checkpoint(tmp_path_factory, "qwen3"))  # head_dim 24 instead of 16
    foreign = small.cache_create(1, 8)
    with pytest.raises(ValueError, match=r"KV cache was made by another model.*cache_create"):
        wide.forward([[1, 2, 3]], cache=foreign)
    assert foreign.lengths == [0]
    logits = small.forward([[1, 2, 3]], cache=foreign)
    assert logits.shape == (1, 256) and foreign.lengths == [3]


@pytest.mark.skipif(DEVICE != "cpu" or DTYPE != "float32", reason="the fused kernels run float32 on CPU")
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("cpu_matmul", ["blas", "onednn"])
def test_fused_cpu_path_matches_libtorch_operations(tmp_path_factory, variant, cpu_matmul):
    if cpu_matmul == "onednn" and not culturespa.runtime_info()["onednn"]:
        pytest.skip("this LibTorch has no oneDNN")
    path = _checkpoint(tmp_path_factory, variant)
    plain = _model(path, cpu_kernels=False)
    fused = _model(path, cpu_matmul=cpu_matmul)
    assert plain.compute_path == "LibTorch operations"
    assert ("oneDNN" if cpu_matmul == "onednn" else "BLAS") in fused.compute_path
    g = torch.Generator().manual_seed(11)
    for batch in (2, 67):  # both sides of the 16-row limit of the skinny matmul
        ids = torch.randint(0, 256, (batch, 37), generator=g)
        lengths = torch.randint(1, 38, (batch,), generator=g)
        lengths[0] = 37
        logits_at = torch.stack([lengths - 1, torch.zeros_like(lengths), (lengths - 1) // 2], dim=1)
        caches = [m.cache_create(batch, 45) for m in (plain, fused)]
        outs = [m.forward(ids, lengths=lengths, cache=c, logits_at=logits_at) for m, c in zip((plain, fused), caches)]
        assert (outs[0] - outs[1]).abs().max().item() <= TOL
        for c in caches:
            c.copy_prefix(0, [1], 17)
        for _ in range(3):
            nxt = torch.randint(0, 256, (batch, 1), generator=g)
            outs = [m.forward(nxt, cache=c) for m, c in zip((plain, fused), caches)]
            assert (outs[0] - outs[1]).abs().max().item() <= TOL
        assert caches[0].lengths == caches[1].lengths


def test_cpu_matmul_option_is_checked(tmp_path_factory):
    path = _checkpoint(tmp_path_factory, "llama")
    with pytest.raises(ValueError, match="cpu_matmul 'mkl'"):
        culturespa.Model(path, cpu_matmul="mkl")
    info = culturespa.runtime_info()
    assert isinstance(info["blas_core_outdated"], bool) and isinstance(info["onednn"], bool)

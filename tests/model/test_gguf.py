"""Direct GGUF loading (issue 6 section 4): culturespa's own GGUF reader and
dequantisation against the `gguf` package (llama.cpp's Python reader), and a
Model loaded from a .gguf file against the same model loaded from a folder."""
import json
import struct

import numpy as np
import pytest
import torch

import culturespa
from culturespa import testing

gguf = pytest.importorskip("gguf")
from gguf import GGMLQuantizationType as Q  # noqa: E402

QUANT_TYPES = [Q.F32, Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1]


def _finish(writer):
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _reference(path):
    """Every tensor dequantised by the gguf package, by name."""
    reader = gguf.GGUFReader(str(path))
    return {t.name: np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32)
            for t in reader.tensors}, {t.name: t.tensor_type for t in reader.tensors}


def _write_small(path, rng):
    writer = gguf.GGUFWriter(str(path), "llama")
    originals = {}
    for qtype in QUANT_TYPES:
        for shape in [(3, 64), (2, 5, 32)] if qtype not in (Q.F32, Q.F16, Q.BF16) else [(3, 7), (4, 2, 3)]:
            data = (rng.standard_normal(shape) * 3).astype(np.float32)
            data.flat[0] = 0.0
            name = f"{qtype.name.lower()}_{'x'.join(map(str, shape))}"
            originals[name] = data
            if qtype == Q.F32:
                writer.add_tensor(name, data)
            elif qtype == Q.F16:
                writer.add_tensor(name, data.astype(np.float16))
            else:
                writer.add_tensor(name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)
    _finish(writer)
    return originals


def test_small_files_dequantise_exactly_as_the_gguf_package(tmp_path):
    path = tmp_path / "small.gguf"
    originals = _write_small(path, np.random.default_rng(7))
    expected, types = _reference(path)
    got = culturespa.gguf_read(path)
    assert sorted(got) == sorted(originals)
    assert {types[name] for name in got} == set(QUANT_TYPES)
    for name, tensor in got.items():
        assert tuple(tensor.shape) == originals[name].shape, name
        assert tensor.dtype == torch.float32
        assert np.array_equal(tensor.numpy(), expected[name].reshape(originals[name].shape)), name
    # Quantisation error bounds, independent of the reference: F32 is exact,
    # F16/BF16 round, 4-bit blocks stay within a step of their scale.
    assert np.array_equal(got["f32_3x7"].numpy(), originals["f32_3x7"])
    assert np.abs(got["bf16_3x7"].numpy() - originals["bf16_3x7"]).max() < 0.05
    assert np.abs(got["q8_0_3x64"].numpy() - originals["q8_0_3x64"]).max() < 0.1
    assert np.abs(got["q4_1_3x64"].numpy() - originals["q4_1_3x64"]).max() < 1.5


def test_metadata_and_directory(tmp_path):
    path = tmp_path / "meta.gguf"
    _write_small(path, np.random.default_rng(1))
    file = culturespa.GgufFile(path)
    assert file.version == 3
    assert file.metadata["general.architecture"] == "llama"
    entry = next(t for t in file.tensors if t["name"] == "q4_1_3x64")
    assert entry["type"] == "Q4_1" and entry["shape"] == (3, 64) and entry["bytes"] == 3 * 2 * 20


def _bad(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ValueError) as error:
        culturespa.GgufFile(path)
    assert str(path) in str(error.value)
    return str(error.value)


def test_bad_inputs_raise_errors_naming_the_file(tmp_path):
    good_path = tmp_path / "good.gguf"
    _write_small(good_path, np.random.default_rng(2))
    good = good_path.read_bytes()
    assert "magic" in _bad(tmp_path, "magic.gguf", b"GGML" + good[4:])
    assert "truncated" in _bad(tmp_path, "head.gguf", good[:100])
    assert "outside" in _bad(tmp_path, "tail.gguf", good[: len(good) - 1000])
    assert "tensor count" in _bad(tmp_path, "count.gguf", good[:8] + struct.pack("<Q", 1 << 50) + good[16:])
    assert "metadata count" in _bad(tmp_path, "kv.gguf", good[:16] + struct.pack("<Q", 1 << 60) + good[24:])
    assert "version" in _bad(tmp_path, "version.gguf", good[:4] + struct.pack("<I", 9) + good[8:])
    with pytest.raises(FileNotFoundError):
        culturespa.GgufFile(tmp_path / "absent.gguf")


# --- a random LLaMA model written as GGUF, as llama.cpp's converter does ----

def _llama_permute(weight: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's convert_hf_to_gguf.py LlamaModel.permute."""
    return (weight.reshape(n_head, 2, weight.shape[0] // n_head // 2, *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


def _hf_folder_to_gguf(folder, path, qtype=Q.F32, block_count=None):
    config = json.loads((folder / "config.json").read_text())
    tensors, _ = culturespa.safetensors_read(folder / "model.safetensors")
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(config["num_hidden_layers"] if block_count is None else block_count)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_rope_freq_base(config["rope_theta"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_vocab_size(config["vocab_size"])
    names = {v: k for k, v in {
        "token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
        "output.weight": "lm_head.weight"}.items()}
    block = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down"}
    for name, tensor in tensors.items():
        data = tensor.float().numpy()
        if name in names:
            gguf_name = names[name]
        else:
            layer, rest = name[len("model.layers."):].split(".", 1)
            gguf_name = f"blk.{layer}.{block[rest[:-len('.weight')]]}.weight"
        if name.endswith("q_proj.weight"):
            data = _llama_permute(data, config["num_attention_heads"])
        elif name.endswith("k_proj.weight"):
            data = _llama_permute(data, config["num_key_value_heads"])
        if qtype == Q.F32 or data.ndim == 1:
            writer.add_tensor(gguf_name, np.ascontiguousarray(data))
        else:
            writer.add_tensor(gguf_name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)
    _finish(writer)


@pytest.mark.parametrize("tied", [False, True])
def test_model_from_gguf_equals_model_from_folder(tmp_path, tied):
    folder = tmp_path / "hf"
    folder.mkdir()
    testing.write_checkpoint(folder, vocab_size=128, hidden_size=64, intermediate_size=96,
                             num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=tied,
                             seed=11)
    path = tmp_path / "model.gguf"
    _hf_folder_to_gguf(folder, path)
    from_folder = culturespa.Model(folder, dtype="float32")
    from_gguf = culturespa.Model(path, dtype="float32")
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                "intermediate_size", "vocab_size", "tie_word_embeddings"):
        assert from_gguf.config[key] == from_folder.config[key], key
    ids = [[5, 17, 99, 3, 64, 120, 7, 8]]
    expected = from_folder.forward(ids, logits_at=[list(range(8))])
    got = from_gguf.forward(ids, logits_at=[list(range(8))])
    assert torch.equal(got, expected)


def test_model_from_quantised_gguf_equals_its_dequantised_weights(tmp_path):
    """A Q8_0 GGUF model gives the logits of a folder holding the gguf
    package's dequantisation of the same file (q/k rows permuted back)."""
    folder = tmp_path / "hf"
    folder.mkdir()
    testing.write_checkpoint(folder, vocab_size=128, hidden_size=64, intermediate_size=96, seed=3)
    path = tmp_path / "q8.gguf"
    _hf_folder_to_gguf(folder, path, qtype=Q.Q8_0)
    config = json.loads((folder / "config.json").read_text())
    expected, _ = _reference(path)
    dequantised = {}
    for name, weight in expected.items():
        hf = culturespa._core.gguf_hf_tensor_name(name)
        if name.endswith("attn_q.weight"):
            weight = weight.reshape(config["num_attention_heads"], -1, 2, weight.shape[1]).swapaxes(1, 2).reshape(weight.shape)
        elif name.endswith("attn_k.weight"):
            weight = weight.reshape(config["num_key_value_heads"], -1, 2, weight.shape[1]).swapaxes(1, 2).reshape(weight.shape)
        dequantised[hf] = torch.from_numpy(np.array(weight, dtype=np.float32))
    culturespa.safetensors_write(folder / "model.safetensors", dequantised)
    ids = [[1, 2, 3, 4, 100, 101]]
    expected_logits = culturespa.Model(folder, dtype="float32").forward(ids)
    assert torch.equal(culturespa.Model(path, dtype="float32").forward(ids), expected_logits)


def test_gguf_whose_block_count_drops_layers_is_refused(tmp_path):
    folder = tmp_path / "hf"
    folder.mkdir()
    testing.write_checkpoint(folder, vocab_size=128, num_hidden_layers=3, seed=12)
    path = tmp_path / "model.gguf"
    _hf_folder_to_gguf(folder, path, block_count=1)
    with pytest.raises(ValueError, match=r"model.gguf: the weights hold 3 layers but the GGUF metadata"):
        culturespa.Model(path)


def test_gguf_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "gpt2.gguf"
    writer = gguf.GGUFWriter(str(path), "gpt2")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    _finish(writer)
    with pytest.raises(ValueError, match="gpt2"):
        culturespa.Model(path)


# --- SmolLM2-135M-Instruct (Q4_1, Q8_0 and F32 tensors) ---------------------

@pytest.mark.needs_pypi
def test_smollm2_every_tensor_equals_gguf_package(smollm2_gguf):
    expected, types = _reference(smollm2_gguf)
    got = culturespa.gguf_read(smollm2_gguf)
    assert sorted(got) == sorted(expected)
    assert {t.name for t in types.values()} == {"Q4_1", "Q8_0", "F32"}
    for name, tensor in got.items():
        assert np.array_equal(tensor.numpy(), expected[name]), name


@pytest.mark.needs_pypi
def test_smollm2_model_from_gguf_equals_model_from_converted_folder(smollm2_gguf, smollm2_dir):
    from_gguf = culturespa.Model(smollm2_gguf, dtype="float32")
    from_folder = culturespa.Model(smollm2_dir, dtype="float32")
    assert from_gguf.config["rms_norm_eps"] == from_folder.config["rms_norm_eps"]
    assert from_gguf.config["rope_theta"] == from_folder.config["rope_theta"]
    assert from_gguf.eos_token_ids == from_folder.eos_token_ids
    ids = [[1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 2, 198, 1, 4093, 198, 19161, 30]]
    positions = [list(range(len(ids[0])))]
    diff = (from_gguf.forward(ids, logits_at=positions) - from_folder.forward(ids, logits_at=positions)).abs().max()
    assert diff.item() <= 1e-5

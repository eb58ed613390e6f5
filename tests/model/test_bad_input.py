"""Bad checkpoints and safetensors files: each raises an error that names
the file and the tensor or field, never a crash or a silent result."""
import json
import shutil
import struct

import pytest
import torch

import culturespa
from culturespa import testing


@pytest.fixture()
def checkpoint(tmp_path):
    path = tmp_path / "ckpt"
    testing.write_checkpoint(path, num_hidden_layers=1, seed=5)
    return path


def _config(path):
    return json.loads((path / "config.json").read_text())


def _write_config(path, config):
    (path / "config.json").write_text(json.dumps(config))


def _raw_safetensors(path, header: dict, data: bytes, header_length=None):
    text = json.dumps(header).encode()
    length = len(text) if header_length is None else header_length
    path.write_bytes(struct.pack("<Q", length) + text + data)


def test_missing_folder_and_files(tmp_path, checkpoint):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        culturespa.Model(tmp_path / "nowhere")
    (checkpoint / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="config.json"):
        culturespa.Model(checkpoint)


def test_missing_weights(checkpoint):
    (checkpoint / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        culturespa.Model(checkpoint)


def test_unreadable_weights(checkpoint):
    (checkpoint / "model.safetensors").unlink()
    (checkpoint / "model.safetensors").mkdir()
    with pytest.raises(OSError, match="model.safetensors"):
        culturespa.Model(checkpoint)


def test_malformed_json(checkpoint):
    (checkpoint / "config.json").write_text('{"architectures": ["LlamaForCausalLM"],')
    with pytest.raises(ValueError, match="config.json.*not valid JSON"):
        culturespa.Model(checkpoint)
    (checkpoint / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="config.json.*not a JSON object"):
        culturespa.Model(checkpoint)


@pytest.mark.parametrize("field", ["hidden_size", "vocab_size", "num_hidden_layers", "intermediate_size",
                                   "num_attention_heads", "architectures"])
def test_missing_config_field(checkpoint, field):
    config = _config(checkpoint)
    del config[field]
    _write_config(checkpoint, config)
    with pytest.raises(ValueError, match=f"config.json.*'{field}'"):
        culturespa.Model(checkpoint)


@pytest.mark.parametrize("field,value,message", [
    ("architectures", ["GPT2LMHeadModel"], "unsupported architecture 'GPT2LMHeadModel'"),
    ("hidden_act", "gelu", "'hidden_act'"),
    ("rope_scaling", {"rope_type": "yarn", "factor": 4.0}, "rope_scaling.*'yarn'"),
    ("rope_scaling", {"rope_type": "linear"}, "'factor'"),
    ("hidden_size", "64", "'hidden_size' must be an integer"),
    ("num_key_value_heads", 3, "'num_key_value_heads'"),
])
def test_unsupported_config_values(checkpoint, field, value, message):
    config = _config(checkpoint)
    config[field] = value
    _write_config(checkpoint, config)
    with pytest.raises(ValueError, match=message):
        culturespa.Model(checkpoint)


def test_malformed_generation_config(checkpoint):
    (checkpoint / "generation_config.json").write_text("{oops")
    with pytest.raises(ValueError, match="generation_config.json"):
        culturespa.Model(checkpoint)


def _rewrite_weights(checkpoint, change):
    tensors, metadata = culturespa.safetensors_read(checkpoint / "model.safetensors")
    change(tensors)
    culturespa.safetensors_write(checkpoint / "model.safetensors", tensors, metadata=metadata)


def test_missing_tensor(checkpoint):
    _rewrite_weights(checkpoint, lambda t: t.pop("model.layers.0.mlp.up_proj.weight"))
    with pytest.raises(ValueError, match="model.safetensors.*'model.layers.0.mlp.up_proj.weight'"):
        culturespa.Model(checkpoint)


def test_wrong_shape(checkpoint):
    def change(t):
        t["model.layers.0.self_attn.k_proj.weight"] = torch.zeros(7, 64)
    _rewrite_weights(checkpoint, change)
    with pytest.raises(ValueError, match="model.safetensors.*'model.layers.0.self_attn.k_proj.weight'.*shape"):
        culturespa.Model(checkpoint)


def test_wrong_dtype(checkpoint):
    def change(t):
        t["model.norm.weight"] = t["model.norm.weight"].to(torch.int32)
    _rewrite_weights(checkpoint, change)
    with pytest.raises(ValueError, match="'model.norm.weight'.*dtype I32"):
        culturespa.Model(checkpoint)


def test_truncated_file(checkpoint):
    path = checkpoint / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(ValueError, match="model.safetensors.*truncated"):
        culturespa.Model(checkpoint)
    path.write_bytes(data[:5])
    with pytest.raises(ValueError, match="model.safetensors.*truncated"):
        culturespa.Model(checkpoint)


def test_absurd_header_length(tmp_path):
    path = tmp_path / "x.safetensors"
    _raw_safetensors(path, {}, b"", header_length=2**62)
    with pytest.raises(ValueError, match="x.safetensors.*absurd header length"):
        culturespa.safetensors_read(path)


def test_overlapping_ranges(tmp_path):
    path = tmp_path / "x.safetensors"
    header = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}
    _raw_safetensors(path, header, bytes(12))
    with pytest.raises(ValueError, match="x.safetensors.*'a' and 'b'.*overlapping"):
        culturespa.safetensors_read(path)


@pytest.mark.parametrize("spec,message", [
    ({"dtype": "F33", "shape": [2], "data_offsets": [0, 8]}, "unknown dtype 'F33'"),
    ({"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}, "holds 8 bytes.*need 12"),
    ({"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}, "end before begin"),
    ({"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}, "non-negative"),
    ({"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 8]}, "overflows"),
    ({"dtype": "F32", "shape": [2], "data_offsets": [0, 8, 9]}, "data_offsets"),
    ({"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, "beyond"),
])
def test_bad_tensor_entries(tmp_path, spec, message):
    path = tmp_path / "x.safetensors"
    _raw_safetensors(path, {"w": spec}, bytes(8))
    with pytest.raises(ValueError, match=f"x.safetensors.*'w'.*{message}|x.safetensors.*{message}"):
        culturespa.safetensors_read(path)


def test_bad_header_json(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", 5) + b"{oops")
    with pytest.raises(ValueError, match="x.safetensors.*not valid JSON"):
        culturespa.safetensors_read(path)


def test_bad_index(tmp_path):
    path = tmp_path / "ckpt"
    testing.write_checkpoint(path, num_hidden_layers=1, shards=2)
    index = json.loads((path / "model.safetensors.index.json").read_text())
    actual = index["weight_map"]["model.norm.weight"]
    index["weight_map"]["model.norm.weight"] = next(
        f for f in set(index["weight_map"].values()) if f != actual)
    (path / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="index.json.*'model.norm.weight'"):
        culturespa.Model(path)
    shutil.rmtree(path)
    testing.write_checkpoint(path, num_hidden_layers=1, shards=2)
    (path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model-00002-of-00002.safetensors"):
        culturespa.Model(path)


def test_safetensors_round_trip_with_reference_package(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    tensors = {"a": torch.randn(3, 4), "b": torch.arange(5, dtype=torch.int64),
               "c": torch.randn(2, 2).to(torch.bfloat16), "d": torch.randn(6).to(torch.float16),
               "e": torch.zeros(0, 3)}
    ours = tmp_path / "ours.safetensors"
    culturespa.safetensors_write(ours, tensors, metadata={"format": "pt", "note": "x"})
    theirs = st.load_file(str(ours))
    assert set(theirs) == set(tensors)
    for name, t in tensors.items():
        assert torch.equal(theirs[name], t)
    ref = tmp_path / "ref.safetensors"
    st.save_file(tensors, str(ref), metadata={"format": "pt"})
    back, metadata = culturespa.safetensors_read(ref)
    assert metadata == {"format": "pt"}
    for name, t in tensors.items():
        assert back[name].dtype == t.dtype and torch.equal(back[name], t)


# Issue #16: configuration and weights must agree; model files say what they are.

def test_config_with_fewer_layers_than_the_weights_is_refused(tmp_path):
    path = tmp_path / "ckpt3"
    testing.write_checkpoint(path, num_hidden_layers=3, seed=2)
    config = _config(path)
    config["num_hidden_layers"] = 1
    _write_config(path, config)
    with pytest.raises(ValueError, match=r"3 layers but config.json says num_hidden_layers 1"):
        culturespa.Model(path)


def test_empty_or_bad_magic_model_file(tmp_path):
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.gguf.*magic 'GGUF'"):
        culturespa.Model(empty)
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUX" + bytes(64))
    with pytest.raises(ValueError, match="bad.gguf.*magic 'GGUF'"):
        culturespa.Model(bad)


def test_read_instead_of_map(checkpoint):
    ids = [[1, 2, 3, 4]]
    mapped = culturespa.Model(checkpoint)
    read = culturespa.Model(checkpoint, mmap=False)
    assert torch.equal(mapped.forward(ids), read.forward(ids))


def test_nan_weights_are_a_named_error_not_a_nan_distribution(tmp_path, capsys):
    import culturespa.generator
    from culturespa import cli

    path = tmp_path / "nan"
    testing.write_checkpoint(path, vocab_size=272, num_hidden_layers=1, seed=4)
    culturespa.generator.write_test_tokenizer(path)
    tensors, metadata = culturespa.safetensors_read(path / "model.safetensors")
    tensors["model.norm.weight"] = torch.full_like(tensors["model.norm.weight"], float("nan"))
    culturespa.safetensors_write(path / "model.safetensors", tensors, metadata=metadata)
    code = cli.main(["chat", "--culture", "KEN", "--model", str(path), "--chat-format", "chatml",
                     "--text", "Pick one", "--options", "yes", "no", "--json"])
    captured = capsys.readouterr()
    assert code == 2 and "NaN" in captured.err and "NaN" not in captured.out

"""The Python boundary of the model and generator layers: the C++ classes are
bound once and re-exported (no Python wrapper), keyword defaults come from
the C++ options structs, and the bindings take what Python users pass."""
import pytest
import torch

import culturespa
from culturespa import _core, testing
from culturespa.generator import write_test_tokenizer


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("boundary")
    testing.write_checkpoint(folder, vocab_size=272, max_position_embeddings=256, seed=4)
    write_test_tokenizer(folder)
    return culturespa.Model(folder), culturespa.Tokenizer.from_folder(str(folder))


@pytest.mark.parametrize("name", ["Model", "KVCache", "Generator", "Prefix", "GgufFile", "gguf_read",
                                  "safetensors_read", "safetensors_write"])
def test_classes_are_the_core_ones(name):
    assert getattr(culturespa, name) is getattr(_core, name)


def test_model_properties_and_config_dict(parts):
    model, _ = parts
    assert isinstance(model, _core.Model)
    assert model.config["vocab_size"] == 272
    assert model.architecture == "LlamaForCausalLM"
    assert "Model(" in repr(model) and "LlamaForCausalLM" in repr(model)
    assert model.__doc__ and "Args:" in model.__doc__


def test_forward_takes_lists_tensors_and_call(parts):
    model, _ = parts
    rows = [[5, 6, 7, 8], [9, 10]]
    ids = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])
    from_lists = model.forward(rows)
    from_tensor = model.forward(ids, lengths=[4, 2])
    assert from_lists.shape == (2, 272)
    assert torch.allclose(from_lists, from_tensor)
    assert torch.allclose(model(rows), from_lists)
    one_row = model.forward([5, 6, 7, 8])
    assert torch.allclose(one_row[0], from_lists[0])
    at = model.forward(rows, logits_at=[[0, 3], [0, 1]])
    assert at.shape == (2, 2, 272)
    assert torch.allclose(at[:, 1][0], from_lists[0], atol=1e-5)


def test_forward_names_bad_input(parts):
    model, _ = parts
    with pytest.raises(ValueError, match="row 1 is empty"):
        model.forward([[1, 2], []])
    with pytest.raises(ValueError, match="same length"):
        model.forward([[1, 2], [3, 4]], logits_at=[[0, 1], [0]])


def test_generator_keeps_model_and_tokenizer(parts):
    model, tokenizer = parts
    gen = culturespa.Generator(model, tokenizer, chat_format="chatml")
    assert gen.model is model and gen.tokenizer is tokenizer
    assert isinstance(gen, _core.Generator)
    assert "Generator(Model(" in repr(gen)


def test_keyword_defaults_come_from_the_options_structs():
    doc = culturespa.Generator.generate.__doc__
    # pybind11 writes the defaults it was given into the signature line.
    assert "temperature: float = 0.0" in doc and "max_new_tokens: int = 256" in doc
    assert "batch_size: int = 16" in culturespa.Generator.__init__.__doc__
    assert "cpu_matmul: str = 'auto'" in culturespa.Model.__init__.__doc__


def test_progress_true_draws_a_bar_and_bad_progress_is_a_type_error(parts, capsys):
    model, tokenizer = parts
    gen = culturespa.Generator(model, tokenizer, chat_format="chatml")
    results = gen.generate(["hello"], max_new_tokens=2, progress=True)
    assert len(results) == 1
    seen = []
    gen.generate(["hello", "there"], max_new_tokens=2, progress=lambda p: seen.append(p.done))
    assert seen
    with pytest.raises(TypeError, match="progress must be None, a bool or a callable"):
        gen.generate(["hello"], max_new_tokens=2, progress="yes")


def test_pipeline_takes_the_generator_itself(parts):
    model, tokenizer = parts
    gen = culturespa.Generator(model, tokenizer, chat_format="chatml")
    culturespa.QuestionAnswerer(gen)
    with pytest.raises(TypeError, match="must be a culturespa.Generator"):
        culturespa.QuestionAnswerer(object())


def test_generator_without_a_template_serves_raw_prompts(parts):
    model, tokenizer = parts
    gen = culturespa.Generator(model, tokenizer)
    assert len(gen.generate(["hello"], max_new_tokens=2)) == 1
    with pytest.raises(ValueError, match="chat"):
        gen.chat_format

"""Per-prompt LoRA adapters through the bound Generator: a mixed call equals
one call per adapter, for option scoring and greedy generation."""
import numpy as np
import pytest

from culturespa import _core, testing


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    path = tmp_path_factory.mktemp("generator-lora")
    testing.write_checkpoint(path, seed=4, vocab_size=272)
    _core.testing_tokenizer_write(str(path))
    model = _core.Model(str(path))
    for name, seed in [("KEN", 1), ("USA", 2)]:
        model.adapter_add(name, _core.lora_adapter_init(model, _core.LoraConfig(), seed=seed, b_std=0.3))
    return model, _core.Tokenizer.from_folder(str(path))


def test_mixed_adapters_equal_separate_calls(loaded):
    model, tokenizer = loaded
    generator = _core.Generator(model, tokenizer, chat_format="chatml", batch_size=4, min_prefix_tokens=4)
    prompt = [{"role": "system", "content": "Answer with one number."},
              {"role": "user", "content": "How important is family in your life?"}]
    names = ["KEN", "", "USA", "KEN"]
    mixed = generator.score_options([prompt] * 4, [["1", "2", "3", "4"]], adapters=names)
    for i, name in enumerate(names):
        alone = generator.score_options([prompt], [["1", "2", "3", "4"]], adapters=[name] if name else [])
        np.testing.assert_allclose(mixed.probs[i], alone.probs[0], atol=1e-5)
    assert np.abs(mixed.probs[0] - mixed.probs[1]).max() > 1e-3
    generated = generator.generate([prompt] * 4, max_new_tokens=5, adapters=names)
    for i, name in enumerate(names):
        single = generator.generate([prompt], max_new_tokens=5, adapters=[name] if name else [])
        assert single[0].tokens == generated[i].tokens
    with pytest.raises(ValueError, match="FRA"):
        generator.score_options([prompt], [["1", "2"]], adapters=["FRA"])

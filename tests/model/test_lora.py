"""LoRA adapters against PEFT 0.13.2 + transformers 4.45.2: an adapter PEFT
creates and saves on a random checkpoint loads in culturespa with the same
logits (1e-4, float32), alone, merged and in mixed-adapter batches; merge and
unmerge restore the exact logits; bad adapters get named errors."""
import json
import shutil

import pytest
import torch

from culturespa import _core, testing

peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

TOL = 1e-4
IDS = torch.tensor([[5, 9, 17, 33, 2, 70, 11, 8], [90, 4, 3, 200, 41, 6, 7, 12]])


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    path = tmp_path_factory.mktemp("lora-base")
    testing.write_checkpoint(path, seed=21, num_hidden_layers=2)
    return path


def _hf(path):
    return transformers.AutoModelForCausalLM.from_pretrained(
        path, torch_dtype=torch.float32, attn_implementation="eager").eval()


def _peft_adapter(base, out, seed, **config):
    """An adapter PEFT makes (random A and B: init_lora_weights=False) and saves."""
    torch.manual_seed(seed)
    settings = dict(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                      "up_proj", "down_proj"], init_lora_weights=False)
    settings.update(config)
    model = peft.get_peft_model(_hf(base), peft.LoraConfig(task_type="CAUSAL_LM", **settings))
    model.save_pretrained(out)
    return model.eval()


def _logits_all(model, ids, adapters=()):
    """culturespa's logits at every position: [batch, T, vocab]."""
    positions = torch.arange(ids.shape[1]).repeat(ids.shape[0], 1)
    return model.forward(ids, logits_at=positions, adapters=list(adapters))


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("config", [dict(), dict(use_rslora=True, r=8, lora_alpha=4),
                                    dict(target_modules=["q_proj", "v_proj"], rank_pattern={"v_proj": 2})])
def test_peft_adapter_logits_match(base, tmp_path, fused, config):
    reference = _peft_adapter(base, tmp_path / "a", seed=3, **config)
    with torch.no_grad():
        expected = reference(input_ids=IDS).logits
    model = _core.Model(str(base), cpu_kernels=fused)
    model.adapter_load("a", str(tmp_path / "a"))
    got = _logits_all(model, IDS, ["a", "a"])
    assert (got - expected).abs().max().item() < TOL
    plain = _logits_all(model, IDS)
    assert (plain - expected).abs().max().item() > 1e-2  # the adapter matters


def test_mixed_batch_merge_and_unmerge(base, tmp_path):
    references = {name: _peft_adapter(base, tmp_path / name, seed=s) for name, s in [("KEN", 1), ("USA", 2)]}
    model = _core.Model(str(base))
    for name in references:
        model.adapter_load(name, str(tmp_path / name))
    assert model.adapter_names == ["KEN", "USA"]
    ids = torch.cat([IDS, IDS[:1]])
    mixed = _logits_all(model, ids, ["USA", "", "KEN"])
    with torch.no_grad():
        assert (mixed[0] - references["USA"](input_ids=IDS[:1]).logits[0]).abs().max() < TOL
        assert (mixed[2] - references["KEN"](input_ids=IDS[:1]).logits[0]).abs().max() < TOL
        assert (mixed[1] - _hf(base)(input_ids=IDS[1:]).logits[0]).abs().max() < TOL

    before = _logits_all(model, IDS)
    model.adapter_merge("KEN")
    assert model.adapter_merged == "KEN"
    with torch.no_grad():
        assert (_logits_all(model, IDS) - references["KEN"](input_ids=IDS).logits).abs().max() < TOL
    with pytest.raises(ValueError, match="merged"):
        model.forward(IDS, adapters=["USA", "USA"])
    model.adapter_unmerge()
    assert torch.equal(_logits_all(model, IDS), before)  # the original bits
    model.adapter_unload("USA")
    assert model.adapter_names == ["KEN"]


def test_bad_adapters_are_named(base, tmp_path):
    _peft_adapter(base, tmp_path / "a", seed=4)
    model = _core.Model(str(base))

    rank = tmp_path / "rank"
    shutil.copytree(tmp_path / "a", rank)
    config = json.loads((rank / "adapter_config.json").read_text())
    config["r"] = 6
    (rank / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"rank 4.*r = 6"):
        model.adapter_load("rank", str(rank))

    other = tmp_path / "other-base"
    testing.write_checkpoint(other, seed=5, num_hidden_layers=3)
    _peft_adapter(other, tmp_path / "deep", seed=4)
    with pytest.raises(ValueError, match="another base model"):
        model.adapter_load("deep", str(tmp_path / "deep"))

    wide = tmp_path / "wide-base"
    testing.write_checkpoint(wide, seed=5, hidden_size=96)
    _peft_adapter(wide, tmp_path / "wide", seed=4)
    with pytest.raises(ValueError, match="hidden size 64"):
        model.adapter_load("wide", str(tmp_path / "wide"))

    head = tmp_path / "head"
    peft.get_peft_model(_hf(base), peft.LoraConfig(r=2, target_modules=["lm_head"])).save_pretrained(head)
    with pytest.raises(ValueError, match="lm_head"):
        model.adapter_load("head", str(head))

    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        model.adapter_load("none", str(tmp_path / "none"))
    with pytest.raises(ValueError, match="no adapter named 'nope'"):
        model.forward(IDS, adapters=["nope", ""])
    assert model.adapter_names == []

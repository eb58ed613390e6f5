"""LoraTrainer against a plain PyTorch + PEFT 0.13.2 loop (transformers 4.45.2):
from the same initial adapter (culturespa writes it, PEFT loads it) over the
same batches, 20 AdamW steps give the same loss at every step (relative 1e-4)
and the same final adapter (1e-4); the adapter culturespa trains loads in
PEFT with the same logits (1e-4)."""
import json
import math

import pytest
import torch

from culturespa import _core, testing

peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

STEPS = 20


def _conversations(n):
    cultures = ["Kenya", "Japan", "Brazil", "Germany", "India"]
    return [[{"role": "system", "content": f"You are from {cultures[i % 5]}."},
             {"role": "user", "content": f"Question {i}: how important is leisure time?" + " Really?" * (i % 3)},
             {"role": "assistant", "content": str(1 + i % 4)}] for i in range(n)]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    path = tmp_path_factory.mktemp("tune-base")
    testing.write_checkpoint(path, seed=13, vocab_size=272, hidden_size=32, intermediate_size=64,
                             num_attention_heads=4, num_key_value_heads=2)
    _core.testing_tokenizer_write(str(path))
    return path


def _hf(path):
    return transformers.AutoModelForCausalLM.from_pretrained(
        path, torch_dtype=torch.float32, attn_implementation="eager")


def _peft_loop(base, adapter_dir, examples, plan, settings):
    """The reference: PEFT on transformers, torch.optim.AdamW, transformers' cosine schedule."""
    model = peft.PeftModel.from_pretrained(_hf(base), adapter_dir, is_trainable=True)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings["learning_rate"], betas=(0.9, 0.999), eps=1e-8,
                                  weight_decay=0.0)
    warmup = math.ceil(settings["warmup_ratio"] * len(plan))
    schedule = transformers.get_cosine_schedule_with_warmup(optimizer, warmup, len(plan))
    losses = []
    for step in plan:
        step_tokens = sum(len(examples[i].input_ids) - examples[i].prompt_tokens for i in sum(step, []))
        total = 0.0
        for micro in step:
            width = max(len(examples[i].input_ids) for i in micro)
            ids = torch.zeros(len(micro), width, dtype=torch.long)
            mask = torch.zeros(len(micro), width, dtype=torch.long)
            labels = torch.full((len(micro), width), -100, dtype=torch.long)
            for row, i in enumerate(micro):
                e = examples[i]
                ids[row, :len(e.input_ids)] = torch.tensor(e.input_ids)
                mask[row, :len(e.input_ids)] = 1
                labels[row, e.prompt_tokens:len(e.input_ids)] = torch.tensor(e.input_ids[e.prompt_tokens:])
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
            target = labels[:, 1:]
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                                     ignore_index=-100, reduction="sum") / step_tokens
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(params, settings["max_grad_norm"])
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(total)
    return model, losses


def _peft_tensors(model):
    """The trained adapter by the names PEFT saves it under."""
    state = peft.get_peft_model_state_dict(model)
    return {k: v.detach() for k, v in state.items()}


def test_training_parity_with_peft(base, tmp_path):
    settings = dict(learning_rate=2e-3, warmup_ratio=0.1, max_grad_norm=1.0)
    model = _core.Model(str(base))
    tokenizer = _core.Tokenizer.from_folder(str(base))
    trainer = _core.LoraTrainer(model, tokenizer, chat_format="chatml", r=4, lora_alpha=8, batch_size=3, effective_batch=6,
                                max_steps=STEPS, seed=5, output_dir=str(tmp_path / "trained"), logging_steps=0,
                                **settings)
    initial = _core.lora_adapter_init(model, _core.LoraConfig(r=4, lora_alpha=8), seed=17, b_std=0.05)
    _core.lora_adapter_write(str(tmp_path / "initial"), initial)
    trainer.adapter_set(initial)

    data = _conversations(15)
    examples = trainer.tokenize(data)
    plan = trainer.plan(examples)
    assert len(plan) == STEPS
    assert all(len(micro) <= 3 for step in plan for micro in step)

    result = trainer.train(data)
    reference, losses = _peft_loop(base, str(tmp_path / "initial"), examples, plan, settings)

    ours = [s.loss for s in result.steps]
    assert len(ours) == STEPS
    for step, (a, b) in enumerate(zip(ours, losses)):
        assert abs(a - b) <= 1e-4 * abs(b), f"step {step + 1}: culturespa {a} vs PEFT {b}"
    assert ours[-1] < ours[0]

    trained = trainer.adapter.tensors()
    expected = _peft_tensors(reference)
    assert set(trained) == set(expected)
    worst = max((trained[k] - expected[k]).abs().max().item() for k in expected)
    assert worst < 1e-4
    moved = max((trained[k] - initial.tensors()[k]).abs().max().item() for k in expected)
    assert moved > 10 * worst  # the comparison is not trivially satisfied

    log = json.loads((tmp_path / "trained" / "training_log.json").read_text())
    assert [s["loss"] for s in log["steps"]] == pytest.approx(ours)


def test_trained_adapter_loads_in_peft_with_equal_logits(base, tmp_path):
    model = _core.Model(str(base))
    trainer = _core.LoraTrainer(model, _core.Tokenizer.from_folder(str(base)), chat_format="chatml", r=4, lora_alpha=16, batch_size=4,
                                effective_batch=4, max_steps=6, learning_rate=5e-3, seed=1,
                                output_dir=str(tmp_path / "a"), logging_steps=0)
    result = trainer.train(_conversations(8))
    assert result.adapter_path == str(tmp_path / "a")
    assert json.loads((tmp_path / "a" / "adapter_config.json").read_text())["peft_type"] == "LORA"
    reference = peft.PeftModel.from_pretrained(_hf(base), str(tmp_path / "a")).eval()
    ids = torch.tensor([[1, 40, 41, 42, 100, 7, 9], [3, 50, 60, 70, 80, 90, 2]])
    model.adapter_load("tuned", str(tmp_path / "a"))
    positions = torch.arange(ids.shape[1]).repeat(2, 1)
    ours = model.forward(ids, logits_at=positions, adapters=["tuned", "tuned"])
    with torch.no_grad():
        theirs = reference(input_ids=ids).logits
        base_logits = _hf(base)(input_ids=ids).logits
    assert (ours - theirs).abs().max().item() < 1e-4
    assert (theirs - base_logits).abs().max().item() > 1e-3  # training moved the adapter away from identity


def test_bad_input_and_presets(base, tmp_path):
    model = _core.Model(str(base))
    tokenizer = _core.Tokenizer.from_folder(str(base))
    trainer = _core.LoraTrainer(model, tokenizer, chat_format="chatml", logging_steps=0)
    with pytest.raises(ValueError, match="empty"):
        trainer.train([])
    with pytest.raises(ValueError, match="non-empty response"):
        trainer.train([[{"role": "user", "content": "q"}, {"role": "assistant", "content": " "}]])
    assert _core.lora_trainer_presets() == ["culturespa-joint", "culturespa-specific"]
    specific = _core.lora_trainer_preset("culturespa-specific")
    assert specific["effective_batch"] == 8 and specific["r"] == 8 and specific["lora_alpha"] == 16
    assert specific["learning_rate"] == 1e-4 and specific["cutoff"] == 4096
    _core.LoraTrainer(model, tokenizer, **specific)
    with pytest.raises(ValueError, match="culturespa-joint"):
        _core.lora_trainer_preset("nope")

    stops = []
    short = _core.LoraTrainer(model, tokenizer, chat_format="chatml", batch_size=4, effective_batch=4, max_steps=4, save_steps=10,
                              output_dir=str(tmp_path / "stop"), logging_steps=0)
    with pytest.raises(_core.Cancelled):
        short.train(_conversations(8), callback=lambda p: stops.append(p.step) or p.step < 2)
    assert stops == [1, 2]
    state = json.loads((tmp_path / "stop" / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 2

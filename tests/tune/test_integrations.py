"""culturespa.integrations: a short transformers Trainer + PEFT fine-tune of
SmolLM2-135M-Instruct calling CultureAlignmentCallback, which loads the
adapter being trained into the C++ model and logs WVS alignment per culture;
and the datasets.Dataset view of exported pairs."""
import json
import math

import pytest
import torch

from culturespa import _core, integrations

CULTURES = ["KEN", "USA", "DEU"]


def _pairs(n):
    return [[{"role": "system", "content": "You are a survey respondent from Kenya."},
             {"role": "user", "content": f"Question {i}: how important is family? Answer 1, 2, 3 or 4."},
             {"role": "assistant", "content": "1"}] for i in range(n)]


def test_messages_dataset(tmp_path):
    pytest.importorskip("datasets")
    alpaca = [{"instruction": "How important is work?", "input": "", "output": "2", "system": "You are Kenyan."}]
    (tmp_path / "culturespa_train.json").write_text(json.dumps(alpaca))
    dataset = integrations.messages_dataset(tmp_path / "culturespa_train.json")
    assert dataset.column_names == ["messages"]
    assert dataset[0]["messages"] == [{"role": "system", "content": "You are Kenyan."},
                                      {"role": "user", "content": "How important is work?"},
                                      {"role": "assistant", "content": "2"}]


def test_trainer_callback_scores_the_adapter_being_trained(smollm2_dir, shared_dir, tmp_path):
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    tokenizer = transformers.AutoTokenizer.from_pretrained(smollm2_dir)
    base = transformers.AutoModelForCausalLM.from_pretrained(smollm2_dir, torch_dtype=torch.float32)
    model = peft.get_peft_model(base, peft.LoraConfig(r=8, lora_alpha=16, task_type="CAUSAL_LM",
                                                      target_modules=["q_proj", "v_proj"]))

    rows = []
    for conversation in _pairs(8):
        ids = tokenizer.apply_chat_template(conversation, tokenize=True)
        rows.append({"input_ids": ids, "labels": ids})

    def collate(batch):
        width = max(len(r["input_ids"]) for r in batch)
        pad = lambda seq, value: seq + [value] * (width - len(seq))  # noqa: E731
        return {"input_ids": torch.tensor([pad(r["input_ids"], 0) for r in batch]),
                "attention_mask": torch.tensor([pad([1] * len(r["input_ids"]), 0) for r in batch]),
                "labels": torch.tensor([pad(r["labels"], -100) for r in batch])}

    callback = integrations.CultureAlignmentCallback(smollm2_dir, shared_dir / "wvs", CULTURES, questions=4)
    args = transformers.TrainingArguments(output_dir=str(tmp_path / "run"), per_device_train_batch_size=2,
                                          max_steps=2, eval_strategy="steps", eval_steps=1, learning_rate=1e-3,
                                          report_to=[], save_strategy="no", use_cpu=True, logging_steps=1)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=rows, eval_dataset=rows[:2],
                                   data_collator=collate, callbacks=[callback])
    trainer.train()
    assert sorted(callback.history) == [1, 2]
    for scores in callback.history.values():
        assert sorted(scores) == sorted(CULTURES)
        assert all(math.isfinite(v) for v in scores.values()), scores
    logged = [e for e in trainer.state.log_history if "wvs_alignment/mean" in e]
    assert [e["step"] for e in logged] == [1, 2]
    assert callback.model.adapter_names == []  # each evaluation's adapter was unloaded after scoring
    # What the callback loads is the adapter being trained: it moves culturespa's scores.
    model.save_pretrained(tmp_path / "final")
    callback.model.adapter_load("final", str(tmp_path / "final"))
    prompt = [{"role": "user", "content": "How important is family? Answer 1, 2, 3 or 4."}]
    tuned = callback.generator.score_options([prompt], [["1", "2", "3", "4"]], adapters=["final"]).probs[0]
    plain = callback.generator.score_options([prompt], [["1", "2", "3", "4"]]).probs[0]
    assert abs(tuned - plain).max() > 1e-6

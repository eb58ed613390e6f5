"""`culturespa tune` under `torchrun --nproc_per_node 2` (gloo on 127.0.0.1):
the micro-batches of each step split over the ranks, the LoRA gradients
summed, so the adapter equals one process's with the same effective batch
(fp32, 1e-5); rank 0 writes the checkpoints and every rank resumes from them
after kill -9 (docs/distributed.md)."""
import json

import pytest

import culturespa
from culturespa import _core, cli, testing

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp-base")
    testing.write_checkpoint(path, seed=5, vocab_size=272, hidden_size=32, intermediate_size=64)
    _core.testing_tokenizer_write(str(path))
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp-data")
    records = [{"instruction": f"Question {i}: how important is {'work family leisure friends'.split()[i % 4]}?",
                "input": "", "output": str(1 + i % 4) * (1 + i % 3), "system": "You are a respondent."}
               for i in range(48)]
    (folder / "culturespa_train.json").write_text(json.dumps(records))
    return folder


def tune_argv(base, data, output):
    # 48 examples, effective batch 8 in micro-batches of 2: 6 steps of 4 micro-batches.
    return ["tune", "--data", str(data), "--mode", "joint", "--model", str(base), "--chat-format", "chatml",
            "--batch-size", "2", "--effective-batch", "8", "--lr", "0.001", "--save-steps", "1", "--quiet",
            "--output", str(output)]


def adapter_tensors(folder):
    tensors, _ = culturespa.safetensors_read(str(folder / "adapter_model.safetensors"))
    return tensors


def assert_same_adapter(a, b):
    ta, tb = adapter_tensors(a), adapter_tensors(b)
    assert sorted(ta) == sorted(tb)
    worst = max(float((ta[name] - tb[name]).abs().max()) for name in ta)
    assert worst <= TOLERANCE, worst
    # Training moved the adapter (B starts at zero): the comparison is not of two untouched copies.
    assert max(float(t.abs().max()) for name, t in tb.items() if "lora_B" in name) > 1e-4


@pytest.fixture(scope="module")
def single(base, data, tmp_path_factory):
    output = tmp_path_factory.mktemp("ddp-single") / "adapter"
    assert cli.main(tune_argv(base, data, output)) == 0
    return output


def test_two_ranks_train_the_single_process_adapter(base, data, single, tmp_path, torchrun):
    output = tmp_path / "adapter"
    code, out = torchrun.run(tune_argv(base, data, output))
    assert code == 0, out
    assert_same_adapter(single, output)
    one = json.loads((single / "training_log.json").read_text())["steps"]
    two = json.loads((output / "training_log.json").read_text())["steps"]
    assert len(two) == len(one) == 6
    for a, b in zip(one, two):  # every rank logs the summed loss and tokens
        assert b["tokens"] == a["tokens"]
        assert abs(b["loss"] - a["loss"]) <= 1e-5 * max(1.0, abs(a["loss"]))


def test_kill_9_of_a_rank_then_every_rank_resumes_from_rank_0s_checkpoint(base, data, single, tmp_path, torchrun):
    output = tmp_path / "adapter"
    argv = tune_argv(base, data, output)
    launcher = torchrun.start(argv)
    torchrun.kill_rank_when(launcher, lambda: (output / "checkpoint" / "trainer_state.json").exists())
    code, out = torchrun.finish(launcher)
    assert code != 0, "training finished before the kill"
    assert not (output / "adapter_model.safetensors").exists()
    code, out = torchrun.run(argv)
    assert code == 0, out
    log = json.loads((output / "training_log.json").read_text())
    assert log["resumed_from"] >= 1, log["resumed_from"]
    assert "resumed from step" in out
    assert_same_adapter(single, output)

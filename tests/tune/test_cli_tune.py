"""`culturespa tune` on what `culturespa export` writes: one adapter per
culture (specific) or one (joint), each a PEFT folder with its training log."""
import json

import pytest

from culturespa import _core, cli, testing


def _alpaca(culture, n=4):
    return [{"instruction": f"Question {i}: how important is work?", "input": "", "output": str(1 + i % 4),
             "system": f"You are a respondent from {culture}."} for i in range(n)]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli-tune-base")
    testing.write_checkpoint(path, seed=3, vocab_size=272, hidden_size=32, intermediate_size=64)
    _core.testing_tokenizer_write(str(path))
    return path


def test_tune_specific_and_joint(base, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for culture in ["KEN", "USA"]:
        (data / f"culturespa_{culture}_train.json").write_text(json.dumps(_alpaca(culture)))
    (data / "culturespa_train.jsonl").write_text("".join(
        json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "3"}]}) + "\n"
        for _ in range(3)))
    common = ["--model", str(base), "--chat-format", "chatml", "--max-steps", "2", "--quiet"]
    assert cli.main(["tune", "--data", str(data), "--mode", "specific", "--output", str(tmp_path / "adapters")]
                    + common) == 0
    for culture in ["KEN", "USA"]:
        folder = tmp_path / "adapters" / culture
        assert json.loads((folder / "adapter_config.json").read_text())["r"] == 8
        assert len(json.loads((folder / "training_log.json").read_text())["steps"]) == 2
        model = _core.Model(str(base))
        model.adapter_load(culture, str(folder))
    assert cli.main(["tune", "--data", str(data), "--mode", "joint", "--output", str(tmp_path / "joint")]
                    + common) == 0
    assert (tmp_path / "joint" / "adapter_model.safetensors").exists()
    assert cli.main(["tune", "--data", str(tmp_path / "adapters"), "--mode", "joint", "--output",
                     str(tmp_path / "x")] + common) != 0
    assert "no culturespa_train.json(l)" in capsys.readouterr().err

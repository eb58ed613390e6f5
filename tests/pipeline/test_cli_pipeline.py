"""`culturespa generate` and `culturespa answer` on a random checkpoint,
then `contrast` and `export` on what they wrote."""
import json

import pytest

import culturespa
from culturespa import cli


@pytest.fixture
def tiny_model(tiny_model_dir):
    return tiny_model_dir


def test_generate_command_counts_and_resumes(tiny_model, shared_dir, tmp_path, capsys):
    stage = tmp_path / "gen.jsonl"
    argv = ["generate", "--model", str(tiny_model), "--chat-format", "chatml", "--survey", str(shared_dir / "wvs"),
            "--topics", "Migration", "Corruption", "--per-topic", "1", "--round-size", "3", "--max-attempts", "3",
            "--max-new-tokens", "8", "--output", str(stage)]
    # Random weights write no question: the attempt limit stops each topic (exit 1).
    assert cli.main(argv) == 1
    out = capsys.readouterr().out
    assert "Migration" in out and "Corruption" in out and "attempt limit reached" in out
    assert stage.exists()


def test_answer_contrast_export_commands(tiny_model, tmp_path, capsys):
    questions = [{"Q_id": f"Q{i}", "question": f"How important is thing {i} in your life?",
                  "option_lst": ["Very important", "Rather important", "Not very important"],
                  "class": "Social Values"} for i in range(5)]
    bank = tmp_path / "bank.json"
    bank.write_text(json.dumps(questions))
    out_dir = tmp_path / "answers"
    argv = ["answer", "--model", str(tiny_model), "--chat-format", "chatml", "--questions", str(bank),
            "--output", str(out_dir), "--cultures", "KEN", "THA"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "unaware" in printed and "KEN" in printed and "(kept)" not in printed
    files = sorted(p.name for p in out_dir.glob("*.json"))
    assert files == ["answers_culture_aware_KEN_0.json", "answers_culture_aware_THA_0.json",
                     "answers_culture_unaware_0.json"]
    assert sorted(p.name for p in out_dir.glob(".*.settings")) == [f".{f}.settings" for f in files]
    items = json.loads((out_dir / "answers_culture_aware_KEN_0.json").read_text())
    assert len(items) == 5 and len(items[0]["distribution"]) == 3
    assert abs(sum(items[0]["distribution"]) - 1) < 1e-6
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.count("(kept)") == 3

    pairs = tmp_path / "pairs.jsonl"
    assert cli.main(["contrast", "--unaware", str(out_dir / "answers_culture_unaware_0.json"),
                     "--aware", str(out_dir / "answers_culture_aware_KEN_0.json"),
                     str(out_dir / "answers_culture_aware_THA_0.json"),
                     "--rule", "distributional", "--jsd-threshold", "0", "--output", str(pairs)]) == 0
    capsys.readouterr()
    # Threshold 0 keeps every valid pair: 5 questions x 2 cultures.
    assert len(pairs.read_text().splitlines()) == 10
    assert cli.main(["export", "--pairs", str(pairs), "--output", str(tmp_path / "data")]) == 0
    assert (tmp_path / "data" / "dataset_info.json").exists()


def test_answer_command_sampled_mode(tiny_model, tmp_path, capsys):
    bank = tmp_path / "bank.json"
    bank.write_text(json.dumps([{"Q_id": "Q0", "question": "Is family important?", "option_lst": ["Yes", "No"]}]))
    argv = ["answer", "--model", str(tiny_model), "--chat-format", "chatml", "--questions", str(bank),
            "--output", str(tmp_path / "s"), "--cultures", "USA", "--mode", "sampled", "--max-new-tokens", "4"]
    assert cli.main(argv) == 0
    items = json.loads((tmp_path / "s" / "answers_culture_aware_USA_0.json").read_text())
    assert isinstance(items[0]["answer"], str) and "distribution" not in items[0]


def test_generate_command_with_own_seed_questions(tiny_model, tmp_path, capsys):
    seeds = tmp_path / "seeds.json"
    seeds.write_text(json.dumps([{"Q_id": f"S{topic}{i}", "question": f"Seed {i} about {topic}?", "option_lst": ["Yes", "No"],
                                  "class": topic} for topic in ("Food", "Music") for i in range(3)]))
    stage = tmp_path / "gen.jsonl"
    argv = ["generate", "--model", str(tiny_model), "--chat-format", "chatml", "--seeds", str(seeds),
            "--per-topic", "1", "--round-size", "2", "--max-attempts", "2", "--max-new-tokens", "4",
            "--output", str(stage)]
    assert cli.main(argv) == 1  # random weights: the attempt limit is reached
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:3]] == ["Food", "Music"]
    assert all(" 2 " in line for line in lines[1:3])  # 2 attempts each

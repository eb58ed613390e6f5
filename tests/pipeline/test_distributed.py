"""`culturespa answer` and `culturespa evaluate` under `torchrun --nproc_per_node 2`
(two processes on 127.0.0.1, gloo): the files equal one process's byte for
byte, kill -9 of a rank then a re-run resumes, and bad starts are refused with
a message (docs/distributed.md). LoRA training across ranks: tests/tune."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import culturespa
from culturespa import cli

CULTURES = ["KEN", "THA", "DEU", "USA", "CHN"]


def files_of(folder: Path) -> dict:
    """Every file under `folder` (hidden settings records included) -> its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    questions = [{"Q_id": f"Q{i}", "question": f"How important is thing {i} in your life?",
                  "option_lst": ["Very important", "Rather important", "Not very important", "Not at all important"],
                  "class": "Social Values"} for i in range(160)]
    path = tmp_path_factory.mktemp("bank") / "bank.json"
    path.write_text(json.dumps(questions))
    return path


def answer_argv(model, bank, output, *extra):
    # One LibTorch thread in every process: a thread count changes the order of
    # floating-point sums, so byte-equality needs the same count per process.
    return ["answer", "--model", str(model), "--chat-format", "chatml", "--questions", str(bank),
            "--output", str(output), "--cultures", *CULTURES, "--batch-size", "16", "--threads", "1", *extra]


@pytest.mark.parametrize("mode", ["scored", "sampled"])
def test_answering_on_two_ranks_equals_one_process(tiny_model_dir, bank, tmp_path, capsys, torchrun, mode):
    extra = ["--mode", mode] + (["--max-new-tokens", "4"] if mode == "sampled" else [])
    assert cli.main(answer_argv(tiny_model_dir, bank, tmp_path / "one", *extra)) == 0
    capsys.readouterr()
    code, out = torchrun.run(answer_argv(tiny_model_dir, bank, tmp_path / "two", *extra))
    assert code == 0, out
    one, two = files_of(tmp_path / "one"), files_of(tmp_path / "two")
    assert len(one) == 2 * (1 + len(CULTURES))  # answer files and their settings records
    assert sorted(two) == sorted(one)
    for name in one:
        assert two[name] == one[name], name


def test_generation_on_two_ranks_equals_one_process(tiny_model_dir, tmp_path, capsys, torchrun):
    seeds = tmp_path / "seeds.json"
    seeds.write_text(json.dumps([{"Q_id": f"S{topic}{i}", "question": f"Is {topic.lower()} thing {i} good?",
                                  "option_lst": ["Yes", "No"], "class": topic}
                                 for topic in ("Food", "Music", "Sport") for i in range(3)]))

    def argv(output):
        return ["generate", "--model", str(tiny_model_dir), "--chat-format", "chatml", "--seeds", str(seeds),
                "--per-topic", "2", "--round-size", "2", "--max-attempts", "6", "--max-new-tokens", "1000",
                "--constrained", "--threads", "1", "--output", str(output)]

    one_code = cli.main(argv(tmp_path / "one.jsonl"))
    one_out = capsys.readouterr().out
    code, out = torchrun.run(argv(tmp_path / "two.jsonl"))
    assert code == one_code, out
    one = (tmp_path / "one.jsonl").read_bytes()
    assert one.count(b"\n") > 0, one_out  # questions were accepted: the comparison compares something
    assert (tmp_path / "two.jsonl").read_bytes() == one
    assert not list(tmp_path.glob("two.jsonl.rank*"))  # the part files were merged and removed
    # Every rank prints the whole table (the other ranks' topics exchanged).
    for line in one_out.splitlines()[1:4]:
        assert out.count(line) == 2, (line, out)


def test_kill_9_of_a_rank_then_a_rerun_resumes(tiny_model_dir, bank, tmp_path, capsys, torchrun):
    assert cli.main(answer_argv(tiny_model_dir, bank, tmp_path / "one")) == 0
    capsys.readouterr()
    output = tmp_path / "two"
    argv = answer_argv(tiny_model_dir, bank, output)
    launcher = torchrun.start(argv)
    torchrun.kill_rank_when(launcher, lambda: bool(list(output.glob("answers_*.json"))))
    code, out = torchrun.finish(launcher)
    assert code != 0, "every run finished before the kill: give the ranks more work"
    kept = {p.name: p.stat().st_mtime_ns for p in output.glob("answers_*.json")}
    assert 0 < len(kept) < 1 + len(CULTURES), out

    code, out = torchrun.run(argv)
    assert code == 0, out
    assert out.count("(kept)") >= len(kept)
    for name, mtime in kept.items():  # finished files were kept, not answered again
        assert (output / name).stat().st_mtime_ns == mtime, name
    assert files_of(output) == files_of(tmp_path / "one")


def test_evaluation_on_two_ranks_equals_one_process(tiny_model_dir, shared_dir, tmp_path, torchrun):
    survey = culturespa.Survey.wvs7(str(shared_dir / "wvs"))
    keep = set(survey.evaluated_ids[:12])
    for qid in survey.evaluated_ids:
        if qid not in keep:
            survey.set_evaluated(qid, False)
    survey_file = tmp_path / "survey.json"
    survey.save(str(survey_file))

    def argv(output, table):
        return ["evaluate", "--model", str(tiny_model_dir), "--chat-format", "chatml", "--survey", str(survey_file),
                "--methods", "P0", "P1", "P2", "--cultures", "KEN", "DEU", "USA", "--output", str(output),
                "--format", "json", "--bootstrap", "50", "--table", str(table), "--threads", "1"]

    assert cli.main(argv(tmp_path / "one", tmp_path / "one.json")) == 0
    code, out = torchrun.run(argv(tmp_path / "two", tmp_path / "two.json"))
    assert code == 0, out
    one, two = files_of(tmp_path / "one"), files_of(tmp_path / "two")
    assert len(one) == 1 + 1 + 2 * 3  # evaluation.json, P0 once, P1 and P2 per culture
    assert sorted(two) == sorted(one)
    for name in one:
        assert two[name] == one[name], name
    # The table (written by both ranks, atomically) is one process's.
    tables = [json.loads((tmp_path / f"{name}.json").read_text()) for name in ("one", "two")]
    for table in tables:  # the result files' paths name their folder
        table.pop("files")
    assert tables[1] == tables[0]


def test_bad_starts_are_refused_with_a_message(tmp_path, torchrun):
    # WORLD_SIZE without MASTER_ADDR.
    run = subprocess.run([sys.executable, "-m", "culturespa", "info"], env=torchrun.environment(WORLD_SIZE="2", RANK="0"),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "MASTER_ADDR" in run.stderr, run.stderr

    # Ranks started with different commands: refused on both.
    port = str(torchrun.free_port())
    ranks = [subprocess.Popen([sys.executable, "-m", "culturespa", "info", *(["--json"] if rank else [])],
                              env=torchrun.environment(WORLD_SIZE="2", RANK=str(rank), MASTER_ADDR="127.0.0.1",
                                              MASTER_PORT=port),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in (0, 1)]
    for rank in ranks:
        _, err = rank.communicate(timeout=120)
        assert rank.returncode == 2 and "different configs" in err, err

    # A rank that never joins: a timeout naming it (the Python API's join_timeout).
    code = ("import culturespa\n"
            "culturespa.distributed_init(join_timeout=1)\n")
    run = subprocess.run([sys.executable, "-c", code],
                         env=torchrun.environment(WORLD_SIZE="2", RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(torchrun.free_port())),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "did not join" in run.stderr and "rank(s) 1" in run.stderr, run.stderr


def test_an_initialised_torch_distributed_is_reused(tmp_path, torchrun):
    """rank and world size from torch.distributed; culturespa joins its store as a client."""
    script = tmp_path / "reuse.py"
    script.write_text(
        "import os, torch.distributed as dist\n"
        "dist.init_process_group('gloo', init_method='env://')\n"
        "import culturespa\n"
        "group = culturespa.distributed_init(config='same')\n"
        "assert group is culturespa.distributed_group()\n"
        "assert (group.rank, group.world_size) == (dist.get_rank(), dist.get_world_size()), group\n"
        "group.barrier('reuse')\n"
        "print('joined', group.rank, group.world_size, flush=True)\n"
        "culturespa.distributed_shutdown()\n")
    port = str(torchrun.free_port())
    ranks = [subprocess.Popen([sys.executable, str(script)],
                              env=torchrun.environment(WORLD_SIZE="2", RANK=str(rank), MASTER_ADDR="127.0.0.1",
                                              MASTER_PORT=port),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for rank in (0, 1)]
    outs = [rank.communicate(timeout=120)[0] for rank in ranks]
    for rank, out in enumerate(outs):
        assert ranks[rank].returncode == 0 and f"joined {rank} 2" in out, out

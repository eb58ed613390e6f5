"""`culturespa run` end to end: a random tiny checkpoint with canned replies
through every stage (generate .. evaluate), the run folder's files, a kill -9
in the middle of each stage followed by a resume that loses no finished work,
a second run that does nothing, and named errors for bad input."""
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import culturespa
from culturespa import cli, evaluation, run
from culturespa.survey import culture_from_code

ROOT = Path(__file__).resolve().parents[2]
CULTURES = ["USA", "KEN"]

# The child process: `culturespa run` through its argument parser, with canned
# replies for generate/answer and a progress hook that kills the process
# (SIGKILL, no cleanup) once stage $KILL_STAGE has reported $KILL_AT units.
CHILD = textwrap.dedent("""
    import os, signal, sys
    from culturespa import cli, run

    kill_stage = os.environ.get("KILL_STAGE", "")
    kill_at = int(os.environ.get("KILL_AT", "0"))

    def progress(p):
        if p.stage == kill_stage and p.done >= kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return True

    def replies(prompts, seeds, sampling):
        return ['{"Question": "How much do you value thing %d?", "Options": ["A lot", "Somewhat", "Not at all"]}'
                % (s % 100003) for s in seeds]

    def scores(prompts, labels):
        out = []
        for prompt, ls in zip(prompts, labels):
            p = [0.1] * len(ls)
            aware = "cultural background" in prompt[0]["content"]
            p[-1 if aware else 0] = 0.8
            out.append(p)
        return out

    args = cli.build_parser().parse_args(["run"] + sys.argv[1:])
    sys.exit(run.run_cli(args, replies=replies, scores=scores, progress=progress))
""")


def _survey_file(folder: Path) -> Path:
    cultures = [culture_from_code(c) for c in CULTURES]
    questions = [culturespa.Question(id=f"Q{i + 1}", text=f"Seed question {i + 1}?",
                                     options=["Very", "Rather", "Not very", "Not at all"],
                                     topic=["Family", "Trust"][i // 3]) for i in range(6)]
    survey = culturespa.Survey(name="tiny", questions=questions, cultures=cultures)
    for k, code in enumerate(CULTURES):
        for i in range(6):
            survey.set_human_answers(code, f"Q{i + 1}", {1 + (i + k) % 4: 0.6, 1 + (i + k + 1) % 4: 0.4})
    path = folder / "survey.json"
    survey.save(str(path))
    return path


@pytest.fixture(scope="module")
def config_file(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("run-config")
    tune = {"max_steps": 3, "batch_size": 4, "effective_batch": 4, "cutoff": 512, "save_steps": 1}
    config = {
        "run": {"model": str(tiny_model_dir), "survey": str(_survey_file(folder)), "cultures": CULTURES,
                "chat_format": "chatml"},
        "generate": {"questions_per_topic": 4, "round_size": 2},
        "tune": {"modes": ["joint", "specific"], "joint": tune, "specific": tune},
        "evaluate": {"bootstrap_samples": 0},
    }
    path = folder / "run.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def _run(config_file, output, *extra, kill_stage="", kill_at=0, check=True):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"), KILL_STAGE=kill_stage, KILL_AT=str(kill_at),
               OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHILD, "--config", str(config_file), "--output", str(output),
                           "--quiet", *extra], env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"culturespa run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _snapshot(folder: Path):
    """Every file of a run folder (but the manifest) -> (mtime, bytes)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "manifest.json" and "checkpoint" not in path.parts:
            out[str(path.relative_to(folder))] = (path.stat().st_mtime_ns, path.read_bytes())
    return out


@pytest.fixture(scope="module")
def finished_run(config_file, tmp_path_factory):
    output = tmp_path_factory.mktemp("run") / "run"
    proc = _run(config_file, output)
    return output, proc


def test_every_stage_writes_its_files(finished_run):
    output, proc = finished_run
    for stage in ("generate", "filter", "answer", "contrast", "export", "tune", "evaluate"):
        assert f"{stage:9s} ran" in proc.stdout
    assert len((output / "generate/questions.jsonl").read_text().splitlines()) == 8
    kept = json.loads((output / "filter/questions.json").read_text())
    assert len(kept) == 8
    assert json.loads((output / "filter/report.json").read_text())["kept"] == 8
    for name in ["answers_culture_unaware_0.json"] + [f"answers_culture_aware_{c}_0.json" for c in CULTURES]:
        questions, answers = culturespa.pipeline.answer_file_load(str(output / "answer" / name))
        assert len(answers) == 8
    pairs = culturespa.pipeline.contrast_pairs_load(str(output / "contrast/pairs.jsonl"))
    assert len(pairs) == 16  # every question x culture: the canned scores always differ
    assert json.loads((output / "contrast/report.json").read_text())["total"]["different"] == 16
    assert len(json.loads((output / "export/culturespa_train.json").read_text())) == 16
    assert len(json.loads((output / "export/culturespa_KEN_train.json").read_text())) == 8
    for adapter in ["tune/joint"] + [f"tune/specific/{c}" for c in CULTURES]:
        assert (output / adapter / "adapter_config.json").is_file()
        log = json.loads((output / adapter / "training_log.json").read_text())
        assert len(log["steps"]) == 3
    for folder, methods in (("base", ["culture_unaware", "culture_aware"]), ("joint", ["culture_aware"]),
                            ("specific", ["culture_aware"])):
        manifest = evaluation.EvaluationManifest.load(str(output / "evaluate" / folder))
        assert manifest.methods == methods
        assert (output / "evaluate" / folder / "wvs_result_culture_aware_KEN_0.json").is_file()
    # evaluate/survey.json is the survey as evaluated: the folders score with it.
    evaluated = culturespa.Survey.load(str(output / "evaluate/survey.json"))
    scorer = culturespa.SurveyEvaluator(None, evaluated, replies=lambda *a: [], cultures=CULTURES,
                                        model=evaluation.EvaluationManifest.load(str(output / "evaluate/joint")).model,
                                        bootstrap_samples=0)
    report = scorer.score(["P1"], str(output / "evaluate/joint"))
    assert [c.culture for c in report.rows[0].cells] == CULTURES
    manifest = json.loads((output / "manifest.json").read_text())
    assert list(manifest["stages"]) == ["generate", "filter", "answer", "contrast", "export", "tune", "evaluate"] + (
        ["report"] if "report" in manifest["stages"] else [])
    for stage, entry in manifest["stages"].items():
        assert entry["status"] == "done"
        assert entry["seconds"] >= 0
        for output_path in entry["outputs"]:
            assert (output / output_path).exists(), output_path
    assert manifest["culturespa_version"] == culturespa.__version__
    assert len(manifest["inputs"]) >= 3
    config = json.loads((output / "config.json").read_text())
    assert config["run"]["cultures"] == CULTURES
    assert config["tune"]["specific"]["max_steps"] == 3
    assert config["answer"]["temperature"] == culturespa._core.AnswerOptions().temperature  # defaults filled in


def test_a_second_run_does_nothing(finished_run, config_file):
    output, _ = finished_run
    before = _snapshot(output)
    manifest = (output / "manifest.json").read_bytes()
    proc = _run(config_file, output)
    assert "is finished: nothing to do" in proc.stdout
    assert _snapshot(output) == before
    assert (output / "manifest.json").read_bytes() == manifest


# (stage, units of its progress after which the process is killed): each
# point lies inside the stage, after some of its work is finished.
KILL_POINTS = [("generate", 4), ("filter", 0), ("answer", 9), ("contrast", 0), ("export", 0), ("tune", 2),
               ("evaluate", 13)]


@pytest.mark.slow
@pytest.mark.parametrize("stage,at", KILL_POINTS, ids=[s for s, _ in KILL_POINTS])
def test_kill_9_inside_a_stage_loses_no_finished_work(stage, at, finished_run, config_file, tmp_path):
    reference, _ = finished_run
    output = tmp_path / "run"
    killed = _run(config_file, output, kill_stage=stage, kill_at=at, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["stages"][stage]["status"] == "running"
    before = _snapshot(output)

    resumed = _run(config_file, output)
    order = [s for s, _ in KILL_POINTS]
    for earlier in order[:order.index(stage)]:
        assert f"{earlier:9s} skipped" in resumed.stdout
    after = _snapshot(output)
    # Finished work is kept as it was: earlier stages' files, and the files
    # this stage finished before the kill (answer and evaluation files,
    # adapters; the generation file is only appended to).
    for name, (mtime, data) in before.items():
        if name == "generate/questions.jsonl":
            assert after[name][1].startswith(data)
        elif not name.startswith(stage + "/"):
            assert after[name] == (mtime, data), name
        elif Path(name).name.startswith(("answers_", "wvs_result_")):
            assert after[name] == (mtime, data), name
    if stage == "tune":
        log = json.loads((output / "tune/joint/training_log.json").read_text())
        assert log["resumed_from"] == 1  # the checkpoint of step 1 (save_steps 1), not a fresh start
    if stage == "evaluate":
        assert any(n.startswith("evaluate/base/wvs_result") for n in before)
    # The resumed run reaches what the uninterrupted one did.
    expected = _snapshot(reference)
    for name in ("generate/questions.jsonl", "filter/questions.json", "answer/answers_culture_aware_KEN_0.json",
                 "contrast/pairs.jsonl", "export/culturespa_train.json",
                 "evaluate/base/wvs_result_culture_aware_USA_0.json"):
        assert after[name][1] == expected[name][1], name
    losses = [s["loss"] for s in json.loads((output / "tune/joint/training_log.json").read_text())["steps"]]
    reference_losses = [s["loss"] for s in json.loads((reference / "tune/joint/training_log.json").read_text())["steps"]]
    assert losses == pytest.approx(reference_losses, rel=1e-4)


def _cli(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_bad_input_is_named_before_any_work(config_file, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"answer": {"temprature": 0.5}}))
    code, text = _cli(["run", "--config", str(bad), "--output", str(tmp_path / "a")], capsys)
    assert code == 2
    assert "answer.temprature" in text and "valid keys of [answer]" in text and "temperature" in text
    assert not (tmp_path / "a").exists()

    code, text = _cli(["run", "--preset", "fastest", "--output", str(tmp_path / "b")], capsys)
    assert code == 2
    assert "fastest" in text and "quick" in text and "demo" in text and "paper" in text

    code, text = _cli(["run", "--config", str(config_file), "--output", str(tmp_path / "c"), "--from", "tune"],
                      capsys)
    assert code == 2
    assert "stage tune needs generate/questions.jsonl" in text and "--from generate" in text
    assert not (tmp_path / "c" / "manifest.json").exists()

    code, text = _cli(["run", "--config", str(config_file), "--output", str(tmp_path / "d"), "--until", "sing"],
                      capsys)
    assert code == 2
    assert "sing" in text and "evaluate" in text


def test_config_files_and_presets_from_python(tmp_path):
    config = culturespa.pipeline_config_preset("quick")
    assert config.to_dict()["run"]["cultures"] == ["USA", "CHN", "KEN"]
    again = run.pipeline_config_from_json(config.to_json())
    assert again.to_json() == config.to_json()
    path = tmp_path / "run.toml"
    path.write_text('preset = "demo"\n[answer]\nseed = 3\n')
    try:
        loaded = culturespa.pipeline_config_load(str(path))
    except ValueError as error:
        if "JSON configs only" in str(error):
            pytest.skip("built without toml11")
        raise
    assert loaded.preset == "demo" and loaded.to_dict()["answer"]["seed"] == 3
    path.write_text('[answer]\nseed = "three"\n')
    with pytest.raises(ValueError, match=r"run.toml: answer.seed \(line 2\)"):
        culturespa.pipeline_config_load(str(path))


@pytest.mark.slow
def test_quick_preset_on_smollm2(tmp_path):
    """The quickstart: `culturespa run --preset quick` on the cached SmolLM2-135M-Instruct and WVS-7 data."""
    from culturespa import models

    if not (models.model_path("smollm2-135m-instruct") / models.MANIFEST).is_file():
        pytest.skip("SmolLM2-135M-Instruct is not cached (culturespa model fetch smollm2-135m-instruct)")
    if culturespa._core.survey_data_verify("wvs7") is not None:
        pytest.skip("the WVS-7 data is not cached (culturespa data fetch wvs7)")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    proc = subprocess.run([sys.executable, "-m", "culturespa", "run", "--preset", "quick", "--output",
                           str(tmp_path / "quick"), "--quiet"], env=env, capture_output=True, text=True,
                          timeout=3600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = json.loads((tmp_path / "quick/manifest.json").read_text())
    for stage in ("generate", "filter", "answer", "contrast", "export", "tune", "evaluate"):
        assert manifest["stages"][stage]["status"] == "done"
    assert (tmp_path / "quick/tune/joint/adapter_model.safetensors").is_file()
    assert (tmp_path / "quick/evaluate/joint/wvs_result_culture_aware_KEN_0.json").is_file()


def test_specific_adapters_in_mixed_batches_answer_as_each_adapter_alone(finished_run, tiny_model_dir, tmp_path):
    """evaluate/specific asks every culture in one call with its own adapter:
    the same answers as asking each culture alone with that adapter."""
    output, _ = finished_run
    model = culturespa.Model(str(tiny_model_dir))
    for code in CULTURES:
        model.adapter_load(code, str(output / "tune/specific" / code))
    generator = culturespa.Generator(model, culturespa.Tokenizer.from_folder(str(tiny_model_dir)),
                                     chat_format="chatml")
    survey = culturespa.Survey.load(json.loads((output / "config.json").read_text())["run"]["survey"])
    mixed = culturespa.SurveyEvaluator(generator, survey, cultures=CULTURES, model="tiny", bootstrap_samples=0,
                                       adapters={c: c for c in CULTURES})
    mixed.evaluate(["P1"], str(tmp_path / "mixed"))
    for code in CULTURES:
        alone = culturespa.SurveyEvaluator(generator, survey, cultures=[code], model="tiny", bootstrap_samples=0,
                                           adapters={"*": code})
        alone.evaluate(["P1"], str(tmp_path / code))
        name = f"wvs_result_culture_aware_{code}_0.json"
        got = json.loads((tmp_path / "mixed" / name).read_text())
        want = json.loads((tmp_path / code / name).read_text())
        assert [a["answer"] for a in got] == [a["answer"] for a in want]
        for a, b in zip(got, want):
            assert a["distribution"] == pytest.approx(b["distribution"], abs=1e-5)
        base = json.loads((output / "evaluate/base" / name).read_text())
        assert any(a["distribution"] != pytest.approx(b["distribution"], abs=1e-7) for a, b in zip(got, base))
    with pytest.raises(ValueError, match="not evaluated"):
        culturespa.SurveyEvaluator(generator, survey, cultures=["USA"], adapters={"KEN": "KEN"})

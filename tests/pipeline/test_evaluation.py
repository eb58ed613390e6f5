"""`culturespa evaluate` and culturespa.SurveyEvaluator on a random tiny model
(and, slow-marked, SmolLM2 against transformers): result files, resume, the
methods' prompts, the score recomputed independently, bad input."""
import importlib.util
import json
import math
import os
from pathlib import Path

import pytest

import culturespa
from culturespa.cli import main

ROOT = Path(__file__).resolve().parents[2]
# 12 of the 259: 2- to 10-option questions, zero-based ones (Q94, Q241) among them.
QUESTION_IDS = ["Q1", "Q8", "Q27", "Q46", "Q57", "Q94", "Q131", "Q154", "Q164", "Q199", "Q241", "Q254"]
CULTURES = ["KEN", "DEU", "USA"]


def _survey(shared_dir, ids=QUESTION_IDS):
    survey = culturespa.Survey.wvs7(str(shared_dir / "wvs"))
    for qid in survey.evaluated_ids:
        if qid not in ids:
            survey.set_evaluated(qid, False)
    return survey


@pytest.fixture(scope="module")
def survey_file(shared_dir, tmp_path_factory):
    """The WVS-7 survey with 12 evaluated questions, as a culturespa survey file."""
    path = tmp_path_factory.mktemp("survey") / "wvs7-12.json"
    _survey(shared_dir).save(str(path))
    return path


def _generator(tiny_model_dir):
    model = culturespa.Model(tiny_model_dir)
    return culturespa.Generator(model, culturespa.Tokenizer.from_folder(str(tiny_model_dir)), chat_format="chatml")


def _reference_score(result_file, culture, shared_dir):
    """The reference evaluation's alignment score, written out here from
    ../shared/wvs/README.md: first run of digits kept in 0..10, gold = the first
    stored key, one Euclidean distance over the whole vector, x100."""
    import re

    proportions = json.loads((shared_dir / "wvs" / "proportions_group_by_country.json").read_text())[culture]
    distance = span = 0.0
    for item in json.loads(Path(result_file).read_text()):
        match = re.search(r"\d+", str(item["answer"]))
        gold = proportions.get(item["Q_id"]) or {}
        if not match or not 0 <= int(match.group()) <= 10 or not gold:
            continue
        distance += (int(match.group()) - int(next(iter(gold)))) ** 2
        span += (len(item["option_lst"]) - 1) ** 2
    return 100 * (1 - math.sqrt(distance) / math.sqrt(span))


def _evaluate(argv, capsys):
    code = main(["evaluate"] + argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_evaluate_writes_reference_files_and_the_table(tiny_model_dir, survey_file, shared_dir, tmp_path,
                                                            capsys):
    out = tmp_path / "eval"
    code, stdout, err = _evaluate(["--model", str(tiny_model_dir), "--chat-format", "chatml", "--survey",
                                   str(survey_file), "--methods", "P0", "P1", "--cultures", *CULTURES,
                                   "--output", str(out), "--format", "json", "--bootstrap", "200"], capsys)
    assert code == 0, err
    report = json.loads(stdout)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["evaluation.json", "wvs_result_culture_unaware_0.json"]
                           + [f"wvs_result_culture_aware_{c}_0.json" for c in CULTURES])
    items = json.loads((out / "wvs_result_culture_aware_KEN_0.json").read_text())
    assert [i["Q_id"] for i in items] == QUESTION_IDS
    assert set(items[0]) >= {"Q_id", "question", "option_lst", "answer", "distribution"}
    assert report["evaluated_questions"] == 12 and report["skipped_questions"] == 291 - 12
    assert report["model"] == str(Path(tiny_model_dir).resolve())
    assert [r["method"] for r in report["rows"]] == ["culture_unaware", "culture_aware"]
    for row, stem in zip(report["rows"], ["culture_unaware_0", "culture_aware_{}_0"]):
        for cell in row["cells"]:
            path = out / f"wvs_result_{stem.format(cell['culture'])}.json"
            # The independent re-implementation, `culturespa score` and the table agree.
            expected = _reference_score(path, cell["culture"], shared_dir)
            assert main(["score", "--survey", str(shared_dir / "wvs"), "--answers", str(path), "--culture",
                         cell["culture"], "--json", "--bootstrap", "0"]) == 0
            scored = json.loads(capsys.readouterr().out)
            assert scored["alignment"] == pytest.approx(expected, abs=0.005)
            assert cell["alignment"] == pytest.approx(expected, abs=1e-9)
            assert cell["answered"] == 12 and cell["parse_failures"] == 0
            assert cell["ci_low"] <= cell["alignment"] <= cell["ci_high"]
            assert 0 <= cell["js_similarity"] <= 100
    # The Markdown table: methods as rows, the cultures and the average as columns.
    assert main(["evaluate", "--survey", str(survey_file), "--output", str(out), "--methods", "P0", "P1",
                 "--score-only", "--cultures", *CULTURES]) == 0
    markdown = capsys.readouterr().out
    assert "| method | KEN | DEU | USA | average |" in markdown
    assert "| culture_aware |" in markdown and "Per topic" in markdown


def test_evaluator_resumes_after_an_interruption(tiny_model_dir, shared_dir, tmp_path):
    survey = _survey(shared_dir)
    evaluator = culturespa.SurveyEvaluator(_generator(tiny_model_dir), survey, cultures=CULTURES, model="tiny")
    out = tmp_path / "eval"
    seen = []

    def stop_after_two_files(progress):
        seen.append(progress.done)
        return progress.done <= 24

    with pytest.raises(culturespa.Cancelled):
        evaluator.evaluate(["P0", "P1"], out, progress=stop_after_two_files)
    done = sorted(p.name for p in out.glob("wvs_result_*"))
    assert done == ["wvs_result_culture_aware_KEN_0.json", "wvs_result_culture_unaware_0.json"]
    first = {name: (out / name).stat().st_mtime_ns for name in done}
    report = evaluator.evaluate(["P0", "P1"], out)
    assert {f.path for f in report.files if f.resumed} == {str(out / name) for name in done}
    assert all((out / name).stat().st_mtime_ns == first[name] for name in done)
    assert len(list(out.glob("wvs_result_*"))) == 4
    # A finished folder asks nothing again.
    again = evaluator.evaluate(["P0", "P1"], out)
    assert all(f.resumed for f in again.files)
    assert again.row("culture_aware").cell("KEN").alignment == report.row("culture_aware").cell("KEN").alignment


def test_method_prompts_are_the_survey_layers(shared_dir, tmp_path):
    survey = _survey(shared_dir)
    asked = []

    def scores(prompts, labels):
        asked.extend(prompts)
        return [[1.0 / len(l)] * len(l) for l in labels]

    evaluator = culturespa.SurveyEvaluator(None, survey, replies=lambda *a: [], scores=scores,
                                           cultures=["KEN", "NZL"])
    expected = []
    for name in culturespa.EvaluationMethod.names():
        method = culturespa.EvaluationMethod.paper(name)
        for culture in (["KEN", "NZL"] if method.per_culture else [""]):
            built = culturespa.prompt_build_all(survey, method=name, culture=culture)
            expected.extend([dict(m) for m in p.messages] for p in built)
            assert [p.messages for p in evaluator.prompts(name, culture)] == [p.messages for p in built]
    evaluator.evaluate(culturespa.EvaluationMethod.names(), tmp_path / "all")
    assert [[dict(m) for m in p] for p in asked] == expected


def test_user_method_from_a_template_file(shared_dir, tmp_path):
    templates = json.loads((shared_dir / "wvs" / "prompts.json").read_text())
    templates["_method"] = "culture_aware"
    templates["answer_user"] = "Q: {}\nOptions: {}\nAnswer with the number only."
    path = tmp_path / "terse.json"
    path.write_text(json.dumps(templates))
    evaluator = culturespa.SurveyEvaluator(None, _survey(shared_dir), replies=lambda p, s, o: ["1"] * len(p),
                                           protocol="sampled", cultures=["KEN"])
    report = evaluator.evaluate([str(path)], tmp_path / "out")
    assert (tmp_path / "out" / "wvs_result_terse_KEN_0.json").is_file()
    assert report.rows[0].method == "terse"
    prompt = evaluator.prompts(str(path), "KEN")[0]
    assert prompt.messages[1]["content"].startswith("Q: How important is family in your life?\nOptions: 1.Very")


def test_bad_input_is_named(tiny_model_dir, survey_file, shared_dir, tmp_path, capsys):
    code, _, err = _evaluate(["--model", str(tiny_model_dir), "--survey", str(survey_file), "--methods", "P9",
                              "--output", str(tmp_path / "x")], capsys)
    assert code == 2 and "P9" in err and "cross_culture_thinking" in err and "P2+P3" in err
    # A survey without gold for a culture.
    survey = _survey(shared_dir)
    survey.add_culture(culturespa.Culture(code="JPN", adjective="Japanese"))
    with pytest.raises(ValueError, match="no gold answer for culture JPN"):
        culturespa.SurveyEvaluator(None, survey, replies=lambda *a: [])
    # --compare across models: refused, naming both.
    for name, model in (("a", "model-a"), ("b", "model-b")):
        culturespa.SurveyEvaluator(None, _survey(shared_dir), replies=lambda p, s, o: ["2"] * len(p),
                                   protocol="sampled", cultures=CULTURES, model=model).evaluate(
            ["P1"], tmp_path / name)
    code, _, err = _evaluate(["--survey", str(survey_file), "--compare", str(tmp_path / "a"),
                              str(tmp_path / "b")], capsys)
    assert code == 2 and "model-a" in err and "model-b" in err


def test_compare_gives_paired_differences(shared_dir, survey_file, tmp_path, capsys):
    def replies(answer):
        return lambda prompts, seeds, options: [answer] * len(prompts)

    for name, answer in (("base", "1"), ("tuned", "2")):
        culturespa.SurveyEvaluator(None, _survey(shared_dir), replies=replies(answer), protocol="sampled",
                                   cultures=CULTURES, model="same").evaluate(["P1"], tmp_path / name)
    code, out, err = _evaluate(["--survey", str(survey_file), "--compare", str(tmp_path / "base"),
                                str(tmp_path / "tuned"), "--format", "json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    base, tuned = report["rows"]
    for k, diff in enumerate(tuned["differences"]):
        assert diff["difference"] == pytest.approx(tuned["row"]["cells"][k]["alignment"]
                                                   - base["row"]["cells"][k]["alignment"])
        assert diff["ci_low"] <= diff["difference"] <= diff["ci_high"]
    assert tuned["average_difference"]["difference"] == pytest.approx(
        tuned["row"]["average"] - base["row"]["average"])


@pytest.mark.slow
@pytest.mark.needs_pypi
def test_smollm2_scored_answers_are_the_transformers_argmax(smollm2_dir, shared_dir, tmp_path):
    """2 cultures x 20 questions: each scored answer is the argmax of the option
    probabilities recomputed with transformers (tests/model's rule)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    spec = importlib.util.spec_from_file_location("parity", ROOT / "tests" / "model" / "test_smollm2_parity.py")
    parity = importlib.util.module_from_spec(spec)
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "model"))
    spec.loader.exec_module(parity)
    ids = parity.WVS_QUESTION_IDS
    survey = _survey(shared_dir, ids)
    generator = culturespa.Generator(culturespa.Model(smollm2_dir), culturespa.Tokenizer.from_folder(str(smollm2_dir)))
    evaluator = culturespa.SurveyEvaluator(generator, survey, cultures=["KEN", "DEU"], model="smollm2")
    evaluator.evaluate(["P1"], tmp_path)
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(str(smollm2_dir))
    hf_model = transformers.AutoModelForCausalLM.from_pretrained(str(smollm2_dir), torch_dtype=torch.float32).eval()
    for culture in ("KEN", "DEU"):
        items = json.loads((tmp_path / f"wvs_result_culture_aware_{culture}_0.json").read_text())
        prompts = evaluator.prompts("P1", culture)
        assert len(items) == len(prompts) == 20
        for item, prompt in zip(items, prompts):
            conversation = [dict(m) for m in prompt.messages]
            probs, _ = parity._hf_option_probs(hf_model, hf_tokenizer, conversation, list(prompt.labels),
                                               generator.encode(conversation))
            assert item["answer"] == prompt.labels[int(probs.argmax())], (culture, item["Q_id"])
            assert max(abs(a - float(b)) for a, b in zip(item["distribution"], probs)) < 1e-4


def test_reversed_options_measure_position_following(shared_dir, tmp_path):
    """A model that always takes the first label follows the position: every
    answer the reversal moved keeps its slot."""
    def first_label(prompts, labels):
        return [[1.0] + [0.0] * (len(l) - 1) for l in labels]

    evaluator = culturespa.SurveyEvaluator(None, _survey(shared_dir), replies=lambda *a: [], scores=first_label,
                                           cultures=["KEN", "DEU"], option_order="reversed")
    report = evaluator.evaluate(["P1"], tmp_path)
    original, reversed_ = report.rows
    assert reversed_.method == "culture_aware_reversed"
    assert reversed_.moved_answers == 2 * 12
    assert reversed_.same_position_share == 1.0 and reversed_.same_option_share == 0.0
    assert original.average_spread == pytest.approx(abs(original.average - reversed_.average))
    items = json.loads((tmp_path / "wvs_result_culture_aware_reversed_KEN_0.json").read_text())
    q1 = items[0]
    assert q1["answer"] == str(len(q1["option_lst"]))  # the first label shown is the last option


def _distributions(folder, stem):
    return [item["distribution"] for item in json.loads((folder / f"wvs_result_{stem}_0.json").read_text())]


def test_cli_evaluates_with_a_joint_adapter_and_per_culture_adapters(tiny_model_dir, survey_file, tmp_path,
                                                                      capsys):
    model = culturespa.Model(tiny_model_dir)
    adapters = tmp_path / "adapters"
    for seed, culture in enumerate(["KEN", "DEU"]):
        culturespa.lora_adapter_write(str(adapters / culture),
                                      culturespa.lora_adapter_init(model, culturespa.LoraConfig(), seed=seed,
                                                                   b_std=0.5))
    common = ["--model", str(tiny_model_dir), "--chat-format", "chatml", "--survey", str(survey_file),
              "--methods", "P1", "--bootstrap", "0"]
    assert _evaluate(common + ["--cultures", "KEN", "DEU", "--output", str(tmp_path / "base")], capsys)[0] == 0
    code, _, err = _evaluate(common + ["--adapters", str(adapters), "--output", str(tmp_path / "specific")], capsys)
    assert code == 0, err
    code, _, err = _evaluate(common + ["--adapter", str(adapters / "KEN"), "--cultures", "KEN",
                                       "--output", str(tmp_path / "joint-KEN")], capsys)
    assert code == 0, err
    specific, base, alone = tmp_path / "specific", tmp_path / "base", tmp_path / "joint-KEN"
    # --adapters found both cultures; each was asked with its own adapter in mixed
    # batches: KEN's answers are those of KEN's adapter alone, and differ from the base.
    assert sorted(p.name for p in specific.glob("wvs_result_*")) == [
        "wvs_result_culture_aware_DEU_0.json", "wvs_result_culture_aware_KEN_0.json"]
    for got, want in zip(_distributions(specific, "culture_aware_KEN"), _distributions(alone, "culture_aware_KEN")):
        assert got == pytest.approx(want, abs=1e-5)
    shift = max(abs(a - b) for got, want in zip(_distributions(specific, "culture_aware_KEN"),
                                                _distributions(base, "culture_aware_KEN"))
                for a, b in zip(got, want))
    assert shift > 1e-3
    # Bad input is named.
    code, _, err = _evaluate(common + ["--adapters", str(adapters), "--cultures", "USA",
                                       "--output", str(tmp_path / "x")], capsys)
    assert code != 0 and "no adapter for USA" in err and "KEN" in err
    code, _, err = _evaluate(common + ["--adapter", str(adapters / "KEN"), "--adapters", str(adapters),
                                       "--output", str(tmp_path / "y")], capsys)
    assert code != 0 and "not both" in err

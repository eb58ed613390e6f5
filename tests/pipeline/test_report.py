"""culturespa.report on a run folder made by the stage commands: generate
(scripted replies), filter, answer, contrast, export, tune and evaluate on a
tiny random checkpoint, laid out as `culturespa run` lays it out
(notes: the run folder). The report's tables are checked against the stage
files and the evaluator's own numbers; a partial run gives the sections that
exist; headless Chromium opens report.html and sees every image and the table."""
import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import culturespa
from culturespa import cli, cultural_map, evaluation, pipeline, report
from culturespa.survey import culture_from_code

CULTURES = ["KEN", "DEU", "USA"]
TOPICS = ["Social Values", "Religious Values"]
# The Inglehart-Welzel map's questions (with their option counts) and two more.
QUESTIONS = {"Q8": 2, "Q14": 2, "Q15": 2, "Q17": 2, "Q45": 3, "Q46": 4, "Q57": 2, "Q154": 4, "Q155": 4,
             "Q164": 10, "Q182": 10, "Q184": 10, "Q209": 3, "Q254": 4, "Q1": 4, "Q2": 4}


def _tiny_survey():
    """A survey of 16 questions on 2 topics and 3 cultures with seeded human shares
    (the first key of each is the most common answer: the gold answer)."""
    import numpy as np

    rng = np.random.default_rng(7)
    questions = []
    for k, (qid, n) in enumerate(QUESTIONS.items()):
        options = ["Yes", "No"] if n == 2 else [f"Option {i + 1} of question {qid}" for i in range(n)]
        questions.append(culturespa.Question(id=qid, text=f"Question {qid}: how do you feel about thing {k}?",
                                             options=options, topic=TOPICS[k % 2]))
    survey = culturespa.Survey(name="tiny", questions=questions,
                               cultures=[culture_from_code(c) for c in CULTURES], topics=TOPICS)
    for culture in CULTURES:
        for q in questions:
            shares = rng.dirichlet(np.ones(len(q.options)))
            order = sorted(range(len(shares)), key=lambda i: -shares[i])
            survey.set_human_answers(culture, q.id, {i + 1: float(shares[i]) for i in order})
    return survey


class Script:
    """Scripted generation replies: a new question per attempt seed; every
    5th has numbered options, which the filter's reference rule drops."""

    def __call__(self, prompts, seeds, sampling):
        out = []
        for s in seeds:
            options = ["1", "2", "3", "4"] if s % 5 == 0 else ["Very important", "Rather important",
                                                                 "Not very important", "Not at all important"]
            out.append(json.dumps({"Question": f"How important is value {s % 100003} in your life?",
                                   "Options": options}))
        return out


def _main(argv):
    assert cli.main([str(a) for a in argv]) == 0, argv


def _evaluator(model_dir, survey, label, *, adapter=None, cultures=CULTURES):
    model = culturespa.Model(model_dir)
    if adapter is not None:
        model.adapter_load("tuned", str(adapter))
        model.adapter_merge("tuned")
    generator = culturespa.Generator(model, culturespa.Tokenizer.from_folder(str(model_dir)), chat_format="chatml")
    return culturespa.SurveyEvaluator(generator, survey, cultures=cultures, model=label)


@pytest.fixture(scope="module")
def run_dir(tiny_model_dir, tmp_path_factory):
    """A finished run folder (RUNDIR layout) and its survey file."""
    root = tmp_path_factory.mktemp("report-run")
    run, model = root / "run", tiny_model_dir
    survey = _tiny_survey()
    survey_path = root / "survey.json"
    survey.save(str(survey_path))

    for stage in ("generate", "filter", "contrast"):  # the pipeline makes each stage's folder
        (run / stage).mkdir(parents=True)
    culturespa.QuestionGenerator(replies=Script(), questions_per_topic=6, round_size=4, seed=1).generate(
        pipeline.generation_topics(survey), run / "generate" / "questions.jsonl")
    _main(["filter", "--input", run / "generate/questions.jsonl", "--seeds", survey_path,
           "--output", run / "filter/questions.json", "--report", run / "filter/report.json"])
    _main(["answer", "--model", model, "--chat-format", "chatml", "--questions", run / "filter/questions.json",
           "--output", run / "answer", "--cultures", *CULTURES])
    # A JSD threshold at the median of the random model's aware/unaware
    # differences keeps about half of the pairs.
    _, unaware = pipeline.answer_file_load(run / "answer/answers_culture_unaware_0.json")
    divergences = []
    for culture in CULTURES:
        _, aware = pipeline.answer_file_load(run / f"answer/answers_culture_aware_{culture}_0.json")
        divergences += [pipeline.jensen_shannon_divergence(a["distribution"], u["distribution"])
                        for a, u in zip(aware, unaware)]
    threshold = sorted(divergences)[len(divergences) // 2]
    _main(["contrast", "--unaware", run / "answer/answers_culture_unaware_0.json", "--aware",
           *[run / f"answer/answers_culture_aware_{c}_0.json" for c in CULTURES], "--rule", "distributional",
           "--jsd-threshold", threshold, "--questions", run / "filter/questions.json",
           "--output", run / "contrast/pairs.jsonl", "--report", run / "contrast/report.json"])
    for mode in ("joint", "specific"):
        _main(["export", "--pairs", run / "contrast/pairs.jsonl", "--mode", mode, "--output", run / "export"])
    tune = ["--model", model, "--chat-format", "chatml", "--quiet", "--batch-size", "2", "--effective-batch", "2"]
    _main(["tune", "--data", run / "export", "--mode", "joint", "--output", run / "tune/joint", "--max-steps", 3]
          + tune)
    _main(["tune", "--data", run / "export", "--mode", "specific", "--output", run / "tune/specific",
           "--max-steps", 2] + tune)
    _main(["evaluate", "--model", model, "--chat-format", "chatml", "--survey", survey_path, "--methods", "P0",
           "P1", "--cultures", *CULTURES, "--output", run / "evaluate/base", "--table", root / "base-table.md"])
    label = evaluation.model_label(model)
    _evaluator(model, survey, label + " + tune/joint", adapter=run / "tune/joint").evaluate(
        ["P1"], run / "evaluate/joint")
    for culture in CULTURES:  # one adapter per culture; a culture without pairs has none: the base model
        adapter = run / "tune/specific" / culture
        _evaluator(model, survey, label + " + tune/specific", adapter=adapter if adapter.is_dir() else None,
                   cultures=[culture]).evaluate(["P1"], run / "evaluate/specific")
    stages = ["generate", "filter", "answer", "contrast", "export", "tune", "evaluate"]
    (run / "manifest.json").write_text(json.dumps({
        "culturespa_version": culturespa.__version__, "config_hash": "0123abcd",
        "model": {"path": str(model), "name": "tiny"}, "inputs": {},
        "stages": {s: {"status": "done", "started": "2026-12-03T13:00:00Z", "finished": "2026-12-03T13:01:00Z",
                       "seconds": 1.5 + k, "outputs": []} for k, s in enumerate(stages)}}))
    (run / "config.json").write_text(json.dumps({"evaluate": {"survey": str(survey_path)}}))
    return run, survey_path


def _tables(markdown):
    """Every Markdown table of the report: {header line: [row cells, ...]}."""
    tables, current = {}, None
    for line in markdown.splitlines():
        if line.startswith("| ") and current is None:
            current = tables.setdefault(line, [])
        elif line.startswith("| ---"):
            continue
        elif line.startswith("| "):
            current.append([c.strip() for c in line.strip("|").split(" | ")])
        else:
            current = None
    return tables


def _table(tables, first_header):
    for header, rows in tables.items():
        if header.startswith(first_header):
            return [c.strip() for c in header.strip("|").split(" | ")], rows
    raise AssertionError(f"no table starting {first_header!r} in {list(tables)}")


def _ci(cell):
    return f"{cell.alignment:.1f} [{cell.ci_low:.1f}, {cell.ci_high:.1f}]"


@pytest.fixture(scope="module")
def written(run_dir):
    run, survey_path = run_dir
    return report.write_report(run)  # the survey from config.json


def test_results_table_is_the_evaluators(run_dir, written):
    run, survey_path = run_dir
    assert written.missing == () and written.problems == ()
    markdown = written.markdown.read_text()
    header, rows = _table(_tables(markdown), "| culture | base P0")
    assert header == ["culture", "base P0", "base P1", "joint", "specific", "random"]
    # The evaluator's scores of each folder, read back here through the C++ scorer.
    expected = {
        "base P0": evaluation.score_folder(run / "evaluate/base", str(survey_path)).row("culture_unaware"),
        "base P1": evaluation.score_folder(run / "evaluate/base", str(survey_path)).row("culture_aware"),
        "joint": evaluation.score_folder(run / "evaluate/joint", str(survey_path)).row("culture_aware"),
        "specific": evaluation.score_folder(run / "evaluate/specific", str(survey_path)).row("culture_aware"),
    }
    assert [r[0] for r in rows] == CULTURES + ["average"]
    for row in rows[:-1]:
        for label, text in zip(header[1:5], row[1:5]):
            cell = expected[label].cell(row[0])
            assert text == _ci(cell)
            assert cell.ci_low <= cell.alignment <= cell.ci_high
        assert row[5] == f"{expected['base P1'].cell(row[0]).random_baseline:.1f}"
    assert rows[-1][1:5] == [f"{expected[label].average:.1f}" for label in header[1:5]]
    assert "**Average alignment** (x100, higher is better): " + ", ".join(
        f"{label} {expected[label].average:.1f}" for label in header[1:5]) in markdown
    # The same numbers as `culturespa evaluate` printed for the base folder.
    printed = (run.parent / "base-table.json").read_text()
    for row in json.loads(printed)["rows"]:
        label = {"culture_unaware": "base P0", "culture_aware": "base P1"}[row["method"]]
        for cell in row["cells"]:
            assert cell["alignment"] == pytest.approx(expected[label].cell(cell["culture"]).alignment, abs=1e-12)
    # The per-adapter folders differ from the base model: the tuned adapters changed the answers.
    assert any(expected["joint"].cell(c).js_similarity != expected["base P1"].cell(c).js_similarity
               for c in CULTURES)


def test_funnel_counts_are_the_stage_files(run_dir, written):
    run, _ = run_dir
    tables = _tables(written.markdown.read_text())
    _, rows = _table(tables, "| step | count")
    counts = dict(rows)
    generated = [json.loads(line) for line in (run / "generate/questions.jsonl").read_text().splitlines()]
    kept = json.loads((run / "filter/questions.json").read_text())
    pairs = [json.loads(line) for line in (run / "contrast/pairs.jsonl").read_text().splitlines()]
    contrast = json.loads((run / "contrast/report.json").read_text())
    assert int(counts["generated questions"]) == len(generated) == 12
    assert 0 < int(counts["kept by the filter"]) == len(kept) < len(generated)  # numbered options dropped
    assert int(counts["contrast pairs (the answer changed with the culture)"]) == len(pairs)
    assert int(counts["pairs in contrast/pairs.jsonl"]) == len(pairs)
    assert 0 < len(pairs) < len(kept) * len(CULTURES)
    joint_examples = json.loads((run / "export/culturespa_train.json").read_text())
    assert int(counts["training examples (joint export)"]) == len(joint_examples)
    # Per culture: answered questions, the contrast counts, the specific exports.
    header, rows = _table(tables, "| culture | answered")
    assert header == ["culture", "answered", "compared", "valid", "same", "pairs", "invalid", "training examples"]
    for row in rows:
        c = next(x for x in contrast["cultures"] if x["culture"] == row[0])
        assert int(row[1]) == len(kept)
        assert [int(v) for v in row[2:7]] == [c["compared"], c["valid"], c["same"], c["different"], c["invalid"]]
        assert int(row[5]) == sum(p["culture"] == row[0] for p in pairs)
        exported = run / f"export/culturespa_{row[0]}_train.json"
        assert int(row[7]) == (len(json.loads(exported.read_text())) if exported.exists() else 0)
    # Per topic: generated, kept, pairs of each topic.
    header, rows = _table(tables, "| topic |")
    assert header == ["topic", "generated", "kept", "valid", "pairs"]
    for row in rows:
        assert int(row[1]) == sum(g["topic"] == row[0] for g in generated)
        assert int(row[2]) == sum(q["class"] == row[0] for q in kept)
        assert int(row[4]) == sum(p["topic"] == row[0] for p in pairs)
    # The filter's steps.
    _, rows = _table(tables, "| step | removed")
    steps = json.loads((run / "filter/report.json").read_text())["steps"]
    assert [r[0] for r in rows] == [s["name"] for s in steps]


def test_training_table_and_figures(run_dir, written):
    run, _ = run_dir
    _, rows = _table(_tables(written.markdown.read_text()), "| adapter |")
    adapters = sorted(p.name for p in (run / "tune/specific").iterdir())
    assert 0 < len(adapters) <= len(CULTURES)
    assert [r[0] for r in rows] == ["joint"] + [f"specific {c}" for c in adapters]
    for row in rows:
        folder = run / "tune" / ("joint" if row[0] == "joint" else f"specific/{row[0].split()[1]}")
        log = json.loads((folder / "training_log.json").read_text())
        assert int(row[3]) == len(log["steps"]) == (3 if row[0] == "joint" else 2)
        assert row[4:6] == [f"{log['steps'][0]['loss']:.4f}", f"{log['steps'][-1]['loss']:.4f}"]
    names = sorted(p.name for p in written.figures)
    assert names == ["cultural_map.png", "pairs.png", "results.png", "similarity.png", "training.png"]
    markdown = written.markdown.read_text()
    page = written.html.read_text()
    for path in written.figures:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
        assert f"](report/{path.name})" in markdown
        # The HTML carries the same PNG inline, and nothing from outside.
        assert base64.b64encode(data).decode() in page
    assert "src=\"http" not in page and "href=" not in page
    assert page.count("<img ") == len(written.figures)
    for heading in ("## Funnel", "## Training", "## Results", "## Inglehart-Welzel cultural map",
                    "## Culture similarity: model vs people"):
        assert heading in markdown
    assert "Missing stages" not in markdown


def test_cultural_map_and_similarity_are_the_evaluations(run_dir, written):
    run, survey_path = run_dir
    survey = culturespa.Survey.load(str(survey_path))
    human, model = cultural_map.from_folder(survey, run / "evaluate/joint", CULTURES)
    assert all(v == v for point in list(human.values()) + list(model.values()) for v in point)  # no NaN
    _, rows = _table(_tables(written.markdown.read_text()), "| model | rank correlation")
    expected = {"base P1": evaluation.score_folder(run / "evaluate/base", str(survey_path)).row("culture_aware"),
                "joint": evaluation.score_folder(run / "evaluate/joint", str(survey_path)).row("culture_aware")}
    shown = dict(rows)
    for label, row in expected.items():
        rho = row.similarity_rank_correlation
        assert shown[label] == ("n/a" if rho != rho else f"{rho:.2f}")


def test_the_survey_as_the_pipeline_evaluated_it_is_scored(run_dir, tiny_model_dir, tmp_path):
    """evaluate/survey.json (evaluated questions cut to questions_per_topic) is the survey the
    report scores against, and its count is the one the results text gives."""
    run, survey_path = run_dir
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("evaluate"))
    survey = culturespa.Survey.load(str(survey_path))
    asked = survey.evaluated_ids[:-1]
    survey.set_evaluated(survey.evaluated_ids[-1], False)
    (copy / "evaluate").mkdir()
    survey.save(str(copy / "evaluate" / "survey.json"))
    _evaluator(tiny_model_dir, survey, "tiny").evaluate(["P0", "P1"], copy / "evaluate" / "base")
    files = report.write_report(copy)
    assert files.problems == ()
    assert f"{len(asked)} survey questions" in files.markdown.read_text()


def test_partial_run_reports_what_exists(run_dir, tmp_path):
    run, survey_path = run_dir
    partial = tmp_path / "partial"
    for stage in ("generate", "filter", "answer"):  # a run stopped with --until answer
        shutil.copytree(run / stage, partial / stage)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["stages"] = {s: manifest["stages"][s] for s in ("generate", "filter", "answer")}
    manifest["stages"]["answer"]["status"] = "running"
    # The pipeline's report stage writes this document: it is "running" meanwhile, and not a row.
    manifest["stages"]["report"] = {"status": "running", "started": "2026-01-01T00:00:00Z"}
    (partial / "manifest.json").write_text(json.dumps(manifest))
    files = report.write_report(partial)
    assert files.missing == ("contrast", "export", "tune", "evaluate") and files.problems == ()
    markdown = files.markdown.read_text()
    assert "**Missing stages:** contrast, export, tune, evaluate." in markdown
    assert "**Still running:** answer" in markdown
    stages = dict((row[0], row[1]) for row in _table(_tables(markdown), "| stage | status")[1])
    assert stages["answer"] == "running" and "report" not in stages
    assert "## Funnel" in markdown and "## Training" not in markdown and "## Results" not in markdown
    _, rows = _table(_tables(markdown), "| step | count")
    assert dict(rows)["generated questions"] == "12"
    assert [p.name for p in files.figures] == [] and files.html.is_file()
    # A rerun after the other stages finished: the report catches up and old figures go.
    (partial / "report").mkdir()
    (partial / "report" / "stale.png").write_bytes(b"x")
    shutil.copytree(run / "contrast", partial / "contrast")
    files = report.write_report(partial)
    assert files.missing == ("export", "tune", "evaluate")
    assert sorted(p.name for p in (partial / "report").iterdir()) == ["pairs.png"]
    # A folder with nothing in it yet (a run that just started).
    empty = tmp_path / "empty"
    empty.mkdir()
    files = report.write_report(empty)
    assert files.missing == report.STAGES
    assert "**Missing stages:** generate, filter, answer, contrast, export, tune, evaluate." in \
        files.markdown.read_text()


def test_unreadable_files_are_named_not_fatal(run_dir, tmp_path, capsys):
    run, survey_path = run_dir
    broken = tmp_path / "broken"
    shutil.copytree(run, broken, ignore=shutil.ignore_patterns("report*"))
    (broken / "contrast" / "pairs.jsonl").write_text('{"question_id": "Q0", "cult\n')
    (broken / "evaluate/joint/wvs_result_culture_aware_KEN_0.json").unlink()
    (broken / "manifest.json").write_text('{"stages": ')
    files = report.write_report(broken, survey=survey_path)
    assert any(p.startswith("run folder:") and "manifest.json" in p for p in files.problems)
    assert any(p.startswith("funnel:") and "pairs.jsonl" in p for p in files.problems)
    assert any(p.startswith("evaluate/joint:") and "wvs_result_culture_aware_KEN_0.json" in p
               for p in files.problems)
    markdown = files.markdown.read_text()
    assert "**Could not be read:** funnel:" in markdown
    header, _ = _table(_tables(markdown), "| culture | base P0")
    assert "joint" not in header  # never a partial column shown as complete
    # The command says so with its exit status.
    assert cli.main(["report", str(broken), "--survey", str(survey_path)]) == 1
    assert "could not be read" in capsys.readouterr().err
    assert cli.main(["report", str(tmp_path / "nowhere")]) == 2


def test_report_command_and_no_global_matplotlib_state(run_dir, tmp_path, capsys):
    import matplotlib

    run, survey_path = run_dir
    copy = tmp_path / "copy"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("report*"))
    backend = dict.__getitem__(matplotlib.rcParams, "backend")
    assert cli.main(["report", str(copy), "--survey", str(survey_path), "--bootstrap", "50"]) == 0
    assert dict.__getitem__(matplotlib.rcParams, "backend") == backend
    out = capsys.readouterr().out
    assert str(copy / "report.md") in out and str(copy / "report.html") in out
    assert (copy / "report" / "results.png").is_file()


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium; "
                "scripts/setup-deps.sh installs it): report.html was not opened in a browser")


# Marks each image with whether it decoded, once the page has loaded.
_PROBE = """<script>
window.addEventListener("load", function () {
  for (const img of document.images)
    img.setAttribute("data-loaded", img.complete && img.naturalWidth > 0 ? "yes" : "no");
  document.body.setAttribute("data-images", String(document.images.length));
});
</script></body>"""


def test_chromium_opens_the_report_offline(run_dir, written, tmp_path):
    chromium = _chromium()
    page = tmp_path / "probe.html"  # the report plus the probe script; nothing else reachable
    page.write_text(written.html.read_text().replace("</body>", _PROBE))
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000"]
    dom = subprocess.run(common + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    images = re.findall(r'<img [^>]*data-loaded="(yes|no)"', dom.stdout)
    assert images == ["yes"] * len(written.figures), dom.stdout[:2000]
    # The results table is there, one row per culture and the average.
    table = re.search(r"<table><thead><tr><th>culture</th><th>base P0</th>.*?</table>", dom.stdout, re.S)
    assert table is not None
    assert len(re.findall(r"<tr><td>", table.group(0))) == len(CULTURES) + 1
    # A screenshot of the page as people see it: not blank.
    shot = tmp_path / "report.png"
    result = subprocess.run(common + ["--window-size=1200,3000", f"--screenshot={shot}", written.html.as_uri()],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))
    assert pixels.shape[0] == 3000 and pixels.shape[1] == 1200
    assert pixels[..., :3].std() > 0.05  # text, tables and plots, not one colour

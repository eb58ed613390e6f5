"""Survey scoring from Python. Every expected number here is recomputed
independently in plain Python/numpy from the definitions in
../shared/wvs/README.md, never by calling the code under test."""
import json
import math
import re

import numpy as np
import pytest

import culturespa
from culturespa import scoring
from culturespa.cli import main as cli_main

CULTURES = ["USA", "CAN", "BOL", "BRA", "GBR", "NLD", "DEU", "UKR", "CHN", "RUS", "IND", "THA",
            "KEN", "NGA", "ETH", "ZWE", "AUS", "NZL"]


# --- the reference, re-implemented from the README ---------------------------------

def _evaluated(questions):
    excluded = {f"Q{i}" for i in range(260, 291)} | {"Q223"}
    return [q for q in questions if q not in excluded]


@pytest.fixture(scope="module")
def wvs(shared_dir):
    folder = shared_dir / "wvs"
    questions = {q["Q_id"]: q for q in json.loads((folder / "wvs_questions.json").read_text())}
    proportions = json.loads((folder / "proportions_group_by_country.json").read_text())
    similarity = json.loads((folder / "country_similarity.json").read_text())
    return {"dir": folder, "questions": questions, "proportions": proportions, "similarity": similarity}


@pytest.fixture(scope="module")
def runs_dir(shared_dir):
    return shared_dir / "reference-runs" / "llama3-8b-instruct" / "wvs"


@pytest.fixture(scope="module")
def scorer(wvs):
    return culturespa.SurveyScorer(str(wvs["dir"]), bootstrap_samples=200, seed=1)


def reference_gold(wvs, culture, qid):
    shares = wvs["proportions"][culture].get(qid)
    return int(next(iter(shares))) if shares else None  # first stored key, ties kept


def reference_score(wvs, culture, items):
    """items: (Q_id, reply). Returns (score x100, counted)."""
    m, g, n = [], [], []
    for qid, reply in items:
        digits = re.search(r"\d+", reply)
        if not digits:
            continue
        value = int(digits.group())
        if not 0 <= value <= 10:
            continue
        gold = reference_gold(wvs, culture, qid)
        if gold is None:
            continue
        m.append(value)
        g.append(gold)
        n.append(len(wvs["questions"][qid]["option_lst"]))
    m, g, n = (np.array(v, dtype=float) for v in (m, g, n))
    return 100 * (1 - np.linalg.norm(m - g) / np.linalg.norm(n - 1)), len(m)


def run_culture(name):
    found = re.search(r"_([A-Z]{3})_\d+\.json$", name)
    return found.group(1) if found else "USA"  # self_alignment_0 / _American_0: USA examples


def load_items(path):
    return [(item["Q_id"], item["answer"]) for item in json.loads(path.read_text())]


# --- scores of the reference runs -------------------------------------------------

def test_every_reference_run_scores_as_the_reference_formula(wvs, runs_dir, scorer):
    files = sorted(runs_dir.glob("*.json"))
    assert len(files) == 24
    for path in files:
        culture = run_culture(path.name)
        expected, counted = reference_score(wvs, culture, load_items(path))
        score = scorer.score(str(path), culture)
        assert score.alignment == pytest.approx(expected, abs=1e-9), path.name
        assert score.counts.counted == counted, path.name
        assert score.counts.answered == 259
        assert score.survey_questions == 259


def test_culture_from_the_file_name(scorer, runs_dir):
    assert scorer.culture_from_path(runs_dir / "wvs_result_culture_aware_KEN_0.json") == "KEN"
    assert scorer.culture_from_path(runs_dir / "wvs_result_self_alignment_American_0.json") == "USA"
    assert scorer.culture_from_path(
        runs_dir / "wvs_result_cross_culture_thinking_self_alignment_CAN_0.json") == "CAN"
    assert scorer.culture_from_path(runs_dir / "wvs_result_culture_unaware_0.json") is None


def test_per_topic_scores_use_the_same_formula(wvs, runs_dir, scorer):
    path = runs_dir / "wvs_result_culture_aware_DEU_0.json"
    items = load_items(path)
    topic_of = {}
    for topic in scorer.score(str(path), "DEU").topics:
        topic_of[topic.topic] = topic
    assert len(topic_of) == 13
    # Economic Values is Q106-Q111 in the README
    economic = [(q, r) for q, r in items if q in {f"Q{i}" for i in range(106, 112)}]
    expected, counted = reference_score(wvs, "DEU", economic)
    assert topic_of["Economic Values"].alignment == pytest.approx(expected, abs=1e-9)
    assert topic_of["Economic Values"].counts.counted == counted
    assert sum(t.counts.answered for t in topic_of.values()) == 259
    assert topic_of["Economic Values"].to_dict()["counts"]["counted"] == counted


def test_culture_unaware_run_against_every_culture(wvs, runs_dir, scorer):
    path = runs_dir / "wvs_result_culture_unaware_0.json"
    report = scorer.score_cultures(str(path))
    assert [c.culture for c in report.cultures] == CULTURES
    expected = [reference_score(wvs, c, load_items(path))[0] for c in CULTURES]
    assert [c.alignment for c in report.cultures] == pytest.approx(expected, abs=1e-9)
    assert report.average == pytest.approx(sum(expected) / 18, abs=1e-9)


def test_robust_mode_counts_refusals(runs_dir, scorer, wvs):
    robust = culturespa.SurveyScorer(str(wvs["dir"]), parse="robust", bootstrap_samples=0)
    score = robust.score(str(runs_dir / "wvs_result_culture_aware_USA_0.json"), "USA")
    # read by hand: Q182, Q187, Q189, Q192 are refusals in this file
    refused = [q.question_id for q in score.questions if q.failure == "refusal"]
    assert refused == ["Q182", "Q187", "Q189", "Q192"]
    assert score.questions[0].to_dict()["question_id"] == score.questions[0].question_id
    assert score.counts.failures == {"refusal": 4}
    with pytest.warns(DeprecationWarning, match="attribute .failures"):
        assert score.counts["failures"] == {"refusal": 4}
    ethical = [t for t in score.topics if t.topic == "Ethical Values and Norms"]
    assert ethical[0].counts.failures == {"refusal": 4}
    assert score.to_dict()["topics"]["Ethical Values and Norms"]["failures"] == {"refusal": 4}
    assert math.isnan(score.ci_low)


# --- baseline, bootstrap, paired difference ----------------------------------------

def test_random_baseline_matches_a_simulation(wvs, runs_dir, scorer):
    score = scorer.score(str(runs_dir / "wvs_result_culture_aware_NGA_0.json"), "NGA")
    counted = [q for q in score.questions if q.counted]
    n = np.array([q.option_count for q in counted])
    zero_based = np.array([q.question_id in ZERO_BASED for q in counted])
    gold = np.array([q.gold for q in counted]) - np.where(zero_based, 0, 1)  # as indices
    rng = np.random.default_rng(0)
    draws = (rng.random((20000, len(n))) * n).astype(int)
    scores = 1 - np.linalg.norm(draws - gold, axis=1) / np.linalg.norm(n - 1)
    standard_error = scores.std() / math.sqrt(len(scores))
    assert score.random_baseline / 100 == pytest.approx(scores.mean(), abs=4 * standard_error)


ZERO_BASED = ({f"Q{i}" for i in range(94, 106)} | {"Q119"} | {f"Q{i}" for i in range(122, 130)}
              | {f"Q{i}" for i in range(241, 250)})


def test_bootstrap_interval_is_seeded(wvs, runs_dir):
    path = str(runs_dir / "wvs_result_culture_aware_THA_0.json")
    a = culturespa.SurveyScorer(str(wvs["dir"]), bootstrap_samples=300, seed=5).score(path, "THA")
    b = culturespa.SurveyScorer(str(wvs["dir"]), bootstrap_samples=300, seed=5).score(path, "THA")
    c = culturespa.SurveyScorer(str(wvs["dir"]), bootstrap_samples=300, seed=6).score(path, "THA")
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    assert (a.ci_low, a.ci_high) != (c.ci_low, c.ci_high)
    assert a.ci_low < a.alignment < a.ci_high
    assert 3 < a.ci_high - a.ci_low < 20  # 257 questions: a few points either side


def test_paired_difference_of_two_runs(wvs, runs_dir, scorer):
    aware = runs_dir / "wvs_result_culture_aware_NGA_0.json"
    unaware = runs_dir / "wvs_result_culture_unaware_0.json"
    result = scorer.compare(str(unaware), str(aware), "NGA")
    # independent: over questions counted in both runs
    a, b = dict(load_items(unaware)), dict(load_items(aware))
    common = []
    for qid in a:
        ra, rb = (re.search(r"\d+", x[qid]) for x in (a, b))
        if ra and rb and int(ra.group()) <= 10 and int(rb.group()) <= 10 \
                and reference_gold(wvs, "NGA", qid) is not None:
            common.append(qid)
    expected = (reference_score(wvs, "NGA", [(q, b[q]) for q in common])[0]
                - reference_score(wvs, "NGA", [(q, a[q]) for q in common])[0])
    assert result["questions"] == len(common)
    assert result["difference"] == pytest.approx(expected, abs=1e-9)
    assert result["ci_low"] < result["difference"] < result["ci_high"]
    assert 0 <= result["share_b_better"] <= 1


# --- distributions ---------------------------------------------------------------------

def test_distribution_measures_against_numpy(wvs, scorer):
    # Use the British people's answers as a "model" distribution, scored against the USA.
    qids = ["Q1", "Q46", "Q106", "Q94"]
    answers = {}
    for q in qids:
        n = len(wvs["questions"][q]["option_lst"])
        first = 0 if q in ZERO_BASED else 1
        p = np.zeros(n)
        for option, share in wvs["proportions"]["GBR"][q].items():
            p[int(option) - first] += share
        answers[q] = p
    result = scorer.score_distributions({q: p.tolist() for q, p in answers.items()}, "USA")
    js, w1, m, g, n_all = [], [], [], [], []
    for q, p in answers.items():
        n = len(p)
        first = 0 if q in ZERO_BASED else 1
        h = np.zeros(n)
        for option, share in wvs["proportions"]["USA"][q].items():
            h[int(option) - first] += share
        p, h = p / p.sum(), h / h.sum()
        mid = (p + h) / 2
        kl = lambda a, b: np.sum(np.where(a > 0, a * np.log2(np.where(a > 0, a, 1) / b), 0))
        js.append(1 - math.sqrt(0.5 * kl(p, mid) + 0.5 * kl(h, mid)))
        w1.append(1 - np.abs(np.cumsum(p) - np.cumsum(h))[:-1].sum() / (n - 1))
        m.append(np.sum(p * (first + np.arange(n))))
        g.append(reference_gold(wvs, "USA", q))
        n_all.append(n)
    m, g, n_all = np.array(m), np.array(g), np.array(n_all)
    assert result["counted"] == 4
    assert result["js_similarity"] == pytest.approx(100 * np.mean(js), abs=1e-9)
    assert result["wasserstein_similarity"] == pytest.approx(100 * np.mean(w1), abs=1e-9)
    assert result["expected_alignment"] == pytest.approx(
        100 * (1 - np.linalg.norm(m - g) / np.linalg.norm(n_all - 1)), abs=1e-9)
    with pytest.raises(ValueError, match="Q1"):
        scorer.score_distributions({"Q1": [1.0, 0.0]}, "USA")


# --- culture relations -------------------------------------------------------------------

def test_gold_similarity_reproduces_the_reference_table(wvs, scorer):
    matrix = scorer.gold_similarity()
    assert isinstance(matrix, culturespa.SimilarityMatrix)
    assert matrix.cultures == CULTURES
    values = matrix.values
    assert matrix.to_dict()["cultures"] == CULTURES
    with pytest.warns(DeprecationWarning, match="attribute .cultures"):
        assert matrix["cultures"] == CULTURES
    for i, a in enumerate(CULTURES):
        for j, b in enumerate(CULTURES):
            if i != j:
                assert round(values[i, j], 1) == wvs["similarity"][a][b], (a, b)


def _spearman(x, y):
    def ranks(v):
        v = np.asarray(v)
        order = v.argsort(kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(1, len(v) + 1)
        for value in np.unique(v):  # ties: average rank
            r[v == value] = r[v == value].mean()
        return r
    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


def test_model_similarity_and_its_rank_correlation(wvs, runs_dir, scorer):
    runs = {c: str(runs_dir / f"wvs_result_culture_aware_{c}_0.json") for c in CULTURES}
    model = scorer.culture_similarity(runs)
    assert model.cultures == CULTURES
    # one entry recomputed: USA's answers as m, CHN's as g, over questions both parsed
    usa, chn = dict(load_items(runs_dir / "wvs_result_culture_aware_USA_0.json")), \
        dict(load_items(runs_dir / "wvs_result_culture_aware_CHN_0.json"))
    m, g, n = [], [], []
    for q in usa:
        a, b = re.search(r"\d+", usa[q]), re.search(r"\d+", chn.get(q, ""))
        if a and b and int(a.group()) <= 10 and int(b.group()) <= 10:
            m.append(int(a.group()))
            g.append(int(b.group()))
            n.append(len(wvs["questions"][q]["option_lst"]))
    m, g, n = (np.array(v, dtype=float) for v in (m, g, n))
    expected = 100 * (1 - np.linalg.norm(m - g) / np.linalg.norm(n - 1))
    assert model.values[0, CULTURES.index("CHN")] == pytest.approx(expected, abs=1e-9)

    human = {"cultures": CULTURES,
             "values": np.array([[100.0 if a == b else wvs["similarity"][a][b] for b in CULTURES]
                                 for a in CULTURES])}
    upper = np.triu_indices(18, 1)
    expected_rho = _spearman(model.values[upper], human["values"][upper])
    rho = scoring.similarity_rank_correlation(model, human)
    assert rho == pytest.approx(expected_rho, abs=1e-12)
    assert 0 < rho < 1


# --- parsing from Python ------------------------------------------------------------------

@pytest.mark.parametrize("reply, expected", [
    ("3", 3), ("3.", 3), ("(3)", 3), ("**3**", 3), ("Option 3", 3), ("Answer: 3", 3),
    ('{"answer": 3}', 3), ("Not very important", 3), ("on a scale of 1 to 4, I'd pick 3", 3),
])
def test_robust_parse_from_python(reply, expected):
    options = ["Very important", "Rather important", "Not very important", "Not at all important"]
    parsed = culturespa.answer_parse(reply, options=options, mode="robust", question_id="Q1")
    assert parsed.to_dict() == {"option": expected, "failure": "none", "message": ""}
    assert (parsed.option, parsed.failure) == (expected, "none")


def test_parse_failures_from_python():
    options = ["Yes", "No"]
    seven = culturespa.answer_parse("7", options=options, mode="robust", question_id="Q9")
    assert seven["option"] is None and seven["failure"] == "not_an_option" and "Q9" in seven["message"]
    assert culturespa.answer_parse("I cannot answer that.", options=options, mode="robust")["failure"] == "refusal"
    assert culturespa.answer_parse("7", options=options)["option"] == 7  # the reference keeps it
    assert culturespa.answer_parse("12", options=options, reference_max=15)["option"] == 12
    with pytest.raises(ValueError, match="fuzzy"):
        culturespa.answer_parse("1", options=options, mode="fuzzy")


# --- reports, frames, figures ---------------------------------------------------------------

def test_reports_frames_and_figures(tmp_path, runs_dir, scorer, wvs):
    import matplotlib
    matplotlib.use("Agg")

    aware = scoring.score_runs(
        scorer, {c: str(runs_dir / f"wvs_result_culture_aware_{c}_0.json") for c in CULTURES},
        source="culture-aware")
    unaware = scorer.score_cultures(str(runs_dir / "wvs_result_culture_unaware_0.json"),
                                    source="culture-unaware")
    expected = [reference_score(wvs, c, load_items(runs_dir / f"wvs_result_culture_aware_{c}_0.json"))[0]
                for c in CULTURES]
    assert aware.average == pytest.approx(np.mean(expected), abs=1e-9)

    frame = scoring.report_frame([aware, unaware])
    assert len(frame) == 36
    assert list(frame.columns[:4]) == ["run", "culture", "alignment", "ci_low"]
    row = frame[(frame.run == "culture-aware") & (frame.culture == "KEN")].iloc[0]
    assert row.alignment == pytest.approx(expected[CULTURES.index("KEN")], abs=1e-9)
    topics = scoring.topic_frame(aware)
    assert topics.shape == (18, 13)

    document = json.loads(aware.to_json())
    assert document["average"] == pytest.approx(aware.average)
    assert [c["culture"] for c in document["cultures"]] == CULTURES
    csv_lines = aware.to_csv().splitlines()
    assert len(csv_lines) == 1 + 18 * 14  # header, per culture one overall row and 13 topics
    assert "| KEN | " in aware.to_markdown()

    bars = scoring.plot_culture_bars({"culture-unaware": unaware, "culture-aware": aware})
    bars.savefig(tmp_path / "bars.png")
    heat = scoring.plot_similarity_heatmap(scorer.gold_similarity(), title="people")
    heat.savefig(tmp_path / "heat.png")
    assert (tmp_path / "bars.png").stat().st_size > 10_000
    assert (tmp_path / "heat.png").stat().st_size > 10_000
    assert len(bars.axes[0].patches) == 36
    similarity = scoring.similarity_frame(scorer.gold_similarity())
    assert similarity.loc["USA", "CAN"] == pytest.approx(71.3, abs=0.05)


# --- the command line ---------------------------------------------------------------------------

def _cli(capsys, *args):
    code = cli_main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_prints_the_score(capsys, wvs, runs_dir):
    path = runs_dir / "wvs_result_culture_aware_KEN_0.json"
    expected, counted = reference_score(wvs, "KEN", load_items(path))
    code, out, _ = _cli(capsys, "score", "--survey", str(wvs["dir"]), "--answers", str(path))
    assert code == 0
    culture, value, rest = out.strip().split("\t")
    assert (culture, value) == ("KEN", f"{expected:.2f}")
    assert rest.startswith(f"{counted} of 259 replies counted")

    code, out, _ = _cli(capsys, "score", "--survey", str(wvs["dir"]), "--answers", str(path), "--json")
    document = json.loads(out)
    assert document["alignment"] == round(expected, 2)
    assert document["counted"] == counted and document["culture"] == "KEN"


def test_cli_culture_all(capsys, wvs, runs_dir):
    path = runs_dir / "wvs_result_culture_unaware_0.json"
    code, out, _ = _cli(capsys, "score", "--survey", str(wvs["dir"]), "--answers", str(path),
                        "--culture", "all", "--bootstrap", "0")
    assert code == 0
    lines = [line.split("\t") for line in out.strip().splitlines()]
    assert [line[0] for line in lines] == CULTURES + ["average"]
    expected = [reference_score(wvs, c, load_items(path))[0] for c in CULTURES]
    assert [line[1] for line in lines[:-1]] == [f"{e:.2f}" for e in expected]
    assert lines[-1][1] == f"{np.mean(expected):.2f}"
    code, out, _ = _cli(capsys, "score", "--survey", str(wvs["dir"]), "--answers", str(path),
                        "--culture", "all", "--json", "--bootstrap", "0")
    document = json.loads(out)
    assert document["alignment"] == round(float(np.mean(expected)), 2)
    assert list(document["cultures"]) == CULTURES


def test_cli_partial_run_and_bad_input(capsys, wvs, runs_dir, tmp_path):
    items = json.loads((runs_dir / "wvs_result_culture_aware_BRA_0.json").read_text())[:40]
    partial = tmp_path / "partial_BRA_0.json"
    partial.write_text(json.dumps(items))
    code, out, _ = _cli(capsys, "score", "--survey", str(wvs["dir"]), "--answers", str(partial), "--json")
    document = json.loads(out)
    expected, counted = reference_score(wvs, "BRA", [(i["Q_id"], i["answer"]) for i in items])
    assert document["answered"] == 40 and document["counted"] == counted
    assert document["alignment"] == round(expected, 2)

    broken = tmp_path / "broken_BRA_0.json"
    broken.write_text('[{"Q_id": "Q1", "answer": "1"},')
    code, _, err = _cli(capsys, "score", "--survey", str(wvs["dir"]), "--answers", str(broken))
    assert code == 2 and str(broken) in err and "malformed JSON" in err

    unknown = tmp_path / "unknown_BRA_0.json"
    unknown.write_text('[{"Q_id": "Q1", "answer": "1"}, {"Q_id": "Q999", "answer": "2"}]')
    code, _, err = _cli(capsys, "score", "--survey", str(wvs["dir"]), "--answers", str(unknown))
    assert code == 2 and str(unknown) in err and "item 1" in err and "Q999" in err

    code, _, err = _cli(capsys, "score", "--survey", str(wvs["dir"]), "--answers", str(partial),
                        "--culture", "XYZ")
    assert code == 2 and "XYZ" in err

    code, _, err = _cli(capsys, "score", "--survey", str(wvs["dir"]),
                        "--answers", str(runs_dir / "wvs_result_culture_unaware_0.json"))
    assert code == 2 and "--culture" in err

    code, _, err = _cli(capsys, "score", "--survey", str(wvs["dir"]), "--answers", str(tmp_path / "no_BRA_0.json"))
    assert code == 2 and "no_BRA_0.json" in err


# --- with the survey layer's objects ------------------------------------------------------------

def test_scorer_takes_a_survey_object_and_parse_takes_a_question(wvs, runs_dir):
    survey = culturespa.Survey.load(str(wvs["dir"]))
    scorer = culturespa.SurveyScorer(survey, bootstrap_samples=0)
    path = runs_dir / "wvs_result_culture_aware_IND_0.json"
    expected, _ = reference_score(wvs, "IND", load_items(path))
    assert scorer.score(str(path), "IND").alignment == pytest.approx(expected, abs=1e-9)
    membership = survey.question("Q94")
    assert membership.zero_based
    assert culturespa.answer_parse("0.Don't belong", membership, mode="robust")["option"] == 0
    assert culturespa.answer_parse("3", membership, mode="robust")["failure"] == "not_an_option"


def test_in_memory_survey_and_answer_lists():
    survey = culturespa.Survey()
    survey.add_culture(culturespa.Culture(code="AAA", adjective="Aish", article="an"))
    survey.add_question(culturespa.Question(id="Q1", text="One?", options=["Yes", "No"], topic="T"))
    survey.add_question(culturespa.Question(id="Q2", text="Two?", options=["1", "2", "3", "4", "5"], topic="T"))
    survey.set_human_answers("AAA", "Q1", {2: 0.6, 1: 0.4})
    survey.set_human_answers("AAA", "Q2", {5: 0.5, 1: 0.5})
    scorer = culturespa.SurveyScorer(survey, parse="robust", bootstrap_samples=0)
    score = scorer.score([{"Q_id": "Q1", "answer": "Yes"}, ("Q2", "I'd say 3")], "AAA")
    # m = (1, 3), g = (2, 5), n = (2, 5): 1 - sqrt(1 + 4) / sqrt(1 + 16)
    assert score.alignment == pytest.approx(100 * (1 - math.sqrt(5) / math.sqrt(17)))
    assert score.counts.counted == 2
    with pytest.raises(ValueError, match="Q3"):
        scorer.score([{"Q_id": "Q3", "answer": "1"}], "AAA")
    with pytest.raises(ValueError, match="ZZZ"):
        scorer.score([{"Q_id": "Q1", "answer": "1"}], "ZZZ")


def test_example_scores_the_reference_runs(tmp_path, shared_dir, repo_root, wvs, runs_dir):
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(repo_root / "python"), MPLBACKEND="Agg")
    out = tmp_path / "runs.png"
    result = subprocess.run(
        [sys.executable, str(repo_root / "examples" / "python" / "score_reference_runs.py"),
         "--shared", str(shared_dir), "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    aware = [reference_score(wvs, c, load_items(runs_dir / f"wvs_result_culture_aware_{c}_0.json"))[0]
             for c in CULTURES]
    unaware = [reference_score(wvs, c, load_items(runs_dir / "wvs_result_culture_unaware_0.json"))[0]
               for c in CULTURES]
    assert (f"average: culture-unaware {np.mean(unaware):.2f}, culture-aware {np.mean(aware):.2f}"
            in result.stdout)
    assert out.stat().st_size > 10_000
    assert (tmp_path / "runs_similarity.png").stat().st_size > 10_000

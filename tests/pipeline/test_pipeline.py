"""The pipeline's model-free stages against the reference release's data,
with every expected value recomputed here in plain Python."""
import json
import math
import re
import subprocess
import sys

import pytest

import culturespa
from culturespa import pipeline

GENERATED = "reference-runs/llama3-8b-instruct/generated-questions"
WVS_RUNS = "reference-runs/llama3-8b-instruct/wvs"
CULTURES = "USA CAN BOL BRA GBR NLD DEU UKR CHN RUS IND THA KEN NGA ETH ZWE AUS NZL".split()


def _generated_paths(shared_dir):
    return [shared_dir / GENERATED / f"generated_questions_topic_{k}_from_all_seed.json"
            for k in range(13)]


# ---- filter ----------------------------------------------------------------

NUMBERED = re.compile(r"^\d+(\s*[-.]\s*|\s*\(\s*|\s*\.\s*)[\s\S]*")
NUMBERED_PREFIX = re.compile(r"^\d+(\s*[-.]\s*|\s*\(\s*|\s*\.\s*)")
SCALE = ["on a scale", "with 1 being", "where 1 means", "which 1 means"]


def _drop_paren(s):
    return s[:-1] if s.endswith(")") and "(" not in s else s


def _reference_filter(generated, seeds):
    """The notes' rules, written out independently of the library."""
    seen = {q["question"] for q in seeds}
    after1 = []
    for q in generated:
        if q["question"] not in seen:
            after1.append(q)
        seen.add(q["question"])
    after2 = []
    for q in after1:
        o = q["option_lst"]
        if all(x[:1].isdigit() for x in o) and "".join(o).isdigit() and \
                not any(s in q["question"].lower() for s in SCALE):
            continue
        after2.append(q)
    after3 = []
    for q in after2:
        o = q["option_lst"]
        if all(x[:1].isdigit() for x in o) and not "".join(o).isdigit():
            if all(NUMBERED.match(x) for x in o):
                if not all(re.match(r"^\d+-\d", x) for x in o):  # "1-3: Too slow" stays
                    q = dict(q, option_lst=[_drop_paren(NUMBERED_PREFIX.sub("", x, count=1)) for x in o])
            else:
                first, last = o[0], o[-1]
                if not (NUMBERED.match(first) and NUMBERED.match(last)
                        and not any(NUMBERED.match(x) for x in o[1:-1])
                        and "refuse" not in first and "refuse" not in last):
                    continue
                fn, ln = re.match(r"\d+", first).group(), re.match(r"\d+", last).group()
                fl = _drop_paren(NUMBERED_PREFIX.sub("", first, count=1).strip())
                ll = _drop_paren(NUMBERED_PREFIX.sub("", last, count=1).strip())
                q = dict(q, option_lst=[fn] + o[1:-1] + [ln],
                         question=q["question"] + f" Using this card on which {fn} means '{fl}' "
                                                  f"and {ln} means '{ll}'")
        after3.append(q)
    return after1, after2, after3


def test_filter_reproduces_the_reference_12847(shared_dir):
    raw = []
    for path in _generated_paths(shared_dir):
        raw += json.loads(path.read_text())
    for i, q in enumerate(raw):
        q["Q_id"] = f"Q{i}"
    seeds_raw = json.loads((shared_dir / "wvs/wvs_questions.json").read_text())
    after1, after2, after3 = _reference_filter(raw, seeds_raw)
    assert (len(after1), len(after2), len(after3)) == (12891, 12860, 12847)

    generated = pipeline.load_generated_questions(_generated_paths(shared_dir))
    seeds = culturespa.Survey.wvs7(str(shared_dir / "wvs")).questions
    result = culturespa.QuestionFilter().apply(generated, seeds)
    assert result.counts() == {"input": 13000, "too_few_options": 13000, "exact_duplicate": 12891,
                               "bare_number_options": 12860, "numbered_options": 12847}
    assert len(result) == 12847
    expected = {q["Q_id"]: q for q in after3}
    assert [q.id for q in result] == list(expected)
    for q in result:
        assert q.text == expected[q.id]["question"], q.id
        assert list(q.options) == expected[q.id]["option_lst"], q.id
    frame = result.report_dataframe()
    assert frame[frame.step == "exact_duplicate"].removed.sum() == 109
    assert frame[frame.step == "numbered_options"].rewritten.sum() == 2833 + 23
    assert len(result.to_dataframe()) == 12847


def test_filter_options_and_bad_input():
    questions = [
        {"id": "Q0", "text": "How much do you trust people in your neighbourhood?", "options": ["a", "b"]},
        {"id": "Q1", "text": "How much do you trust people in your neighbourhood today?", "options": ["a", "b"]},
        {"id": "Q2", "text": "One option only?", "options": ["a"]},
        {"Q_id": "Q3", "question": "Duplicate options?", "option_lst": ["x", "x"], "class": "T"},
    ]
    plain = culturespa.QuestionFilter().apply(questions)
    assert [q.id for q in plain] == ["Q0", "Q1", "Q3"]
    assert plain.report.duplicate_option_ids == ["Q3"]
    strict = culturespa.QuestionFilter(near_duplicate_threshold=0.6, drop_duplicate_options=True).apply(questions)
    assert [q.id for q in strict] == ["Q0"]
    with pytest.raises(ValueError, match="near_duplicate_threshold"):
        culturespa.QuestionFilter(near_duplicate_threshold=2.0)
    with pytest.raises(ValueError, match="appears twice"):
        culturespa.QuestionFilter().apply([questions[0], questions[0]])
    with pytest.raises(ValueError, match="options"):
        culturespa.QuestionFilter().apply([{"id": "Q9", "text": "no options"}])


# ---- contrast --------------------------------------------------------------

def _parse(reply):
    m = re.search(r"\d+", reply)
    return int(m.group()) if m else None


def _reference_contrast(unaware, aware):
    """The reference rule in plain Python: (valid, same, different, kept pairs)."""
    by_id = {a["Q_id"]: a for a in aware}
    valid = same = different = 0
    kept = []
    for u in unaware:
        a = by_id[u["Q_id"]]
        x, y = _parse(a["answer"]), _parse(u["answer"])
        if x is None or y is None or not (0 <= x <= 15 and 0 <= y <= 15):
            continue
        valid += 1
        if x == y:
            same += 1
        else:
            different += 1
            kept.append((u["Q_id"], x, y))
    return valid, same, different, kept


def test_contrast_reference_rule_on_the_wvs_runs(shared_dir):
    runs = shared_dir / WVS_RUNS
    unaware_raw = json.loads((runs / "wvs_result_culture_unaware_0.json").read_text())
    questions, unaware = pipeline.answer_file_load(str(runs / "wvs_result_culture_unaware_0.json"))
    aware = {}
    expected = {}
    for code in CULTURES:
        path = runs / f"wvs_result_culture_aware_{code}_0.json"
        assert pipeline.culture_from_file_name(str(path)) == code
        raw = json.loads(path.read_text())
        expected[code] = _reference_contrast(unaware_raw, raw)
        records = [{"question_id": a["Q_id"], "reply": a["answer"]} for a in raw]
        aware[code] = records[::-1] if code == "KEN" else records  # order must not matter
    result = culturespa.ContrastDetector().detect(questions, unaware, aware)
    counts = result.counts_dataframe().set_index("culture")
    for code in CULTURES:
        valid, same, different, kept = expected[code]
        assert (counts.loc[code, "valid"], counts.loc[code, "same"], counts.loc[code, "different"]) == \
            (valid, same, different), code
        got = [(p.question_id, p.aware_answer, p.unaware_answer)
               for p in result.pairs if p.culture == code]
        assert got == kept, code
    assert len(result) == sum(e[2] for e in expected.values()) == 1373
    assert counts.loc["USA", "valid"] == 253 and counts.loc["USA", "different"] == 50
    frame = result.to_dataframe()
    assert len(frame) == 1373 and set(frame.culture) == set(CULTURES)


def test_contrast_per_topic_with_wvs_topics(shared_dir):
    runs = shared_dir / WVS_RUNS
    survey = culturespa.Survey.wvs7(str(shared_dir / "wvs"))
    _, unaware = pipeline.answer_file_load(str(runs / "wvs_result_culture_unaware_0.json"))
    _, ken = pipeline.answer_file_load(str(runs / "wvs_result_culture_aware_KEN_0.json"))
    result = culturespa.ContrastDetector().detect(survey.questions, unaware, {"KEN": ken})
    topics = result.counts_dataframe("topic")
    assert len(topics) == 13
    assert topics.different.sum() == 86 and topics.valid.sum() == 254


def test_contrast_missing_ids_and_bad_input(caplog):
    questions = [{"id": f"Q{i}", "text": f"q{i}?", "options": ["a", "b", "c"]} for i in range(3)]
    unaware = [{"question_id": "Q0", "reply": "1"}, {"question_id": "Q1", "reply": "2"},
               {"question_id": "Q2", "reply": "no idea"}]
    aware = {"CHN": [{"question_id": "Q1", "reply": "3"}, {"question_id": "Q7", "reply": "1"}]}
    result = culturespa.ContrastDetector().detect(questions, unaware, aware)
    chn = result.report.cultures[0]
    assert chn.missing_ids == ["Q0", "Q2"] and chn.extra_ids == ["Q7"]
    assert result.report.culture("CHN").counts.different == 1
    assert [(p.question_id, p.aware_answer) for p in result] == [("Q1", 3)]
    assert result.to_dict()["report"]["cultures"][0]["missing_ids"] == ["Q0", "Q2"]
    assert result.pairs[0].to_dict()["question_id"] == "Q1"
    with pytest.raises(ValueError, match="empty cultures list"):
        culturespa.ContrastDetector().detect(questions, unaware, {})
    with pytest.raises(ValueError, match="appears twice"):
        culturespa.ContrastDetector().detect(questions, unaware + unaware[:1], aware)
    with pytest.raises(ValueError, match="rule"):
        culturespa.ContrastDetector(rule="vibes")


def _jsd(p, q):
    p = [x / sum(p) for x in p]
    q = [x / sum(q) for x in q]
    m = [(a + b) / 2 for a, b in zip(p, q)]

    def kl(a, b):
        return sum(x * math.log2(x / y) for x, y in zip(a, b) if x > 0)
    return (kl(p, m) + kl(q, m)) / 2


def test_contrast_distributional_rule():
    import numpy as np

    questions = [{"id": f"Q{i}", "text": f"q{i}?", "options": ["a", "b", "c"]} for i in range(3)]
    un = [[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]]
    aw = [[0.5, 0.4, 0.1], [0.1, 0.2, 0.7], [0.35, 0.25, 0.4]]
    unaware = [{"question_id": f"Q{i}", "distribution": np.array(d)} for i, d in enumerate(un)]
    aware = {"IND": [{"question_id": f"Q{i}", "distribution": d} for i, d in enumerate(aw)]}
    threshold = 0.01
    result = culturespa.ContrastDetector(rule="distributional", jsd_threshold=threshold).detect(
        questions, unaware, aware)
    expected = [i for i in range(3) if _jsd(aw[i], un[i]) >= threshold]
    assert [p.question_id for p in result] == [f"Q{i}" for i in expected]
    for p in result:
        i = int(p.question_id[1:])
        assert p.score == pytest.approx(_jsd(aw[i], un[i]))
        assert p.aware_answer == 1 + max(range(3), key=lambda k: aw[i][k])
        assert p.probability == pytest.approx(max(aw[i]))
    argmax = culturespa.ContrastDetector(rule="distributional", jsd_threshold=0.0,
                                         require_argmax_change=True).detect(questions, unaware, aware)
    assert [p.question_id for p in argmax] == ["Q1"]
    assert pipeline.jensen_shannon_divergence([1, 0], [0, 1]) == pytest.approx(1.0)


# ---- export ----------------------------------------------------------------

def _fnv_fmix(key: str) -> float:
    h = 14695981039346656037
    for b in key.encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & 0xFFFFFFFFFFFFFFFF
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & 0xFFFFFFFFFFFFFFFF
    h ^= h >> 33
    return (h >> 11) / 2 ** 53


def _pairs(n=30):
    pairs = []
    for i in range(n):
        for code in ("KEN", "NZL"):
            pairs.append({"question_id": f"Q{i}", "topic": "T", "question": f"Is {i} important?",
                          "options": ["Yes", "Somewhat", "No"], "culture": code,
                          "aware_answer": 1 + (i % 3), "unaware_answer": 1, "rule": "reference"})
    return pairs


def test_export_formats(tmp_path):
    pairs = _pairs()
    summary = culturespa.dataset_export(pairs, tmp_path / "alpaca", validation_fraction=0.2, seed=7)
    train = json.loads((tmp_path / "alpaca/culturespa_train.json").read_text())
    valid = json.loads((tmp_path / "alpaca/culturespa_validation.json").read_text())
    assert len(train) + len(valid) == len(pairs) == summary.pairs_in
    expected_valid = {f"Q{i}" for i in range(30) if _fnv_fmix(f"7:Q{i}") < 0.2}
    assert len(valid) == 2 * len(expected_valid)
    kenyan = train[0]
    assert kenyan["system"].startswith("You are a real person with a Kenyan cultural background.")
    assert "#Options: 1.Yes 2.Somewhat 3.No" in kenyan["instruction"]
    assert kenyan["input"] == "" and kenyan["output"] in {"1", "2", "3"}
    info = json.loads((tmp_path / "alpaca/dataset_info.json").read_text())
    assert info["culturespa_train"]["columns"] == {"prompt": "instruction", "query": "input",
                                                   "response": "output", "system": "system"}

    def builder(question, culture):
        return [{"role": "system", "content": f"culture {culture}"}, ("user", question.text)]

    culturespa.dataset_export(pairs, tmp_path / "msgs", format="sharegpt", mode="specific",
                            prompt_builder=builder, answer_with_option_text=True)
    lines = (tmp_path / "msgs/culturespa_NZL_train.jsonl").read_text().splitlines()
    assert len(lines) == 30
    first = json.loads(lines[0])
    assert first["messages"] == [{"role": "system", "content": "culture NZL"},
                                 {"role": "user", "content": "Is 0 important?"},
                                 {"role": "assistant", "content": "1.Yes"}]
    culturespa.dataset_export(pairs, tmp_path / "own", format="culturespa", subsample_fraction=0.5)
    own = [json.loads(x) for x in (tmp_path / "own/culturespa_train.jsonl").read_text().splitlines()]
    kept_ids = {f"Q{i}" for i in range(30) if _fnv_fmix(f"0:subsample:Q{i}") < 0.5}
    assert {r["question_id"] for r in own} == kept_ids
    assert own[0]["unaware_answer"] == 1 and own[0]["rule"] == "reference"
    with pytest.raises(ValueError, match="subsample_fraction"):
        culturespa.dataset_export(pairs, tmp_path / "bad", subsample_fraction=0.0)
    with pytest.raises(ValueError, match="format"):
        culturespa.dataset_export(pairs, tmp_path / "bad", format="csv")


def test_cli_stages_end_to_end(shared_dir, tmp_path):
    runs = shared_dir / WVS_RUNS
    run = [sys.executable, "-m", "culturespa"]
    env_cwd = dict(capture_output=True, text=True)
    out = subprocess.run(run + ["filter", "--seeds", str(shared_dir / "wvs"), "--output",
                                str(tmp_path / "questions.json"), "--report", str(tmp_path / "filter.json")]
                         + ["--input"] + [str(p) for p in _generated_paths(shared_dir)], **env_cwd)
    assert out.returncode == 0, out.stderr
    assert len(json.loads((tmp_path / "questions.json").read_text())) == 12847
    out = subprocess.run(run + ["contrast", "--unaware", str(runs / "wvs_result_culture_unaware_0.json"),
                                "--output", str(tmp_path / "pairs.jsonl"), "--aware",
                                str(runs / "wvs_result_culture_aware_KEN_0.json"),
                                f"USA={runs / 'wvs_result_culture_aware_USA_0.json'}"], **env_cwd)
    assert out.returncode == 0, out.stderr
    assert len((tmp_path / "pairs.jsonl").read_text().splitlines()) == 86 + 50
    out = subprocess.run(run + ["export", "--pairs", str(tmp_path / "pairs.jsonl"), "--format", "sharegpt",
                                "--mode", "specific", "--output", str(tmp_path / "sets")], **env_cwd)
    assert out.returncode == 0, out.stderr
    assert len((tmp_path / "sets/culturespa_KEN_train.jsonl").read_text().splitlines()) == 86
    out = subprocess.run(run + ["contrast", "--unaware", str(runs / "wvs_result_culture_unaware_0.json"),
                                "--output", str(tmp_path / "none.jsonl")], **env_cwd)
    assert out.returncode != 0


def test_progress_and_cancellation():
    questions = [{"id": f"Q{i}", "text": f"question number {i}?", "options": ["a", "b"]} for i in range(50)]
    seen = []
    culturespa.QuestionFilter().apply(questions, progress=lambda p: seen.append((p.stage, p.done)))
    assert seen and seen[0][0] == "filter" and seen[-1][1] == 4  # 4 steps ran
    with pytest.raises(culturespa.Cancelled):
        culturespa.QuestionFilter().apply(questions, progress=lambda p: False)
    unaware = [{"question_id": q["id"], "reply": "1"} for q in questions]
    with pytest.raises(culturespa.Cancelled):
        culturespa.ContrastDetector().detect(questions, unaware, {"KEN": unaware}, progress=lambda p: False)

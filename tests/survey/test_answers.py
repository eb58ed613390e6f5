"""Answer files (the reference's wvs_result_*.json, or JSONL) and the culture a
file name names, from Python: one reader shared by the scorer and the pipeline."""
import json

import pytest

import culturespa
from culturespa import pipeline, scoring

WVS_RUNS = "reference-runs/llama3-8b-instruct/wvs"


def test_one_reader_for_scoring_and_pipeline():
    assert scoring.answer_file_load is pipeline.answer_file_load
    assert scoring.culture_from_file_name is pipeline.culture_from_file_name


def test_json_list_in_the_reference_format(tmp_path):
    path = tmp_path / "wvs_result_culture_aware_KEN_0.json"
    items = [
        {"Q_id": "Q1", "question": "One?", "option_lst": ["Yes", "No"], "class": "Values", "answer": "1. Yes"},
        {"Q_id": "Q2", "answer": 3, "prompt": "ignored"},
        {"Q_id": "Q3", "answer": None},
    ]
    path.write_text(json.dumps(items))
    questions, answers = scoring.answer_file_load(path)  # a PathLike works too
    assert answers == [{"question_id": "Q1", "reply": "1. Yes"}, {"question_id": "Q2", "reply": "3"},
                       {"question_id": "Q3", "reply": ""}]
    assert len(questions) == 1
    q = questions[0]
    assert (q.id, q.text, list(q.options), q.topic, q.zero_based) == ("Q1", "One?", ["Yes", "No"], "Values", False)


def test_jsonl_with_distributions(tmp_path):
    path = tmp_path / "answers.jsonl"
    lines = [
        {"question_id": "Q7", "reply": "0", "distribution": [0.5, 0.25, 0.25], "question": "Seven?",
         "options": ["a", "b", "c"], "topic": "T", "zero_based": True},
        {"question_id": "Q8", "distribution": [1, 0]},
    ]
    path.write_text(json.dumps(lines[0]) + "\n\n" + json.dumps(lines[1]) + "\n")
    questions, answers = pipeline.answer_file_load(str(path))
    assert answers == [{"question_id": "Q7", "reply": "0", "distribution": [0.5, 0.25, 0.25]},
                       {"question_id": "Q8", "reply": "", "distribution": [1.0, 0.0]}]
    assert [(q.id, list(q.options), q.topic, q.zero_based) for q in questions] == [
        ("Q7", ["a", "b", "c"], "T", True)]


@pytest.mark.parametrize("text, parts", [
    ('[{"Q_id": "Q1", "answer": 1', ["malformed JSON"]),
    ('"Q1"', ["list", "JSONL"]),
    ("", ["empty"]),
    ('[{"Q_id": "Q1", "answer": "1"}, {"answer": "2"}]', ["item 1", "Q_id"]),
    ('[{"Q_id": "Q1"}]', ["item 0", "Q1", "answer", "distribution"]),
    ('[{"Q_id": "Q1", "answer": [1]}]', ["item 0", "answer"]),
    ('[{"Q_id": "Q1", "answer": "1"}, {"Q_id": "Q1", "answer": "2"}]', ["item 1", "repeats item 0"]),
    ('{"question_id": "Q1", "reply": "1"}\n{"question_id": "Q1", "reply": "2"}\n', ["line 2", "repeats line 1"]),
    ('{"question_id": "Q1", "reply": "1"}\n{"question_id"\n', ["line 2", "malformed JSON"]),
    ('[{"Q_id": "Q1", "distribution": [0.5, "x"]}]', ["item 0", "distribution[1]"]),
    ('[{"Q_id": "Q1", "answer": "1", "question": "x", "option_lst": "a"}]', ["item 0", "option_lst"]),
])
def test_malformed_files_name_the_file_and_item(tmp_path, text, parts):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        scoring.answer_file_load(path)
    message = str(error.value)
    assert str(path) in message
    for part in parts:
        assert part in message, message


def test_missing_file(tmp_path):
    with pytest.raises(OSError, match="absent.json"):
        scoring.answer_file_load(tmp_path / "absent.json")


def test_culture_from_file_name():
    assert scoring.culture_from_file_name("/x/wvs_result_culture_aware_KEN_0.json") == "KEN"
    assert scoring.culture_from_file_name("wvs_result_self_alignment_American_0.jsonl") == "USA"
    assert scoring.culture_from_file_name("wvs_result_culture_unaware_0.json") is None
    assert scoring.culture_from_file_name("KEN_run.json") is None  # not between underscores
    with pytest.raises(ValueError, match="KEN.*USA"):
        scoring.culture_from_file_name("x_KEN_USA_0.json")
    own = [culturespa.Culture(code="AAA", adjective="Aish", article="an"),
           culturespa.Culture(code="BBB", adjective="Bish", article="a")]
    assert scoring.culture_from_file_name("run_Bish_1.json", own) == "BBB"
    assert scoring.culture_from_file_name("run_KEN_1.json", cultures=own) is None
    with pytest.raises(ValueError, match="AAA.*BBB"):
        scoring.culture_from_file_name("x_AAA_Bish_0.json", own)


def test_the_scorer_takes_answer_records_either_way():
    survey = culturespa.Survey()
    survey.add_culture(culturespa.Culture(code="AAA", adjective="Aish", article="an"))
    survey.add_question(culturespa.Question(id="Q1", text="One?", options=["Yes", "No"], topic="T"))
    survey.add_question(culturespa.Question(id="Q2", text="Two?", options=["1", "2", "3"], topic="T"))
    survey.set_human_answers("AAA", "Q1", {1: 1.0})
    survey.set_human_answers("AAA", "Q2", {3: 1.0})
    scorer = culturespa.SurveyScorer(survey, bootstrap_samples=0)
    a = scorer.score([{"Q_id": "Q1", "answer": "1"}, {"Q_id": "Q2", "answer": 3}], "AAA")
    b = scorer.score([{"question_id": "Q1", "reply": "1"}, ("Q2", "3")], "AAA")
    assert a.alignment == b.alignment == 100.0
    none = scorer.score([{"question_id": "Q1", "reply": None}], "AAA")
    assert none.counts.parse_failures == 1 and none.counts.failures == {"empty": 1}
    with pytest.raises(ValueError, match="item 1.*Q2.*distribution"):
        scorer.score([{"Q_id": "Q1", "answer": "1"}, {"Q_id": "Q2"}], "AAA")
    with pytest.raises(ValueError, match="item 0.*float"):
        scorer.score([{"Q_id": "Q1", "answer": 1.5}], "AAA")
    with pytest.raises(ValueError, match="item 0"):
        scorer.score([42], "AAA")


def test_a_reference_run(shared_dir):
    path = shared_dir / WVS_RUNS / "wvs_result_culture_aware_NZL_0.json"
    raw = json.loads(path.read_text())
    questions, answers = pipeline.answer_file_load(path)
    assert [(a["question_id"], a["reply"]) for a in answers] == [(i["Q_id"], i["answer"]) for i in raw]
    assert [(q.id, q.text, list(q.options)) for q in questions] == [
        (i["Q_id"], i["question"], i["option_lst"]) for i in raw]
    assert pipeline.culture_from_file_name(path) == "NZL"

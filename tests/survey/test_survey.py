"""Survey data from Python: loading, accessors, formats and bad input."""
import json

import pytest

import culturespa
from culturespa.survey import (
    Culture,
    Question,
    Survey,
    SurveyConventions,
    culture_from_code,
    question_bank_load,
    topics_wvs7,
)

ZERO_BASED = {f"Q{i}" for i in list(range(94, 106)) + list(range(122, 130)) + [119] + list(range(241, 250))}
EXCLUDED = {f"Q{i}" for i in range(260, 291)} | {"Q223"}


@pytest.fixture(scope="module")
def wvs(shared_dir):
    return Survey.wvs7(str(shared_dir / "wvs"))


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def test_wvs7_conventions(wvs, shared_dir):
    raw = _load(shared_dir / "wvs" / "wvs_questions.json")
    assert [q.id for q in wvs.questions] == [q["Q_id"] for q in raw]
    assert wvs.evaluated_ids == [q["Q_id"] for q in raw if q["Q_id"] not in EXCLUDED]
    assert len(wvs.evaluated_ids) == 259
    assert {q.id for q in wvs if q.zero_based} == ZERO_BASED
    assert wvs.topics == list(topics_wvs7()) and len(wvs.topics) == 13
    assert wvs.question("Q234A").topic == "Political Interest & Political Participation"
    assert wvs.question("Q106").topic == "Economic Values"
    assert wvs.question("Q270").topic == ""
    economic = wvs.questions_of_topic("Economic Values")
    assert [q.id for q in economic] == [f"Q{i}" for i in range(106, 112)]
    q94 = wvs.question("Q94")
    assert q94.labels == ["0", "1", "2"] and q94.option_text(0) == raw[93]["option_lst"][0]
    assert wvs.question("Q1").labels == ["1", "2", "3", "4"]
    assert "Q1" in wvs and "Q999" not in wvs
    assert [c.code for c in wvs.cultures] == [c.code for c in culturespa.cultures_builtin()]


def test_human_answers_keep_stored_order(wvs, shared_dir):
    gold = _load(shared_dir / "wvs" / "proportions_group_by_country.json")  # dicts keep file order
    for culture in [c.code for c in wvs.cultures]:
        for qid, shares in gold[culture].items():
            got = wvs.human_answers(culture, qid)
            assert list(got.items()) == [(int(k), v) for k, v in shares.items()]
            assert wvs.gold(culture, qid) == (int(next(iter(shares))) if shares else None)
    assert wvs.human_answers("KEN", "Q260") is None  # not in the proportions file
    with pytest.raises(ValueError, match="MEX"):
        wvs.human_answers("MEX", "Q1")


def test_similarity_and_examples(wvs, shared_dir):
    sim = _load(shared_dir / "wvs" / "country_similarity.json")
    assert wvs.similarity_row("KEN") == sim["KEN"]
    ascending = [c for c, _ in sorted(sim["THA"].items(), key=lambda kv: kv[1])]
    assert wvs.similarity_ranking("THA") == ascending[::-1]
    examples = _load(shared_dir / "wvs" / "self_alignment_examples.json")
    assert wvs.self_alignment_examples("Q57") == examples["Q57"]
    gold = _load(shared_dir / "wvs" / "proportions_group_by_country.json")
    expected = [e for e in examples["Q57"] if gold["NGA"].get(e)][:5]
    assert wvs.self_alignment_example_ids("Q57", "NGA") == expected


def test_dataframes(wvs):
    df = wvs.to_dataframe()
    assert len(df) == 291
    assert list(df.columns) == ["id", "text", "options", "n_options", "topic", "zero_based", "evaluated"]
    assert int(df["evaluated"].sum()) == 259
    assert df.set_index("id").loc["Q94", "zero_based"]
    answers = wvs.human_answers_dataframe("KEN")
    first = answers[(answers.question_id == "Q1") & (answers["rank"] == 0)]
    assert int(first.option.iloc[0]) == wvs.gold("KEN", "Q1")


def test_round_trip(wvs, tmp_path):
    path = tmp_path / "wvs7.json"
    wvs.save(str(path))
    again = Survey.load(str(path))
    assert [(q.id, q.text, q.options, q.topic, q.zero_based) for q in again] == \
        [(q.id, q.text, q.options, q.topic, q.zero_based) for q in wvs]
    assert again.evaluated_ids == wvs.evaluated_ids
    assert again.human_answers("BRA", "Q10") == wvs.human_answers("BRA", "Q10")
    assert list(again.human_answers("BRA", "Q10")) == list(wvs.human_answers("BRA", "Q10"))
    assert again.to_json() == path.read_text(encoding="utf-8")


def test_build_a_survey_in_python(tmp_path):
    atl = Culture(code="ATL", adjective="Atlantean", article="an")
    s = Survey(name="mini", questions=[
        Question(id="T1", text="Tea or coffee?", options=["Tea", "Coffee"], topic="Food"),
        Question(id="T2", text="Year of birth?", options=[]),
    ], cultures=[atl, culture_from_code("KEN")])
    assert s.evaluated_ids == ["T1"]
    s.set_human_answers("ATL", "T1", {2: 0.5, 1: 0.5})
    assert s.gold("ATL", "T1") == 2  # the tie keeps the stored order
    with pytest.raises(ValueError, match=r"T1.*option 3"):
        s.set_human_answers("KEN", "T1", {3: 1.0})
    with pytest.raises(ValueError, match="XYZ"):
        s.set_human_answers("XYZ", "T1", {1: 1.0})
    with pytest.raises(ValueError, match="T9"):
        s.question("T9")
    with pytest.raises(ValueError, match="Cooking"):
        s.questions_of_topic("Cooking")
    path = tmp_path / "mini.json"
    s.save(str(path))
    doc = json.loads(path.read_text())
    assert doc["human_answers"]["ATL"]["T1"] == {"2": 0.5, "1": 0.5}
    assert Survey.load(str(path)).culture("ATL") == atl


def test_question_bank(shared_dir):
    folder = shared_dir / "reference-runs" / "llama3-8b-instruct" / "generated-questions"
    for k, topic in enumerate(topics_wvs7()):
        path = folder / f"generated_questions_topic_{k}_from_all_seed.json"
        raw = _load(path)
        bank = question_bank_load(str(path))
        assert [q.id for q in bank] == [item["Q_id"] for item in raw]
        assert all(q.topic == topic for q in bank)
        assert [q.options for q in bank] == [item["option_lst"] for item in raw]
        assert [q.zero_based for q in bank] == [
            item["option_lst"][0].isdigit() and int(item["option_lst"][0]) == 0 for item in raw]


def _write(path, obj):
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return str(path)


def test_bad_input_names_file_and_item(tmp_path):
    conventions = SurveyConventions.wvs7()
    qs = [{"Q_id": "Q1", "question": "Q?", "option_lst": ["Yes", "No"]}]

    def reference(proportions, questions=qs, **extra):
        d = tmp_path / f"ref{len(list(tmp_path.iterdir()))}"
        d.mkdir()
        _write(d / "wvs_questions.json", questions)
        _write(d / "proportions_group_by_country.json", proportions)
        for name, content in extra.items():
            _write(d / f"{name}.json", content)
        return str(d)

    with pytest.raises(ValueError, match=r"proportions_group_by_country\.json.*malformed JSON"):
        Survey.load_reference(reference('{"KEN": {'), conventions=conventions)
    with pytest.raises(ValueError, match=r"proportions_group_by_country\.json.*KEN.*Q7"):
        Survey.load_reference(reference({"KEN": {"Q7": {"1": 1.0}}}))
    with pytest.raises(ValueError, match=r"proportions_group_by_country\.json.*KEN.*Q1.*option 5"):
        Survey.load_reference(reference({"KEN": {"Q1": {"5": 1.0}}}))
    with pytest.raises(ValueError, match=r"proportions_group_by_country\.json.*unknown culture 'XYZ'"):
        Survey.load_reference(reference({"XYZ": {"Q1": {"1": 1.0}}}))
    with pytest.raises(ValueError, match=r"wvs_questions\.json.*item 0 \(Q1\).*option_lst"):
        Survey.load_reference(reference({}, questions=[{"Q_id": "Q1", "question": "Q?"}]))
    with pytest.raises(ValueError, match=r"self_alignment_examples\.json.*Q1.*Q4"):
        Survey.load_reference(reference({}, self_alignment_examples={"Q1": ["Q4"]}))
    with pytest.raises(FileNotFoundError, match="wvs_questions.json"):
        Survey.load_reference(str(tmp_path))
    bad = _write(tmp_path / "survey.json", {"questions": [{"id": "A", "text": "t", "options": ["x"]}],
                                            "human_answers": {"KEN": {"A": {"2": 1.0}}}})
    with pytest.raises(ValueError, match=r"survey\.json.*KEN.*A.*option 2"):
        Survey.load(bad)
    bank = _write(tmp_path / "bank.json", [{"Q_id": "Q0", "question": "x", "option_lst": []}])
    with pytest.raises(ValueError, match=r"bank\.json.*item 0 \(Q0\).*empty"):
        question_bank_load(bank)


def test_question_bank_save(tmp_path):
    from culturespa.survey import question_bank_save
    bank = [Question(id="Q0", text="Spend or save?", options=["Spend", "Save"], topic="Economic Values"),
            Question(id="Q1", text="Rate", options=["0", "1"], zero_based=True)]
    path = tmp_path / "bank.json"
    question_bank_save(bank, str(path))
    assert json.loads(path.read_text()) == [
        {"Q_id": "Q0", "question": "Spend or save?", "option_lst": ["Spend", "Save"], "class": "Economic Values"},
        {"Q_id": "Q1", "question": "Rate", "option_lst": ["0", "1"]}]
    assert question_bank_load(str(path)) == bank


def test_human_shares_summing_to_more_than_one_are_refused(tmp_path):
    """Issue #16: they were normalised without a word; docs/survey.md says why they are refused."""
    s = Survey(name="mini", questions=[Question(id="T1", text="Tea or coffee?", options=["Tea", "Coffee"])],
               cultures=[culture_from_code("KEN")])
    s.set_human_answers("KEN", "T1", {1: 0.6, 2: 0.3})  # 0.9: the rest answered neither
    with pytest.raises(ValueError, match=r"KEN to T1: shares sum to 1\.4.*more than 1"):
        s.set_human_answers("KEN", "T1", {1: 0.9, 2: 0.5})
    path = tmp_path / "mini.json"
    s.save(str(path))
    doc = json.loads(path.read_text())
    doc["human_answers"]["KEN"]["T1"] = {"1": 0.9, "2": 0.5}
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"mini.json.*sum to 1\.4"):
        Survey.load(str(path))

"""Prompt builders against the reference's templates, recomputed here with
Python's str.format from ../shared/wvs/prompts.json and the raw data files."""
import glob
import itertools
import json

import pytest

from culturespa.survey import (
    PromptMethod,
    Prompts,
    PromptTemplates,
    Question,
    Survey,
    build_prompt,
    build_prompts,
    culture_contrast,
    cultures_builtin,
    generation_prompt,
    question_bank_load,
    topics_wvs7,
)

ZERO_BASED = {f"Q{i}" for i in list(range(94, 106)) + list(range(122, 130)) + [119] + list(range(241, 250))}
CULTURES = {c.code: (c.article, c.adjective) for c in cultures_builtin()}


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def ref(shared_dir):
    wvs = shared_dir / "wvs"
    return {
        "survey": Survey.wvs7(str(wvs)),
        "templates": _load(wvs / "prompts.json"),
        "questions": {q["Q_id"]: q for q in _load(wvs / "wvs_questions.json")},
        "gold": _load(wvs / "proportions_group_by_country.json"),
        "similarity": _load(wvs / "country_similarity.json"),
        "examples": _load(wvs / "self_alignment_examples.json"),
    }


def _options(qid, option_lst):
    first = 0 if qid in ZERO_BASED else 1
    return " ".join(f"{first + i}.{text}" for i, text in enumerate(option_lst))


def _user(ref, qid, question=None, option_lst=None):
    q = ref["questions"][qid]
    return ref["templates"]["answer_user"].format(question or q["question"],
                                                  _options(qid, option_lst or q["option_lst"]))


def _cross_system(ref, code):
    article, adjective = CULTURES[code]
    ranked = [c for c, _ in sorted(ref["similarity"][code].items(), key=lambda kv: kv[1])]
    similar = [CULTURES[c][1] for c in (ranked[-1], ranked[-2], ranked[-3])]
    different = [CULTURES[c][1] for c in ranked[:3]]
    return ref["templates"]["answer_system_cross_culture_thinking"].format(
        article, adjective, adjective, *similar, adjective, *different)


def _self_alignment_user(ref, qid, code):
    t = ref["templates"]
    lines = []
    for eid in ref["examples"][qid]:
        shares = ref["gold"][code][eid]
        if not shares:
            continue
        g = int(next(iter(shares)))
        opts = ref["questions"][eid]["option_lst"]
        text = opts[g] if eid in ZERO_BASED else opts[g - 1]
        lines.append(t["self_alignment_example"].format(ref["questions"][eid]["question"],
                                                        _options(eid, opts), f"{g}.{text}"))
        if len(lines) == 5:
            break
    q = ref["questions"][qid]
    return t["answer_user_self_alignment"].format("\n".join(lines), q["question"],
                                                  _options(qid, q["option_lst"]))


def test_templates_are_the_reference(ref):
    t = PromptTemplates.reference()
    for key, value in ref["templates"].items():
        if hasattr(t, key):
            assert getattr(t, key) == value, key
    assert json.loads(t.to_json()) == {k: v for k, v in ref["templates"].items()
                                       if k not in ("_about", "notes") and not k.endswith("_zh")}


def test_culture_aware_and_unaware_every_question_and_culture(ref):
    s = ref["survey"]
    unaware_system = ref["templates"]["answer_system_culture_unaware"]
    for p in build_prompts(s, method="culture_unaware"):
        assert p.messages == [{"role": "system", "content": unaware_system},
                              {"role": "user", "content": _user(ref, p.question_id)}]
        assert p.labels == [str(i) for i in range(0 if p.question_id in ZERO_BASED else 1,
                                                  len(ref["questions"][p.question_id]["option_lst"])
                                                  + (0 if p.question_id in ZERO_BASED else 1))]
    for code, (article, adjective) in CULTURES.items():
        system = ref["templates"]["answer_system_culture_aware"].format(article, adjective)
        prompts = build_prompts(s, method=PromptMethod.culture_aware, culture=code)
        assert len(prompts) == 259
        for p in prompts:
            assert p.messages[0]["content"] == system
            assert p.messages[1]["content"] == _user(ref, p.question_id)


def test_reference_run_files_ask_what_we_ask(ref, shared_dir):
    """Each run file records the question and option list it asked: our user
    prompt for its Q_id equals the reference rule applied to those."""
    s = ref["survey"]
    prompts = Prompts(s)
    files = sorted(glob.glob(str(shared_dir / "reference-runs" / "llama3-8b-instruct" / "wvs" / "*.json")))
    assert len(files) == 24
    for path in files:
        items = _load(path)
        assert [item["Q_id"] for item in items] == s.evaluated_ids
        for item in items[:: 7]:
            got = prompts.culture_unaware(item["Q_id"])[1]["content"]
            assert got == _user(ref, item["Q_id"], item["question"], item["option_lst"])


def test_cross_culture_thinking_all_cultures(ref):
    s = ref["survey"]
    for code in CULTURES:
        p = build_prompt(s, "Q57", method="cross_culture_thinking", culture=code)
        assert p.messages[0]["content"] == _cross_system(ref, code)
        assert p.messages[1]["content"] == _user(ref, "Q57")
    similar, different = culture_contrast(s, "KEN")
    assert similar == ["UKR", "ETH", "NGA"] and different == ["NZL", "NLD", "AUS"]


@pytest.mark.parametrize("code", ["USA", "CAN", "KEN", "ZWE"])
def test_self_alignment_variants(ref, code):
    s = ref["survey"]
    prompts = Prompts(s)
    article, adjective = CULTURES[code]
    aware = ref["templates"]["answer_system_culture_aware"].format(article, adjective)
    for qid in s.evaluated_ids[::11] + ["Q94", "Q234A"]:
        user = _self_alignment_user(ref, qid, code)
        plain = prompts.self_alignment(qid, code)
        assert plain == [{"role": "system", "content": ref["templates"]["answer_system_culture_unaware"]},
                         {"role": "user", "content": user}]
        assert prompts.culture_aware_self_alignment(qid, code) == [
            {"role": "system", "content": aware}, {"role": "user", "content": user}]
        assert prompts.cross_culture_thinking_self_alignment(qid, code) == [
            {"role": "system", "content": _cross_system(ref, code)}, {"role": "user", "content": user}]


def test_generation_prompts_match_every_recorded_prompt(ref, shared_dir):
    """Recover each recorded prompt's examples (by question text, among the
    topic's evaluated seed questions and the file's earlier items) and rebuild it."""
    s = ref["survey"]
    folder = shared_dir / "reference-runs" / "llama3-8b-instruct" / "generated-questions"
    for k, topic in enumerate(topics_wvs7()):
        path = folder / f"generated_questions_topic_{k}_from_all_seed.json"
        items = _load(path)
        bank = question_bank_load(str(path))
        by_text = {}
        for q in s.questions_of_topic(topic):
            if s.is_evaluated(q.id):
                by_text.setdefault(q.text, []).append(q)
        for i, item in enumerate(items):
            texts = [block.split("\nQuestion: ", 1)[1].split("\nOptions: ", 1)[0]
                     for block in item["prompt"].split("#Example ")[1:]]
            assert len(texts) == 5
            matched = any(
                generation_prompt(topic, list(choice))[1]["content"] == item["prompt"]
                for choice in itertools.product(*(by_text[t] for t in texts)))
            assert matched, (path.name, i)
            by_text.setdefault(bank[i].text, []).append(bank[i])
    messages = generation_prompt("Migration", [bank[0]])
    assert messages[0] == {"role": "system", "content": ref["templates"]["generate_system"]}


def test_user_templates(tmp_path, ref):
    path = tmp_path / "templates.json"
    path.write_text(json.dumps({"answer_user": "Q: {}\nA: {}\nAnswer with a number."}))
    prompts = Prompts(ref["survey"], templates=str(path))
    user = prompts.culture_aware("Q1", "KEN")[1]["content"]
    assert user == "Q: How important is family in your life?\nA: " + _options(
        "Q1", ref["questions"]["Q1"]["option_lst"]) + "\nAnswer with a number."
    path.write_text(json.dumps({"answer_user": "only {}"}))
    with pytest.raises(ValueError, match=r"templates\.json.*answer_user.*expected 2"):
        PromptTemplates.load(str(path))


def test_prompt_errors(ref):
    s = ref["survey"]
    with pytest.raises(ValueError, match="Q999"):
        build_prompt(s, "Q999", method="culture_aware", culture="KEN")
    with pytest.raises(ValueError, match="needs a target culture"):
        build_prompt(s, "Q1", method="culture_aware")
    with pytest.raises(ValueError, match="XYZ"):
        build_prompt(s, "Q1", method="culture_aware", culture="XYZ")
    with pytest.raises(ValueError, match="unknown prompt method 'loud'"):
        build_prompt(s, "Q1", method="loud", culture="KEN")
    generated = Question(id="Q5", text="New?", options=["0", "1", "2"], zero_based=True)
    p = build_prompt(s, generated, method="culture_aware", culture="KEN")
    assert p.labels == ["0", "1", "2"]
    assert p.messages[1]["content"].endswith("#Options: 0.0 1.1 2.2\nPlease return the number of the selected option only.")
    with pytest.raises(ValueError, match="Q5"):
        build_prompt(s, generated, method="self_alignment", culture="KEN")

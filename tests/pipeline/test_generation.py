"""QuestionGenerator and QuestionAnswerer: logic with canned replies, and the
batching / resume / reproducibility mechanics on a small random checkpoint."""
import json

import numpy as np
import pytest

import culturespa
from culturespa import pipeline

MASK = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def seed_mix(seed, key, index):
    """docs/pipeline.md: splitmix64(splitmix64(splitmix64(seed) ^ FNV-1a(key)) ^ index)."""
    h = 0xCBF29CE484222325
    for byte in key.encode():
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return splitmix64(splitmix64(splitmix64(seed) ^ h) ^ index)


def topics(n_seeds=6):
    out = []
    for name in ("Economic Values", "Migration"):
        seeds = [{"Q_id": f"{name[:3]}{i}", "question": f"Seed question {i} on {name}?",
                  "option_lst": ["Agree", "Disagree"], "class": name} for i in range(n_seeds)]
        out.append((name, seeds))
    return out


class Script:
    """Canned replies: JSON named after the attempt seed; every 4th seed prose,
    every 7th a fenced block (only the tolerant rule reads it)."""

    def __init__(self):
        self.prompts = []
        self.seeds = []

    def __call__(self, prompts, seeds, sampling):
        assert sampling == {"temperature": 0.9, "top_p": 0.95, "max_new_tokens": 256}
        self.seeds.append(list(seeds))
        out = []
        for messages, s in zip(prompts, seeds):
            self.prompts.append(messages)
            name = f"Generated {s % 1000003}?"
            if s % 4 == 0:
                out.append("Sure! Here is a question about values.")
            elif s % 7 == 0:
                out.append("```json\n" + json.dumps({"Question": name, "Options": ["Yes", "No"]}) + "\n```")
            else:
                out.append(json.dumps({"Question": name, "Options": ["Yes", "No", "Maybe"]}))
        return out


def test_pipeline_seed_is_the_documented_mix():
    for seed, key, index in [(0, "KEN", 0), (7, "Economic Values\x1fsample", 12), (2**63, "", 5)]:
        assert pipeline.pipeline_seed(seed, key, index) == seed_mix(seed, key, index)


def test_parse_strict_and_tolerant():
    p = pipeline.generated_question_parse('{"Question": "Q?", "Options": ["a", "b"]}')
    assert isinstance(p, culturespa.ParsedQuestion)
    assert (p.parse, p.text, p.options) == ("strict", "Q?", ["a", "b"])
    p = pipeline.generated_question_parse("Here: {'question': 'Q?', 'options': ['a', 'b']} Thanks")
    assert (p.parse, p.text, p.options) == ("tolerant", "Q?", ["a", "b"])
    p = pipeline.generated_question_parse("not json")
    assert p.parse == "unparseable" and p.text == "" and "strict" in p.error


def test_generation_with_canned_replies(tmp_path):
    script = Script()
    qgen = culturespa.QuestionGenerator(replies=script, questions_per_topic=10, round_size=4, seed=5)
    result = qgen.generate(topics(), tmp_path / "gen.jsonl")
    assert len(result) == 20
    for t in result.topics:
        assert t.accepted == 10
        assert t.attempts == t.strict + t.tolerant + t.unparseable
        assert t.unparseable > 0 and t.tolerant > 0
    # Attempt seeds are seed_mix(seed, topic + US + "sample", attempt), whatever the round.
    flat = [s for batch in script.seeds for s in batch]
    assert flat[:6] == [seed_mix(5, "Economic Values\x1fsample", a) for a in range(6)]
    # The reference's prompt: system, then 5 examples (<= 2 generated; none in round 0).
    system = culturespa.PromptTemplates.reference().generate_system
    for i, messages in enumerate(script.prompts):
        assert messages[0] == {"role": "system", "content": system}
        user = messages[1]["content"]
        assert user.count("#Example ") == 5
        generated = user.count("Question: Generated ")
        assert generated <= 2 and (i >= 4 or generated == 0)
    # Stage file = result; merged bank Q0..Q19 in topic order.
    loaded = pipeline.generated_questions_load(str(tmp_path / "gen.jsonl"))
    assert [r.question.text for r in loaded] == [r.question.text for r in result.questions]
    assert [r.to_dict() for r in loaded] == [r.to_dict() for r in result]
    questions = result.merged()
    assert [q.id for q in questions] == [f"Q{i}" for i in range(20)]
    assert questions[10].topic == "Migration"
    assert all(r.parse == "strict" for r in result.questions)
    df = result.report_dataframe()
    assert list(df["accepted"]) == [10, 10]


def test_generation_resumes_to_the_same_questions(tmp_path):
    full = culturespa.QuestionGenerator(replies=Script(), questions_per_topic=9, round_size=4, seed=1)
    reference = full.generate(topics(), tmp_path / "full.jsonl")

    stopped = tmp_path / "stopped.jsonl"
    qgen = culturespa.QuestionGenerator(replies=Script(), questions_per_topic=9, round_size=4, seed=1)
    with pytest.raises(culturespa.Cancelled):
        qgen.generate(topics(), stopped, progress=lambda p: p.done < 13)
    partial = pipeline.generated_questions_load(str(stopped))
    assert 13 <= len(partial) < 18
    with open(stopped, "a") as f:
        f.write('{"topic": "Mig')  # a torn write
    resumed = culturespa.QuestionGenerator(replies=Script(), questions_per_topic=9, round_size=4,
                                           seed=1).generate(topics(), stopped)
    assert [r.question.text for r in resumed] == [r.question.text for r in reference]
    assert resumed.topics[0].resumed == 9 and resumed.topics[0].attempts == 0
    assert stopped.read_text() == (tmp_path / "full.jsonl").read_text()


def test_generation_tolerant_keeps_fenced_replies():
    result = culturespa.QuestionGenerator(replies=Script(), questions_per_topic=12, round_size=8,
                                          tolerant_json=True).generate(topics())
    assert any(r.parse == "tolerant" for r in result.questions)
    assert result.counts()["tolerant"] >= sum(r.parse == "tolerant" for r in result.questions)


def test_generation_errors():
    with pytest.raises(ValueError, match="no model"):
        culturespa.QuestionGenerator()
    qgen = culturespa.QuestionGenerator(replies=lambda p, s, o: ["x"] * len(p), questions_per_topic=1,
                                        max_attempts_per_topic=4)
    with pytest.raises(ValueError, match="no seed questions"):
        qgen.generate([("Empty", [])])
    result = qgen.generate(topics())
    assert [t.exhausted for t in result.topics] == [True, True]
    assert result.counts()["unparseable"] == 8
    bad = culturespa.QuestionGenerator(replies=lambda p, s, o: ["x"], round_size=3)
    with pytest.raises(ValueError, match="1 items for 3 prompts"):
        bad.generate(topics())


def test_generation_topics_from_wvs(shared_dir):
    survey = culturespa.Survey.wvs7(str(shared_dir / "wvs"))
    all_topics = pipeline.generation_topics(survey)
    assert len(all_topics) == 13
    assert all_topics[3][0] == "Economic Values"
    assert [q.id for q in all_topics[3][1]] == [f"Q{i}" for i in range(106, 112)]
    two = pipeline.generation_topics(survey, ["Migration", "Corruption"])
    assert [name for name, _ in two] == ["Migration", "Corruption"]
    with pytest.raises(ValueError, match="Nonsense"):
        pipeline.generation_topics(survey, ["Nonsense"])


QUESTIONS = [{"Q_id": f"Q{i}", "question": f"How important is thing {i}?",
              "option_lst": ["Very", "Rather", "Not very", "Not at all"], "class": "Social Values"}
             for i in range(4)]


def canned_scores(prompts, labels):
    return [[0.1, 0.7, 0.1, 0.1] if "Kenyan" in p[0]["content"] else [0.6, 0.2, 0.1, 0.1] for p in prompts]


def test_answering_scored_with_canned_scores(tmp_path):
    answerer = culturespa.QuestionAnswerer(replies=lambda p, s, o: [""] * len(p), scores=canned_scores,
                                           cultures=["KEN", "USA"])
    result = answerer.answer(QUESTIONS, tmp_path)
    assert [r.culture for r in result.runs] == ["", "KEN", "USA"]
    assert result.aware["KEN"][0]["distribution"] == pytest.approx([0.1, 0.7, 0.1, 0.1])
    items = json.loads((tmp_path / "answers_culture_aware_KEN_0.json").read_text())
    assert items[0]["Q_id"] == "Q0" and items[0]["answer"] == "2" and items[0]["class"] == "Social Values"
    detected = culturespa.ContrastDetector(rule="distributional").detect(QUESTIONS, result.unaware, result.aware)
    counts = detected.counts_dataframe().set_index("culture")
    assert counts.loc["KEN", "different"] == 4 and counts.loc["USA", "different"] == 0
    # Resume: nothing is recomputed.
    calls = []
    again = culturespa.QuestionAnswerer(replies=lambda p, s, o: [""] * len(p),
                                        scores=lambda p, l: calls.append(1) or canned_scores(p, l),
                                        cultures=["KEN", "USA"]).answer(QUESTIONS, tmp_path)
    assert calls == [] and all(r.resumed for r in again.runs)


# --- end to end on a random checkpoint --------------------------------------

@pytest.fixture(scope="module")
def tiny_generator(tiny_model_dir):
    model = culturespa.Model(tiny_model_dir)
    tokenizer = culturespa.Tokenizer.from_folder(str(tiny_model_dir))
    return lambda batch: culturespa.Generator(model, tokenizer, chat_format="chatml", batch_size=batch)


def test_generation_end_to_end_on_random_weights(tiny_generator, tmp_path):
    def run(batch, path):
        qgen = culturespa.QuestionGenerator(tiny_generator(batch), questions_per_topic=2, round_size=4,
                                            max_attempts_per_topic=8, max_new_tokens=12, seed=2)
        return qgen.generate(topics(), path)

    first = run(4, tmp_path / "a.jsonl")
    # Random weights write no JSON: every attempt is made and counted.
    for t in first.topics:
        assert t.attempts == 8
        assert t.strict + t.tolerant + t.unparseable == 8
    second = run(3, tmp_path / "b.jsonl")
    assert [t.to_dict() for t in second.topics] == [t.to_dict() for t in first.topics]
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()


def test_answering_end_to_end_on_random_weights(tiny_generator, tmp_path):
    def sampled(batch, folder):
        answerer = culturespa.QuestionAnswerer(tiny_generator(batch), mode="sampled", cultures=["KEN", "THA"],
                                               max_new_tokens=6, seed=4)
        return answerer.answer(QUESTIONS, folder)

    a = sampled(8, tmp_path / "a")
    b = sampled(3, tmp_path / "b")
    # Replies depend on (seed, culture, question) only, not on the batching.
    assert [x["reply"] for x in a.aware["THA"]] == [x["reply"] for x in b.aware["THA"]]
    assert [x["reply"] for x in a.unaware] == [x["reply"] for x in b.unaware]
    assert (tmp_path / "a" / "answers_culture_aware_KEN_0.json").exists()

    scored = culturespa.QuestionAnswerer(tiny_generator(4), cultures=["KEN", "THA"])
    result = scored.answer(QUESTIONS, tmp_path / "scored")
    for answers in [result.unaware, *result.aware.values()]:
        for item in answers:
            d = np.asarray(item["distribution"])
            assert d.shape == (4,) and abs(d.sum() - 1) < 1e-6
            assert item["reply"] == str(int(d.argmax()) + 1)
    # The files read back through the contrast stage's reader.
    questions, unaware = pipeline.answer_file_load(str(tmp_path / "scored" / "answers_culture_unaware_0.json"))
    assert [q.id for q in questions] == ["Q0", "Q1", "Q2", "Q3"]
    assert np.allclose(unaware[0]["distribution"], result.unaware[0]["distribution"])
    rerun = scored.answer(QUESTIONS, tmp_path / "scored")
    assert all(r.resumed for r in rerun.runs)


def test_generation_file_feeds_the_filter(tmp_path, capsys):
    from culturespa import cli

    stage = tmp_path / "gen.jsonl"
    culturespa.QuestionGenerator(replies=Script(), questions_per_topic=5, round_size=4).generate(topics(), stage)
    merged = pipeline.load_generated_questions([stage])
    assert [q.id for q in merged] == [f"Q{i}" for i in range(10)]
    assert [q.topic for q in merged] == ["Economic Values"] * 5 + ["Migration"] * 5
    assert cli.main(["filter", "--input", str(stage), "--output", str(tmp_path / "kept.json")]) == 0
    assert "input                  10" in capsys.readouterr().out
    assert len(json.loads((tmp_path / "kept.json").read_text())) == 10


def test_ctrl_c_keeps_finished_runs(tmp_path):
    import signal

    calls = []

    def scores(prompts, labels):
        calls.append(1)
        if len(calls) == 3:  # Ctrl-C while the second culture is being answered
            signal.raise_signal(signal.SIGINT)
        return canned_scores(prompts, labels)

    answerer = culturespa.QuestionAnswerer(replies=lambda p, s, o: [""] * len(p), scores=scores,
                                           cultures=["KEN", "USA"])
    with pytest.raises(KeyboardInterrupt):
        answerer.answer(QUESTIONS, tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["answers_culture_aware_KEN_0.json",
                                                               "answers_culture_unaware_0.json"]
    # A record of the settings beside each finished file, none for the interrupted run.
    assert sorted(p.name for p in tmp_path.glob(".*.settings")) == [".answers_culture_aware_KEN_0.json.settings",
                                                                    ".answers_culture_unaware_0.json.settings"]
    result = answerer.answer(QUESTIONS, tmp_path)
    assert [r.resumed for r in result.runs] == [True, True, False]


def test_cli_reports_an_interrupted_run(tiny_model_dir, tmp_path, monkeypatch, capsys):
    from culturespa import cli

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(culturespa.QuestionAnswerer, "answer", interrupted)
    bank = tmp_path / "bank.json"
    bank.write_text(json.dumps(QUESTIONS))
    code = cli.main(["answer", "--model", str(tiny_model_dir), "--chat-format", "chatml", "--questions", str(bank),
                     "--output", str(tmp_path / "out")])
    assert code == 130
    assert "finished work is kept" in capsys.readouterr().err

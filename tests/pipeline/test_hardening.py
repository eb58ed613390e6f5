"""Issue #16 from Python and the command line: bad values are usage errors,
error messages survive invalid UTF-8, resumes check the settings, export
drops answers outside the options and duplicates."""
import json
import subprocess
import sys

import pytest

import culturespa
import culturespa.pipeline
from culturespa import cli

QUESTIONS = [{"Q_id": f"Q{i}", "question": f"How important is thing {i}?",
              "option_lst": ["Very important", "Rather important", "Not very important", "Not at all"],
              "class": "Social Values"} for i in range(3)]


def _usage_error(argv, capsys, option):
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and option in err and "Traceback" not in err
    return err


@pytest.mark.parametrize("argv,option", [
    (["score", "--answers", "a.json", "--seed", "-1"], "--seed"),
    (["score", "--answers", "a.json", "--bootstrap", "-1"], "--bootstrap"),
    (["filter", "--input", "a.json", "--output", "b.json", "--near-duplicate-ngram", "-2"], "--near-duplicate-ngram"),
    (["filter", "--input", "a.json", "--output", "b.json", "--near-duplicate-threshold", "1.5"],
     "--near-duplicate-threshold"),
    (["export", "--pairs", "p.jsonl", "--output", "o", "--seed", "-1"], "--seed"),
    (["export", "--pairs", "p.jsonl", "--output", "o", "--fraction", "0"], "--fraction"),
    (["export", "--pairs", "p.jsonl", "--output", "o", "--validation", "nan"], "--validation"),
    (["answer", "--model", "m", "--questions", "q", "--output", "o", "--max-new-tokens", "0"], "--max-new-tokens"),
    (["answer", "--model", "m", "--questions", "q", "--output", "o", "--seed", str(2**64)], "--seed"),
    (["answer", "--model", "m", "--questions", "q", "--output", "o", "--top-p", "0"], "--top-p"),
    (["answer", "--model", "m", "--questions", "q", "--output", "o", "--batch-size", "0"], "--batch-size"),
    (["answer", "--model", "m", "--questions", "q", "--output", "o", "--temperature", "-0.5"], "--temperature"),
    (["contrast", "--unaware", "u", "--output", "o", "--max-answer", str(2**40)], "--max-answer"),
    (["generate", "--model", "m", "--output", "o", "--per-topic", "-3"], "--per-topic"),
    (["chat", "--culture", "KEN", "--threads", "-1"], "--threads"),
    # A second probe: evaluate and tune options, infinite floats.
    (["answer", "--model", "m", "--questions", "q", "--output", "o", "--temperature", "inf"], "--temperature"),
    (["evaluate", "--output", "o", "--runs", "-1"], "--runs"),
    (["evaluate", "--output", "o", "--runs", "1000000000"], "--runs"),
    (["evaluate", "--output", "o", "--shuffles", "0"], "--shuffles"),
    (["evaluate", "--output", "o", "--bootstrap", "-1"], "--bootstrap"),
    (["evaluate", "--output", "o", "--batch-size", "0"], "--batch-size"),
    (["evaluate", "--output", "o", "--threads", "-2"], "--threads"),
    (["tune", "--data", "d", "--model", "m", "--output", "o", "--seed", "-1"], "--seed"),
    (["tune", "--data", "d", "--model", "m", "--output", "o", "--lr", "nan"], "--lr"),
    (["tune", "--data", "d", "--model", "m", "--output", "o", "--lr", "0"], "--lr"),
    (["tune", "--data", "d", "--model", "m", "--output", "o", "--epochs", "inf"], "--epochs"),
    (["tune", "--data", "d", "--model", "m", "--output", "o", "--rank", "0"], "--rank"),
    (["tune", "--data", "d", "--model", "m", "--output", "o", "--batch-size", "-8"], "--batch-size"),
    (["tune", "--data", "d", "--model", "m", "--output", "o", "--cutoff", "1"], "--cutoff"),
    (["tune", "--data", "d", "--model", "m", "--output", "o", "--max-steps", "-1"], "--max-steps"),
    # A third probe: `report --bootstrap -1` reached the bindings (an unsigned count) unchecked.
    (["report", "run", "--bootstrap", "-1"], "--bootstrap"),
])
def test_out_of_range_options_are_usage_errors(argv, option, capsys):
    _usage_error(argv, capsys, option)


def test_negative_export_seed_does_not_dump_the_pairs(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("")
    err = _usage_error(["export", "--pairs", str(pairs), "--output", str(tmp_path), "--seed", "-1"], capsys, "--seed")
    assert len(err) < 2000


def test_invalid_utf8_in_a_file_gives_a_message(tmp_path, capsys):
    answers = tmp_path / "answers_KEN_0.json"
    answers.write_bytes(b'[{"Q_id": "Q1", "answer": "\xff\xfe"}]')
    with pytest.raises(ValueError) as error:
        culturespa.pipeline.answer_file_load(str(answers))
    assert "answers_KEN_0.json" in str(error.value)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_bytes(b'{"question_id": "\xff\xfe", "question": 1}\n')
    assert cli.main(["export", "--pairs", str(pairs), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("culturespa: error: ") and "pairs.jsonl" in err
    # The C++ message itself: bad bytes come out as \xNN.
    with pytest.raises(ValueError, match=r"^bad \\xFF byte$"):
        culturespa._core._raise_error("format", b"bad \xff byte")


def _pairs_file(path, answers):
    lines = []
    for i, answer in enumerate(answers):
        lines.append(json.dumps({"question_id": f"Q{i % 3}", "question": "How important?",
                                 "options": ["Very", "Rather", "Not very", "Not at all"], "culture": "KEN",
                                 "aware_answer": answer, "unaware_answer": 1}))
    path.write_text("\n".join(lines) + "\n")


def test_export_drops_answers_outside_the_options_and_duplicates(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    _pairs_file(pairs, [2, 99, -1, 3])  # Q0=2, Q1=99, Q2=-1, Q0 again (duplicate)
    for option_text in ([], ["--option-text"]):
        out = tmp_path / f"out{len(option_text)}"
        assert cli.main(["export", "--pairs", str(pairs), "--output", str(out)] + option_text) == 0
        printed = capsys.readouterr().out
        assert "1 of 4 pairs" in printed and "2 pairs dropped" in printed and "1 pairs dropped" in printed
        records = json.loads((out / "culturespa_train.json").read_text())
        assert [r["output"] for r in records] == (["2.Rather"] if option_text else ["2"])
    summary = culturespa.export_dataset(str(pairs), tmp_path / "api")
    assert (summary["pairs_invalid"], summary["pairs_duplicate"], summary["pairs_sampled"]) == (2, 1, 1)
    _pairs_file(pairs, [99])
    assert cli.main(["export", "--pairs", str(pairs), "--output", str(tmp_path / "none")]) == 2
    assert "none of the 1 pairs" in capsys.readouterr().err


@pytest.mark.parametrize("answer", [4294967298, 2.7, 1e300])
def test_export_refuses_answers_that_are_not_32_bit_integers(tmp_path, capsys, answer):
    # 4294967298 used to wrap to 2 and 2.7 to be truncated to 2: a valid option, a wrong training target.
    pairs = tmp_path / "pairs.jsonl"
    _pairs_file(pairs, [answer])
    assert cli.main(["export", "--pairs", str(pairs), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "pairs.jsonl: line 1" in err and "aware_answer" in err and "integer" in err
    assert not (tmp_path / "out").exists()


def test_adapter_config_oddities_are_named_errors(tmp_path):
    # Each used to raise a bare JSON RuntimeError without the file, or to take a truncated rank
    # (the C++ reader: tests/model/test_lora.cpp).
    from culturespa import _core, testing
    testing.write_checkpoint(tmp_path / "base", seed=3, num_hidden_layers=1)
    model = _core.Model(str(tmp_path / "base"))
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"")
    for text in ['{"use_dora": "no"}', '{"fan_in_fan_out": 1}', '{"r": 8.5}', '{"rank_pattern": {"q_proj": 0}}']:
        (adapter / "adapter_config.json").write_text(text)
        with pytest.raises(ValueError, match="adapter_config.json"):
            model.adapter_load("odd", str(adapter))


def _scores(prompts, labels):
    return [[1.0 / len(l)] * len(l) for l in labels]


def test_resume_with_other_settings_is_refused_and_overwrite_starts_over(tmp_path):
    calls = []

    def replies(prompts, seeds, options):
        calls.append(len(prompts))
        return ["2"] * len(prompts)

    questions = [culturespa.Question(id=q["Q_id"], text=q["question"], options=q["option_lst"]) for q in QUESTIONS]
    first = culturespa.QuestionAnswerer(replies=replies, scores=_scores, mode="sampled", cultures=["KEN"])
    first.answer(questions, tmp_path)
    assert len(calls) == 2
    for kwargs, setting in [({"mode": "scored"}, "mode="), ({"seed": 5}, "seed="),
                            ({"temperature": 1.0}, "temperature="), ({"max_new_tokens": 4}, "max_new_tokens=")]:
        other = dict(mode="sampled", cultures=["KEN"])
        other.update(kwargs)
        answerer = culturespa.QuestionAnswerer(replies=replies, scores=_scores, **other)
        with pytest.raises(ValueError, match=f"answers_culture_unaware_0.json was made with {setting}.*--overwrite"):
            answerer.answer(questions, tmp_path)
    assert len(calls) == 2
    redo = culturespa.QuestionAnswerer(replies=replies, scores=_scores, mode="sampled", cultures=["KEN"], seed=5,
                                       overwrite=True)
    result = redo.answer(questions, tmp_path)
    assert len(calls) == 4 and not any(r["resumed"] for r in result.runs)
    with pytest.raises(ValueError, match="max_new_tokens"):
        culturespa.QuestionAnswerer(replies=replies, mode="sampled", max_new_tokens=0)


def test_cli_answer_resume_names_the_setting(tiny_model_dir, tmp_path, capsys):
    bank = tmp_path / "bank.json"
    bank.write_text(json.dumps(QUESTIONS))
    base = ["answer", "--model", str(tiny_model_dir), "--chat-format", "chatml", "--questions", str(bank),
            "--output", str(tmp_path / "a"), "--cultures", "KEN", "--mode", "sampled", "--max-new-tokens", "2"]
    assert cli.main(base) == 0
    capsys.readouterr()
    assert cli.main(base + ["--seed", "3"]) == 2
    err = capsys.readouterr().err
    assert "seed=0" in err and "seed=3" in err and "--overwrite" in err
    assert cli.main(base + ["--seed", "3", "--overwrite"]) == 0
    assert "(kept)" not in capsys.readouterr().out
    assert cli.main(base + ["--seed", "3"]) == 0
    assert capsys.readouterr().out.count("(kept)") == 2


def test_unknown_chat_format_fails_at_construction(tiny_model_dir):
    model = culturespa.Model(tiny_model_dir)
    tokenizer = culturespa.Tokenizer.from_folder(str(tiny_model_dir))
    with pytest.raises(ValueError, match="unknown chat format 'chatmll'"):
        culturespa.Generator(model, tokenizer, chat_format="chatmll")


def test_one_generator_shared_by_threads_gives_the_serial_results(tiny_model_dir):
    """docs/reliability.md, Threads: one Model/Tokenizer/Generator used from
    several threads at once (the bindings release the GIL) answers as if alone."""
    from concurrent.futures import ThreadPoolExecutor

    model = culturespa.Model(tiny_model_dir)
    tokenizer = culturespa.Tokenizer.from_folder(str(tiny_model_dir))
    generator = culturespa.Generator(model, tokenizer, chat_format="chatml")
    prompts = [[{"role": "user", "content": f"Question {i}: how important is thing {i}?"}] for i in range(6)]
    labels = [["1", "2", "3", "4"]]

    def work(_):
        scores = generator.score_options(prompts, labels)
        texts = [r.text for r in generator.generate(prompts, max_new_tokens=4)]
        return [list(p) for p in scores.probs], texts

    serial = work(0)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, range(8)))
    for probs, texts in results:
        assert texts == serial[1]
        for a, b in zip(probs, serial[0]):
            assert a == pytest.approx(b, abs=1e-5)


def test_fresh_probe_findings(tmp_path):
    """Found by the fresh probe of issue #16: an empty answer-file stem wrote
    "_culture_aware_KEN_0.json", a negative distribution loaded silently."""
    with pytest.raises(ValueError, match="name '' must be a non-empty file name stem"):
        culturespa.QuestionAnswerer(replies=lambda p, s, o: [""] * len(p), scores=_scores, name="")
    bad = tmp_path / "neg_KEN_0.json"
    bad.write_text('[{"Q_id": "Q1", "question": "x", "option_lst": ["a", "b"], "answer": "1", '
                   '"distribution": [-0.5, 1.5]}]')
    with pytest.raises(ValueError, match=r"distribution\[0\].*not a probability"):
        culturespa.pipeline.answer_file_load(str(bad))

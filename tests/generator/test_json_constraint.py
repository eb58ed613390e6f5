"""Constrained decoding: every constrained generation parses and meets its
schema; masks equal a brute-force check; bad schemas are refused by name."""
import copy
import json
import random

import numpy as np
import pytest

import culturespa
from culturespa import testing
from culturespa.generator import write_test_tokenizer

SHORT_QUESTION = json.dumps({
    "type": "object",
    "properties": {
        "Question": {"type": "string", "minLength": 1, "maxLength": 12},
        "Options": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 6},
                    "minItems": 2, "maxItems": 4},
    },
})


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("constraint")
    testing.write_checkpoint(folder, vocab_size=272, max_position_embeddings=2048, seed=5)
    write_test_tokenizer(folder)
    return culturespa.Model(folder), culturespa.Tokenizer.from_folder(str(folder))


def check_question(document, max_question=None, max_option=None):
    parsed = json.loads(document)
    assert list(parsed) == ["Question", "Options"]
    assert isinstance(parsed["Question"], str) and parsed["Question"]
    assert 2 <= len(parsed["Options"]) <= 4
    assert all(isinstance(o, str) and o for o in parsed["Options"])
    if max_question:
        assert len(parsed["Question"]) <= max_question
        assert all(len(o) <= max_option for o in parsed["Options"])
    return parsed


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_constrained_generation_always_parses(parts, temperature):
    model, tokenizer = parts
    constraint = culturespa.JsonConstraint(SHORT_QUESTION, tokenizer)
    generator = culturespa.Generator(model, tokenizer, chat_format="chatml", batch_size=4)
    prompts = [[{"role": "user", "content": f"Write survey question {i} as JSON."}] for i in range(8)]
    results = generator.generate(prompts, max_new_tokens=200, temperature=temperature, seed=3,
                                 constraint=constraint)
    for result in results:
        assert result.stop_reason == "complete", result
        check_question(result.text, 12, 6)
    # Unconstrained, the same random model writes no JSON at all.
    free = generator.generate(prompts, max_new_tokens=60, temperature=temperature, seed=3)
    for result in free:
        with pytest.raises(ValueError):
            json.loads(result.text)


def test_walk_with_the_python_api(parts):
    _, tokenizer = parts
    constraint = culturespa.JsonConstraint(culturespa.JsonConstraint.question_schema(min_options=2, max_options=4),
                                           tokenizer)
    rng = random.Random(1)
    for _ in range(10):
        state = constraint.start()
        tokens = []
        while not state.complete:
            allowed = np.flatnonzero(constraint.allowed(state))
            token = int(rng.choice(allowed))
            assert constraint.advance(state, token)
            tokens.append(token)
        check_question(tokenizer.decode(tokens))
    assert constraint.cached_states > 0
    # advance refuses what the schema does not allow and leaves the state as it was.
    state = constraint.start()
    assert constraint.advance_bytes(state, b'{"Question": "Why?", "Options": ["a"')
    kept = copy.copy(state)
    assert not constraint.advance_bytes(state, b"]")  # minItems 2
    assert state == kept
    assert constraint.advance_bytes(state, b', "b"]}')
    assert state.complete


def test_generate_stage_with_constraint_writes_questions(parts, tmp_path):
    model, tokenizer = parts
    generator = culturespa.Generator(model, tokenizer, chat_format="chatml", batch_size=4)
    seeds = [culturespa.Question(id=f"Q{i}", text=f"Seed question {i}?", options=["Yes", "No"], topic="Trust")
             for i in range(3)]
    constraint = culturespa.JsonConstraint(SHORT_QUESTION, tokenizer)
    free = culturespa.QuestionGenerator(generator, questions_per_topic=2, round_size=4, max_attempts_per_topic=4,
                                        max_new_tokens=120)
    constrained = culturespa.QuestionGenerator(generator, questions_per_topic=2, round_size=4,
                                               max_attempts_per_topic=4, max_new_tokens=120, constraint=constraint)
    assert constrained.options.constrained and not free.options.constrained
    accepted_free = free.generate([("Trust", seeds)], tmp_path / "free.jsonl").questions
    accepted = constrained.generate([("Trust", seeds)], tmp_path / "constrained.jsonl").questions
    assert len(accepted_free) == 0  # random weights write no JSON
    assert len(accepted) == 2
    for generated in accepted:
        question = generated.question
        assert question.text and 2 <= len(question.options) <= 4


def test_masks_equal_brute_force_on_llama3(shared_dir):
    tokenizer = culturespa.Tokenizer.from_folder(str(shared_dir / "fixtures/tokenizers/llama3-instruct"))
    constraint = culturespa.JsonConstraint(culturespa.JsonConstraint.question_schema(), tokenizer)
    document = '{"Question": "Is \\"trust\\" earned?", "Options": ["Yes", "No", "Don\'t know"]}'.encode()
    state = constraint.start()
    ids = tokenizer.encode(document.decode(), add_special_tokens=False)
    # The document's own tokenisation is allowed step by step.
    for token in ids:
        assert constraint.allowed(state)[token]
        assert constraint.advance(state, token)
    assert state.complete
    eot = tokenizer.token_to_id("<|eot_id|>")
    assert constraint.allowed(state)[eot]


def test_bad_schemas_are_refused(parts):
    _, tokenizer = parts
    with pytest.raises(ValueError, match="minItems 3 > maxItems 2"):
        culturespa.JsonConstraint(culturespa.JsonConstraint.question_schema(min_options=3, max_options=2), tokenizer)
    with pytest.raises(ValueError, match="unsupported keyword \"pattern\""):
        culturespa.JsonConstraint('{"type": "object", "properties": {"a": {"type": "string", "pattern": "x"}}}',
                                  tokenizer)
    with pytest.raises(ValueError, match="not valid JSON"):
        culturespa.JsonConstraint("{", tokenizer)

"""Generator: batch-size invariance, option and continuation scores against a
plain forward pass computed here, reproducible sampling, stop strings, errors."""
import math

import numpy as np
import pytest
import torch

import culturespa
from culturespa import testing
from culturespa.generator import write_test_tokenizer

SYSTEMS = ["You are an American.", "You are a Kenyan person answering a survey about values and trust.",
           "You are Thai.", "You are a Dutch respondent."]
QUESTIONS = ["How important is family?", "Do you trust people in your neighbourhood? Answer with 1 to 4.",
             "Is work important?", "On a scale from 1 to 10, how happy are you these days, all things considered?"]
PROMPTS = [[{"role": "system", "content": s}, {"role": "user", "content": q}] for s in SYSTEMS for q in QUESTIONS]


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generator")
    testing.write_checkpoint(folder, vocab_size=272, max_position_embeddings=256, seed=3)
    write_test_tokenizer(folder)
    return culturespa.Model(folder), culturespa.Tokenizer.from_folder(str(folder))


def make(parts, batch_size=16, prefix_reuse=True):
    model, tokenizer = parts
    return culturespa.Generator(model, tokenizer, chat_format="chatml", batch_size=batch_size,
                                prefix_reuse=prefix_reuse, min_prefix_tokens=8)


def next_logprobs(model, ids):
    """log-softmax of the next-token logits after ids, by a plain forward."""
    logits = model.forward([ids])
    return torch.log_softmax(logits[0].double(), -1)


def token_of(tokenizer, text):
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert len(ids) == 1
    return ids[0]


@pytest.mark.parametrize("threads", [1, 2])
def test_greedy_equal_across_batch_sizes_and_prefix_reuse(parts, threads):
    culturespa.runtime_set_num_threads(threads)
    one = make(parts, batch_size=1, prefix_reuse=False).generate(PROMPTS, max_new_tokens=10, logprobs=True)
    for reuse in (False, True):
        many = make(parts, 16, reuse).generate(PROMPTS, max_new_tokens=10, logprobs=True)
        for a, b in zip(one, many):
            assert a.tokens == b.tokens and a.text == b.text
            np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-4)
    model, _ = parts
    gen = make(parts)
    ids = gen.encode(PROMPTS[5])
    lp = next_logprobs(model, ids)
    assert int(lp.argmax()) == one[5].tokens[0]
    assert abs(float(lp[one[5].tokens[0]]) - float(one[5].logprobs[0])) < 1e-4
    assert isinstance(one[0].logprobs, np.ndarray)


def test_sampling_reproducible_and_seed_dependent(parts):
    kw = dict(max_new_tokens=8, temperature=0.6, top_p=0.9, seed=5)
    a = make(parts, 1, False).generate(PROMPTS, **kw)
    b = make(parts, 16, True).generate(PROMPTS, **kw)
    c = make(parts, 16, True).generate(PROMPTS, **{**kw, "seed": 6})
    assert [r.tokens for r in a] == [r.tokens for r in b]
    assert sum(x.tokens != y.tokens for x, y in zip(a, c)) >= 4


def test_option_scores_match_manual_softmax(parts):
    model, tokenizer = parts
    labels = ["1", "2", "3", "4", "10"]
    gen1 = make(parts, 1, False)
    ref = gen1.score_options(PROMPTS, labels)
    assert isinstance(ref.probs, np.ndarray) and ref.probs.shape == (16, 5)
    np.testing.assert_allclose(ref.probs.sum(1), 1.0, atol=1e-9)
    for reuse in (False, True):
        got = make(parts, 16, reuse).score_options(PROMPTS, labels)
        np.testing.assert_allclose(got.probs, ref.probs, atol=1e-4)
        np.testing.assert_allclose(got.allowed_mass, ref.allowed_mass, atol=1e-4)
        assert list(got.argmax) == list(ref.argmax)
    ones, zero = token_of(tokenizer, "1"), token_of(tokenizer, "0")
    for i in (0, 6, 13):
        ids = gen1.encode(PROMPTS[i])
        lp = next_logprobs(model, ids)
        expected = [float(lp[token_of(tokenizer, l)]) for l in labels[:4]]
        expected.append(float(lp[ones]) + float(next_logprobs(model, ids + [ones])[zero]))
        mass = sum(math.exp(e) for e in expected)
        np.testing.assert_allclose(ref.logprobs[i], expected, atol=1e-4)
        np.testing.assert_allclose(ref.probs[i], [math.exp(e) / mass for e in expected], atol=1e-4)
        assert abs(ref.allowed_mass[i] - mass) < 1e-5
        assert ref.argmax[i] == int(np.argmax(expected))
        assert ref.label_tokens[i][4] == [ones, zero]


def test_ragged_labels_and_raw_prompts(parts):
    gen = make(parts)
    scores = gen.score_options(["Pick one: ", "Choose: "], [["A", "B"], ["A", "B", "C"]])
    assert scores.probs.shape == (2, 3)
    assert math.isnan(scores.probs[0, 2])
    np.testing.assert_allclose(np.nansum(scores.probs, 1), 1.0, atol=1e-9)


def test_continuations(parts):
    model, tokenizer = parts
    gen = make(parts)
    prompt = PROMPTS[3]
    scores = gen.score_continuations(prompt, ["Very important", "1", ""])
    ids = gen.encode(prompt)
    words = tokenizer.encode("Very important", add_special_tokens=False)
    total = 0.0
    for w in words:
        total += float(next_logprobs(model, ids)[w])
        ids = ids + [w]
    assert scores[0].tokens == len(words)
    assert abs(scores[0].logprob - total) < 1e-4
    assert scores[1].tokens == 1
    assert scores[2].tokens == 0 and scores[2].logprob == 0.0
    one = make(parts, 1, False).score_continuations(prompt, ["Very important", "1", ""])
    assert [s.tokens for s in one] == [s.tokens for s in scores]
    np.testing.assert_allclose([s.logprob for s in one], [s.logprob for s in scores], atol=1e-4)


def test_explicit_prefix(parts):
    gen = make(parts, 16, False)
    plain = gen.generate(PROMPTS, max_new_tokens=5)
    a, b = gen.encode(PROMPTS[4]), gen.encode(PROMPTS[5])
    n = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    prefix = gen.prefix(a[:n])
    assert prefix.tokens == a[:n]
    reused = gen.generate(PROMPTS, max_new_tokens=5, prefix=prefix)
    assert [r.tokens for r in plain] == [r.tokens for r in reused]
    np.testing.assert_allclose(gen.score_options(PROMPTS, ["1", "2"], prefix=prefix).probs,
                               gen.score_options(PROMPTS, ["1", "2"]).probs, atol=1e-4)


def test_stop_strings_streaming_and_edges(parts):
    _, tokenizer = parts
    gen = make(parts, 4)
    full = gen.generate(PROMPTS, max_new_tokens=12, stop_ids=[])
    streamed = {}
    gen.generate(PROMPTS, max_new_tokens=12, stop_ids=[],
                 on_token=lambda i, tok, text: streamed.__setitem__(i, streamed.get(i, "") + text))
    assert [streamed[i] for i in range(len(PROMPTS))] == [r.text for r in full]
    # A stop string across the boundary of tokens 1 and 2 of some prompt.
    for i, r in enumerate(full):
        if any(tokenizer.is_special(t) for t in r.tokens[:3]):
            continue
        t1, t2 = tokenizer.decode([r.tokens[1]]), tokenizer.decode([r.tokens[2]])
        stop = (t1[-1:] + t2[:1])
        if len(stop) == 2 and stop.isascii() and stop not in tokenizer.decode(r.tokens[:2]):
            break
    else:
        pytest.fail("no prompt gave a usable boundary")
    cut = gen.generate(PROMPTS, max_new_tokens=12, stop_ids=[], stop_strings=[stop])
    assert cut[i].stop_reason == "stop_string" and len(cut[i].tokens) == 3
    for r, c in zip(full, cut):
        assert c.text == r.text.split(stop)[0]
    assert [r.tokens for r in gen.generate(PROMPTS, max_new_tokens=0)] == [[]] * len(PROMPTS)
    assert gen.generate([], max_new_tokens=4) == []
    with pytest.raises(ValueError, match="context"):
        gen.generate(PROMPTS, max_new_tokens=250)
    with pytest.raises(ValueError, match="temperature"):
        gen.generate(PROMPTS, temperature=-1)
    with pytest.raises(culturespa.Cancelled):
        gen.generate(PROMPTS, max_new_tokens=4, progress=lambda p: p.done < 1)
    seen = []
    gen.generate(PROMPTS[:3], max_new_tokens=2, progress=lambda p: seen.append((p.done, p.total)))
    assert seen[-1] == (3, 3)


def test_llama2_leading_space_and_multi_token_labels(shared_dir, tmp_path):
    """LLaMA-2's template writes "[/INST] " + answer: the labels are scored
    as " 1" (the tokens "▁", "1") and " 10" ("▁", "1", "0")."""
    folder = shared_dir / "fixtures" / "tokenizers" / "llama2"
    if not culturespa.sentencepiece_available():
        pytest.skip("culturespa was built without sentencepiece")
    tokenizer = culturespa.Tokenizer.from_folder(str(folder))
    testing.write_checkpoint(tmp_path, vocab_size=tokenizer.vocab_size, seed=4)
    model = culturespa.Model(tmp_path)
    gen = culturespa.Generator(model, tokenizer, chat_format="llama2")
    prompts = PROMPTS[:3]
    labels = [str(i) for i in range(1, 11)]
    scores = gen.score_options(prompts, labels)
    for i, conv in enumerate(prompts):
        rendered = tokenizer.apply_chat_template(conv, format="llama2")
        ids = gen.encode(conv)
        assert tokenizer.encode(rendered, add_special_tokens=False, parse_special=True) == ids
        expected = []
        for label, tokens in zip(labels, scores.label_tokens[i]):
            full = tokenizer.encode(rendered + " " + label, add_special_tokens=False, parse_special=True)
            assert full[:len(ids)] == ids
            assert tokens == full[len(ids):]
            assert tokenizer.decode(tokens) == " " + label or tokenizer.decode(tokens) == label
            total, context = 0.0, list(ids)
            for t in tokens:
                total += float(next_logprobs(model, context)[t])
                context.append(t)
            expected.append(total)
        assert len(scores.label_tokens[i][9]) == len(scores.label_tokens[i][0]) + 1  # "10": one more digit
        np.testing.assert_allclose(scores.logprobs[i, :], expected, atol=1e-4)
    one = culturespa.Generator(model, tokenizer, chat_format="llama2", batch_size=1, prefix_reuse=False)
    np.testing.assert_allclose(one.score_options(prompts, labels).probs, scores.probs, atol=1e-4)


def _common_start(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def test_prefix_groups_follow_the_longest_shared_start(parts):
    # Two cultures' system prompts share their first words; within a culture
    # the system prompt and the instruction line are shared. Each culture
    # must become its own group (not one group behind the shared words).
    system = "You are a real person with a {} cultural background. Answer the survey honestly."
    questions = ["How important is family?", "Is trust in neighbours high?", "Do you go to church?",
                 "Is work important in life?"]
    prompts, cultures = [], []
    for culture in ("Kenyan", "German"):
        for q in questions:
            prompts.append([{"role": "system", "content": system.format(culture)},
                            {"role": "user", "content": "Choose the option that fits your values.\n" + q}])
            cultures.append(culture)
    labels = ["1", "2", "3"]
    gen = make(parts)
    enc = [gen.encode(p) for p in prompts]
    assert _common_start(enc[0], enc[-1]) >= 8  # the cultures share more than min_prefix_tokens
    got = gen.score_options(prompts, labels)
    for i, culture in enumerate(cultures):
        expected = min(_common_start(enc[i], enc[j]) for j in range(len(prompts)) if j != i and cultures[j] == culture)
        assert got.reused_tokens[i] == expected > _common_start(enc[0], enc[-1])
    plain = make(parts, prefix_reuse=False).score_options(prompts, labels)
    assert list(plain.reused_tokens) == [0] * len(prompts)
    np.testing.assert_allclose(got.probs, plain.probs, atol=1e-4)

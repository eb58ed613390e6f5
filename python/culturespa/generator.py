"""Batched generation, option scoring and continuation scoring (the generator layer).

``Generator(model, tokenizer, *, chat_format=None)`` runs a ``Model`` with its
``Tokenizer``. Prompts are raw texts, conversations (lists of
``{"role", "content"}`` dicts, rendered with the chat format) or token-id
lists, one kind per call. Work runs in C++ without the GIL, batched with the
KV cache; a start shared by several prompts is computed once (automatically,
or through a kept ``Prefix``). ``progress=True`` draws a bar; Ctrl-C stops a
call with KeyboardInterrupt. See docs/generator.md.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Union

from . import _core
from ._core import ContinuationScore, GenerateResult, JsonConstraint, JsonConstraintState, OptionScores, Prefix
from ._progress import ProgressArg, resolve_progress

Prompt = Union[str, Sequence[dict], Sequence[int]]

__all__ = ["ContinuationScore", "GenerateResult", "Generator", "JsonConstraint", "JsonConstraintState",
           "OptionScores", "Prefix",
           "write_test_tokenizer"]


def write_test_tokenizer(path) -> None:
    """Writes a small byte-level BPE tokenizer (ChatML special tokens, ids < 272)."""
    import os
    _core.testing_tokenizer_write(os.fspath(path))


class Generator:
    """Generation and scoring over a model and its tokenizer.

    ``chat_format``: how conversations are rendered (None = the tokenizer's
    own template). ``batch_size``: sequences per forward pass.
    ``prefix_reuse`` / ``min_prefix_tokens``: compute a start shared by at
    least that many tokens of several prompts once.
    """

    def __init__(self, model, tokenizer, *, chat_format: Optional[str] = None, batch_size: int = 16,
                 prefix_reuse: bool = True, min_prefix_tokens: int = 16):
        self.model = model
        self.tokenizer = tokenizer
        core_model = getattr(model, "_model", model)
        self._generator = _core.Generator(core_model, tokenizer, chat_format=chat_format,
                                          batch_size=batch_size, prefix_reuse=prefix_reuse,
                                          min_prefix_tokens=min_prefix_tokens)

    @property
    def chat_format(self) -> str:
        return self._generator.chat_format

    def encode(self, prompt: Union[str, Sequence[dict]]) -> List[int]:
        """The token ids the model sees for a raw prompt or a conversation."""
        return self._generator.encode(prompt)

    def generate(self, prompts: Sequence[Prompt], *, max_new_tokens: int = 256, temperature: float = 0.0,
                 top_p: float = 1.0, top_k: int = 0, min_p: float = 0.0, repetition_penalty: float = 1.0,
                 stop_ids: Optional[Sequence[int]] = None, stop_strings: Sequence[str] = (), seed: int = 0,
                 logprobs: bool = False, progress: ProgressArg = None,
                 on_token: Optional[Callable[[int, int, str], None]] = None,
                 prefix: Optional[Prefix] = None, constraint: Optional[JsonConstraint] = None) -> List[GenerateResult]:
        """Generates for every prompt; results in the prompts' order.

        ``temperature`` 0 is greedy. ``stop_ids`` None = the tokenizer's stop
        ids and the chat format's end-of-turn tokens. ``seed``: prompt i draws
        from a stream fixed by (seed, i). ``on_token(prompt_index, token_id,
        text)`` streams every new token. ``constraint``: a ``JsonConstraint``;
        sampling then keeps each text a prefix of a document of its schema.
        """
        return self._generator.generate(
            list(prompts), max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, top_k=top_k,
            min_p=min_p, repetition_penalty=repetition_penalty,
            stop_ids=None if stop_ids is None else list(stop_ids), stop_strings=list(stop_strings), seed=seed,
            logprobs=logprobs, progress=resolve_progress(progress), on_token=on_token, prefix=prefix, constraint=constraint)

    def score_options(self, prompts: Sequence[Union[str, Sequence[dict]]],
                      labels: Union[Sequence[str], Sequence[Sequence[str]]], *, progress: ProgressArg = None,
                      prefix: Optional[Prefix] = None) -> OptionScores:
        """Probability of each answer label at the first answer position.

        ``labels``: one list for all prompts (e.g. ``["1", "2", "3", "4"]``)
        or one list per prompt. Returns ``.probs`` (numpy [n, k], normalised;
        NaN-padded when prompts have different label counts), ``.logprobs``,
        ``.allowed_mass``, ``.argmax`` and ``.reused_tokens`` (per prompt, the
        tokens read from a shared prefix's cache instead of computed).
        """
        return self._generator.score_options(list(prompts), list(labels), progress=resolve_progress(progress),
                                             prefix=prefix)

    def score_continuations(self, prompt: Union[str, Sequence[dict]], continuations: Sequence[str], *,
                            progress: ProgressArg = None) -> List[ContinuationScore]:
        """log P(continuation | prompt) and the token count of each continuation."""
        return self._generator.score_continuations(prompt, list(continuations),
                                                   progress=resolve_progress(progress))

    def prefix(self, start: Union[str, Sequence[int]], *, capacity: int = 0) -> Prefix:
        """Computes a prompt start's KV cache once, for ``prefix=`` of later calls."""
        return self._generator.prefix(start if isinstance(start, str) else list(start), capacity=capacity)

    def __repr__(self) -> str:
        return f"Generator({self.model!r}, {self.tokenizer!r})"

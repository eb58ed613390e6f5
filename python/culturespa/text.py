"""Tokenizers and chat templates (the text layer).

``Tokenizer.from_folder(path, *, prefer="tokenizer.json")`` reads a checkpoint
folder's tokenizer.json, tokenizer.model or vocab.json + merges.txt.
``encode`` returns a plain ``list`` of ``int`` (token sequences differ in length,
and lists compare directly with Hugging Face's output); wrap it in
``numpy.asarray`` or ``torch.tensor`` when a model needs one.

Chat formats are rendered natively (no Jinja): ``Tokenizer.apply_chat_template``
picks the folder's own format from tokenizer_config.json's chat_template, or
takes ``format=`` explicitly; ``register_chat_format`` adds a format written in
Python. See docs/text.md.
"""
from typing import Callable, Optional, Sequence

from ._core import (
    IncrementalDecoder,
    Tokenizer,
    chat_format_detect,
    chat_format_names,
    chat_format_register,
    chat_format_stop_tokens,
    chat_render,
)


def register_chat_format(name: str, render: Callable[..., str], *,
                         template_sources: Sequence[str] = ()) -> None:
    """Registers a chat format written in Python.

    ``render(messages, *, add_generation_prompt, enable_thinking, bos_token,
    eos_token, date_string) -> str`` gets the messages as a list of
    ``{"role", "content"}`` dicts. ``template_sources``: chat_template texts
    that ``Tokenizer.chat_format()`` should recognise as this format.
    """
    chat_format_register(name, render, template_sources=list(template_sources))


def chat_prompt(tokenizer: Tokenizer, messages, *, format: Optional[str] = None,
                add_generation_prompt: bool = True, enable_thinking: Optional[bool] = None):
    """The rendered prompt and its token ids (BOS added once): ``(text, ids)``."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt,
                                         format=format, enable_thinking=enable_thinking)
    ids = tokenizer.encode_chat(messages, add_generation_prompt=add_generation_prompt,
                                format=format, enable_thinking=enable_thinking)
    return text, ids


__all__ = [
    "IncrementalDecoder",
    "Tokenizer",
    "chat_format_detect",
    "chat_format_names",
    "chat_format_stop_tokens",
    "chat_prompt",
    "chat_render",
    "register_chat_format",
]

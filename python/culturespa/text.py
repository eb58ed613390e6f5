"""Tokenizers and chat templates (the text layer).

``Tokenizer.from_folder(path, *, prefer="tokenizer.json")`` reads a checkpoint
folder's tokenizer.json, tokenizer.model or vocab.json + merges.txt, or a
.gguf file's tokenizer (``Tokenizer.from_gguf``; ``gguf_tokenizer_files`` gives
it as Hugging Face files).
``encode`` returns a plain ``list`` of ``int`` (token sequences differ in length,
and lists compare directly with Hugging Face's output); wrap it in
``numpy.asarray`` or ``torch.tensor`` when a model needs one.

Chat formats are rendered natively (no Jinja): ``Tokenizer.apply_chat_template``
picks the folder's own format from tokenizer_config.json's chat_template, or
takes ``format=`` explicitly; ``chat_format_register`` adds a format written in
Python. The classes and functions are those of ``culturespa._core``. See docs/text.md.
"""
from typing import Optional

from ._core import (
    GgufTokenizerFiles,
    IncrementalDecoder,
    Tokenizer,
    chat_format_detect,
    chat_format_names,
    chat_format_register,
    chat_format_stop_tokens,
    chat_render,
    gguf_tokenizer_files,
)
from ._deprecated import module_getattr

__getattr__ = module_getattr(__name__, {"register_chat_format": ("chat_format_register", chat_format_register)})


def chat_prompt(tokenizer: Tokenizer, messages, *, format: Optional[str] = None,
                add_generation_prompt: bool = True, enable_thinking: Optional[bool] = None):
    """The rendered prompt and its token ids (BOS added once): ``(text, ids)``."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt,
                                         format=format, enable_thinking=enable_thinking)
    ids = tokenizer.encode_chat(messages, add_generation_prompt=add_generation_prompt,
                                format=format, enable_thinking=enable_thinking)
    return text, ids


__all__ = [
    "GgufTokenizerFiles",
    "IncrementalDecoder",
    "Tokenizer",
    "chat_format_detect",
    "chat_format_names",
    "chat_format_register",
    "chat_format_stop_tokens",
    "chat_prompt",
    "chat_render",
    "gguf_tokenizer_files",
]

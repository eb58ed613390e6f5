"""Converts a LLaMA-architecture GGUF file into a Hugging Face checkpoint folder.

The folder holds ``config.json``, ``generation_config.json``,
``model.safetensors`` (weights dequantized by the ``gguf`` package, llama.cpp's
own reader), ``tokenizer.json`` and ``tokenizer_config.json`` (byte-level BPE
with the pre-tokenizer llama.cpp uses for the file's ``tokenizer.ggml.pre``,
and the chat template). Both culturespa and transformers load such a folder.

Needs the PyPI packages ``gguf`` (>= 0.10), ``safetensors`` and ``tokenizers``
(``pip install culturespa[models]``); they are imported only when converting.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

__all__ = ["GGUF_TENSOR_NAMES", "gguf_convert", "qk_permute_reverse", "float32_shortest"]

# GGUF tensor name parts -> Hugging Face LLaMA names (the llama.cpp converter's
# table, read backwards).
GGUF_TENSOR_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
GGUF_BLOCK_TENSOR_NAMES = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}

# llama.cpp's GPT-2 split (llama-vocab.cpp); identical to the regex of the
# `tokenizers` ByteLevel pre-tokenizer with use_regex=True.
_GPT2_SPLIT = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
# tokenizer.ggml.pre values whose llama.cpp pre-tokenizer is "\p{N}" (every
# number character on its own) followed by the GPT-2 split.
_DIGITS_THEN_GPT2 = {"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva"}
_GPT2_ONLY = {"gpt2", "mpt", "olmo", "jais", "default"}

_LLAMA_TOKEN_TYPE_CONTROL = 3
_LLAMA_TOKEN_TYPE_USER_DEFINED = 4


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"converting a GGUF file needs the PyPI package '{module}' "
            f"(pip install 'culturespa[models]', or pip install gguf safetensors tokenizers): "
            f"{error}") from error


class _Metadata:
    """Typed access to the key/value fields of a GGUF file, naming the file
    and key in every error."""

    def __init__(self, reader, path: Path):
        self.reader = reader
        self.path = path

    def has(self, key: str) -> bool:
        return key in self.reader.fields

    def get(self, key: str, default: Any = ...) -> Any:
        gguf = _require("gguf")
        field = self.reader.fields.get(key)
        if field is None:
            if default is ...:
                raise ValueError(f"{self.path}: GGUF metadata key '{key}' is missing")
            return default
        kind = field.types[0]
        if kind == gguf.GGUFValueType.ARRAY:
            item = field.types[-1]
            if item == gguf.GGUFValueType.STRING:
                return [bytes(field.parts[i]).decode("utf-8") for i in field.data]
            return [field.parts[i].tolist()[0] for i in field.data]
        if kind == gguf.GGUFValueType.STRING:
            return bytes(field.parts[-1]).decode("utf-8")
        value = field.parts[-1].tolist()[0]
        if kind == gguf.GGUFValueType.BOOL:
            return bool(value)
        return value


def float32_shortest(value: float) -> float:
    """The shortest decimal that reads back as the same float32 (GGUF stores
    1e-5 as the float32 9.99999974e-06; config.json should say 1e-05)."""
    return float(repr(np.float32(value)))


def qk_permute_reverse(weight: np.ndarray, n_head: int) -> np.ndarray:
    """Undoes llama.cpp's permutation of q_proj/k_proj rows.

    llama.cpp's converter reorders each head's rows from the Hugging Face
    rotate-half RoPE layout (first half, second half) into interleaved pairs:
    ``w.reshape(n_head, 2, rows // n_head // 2, ...).swapaxes(1, 2)``. This is
    the inverse; ``n_head`` is the number of query heads for q_proj and of
    key/value heads for k_proj."""
    rows = weight.shape[0]
    if rows % (2 * n_head):
        raise ValueError(f"q/k weight with {rows} rows cannot be split into {n_head} heads of pairs")
    return (weight.reshape(n_head, rows // n_head // 2, 2, *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


def _hf_tensor_name(name: str, path: Path) -> str:
    if name in GGUF_TENSOR_NAMES:
        return GGUF_TENSOR_NAMES[name]
    match = re.fullmatch(r"blk\.(\d+)\.([a-z_]+)\.weight", name)
    if match and match.group(2) in GGUF_BLOCK_TENSOR_NAMES:
        return f"model.layers.{match.group(1)}.{GGUF_BLOCK_TENSOR_NAMES[match.group(2)]}.weight"
    raise ValueError(f"{path}: GGUF tensor '{name}' has no Hugging Face LLaMA counterpart")


def _llama_config(meta: _Metadata, tensor_names: List[str], dtype: str) -> Dict[str, Any]:
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise ValueError(f"{meta.path}: general.architecture is '{arch}'; only 'llama' is converted")
    hidden = int(meta.get("llama.embedding_length"))
    heads = int(meta.get("llama.attention.head_count"))
    head_dim = hidden // heads
    rope_dim = int(meta.get("llama.rope.dimension_count", head_dim))
    if rope_dim != head_dim or hidden % heads:
        raise ValueError(f"{meta.path}: llama.rope.dimension_count={rope_dim} with head size "
                         f"{hidden}/{heads}: partial rotary embeddings are not supported")
    if meta.has("llama.rope.scaling.type") and meta.get("llama.rope.scaling.type") not in ("none",):
        raise ValueError(f"{meta.path}: llama.rope.scaling.type="
                         f"'{meta.get('llama.rope.scaling.type')}' is not supported")
    tokens = meta.get("tokenizer.ggml.tokens")
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": int(meta.get("llama.feed_forward_length")),
        "num_hidden_layers": int(meta.get("llama.block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(meta.get("llama.attention.head_count_kv", heads)),
        "head_dim": head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": int(meta.get("llama.context_length")),
        "rms_norm_eps": float32_shortest(meta.get("llama.attention.layer_norm_rms_epsilon")),
        "rope_theta": float32_shortest(meta.get("llama.rope.freq_base", 10000.0)),
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "vocab_size": int(meta.get("llama.vocab_size", len(tokens))),
        "tie_word_embeddings": "output.weight" not in tensor_names,
        "torch_dtype": dtype,
        "use_cache": True,
    }
    for key in ("bos", "eos", "padding"):
        token_id = meta.get(f"tokenizer.ggml.{key}_token_id", None)
        if token_id is not None:
            config[f"{'pad' if key == 'padding' else key}_token_id"] = int(token_id)
    return config


def _pre_tokenizer(meta: _Metadata):
    pre_tokenizers = _require("tokenizers.pre_tokenizers")
    pre = meta.get("tokenizer.ggml.pre", "default")
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    if pre in _DIGITS_THEN_GPT2:
        # llama.cpp's own first regex, rather than the equivalent Digits(individual_digits=True)
        # of the published tokenizer.json: fewer pre-tokenizer kinds for other readers.
        regex = _require("tokenizers").Regex(r"\p{N}")
        return pre_tokenizers.Sequence([pre_tokenizers.Split(regex, behavior="isolated"), byte_level])
    if pre in _GPT2_ONLY:
        return byte_level
    raise ValueError(f"{meta.path}: tokenizer.ggml.pre='{pre}' is not supported "
                     f"(supported: {', '.join(sorted(_DIGITS_THEN_GPT2 | _GPT2_ONLY))})")


def _tokenizer(meta: _Metadata):
    """tokenizer.json content (a `tokenizers.Tokenizer`) and the special tokens."""
    tokenizers = _require("tokenizers")
    from tokenizers import decoders, models, processors

    kind = meta.get("tokenizer.ggml.model")
    if kind != "gpt2":
        raise ValueError(f"{meta.path}: tokenizer.ggml.model='{kind}'; only byte-level BPE ('gpt2') is converted")
    tokens = meta.get("tokenizer.ggml.tokens")
    token_types = meta.get("tokenizer.ggml.token_type", [1] * len(tokens))
    merges: List[Tuple[str, str]] = []
    for index, merge in enumerate(meta.get("tokenizer.ggml.merges")):
        parts = merge.split(" ")
        if len(parts) != 2:
            raise ValueError(f"{meta.path}: tokenizer.ggml.merges[{index}]={merge!r} is not two tokens")
        merges.append((parts[0], parts[1]))
    vocab = {token: index for index, token in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise ValueError(f"{meta.path}: tokenizer.ggml.tokens has duplicate entries")
    unk_id = meta.get("tokenizer.ggml.unknown_token_id", None)
    model = models.BPE(vocab, merges, unk_token=tokens[unk_id] if unk_id is not None else None,
                       fuse_unk=False, byte_fallback=False)
    tokenizer = tokenizers.Tokenizer(model)
    tokenizer.pre_tokenizer = _pre_tokenizer(meta)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    special = [tokens[i] for i, t in enumerate(token_types) if t == _LLAMA_TOKEN_TYPE_CONTROL]
    user = [tokens[i] for i, t in enumerate(token_types) if t == _LLAMA_TOKEN_TYPE_USER_DEFINED]
    tokenizer.add_special_tokens([tokenizers.AddedToken(t, normalized=False, special=True) for t in special])
    if user:
        tokenizer.add_tokens([tokenizers.AddedToken(t, normalized=False, special=False) for t in user])
    return tokenizer, special


def _tokenizer_config(meta: _Metadata, config: Dict[str, Any], special: List[str]) -> Dict[str, Any]:
    tokens = meta.get("tokenizer.ggml.tokens")

    def token(key: str) -> Optional[str]:
        token_id = meta.get(f"tokenizer.ggml.{key}_token_id", None)
        return tokens[token_id] if token_id is not None else None

    result: Dict[str, Any] = {
        # The fast tokenizer class reads everything from tokenizer.json; a
        # slow GPT2Tokenizer would not know the digit-splitting pre-tokenizer.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": bool(meta.get("tokenizer.ggml.add_bos_token", False)),
        "add_eos_token": bool(meta.get("tokenizer.ggml.add_eos_token", False)),
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": config["max_position_embeddings"],
        "bos_token": token("bos"),
        "eos_token": token("eos"),
        "pad_token": token("padding"),
        "unk_token": token("unknown"),
        "additional_special_tokens": [t for t in special if t in ("<|im_start|>", "<|im_end|>")],
    }
    if meta.has("tokenizer.chat_template"):
        result["chat_template"] = meta.get("tokenizer.chat_template")
    return {key: value for key, value in result.items() if value is not None}


def _generation_config(config: Dict[str, Any]) -> Dict[str, Any]:
    return {key: config[key] for key in ("bos_token_id", "eos_token_id", "pad_token_id") if key in config}


def _json_write(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def gguf_convert(gguf_path, dest, *, dtype: str = "float32") -> Dict[str, Any]:
    """Writes a Hugging Face LLaMA checkpoint converted from ``gguf_path`` into
    the existing, empty folder ``dest``. Quantized tensors are dequantized with
    ``gguf.quants.dequantize``; q_proj/k_proj rows get their Hugging Face order
    back. ``dtype`` is ``"float32"`` or ``"bfloat16"``. Returns config.json's
    content."""
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"dtype '{dtype}' is not supported (float32 or bfloat16)")
    gguf = _require("gguf")
    safetensors_torch = _require("safetensors.torch")
    import torch

    path = Path(gguf_path)
    if not path.is_file():
        raise FileNotFoundError(f"GGUF file {path} does not exist")
    dest = Path(dest)
    reader = gguf.GGUFReader(str(path))
    meta = _Metadata(reader, path)
    names = [tensor.name for tensor in reader.tensors]
    config = _llama_config(meta, names, dtype)

    tensors: Dict[str, torch.Tensor] = {}
    for tensor in reader.tensors:
        name = _hf_tensor_name(tensor.name, path)
        weight = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
        # A copy: F32 tensors come back as read-only views of the memory-mapped file.
        weight = np.array(weight, dtype=np.float32)
        if tensor.name.endswith(".attn_q.weight"):
            weight = qk_permute_reverse(weight, config["num_attention_heads"])
        elif tensor.name.endswith(".attn_k.weight"):
            weight = qk_permute_reverse(weight, config["num_key_value_heads"])
        tensors[name] = torch.from_numpy(np.ascontiguousarray(weight)).to(getattr(torch, dtype))
    expected = config["num_hidden_layers"] * len(GGUF_BLOCK_TENSOR_NAMES) + 2 + (not config["tie_word_embeddings"])
    if len(tensors) != expected:
        raise ValueError(f"{path}: {len(tensors)} tensors, expected {expected} for "
                         f"{config['num_hidden_layers']} LLaMA blocks")
    embed = tensors["model.embed_tokens.weight"]
    if tuple(embed.shape) != (config["vocab_size"], config["hidden_size"]):
        raise ValueError(f"{path}: token_embd.weight has shape {tuple(embed.shape)}, expected "
                         f"({config['vocab_size']}, {config['hidden_size']})")
    safetensors_torch.save_file(tensors, str(dest / "model.safetensors"), metadata={"format": "pt"})
    del tensors

    tokenizer, special = _tokenizer(meta)
    tokenizer.save(str(dest / "tokenizer.json"))
    _json_write(dest / "tokenizer_config.json", _tokenizer_config(meta, config, special))
    _json_write(dest / "config.json", config)
    _json_write(dest / "generation_config.json", _generation_config(config))
    return config

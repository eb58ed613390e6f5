"""Random-initialised checkpoints in the real Hugging Face layout.

``write_checkpoint`` writes config.json, model.safetensors (or shards with
model.safetensors.index.json) and generation_config.json for any supported
architecture and shape, seeded, so tests and benchmarks need no download.
The weights come from the C++ writer (culturespa/model/testing.h), so C++
and Python tests see the same checkpoints for the same arguments.
"""
from __future__ import annotations

import os
from typing import Union

from . import _core

ARCHITECTURES = ("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM")


def write_checkpoint(path: Union[str, os.PathLike], *, architecture: str = "LlamaForCausalLM",
                     vocab_size: int = 256, hidden_size: int = 64, intermediate_size: int = 128,
                     num_hidden_layers: int = 2, num_attention_heads: int = 4,
                     num_key_value_heads: int = 2, head_dim: int = 0,
                     max_position_embeddings: int = 2048, rope_theta: float = 10000.0,
                     rms_norm_eps: float = 1e-5, rope_scaling: str = "",
                     rope_scaling_factor: float = 4.0, tie_word_embeddings: bool = False,
                     attention_bias: bool = False, sliding_window: int = 0, dtype: str = "F32",
                     shards: int = 1, seed: int = 0) -> int:
    """Writes a random checkpoint into ``path``; returns the weights' byte size.

    ``head_dim`` 0 means hidden_size / num_attention_heads; ``rope_scaling``
    is "", "linear" or "llama3"; ``dtype`` is the file dtype (F32, F16, BF16);
    ``shards`` > 1 writes model-0000i-of-0000n.safetensors plus the index.
    """
    options = _core.TestCheckpointOptions()
    for name, value in dict(
            architecture=architecture, vocab_size=vocab_size, hidden_size=hidden_size,
            intermediate_size=intermediate_size, num_hidden_layers=num_hidden_layers,
            num_attention_heads=num_attention_heads, num_key_value_heads=num_key_value_heads,
            head_dim=head_dim, max_position_embeddings=max_position_embeddings,
            rope_theta=rope_theta, rms_norm_eps=rms_norm_eps, rope_scaling=rope_scaling,
            rope_scaling_factor=rope_scaling_factor, tie_word_embeddings=tie_word_embeddings,
            attention_bias=attention_bias, sliding_window=sliding_window, dtype=dtype,
            shards=shards, seed=seed).items():
        setattr(options, name, value)
    return _core.testing_checkpoint_write(os.fspath(path), options)

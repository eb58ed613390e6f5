"""The model backend: LLaMA-family Hugging Face checkpoints run by LibTorch.

``Model`` loads a checkpoint folder (config.json, model.safetensors or shards
with model.safetensors.index.json, generation_config.json) or a llama GGUF
file (weights dequantised to float32 on load) and runs forward
passes over batches of token sequences, with an optional KV cache. Batches
are right-padded: row ``b`` holds ``lengths[b]`` new tokens, then padding.
See docs/model.md.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import torch

from . import _core
from ._core import KVCache

TokenIds = Union[torch.Tensor, Sequence[Sequence[int]], Sequence[int]]


def _as_batch(input_ids: TokenIds, lengths, pad_id: int) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    if isinstance(input_ids, torch.Tensor):
        ids = input_ids if input_ids.dim() == 2 else input_ids.reshape(1, -1)
        if lengths is not None and not isinstance(lengths, torch.Tensor):
            lengths = torch.tensor(list(lengths), dtype=torch.long)
        return ids, lengths
    rows = list(input_ids)
    if rows and not isinstance(rows[0], (list, tuple, torch.Tensor)):
        rows = [rows]  # one sequence
    rows = [list(map(int, r)) for r in rows]
    if not rows or any(len(r) == 0 for r in rows):
        raise ValueError("forward: input_ids must hold at least one non-empty sequence")
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    if lengths is None:
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    elif not isinstance(lengths, torch.Tensor):
        lengths = torch.tensor(list(lengths), dtype=torch.long)
    return ids, lengths


class Model:
    """A causal LM loaded from a Hugging Face checkpoint folder or a ``.gguf`` file.

    ``device``: "cpu", "cuda" or "cuda:N". ``dtype``: compute dtype
    ("float32", "bfloat16", "float16"); None = float32 on CPU, bfloat16 on
    CUDA. ``threads``: LibTorch threads (None leaves the current setting).
    ``cpu_kernels``: float32 on CPU runs culturespa's fused kernels between
    the matrix products; False runs plain LibTorch operations instead (the
    same results up to float rounding; for checking and comparison).
    ``cpu_matmul``: with the fused kernels, what runs matrix products of more
    than 16 rows: "auto" (oneDNN when OpenBLAS runs kernels older than the CPU
    supports, see ``runtime_info()["blas_core_outdated"]``; else BLAS),
    "blas" or "onednn". ``weights``: on the CPU, how the matrices are stored
    ("float32", "bfloat16", "q8_0", or "file" for the checkpoint's own type;
    "" follows ``dtype``); see docs/model.md.
    """

    def __init__(self, path: Union[str, os.PathLike], *, device: str = "cpu",
                 dtype: Optional[str] = None, threads: Optional[int] = None, cpu_kernels: bool = True,
                 cpu_matmul: str = "auto", weights: str = "", progress=None):
        self._model = _core.Model(os.fspath(path), device=device, dtype=dtype or "",
                                  threads=threads or 0, cpu_kernels=cpu_kernels, cpu_matmul=cpu_matmul,
                                  weights=weights, progress=progress)
        self.config: Dict[str, Any] = json.loads(self._model.config_json)

    path = property(lambda self: self._model.path)
    device = property(lambda self: self._model.device)
    dtype = property(lambda self: self._model.dtype)
    compute_path = property(lambda self: self._model.compute_path)
    weight_bytes = property(lambda self: self._model.weight_bytes)
    weight_type = property(lambda self: self._model.weight_type)
    architecture = property(lambda self: self._model.architecture)
    eos_token_ids = property(lambda self: list(self._model.eos_token_ids))

    def cache_create(self, batch: int, capacity: int) -> KVCache:
        """A KV cache for ``batch`` sequences of up to ``capacity`` tokens each."""
        return self._model.cache_create(batch, capacity)

    def forward(self, input_ids: TokenIds, *, lengths=None, cache: Optional[KVCache] = None,
                logits_at=None, pad_id: int = 0) -> torch.Tensor:
        """Logits (float32, on the model's device) of the new tokens.

        ``input_ids``: a [batch, T] integer tensor (right-padded, with
        ``lengths``) or a list of token-id lists of any lengths. ``cache``:
        appended to; None runs each sequence from position 0. ``logits_at``:
        [batch, P] positions among each row's new tokens, giving
        [batch, P, vocab]; None gives each row's last token, [batch, vocab].
        """
        ids, lengths = _as_batch(input_ids, lengths, pad_id)
        if logits_at is not None and not isinstance(logits_at, torch.Tensor):
            logits_at = torch.tensor(logits_at, dtype=torch.long)
        return self._model.forward(ids, lengths=lengths, cache=cache, logits_at=logits_at)

    __call__ = forward

    def __repr__(self) -> str:
        return f"Model({self.path!r}, {self.architecture}, device={self.device!r}, dtype={self.dtype!r})"


def safetensors_read(path: Union[str, os.PathLike]) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Reads a safetensors file: (tensors by name, metadata)."""
    return _core.safetensors_read(os.fspath(path))


def safetensors_write(path: Union[str, os.PathLike], tensors: Dict[str, torch.Tensor], *,
                      metadata: Optional[Dict[str, str]] = None) -> None:
    """Writes tensors to a safetensors file atomically."""
    _core.safetensors_write(os.fspath(path), dict(tensors), metadata=dict(metadata or {}))


class GgufFile(_core.GgufFile):
    """A GGUF v2/v3 file, memory-mapped and validated on open: ``metadata``
    (dict), ``tensors`` (list of {"name", "type", "shape", "offset",
    "bytes"}), ``tensor(name)`` (float32, dequantised). See docs/models.md."""

    def __init__(self, path: Union[str, os.PathLike]):
        super().__init__(os.fspath(path))


def gguf_read(path: Union[str, os.PathLike]) -> Dict[str, torch.Tensor]:
    """Every tensor of a GGUF file, dequantised to float32 CPU tensors by
    culturespa (F32, F16, BF16, Q8_0, Q4_0, Q4_1), by GGUF name and in GGUF
    layout (q/k rows as llama.cpp stores them). Metadata: ``GgufFile(path).metadata``."""
    file = GgufFile(os.fspath(path))
    return {info["name"]: file.tensor(info["name"]) for info in file.tensors}

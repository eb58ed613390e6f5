"""Writes a LLaMA-architecture GGUF file out as a Hugging Face checkpoint folder.

Every piece comes from culturespa's C++ GGUF reader, the one that also loads
a ``.gguf`` file directly (``Model(path)``, ``Tokenizer.from_gguf(path)``):
``config.json`` from ``GgufFile.model_config()``, ``model.safetensors`` from
``gguf_read(path, hugging_face=True)`` (dequantised, q/k rows in Hugging Face
order), and ``tokenizer.json``, ``tokenizer_config.json`` and
``generation_config.json`` from ``gguf_tokenizer_files``. Both culturespa and
transformers load the folder. No other package is needed.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Union

from . import _core
from ._deprecated import module_getattr

__all__ = ["gguf_convert"]

DTYPES = ("float32", "bfloat16")


def _json_write(path: Path, text: str) -> None:
    path.write_text(text + "\n", encoding="utf-8")


def gguf_convert(gguf_path: Union[str, os.PathLike], dest: Union[str, os.PathLike], *,
                 dtype: str = "float32") -> Dict[str, Any]:
    """Writes the Hugging Face LLaMA checkpoint of ``gguf_path`` into the
    existing, empty folder ``dest`` and returns config.json's content.
    ``dtype``: the weights' type, ``"float32"`` or ``"bfloat16"``.

    Raises FileNotFoundError when the file does not exist and ValueError
    naming the file and the key or tensor for anything it cannot convert
    (another architecture or tokenizer model, an unsupported tensor type)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype '{dtype}' is not supported (one of: {', '.join(DTYPES)})")
    import torch

    path, dest = os.fspath(gguf_path), Path(dest)
    config = json.loads(_core.GgufFile(path).model_config())
    config["torch_dtype"] = dtype
    # Reads and checks the tokenizer before the weights are written.
    tokenizer = _core.gguf_tokenizer_files(path)
    tensors = _core.gguf_read(path, hugging_face=True)
    weight_type = getattr(torch, dtype)
    _core.safetensors_write(dest / "model.safetensors",
                            {name: tensor.to(weight_type) for name, tensor in tensors.items()},
                            metadata={"format": "pt"})
    del tensors
    _json_write(dest / "tokenizer.json", tokenizer.tokenizer_json)
    _json_write(dest / "tokenizer_config.json", tokenizer.tokenizer_config_json)
    _json_write(dest / "generation_config.json", tokenizer.generation_config_json)
    _json_write(dest / "config.json", json.dumps(config, indent=2, ensure_ascii=False))
    return config


def _qk_permute_reverse(weight, n_head: int):
    import numpy as np
    import torch

    return _core.gguf_qk_unpermute(torch.from_numpy(np.ascontiguousarray(weight)), n_head).numpy()


def _float32_shortest(value: float) -> float:
    import numpy as np

    return float(repr(np.float32(value)))


__getattr__ = module_getattr("culturespa.gguf_convert", {
    "qk_permute_reverse": ("culturespa.gguf_qk_unpermute", _qk_permute_reverse),
    # config.json values now come from GgufFile.model_config(), which rounds them this way.
    "float32_shortest": ("culturespa.GgufFile.model_config", _float32_shortest),
    "GGUF_TENSOR_NAMES": ("culturespa.gguf_hf_tensor_name", {
        name: _core.gguf_hf_tensor_name(name)
        for name in ("token_embd.weight", "output_norm.weight", "output.weight")}),
})

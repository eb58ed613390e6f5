"""The model backend: LLaMA-family Hugging Face checkpoints run by LibTorch.

``Model``, ``KVCache``, ``GgufFile`` and the safetensors/GGUF readers are the
C++ classes and functions of ``culturespa._core``, re-exported; their
docstrings are in the bindings. See docs/model-backend.md.
"""
from ._core import (GgufFile, KVCache, Model, gguf_hf_tensor_name, gguf_qk_unpermute, gguf_read, safetensors_read,
                    safetensors_write)

__all__ = ["GgufFile", "KVCache", "Model", "gguf_hf_tensor_name", "gguf_qk_unpermute", "gguf_read",
           "safetensors_read", "safetensors_write"]

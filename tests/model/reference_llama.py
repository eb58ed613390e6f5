"""A plain PyTorch LLaMA-family causal LM, written from the published model
definitions (LLaMA, Mistral, Qwen2, Qwen3 as in Hugging Face transformers),
independent of culturespa's C++. It serves the tests where transformers is
absent (and for Qwen3, which transformers 4.45 predates) and the benchmark.

Reads the checkpoint with the `safetensors` package when present, else with
torch only (a minimal reader of the same format). Left padding is not
supported: run one sequence at a time, or equal lengths.
"""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F

_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def _read_safetensors(path: Path) -> Dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
        return load_file(str(path))
    except ImportError:
        data = path.read_bytes()
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + n])
        header.pop("__metadata__", None)
        out = {}
        for name, spec in header.items():
            begin, end = spec["data_offsets"]
            raw = bytearray(data[8 + n + begin:8 + n + end])
            out[name] = torch.frombuffer(raw, dtype=_DTYPES[spec["dtype"]]).reshape(spec["shape"]).clone()
        return out


def load_weights(folder: Path) -> Dict[str, torch.Tensor]:
    folder = Path(folder)
    if (folder / "model.safetensors").exists():
        return _read_safetensors(folder / "model.safetensors")
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    weights = {}
    for file in sorted(set(index["weight_map"].values())):
        weights.update(_read_safetensors(folder / file))
    return weights


def inverse_frequencies(cfg: dict) -> torch.Tensor:
    dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    inv = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    scaling = cfg.get("rope_scaling") or {}
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind == "linear":
        inv = inv / scaling["factor"]
    elif kind == "llama3":  # Llama 3.1's frequency-dependent interpolation
        factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
        old = scaling["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > old / low, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= old / high) & (wavelen <= old / low)
        inv = torch.where(medium, smoothed, scaled)
    return inv


class ReferenceLM:
    def __init__(self, folder, dtype: torch.dtype = torch.float32, device: str = "cpu"):
        folder = Path(folder)
        self.cfg = json.loads((folder / "config.json").read_text())
        self.w = {k: v.to(device=device, dtype=dtype) for k, v in load_weights(folder).items()}
        if "lm_head.weight" not in self.w:
            self.w["lm_head.weight"] = self.w["model.embed_tokens.weight"]
        c = self.cfg
        self.n_heads = c["num_attention_heads"]
        self.n_kv = c.get("num_key_value_heads", self.n_heads)
        self.head_dim = c.get("head_dim") or c["hidden_size"] // self.n_heads
        self.eps = c.get("rms_norm_eps", 1e-6)
        arch = c["architectures"][0]
        self.window = c.get("sliding_window") if arch == "MistralForCausalLM" else None
        self.inv_freq = inverse_frequencies(c).to(device)
        self.dtype, self.device = dtype, device

    def _norm(self, x, weight):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return weight * xf.to(x.dtype)

    def _linear(self, x, name):
        return F.linear(x, self.w[name + ".weight"], self.w.get(name + ".bias"))

    @staticmethod
    def _rotate(x, cos, sin):
        half = x.shape[-1] // 2
        rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rotated * sin

    @torch.no_grad()
    def forward(self, ids: torch.Tensor, past: Optional[List] = None, last_only: bool = False):
        """ids [B, T] (no padding); past: list of (k, v) per layer or None.
        Returns (logits [B, T, vocab] float32, new past); last_only: logits
        of the last position only, [B, 1, vocab]."""
        B, T = ids.shape
        start = 0 if past is None else past[0][0].shape[2]
        pos = torch.arange(start, start + T, device=ids.device, dtype=torch.float32)
        freqs = torch.outer(pos, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(self.dtype), emb.sin().to(self.dtype)
        total = start + T
        q_pos = torch.arange(start, total, device=ids.device)[:, None]
        k_pos = torch.arange(total, device=ids.device)[None, :]
        allowed = k_pos <= q_pos
        if self.window:
            allowed &= (q_pos - k_pos) < self.window
        mask = torch.zeros(T, total, dtype=self.dtype, device=ids.device)
        mask.masked_fill_(~allowed, torch.finfo(self.dtype).min)
        x = self.w["model.embed_tokens.weight"][ids]
        new_past = []
        for i in range(self.cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            h = self._norm(x, self.w[p + "input_layernorm.weight"])
            q = self._linear(h, p + "self_attn.q_proj").view(B, T, self.n_heads, self.head_dim)
            k = self._linear(h, p + "self_attn.k_proj").view(B, T, self.n_kv, self.head_dim)
            v = self._linear(h, p + "self_attn.v_proj").view(B, T, self.n_kv, self.head_dim)
            if p + "self_attn.q_norm.weight" in self.w:  # Qwen3
                q = self._norm(q, self.w[p + "self_attn.q_norm.weight"])
                k = self._norm(k, self.w[p + "self_attn.k_norm.weight"])
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            q, k = self._rotate(q, cos, sin), self._rotate(k, cos, sin)
            if past is not None:
                k = torch.cat((past[i][0], k), dim=2)
                v = torch.cat((past[i][1], v), dim=2)
            new_past.append((k, v))
            rep = self.n_heads // self.n_kv
            kr, vr = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
            scores = q @ kr.transpose(2, 3) / math.sqrt(self.head_dim) + mask
            probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(self.dtype)
            attn = (probs @ vr).transpose(1, 2).reshape(B, T, -1)
            x = x + self._linear(attn, p + "self_attn.o_proj")
            h = self._norm(x, self.w[p + "post_attention_layernorm.weight"])
            gate = F.silu(self._linear(h, p + "mlp.gate_proj"))
            x = x + self._linear(gate * self._linear(h, p + "mlp.up_proj"), p + "mlp.down_proj")
        if last_only:
            x = x[:, -1:]
        x = self._norm(x, self.w["model.norm.weight"])
        return F.linear(x, self.w["lm_head.weight"]).float(), new_past

"""Writes a small random checkpoint, loads it and runs a forward pass and a
few greedy decoding steps with the KV cache.

    python examples/python/model_forward.py [checkpoint-dir] [--device cuda]
"""
import argparse
import tempfile

import torch

import culturespa
from culturespa import testing

parser = argparse.ArgumentParser()
parser.add_argument("dir", nargs="?", default=tempfile.mkdtemp(prefix="culturespa-example-"))
parser.add_argument("--device", default="cpu")
parser.add_argument("--architecture", default="Qwen2ForCausalLM", choices=testing.ARCHITECTURES)
args = parser.parse_args()

size = testing.write_checkpoint(args.dir, architecture=args.architecture, seed=42)
print(f"wrote {args.dir} ({size} bytes of weights)")
model = culturespa.Model(args.dir, device=args.device)
print(model, "hidden_size", model.config["hidden_size"], "computed by:", model.compute_path)

prompts = [[10, 20, 30, 40, 50], [7, 8, 9]]  # ragged: padded on the right for you
cache = model.cache_create(len(prompts), capacity=16)
logits = model.forward(prompts, cache=cache)  # [2, vocab]
generated = [[] for _ in prompts]
for _ in range(4):
    nxt = logits.argmax(-1, keepdim=True)  # [2, 1]
    for row, token in zip(generated, nxt.tolist()):
        row.append(token[0])
    logits = model.forward(nxt, cache=cache)
print("greedy continuations:", generated, "cache lengths:", cache.lengths)

all_positions = model.forward([prompts[0]], logits_at=torch.arange(5).view(1, 5))
print("logits at every position of prompt 0:", tuple(all_positions.shape))

if args.device == "cpu":
    # The same weights kept in bfloat16 or 8-bit blocks (Q8_0) on the CPU:
    # float32 compute, a half or about a quarter of the memory, faster decode.
    for weights in ("bfloat16", "q8_0"):
        small = culturespa.Model(args.dir, weights=weights)
        diff = (small.forward(prompts) - model.forward(prompts)).abs().max().item()
        print(f"{small.weight_type}: {small.weight_bytes} bytes of weights "
              f"(float32: {model.weight_bytes}); max |logit difference| {diff:.4f}")

"""llama.cpp as the benchmarks' peer, through llama-cpp-python's C API.

Imported by model_bench.py and generator_bench.py (in their own process, for
the helpers that need no llama_cpp), and run as a worker program with the
benchmarks' own interpreter (.bench-venv, made by setup-bench-env.sh):

    .bench-venv/bin/python benchmarks/llama_peer.py score MODEL.gguf INPUT.json --threads 2

`score` reads {"prompts": [{"ids": [...], "labels": [[tokens], ...]}, ...]}
and prints {"logprobs": [[...], ...], "seconds": s, "reused_tokens": n}: for each
prompt, log P(label tokens | prompt ids) per label, evaluated one prompt at a
time with the prompt cache reused: the KV cache keeps the longest common
prefix with the previous prompt (prompts of one culture share their system
prompt), as llama.cpp's server and llama-cpp-python's generate() do.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEIGHT_TYPES = ("float32", "bfloat16", "q8_0")
GGUF_NAMES = {"float32": "F32", "bfloat16": "BF16", "q8_0": "Q8_0"}
# llama_ftype values (llama.h): ALL_F32, MOSTLY_BF16, MOSTLY_Q8_0.
LLAMA_FTYPES = {"float32": 0, "bfloat16": 32, "q8_0": 7}


def llama_python_default() -> str:
    return str(ROOT / ".bench-venv" / "bin" / "python")


def llama_quantise(llama_python: str, source: Path, target: Path, weight_type: str, threads: int) -> None:
    """Writes `target` from `source` with llama.cpp's own quantiser (allowing requantisation)."""
    code = f"""
import ctypes, llama_cpp as L
p = L.llama_model_quantize_default_params()
p.ftype = {LLAMA_FTYPES[weight_type]}
p.allow_requantize = True
p.nthread = {threads}
raise SystemExit(L.llama_model_quantize({str(source)!r}.encode(), {str(target) + '.partial'!r}.encode(), ctypes.byref(p)))
"""
    run = subprocess.run([llama_python, "-c", code], capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"llama_model_quantize to {weight_type} failed:\n{run.stderr[-2000:]}")
    os.replace(str(target) + ".partial", target)


def smollm2_gguf(weight_type: str, llama_python, workdir=None, threads: int = 2):
    """SmolLM2-135M-Instruct's GGUF in `weight_type`, made from the Q4_1 file of
    culturespa.models by llama.cpp's quantiser (cached in `workdir`, default
    <culturespa cache>/bench); None when it does not exist and no llama
    interpreter can make it."""
    from culturespa import models
    source = models.model_gguf()
    work = Path(workdir) if workdir else models.cache_dir() / "bench"
    work.mkdir(parents=True, exist_ok=True)
    target = work / f"{source.stem.rsplit('.', 1)[0]}.{GGUF_NAMES[weight_type]}.gguf"
    if not target.exists():
        if not llama_python:
            return None
        llama_quantise(llama_python, source, target, weight_type, threads)
    return target


class LlamaRunner:
    """Prefill and greedy decode on llama.cpp's C API: one context for the
    batched sequences (one KV sequence each) and one for batch 1; next tokens
    from the logits of each sequence's last token."""

    def __init__(self, path, threads, batch, batch_tokens, batch_ctx, single_ctx):
        import llama_cpp as L
        import numpy as np
        self.L, self.np = L, np
        L.llama_backend_init()
        load = getattr(L, "llama_model_load_from_file", None) or L.llama_load_model_from_file
        self.model = load(str(path).encode(), L.llama_model_default_params())
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {path}")
        if hasattr(L, "llama_model_get_vocab"):
            self.n_vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(self.model))
        else:
            self.n_vocab = L.llama_n_vocab(self.model)
        self.contexts = {}
        for name, n_seq, n_ctx, n_batch in (("batch", batch, batch_ctx, batch_tokens),
                                            ("single", 1, single_ctx, single_ctx)):
            cparams = L.llama_context_default_params()
            cparams.n_ctx, cparams.n_batch, cparams.n_seq_max = n_ctx, n_batch, n_seq
            cparams.n_threads = cparams.n_threads_batch = threads
            init = getattr(L, "llama_init_from_model", None) or L.llama_new_context_with_model
            ctx = init(self.model, cparams)
            if not ctx:
                raise RuntimeError("llama.cpp could not create a context")
            self.contexts[name] = (ctx, L.llama_batch_init(n_batch, 0, n_seq))

    def remove(self, which, seq, start):
        """Drops positions start.. of sequence `seq` from the KV cache (all: start 0, seq -1)."""
        L = self.L
        ctx = self.contexts[which][0]
        if hasattr(L, "llama_memory_seq_rm"):
            L.llama_memory_seq_rm(L.llama_get_memory(ctx), seq, start, -1)
        elif hasattr(L, "llama_kv_self_seq_rm"):
            L.llama_kv_self_seq_rm(ctx, seq, start, -1)
        else:
            L.llama_kv_cache_seq_rm(ctx, seq, start, -1)

    def decode(self, which, rows, starts, all_logits=False):
        """rows: token lists, one per sequence, at positions starts[i]...;
        returns each row's last logits (or every position's, all_logits) as numpy."""
        L, np = self.L, self.np
        ctx, batch = self.contexts[which]
        n = 0
        for seq, (tokens, start) in enumerate(zip(rows, starts)):
            for j, token in enumerate(tokens):
                batch.token[n], batch.pos[n], batch.n_seq_id[n] = token, start + j, 1
                batch.seq_id[n][0] = seq
                batch.logits[n] = all_logits or j == len(tokens) - 1
                n += 1
        batch.n_tokens = n
        if L.llama_decode(ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")
        out, end = [], 0
        for tokens in rows:
            first, end = end, end + len(tokens)
            picks = range(first, end) if all_logits else [end - 1]
            out.append([np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, i), shape=(self.n_vocab,)).copy()
                        for i in picks])
        return out

    def prefill(self, ids, capacity):
        which = "single" if len(ids) == 1 else "batch"
        self.remove(which, -1, 0)
        logits = self.decode(which, ids, [0] * len(ids))
        return [int(l[-1].argmax()) for l in logits], (which, [len(row) for row in ids])

    def step(self, tokens, state):
        which, lengths = state
        logits = self.decode(which, [[t] for t in tokens], lengths)
        return [int(l[-1].argmax()) for l in logits], (which, [n + 1 for n in lengths])

    def sync(self):
        pass


def _log_softmax(np, logits):
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


def score(model_path, prompts, threads):
    """log P(label | prompt) for every prompt and label, prompt cache reused."""
    import numpy as np
    longest = max(len(p["ids"]) + max(len(l) for l in p["labels"]) for p in prompts)
    runner = LlamaRunner(model_path, threads, 1, 8, 16, longest + 8)
    cached, reused = [], 0
    start = time.perf_counter()
    results = []
    for prompt in prompts:
        ids = prompt["ids"]
        keep = 0
        while keep < min(len(cached), len(ids) - 1) and cached[keep] == ids[keep]:
            keep += 1
        runner.remove("single", 0, keep)
        reused += keep
        last = runner.decode("single", [ids[keep:]], [keep])[0][-1]
        cached = list(ids)
        first = _log_softmax(np, last)
        scores = []
        for label in prompt["labels"]:
            total = float(first[label[0]])
            if len(label) > 1:  # the label's later tokens, then dropped again
                steps = runner.decode("single", [label[:-1]], [len(ids)], all_logits=True)[0]
                total += sum(float(_log_softmax(np, s)[t]) for s, t in zip(steps, label[1:]))
                runner.remove("single", 0, len(ids))
            scores.append(total)
        results.append(scores)
    return dict(logprobs=results, seconds=time.perf_counter() - start, reused_tokens=reused)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    scoring = sub.add_parser("score")
    scoring.add_argument("model")
    scoring.add_argument("input")
    scoring.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    prompts = json.loads(Path(args.input).read_text())["prompts"]
    print(json.dumps(score(args.model, prompts, args.threads)))


if __name__ == "__main__":
    sys.exit(main())

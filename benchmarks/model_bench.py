"""Model backend benchmark (a program, not a test).

On a SmolLM-135M-shaped random checkpoint (hidden 576, 30 layers, 9 heads,
3 KV heads, intermediate 1536, vocab 49152) in float32, runs culturespa, the
plain PyTorch reference (tests/model/reference_llama.py) and transformers in
eager mode, each in its own process with the same thread count, and prints:
prefill tokens/s (32 prompts x 256 tokens), decode tokens/s at batch 1 (after
a 16-token prompt) and batch 32 (after the prefill), and the peak resident
memory added by loading versus the weights' size; then the ratios.

    PYTHONPATH=python python benchmarks/model_bench.py [--quick] [--threads 2] [--device cpu]
        [--openblas-coretype SkylakeX] [--culturespa-option cpu_matmul=blas]

OpenBLAS 0.3.21 picks its slow generic (Prescott) kernels on CPUs whose model
a virtual machine hides, such as this project's machines; the reference and
transformers then run their matrix products at a fraction of the CPU's speed,
and culturespa runs its own through oneDNN (culturespa.runtime_info()
reports "blas_core_outdated"). --openblas-coretype sets OPENBLAS_CORETYPE for
every worker, so all three use OpenBLAS's right kernels: run both ways to see
how much of a ratio comes from that.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAPE = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
             num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=2048,
             rope_theta=10000.0, tie_word_embeddings=True)
IMPLEMENTATIONS = ("culturespa", "reference", "transformers")


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class _Runner:
    """Uniform prefill/decode calls over the three implementations."""

    def __init__(self, impl, path, device, dtype, culturespa_options=()):
        import torch
        self.torch, self.impl, self.device = torch, impl, device
        tdtype = getattr(torch, dtype)
        if impl == "culturespa":
            import culturespa
            options = dict(option.split("=", 1) for option in culturespa_options)
            if "cpu_kernels" in options:
                options["cpu_kernels"] = options["cpu_kernels"].lower() in ("1", "true", "yes")
            self.model = culturespa.Model(path, device=device, dtype=dtype, **options)
        elif impl == "reference":
            sys.path.insert(0, str(ROOT / "tests" / "model"))
            from reference_llama import ReferenceLM
            self.model = ReferenceLM(path, dtype=tdtype, device=device)
        else:
            from transformers import AutoModelForCausalLM
            self.model = AutoModelForCausalLM.from_pretrained(
                path, torch_dtype=tdtype, attn_implementation="eager").to(device).eval()

    def sync(self):
        if self.device.startswith("cuda"):
            self.torch.cuda.synchronize()

    def prefill(self, ids, capacity):
        """Runs the prompts; returns (next tokens [B, 1], state)."""
        torch = self.torch
        with torch.inference_mode():
            if self.impl == "culturespa":
                cache = self.model.cache_create(ids.shape[0], capacity)
                logits = self.model.forward(ids, cache=cache)
                return logits.argmax(-1, keepdim=True), cache
            if self.impl == "reference":
                logits, past = self.model.forward(ids.to(self.device), last_only=True)
                return logits[:, -1].argmax(-1, keepdim=True), past
            # The argument was renamed in transformers 4.50.
            import inspect
            params = inspect.signature(self.model.forward).parameters
            keep = {"logits_to_keep" if "logits_to_keep" in params else "num_logits_to_keep": 1}
            out = self.model(ids.to(self.device), use_cache=True, **keep)
            return out.logits[:, -1].argmax(-1, keepdim=True), out.past_key_values

    def step(self, tokens, state):
        torch = self.torch
        with torch.inference_mode():
            if self.impl == "culturespa":
                return self.model.forward(tokens, cache=state).argmax(-1, keepdim=True), state
            if self.impl == "reference":
                logits, past = self.model.forward(tokens.to(self.device), state, last_only=True)
                return logits[:, -1].argmax(-1, keepdim=True), past
            out = self.model(tokens.to(self.device), past_key_values=state, use_cache=True)
            return out.logits[:, -1].argmax(-1, keepdim=True), out.past_key_values


def _worker(args) -> dict:
    import torch
    torch.set_num_threads(args.threads)
    os.environ["CULTURESPA_NUM_THREADS"] = str(args.threads)
    baseline = _status_kb("VmRSS")
    try:  # resets VmHWM to the current RSS (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    start = time.perf_counter()
    runner = _Runner(args.worker, args.checkpoint, args.device, args.dtype, args.culturespa_option)
    load_s = time.perf_counter() - start
    load_peak = max(_status_kb("VmHWM") - baseline, 0) * 1024
    if args.worker == "culturespa":
        import culturespa
        culturespa.runtime_set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    vocab = SHAPE["vocab_size"]
    result = dict(impl=args.worker, load_s=load_s, load_peak_bytes=load_peak)
    if args.worker == "culturespa":
        info = culturespa.runtime_info()
        result["path"] = (f"{runner.model.compute_path}; OpenBLAS core {info.get('blas_core') or '-'}"
                          f"{' (outdated for this CPU)' if info.get('blas_core_outdated') else ''}")

    # Warm-up (first-touch of mapped weights, allocator, kernels), untimed.
    warm = torch.randint(0, vocab, (2, 8), generator=g)
    tok, state = runner.prefill(warm, 8 + 2)
    runner.step(tok, state)

    ids = torch.randint(0, vocab, (args.prompts, args.prompt_len), generator=g)
    runner.sync()
    t0 = time.perf_counter()
    tok, state = runner.prefill(ids, args.prompt_len + args.steps)
    runner.sync()
    result["prefill_tps"] = args.prompts * args.prompt_len / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        tok, state = runner.step(tok, state)
    runner.sync()
    result[f"decode{args.prompts}_tps"] = args.prompts * args.steps / (time.perf_counter() - t0)

    tok, state = runner.prefill(ids[:1, :16], 16 + args.steps)
    runner.sync()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        tok, state = runner.step(tok, state)
    runner.sync()
    result["decode1_tps"] = args.steps / (time.perf_counter() - t0)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="8 prompts x 128 tokens, 8 decode steps")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--checkpoint", help="existing checkpoint folder (default: write one)")
    parser.add_argument("--only", nargs="*", choices=IMPLEMENTATIONS, default=list(IMPLEMENTATIONS))
    parser.add_argument("--openblas-coretype", help="OPENBLAS_CORETYPE for every worker (e.g. SkylakeX, Haswell)")
    parser.add_argument("--culturespa-option", action="append", default=[], metavar="KEY=VALUE",
                        help="a culturespa.Model keyword, e.g. cpu_matmul=blas or cpu_kernels=false")
    parser.add_argument("--worker", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    parser.add_argument("--prompts", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--prompt-len", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prompts is None:
        args.prompts, args.prompt_len, args.steps = (8, 128, 8) if args.quick else (32, 256, 16)
    if args.worker:
        print(json.dumps(_worker(args)))
        return

    with tempfile.TemporaryDirectory(prefix="culturespa-bench-") as tmp:
        checkpoint = args.checkpoint
        if not checkpoint:
            from culturespa import testing
            checkpoint = tmp
            testing.write_checkpoint(checkpoint, seed=0, **SHAPE)
        weights = sum(f.stat().st_size for f in Path(checkpoint).glob("*.safetensors"))
        print(f"checkpoint: SmolLM-135M shape, {weights / 2**20:.0f} MiB of weights; {args.dtype} on "
              f"{args.device}, {args.threads} threads; prefill {args.prompts} x {args.prompt_len}, "
              f"{args.steps} decode steps; load average {os.getloadavg()[0]:.1f}", flush=True)
        results = {}
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), CULTURESPA_NUM_THREADS=str(args.threads),
                   PYTHONPATH=os.pathsep.join([str(ROOT / "python"), os.environ.get("PYTHONPATH", "")]))
        if args.openblas_coretype:
            env["OPENBLAS_CORETYPE"] = args.openblas_coretype
        print(f"OPENBLAS_CORETYPE: {env.get('OPENBLAS_CORETYPE', '(unset)')}", flush=True)
        for impl in args.only:
            cmd = [sys.executable, __file__, "--worker", impl, "--checkpoint", checkpoint,
                   "--threads", str(args.threads), "--device", args.device, "--dtype", args.dtype,
                   "--prompts", str(args.prompts), "--prompt-len", str(args.prompt_len),
                   "--steps", str(args.steps)]
            for option in args.culturespa_option:
                cmd += ["--culturespa-option", option]
            run = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if run.returncode != 0:
                print(f"{impl}: failed\n{run.stderr[-2000:]}", flush=True)
                continue
            results[impl] = json.loads(run.stdout.strip().splitlines()[-1])
            r = results[impl]
            print(f"{impl:13s} prefill {r['prefill_tps']:8.1f} tok/s | decode b{args.prompts} "
                  f"{r[f'decode{args.prompts}_tps']:7.1f} tok/s | decode b1 {r['decode1_tps']:6.1f} tok/s | "
                  f"load {r['load_s']:.1f} s, peak +{r['load_peak_bytes'] / 2**20:.0f} MiB "
                  f"({r['load_peak_bytes'] / weights:.2f}x weights)", flush=True)
            if "path" in r:
                print(f"{'':13s} ({r['path']})", flush=True)
        ours = results.get("culturespa")
        if ours:
            for other in ("reference", "transformers"):
                if other in results:
                    o = results[other]
                    print(f"culturespa / {other}: prefill {ours['prefill_tps'] / o['prefill_tps']:.2f}x, "
                          f"decode b{args.prompts} {ours[f'decode{args.prompts}_tps'] / o[f'decode{args.prompts}_tps']:.2f}x, "
                          f"decode b1 {ours['decode1_tps'] / o['decode1_tps']:.2f}x")
        print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

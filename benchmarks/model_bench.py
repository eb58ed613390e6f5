"""Model backend benchmark (a program, not a test): culturespa side by side with
llama.cpp, transformers and plain PyTorch, on the same weights, in one run.

Each implementation runs in its own process with the same thread count and
measures, untimed warm-up first:

  prefill b1     one prompt of --prompt1-len tokens (256)
  prefill bN     --prompts prompts x --prompt-len tokens in one batch (32 x 128)
  decode bN      --steps greedy steps of those N sequences after that prefill
  decode b1      --steps greedy steps of one sequence after a 16-token prompt

and the peak resident memory added by loading. Then it prints the ratios.

Models:
  --model smollm2 (the default when the SmolLM2 GGUF can be had): the real
      SmolLM2-135M-Instruct. Its Q4_1 GGUF (culturespa.models.model_gguf) is
      rewritten by llama.cpp's own quantiser (llama_model_quantize, allowing
      requantisation) into one GGUF per --weight-types entry: F32, BF16,
      Q8_0. culturespa (weights="file": it keeps each file's type) and
      llama.cpp load the very same file; transformers and the PyTorch
      reference load culturespa's float32 folder of the model (the F32
      GGUF's values), so their figures are float32 in every table.
  --model random: a SmolLM-135M-shaped random checkpoint (float32 only; no
      llama.cpp, which needs a GGUF with a vocabulary).

llama.cpp runs through llama-cpp-python from the benchmarks' own environment
(never a culturespa dependency): `bash benchmarks/setup-bench-env.sh` creates
.bench-venv with the pinned version, built for this CPU. --llama-python names
another interpreter; without one the llama.cpp rows are skipped with a note.

    PYTHONPATH=python python benchmarks/model_bench.py [--quick] [--threads 2]
        [--weight-types float32,bfloat16,q8_0] [--only culturespa llama.cpp]

OpenBLAS 0.3.21 picks its slow generic (Prescott) kernels on CPUs whose model
a virtual machine hides; --openblas-coretype sets OPENBLAS_CORETYPE (e.g.
Haswell, SkylakeX) for every worker (culturespa.runtime_info() reports
"blas_core_outdated").
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from llama_peer import LlamaRunner, WEIGHT_TYPES, llama_python_default, smollm2_gguf  # noqa: E402
SHAPE = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
             num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=2048,
             rope_theta=10000.0, tie_word_embeddings=True)
IMPLEMENTATIONS = ("culturespa", "llama.cpp", "reference", "transformers")
METRICS = ("prefill1_tps", "prefillN_tps", "decodeN_tps", "decode1_tps")


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def cpu_facts() -> str:
    """CPU model and the SIMD flags the kernels care about."""
    model, flags = "unknown CPU", set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name") and model == "unknown CPU":
            model = line.split(":", 1)[1].strip()
        if line.startswith("flags") and not flags:
            flags = set(line.split(":", 1)[1].split())
    wanted = ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_bf16")
    return f"{model}, {os.cpu_count()} CPUs; " + " ".join(f for f in wanted if f in flags)


class _TorchRunner:
    """Uniform prefill/decode calls over culturespa, the reference and transformers."""

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
        """Runs the prompts ([B, T] lists); returns (next tokens, state)."""
        torch = self.torch
        ids = torch.tensor(ids)
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
    import random
    threads = args.threads
    os.environ["CULTURESPA_NUM_THREADS"] = str(threads)
    baseline = _status_kb("VmRSS")
    try:  # resets VmHWM to the current RSS (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    start = time.perf_counter()
    if args.worker == "llama.cpp":
        runner = LlamaRunner(args.checkpoint, threads, args.prompts, args.prompts * args.prompt_len,
                              args.prompts * (args.prompt_len + args.steps + 2),
                              max(args.prompt1_len, 16) + args.steps + 8)
    else:
        import torch
        torch.set_num_threads(threads)
        runner = _TorchRunner(args.worker, args.checkpoint, args.device, args.dtype, args.culturespa_option)
    load_s = time.perf_counter() - start
    load_peak = max(_status_kb("VmHWM") - baseline, 0) * 1024
    result = dict(impl=args.worker, load_s=load_s, load_peak_bytes=load_peak)
    if args.worker == "culturespa":
        import culturespa
        culturespa.runtime_set_num_threads(threads)
        info = culturespa.runtime_info()
        result["path"] = (f"{runner.model.compute_path}, {runner.model.weight_type} weights; OpenBLAS core "
                          f"{info.get('blas_core') or '-'}{' (outdated for this CPU)' if info.get('blas_core_outdated') else ''}")
        result["weight_bytes"] = runner.model.weight_bytes

    rng = random.Random(0)
    vocab = args.vocab

    def prompts(n, length):
        return [[rng.randrange(vocab) for _ in range(length)] for _ in range(n)]

    def greedy(tok, state, steps):
        for _ in range(steps):
            tok, state = runner.step(tok, state)
        return tok, state

    # Warm-up (first touch of mapped weights, allocator, kernels), untimed.
    tok, state = runner.prefill(prompts(2, 8), 8 + 2)
    runner.step(tok, state)
    tok, state = runner.prefill(prompts(1, 8), 8 + 2)
    runner.step(tok, state)

    def timed(fn):
        runner.sync()
        t0 = time.perf_counter()
        out = fn()
        runner.sync()
        return out, time.perf_counter() - t0

    (tok, state), seconds = timed(lambda: runner.prefill(prompts(1, args.prompt1_len), args.prompt1_len + 1))
    result["prefill1_tps"] = args.prompt1_len / seconds
    ids = prompts(args.prompts, args.prompt_len)
    (tok, state), seconds = timed(lambda: runner.prefill(ids, args.prompt_len + args.steps))
    result["prefillN_tps"] = args.prompts * args.prompt_len / seconds
    _, seconds = timed(lambda: greedy(tok, state, args.steps))
    result["decodeN_tps"] = args.prompts * args.steps / seconds
    tok, state = runner.prefill(prompts(1, 16), 16 + args.steps)
    _, seconds = timed(lambda: greedy(tok, state, args.steps))
    result["decode1_tps"] = args.steps / seconds
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="8 prompts x 64 tokens, 1 x 128, 8 decode steps")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", help="compute dtype of the torch workers")
    parser.add_argument("--model", choices=("smollm2", "random"), default="smollm2")
    parser.add_argument("--weight-types", default=",".join(WEIGHT_TYPES),
                        help="culturespa and llama.cpp run once per type (smollm2 only)")
    parser.add_argument("--workdir", help="keeps the converted GGUF files between runs "
                                          "(default: <culturespa cache>/bench)")
    parser.add_argument("--llama-python", default=llama_python_default(),
                        help="a Python with llama-cpp-python (benchmarks/setup-bench-env.sh)")
    parser.add_argument("--only", nargs="*", choices=IMPLEMENTATIONS, default=list(IMPLEMENTATIONS))
    parser.add_argument("--openblas-coretype", help="OPENBLAS_CORETYPE for every worker (e.g. SkylakeX, Haswell)")
    parser.add_argument("--culturespa-option", action="append", default=[], metavar="KEY=VALUE",
                        help="a culturespa.Model keyword, e.g. cpu_matmul=blas or cpu_kernels=false")
    parser.add_argument("--prompts", type=int)
    parser.add_argument("--prompt-len", type=int)
    parser.add_argument("--prompt1-len", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--worker", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    parser.add_argument("--vocab", type=int, default=SHAPE["vocab_size"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    quick = (8, 64, 128, 8) if args.quick else (32, 128, 256, 32)
    for name, value in zip(("prompts", "prompt_len", "prompt1_len", "steps"), quick):
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.worker:
        print(json.dumps(_worker(args)))
        return

    types = [t for t in args.weight_types.split(",") if t]
    for t in types:
        if t not in WEIGHT_TYPES:
            parser.error(f"unknown weight type '{t}' (one of {', '.join(WEIGHT_TYPES)})")
    llama_python = args.llama_python if Path(args.llama_python).exists() else None
    with tempfile.TemporaryDirectory(prefix="culturespa-bench-") as tmp:
        # runs: (label, implementation, checkpoint, extra culturespa options)
        runs = []
        if args.model == "random":
            from culturespa import testing
            testing.write_checkpoint(tmp, seed=0, **SHAPE)
            folder, types = Path(tmp), ["float32"]
            weights = sum(f.stat().st_size for f in folder.glob("*.safetensors"))
            described = f"SmolLM-135M shape (random), {weights / 2**20:.0f} MiB float32"
            runs.append(("culturespa float32", "culturespa", folder, []))
            if "llama.cpp" in args.only:
                print("llama.cpp: skipped (needs --model smollm2: a GGUF with a vocabulary)")
        else:
            from culturespa import models
            folder = models.smollm2_135m_instruct()
            weights = sum(f.stat().st_size for f in folder.glob("*.safetensors"))
            described = f"SmolLM2-135M-Instruct ({models.model_gguf().name} requantised by llama.cpp)"
            for t in types:
                target = smollm2_gguf(t, llama_python, args.workdir, args.threads)
                if target is None:  # culturespa converts the Q4_1 file itself
                    print(f"{t}: no llama.cpp ({args.llama_python} does not exist: bash "
                          f"benchmarks/setup-bench-env.sh); culturespa loads the Q4_1 GGUF with weights={t}")
                    runs.append((f"culturespa {t}", "culturespa", models.model_gguf(), [f"weights={t}"]))
                    continue
                runs.append((f"culturespa {t}", "culturespa", target, ["weights=file"]))
                if llama_python:
                    runs.append((f"llama.cpp {t}", "llama.cpp", target, []))
        runs = [r for r in runs if r[1] in args.only]
        for impl in ("reference", "transformers"):
            if impl in args.only:
                runs.append((f"{impl} float32", impl, folder, []))

        print(f"model_bench {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {cpu_facts()}")
        print(f"model: {described}; {args.device}, {args.threads} threads; prefill b1 1 x {args.prompt1_len}, "
              f"prefill b{args.prompts} {args.prompts} x {args.prompt_len}, {args.steps} decode steps", flush=True)
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), CULTURESPA_NUM_THREADS=str(args.threads),
                   PYTHONPATH=os.pathsep.join([str(ROOT / "python"), os.environ.get("PYTHONPATH", "")]))
        if args.openblas_coretype:
            env["OPENBLAS_CORETYPE"] = args.openblas_coretype
        print(f"OPENBLAS_CORETYPE: {env.get('OPENBLAS_CORETYPE', '(unset)')}", flush=True)
        n = args.prompts
        print(f"{'':22s} {'prefill b1':>11s} {'prefill b' + str(n):>11s} {'decode b' + str(n):>11s} "
              f"{'decode b1':>10s}   (tokens/s)   load", flush=True)
        results = {}
        for label, impl, checkpoint, options in runs:
            python = llama_python if impl == "llama.cpp" else sys.executable
            cmd = [python, __file__, "--worker", impl, "--checkpoint", str(checkpoint),
                   "--threads", str(args.threads), "--device", args.device, "--dtype", args.dtype,
                   "--prompts", str(n), "--prompt-len", str(args.prompt_len),
                   "--prompt1-len", str(args.prompt1_len), "--steps", str(args.steps)]
            for option in options + args.culturespa_option:
                cmd += ["--culturespa-option", option]
            load_before = os.getloadavg()[0]
            run = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if run.returncode != 0:
                print(f"{label}: failed\n{run.stderr[-2000:]}", flush=True)
                continue
            r = results[label] = json.loads(run.stdout.strip().splitlines()[-1])
            print(f"{label:22s} {r['prefill1_tps']:11.1f} {r['prefillN_tps']:11.1f} {r['decodeN_tps']:11.1f} "
                  f"{r['decode1_tps']:10.1f}   load {r['load_s']:.1f} s, peak +{r['load_peak_bytes'] / 2**20:.0f} MiB; "
                  f"load average {load_before:.1f}", flush=True)
            if "path" in r:
                print(f"{'':22s} ({r['path']}; {r['weight_bytes'] / 2**20:.0f} MiB of weights)", flush=True)

        def ratios(a, b):
            x, y = results[a], results[b]
            return ", ".join(f"{name} {x[key] / y[key]:.2f}x" for name, key in
                             (("prefill b1", "prefill1_tps"), (f"prefill b{n}", "prefillN_tps"),
                              (f"decode b{n}", "decodeN_tps"), ("decode b1", "decode1_tps")))

        print("ratios (first / second):")
        for t in types:
            if f"culturespa {t}" in results and f"llama.cpp {t}" in results:
                print(f"  culturespa {t} / llama.cpp {t}: {ratios(f'culturespa {t}', f'llama.cpp {t}')}")
        if "culturespa float32" in results and "llama.cpp float32" in results:
            for t in types[1:]:
                if f"culturespa {t}" in results:
                    print(f"  culturespa {t} / llama.cpp float32: {ratios(f'culturespa {t}', 'llama.cpp float32')}")
        for t in types:
            for other in ("transformers float32", "reference float32"):
                if f"culturespa {t}" in results and other in results:
                    print(f"  culturespa {t} / {other}: {ratios(f'culturespa {t}', other)}")
        if "culturespa float32" in results:
            for t in types[1:]:
                if f"culturespa {t}" in results:
                    print(f"  culturespa {t} / culturespa float32: {ratios(f'culturespa {t}', 'culturespa float32')}")
        print(f"load average after: {os.getloadavg()[0]:.1f} (the machine is shared: figures vary with it)")


if __name__ == "__main__":
    main()
